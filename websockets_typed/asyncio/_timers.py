"""Coarse timers that the connections on one event loop share.

Every connection arms up to three timers (``open_timeout``,
``ping_interval``/``ping_timeout``, ``close_timeout``) and nearly always
cancels them long before they fire. On asyncio's own loop,
``loop.call_later()`` builds a handle, copies the context and pushes it on
the loop's heap, and ``cancel()`` leaves it there to be popped later: about
15,000 instructions per timer armed and cancelled (bench/run.py --callgrind,
S4, whose connections last a few milliseconds).

Here, a deadline is rounded up to a grid whose spacing is a power of two of
seconds, at most a sixteenth of the delay, and the callbacks due at the
same point of the grid share one bucket and one timer of the event loop:
arming is an insertion into a dict, cancelling a deletion from it. A timer
never fires early, and late by at most ``max(delay / 16, 1 ms)`` plus the
event loop's own lateness: 0.625 seconds for the default ``open_timeout``
and ``close_timeout`` of 10 seconds.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import sys
import time
import weakref
from collections.abc import Callable
from typing import Final, TypeAlias

__all__ = ["Bucket", "Timers"]

Bucket: TypeAlias = dict[Callable[[], object], None]
"""The callbacks due at one point of the grid.

:meth:`Timers.call_later` returns the bucket of its callback; cancel it with
``bucket.pop(callback, None)``, which does nothing once it fired.
"""

# The finest spacing of the grid: 2**-10 seconds, about a millisecond.
_FINEST: Final = -10

# Delays whose latest bucket is remembered, at most; connections use a few.
_DELAYS: Final = 32


def _spacing(delay: float) -> float:
    """The spacing of the grid for ``delay``: a power of two, at most ``delay / 16``."""
    # frexp: delay = mantissa * 2**exponent with 0.5 <= mantissa < 1, so
    # 2**(exponent - 5) is at most delay / 16 and more than delay / 32.
    exponent = math.frexp(delay)[1] - 5 if delay > 0 else _FINEST
    return math.ldexp(1.0, max(exponent, _FINEST))


def _reads_monotonic(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether deadlines on ``time.monotonic()`` are never early on ``loop``'s clock.

    asyncio's loops read ``time.monotonic()``. uvloop's reads libuv's
    ``uv_now()``: the same ``CLOCK_MONOTONIC``, in whole milliseconds and
    updated at most once per call, so never ahead of ``time.monotonic()``;
    a deadline computed from the latter is as late or later. Reading it
    directly saves about 0.1 µs per timer, two per server connection
    (bench/run.py --uvloop, S4). uvloop is not imported for this: a uvloop
    loop means it is loaded.
    """
    loop_time = type(loop).time
    if loop_time is asyncio.BaseEventLoop.time:
        return True
    uvloop_loop = getattr(sys.modules.get("uvloop"), "Loop", None)
    return uvloop_loop is not None and loop_time is getattr(uvloop_loop, "time", None)


class Timers:
    """Call callbacks after a delay, a little late, cheaply; one per event loop.

    The callbacks of a bucket run in one step of the loop, in no particular
    order, in a context of their own (not a copy of the caller's, as ``call_later()`` would use),
    and an exception they raise goes to the loop's exception handler, as
    with ``call_later()``.

    The instance keeps a weak reference to its loop, so that
    :meth:`of` doesn't keep closed loops alive.
    """

    __slots__ = ("_buckets", "_context", "_latest", "_loop", "_time")

    _instances: Final[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Timers]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)
        self._buckets: dict[float, Bucket] = {}
        # For each delay, the point of the grid and the bucket armed last.
        self._latest: dict[float, tuple[float, Bucket]] = {}
        self._context = contextvars.Context()
        # asyncio's loops tell time with time.monotonic(): calling it
        # directly saves a call of Python code per timer. Other loops have
        # their own clock, but for uvloop's (see _reads_monotonic).
        self._time: Callable[[], float] | None = time.monotonic if _reads_monotonic(loop) else None

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> Timers:
        """The timers of ``loop``, created at the first call."""
        timers = cls._instances.get(loop)
        if timers is None:
            timers = cls._instances[loop] = cls(loop)
        return timers

    def call_later(self, delay: float, callback: Callable[[], object]) -> Bucket:
        """Call ``callback()`` in ``delay`` seconds, or a little later.

        Return the bucket that holds it: ``bucket.pop(callback, None)``
        cancels it. The same callback armed twice for the same point of the
        grid runs once.
        """
        clock = self._time
        if clock is None:
            loop = self._loop()
            assert loop is not None, "the event loop is gone"
            due = loop.time() + delay
        else:
            due = clock() + delay
        # Usually, the bucket armed last with this delay: its point of the
        # grid is still ahead of the deadline (the clock only goes forward,
        # so it is less than a spacing ahead), and it hasn't fired (_fire
        # forgets it). No rounding, nor lookup in the buckets: a third of
        # the cost of a timer (bench/run.py --callgrind, S4).
        latest = self._latest.get(delay)
        bucket = latest[1] if latest is not None and due <= latest[0] else self._arm(delay, due)
        bucket[callback] = None
        return bucket

    def _arm(self, delay: float, due: float) -> Bucket:
        """The bucket for a deadline past the latest one of its delay."""
        if not delay < math.inf:
            if delay == math.inf:
                # Never due, as with call_later(): a bucket that no timer of
                # the loop fires, nor remembered.
                return {}
            raise ValueError(f"invalid delay: {delay!r}")
        spacing = _spacing(delay)
        # A multiple of a power of two: the same float for every deadline
        # that rounds to this point of the grid.
        when = math.ceil(due / spacing) * spacing
        bucket = self._buckets.get(when)
        if bucket is None:
            bucket = self._buckets[when] = {}
            loop = self._loop()
            assert loop is not None, "the event loop is gone"
            loop.call_at(when, self._fire, when, context=self._context)
        if len(self._latest) >= _DELAYS:
            self._latest.clear()
        self._latest[delay] = (when, bucket)
        return bucket

    def _fire(self, when: float) -> None:
        """Run the callbacks of the bucket due at ``when``."""
        bucket = self._buckets.pop(when)
        # Deadlines past this point of the grid, or before it on another
        # clock (see call_later), need other buckets: forget the latest ones.
        self._latest.clear()
        # One at a time: a callback may cancel another one of the bucket.
        while bucket:
            callback, _ = bucket.popitem()
            # What asyncio.Handle._run does with a callback.
            try:
                callback()
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                loop = self._loop()
                assert loop is not None, "the event loop is gone"
                loop.call_exception_handler(
                    {"message": f"Exception in callback {callback!r}", "exception": exc}
                )

"""Reassembly of incoming frames into messages, with a bounded queue."""

from __future__ import annotations

import asyncio
import codecs
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Final, Literal, overload

from ..exceptions import ConcurrencyError
from ..frames import Frame, Opcode
from ..typing import Data
from ._waiter import Waiter, wake_future

__all__ = ["Assembler"]

_UTF8_DECODER: Final = codecs.getincrementaldecoder("utf-8")
# A global: reading a member as an attribute of its Enum class costs about
# as much as the rest of get() (bench/run.py --callgrind, S1).
_OP_TEXT: Final = Opcode.TEXT


class Assembler:
    """Queue incoming data frames and hand them out as messages.

    The queue holds frames, not messages, so that a message larger than the
    queue can still be received: :meth:`get` takes frames as they come. When
    the queue reaches ``high`` frames, ``pause`` is called to stop reading
    from the network; when it falls to ``low``, ``resume`` is called.

    Fragments of a message are joined into one growing buffer as they are
    taken from the queue, so a flood of tiny fragments costs their bytes,
    not an object each.

    Args:
        high: Queue length that pauses reading; ``None`` for no limit.
        low: Queue length that resumes reading; defaults to ``high // 4``.
        pause: Called when the queue fills up.
        resume: Called when the queue drains.
        wake_in_step: Let the producer wake the consumer in its own step
            (:meth:`hold`, :meth:`release`, :func:`wake_future`) rather than
            at the next iteration of the event loop, as a Future's result
            would. A connection enables it on every loop: the handler's
            answer to a message is written before the read's callback
            returns (bench/run.py, S1 and C1; on uvloop too, where the
            next iteration comes before the next poll, but later all the
            same).

    Attributes:
        frames: The frames received and not taken yet, oldest first. Read
            it (``len(assembler)`` costs a call; the connection checks it
            for every message it sends or receives), don't change it.
        holding: Whether the producer holds the queue (see :meth:`hold`).
            With ``wake_in_step``, the connection sets it to ``True``
            itself at the start of each read: a call less per read
            (bench/run.py --callgrind, S1).
    """

    # No instance dictionary: one per connection, built and freed with it
    # (bench/run.py --callgrind, S4).
    __slots__ = (
        "_closed",
        "_deferred",
        "_end_wakes",
        "_get_in_progress",
        "_pause",
        "_paused",
        "_resume",
        "_waiter",
        "frames",
        "high",
        "holding",
        "low",
        "wake_in_step",
    )

    def __init__(
        self,
        high: int | None = None,
        low: int | None = None,
        # Positional too: a connection passes them so, without the dict
        # that keyword arguments to a class cost (bench/run.py --callgrind, S4).
        pause: Callable[[], None] = lambda: None,
        resume: Callable[[], None] = lambda: None,
        wake_in_step: bool = False,
    ) -> None:
        if high is not None and low is None:
            low = high // 4
        if high is not None and low is not None and not 0 <= low <= high:
            raise ValueError("low must be between 0 and high")
        self.high: int | None = high
        self.low: int | None = low
        self._pause = pause
        self._resume = resume
        self._paused = False
        self.frames: deque[Frame] = deque()
        self.wake_in_step: bool = wake_in_step
        # Set while get() waits; with wake_in_step, woken by wake_future().
        self._waiter: asyncio.Future[None] | None = None
        self._get_in_progress = False
        self._closed = False
        # Set by close(wake=False): the end of the stream wakes a consumer
        # waiting on an empty queue only at end().
        self._end_wakes = False
        self.holding: bool = False
        self._deferred: asyncio.Future[None] | Waiter | None = None

    def __len__(self) -> int:
        """Number of frames waiting in the queue."""
        return len(self.frames)

    # Producer side: the connection, from data_received().

    def put(self, frame: Frame) -> None:
        """Queue a data frame received from the network.

        Raises:
            EOFError: If the assembler is closed.
        """
        if self._closed:
            raise EOFError("stream of frames ended")
        self.frames.append(frame)
        waiter = self._waiter
        if waiter is not None and not self.holding and not waiter.done():
            waiter.set_result(None)
        if self.high is not None and not self._paused and len(self.frames) >= self.high:
            self._paused = True
            self._pause()

    def pause_if_full(self) -> None:
        """Pause reading if the queue is full, as :meth:`put` does.

        For a producer that appended frames to :attr:`frames` itself (see
        ``Connection.buffer_updated``).
        """
        if self.high is not None and not self._paused and len(self.frames) >= self.high:
            self._paused = True
            self._pause()

    def hold(self) -> None:
        """Defer waking the consumer until :meth:`release`.

        The connection holds the queue while it handles what one read
        brought, so that the consumer wakes once, after all of it, in the
        same step. Without ``wake_in_step``, it does nothing.
        """
        self.holding = self.wake_in_step

    def release(self, outside_task: bool = False) -> None:
        """Stop holding; wake the consumer at once if a frame or the end came meanwhile.

        At once means without an iteration of the event loop, when no task
        is running (see :func:`wake_future`); ``outside_task=True`` says so, as
        in a transport's callback.
        """
        if not self.holding:
            return
        self.holding = False
        waiter = self._waiter
        # wake_future() checks whether the waiter is done.
        if waiter is not None and (self.frames or (self._closed and not self._end_wakes)):
            wake_future(waiter, outside_task)
        deferred = self._deferred
        if deferred is not None:
            self._deferred = None
            _wake(deferred, outside_task)

    def wake(self, waiter: asyncio.Future[None] | Waiter) -> None:
        """Wake another waiter of the connection: now, or at :meth:`release` if held."""
        if self.holding:
            self._deferred = waiter
        else:
            _wake(waiter)

    def end(self, outside_task: bool = False) -> None:
        """The producer is gone for good: close, forget ``pause`` and ``resume``,
        stop holding, and wake the consumer.

        A connection's ``pause`` and ``resume`` are its own methods:
        dropping them at its end lets reference counting free the
        connection rather than the garbage collector, a cost of every
        connection; one call where the connection's end would make three
        (bench/run.py --callgrind, S4).

        A connection calls it last in ``connection_lost()``, outside any
        task, as ``outside_task=True`` says: with ``wake_in_step``, the
        consumer then runs at once, in this step (see :meth:`release`).
        """
        self._closed = True
        self._pause = self._resume = _nothing
        self.holding = False
        deferred = self._deferred
        if deferred is not None:
            self._deferred = None
            _wake(deferred, outside_task)
        waiter = self._waiter
        if waiter is not None:
            if self.wake_in_step:
                wake_future(waiter, outside_task)
            elif not waiter.done():
                waiter.set_result(None)

    def close(self, wake: bool = True) -> None:
        """End the stream of frames: waiting and later reads raise :exc:`EOFError`
        once the queue is drained.

        With ``wake=False``, a read already waiting on an empty queue waits
        on until :meth:`end`. A connection closes its queue so when a Close
        frame or the end of the stream arrives: its readers, on
        :exc:`EOFError`, wait for the end of the TCP connection anyway.
        Waking them twice would cost a step of their task and a waiter more
        per connection (bench/run.py --callgrind, S4).
        """
        if self._closed:
            return
        self._closed = True
        if not wake:
            self._end_wakes = True
            return
        waiter = self._waiter
        if waiter is not None and not self.holding and not waiter.done():
            waiter.set_result(None)

    # Consumer side: recv() and recv_streaming().

    async def _next_frame(self) -> Frame:
        """Take the next frame, waiting for one if needed."""
        frames = self.frames
        while not frames:
            if self._closed:
                raise EOFError("stream of frames ended")
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        frame = frames.popleft()
        if self._paused and self.low is not None and len(frames) <= self.low:
            self._paused = False
            self._resume()
        return frame

    def _resume_if_low(self) -> None:
        """Resume reading if the queue is down to ``low``, as :meth:`get` does."""
        if self._paused and self.low is not None and len(self.frames) <= self.low:
            self._paused = False
            # As in get(), which is in progress while resume() runs.
            self._get_in_progress = True
            try:
                self._resume()
            finally:
                self._get_in_progress = False

    def _start(self) -> None:
        if self._get_in_progress:
            raise ConcurrencyError("cannot receive while another coroutine is receiving")
        self._get_in_progress = True

    @overload
    async def get(self, decode: Literal[True], none_at_end: Literal[False] = False) -> str: ...

    @overload
    async def get(self, decode: Literal[False], none_at_end: Literal[False] = False) -> bytes: ...

    @overload
    async def get(
        self, decode: bool | None = None, none_at_end: Literal[False] = False
    ) -> Data: ...

    @overload
    async def get(self, decode: bool | None, none_at_end: bool) -> Data | None: ...

    async def get(self, decode: bool | None = None, none_at_end: bool = False) -> Data | None:
        """Return the next message.

        Text messages are returned as ``str`` and binary messages as
        ``bytes``, unless ``decode`` says otherwise: ``True`` decodes binary
        messages as UTF-8 too, ``False`` returns text messages as bytes.

        ``none_at_end=True`` returns ``None`` when the stream ended between
        messages, rather than raise :exc:`EOFError`: cheaper for a caller
        that expects the end, as a connection's iteration does (raising and
        catching the exception costs about 4,000 instructions; bench/run.py
        --callgrind, S4).

        Cancelling :meth:`get` loses nothing: frames already taken go back
        to the front of the queue, joined.

        Raises:
            EOFError: If the stream ended before a whole message arrived
                (between messages too, unless ``none_at_end``).
            ConcurrencyError: If another coroutine is receiving.
            UnicodeDecodeError: If ``decode`` is ``True`` and a binary
                message is not valid UTF-8.
        """
        # _start(), inlined: this is the hot path of recv().
        if self._get_in_progress:
            raise ConcurrencyError("cannot receive while another coroutine is receiving")
        self._get_in_progress = True
        try:
            frames = self.frames
            # Wait here rather than in _next_frame(): on the hot path, a
            # message in one frame, that saves a coroutine per message.
            while not frames:
                if self._closed:
                    if none_at_end:
                        return None
                    raise EOFError("stream of frames ended")
                # A Future, exact: the task handles it in C, and
                # release() wakes it in this step (see wake_future).
                waiter = self._waiter = asyncio.get_running_loop().create_future()
                try:
                    await waiter
                finally:
                    self._waiter = None
            frame = frames.popleft()
            if self._paused and self.low is not None and len(frames) <= self.low:
                self._paused = False
                self._resume()
            opcode = frame.opcode
            if frame.fin:
                data = frame.data
            else:
                buffer = bytearray(frame.data)
                try:
                    fin = False
                    while not fin:
                        frame = await self._next_frame()
                        buffer += frame.data
                        fin = frame.fin
                except BaseException:
                    # Put back what was taken, so that the next get() sees
                    # the message from its start.
                    self.frames.appendleft(Frame(opcode, bytes(buffer), fin=False))
                    raise
                data = bytes(buffer)
        finally:
            self._get_in_progress = False
        if decode is None:
            decode = opcode is _OP_TEXT
        return data.decode() if decode else data

    @overload
    def get_iter(self, decode: Literal[True]) -> AsyncIterator[str]: ...

    @overload
    def get_iter(self, decode: Literal[False]) -> AsyncIterator[bytes]: ...

    @overload
    def get_iter(self, decode: bool | None = None) -> AsyncIterator[Data]: ...

    async def get_iter(self, decode: bool | None = None) -> AsyncIterator[Data]:
        """Yield the next message frame by frame, as frames arrive.

        ``decode`` works as in :meth:`get`; text is decoded incrementally, so
        a character split across frames is yielded whole.

        Cancelling before the first frame loses nothing. Cancelling after it
        leaves the rest of the message in the queue, where the next
        :meth:`get` would mistake it for a new message: close the connection
        instead.

        Raises:
            EOFError: If the stream ended before a whole message arrived.
            ConcurrencyError: If another coroutine is receiving.
        """
        self._start()
        try:
            frame = await self._next_frame()
            if decode is None:
                decode = frame.opcode is _OP_TEXT
            decoder = _UTF8_DECODER() if decode else None
            while True:
                if decoder is not None:
                    yield decoder.decode(frame.data, frame.fin)
                else:
                    yield frame.data
                if frame.fin:
                    break
                frame = await self._next_frame()
        finally:
            self._get_in_progress = False


def _nothing() -> None:
    """What ``pause`` and ``resume`` do once dropped (see Assembler.end)."""


def _wake(waiter: asyncio.Future[None] | Waiter, outside_task: bool = False) -> None:
    """Wake a waiter: in this step if it is a Waiter, else through the loop."""
    if isinstance(waiter, Waiter):
        waiter.wake(outside_task)
    elif not waiter.done():
        waiter.set_result(None)

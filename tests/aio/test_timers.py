"""The coarse timers that connections share (websockets_typed.asyncio._timers)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import math
import time
import weakref
from collections.abc import Callable
from typing import Any

import pytest
import uvloop

from websockets_typed.asyncio._timers import Timers, _spacing
from websockets_typed.asyncio.client import connect
from websockets_typed.asyncio.server import ServerConnection, serve


class FakeClock:
    """A clock that the test sets: Timers reads it instead of the loop's."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# A time long before any event loop's clock: deadlines computed from it are
# in the loop's past.
PAST = -10000.0


def timers_at(now: float) -> Timers:
    """Timers of the running loop, on a clock stopped at ``now``.

    With ``now`` in the loop's past, a bucket fires at the next iteration of
    the loop, and which bucket a callback joins doesn't depend on how fast
    the test runs.
    """
    timers = Timers(asyncio.get_running_loop())
    timers._time = FakeClock(now)
    return timers


async def next_iterations() -> None:
    """Let the loop run the timers already due."""
    for _ in range(3):
        await asyncio.sleep(0)


# The grid.


@pytest.mark.parametrize("delay", [0.02, 0.1, 0.3, 1.0, 7.5, 10.0, 20.0, 3600.0])
def test_spacing_is_a_power_of_two_between_a_32nd_and_a_16th_of_the_delay(delay: float) -> None:
    spacing = _spacing(delay)
    assert math.frexp(spacing)[0] == 0.5  # a power of two
    assert delay / 32 < spacing <= delay / 16


@pytest.mark.parametrize("delay", [-1.0, 0.0, 1e-9, 0.001, 0.015])
def test_spacing_is_never_finer_than_a_millisecond(delay: float) -> None:
    assert _spacing(delay) == 2**-10


async def test_deadline_rounds_up_to_the_grid() -> None:
    timers = timers_at(PAST + 0.01)
    timers.call_later(10, lambda: None)
    (when,) = timers._buckets
    # Never early, late by less than the spacing: a 16th of the delay.
    assert PAST + 10.01 <= when < PAST + 10.01 + 10 / 16
    assert when == PAST + 10.5
    await next_iterations()


async def test_callbacks_due_at_the_same_point_share_a_bucket() -> None:
    timers = timers_at(PAST + 0.1)
    called: list[str] = []
    first = timers.call_later(10, lambda: called.append("first"))
    timers._time = FakeClock(PAST + 0.4)  # the same point of the grid: PAST + 10.5
    second = timers.call_later(10, lambda: called.append("second"))
    timers._time = FakeClock(PAST + 0.6)  # the next one: PAST + 11
    third = timers.call_later(10, lambda: called.append("third"))
    assert first is second
    assert third is not first
    assert sorted(timers._buckets) == [PAST + 10.5, PAST + 11]
    await next_iterations()
    assert sorted(called) == ["first", "second", "third"]
    assert not timers._buckets


async def test_a_callback_armed_after_its_bucket_fired_gets_a_new_one() -> None:
    # The bucket armed last for a delay is reused while its point of the
    # grid is ahead of new deadlines; once it fired, it is forgotten.
    timers = timers_at(PAST)
    called: list[str] = []
    first = timers.call_later(10, lambda: called.append("first"))
    await next_iterations()
    assert called == ["first"]
    # The same deadline: without forgetting, it would join the fired bucket.
    second = timers.call_later(10, lambda: called.append("second"))
    assert second is not first
    await next_iterations()
    assert called == ["first", "second"]


async def test_same_callback_armed_twice_in_a_bucket_runs_once() -> None:
    timers = timers_at(PAST)
    called: list[None] = []

    def callback() -> None:
        called.append(None)

    timers.call_later(10, callback)
    timers.call_later(10, callback)
    await next_iterations()
    assert called == [None]


# Firing and cancelling.


async def test_timer_fires_after_its_delay_on_the_loops_clock() -> None:
    # The real clock, asyncio's or uvloop's.
    loop = asyncio.get_running_loop()
    fired = loop.create_future()
    armed_at = loop.time()
    Timers(loop).call_later(0.05, lambda: fired.set_result(loop.time()))
    async with asyncio.timeout(5):
        fired_at = await fired
    # Never early (but for the loop's clock resolution, a millisecond on uvloop).
    assert fired_at >= armed_at + 0.05 - 0.001


async def test_cancelled_callback_does_not_run() -> None:
    timers = timers_at(PAST)
    called: list[str] = []

    def cancelled() -> None:
        called.append("cancelled")

    bucket = timers.call_later(10, cancelled)
    timers.call_later(10, lambda: called.append("other"))
    bucket.pop(cancelled, None)
    await next_iterations()
    assert called == ["other"]


async def test_callback_may_cancel_another_of_its_bucket() -> None:
    timers = timers_at(PAST)
    called: list[str] = []
    callbacks: dict[str, Callable[[], None]] = {}

    def make(name: str, other: str) -> Callable[[], None]:
        def callback() -> None:
            called.append(name)
            bucket.pop(callbacks[other], None)

        return callback

    callbacks["a"] = make("a", "b")
    callbacks["b"] = make("b", "a")
    bucket = timers.call_later(10, callbacks["a"])
    timers.call_later(10, callbacks["b"])
    await next_iterations()
    # Whichever ran first cancelled the other.
    assert called in (["a"], ["b"])


async def test_cancelling_after_firing_does_nothing() -> None:
    timers = timers_at(PAST)
    called: list[None] = []

    def callback() -> None:
        called.append(None)

    bucket = timers.call_later(10, callback)
    await next_iterations()
    assert bucket.pop(callback, None) is None
    assert called == [None]


async def test_error_in_callback_goes_to_the_exception_handler() -> None:
    loop = asyncio.get_running_loop()
    contexts: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: contexts.append(context))
    try:
        timers = timers_at(PAST)
        called: list[None] = []

        def failing() -> None:
            raise ValueError("boom")

        timers.call_later(10, failing)
        timers.call_later(10, lambda: called.append(None))
        await next_iterations()
    finally:
        loop.set_exception_handler(None)
    # The other callback of the bucket ran all the same.
    assert called == [None]
    (context,) = contexts
    assert isinstance(context["exception"], ValueError)
    assert "failing" in context["message"]


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit])
async def test_interrupts_go_through(error: type[BaseException]) -> None:
    # As with call_later(): out of the loop's run, not to the handler.
    timers = timers_at(PAST)

    def interrupt() -> None:
        raise error

    # A bucket of its own, without a timer of the loop: fired by hand.
    timers._buckets[PAST] = {interrupt: None}
    with pytest.raises(error):
        timers._fire(PAST)


async def test_callbacks_run_in_a_context_of_their_own() -> None:
    variable: contextvars.ContextVar[str] = contextvars.ContextVar("variable", default="unset")
    variable.set("caller")
    seen: list[str] = []
    timers_at(PAST).call_later(10, lambda: seen.append(variable.get()))
    await next_iterations()
    assert seen == ["unset"]


# One per loop.


async def test_one_instance_per_loop() -> None:
    loop = asyncio.get_running_loop()
    assert Timers.of(loop) is Timers.of(loop)
    other = asyncio.new_event_loop()
    try:
        assert Timers.of(other) is not Timers.of(loop)
    finally:
        other.close()


def test_timers_do_not_keep_their_loop_alive() -> None:
    loop = asyncio.new_event_loop()
    timers = Timers.of(loop)
    reference = weakref.ref(loop)
    loop.close()
    del loop
    gc.collect()
    assert reference() is None
    assert timers._loop() is None


# What connections do with them.


async def test_closed_connection_leaves_no_callback_in_the_timers() -> None:
    # Keepalive and close timers are cancelled in connection_lost(): a
    # bucket that still held them would keep the connection alive until it
    # fires, 20 seconds later with the default ping_interval.
    accepted: asyncio.Queue[ServerConnection] = asyncio.Queue()

    async def handler(connection: ServerConnection) -> None:
        accepted.put_nowait(connection)
        await connection.wait_closed()

    async with serve(handler, "127.0.0.1", 0, ping_interval=20, close_timeout=10) as server:
        port = server.sockets[0].getsockname()[1]
        async with asyncio.timeout(5):
            async with connect(f"ws://127.0.0.1:{port}", ping_interval=None) as client:
                connection = await accepted.get()
                armed = [
                    callback
                    for bucket in server._timers._buckets.values()
                    for callback in bucket
                    if getattr(callback, "__self__", None) is connection
                ]
                assert armed == [connection._keepalive_ping]
            await connection.wait_closed()
        assert client.closed
        left = [
            callback
            for bucket in server._timers._buckets.values()
            for callback in bucket
            if getattr(callback, "__self__", None) is connection
        ]
        assert left == []


async def test_delays_remembered_are_bounded() -> None:
    # Connections use a few delays; a program arming many distinct ones
    # doesn't grow the cache without bound.
    timers = timers_at(PAST)
    for index in range(100):
        timers.call_later(1 + index / 1000, lambda: None)
    assert 0 < len(timers._latest) <= 32
    await next_iterations()


async def test_infinite_delay_never_fires() -> None:
    timers = timers_at(PAST)
    called: list[None] = []

    def callback() -> None:
        called.append(None)

    bucket = timers.call_later(math.inf, callback)
    assert not timers._buckets
    await next_iterations()
    assert called == []
    bucket.pop(callback, None)  # cancelling works as for any timer


async def test_nan_delay_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid delay: nan"):
        timers_at(PAST).call_later(math.nan, lambda: None)


# The clock.


async def test_deadlines_read_time_monotonic_on_asyncios_loop_and_uvloops() -> None:
    # Both loops' clocks are CLOCK_MONOTONIC (uvloop's in whole milliseconds,
    # never ahead): reading it directly saves the loop's method.
    loop = asyncio.get_running_loop()
    assert Timers(loop)._time is time.monotonic
    assert loop.time() <= time.monotonic()


class OwnClock(asyncio.SelectorEventLoop):
    """A loop with a clock of its own, far from time.monotonic()."""

    def time(self) -> float:
        return super().time() + 1000.0


def test_a_loop_with_its_own_clock_is_asked_for_the_time() -> None:
    loop = OwnClock()
    try:
        timers = Timers(loop)
        assert timers._time is None

        async def arm() -> float:
            timers.call_later(1, lambda: None)
            (when,) = timers._buckets
            return when

        when = loop.run_until_complete(arm())
        # On the loop's clock, not time.monotonic()'s.
        assert when >= loop.time() + 1 - 0.5
    finally:
        loop.close()


def test_a_uvloop_loop_with_its_own_clock_is_asked_for_the_time() -> None:
    class OwnUvloopClock(uvloop.Loop):
        def time(self) -> float:
            return float(super().time()) + 1000.0

    loop = OwnUvloopClock()
    try:
        assert Timers(loop)._time is None
    finally:
        loop.close()

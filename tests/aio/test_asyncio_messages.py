"""Tests of websockets_typed.asyncio.messages: the Assembler that turns frames into messages.

The Assembler is pure asyncio and never touches a socket, so these tests
feed it frames directly and check what :meth:`Assembler.get` and
:meth:`Assembler.get_iter` hand out, and when flow control kicks in.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from websockets_typed.asyncio.messages import Assembler
from websockets_typed.exceptions import ConcurrencyError
from websockets_typed.frames import Frame, Opcode
from websockets_typed.typing import Data

# Helpers.


def text(data: bytes, fin: bool = True) -> Frame:
    """A Text frame."""
    return Frame(Opcode.TEXT, data, fin)


def binary(data: bytes, fin: bool = True) -> Frame:
    """A Binary frame."""
    return Frame(Opcode.BINARY, data, fin)


def cont(data: bytes, fin: bool = True) -> Frame:
    """A Continuation frame."""
    return Frame(Opcode.CONT, data, fin)


class FlowControl:
    """Counts the calls to ``pause`` and ``resume``."""

    def __init__(self) -> None:
        self.pauses = 0
        self.resumes = 0

    def pause(self) -> None:
        self.pauses += 1

    def resume(self) -> None:
        self.resumes += 1


def assembler(high: int | None = None, low: int | None = None) -> tuple[Assembler, FlowControl]:
    """An Assembler with flow control callbacks that count their calls."""
    flow = FlowControl()
    return Assembler(high, low, pause=flow.pause, resume=flow.resume), flow


async def until_drained(messages: Assembler) -> None:
    """Let the consumer task run until it has taken every queued frame."""
    async with asyncio.timeout(1):
        while len(messages):
            await asyncio.sleep(0)


async def waiting_get(messages: Assembler, none_at_end: bool = False) -> asyncio.Task[Data | None]:
    """A task whose get() waits on the empty queue."""
    getter = asyncio.create_task(messages.get(None, none_at_end))
    await asyncio.sleep(0)
    return getter


async def collect(fragments: AsyncIterator[Data]) -> list[Data]:
    """Every fragment that get_iter() yields."""
    return [fragment async for fragment in fragments]


# get(): whole messages.


async def test_get_text_message() -> None:
    messages, _ = assembler()
    messages.put(text(b"caf\xc3\xa9"))
    assert await messages.get() == "café"


async def test_get_binary_message() -> None:
    messages, _ = assembler()
    messages.put(binary(b"\x00\xff"))
    assert await messages.get() == b"\x00\xff"


async def test_get_fragmented_text_message() -> None:
    messages, _ = assembler()
    messages.put(text(b"caf\xc3", fin=False))
    messages.put(cont(b"\xa9 ", fin=False))
    messages.put(cont(b"au lait"))
    assert await messages.get() == "café au lait"
    assert len(messages) == 0


async def test_get_fragmented_binary_message() -> None:
    messages, _ = assembler()
    messages.put(binary(b"\x01", fin=False))
    messages.put(cont(b"\x02", fin=False))
    messages.put(cont(b""))
    assert await messages.get() == b"\x01\x02"


async def test_get_returns_messages_in_order() -> None:
    messages, _ = assembler()
    messages.put(text(b"one"))
    messages.put(binary(b"two"))
    messages.put(text(b"thr", fin=False))
    messages.put(cont(b"ee"))
    assert [await messages.get() for _ in range(3)] == ["one", b"two", "three"]


@pytest.mark.parametrize(
    ("frame", "decode", "expected"),
    [
        (text(b"caf\xc3\xa9"), None, "café"),
        (text(b"caf\xc3\xa9"), True, "café"),
        (text(b"caf\xc3\xa9"), False, b"caf\xc3\xa9"),
        (binary(b"caf\xc3\xa9"), None, b"caf\xc3\xa9"),
        (binary(b"caf\xc3\xa9"), True, "café"),
        (binary(b"caf\xc3\xa9"), False, b"caf\xc3\xa9"),
    ],
)
async def test_get_decode(frame: Frame, decode: bool | None, expected: Data) -> None:
    messages, _ = assembler()
    messages.put(frame)
    message = await messages.get(decode)
    assert message == expected
    assert type(message) is type(expected)


async def test_get_decode_true_fragmented_binary() -> None:
    messages, _ = assembler()
    messages.put(binary(b"caf\xc3", fin=False))
    messages.put(cont(b"\xa9"))
    assert await messages.get(decode=True) == "café"


async def test_get_decode_true_invalid_utf8() -> None:
    messages, _ = assembler()
    messages.put(binary(b"\xff"))
    with pytest.raises(UnicodeDecodeError):
        await messages.get(decode=True)
    # The failure doesn't leave the assembler busy.
    messages.put(binary(b"next"))
    assert await messages.get() == b"next"


async def test_get_waits_for_a_message() -> None:
    messages, _ = assembler()
    getter = asyncio.create_task(messages.get())
    await asyncio.sleep(0)
    assert not getter.done()
    messages.put(text(b"hello"))
    async with asyncio.timeout(1):
        assert await getter == "hello"


async def test_get_waits_for_the_last_fragment() -> None:
    messages, _ = assembler()
    getter = asyncio.create_task(messages.get())
    messages.put(text(b"hel", fin=False))
    await until_drained(messages)
    messages.put(cont(b"l", fin=False))
    await until_drained(messages)
    assert not getter.done()
    messages.put(cont(b"o"))
    async with asyncio.timeout(1):
        assert await getter == "hello"


# get_iter(): messages fragment by fragment.


async def test_get_iter_single_frame() -> None:
    messages, _ = assembler()
    messages.put(text(b"hello"))
    assert await collect(messages.get_iter()) == ["hello"]


async def test_get_iter_fragmented_binary() -> None:
    messages, _ = assembler()
    messages.put(binary(b"\x01", fin=False))
    messages.put(cont(b"\x02", fin=False))
    messages.put(cont(b"\x03"))
    messages.put(binary(b"next"))
    assert await collect(messages.get_iter()) == [b"\x01", b"\x02", b"\x03"]
    # Only one message was taken.
    assert await messages.get() == b"next"


async def test_get_iter_decodes_a_character_split_across_frames() -> None:
    messages, _ = assembler()
    # "é" is b"\xc3\xa9"; "€" is b"\xe2\x82\xac", split over three frames.
    messages.put(text(b"caf\xc3", fin=False))
    messages.put(cont(b"\xa9 \xe2", fin=False))
    messages.put(cont(b"\x82", fin=False))
    messages.put(cont(b"\xac"))
    assert await collect(messages.get_iter()) == ["caf", "é ", "", "€"]


async def test_get_iter_decode_false_yields_raw_bytes() -> None:
    messages, _ = assembler()
    messages.put(text(b"caf\xc3", fin=False))
    messages.put(cont(b"\xa9"))
    assert await collect(messages.get_iter(decode=False)) == [b"caf\xc3", b"\xa9"]


async def test_get_iter_decode_true_binary() -> None:
    messages, _ = assembler()
    messages.put(binary(b"caf\xc3", fin=False))
    messages.put(cont(b"\xa9"))
    assert await collect(messages.get_iter(decode=True)) == ["caf", "é"]


async def test_get_iter_decode_true_invalid_utf8() -> None:
    messages, _ = assembler()
    messages.put(binary(b"ok", fin=False))
    messages.put(cont(b"\xff"))
    fragments = messages.get_iter(decode=True)
    assert await anext(fragments) == "ok"
    with pytest.raises(UnicodeDecodeError):
        await anext(fragments)


async def test_get_iter_decode_true_truncated_character() -> None:
    messages, _ = assembler()
    # The message ends in the middle of a character.
    messages.put(binary(b"caf\xc3"))
    with pytest.raises(UnicodeDecodeError):
        await collect(messages.get_iter(decode=True))


async def test_get_iter_yields_fragments_as_they_arrive() -> None:
    messages, _ = assembler()
    fragments = messages.get_iter()
    messages.put(text(b"one", fin=False))
    async with asyncio.timeout(1):
        assert await anext(fragments) == "one"
        next_fragment = asyncio.ensure_future(anext(fragments))
        await asyncio.sleep(0)
        assert not next_fragment.done()
        messages.put(cont(b"two"))
        assert await next_fragment == "two"
        with pytest.raises(StopAsyncIteration):
            await anext(fragments)


# Concurrency.


async def test_concurrent_get_raises_concurrency_error() -> None:
    messages, _ = assembler()
    getter = asyncio.create_task(messages.get())
    await asyncio.sleep(0)
    with pytest.raises(ConcurrencyError):
        await messages.get()
    with pytest.raises(ConcurrencyError):
        await collect(messages.get_iter())
    # The first get() is unaffected.
    messages.put(text(b"first"))
    async with asyncio.timeout(1):
        assert await getter == "first"
    # And the assembler is usable again.
    messages.put(text(b"second"))
    assert await messages.get() == "second"


async def test_get_during_get_iter_raises_concurrency_error() -> None:
    messages, _ = assembler()
    messages.put(text(b"one", fin=False))
    fragments = messages.get_iter()
    assert await anext(fragments) == "one"
    with pytest.raises(ConcurrencyError):
        await messages.get()
    messages.put(cont(b"two"))
    assert await anext(fragments) == "two"
    with pytest.raises(StopAsyncIteration):
        await anext(fragments)
    messages.put(text(b"three"))
    assert await messages.get() == "three"


# Cancellation loses nothing.


async def test_cancel_get_before_a_message_arrives() -> None:
    messages, _ = assembler()
    getter = asyncio.create_task(messages.get())
    await asyncio.sleep(0)
    getter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await getter
    messages.put(text(b"hello"))
    assert await messages.get() == "hello"


async def test_cancel_get_with_timeout() -> None:
    messages, _ = assembler()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await messages.get()
    messages.put(text(b"hello"))
    assert await messages.get() == "hello"


@pytest.mark.parametrize(
    ("first", "decode", "expected"),
    [
        (text(b"caf\xc3", fin=False), None, "café au lait"),
        (text(b"caf\xc3", fin=False), False, "café au lait".encode()),
        (binary(b"caf\xc3", fin=False), None, "café au lait".encode()),
    ],
)
async def test_cancel_get_while_a_fragmented_message_arrives(
    first: Frame, decode: bool | None, expected: Data
) -> None:
    messages, _ = assembler()
    getter = asyncio.create_task(messages.get(decode))
    messages.put(first)
    messages.put(cont(b"\xa9 ", fin=False))
    await until_drained(messages)
    getter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await getter
    # The frames taken so far are back in the queue, joined in one frame.
    assert len(messages) == 1
    messages.put(cont(b"au ", fin=False))
    messages.put(cont(b"lait"))
    assert await messages.get(decode) == expected
    assert len(messages) == 0


async def test_cancel_get_iter_before_a_message_arrives() -> None:
    messages, _ = assembler()
    getter = asyncio.create_task(collect(messages.get_iter()))
    await asyncio.sleep(0)
    getter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await getter
    messages.put(text(b"hello"))
    assert await collect(messages.get_iter()) == ["hello"]


# Closing.


async def test_close_delivers_queued_messages_then_eof() -> None:
    messages, _ = assembler()
    messages.put(text(b"one"))
    messages.put(binary(b"tw", fin=False))
    messages.put(cont(b"o"))
    messages.close()
    assert await messages.get() == "one"
    assert await collect(messages.get_iter()) == [b"tw", b"o"]
    with pytest.raises(EOFError):
        await messages.get()
    with pytest.raises(EOFError):
        await collect(messages.get_iter())


async def test_close_wakes_a_waiting_get() -> None:
    messages, _ = assembler()
    getter = asyncio.create_task(messages.get())
    await asyncio.sleep(0)
    messages.close()
    with pytest.raises(EOFError):
        async with asyncio.timeout(1):
            await getter


@pytest.mark.parametrize("wake_in_step", [False, True])
async def test_close_without_wake_leaves_a_waiting_get_until_end(wake_in_step: bool) -> None:
    # A connection's readers wait for the end of the connection after
    # EOFError anyway: they wake once, at end().
    messages = Assembler(wake_in_step=wake_in_step)
    getter = await waiting_get(messages)
    messages.hold()
    messages.close(wake=False)
    messages.release()
    for _ in range(3):
        await asyncio.sleep(0)
    assert not getter.done()
    messages.end()
    with pytest.raises(EOFError):
        async with asyncio.timeout(1):
            await getter


async def test_close_without_wake_delivers_frames_put_while_holding() -> None:
    messages = Assembler(wake_in_step=True)
    getter = await waiting_get(messages)
    messages.hold()
    messages.put(text(b"last"))
    messages.close(wake=False)
    messages.release()
    async with asyncio.timeout(1):
        assert await getter == "last"
    with pytest.raises(EOFError):
        await messages.get()


async def test_end_outside_a_task_wakes_the_consumer_in_its_step() -> None:
    # As connection_lost() does, from a callback of the event loop.
    messages = Assembler(wake_in_step=True)
    getter = await waiting_get(messages)
    messages.close(wake=False)
    woken: list[bool] = []

    def end() -> None:
        messages.end(outside_task=True)
        woken.append(getter.done())

    asyncio.get_running_loop().call_soon(end)
    with pytest.raises(EOFError):
        async with asyncio.timeout(1):
            await getter
    # The getter's task ran, to its end, within end().
    assert woken == [True]


async def test_none_at_end_returns_none_rather_than_raise() -> None:
    # For callers that expect the end: no exception to raise and catch.
    messages, _ = assembler()
    messages.put(text(b"last"))
    messages.close()
    assert await messages.get(None, True) == "last"
    assert await messages.get(None, True) is None
    with pytest.raises(EOFError):
        await messages.get()


async def test_none_at_end_wakes_a_waiting_get_with_none() -> None:
    messages, _ = assembler()
    getter = await waiting_get(messages, none_at_end=True)
    messages.close()
    async with asyncio.timeout(1):
        assert await getter is None


async def test_none_at_end_still_raises_within_a_fragmented_message() -> None:
    # The end of the stream in the middle of a message is an error.
    messages, _ = assembler()
    messages.put(text(b"unfini", fin=False))
    messages.close()
    with pytest.raises(EOFError):
        await messages.get(None, True)


async def test_close_during_a_fragmented_message() -> None:
    messages, _ = assembler()
    getter = asyncio.create_task(messages.get())
    messages.put(text(b"unfini", fin=False))
    await until_drained(messages)
    messages.close()
    with pytest.raises(EOFError):
        async with asyncio.timeout(1):
            await getter
    # The partial message is kept, but it can never complete.
    assert len(messages) == 1
    with pytest.raises(EOFError):
        await messages.get()


async def test_close_during_get_iter() -> None:
    messages, _ = assembler()
    messages.put(text(b"unfini", fin=False))
    fragments = messages.get_iter()
    assert await anext(fragments) == "unfini"
    messages.close()
    with pytest.raises(EOFError):
        await anext(fragments)


async def test_close_is_idempotent() -> None:
    messages, _ = assembler()
    messages.put(text(b"kept"))
    messages.close()
    messages.close()
    assert await messages.get() == "kept"


async def test_put_after_close_raises_eof_error() -> None:
    messages, _ = assembler()
    messages.close()
    with pytest.raises(EOFError):
        messages.put(text(b"late"))
    assert len(messages) == 0


# Flow control.


async def test_pause_at_high_resume_at_low() -> None:
    messages, flow = assembler(high=4, low=2)
    for i in range(3):
        messages.put(text(str(i).encode()))
    assert flow.pauses == 0
    messages.put(text(b"3"))
    assert flow.pauses == 1
    # Already paused: not paused again.
    messages.put(text(b"4"))
    assert flow.pauses == 1
    assert len(messages) == 5
    # 5 -> 4 -> 3 frames: still above the low-water mark.
    assert await messages.get() == "0"
    assert await messages.get() == "1"
    assert flow.resumes == 0
    # 3 -> 2: resume.
    assert await messages.get() == "2"
    assert flow.resumes == 1
    assert await messages.get() == "3"
    assert flow.resumes == 1
    # Filling up again pauses again.
    for i in range(5, 8):
        messages.put(text(str(i).encode()))
    assert flow.pauses == 2


async def test_low_defaults_to_a_quarter_of_high() -> None:
    messages, flow = assembler(high=8)
    assert (messages.high, messages.low) == (8, 2)
    for i in range(8):
        messages.put(text(str(i).encode()))
    assert flow.pauses == 1
    for _ in range(5):
        await messages.get()
    assert flow.resumes == 0
    await messages.get()
    assert len(messages) == 2
    assert flow.resumes == 1


async def test_flow_control_counts_frames_not_messages() -> None:
    messages, flow = assembler(high=2, low=0)
    messages.put(text(b"a", fin=False))
    assert flow.pauses == 0
    messages.put(cont(b"b", fin=False))
    assert flow.pauses == 1
    # A message larger than the queue still gets through.
    getter = asyncio.create_task(messages.get())
    await until_drained(messages)
    assert flow.resumes == 1
    messages.put(cont(b"c", fin=False))
    messages.put(cont(b"d"))
    async with asyncio.timeout(1):
        assert await getter == "abcd"


async def test_high_none_disables_flow_control() -> None:
    messages, flow = assembler(high=None)
    for i in range(1000):
        messages.put(binary(i.to_bytes(2, "big")))
    for _ in range(1000):
        await messages.get()
    assert (flow.pauses, flow.resumes) == (0, 0)


@pytest.mark.parametrize(
    ("high", "low"),
    [
        (4, 5),  # low above high
        (4, -1),  # negative low
        (-4, None),  # negative high, and so negative default low
        (-1, 0),  # negative high
    ],
)
def test_invalid_water_marks(high: int, low: int | None) -> None:
    with pytest.raises(ValueError, match="low must be between 0 and high"):
        Assembler(high, low)


def test_valid_edge_water_marks() -> None:
    assert Assembler(4, 4).low == 4
    assert Assembler(4, 0).low == 0
    assert Assembler(1).low == 0


async def test_default_callbacks_do_nothing() -> None:
    messages = Assembler(1)
    messages.put(text(b"x"))
    assert await messages.get() == "x"


# The end of the producer.


async def test_end_delivers_queued_messages_then_eof() -> None:
    messages, _ = assembler()
    messages.put(text(b"last"))
    messages.end()
    assert await messages.get() == "last"
    with pytest.raises(EOFError):
        await messages.get()


async def test_end_forgets_flow_control() -> None:
    # Paused at 2 frames; once ended, draining calls resume no more.
    messages, flow = assembler(2, 1)
    messages.put(text(b"a"))
    messages.put(text(b"b"))
    assert flow.pauses == 1
    messages.end()
    assert await messages.get() == "a"
    assert await messages.get() == "b"
    assert flow.resumes == 0


async def test_end_while_holding_wakes_the_consumer() -> None:
    # A frame put while the queue is held wakes nobody until release():
    # end() releases.
    messages = Assembler(wake_in_step=True)
    consumer = asyncio.create_task(messages.get())
    await asyncio.sleep(0)
    messages.hold()
    messages.put(text(b"held"))
    messages.end()
    async with asyncio.timeout(1):
        assert await consumer == "held"


async def test_end_while_holding_wakes_a_deferred_waiter() -> None:
    # A waiter of the connection (its handshake's) woken while the queue is
    # held waits for release(): end() releases it too.
    messages = Assembler(wake_in_step=True)
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    messages.hold()
    messages.wake(waiter)
    assert not waiter.done()
    messages.end()
    assert waiter.done()


async def test_end_twice_does_nothing_more() -> None:
    messages, _ = assembler()
    messages.end()
    messages.end()
    with pytest.raises(EOFError):
        await messages.get()

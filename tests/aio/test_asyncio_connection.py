"""Tests of websockets_typed.asyncio.connection: Connection and broadcast().

Every test runs over a real loopback TCP connection between a server made
with serve() and a client made with connect(). :func:`connected` yields both
ends, so that a test drives each side directly. Compression is off unless a
test says otherwise, so that frames on the wire are the frames sent.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import struct
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

import pytest
from raw_peer import OP_CLOSE, OP_PING, RawFrame, close_payload, open_raw_client

from websockets_typed.asyncio.client import ClientConnection, ConnectOptions, connect
from websockets_typed.asyncio.connection import BroadcastStats, broadcast
from websockets_typed.asyncio.server import (
    ServeOptions,
    Server,
    ServerConnection,
    serve,
)
from websockets_typed.exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    ProtocolError,
)
from websockets_typed.frames import Close, CloseCode, Frame, Opcode, serialize_frame
from websockets_typed.protocol import CLOSED, CLOSING, OPEN
from websockets_typed.typing import BytesLike, Data

# Helpers.


def uri_of(server: Server) -> str:
    """A ws:// URI for the server."""
    port: int = server.sockets[0].getsockname()[1]
    return f"ws://127.0.0.1:{port}/"


@asynccontextmanager
async def serving(
    server_options: ServeOptions | None = None,
    create_connection: type[ServerConnection] = ServerConnection,
) -> AsyncGenerator[tuple[Server, asyncio.Queue[ServerConnection]]]:
    """Run a server whose handler hands each connection to the test.

    The handler keeps the connection open until it closes, so the test
    drives the server side of each connection itself.
    """
    accepted: asyncio.Queue[ServerConnection] = asyncio.Queue()

    async def handler(connection: ServerConnection) -> None:
        accepted.put_nowait(connection)
        await connection.wait_closed()

    options: ServeOptions = {"compression": None, "ping_interval": None, "close_timeout": 1}
    options.update(server_options or {})
    async with asyncio.timeout(5):
        server = await serve(
            handler, "127.0.0.1", 0, create_connection=create_connection, **options
        )
    try:
        yield server, accepted
    finally:
        server.close()
        async with asyncio.timeout(5):
            await server.wait_closed()


async def open_client(
    server: Server,
    accepted: asyncio.Queue[ServerConnection],
    client_options: ConnectOptions | None = None,
) -> tuple[ServerConnection, ClientConnection]:
    """Connect a client to a server made by :func:`serving`; return both ends."""
    options: ConnectOptions = {"compression": None, "ping_interval": None, "close_timeout": 1}
    options.update(client_options or {})
    async with asyncio.timeout(5):
        client = await connect(uri_of(server), **options)
        return await accepted.get(), client


@asynccontextmanager
async def connected(
    server_options: ServeOptions | None = None,
    client_options: ConnectOptions | None = None,
    create_connection: type[ServerConnection] = ServerConnection,
) -> AsyncGenerator[tuple[ServerConnection, ClientConnection]]:
    """Yield both ends of an open connection; close them on exit."""
    async with serving(server_options, create_connection) as (server, accepted):
        server_connection, client = await open_client(server, accepted, client_options)
        try:
            yield server_connection, client
        finally:
            async with asyncio.timeout(5):
                await client.close()


async def until(condition: Callable[[], bool]) -> None:
    """Poll for a condition that no event signals, e.g. a state of the peer."""
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.005)


async def round_trip(connection: ClientConnection | ServerConnection) -> None:
    """Wait until the peer processed everything this side sent so far."""
    async with asyncio.timeout(5):
        await (await connection.ping())


def close_code(exc: ConnectionClosed) -> int:
    """The code of the closing handshake, whichever side started it.

    The side that fails a connection stops parsing, so it records the code
    it sent and never the echo; its peer records the code it received.
    """
    if exc.rcvd is not None:
        return exc.rcvd.code
    assert exc.sent is not None
    return exc.sent.code


# The type of fragments: send() accepts iterables of text or of bytes, not both.
F = TypeVar("F", bound=Data | BytesLike)


async def items(*fragments: F) -> AsyncIterator[F]:
    """An async iterable of fragments."""
    for fragment in fragments:
        await asyncio.sleep(0)
        yield fragment


class Gate(Generic[F]):
    """Fragments sent one at a time, each released by the test.

    The async iterator yields its first fragment at once, then waits for
    :meth:`release` before each next one, and records in ``waiting`` that
    it is waiting.
    """

    def __init__(self, *fragments: F) -> None:
        self.fragments = fragments
        self.released = asyncio.Event()
        self.waiting = asyncio.Event()

    def release(self) -> None:
        self.released.set()

    async def __aiter__(self) -> AsyncIterator[F]:
        first, *others = self.fragments
        yield first
        for fragment in others:
            self.waiting.set()
            await self.released.wait()
            yield fragment


async def recv_fragments(connection: ClientConnection | ServerConnection) -> list[Data]:
    """Receive the next message with recv_streaming(); return its fragments."""
    async with asyncio.timeout(5):
        return [fragment async for fragment in connection.recv_streaming()]


# Receiving.


async def test_recv_text_and_binary() -> None:
    async with connected() as (server, client):
        await server.send("café")
        await server.send(b"\x00\xff")
        text = await client.recv()
        assert text == "café"
        assert isinstance(text, str)
        binary = await client.recv()
        assert binary == b"\x00\xff"
        assert isinstance(binary, bytes)


async def test_recv_decode_overrides() -> None:
    async with connected() as (server, client):
        await server.send("café")
        await server.send("café".encode())
        await server.send("text")
        await server.send(b"binary")
        assert await client.recv(decode=False) == "café".encode()
        assert await client.recv(decode=True) == "café"
        assert await client.recv(decode=True) == "text"
        assert await client.recv(decode=False) == b"binary"


async def test_recv_decode_true_invalid_utf8_fails_with_1007() -> None:
    async with connected() as (server, client):
        await server.send(b"\xff\xfe")
        with pytest.raises(ConnectionClosedError) as exc_info:
            async with asyncio.timeout(5):
                await client.recv(decode=True)
        assert close_code(exc_info.value) == CloseCode.INVALID_DATA
        # The server received the 1007 Close frame.
        with pytest.raises(ConnectionClosedError) as exc_info:
            async with asyncio.timeout(5):
                await server.recv()
        assert exc_info.value.rcvd is not None
        assert exc_info.value.rcvd.code == CloseCode.INVALID_DATA
        assert server.close_code == CloseCode.INVALID_DATA


async def test_recv_delivers_queued_messages_after_close() -> None:
    async with connected() as (server, client):
        await server.send("one")
        await server.send("two")
        await server.close()
        assert await client.recv() == "one"
        assert await client.recv() == "two"
        with pytest.raises(ConnectionClosedOK):
            await client.recv()


async def test_recv_on_connection_reset_chains_the_error() -> None:
    async with connected() as (server, client):
        # Abort with SO_LINGER 0: the kernel sends an RST, not a FIN.
        sock = server.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        server.transport.abort()
        with pytest.raises(ConnectionClosedError) as exc_info:
            async with asyncio.timeout(5):
                await client.recv()
        assert exc_info.value.rcvd is None
        assert isinstance(exc_info.value.__cause__, ConnectionResetError)
        assert client.close_code == CloseCode.ABNORMAL_CLOSURE


async def test_recv_streaming_fragments() -> None:
    async with connected() as (server, client):
        await server.send(["caf", "é", " au lait"])
        # One frame per fragment, and an empty final frame.
        assert await recv_fragments(client) == ["caf", "é", " au lait", ""]
        await server.send(b"whole")
        assert await recv_fragments(client) == [b"whole"]


async def test_recv_streaming_decode_overrides() -> None:
    async with connected() as (server, client):
        await server.send(["caf", "é"])
        fragments = [fragment async for fragment in client.recv_streaming(decode=False)]
        assert fragments == [b"caf", "é".encode(), b""]
        await server.send([b"caf\xc3", b"\xa9"])
        decoded = [fragment async for fragment in client.recv_streaming(decode=True)]
        # Incremental decoding: the character split across frames comes whole.
        assert decoded == ["caf", "é", ""]


async def test_recv_streaming_invalid_utf8_fails_with_1007() -> None:
    async with connected() as (server, client):
        await server.send([b"ok", b"\xff"])
        received: list[str] = []
        with pytest.raises(ConnectionClosedError) as exc_info:  # noqa: PT012
            async with asyncio.timeout(5):
                async for fragment in client.recv_streaming(decode=True):
                    received.append(fragment)
        assert received == ["ok"]
        assert close_code(exc_info.value) == CloseCode.INVALID_DATA


async def test_recv_streaming_on_closed_connection() -> None:
    async with connected() as (_, client):
        await client.close()
        with pytest.raises(ConnectionClosedOK):
            await recv_fragments(client)


async def test_concurrent_recv_raises_concurrency_error() -> None:
    async with connected() as (server, client):
        receiver = asyncio.create_task(client.recv())
        await asyncio.sleep(0)
        with pytest.raises(ConcurrencyError):
            await client.recv()
        with pytest.raises(ConcurrencyError):
            await recv_fragments(client)
        # The first recv() is unaffected.
        await server.send("first")
        async with asyncio.timeout(5):
            assert await receiver == "first"


async def test_recv_during_recv_streaming_raises_concurrency_error() -> None:
    async with connected() as (server, client):
        await server.send(["a", "b"])
        fragments = client.recv_streaming()
        async with asyncio.timeout(5):
            assert await anext(fragments) == "a"
            with pytest.raises(ConcurrencyError):
                await client.recv()
            assert [fragment async for fragment in fragments] == ["b", ""]


# Cancelling recv() loses no message.


async def test_cancel_recv_while_waiting() -> None:
    async with connected() as (server, client):
        receiver = asyncio.create_task(client.recv())
        await asyncio.sleep(0)
        receiver.cancel()
        with pytest.raises(asyncio.CancelledError):
            await receiver
        await server.send("after cancel")
        async with asyncio.timeout(5):
            assert await client.recv() == "after cancel"


async def test_recv_with_timeout_loses_nothing() -> None:
    async with connected() as (server, client):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await client.recv()
        await server.send("late")
        async with asyncio.timeout(5):
            assert await client.recv() == "late"


async def test_cancel_recv_during_a_fragmented_message() -> None:
    async with connected() as (server, client):
        receiver = asyncio.create_task(client.recv())
        gate = Gate("first half, ", "second half")
        sender = asyncio.create_task(server.send(gate))
        async with asyncio.timeout(5):
            await gate.waiting.wait()
        # The pong comes after the first fragment: the client processed it.
        await round_trip(server)
        receiver.cancel()
        with pytest.raises(asyncio.CancelledError):
            await receiver
        gate.release()
        async with asyncio.timeout(5):
            await sender
            assert await client.recv() == "first half, second half"


# Sending.


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("café", "café"),
        (b"\x00\xff", b"\x00\xff"),
        (bytearray(b"\x00\xff"), b"\x00\xff"),
        (memoryview(b"\x00\xff\x01")[:2], b"\x00\xff"),
    ],
)
async def test_send_data(message: Data | BytesLike, expected: Data) -> None:
    async with connected() as (server, client):
        await client.send(message)
        received = await server.recv()
        assert received == expected
        assert type(received) is type(expected)


async def test_send_text_override() -> None:
    async with connected() as (server, client):
        await client.send("café".encode(), text=True)
        await client.send("café", text=False)
        await client.send("text", text=True)
        await client.send(b"binary", text=False)
        assert await server.recv() == "café"
        assert await server.recv() == "café".encode()
        assert await server.recv() == "text"
        assert await server.recv() == b"binary"


async def test_send_iterable_as_fragments() -> None:
    async with connected() as (server, client):
        await client.send(["caf", "é"])
        assert await recv_fragments(server) == ["caf", "é", ""]
        binary: list[BytesLike] = [b"\x01", bytearray(b"\x02"), memoryview(b"\x03")]
        await client.send(binary)
        assert await recv_fragments(server) == [b"\x01", b"\x02", b"\x03", b""]
        await client.send(iter(["whole", " message"]))
        assert await server.recv() == "whole message"


async def test_send_async_iterable_as_fragments() -> None:
    async with connected() as (server, client):
        await client.send(items("caf", "é"))
        assert await recv_fragments(server) == ["caf", "é", ""]
        await client.send(items(b"\x01", b"\x02"))
        assert await server.recv() == b"\x01\x02"


async def test_send_iterable_text_override() -> None:
    async with connected() as (server, client):
        await client.send([b"caf", "é".encode()], text=True)
        await client.send(["caf", "é"], text=False)
        await client.send(items(b"a", b"b"), text=True)
        assert await server.recv() == "café"
        assert await server.recv() == "café".encode()
        assert await server.recv() == "ab"


async def test_send_empty_iterable_sends_nothing() -> None:
    async with connected() as (server, client):
        await client.send([])
        await client.send(items())
        await client.send("after")
        assert await server.recv() == "after"


@pytest.mark.parametrize("as_async", [False, True])
async def test_send_mixed_iterable_fails_with_1011(as_async: bool) -> None:
    async with connected() as (server, client):
        mixed: list[Data] = ["text", b"bytes"]
        with pytest.raises(TypeError, match="iterable must contain uniform types"):
            async with asyncio.timeout(5):
                # Type checkers reject this; the check at run time is for untyped code.
                await client.send(items(*mixed) if as_async else mixed)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
        with pytest.raises(ConnectionClosedError) as exc_info:
            async with asyncio.timeout(5):
                await server.recv()
        assert close_code(exc_info.value) == CloseCode.INTERNAL_ERROR
        assert server.close_code == CloseCode.INTERNAL_ERROR


async def test_send_iterable_of_other_types_raises_type_error() -> None:
    async with connected() as (server, client):
        with pytest.raises(TypeError, match="iterable must contain bytes or str"):
            await client.send([1, 2])  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
        # Nothing was sent: the connection is still usable.
        await client.send("still open")
        assert await server.recv() == "still open"


async def test_send_dict_raises_type_error() -> None:
    async with connected() as (server, client):
        with pytest.raises(TypeError, match="dict"):
            await client.send({"key": "value"})  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
        await client.send("still open")
        assert await server.recv() == "still open"


async def test_send_unsupported_type_raises_type_error() -> None:
    async with connected() as (_, client):
        with pytest.raises(TypeError, match="data must be str, bytes, iterable, or async iterable"):
            await client.send(42)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
        assert client.state is OPEN


async def test_send_waits_for_fragmented_message() -> None:
    async with connected() as (server, client):
        gate = Gate("frag", "mented")
        fragmented = asyncio.create_task(client.send(gate))
        async with asyncio.timeout(5):
            await gate.waiting.wait()
        plain = asyncio.create_task(client.send("plain"))
        other_fragmented = asyncio.create_task(client.send(["other ", "fragments"]))
        # Control frames may go in the middle of a fragmented message.
        await round_trip(client)
        assert not plain.done()
        assert not other_fragmented.done()
        gate.release()
        async with asyncio.timeout(5):
            await asyncio.gather(fragmented, plain, other_fragmented)
            assert await server.recv() == "fragmented"
            assert {await server.recv(), await server.recv()} == {"plain", "other fragments"}


async def test_fragmented_send_started_while_another_waits_for_its_first_fragment() -> None:
    # A waits for its first fragment; meanwhile B starts a fragmented
    # message. When A's first fragment comes, A must wait for B to finish
    # instead of starting a message inside B's.
    async with connected() as (server, client):
        a_started = asyncio.Event()
        a_allowed = asyncio.Event()
        a_got_first = asyncio.Event()

        async def fragments_a() -> AsyncIterator[str]:
            a_started.set()
            await a_allowed.wait()
            a_got_first.set()
            yield "a1"
            yield "a2"

        sender_a = asyncio.create_task(client.send(fragments_a()))
        async with asyncio.timeout(5):
            await a_started.wait()
        gate_b = Gate("b1", "b2")
        sender_b = asyncio.create_task(client.send(gate_b))
        async with asyncio.timeout(5):
            await gate_b.waiting.wait()
            a_allowed.set()
            await a_got_first.wait()
        assert client.state is OPEN
        assert not sender_a.done()
        gate_b.release()
        async with asyncio.timeout(5):
            await asyncio.gather(sender_a, sender_b)
            assert await server.recv() == "b1b2"
            assert await server.recv() == "a1a2"


async def test_send_on_closed_connection() -> None:
    async with connected() as (_, client):
        await client.close()
        with pytest.raises(ConnectionClosedOK):
            await client.send("too late")
        with pytest.raises(ConnectionClosedOK):
            await client.send(["too", "late"])


async def test_connection_closed_during_fragmented_send() -> None:
    async with connected() as (server, client):
        gate = Gate("a", "b")
        sender = asyncio.create_task(client.send(gate))
        async with asyncio.timeout(5):
            await gate.waiting.wait()
            await server.close(CloseCode.GOING_AWAY)
            await client.wait_closed()
        gate.release()
        # Closing isn't an error of the message: no 1011, the closure is reported.
        with pytest.raises(ConnectionClosedOK):
            async with asyncio.timeout(5):
                await sender
        assert client.close_code == CloseCode.GOING_AWAY


# Answers to a burst of messages are written together.


async def until_queued(connection: ServerConnection, count: int) -> None:
    """Wait until ``count`` messages wait in the connection's queue."""
    await until(lambda: len(connection.recv_messages) >= count)


class CountingTransport:
    """A transport that counts the frames written to it, per call."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.writes: list[int] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(1)
        self.transport.write(data)

    def writelines(self, chunks: Iterable[bytes | bytearray | memoryview]) -> None:
        chunks = list(chunks)
        self.writes.append(len(chunks))
        self.transport.writelines(chunks)

    def __getattr__(self, name: str) -> object:
        return getattr(self.transport, name)


def count_writes(connection: ServerConnection) -> list[int]:
    """Count the frames written to the connection's transport, per call."""
    counting = CountingTransport(connection.transport)
    connection.transport = counting  # type: ignore[assignment]
    return counting.writes


async def test_answers_to_a_burst_are_written_at_once() -> None:
    async with connected() as (server, client):
        for index in range(10):
            await client.send(str(index))
        await until_queued(server, 10)
        writes = count_writes(server)
        for _ in range(10):
            await server.send(await server.recv())
        # Nine held back while messages were waiting, written with the tenth.
        assert writes == [9, 1]
        async with asyncio.timeout(5):
            assert [await client.recv() for _ in range(10)] == [str(i) for i in range(10)]


async def test_held_back_frames_are_written_without_another_send() -> None:
    async with connected() as (server, client):
        await client.send("question")
        await client.send("another")
        await until_queued(server, 2)
        assert await server.recv() == "question"
        await server.send("answer")  # held back: "another" waits in the queue
        async with asyncio.timeout(5):
            assert await client.recv() == "answer"


async def test_held_back_frames_are_limited() -> None:
    async with connected({"max_queue": None}) as (server, client):
        for index in range(100):
            await client.send(str(index))
        await until_queued(server, 100)
        writes = count_writes(server)
        for _ in range(100):
            await server.send(await server.recv())
        assert writes == [64, 35, 1]
        async with asyncio.timeout(5):
            assert [await client.recv() for _ in range(100)] == [str(i) for i in range(100)]


async def test_held_back_frames_are_written_before_others() -> None:
    async with connected() as (server, client):
        await client.send("one")
        await client.send("two")
        await until_queued(server, 2)
        await server.recv()
        await server.send("first")  # held back
        await server.send(["large", "fragmented"])  # not held back: written after "first"
        await (await server.ping())
        await server.send(b"x" * 10_000)  # too large to hold back
        async with asyncio.timeout(5):
            assert await client.recv() == "first"
            assert await client.recv() == "largefragmented"
            assert await client.recv() == b"x" * 10_000


@pytest.mark.parametrize("closed_too", [False, True], ids=["all-open", "one-closed"])
async def test_held_back_frames_are_written_before_a_broadcast(closed_too: bool) -> None:
    async with connected_many(2) as [(server, client), (other_server, other_client)]:
        targets = [server]
        if closed_too:
            # Not every connection takes the shared frame: broadcast() goes
            # through each one's route, and the order holds all the same.
            await other_client.close()
            await other_server.wait_closed()
            targets = [other_server, server]
        await client.send("one")
        await client.send("two")
        await until_queued(server, 2)
        await server.recv()
        await server.send("first")  # held back
        writes = count_writes(server)
        broadcast(targets, "second")  # written at once, after "first"
        assert writes == [1, 1]
        async with asyncio.timeout(5):
            assert await client.recv() == "first"
            assert await client.recv() == "second"


async def test_held_back_frames_are_written_before_closing() -> None:
    async with connected() as (server, client):
        await client.send("one")
        await client.send("two")
        await until_queued(server, 2)
        await server.recv()
        await server.send("last words")  # held back
        await server.close()
        async with asyncio.timeout(5):
            assert await client.recv() == "last words"
            with pytest.raises(ConnectionClosedOK):
                await client.recv()


# Backpressure and flow control.


async def test_slow_consumer_makes_send_wait() -> None:
    # The server reads nothing: its queue fills up, it stops reading from
    # the socket, the kernel buffers fill up, then the client's write
    # buffer goes over write_limit and send() waits.
    async with connected({"max_queue": 1}, {"write_limit": (4096, 1024)}) as (server, client):
        size = 2**16

        def message(index: int) -> bytes:
            return index.to_bytes(4, "big") * (size // 4)

        count = 0
        blocked: asyncio.Task[None] | None = None
        while blocked is None:
            assert count < 2000, "send() never waited"
            sender = asyncio.create_task(client.send(message(count)))
            count += 1
            # A send that can proceed completes at once.
            done, _ = await asyncio.wait({sender}, timeout=0.2)
            if not done:
                blocked = sender
        assert count > 1
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(blocked), 0.2)
        assert not blocked.done()

        # The consumer reads: the sender resumes, nothing is lost or reordered.
        async with asyncio.timeout(10):
            for index in range(count):
                assert await server.recv() == message(index)
            await blocked


async def test_max_queue_pauses_and_resumes_reading() -> None:
    flow: asyncio.Queue[str] = asyncio.Queue()

    class Watched(ServerConnection):
        """Reports when reading from the network pauses and resumes."""

        def _pause_reading(self) -> None:
            super()._pause_reading()
            flow.put_nowait("pause")

        def _resume_reading(self) -> None:
            super()._resume_reading()
            flow.put_nowait("resume")

    async with connected({"max_queue": (4, 1)}, create_connection=Watched) as (server, client):
        # The server answers the opening handshake in the step that received
        # the request, on every event loop: reading never pauses for it.
        assert flow.empty()
        for index in range(4):
            await client.send(str(index))
        async with asyncio.timeout(5):
            assert await flow.get() == "pause"
        assert not server.transport.is_reading()
        assert len(server.recv_messages) == 4
        for index in range(4, 8):
            await client.send(str(index))
        # Let the messages travel: they stay in the kernel, not in the queue.
        await asyncio.sleep(0.05)
        assert len(server.recv_messages) == 4
        # 4 -> 3 -> 2 frames: still above the low-water mark.
        assert await server.recv() == "0"
        assert await server.recv() == "1"
        assert flow.empty()
        assert not server.transport.is_reading()
        # 2 -> 1: resume.
        assert await server.recv() == "2"
        assert flow.get_nowait() == "resume"
        assert server.transport.is_reading()
        async with asyncio.timeout(5):
            assert [await server.recv() for _ in range(3, 8)] == [str(i) for i in range(3, 8)]


def client_frames(*frames: Frame) -> bytes:
    """Frames as a client writes them, masked, in one chunk."""
    return b"".join(b"".join(serialize_frame(frame, mask=True)) for frame in frames)


async def test_read_of_many_messages_fills_the_queue_and_holds_back_the_rest() -> None:
    # One read brings 8 messages: 4 fill the queue and pause reading, the
    # others wait in the protocol until recv() makes room, in order.
    async with connected({"max_queue": (4, 1)}) as (server, client):
        client.transport.write(
            client_frames(*(Frame(Opcode.TEXT, str(i).encode()) for i in range(8)))
        )
        async with asyncio.timeout(5):
            while not server.recv_messages._paused:
                await asyncio.sleep(0)
        assert len(server.recv_messages) == 4
        assert server.protocol.holds_frames
        async with asyncio.timeout(5):
            assert [await server.recv() for _ in range(8)] == [str(i) for i in range(8)]
        assert server.transport.is_reading()


async def test_read_mixing_messages_fragments_and_control_frames_keeps_their_order() -> None:
    async with connected() as (server, client):
        client.transport.write(
            client_frames(
                Frame(Opcode.TEXT, b"one"),
                Frame(Opcode.BINARY, b"tw", fin=False),
                Frame(Opcode.CONT, b"o"),
                Frame(Opcode.TEXT, b"three"),
                Frame(Opcode.PING, b"ping"),
                Frame(Opcode.TEXT, "quatre \N{EURO SIGN}".encode()),
                Frame(Opcode.TEXT, b"five"),
            )
        )
        async with asyncio.timeout(5):
            received = [await server.recv() for _ in range(5)]
        assert received == ["one", b"two", "three", "quatre \N{EURO SIGN}", "five"]
        # The connection carries on, the Ping answered.
        await round_trip(server)


async def test_max_queue_none_disables_flow_control() -> None:
    async with connected({"max_queue": None}) as (server, client):
        for index in range(100):
            await client.send(str(index))
        await round_trip(client)
        assert len(server.recv_messages) == 100
        assert server.transport.is_reading()


# Ping and pong.


async def test_ping_resolved_by_pong_with_latency() -> None:
    async with connected() as (_, client):
        pong_waiter = await client.ping()
        async with asyncio.timeout(5):
            latency = await pong_waiter
        assert isinstance(latency, float)
        assert latency >= 0
        assert client.latency == latency


@pytest.mark.parametrize("payload", ["custom", "é", b"\x00custom", b""])
async def test_ping_custom_payload(payload: Data) -> None:
    async with connected() as (_, client):
        pong_waiter = await client.ping(payload)
        async with asyncio.timeout(5):
            await pong_waiter


async def test_ping_duplicate_payload_raises_concurrency_error() -> None:
    async with connected() as (server, client):
        # The server doesn't read: the pong cannot come yet.
        server.transport.pause_reading()
        pong_waiter = await client.ping("same")
        with pytest.raises(ConcurrencyError):
            await client.ping(b"same")
        server.transport.resume_reading()
        async with asyncio.timeout(5):
            await pong_waiter
        # Once answered, the payload can be used again.
        async with asyncio.timeout(5):
            await (await client.ping("same"))


async def test_pong_acknowledges_earlier_pings() -> None:
    async with connected() as (server, client):
        server.transport.pause_reading()
        first = await client.ping(b"1")
        second = await client.ping(b"2")
        third = asyncio.ensure_future(await client.ping(b"3"))
        # A pong with an unknown payload acknowledges nothing.
        await server.pong(b"unknown")
        # The pong for the second ping acknowledges the first one too.
        await server.pong(b"2")
        async with asyncio.timeout(5):
            await first
            await second
        assert not third.done()
        server.transport.resume_reading()
        async with asyncio.timeout(5):
            await third


async def test_pong_str_payload() -> None:
    async with connected() as (server, client):
        server.transport.pause_reading()
        pong_waiter = await client.ping("é")
        await server.pong("é")
        async with asyncio.timeout(5):
            await pong_waiter
        server.transport.resume_reading()


async def test_ping_and_pong_on_closed_connection() -> None:
    async with connected() as (_, client):
        await client.close()
        with pytest.raises(ConnectionClosedOK):
            await client.ping()
        with pytest.raises(ConnectionClosedOK):
            await client.pong()


async def test_ping_and_pong_after_close_frame_received() -> None:
    async with connected({"close_timeout": 5}) as (server, client):
        # The server sends a Close frame but doesn't read the answer: the
        # client has received a Close frame and waits for the TCP closure.
        server.transport.pause_reading()
        closing = asyncio.create_task(server.close())
        await until(lambda: client.state is CLOSING)
        assert not client.open
        assert not client.closed
        pinging = asyncio.create_task(client.ping())
        ponging = asyncio.create_task(client.pong())
        await asyncio.sleep(0)
        server.transport.resume_reading()
        async with asyncio.timeout(5):
            with pytest.raises(ConnectionClosedOK):
                await pinging
            with pytest.raises(ConnectionClosedOK):
                await ponging
            await closing


async def test_pending_ping_fails_when_connection_closes() -> None:
    async with connected() as (server, client):
        server.transport.pause_reading()
        pong_waiter = await client.ping()
        server.transport.abort()
        with pytest.raises(ConnectionClosedError):
            async with asyncio.timeout(5):
                await pong_waiter


async def test_ping_while_closing_is_sent() -> None:
    async with connected({"close_timeout": 5}) as (server, client):
        # The client started the closing handshake; the server isn't reading.
        server.transport.pause_reading()
        closing = asyncio.create_task(client.close())
        await until(lambda: client.state is CLOSING)
        # Sending a ping is still allowed after sending a Close frame.
        pong_waiter = await client.ping()
        server.transport.resume_reading()
        async with asyncio.timeout(5):
            await closing
            # But the server ignores everything after the Close frame, so
            # the pong never comes: the waiter fails when the connection closes.
            with pytest.raises(ConnectionClosedOK):
                await pong_waiter


# Keepalive.


async def test_latency_after_keepalive() -> None:
    async with connected(client_options={"ping_interval": 0.02, "ping_timeout": 1}) as (_, client):
        assert client.latency == 0
        await until(lambda: client.latency > 0)


async def test_keepalive_without_timeout_still_measures_latency() -> None:
    client_options: ConnectOptions = {"ping_interval": 0.02, "ping_timeout": None}
    async with connected(client_options=client_options) as (_, client):
        await until(lambda: client.latency > 0)
        assert client.state is OPEN


async def test_keepalive_closes_unresponsive_peer_with_1011(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="websockets_typed.server")
    closed: asyncio.Future[ConnectionClosed] = asyncio.get_running_loop().create_future()

    async def handler(connection: ServerConnection) -> None:
        try:
            await connection.recv()
        except ConnectionClosed as exc:
            closed.set_result(exc)

    options: ServeOptions = {"ping_interval": 0.05, "ping_timeout": 0.1, "close_timeout": 0.2}
    async with serve(handler, "127.0.0.1", 0, **options) as server:
        # A client that completes the handshake by hand, then never answers.
        peer = await open_raw_client(server.sockets[0].getsockname()[1])
        try:
            async with asyncio.timeout(5):
                exc = await closed
            assert isinstance(exc, ConnectionClosedError)
            assert exc.sent is not None
            assert exc.sent.code == CloseCode.INTERNAL_ERROR
            assert exc.rcvd is None

            # On the wire: keepalive pings, then a Close frame with 1011.
            frames = await peer.read_until_eof()
            opcodes = [frame.opcode for frame in frames]
            for frame in frames:
                if frame.opcode == OP_CLOSE:
                    assert frame.payload[:2] == close_payload(CloseCode.INTERNAL_ERROR)
            assert opcodes[0] == OP_PING
            assert opcodes[-1] == OP_CLOSE
        finally:
            await peer.close()
    assert "keepalive ping timeout; closing connection" in caplog.messages


async def test_keepalive_stops_when_the_peer_closes() -> None:
    # A ping that comes due while the connection is closing isn't sent; an
    # error in the timer's callback would fail the test (conftest.py).
    closed = asyncio.Event()

    async def handler(connection: ServerConnection) -> None:
        await connection.wait_closed()
        closed.set()

    options: ServeOptions = {"ping_interval": 0.2, "close_timeout": 5}
    async with serve(handler, "127.0.0.1", 0, **options) as server:
        peer = await open_raw_client(server.sockets[0].getsockname()[1])
        try:
            # A masked Close frame with code 1000: the server answers,
            # half-closes, and waits for the TCP connection to close.
            await peer.send_frame(OP_CLOSE, close_payload(1000))
            frames = await peer.read_until_eof()
            unmasked_close = RawFrame(OP_CLOSE, b"\x03\xe8", True, False, False, False, False)
            assert frames == [unmasked_close]
            # Let the keepalive ping come due before closing.
            await asyncio.sleep(0.3)
        finally:
            await peer.close()
        async with asyncio.timeout(5):
            await closed.wait()


async def test_keepalive_on_client_closes_with_1011_when_server_stops_reading() -> None:
    client_options: ConnectOptions = {
        "ping_interval": 0.05,
        "ping_timeout": 0.1,
        "close_timeout": 0.2,
    }
    async with connected(client_options=client_options) as (server, client):
        server.transport.pause_reading()
        with pytest.raises(ConnectionClosedError) as exc_info:
            async with asyncio.timeout(5):
                await client.recv()
        assert exc_info.value.sent is not None
        assert exc_info.value.sent.code == CloseCode.INTERNAL_ERROR
        server.transport.resume_reading()
        async with asyncio.timeout(5):
            await server.wait_closed()


# Closing.


async def test_close_with_code_and_reason() -> None:
    async with connected() as (server, client):
        async with asyncio.timeout(5):
            await client.close(4000, "see you")
        assert client.close_code == 4000
        assert client.close_reason == "see you"
        with pytest.raises(ConnectionClosedError) as exc_info:
            await server.recv()
        assert exc_info.value.rcvd == Close(4000, "see you")
        assert exc_info.value.rcvd_then_sent is True
        assert server.close_code == 4000
        assert server.close_reason == "see you"


async def test_close_default_is_1000() -> None:
    async with connected() as (server, client):
        async with asyncio.timeout(5):
            await server.close()
        assert server.close_code == CloseCode.NORMAL_CLOSURE
        assert server.close_reason == ""
        assert client.close_code == CloseCode.NORMAL_CLOSURE
        with pytest.raises(ConnectionClosedOK) as exc_info:
            await client.recv()
        assert exc_info.value.rcvd_then_sent is True


async def test_close_codes_are_none_while_open() -> None:
    async with connected() as (_, client):
        assert client.close_code is None
        assert client.close_reason is None


async def test_close_is_idempotent() -> None:
    async with connected() as (server, client):
        async with asyncio.timeout(5):
            await asyncio.gather(client.close(), client.close(4000))
            await client.close(4001)
        assert server.close_code == CloseCode.NORMAL_CLOSURE
        assert client.state is CLOSED


async def test_close_with_invalid_code_raises_protocol_error() -> None:
    async with connected() as (_, client):
        with pytest.raises(ProtocolError):
            await client.close(CloseCode.ABNORMAL_CLOSURE)
        with pytest.raises(ProtocolError):
            await client.close(4000, "x" * 124)
        assert client.state is OPEN


async def test_close_during_fragmented_send_fails_with_1011() -> None:
    async with connected() as (server, client):
        gate = Gate("a", "b")
        sender = asyncio.create_task(client.send(gate))
        async with asyncio.timeout(5):
            await gate.waiting.wait()
            await client.close()
        assert server.close_code == CloseCode.INTERNAL_ERROR
        gate.release()
        with pytest.raises(ConnectionClosedError):
            async with asyncio.timeout(5):
                await sender


async def test_close_times_out_when_peer_does_not_answer() -> None:
    async with connected(client_options={"close_timeout": 0.1}) as (server, client):
        server.transport.pause_reading()
        async with asyncio.timeout(5):
            await client.close()
        assert client.state is CLOSED
        # No Close frame came back.
        assert client.close_code == CloseCode.ABNORMAL_CLOSURE
        server.transport.resume_reading()
        async with asyncio.timeout(5):
            await server.wait_closed()


async def test_wait_closed() -> None:
    async with connected() as (server, client):
        waiter = asyncio.create_task(client.wait_closed())
        await round_trip(client)
        assert not waiter.done()
        await server.close()
        async with asyncio.timeout(5):
            await waiter
        assert client.closed


async def test_state_and_legacy_properties() -> None:
    async with connected() as (server, client):
        # Tuples, so that type checkers don't narrow the properties for good.
        assert (client.state, client.open, client.closed) == (OPEN, True, False)
        assert server.state is OPEN
        await client.close()
        assert (client.state, client.open, client.closed) == (CLOSED, False, True)
        await server.wait_closed()
        assert (server.state, server.open, server.closed) == (CLOSED, False, True)


async def test_addresses() -> None:
    async with connected() as (server, client):
        assert client.remote_address == server.local_address
        assert client.local_address == server.remote_address
        address = client.remote_address
        assert isinstance(address, tuple)
        host, port = address[:2]
        assert host == "127.0.0.1"
        assert isinstance(port, int)


async def test_identity_and_handshake_attributes() -> None:
    async with connected() as (server, client):
        assert client.id != server.id
        assert client.logger is client.protocol.logger
        assert client.subprotocol is None
        assert client.request is not None
        assert client.response is not None
        assert server.request is not None
        assert (
            server.request.headers["Sec-WebSocket-Key"]
            == client.request.headers["Sec-WebSocket-Key"]
        )


# Iteration.


@pytest.mark.parametrize("code", [CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY])
async def test_iteration_ends_on_normal_closure(code: int) -> None:
    async with connected() as (server, client):
        await server.send("one")
        await server.send(b"two")
        await server.close(code)
        async with asyncio.timeout(5):
            assert [message async for message in client] == ["one", b"two"]


async def test_iteration_raises_on_error_closure() -> None:
    async with connected() as (server, client):
        await server.send("one")
        await server.close(CloseCode.INTERNAL_ERROR)
        received: list[Data] = []
        with pytest.raises(ConnectionClosedError) as exc_info:  # noqa: PT012
            async with asyncio.timeout(5):
                async for message in client:
                    received.append(message)
        assert received == ["one"]
        assert close_code(exc_info.value) == CloseCode.INTERNAL_ERROR


# Async context manager.


async def test_async_with_closes_with_1000() -> None:
    async with connected() as (server, client):
        async with client:
            await client.send("inside")
        assert client.state is CLOSED
        assert await server.recv() == "inside"
        assert server.close_code == CloseCode.NORMAL_CLOSURE


async def test_async_with_closes_with_1011_on_error() -> None:
    async with connected() as (server, client):
        with pytest.raises(ValueError, match="oops"):
            async with client:
                raise ValueError("oops")
        assert client.state is CLOSED
        await server.wait_closed()
        assert server.close_code == CloseCode.INTERNAL_ERROR


# Limits.


async def test_max_size_exceeded_fails_with_1009() -> None:
    async with connected({"max_size": 1024}) as (server, client):
        await client.send(b"x" * 1024)
        assert await server.recv() == b"x" * 1024
        await client.send(b"x" * 1025)
        with pytest.raises(ConnectionClosedError) as server_exc:
            async with asyncio.timeout(5):
                await server.recv()
        assert server_exc.value.sent is not None
        assert server_exc.value.sent.code == CloseCode.MESSAGE_TOO_BIG
        with pytest.raises(ConnectionClosedError) as client_exc:
            async with asyncio.timeout(5):
                await client.recv()
        assert client_exc.value.rcvd is not None
        assert client_exc.value.rcvd.code == CloseCode.MESSAGE_TOO_BIG
        assert client.close_code == CloseCode.MESSAGE_TOO_BIG


async def test_max_size_applies_to_fragmented_messages_on_the_client() -> None:
    async with connected(client_options={"max_size": 10}) as (server, client):
        await server.send(["12345", "67890", "x"])
        with pytest.raises(ConnectionClosedError) as client_exc:
            async with asyncio.timeout(5):
                await client.recv()
        assert client_exc.value.sent is not None
        assert client_exc.value.sent.code == CloseCode.MESSAGE_TOO_BIG
        await server.wait_closed()
        assert server.close_code == CloseCode.MESSAGE_TOO_BIG


# Handlers.


async def test_handler_exception_is_logged_and_closes_with_1011(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(connection: ServerConnection) -> None:
        async for message in connection:
            if message == "fail":
                raise RuntimeError("handler bug")
            await connection.send(message)

    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        async with connect(uri_of(server)) as bystander, connect(uri_of(server)) as victim:
            await victim.send("fail")
            with pytest.raises(ConnectionClosedError) as exc_info:
                async with asyncio.timeout(5):
                    await victim.recv()
            assert close_code(exc_info.value) == CloseCode.INTERNAL_ERROR
            assert victim.close_code == CloseCode.INTERNAL_ERROR
            # The other connection is unaffected.
            await bystander.send("still here")
            async with asyncio.timeout(5):
                assert await bystander.recv() == "still here"
        # And the server accepts new connections.
        async with connect(uri_of(server)) as newcomer:
            await newcomer.send("hello")
            async with asyncio.timeout(5):
                assert await newcomer.recv() == "hello"

    (record,) = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert record.name == "websockets_typed.server"
    assert record.getMessage() == "connection handler failed"
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)


async def test_handler_return_closes_with_1000() -> None:
    async def handler(connection: ServerConnection) -> None:
        await connection.send("bye")

    async with serve(handler, "127.0.0.1", 0) as server, connect(uri_of(server)) as client:
        async with asyncio.timeout(5):
            assert [message async for message in client] == ["bye"]
        assert client.close_code == CloseCode.NORMAL_CLOSURE


# Compression doesn't change what the application sees.


async def test_fragments_with_compression() -> None:
    options: ServeOptions = {"compression": "deflate"}
    async with connected(options, {"compression": "deflate"}) as (server, client):
        await client.send(["caf", "é" * 100])
        assert await recv_fragments(server) == ["caf", "é" * 100, ""]
        await client.send(b"z" * 10000)
        assert await server.recv() == b"z" * 10000


# broadcast().


@asynccontextmanager
async def connected_many(
    count: int, client_options: ConnectOptions | None = None
) -> AsyncGenerator[list[tuple[ServerConnection, ClientConnection]]]:
    """Yield ``count`` open connections to one server."""
    async with serving() as (server, accepted):
        pairs = [await open_client(server, accepted, client_options) for _ in range(count)]
        try:
            yield pairs
        finally:
            async with asyncio.timeout(5):
                await asyncio.gather(*(client.close() for _, client in pairs))


def test_broadcast_is_not_a_coroutine() -> None:
    assert not inspect.iscoroutinefunction(broadcast)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("café", "café"),
        (b"\x00\xff", b"\x00\xff"),
        (bytearray(b"ba"), b"ba"),
        (memoryview(b"mv"), b"mv"),
    ],
)
async def test_broadcast(message: Data | BytesLike, expected: Data) -> None:
    async with connected_many(3) as pairs:
        broadcast([server for server, _ in pairs], message)
        async with asyncio.timeout(5):
            for _, client in pairs:
                received = await client.recv()
                assert received == expected
                assert type(received) is type(expected)


async def test_broadcast_skips_connections_not_open() -> None:
    async with connected_many(3) as pairs:
        (open_server, open_client_), (closed_server, _), (closing_server, _) = pairs
        await closed_server.close()
        closing_server.transport.pause_reading()
        closing = asyncio.create_task(closing_server.close())
        await asyncio.sleep(0)
        assert closing_server.state is CLOSING
        broadcast([open_server, closed_server, closing_server], "hello", raise_exceptions=True)
        async with asyncio.timeout(5):
            assert await open_client_.recv() == "hello"
        closing_server.transport.resume_reading()
        async with asyncio.timeout(5):
            await closing


async def test_broadcast_unsupported_type_raises_type_error() -> None:
    async with connected_many(1) as [(server, client)]:
        with pytest.raises(TypeError, match="data must be str or bytes"):
            broadcast([server], 42)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
        with pytest.raises(TypeError):
            broadcast([server], ["fragments"])  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
        await server.send("marker")
        assert await client.recv() == "marker"


async def test_broadcast_during_fragmented_send_raises_concurrency_error() -> None:
    async with connected_many(2) as pairs:
        (busy_server, busy_client), (idle_server, idle_client) = pairs
        gate = Gate("frag", "ment")
        sender = asyncio.create_task(busy_server.send(gate))
        async with asyncio.timeout(5):
            await gate.waiting.wait()
        with pytest.raises(ConcurrencyError):
            broadcast([idle_server, busy_server], "broadcast")
        # Nothing was sent to anyone.
        gate.release()
        await sender
        await idle_server.send("marker")
        async with asyncio.timeout(5):
            assert await idle_client.recv() == "marker"
            assert await busy_client.recv() == "fragment"


async def test_broadcast_during_fragmented_send_with_raise_exceptions() -> None:
    async with connected_many(2) as pairs:
        (busy_server, busy_client), (idle_server, idle_client) = pairs
        gate = Gate("frag", "ment")
        sender = asyncio.create_task(busy_server.send(gate))
        async with asyncio.timeout(5):
            await gate.waiting.wait()
        with pytest.raises(ExceptionGroup) as exc_info:
            broadcast([busy_server, idle_server], "broadcast", raise_exceptions=True)
        (error,) = exc_info.value.exceptions
        assert isinstance(error, ConcurrencyError)
        # The other connection got the message; the busy one didn't.
        async with asyncio.timeout(5):
            assert await idle_client.recv() == "broadcast"
        gate.release()
        await sender
        async with asyncio.timeout(5):
            assert await busy_client.recv() == "fragment"


async def check_write_error(
    targets: list[ServerConnection],
    client: ClientConnection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One of ``targets`` can't be written to; ``client`` is another's peer."""
    # Logged, and the other connections still get the message.
    assert broadcast(targets, "one") == BroadcastStats(sent=1, dropped=0, closed=0)
    (record,) = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert record.getMessage() == "skipped broadcast: failed to write message"
    assert record.exc_info is not None
    # Collected with raise_exceptions.
    with pytest.raises(ExceptionGroup) as exc_info:
        broadcast(targets, "two", raise_exceptions=True)
    (error,) = exc_info.value.exceptions
    assert isinstance(error, RuntimeError)
    async with asyncio.timeout(5):
        assert await client.recv() == "one"
        assert await client.recv() == "two"


async def closed_by_peer(connection: ServerConnection) -> None:
    """Wait until the peer of a connection half-closed behind its back closes it.

    Before the server closes: its Close frame would meet the refusal too
    (see test_close_logs_a_connection_that_fails_to_close).
    """
    async with asyncio.timeout(5):
        await connection.wait_closed()


async def test_broadcast_write_errors(caplog: pytest.LogCaptureFixture) -> None:
    async with serving() as (server, accepted):
        broken_server, _ = await open_client(server, accepted)
        working_server, working_client = await open_client(server, accepted)
        # Half-closed behind the protocol's back: the transport refuses
        # writes, a real write error on both event loops.
        broken_server.transport.write_eof()
        await check_write_error([broken_server, working_server], working_client, caplog)
        await closed_by_peer(broken_server)


async def test_broadcast_write_errors_next_to_a_closed_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A closed connection among them: broadcast() looks at each one's route,
    # and a write error is handled the same way.
    async with serving() as (server, accepted):
        closed_server, closed_client = await open_client(server, accepted)
        broken_server, _ = await open_client(server, accepted)
        working_server, working_client = await open_client(server, accepted)
        await closed_client.close()
        await closed_server.wait_closed()
        broken_server.transport.write_eof()
        targets = [closed_server, broken_server, working_server]
        await check_write_error(targets, working_client, caplog)
        await closed_by_peer(broken_server)


async def test_broadcast_has_no_backpressure() -> None:
    async with connected_many(1) as [(server, client)]:
        # The client doesn't read: the server's write buffer fills up.
        client.transport.pause_reading()
        server.transport.set_write_buffer_limits(1024)
        server.broadcast_limit = None  # see tests/test_broadcast_limit.py
        message = b"x" * 2**16
        for _ in range(100):
            broadcast([server], message)
        assert server.transport.get_write_buffer_size() > 1024
        client.transport.resume_reading()
        async with asyncio.timeout(10):
            for _ in range(100):
                assert await client.recv() == message


# More about sending: backpressure inside fragmented messages, failures.

BIG = 2**24  # larger than what loopback kernel buffers hold


@pytest.mark.parametrize("fragments", [[b"x" * BIG, b"y"], [b"x" * BIG]])
async def test_fragmented_send_waits_for_the_write_buffer(fragments: list[bytes]) -> None:
    async with connected({"max_size": None}, {"write_limit": (4096, 1024)}) as (server, client):
        server.transport.pause_reading()
        sender = asyncio.create_task(client.send(fragments))
        done, _ = await asyncio.wait({sender}, timeout=0.1)
        assert not done
        server.transport.resume_reading()
        async with asyncio.timeout(10):
            await sender
            assert await server.recv() == b"".join(fragments)


async def test_send_waiting_for_the_write_buffer_fails_when_connection_is_lost() -> None:
    async with connected({"max_size": None}, {"write_limit": (4096, 1024)}) as (server, client):
        server.transport.pause_reading()
        sender = asyncio.create_task(client.send(b"x" * BIG))
        done, _ = await asyncio.wait({sender}, timeout=0.1)
        assert not done
        server.transport.abort()
        with pytest.raises(ConnectionClosedError):
            async with asyncio.timeout(5):
                await sender


async def test_cancel_send_waiting_for_the_write_buffer() -> None:
    async with connected({"max_size": None}, {"write_limit": (4096, 1024)}) as (server, client):
        server.transport.pause_reading()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.send(b"x" * BIG), 0.1)
        server.transport.resume_reading()
        # The message was in the write buffer already: it goes out whole.
        async with asyncio.timeout(10):
            assert await server.recv() == b"x" * BIG
            await client.send("next")
            assert await server.recv() == "next"


async def test_iterable_raising_fails_with_1011() -> None:
    def fragments() -> Iterator[str]:
        yield "half a message"
        raise ValueError("producer failed")

    async with connected() as (server, client):
        with pytest.raises(ValueError, match="producer failed"):
            await client.send(fragments())
        async with asyncio.timeout(5):
            await server.wait_closed()
        assert server.close_code == CloseCode.INTERNAL_ERROR


async def test_iterable_raising_after_connection_closed() -> None:
    released = asyncio.Event()
    waiting = asyncio.Event()

    async def fragments() -> AsyncIterator[str]:
        yield "half a message"
        waiting.set()
        await released.wait()
        raise ValueError("producer failed")

    async with connected() as (server, client):
        sender = asyncio.create_task(client.send(fragments()))
        async with asyncio.timeout(5):
            await waiting.wait()
            await server.close()
            await client.wait_closed()
        released.set()
        # The producer's error is reported as is; the connection was closed already.
        with pytest.raises(ValueError, match="producer failed"):
            async with asyncio.timeout(5):
                await sender
        assert client.close_code == CloseCode.NORMAL_CLOSURE


# More about pings.


async def test_random_ping_payloads_never_collide(monkeypatch: pytest.MonkeyPatch) -> None:
    payloads = iter([b"same", b"same", b"diff"])
    async with connected() as (server, _):
        # Only the server side calls os.urandom here: its frames aren't masked.
        def urandom(size: int) -> bytes:
            return next(payloads)

        monkeypatch.setattr("os.urandom", urandom)
        server.transport.pause_reading()
        first = await server.ping()
        second = await server.ping()
        monkeypatch.undo()
        assert set(server._pending_pings) == {b"same", b"diff"}
        server.transport.resume_reading()
        async with asyncio.timeout(5):
            await first
            await second


async def test_cancelled_pong_waiter_is_harmless() -> None:
    async with connected() as (server, client):
        server.transport.pause_reading()
        abandoned = asyncio.ensure_future(await client.ping(b"1"))
        abandoned.cancel()
        kept = await client.ping(b"2")
        server.transport.resume_reading()
        async with asyncio.timeout(5):
            await kept
        assert abandoned.cancelled()


# More about closing.


async def test_close_over_tls() -> None:
    import ssl

    import trustme

    ca = trustme.CA()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)  # pyright: ignore[reportUnknownMemberType]
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(client_context)  # pyright: ignore[reportUnknownMemberType]
    async with serving({"ssl": server_context}) as (server, accepted):
        port: int = server.sockets[0].getsockname()[1]
        async with asyncio.timeout(5):
            client = await connect(f"wss://127.0.0.1:{port}/", ssl=client_context, compression=None)
            server_connection = await accepted.get()
            await client.send("secret")
            assert await server_connection.recv() == "secret"
            # TLS cannot half-close: the server closes the TCP connection.
            await client.close()
            await server_connection.wait_closed()
        assert client.close_code == CloseCode.NORMAL_CLOSURE
        assert server_connection.close_code == CloseCode.NORMAL_CLOSURE


async def test_close_timeout_none() -> None:
    async with connected({"close_timeout": None}, {"close_timeout": None}) as (server, client):
        async with asyncio.timeout(5):
            await client.close()
            await server.wait_closed()
        assert client.close_code == CloseCode.NORMAL_CLOSURE


async def test_messages_queued_when_connection_is_lost_can_be_received() -> None:
    async with connected({"max_queue": (2, 0), "close_timeout": 0.1}) as (server, client):
        await client.send("0")
        await client.send("1")
        await until(lambda: len(server.recv_messages) == 2)
        assert not server.transport.is_reading()
        # The server doesn't read the answer to its Close frame: it aborts.
        async with asyncio.timeout(5):
            await server.close()
        assert server.state is CLOSED
        assert await server.recv() == "0"
        assert await server.recv() == "1"
        with pytest.raises(ConnectionClosedError):
            await server.recv()


async def test_log_when_connection_closes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="websockets_typed.client")
    async with connected() as (_, client):
        await client.close()
    assert any(
        message.startswith("connection closed with code 1000: ") for message in caplog.messages
    )


async def test_connection_lost_after_cancelling_a_send_waiting_for_the_write_buffer() -> None:
    async with connected({"max_size": None}, {"write_limit": (4096, 1024)}) as (server, client):
        server.transport.pause_reading()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.send(b"x" * BIG), 0.1)
        server.transport.abort()
        async with asyncio.timeout(5):
            await client.wait_closed()
        assert client.close_code == CloseCode.ABNORMAL_CLOSURE


async def test_open_connections_keep_few_instance_attributes() -> None:
    # CPython 3.11 shares the keys of instance dictionaries for up to 30
    # names; with one more, every connection gets a dictionary of its own,
    # 1.5 KiB each (bench/run.py, S5). Rare attributes are class attributes
    # until first set.
    accepted: list[ServerConnection] = []

    async def handler(connection: ServerConnection) -> None:
        accepted.append(connection)
        await connection.wait_closed()

    async with asyncio.timeout(5), serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}") as client:
            await client.ping()
            assert len(vars(accepted[0])) < 30
            assert len(vars(client)) < 30

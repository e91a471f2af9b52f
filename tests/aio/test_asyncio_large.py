"""Large messages through the asyncio layer, read into their final buffer.

A connection is an :class:`asyncio.BufferedProtocol`: the transport reads a
large frame's payload straight into the message (see _receivebuffer). These
tests send large messages in odd pieces, over TCP and TLS, on asyncio's loop
and on uvloop (tests/conftest.py), to both the server and the client.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from raw_peer import (
    OP_BINARY,
    OP_CONT,
    OP_PING,
    OP_TEXT,
    SIDES,
    TIMEOUT,
    RawPeer,
    Side,
    open_peer,
    open_raw_client,
)
from sync_helpers import tls_contexts

from websockets_typed._receivebuffer import LARGE_FRAME, READ_BUFFER_SIZE
from websockets_typed.asyncio.client import connect
from websockets_typed.asyncio.server import ServerConnection, serve
from websockets_typed.frames import SPEEDUPS, CloseCode
from websockets_typed.typing import Data


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("size", [LARGE_FRAME, 2**20])
async def test_large_message_in_odd_pieces(side: Side, size: int) -> None:
    payload = os.urandom(size)
    async with asyncio.timeout(TIMEOUT * 5), open_peer(side, max_size=None) as peer:
        data = peer.frame(OP_BINARY, payload)
        # The header one byte at a time, then pieces that straddle reads.
        await peer.send_in_chunks(data[:20], 1)
        await peer.send_in_chunks(data[20:], 40_009)
        await peer.expect_message(OP_BINARY, payload)


@pytest.mark.parametrize("side", SIDES)
async def test_large_frame_one_byte_at_a_time(side: Side) -> None:
    text = "é€".encode() * (LARGE_FRAME // 5 + 1)
    async with asyncio.timeout(TIMEOUT * 30), open_peer(side, max_size=None) as peer:
        await peer.send_in_chunks(peer.frame(OP_TEXT, text), 1)
        await peer.expect_message(OP_TEXT, text)


@pytest.mark.parametrize("side", SIDES)
async def test_large_messages_and_small_frames_in_the_same_reads(side: Side) -> None:
    first, second = os.urandom(LARGE_FRAME + 1), os.urandom(3 * READ_BUFFER_SIZE)
    async with asyncio.timeout(TIMEOUT * 5), open_peer(side, max_size=None) as peer:
        await peer.send(peer.frame(OP_TEXT, b"before") + peer.frame(OP_BINARY, first, fin=False))
        await peer.expect_message(OP_TEXT, b"before")
        # The Pong goes out as soon as the Ping is read, the message once complete.
        await peer.send(
            peer.frame(OP_PING, b"between")
            + peer.frame(OP_CONT, second)
            + peer.frame(OP_TEXT, b"after")
        )
        await peer.expect_pong(b"between")
        await peer.expect_message(OP_BINARY, first + second)
        await peer.expect_message(OP_TEXT, b"after")


@pytest.mark.parametrize("side", SIDES)
async def test_invalid_utf8_in_a_large_frame_fails_before_it_ends(side: Side) -> None:
    async with asyncio.timeout(TIMEOUT), open_peer(side, max_size=None) as peer:
        data = peer.frame(OP_TEXT, b"a" * 100_000 + b"\xff" + b"a" * 900_000)
        # Only the start of the frame, with the invalid byte, is sent.
        await peer.send(data[:200_000])
        await peer.expect_closing(CloseCode.INVALID_DATA)


async def test_connection_lost_in_the_middle_of_a_large_frame() -> None:
    async with asyncio.timeout(TIMEOUT), open_peer("server", max_size=None) as peer:
        await peer.send(peer.frame(OP_BINARY, os.urandom(2**20))[:300_000])
        peer.reset()
        await peer.ours.wait_closed()
        assert peer.ours.close_code == CloseCode.ABNORMAL_CLOSURE


async def test_max_size_announced_by_the_header() -> None:
    async with asyncio.timeout(TIMEOUT), open_peer("server", max_size=LARGE_FRAME) as peer:
        await peer.send(peer.frame(OP_BINARY, bytes(LARGE_FRAME + 1))[:14])
        await peer.expect_closing(CloseCode.MESSAGE_TOO_BIG)


async def test_data_received_feeds_bytes_through_the_read_buffers() -> None:
    # Bytes received by other means, more than a read buffer holds.
    payload = os.urandom(READ_BUFFER_SIZE + LARGE_FRAME)
    async with asyncio.timeout(TIMEOUT), open_peer("server", max_size=None) as peer:
        peer.ours.data_received(peer.frame(OP_BINARY, payload) + peer.frame(OP_PING, b"!"))
        # The Pong goes out at once, the echo once the handler runs.
        await peer.expect_pong(b"!")
        await peer.expect_message(OP_BINARY, payload)


async def test_large_messages_over_tls() -> None:
    server_context, client_context = tls_contexts()

    async def echo(connection: ServerConnection) -> None:
        async for message in connection:
            await connection.send(message)

    messages: list[Data] = [os.urandom(2**20), "é" * 300_000, os.urandom(LARGE_FRAME)]
    async with (
        asyncio.timeout(TIMEOUT * 5),
        serve(echo, "127.0.0.1", 0, ssl=server_context, max_size=None) as server,
    ):
        port = server.sockets[0].getsockname()[1]
        async with connect(f"wss://127.0.0.1:{port}/", ssl=client_context, max_size=None) as ws:
            for message in messages:
                await ws.send(message)
                assert await ws.recv() == message


class _Recording(ServerConnection):
    """A server connection that keeps the address of every buffer it gives the transport."""

    addresses: list[int]

    def get_buffer(self, sizehint: int) -> memoryview:
        buffer = super().get_buffer(sizehint)
        self.addresses.append(ctypes.addressof(ctypes.c_char.from_buffer(buffer)))
        return buffer


@pytest.mark.skipif(not SPEEDUPS, reason="the pure-Python fallback copies the message once")
async def test_large_message_is_the_buffer_the_transport_read_into() -> None:
    received: list[bytes] = []
    _Recording.addresses = []

    async def handler(connection: ServerConnection) -> None:
        message = await connection.recv()
        assert isinstance(message, bytes)
        received.append(message)

    async with (
        asyncio.timeout(TIMEOUT),
        serve(
            handler,
            "127.0.0.1",
            0,
            create_connection=_Recording,
            compression=None,  # a compressed message is inflated into a new buffer
            max_size=None,
        ) as server,
    ):
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/", compression=None, max_size=None) as ws:
            await ws.send(os.urandom(2**20))
            await ws.wait_closed()
    (message,) = received
    start = ctypes.cast(ctypes.c_char_p(message), ctypes.c_void_p).value
    assert start is not None
    # The kernel wrote most of the payload where the message is: reads went
    # into the message itself, at increasing offsets, up to its end.
    inside = [address - start for address in _Recording.addresses if 0 < address - start < 2**20]
    assert inside == sorted(inside)
    assert len(inside) >= 2


async def test_read_buffer_goes_back_to_the_pool_when_the_stream_ends() -> None:
    # The transport asks for a buffer before the read that finds the end of
    # the stream: that buffer must go back to the pool, or every connection
    # would cost a new one.
    connections: list[ServerConnection] = []

    async def echo(connection: ServerConnection) -> None:
        connections.append(connection)
        async for message in connection:
            await connection.send(message)

    async with asyncio.timeout(TIMEOUT), serve(echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}") as client:
            await client.send("hello")
            assert await client.recv() == "hello"
        await connections[0].wait_closed()
    for connection in (client, connections[0]):
        assert connection._lent is None


@asynccontextmanager
async def large_messages_server(
    handler: Callable[[ServerConnection], Awaitable[None]],
    **options: Any,
) -> AsyncGenerator[RawPeer]:
    """A server running ``handler``, without compression nor a size limit, and a raw client."""
    async with serve(handler, "127.0.0.1", 0, compression=None, max_size=None, **options) as server:
        peer = await open_raw_client(server.sockets[0].getsockname()[1])
        try:
            yield peer
        finally:
            await peer.close()


async def test_consumer_takes_a_large_message_before_the_next_is_read() -> None:
    # A large message and the start of the next in one write: the next one's
    # buffer is allocated only once the handler took the first (see
    # Connection._let_consumer_take). uvloop would read on at once: three
    # messages alive rather than two while they keep coming.
    seen: list[bool] = []

    async def handler(connection: ServerConnection) -> None:
        async for _ in connection:
            seen.append(connection.protocol.payload_buffer is None)

    payload = os.urandom(2**20)
    async with asyncio.timeout(TIMEOUT * 5), large_messages_server(handler) as peer:
        frame = peer.frame(OP_BINARY, payload)
        await peer.send(frame + frame[: 2**19])
        while not seen:
            await asyncio.sleep(0)
        await peer.send(frame[2**19 :])
        while len(seen) < 2:
            await asyncio.sleep(0)
    assert seen == [True, True]


async def test_flow_control_keeps_reading_paused_after_a_large_message() -> None:
    # With max_queue=1, the first message fills the queue: reading stays
    # paused, whatever resumes it after a large frame, until recv() takes it.
    connections: list[ServerConnection] = []
    received: list[Data] = []
    go = asyncio.Event()

    async def handler(connection: ServerConnection) -> None:
        connections.append(connection)
        await go.wait()
        received.extend([await connection.recv(), await connection.recv()])

    first, second = os.urandom(2**20), os.urandom(2**20)
    async with (
        asyncio.timeout(TIMEOUT * 5),
        large_messages_server(handler, max_queue=1) as peer,
    ):
        await peer.send(peer.frame(OP_BINARY, first) + peer.frame(OP_BINARY, second))
        while not connections or not connections[0].recv_messages.frames:
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        ours = connections[0]
        assert not ours.transport.is_reading()
        assert ours.protocol.payload_buffer is None
        go.set()
        while len(received) < 2:
            await asyncio.sleep(0)
    assert received == [first, second]


class _AbortingAfterLargeFrame(ServerConnection):
    """Closes its transport right after a large frame, before reading resumes."""

    def _let_consumer_take(self) -> None:
        super()._let_consumer_take()
        self.transport.abort()


async def test_transport_closed_before_reading_resumes() -> None:
    connections: list[ServerConnection] = []

    async def handler(connection: ServerConnection) -> None:
        connections.append(connection)
        await connection.wait_closed()

    async with (
        asyncio.timeout(TIMEOUT * 5),
        large_messages_server(handler, create_connection=_AbortingAfterLargeFrame) as peer,
    ):
        await peer.send(peer.frame(OP_BINARY, os.urandom(2**20)))
        await peer.expect_eof()
        while not connections:
            await asyncio.sleep(0)
        await connections[0].wait_closed()
        # Reading resumes on a closed transport, which does nothing: an error
        # in a callback would fail the test (see tests/conftest.py).
        await asyncio.sleep(0.05)
        assert connections[0].close_code == CloseCode.ABNORMAL_CLOSURE

"""A client's large frames masked into the buffer that the process reuses (asyncio/_sendbuffer.py).

The buffer is rewritten for every message while asyncio's transport may
still hold the bytes of earlier frames: only its copy keeps them intact. A
raw peer unmasks and checks every byte. The path applies on asyncio's plain
transport before Python 3.12, with the C accelerator; elsewhere, frames are
allocated as usual, which the last tests check.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import pytest
from raw_peer import TIMEOUT, RawPeer, RawServer, open_raw_client
from sync_helpers import tls_contexts

from websockets_typed.asyncio import _sendbuffer
from websockets_typed.asyncio._sendbuffer import COPYING_TRANSPORT, MASK_INTO, masked
from websockets_typed.asyncio.client import ClientConnection, connect
from websockets_typed.asyncio.server import ServerConnection, serve
from websockets_typed.frames import MASKED_BY_CALLER, OP_BINARY, OP_TEXT, SLICED_FRAME
from websockets_typed.typing import BytesLike

reused = pytest.mark.skipif(
    COPYING_TRANSPORT is None, reason="no reused buffer: Python 3.12+ or no C accelerator"
)


@pytest.fixture(autouse=True)
def no_buffer() -> None:
    """Start each test without a reused buffer, to see whether it makes one."""
    _sendbuffer._BUFFERS.clear()


@asynccontextmanager
async def client_and_peer(
    *, write_limit: int = 2**15, logger: logging.Logger | None = None
) -> AsyncGenerator[tuple[ClientConnection, RawPeer]]:
    """Our client, connected to a raw server that reads slowly, and that server's end."""
    async with RawServer(rcvbuf=65536) as server:
        connecting = asyncio.ensure_future(
            connect(
                server.uri,
                compression=None,
                ping_interval=None,
                close_timeout=TIMEOUT,
                write_limit=write_limit,
                logger=logger,
            )
        )
        peer = await server.accept()
        client = await connecting
        try:
            yield client, peer
        finally:
            await peer.close()
            async with asyncio.timeout(TIMEOUT):
                await client.wait_closed()


def shrink_send_buffer(connection: ClientConnection) -> None:
    """A small socket send buffer: the transport keeps most of each frame."""
    sock = connection.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)


async def wait_for_received(connection: ClientConnection) -> None:
    """Wait until a message received waits in the connection's queue."""
    while not connection._recv_frames:
        await asyncio.sleep(0)


@reused
async def test_frames_written_meanwhile_reach_a_slow_peer_intact() -> None:
    # No backpressure: every frame goes to the transport at once, while the
    # peer reads nothing, so the buffer is rewritten for every message as
    # the transport holds the earlier ones.
    messages: list[BytesLike] = [
        os.urandom(MASKED_BY_CALLER),
        os.urandom(2**20),
        bytearray(os.urandom(2**20 + 3)),
        memoryview(os.urandom(SLICED_FRAME - 1)),
        os.urandom(3 * 2**20 + 1),
    ]
    async with asyncio.timeout(TIMEOUT * 5), client_and_peer(write_limit=2**26) as (client, peer):
        peer.stop_reading()
        shrink_send_buffer(client)
        for message in messages:
            await client.send(message)
        held = client.transport.get_write_buffer_size()
        assert held > sum(map(len, messages)) // 2, "the socket took the frames"
        assert len(_sendbuffer._BUFFERS) == 1, "the buffer wasn't reused"
        peer.writer.transport.resume_reading()  # type: ignore[attr-defined]
        for message in messages:
            await peer.expect_message(OP_BINARY, bytes(message))


@reused
async def test_frames_written_after_draining_reach_a_slow_peer_intact() -> None:
    # The default write limit: each send() waits for the buffer to drain,
    # and the next frame goes after what is left of the previous one.
    messages = [os.urandom(2**20 + n) for n in range(6)]
    async with asyncio.timeout(TIMEOUT * 5), client_and_peer() as (client, peer):
        shrink_send_buffer(client)

        async def send_all() -> None:
            for message in messages:
                await client.send(message)

        sending = asyncio.create_task(send_all())
        for message in messages:
            await peer.expect_message(OP_BINARY, message)
        await sending
        assert len(_sendbuffer._BUFFERS) == 1, "the buffer wasn't reused"


@reused
async def test_text_goes_through_the_buffer_too() -> None:
    message = "é€" * (MASKED_BY_CALLER // 2)
    async with asyncio.timeout(TIMEOUT * 5), client_and_peer() as (client, peer):
        await client.send(message)
        await peer.expect_message(OP_TEXT, message.encode())
        assert len(_sendbuffer._BUFFERS) == 1


@reused
async def test_a_buffer_still_viewed_is_not_written_over() -> None:
    first, second = os.urandom(2**20), os.urandom(2**20)
    async with asyncio.timeout(TIMEOUT * 5), client_and_peer() as (client, peer):
        await client.send(first)
        [buffer] = _sendbuffer._BUFFERS
        with memoryview(buffer) as view:
            before = bytes(view)
            await client.send(second)
            assert bytes(view) == before
        # Kept for later, under the one written last.
        assert len(_sendbuffer._BUFFERS) == 2
        assert _sendbuffer._BUFFERS[0] is buffer
        await peer.expect_message(OP_BINARY, first)
        await peer.expect_message(OP_BINARY, second)


@reused
async def test_small_frames_held_back_go_first() -> None:
    # A message waits in the client's queue: send() holds small frames
    # back to write them together; the large one must come after them.
    large = os.urandom(2**20)
    async with asyncio.timeout(TIMEOUT * 5), client_and_peer() as (client, peer):
        await peer.send_message(OP_TEXT, [b"waiting"])
        await wait_for_received(client)
        await client.send("small")
        assert client._corked is not None
        await client.send(large)
        await peer.expect_message(OP_TEXT, b"small")
        await peer.expect_message(OP_BINARY, large)
        assert await client.recv() == "waiting"


async def test_a_server_doesnt_mask_nor_use_the_buffer() -> None:
    message = os.urandom(2**20)
    connections: asyncio.Queue[ServerConnection] = asyncio.Queue()

    async def handler(connection: ServerConnection) -> None:
        connections.put_nowait(connection)
        await connection.wait_closed()

    async with asyncio.timeout(TIMEOUT * 5), serve(handler, "127.0.0.1", 0) as server:
        peer: RawPeer = await open_raw_client(server.sockets[0].getsockname()[1])
        ours = await connections.get()
        await ours.send(message)
        await peer.expect_message(OP_BINARY, message)
        assert not _sendbuffer._BUFFERS
        await peer.close()


async def test_logged_frames_go_the_usual_way(caplog: pytest.LogCaptureFixture) -> None:
    message = os.urandom(2**20)
    logger = logging.getLogger("test_sendbuffer")
    async with asyncio.timeout(TIMEOUT * 5), client_and_peer(logger=logger) as (client, peer):
        with caplog.at_level(logging.DEBUG, logger="test_sendbuffer"):
            client.protocol._debug = True
            await client.send(message)
        await peer.expect_message(OP_BINARY, message)
        assert not _sendbuffer._BUFFERS
        assert any("BINARY" in record.getMessage() for record in caplog.records)


async def test_tls_goes_the_usual_way() -> None:
    server_context, client_context = tls_contexts()
    message = os.urandom(2**20)

    async def echo(connection: ServerConnection) -> None:
        async for received in connection:
            await connection.send(received)

    async with (
        asyncio.timeout(TIMEOUT * 5),
        serve(echo, "127.0.0.1", 0, ssl=server_context, max_size=None) as server,
    ):
        port = server.sockets[0].getsockname()[1]
        async with connect(f"wss://127.0.0.1:{port}/", ssl=client_context, max_size=None) as client:
            await client.send(message)
            assert await client.recv() == message
    assert not _sendbuffer._BUFFERS


def test_off_without_the_accelerator() -> None:
    code = "from websockets_typed.asyncio._sendbuffer import COPYING_TRANSPORT as T; print(T)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "WEBSOCKETS_TYPED_SPEEDUPS": "0"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "None"


masking = pytest.mark.skipif(not MASK_INTO, reason="masked() needs the C accelerator")


@masking
def test_masked_reuses_a_buffer_once_no_view_remains() -> None:
    key = b"\x01\x02\x03\x04"
    first = masked(b"head", b"\x00" * 8, key)
    assert bytes(first) == b"head" + key * 2
    [buffer] = _sendbuffer._BUFFERS
    # Still viewed: another buffer takes the next frame.
    second = masked(b"", b"\x00" * 4, key)
    assert bytes(first) == b"head" + key * 2
    assert bytes(second) == key
    assert len(_sendbuffer._BUFFERS) == 2
    del first, second
    # Both free again: the one used last comes first.
    masked(b"", b"\xff" * 4, key)
    assert _sendbuffer._BUFFERS[0] is buffer
    assert bytes(_sendbuffer._BUFFERS[1][:4]) == bytes(b ^ 0xFF for b in key)


@masking
def test_masked_keeps_few_buffers() -> None:
    key = b"\x01\x02\x03\x04"
    views = [masked(b"", b"\x00" * 4, key) for _ in range(_sendbuffer._KEPT + 3)]
    assert all(bytes(view) == key for view in views)
    assert len(_sendbuffer._BUFFERS) == _sendbuffer._KEPT

"""The socket's receive low-water mark while a large frame arrives (asyncio/_rcvlowat.py).

A raw peer sends a large frame in parts; the tests read the mark of our
end's socket and check what the kernel makes of it: bytes short of the mark
stay in the kernel, the frame's last byte always wakes the reader, and so
does the end of the stream. They run on asyncio's loop and on uvloop's
(tests/conftest.py), and on Linux 5.8 or later only, where the mark is used.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from raw_peer import OP_BINARY, SIDES, TIMEOUT, RawPeer, Side, echo, open_peer
from sync_helpers import tls_contexts

from websockets_typed._receivebuffer import READ_BUFFER_SIZE
from websockets_typed.asyncio import _rcvlowat
from websockets_typed.asyncio._rcvlowat import RCVLOWAT_MAX, kernel_supports
from websockets_typed.asyncio.client import connect, unix_connect
from websockets_typed.asyncio.connection import Connection
from websockets_typed.asyncio.server import ServerConnection, serve, unix_serve
from websockets_typed.frames import CloseCode

linux = pytest.mark.skipif(not _rcvlowat.SUPPORTED, reason="SO_RCVLOWAT is used on Linux 5.8+")


def mark_of(connection: Connection) -> int:
    """The receive low-water mark of the connection's socket."""
    sock = connection.transport.get_extra_info("socket")
    value: int = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT)
    return value


def missing(connection: Connection) -> int:
    """How many payload bytes of the large frame being received are still to come."""
    view = connection.protocol.payload_buffer
    assert view is not None, "no large frame is being received"
    return len(view)


async def start_frame(peer: RawPeer, frame: bytes, size: int) -> Connection:
    """Send the first ``size`` bytes of a large frame; return our end once it has them."""
    await peer.send(frame[:size])
    connection = peer.ours
    async with asyncio.timeout(TIMEOUT):
        while connection.protocol.payload_buffer is None:
            await asyncio.sleep(0)
    return connection


async def settle() -> None:
    """Give our end time to read whatever the kernel reports: many loop iterations."""
    await asyncio.sleep(0.05)


def test_kernel_supports() -> None:
    assert kernel_supports("linux", "5.8.0")
    assert kernel_supports("linux", "6.18.44-fc-v1300")
    assert kernel_supports("linux", "10.0")
    assert not kernel_supports("linux", "5.7.19")
    assert not kernel_supports("linux", "4.19.0-26-amd64")
    assert not kernel_supports("linux", "")
    assert not kernel_supports("darwin", "23.1.0")
    assert not kernel_supports("win32", "10")


@linux
@pytest.mark.parametrize("side", SIDES)
async def test_bytes_short_of_the_mark_stay_in_the_kernel(side: Side) -> None:
    payload = os.urandom(RCVLOWAT_MAX + 2**19)
    async with asyncio.timeout(TIMEOUT * 5), open_peer(side, max_size=None) as peer:
        frame = peer.frame(OP_BINARY, payload)
        ours = await start_frame(peer, frame, READ_BUFFER_SIZE + 1000)
        # The first read filled the read buffer; the rest is over the cap.
        before = missing(ours)
        assert before > RCVLOWAT_MAX
        assert mark_of(ours) == RCVLOWAT_MAX
        # Less than the mark since that read: the kernel keeps it.
        await peer.send(frame[READ_BUFFER_SIZE + 1000 : READ_BUFFER_SIZE + 2**19])
        await settle()
        assert missing(ours) == before
        # The rest: read, then back to a mark of 1 for the frames after it.
        await peer.send(frame[READ_BUFFER_SIZE + 2**19 :])
        await peer.expect_message(OP_BINARY, payload)
        assert mark_of(ours) == 1
        assert ours._rcvlowat == 1


@linux
@pytest.mark.parametrize("side", SIDES)
async def test_mark_comes_down_to_what_the_frame_misses(side: Side) -> None:
    payload = os.urandom(RCVLOWAT_MAX + 2**19)
    async with asyncio.timeout(TIMEOUT * 5), open_peer(side, max_size=None) as peer:
        frame = peer.frame(OP_BINARY, payload)
        ours = await start_frame(peer, frame, READ_BUFFER_SIZE)
        # More than the mark: read; what the frame misses is now below the
        # cap, and the mark follows it, or the last bytes would never wake
        # the reader (the peer sends nothing after them until it gets the echo).
        await peer.send(frame[READ_BUFFER_SIZE : READ_BUFFER_SIZE + RCVLOWAT_MAX])
        async with asyncio.timeout(TIMEOUT):
            while missing(ours) > RCVLOWAT_MAX:
                await asyncio.sleep(0)
        await settle()
        rest = missing(ours)
        assert 0 < rest < RCVLOWAT_MAX
        assert mark_of(ours) == rest
        await peer.send(frame[-rest:])
        await peer.expect_message(OP_BINARY, payload)


@linux
@pytest.mark.parametrize("side", SIDES)
async def test_a_small_message_after_a_large_one_arrives(side: Side) -> None:
    large = os.urandom(2**18)
    async with asyncio.timeout(TIMEOUT * 5), open_peer(side, max_size=None) as peer:
        await peer.send(peer.frame(OP_BINARY, large))
        await peer.expect_message(OP_BINARY, large)
        # One byte is enough again.
        await peer.send(peer.frame(OP_BINARY, b"!"))
        await peer.expect_message(OP_BINARY, b"!")


@linux
@pytest.mark.parametrize("side", SIDES)
async def test_end_of_stream_wakes_the_reader_short_of_the_mark(side: Side) -> None:
    payload = os.urandom(2**20)
    async with asyncio.timeout(TIMEOUT * 5), open_peer(side, max_size=None) as peer:
        frame = peer.frame(OP_BINARY, payload)
        ours = await start_frame(peer, frame, READ_BUFFER_SIZE + 1000)
        assert mark_of(ours) > 1000
        await close_abruptly(peer)
        # At once, not after a timeout: the mark doesn't hold back the end.
        async with asyncio.timeout(TIMEOUT / 4):
            await ours.wait_closed()
        assert ours.close_code == CloseCode.ABNORMAL_CLOSURE


async def close_abruptly(peer: RawPeer) -> None:
    """Close the raw peer's TCP connection in the middle of a frame."""
    peer.writer.close()
    await peer.writer.wait_closed()


def recording_echo(
    connections: list[ServerConnection],
) -> Callable[[ServerConnection], Awaitable[None]]:
    """raw_peer's echo handler, which keeps each server connection in ``connections``."""

    async def handler(connection: ServerConnection) -> None:
        connections.append(connection)
        await echo(connection)

    return handler


@linux
async def test_no_mark_over_tls() -> None:
    server_context, client_context = tls_contexts()
    connections: list[ServerConnection] = []

    payload = os.urandom(2**20)
    async with (
        asyncio.timeout(TIMEOUT * 5),
        serve(
            recording_echo(connections), "127.0.0.1", 0, ssl=server_context, max_size=None
        ) as server,
    ):
        port = server.sockets[0].getsockname()[1]
        async with connect(f"wss://127.0.0.1:{port}/", ssl=client_context, max_size=None) as ws:
            await ws.send(payload)
            assert await ws.recv() == payload
            # Both ends gave up on the mark at their first large frame.
            assert ws._rcvlowat == 0
            assert connections[0]._rcvlowat == 0
            assert mark_of(ws) == 1
            assert mark_of(connections[0]) == 1


@linux
async def test_no_mark_on_unix_sockets(tmp_path: Path) -> None:
    connections: list[ServerConnection] = []

    path = str(tmp_path / "socket")
    payload = os.urandom(2**20)
    async with (
        asyncio.timeout(TIMEOUT * 5),
        unix_serve(recording_echo(connections), path, max_size=None),
        unix_connect(path, max_size=None) as ws,
    ):
        await ws.send(payload)
        assert await ws.recv() == payload
        assert ws._rcvlowat == 0
        assert connections[0]._rcvlowat == 0


@linux
async def test_socket_refusing_the_mark_keeps_the_default() -> None:
    payload = os.urandom(2**20)
    async with asyncio.timeout(TIMEOUT * 5), open_peer("server", max_size=None) as peer:
        frame = peer.frame(OP_BINARY, payload)
        ours = await start_frame(peer, frame, READ_BUFFER_SIZE + 1000)
        assert ours._rcvlowat > 1
        # A closed socket refuses every option, as a system without it would.
        ours.transport.abort()
        await ours.wait_closed()
        ours._follow_payload()
        assert ours._rcvlowat == 0


async def test_no_mark_where_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    # What an older kernel or another system gets: the class default.
    monkeypatch.setattr(Connection, "_rcvlowat", 0)
    payload = os.urandom(2**20)
    async with asyncio.timeout(TIMEOUT * 5), open_peer("server", max_size=None) as peer:
        frame = peer.frame(OP_BINARY, payload)
        ours = await start_frame(peer, frame, READ_BUFFER_SIZE + 1000)
        assert mark_of(ours) == 1
        await peer.send(frame[READ_BUFFER_SIZE + 1000 :])
        await peer.expect_message(OP_BINARY, payload)
        assert "_rcvlowat" not in vars(ours)

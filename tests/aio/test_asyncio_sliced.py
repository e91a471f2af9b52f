"""Large frames written in slices, with `websockets` as the peer that checks the wire.

A frame of SLICED_FRAME bytes or more goes to the transport a slice at a
time, as it drains (asyncio/_slices.py). Whatever happens meanwhile (Pings
and Pongs both ways, other sends, broadcasts, close(), a cancelled send, a
lost connection) nothing may be written into the middle of the frame: the
peer's parser, not ours, says whether the bytes on the wire are valid.
Runs on asyncio's loop and on uvloop (tests/conftest.py), which both slice.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import pytest
from raw_peer import TIMEOUT
from sync_helpers import tls_contexts
from websockets.asyncio.client import ClientConnection as TheirClientConnection
from websockets.asyncio.client import connect as their_connect
from websockets.asyncio.server import ServerConnection as TheirServerConnection
from websockets.asyncio.server import serve as their_serve

from websockets_typed._defaults import BROADCAST_LIMIT, WRITE_LIMIT
from websockets_typed.asyncio import _sendbuffer
from websockets_typed.asyncio._sendbuffer import COPYING_TRANSPORT, MASK_INTO
from websockets_typed.asyncio._slices import SLICE
from websockets_typed.asyncio.client import ClientConnection, connect
from websockets_typed.asyncio.connection import (
    BroadcastOverflow,
    BroadcastStats,
    Connection,
    broadcast,
)
from websockets_typed.asyncio.server import ServerConnection, serve
from websockets_typed.exceptions import ConnectionClosed, ConnectionClosedError
from websockets_typed.frames import SLICED_FRAME, CloseCode
from websockets_typed.typing import Data

LARGE = 16 * 2**20


def slow_writer(connection: Connection) -> None:
    """Shrink the send buffer: a 16 MiB frame can't be written at once."""
    sock = connection.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)


async def start_sending(connection: Connection, message: Data) -> asyncio.Task[None]:
    """Start sending a large message; return once its frame is partly written."""
    sending = asyncio.create_task(connection.send(message))
    # One iteration of the loop: the task writes slices until the transport
    # pauses it, and waits for the transport to drain.
    await asyncio.sleep(0)
    assert connection._sliced is not None, "the frame was written at once"
    return sending


@asynccontextmanager
async def their_server_and_our_client(
    write_limit: int = WRITE_LIMIT,
) -> AsyncGenerator[tuple[ClientConnection, TheirServerConnection, list[Data]]]:
    """Their server records what it receives; our client connects to it."""
    received: list[Data] = []
    connections: asyncio.Queue[TheirServerConnection] = asyncio.Queue()

    async def record(websocket: TheirServerConnection) -> None:
        connections.put_nowait(websocket)
        async for message in websocket:
            received.append(message)

    async with their_serve(record, "127.0.0.1", 0, max_size=None, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(
            f"ws://127.0.0.1:{port}/",
            compression=None,
            max_size=None,
            ping_interval=None,
            write_limit=write_limit,
        ) as client:
            slow_writer(client)
            yield client, await connections.get(), received


@asynccontextmanager
async def our_server_and_their_client(
    broadcast_limit: int | None = BROADCAST_LIMIT, broadcast_overflow: BroadcastOverflow = "close"
) -> AsyncGenerator[tuple[ServerConnection, TheirClientConnection]]:
    """Our server, whose connection the test drives, and their client."""
    connections: asyncio.Queue[ServerConnection] = asyncio.Queue()

    async def handler(connection: ServerConnection) -> None:
        connections.put_nowait(connection)
        await connection.wait_closed()

    async with serve(
        handler,
        "127.0.0.1",
        0,
        compression=None,
        max_size=None,
        ping_interval=None,
        broadcast_limit=broadcast_limit,
        broadcast_overflow=broadcast_overflow,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        async with their_connect(
            f"ws://127.0.0.1:{port}/", compression=None, max_size=None
        ) as theirs:
            ours = await connections.get()
            slow_writer(ours)
            yield ours, theirs


@pytest.mark.parametrize(
    "message",
    [os.urandom(SLICED_FRAME), os.urandom(5 * SLICED_FRAME // 4 + 3), "é€" * (SLICED_FRAME // 5)],
    ids=["binary", "binary-odd-size", "text"],
)
async def test_large_messages_both_ways(message: Data) -> None:
    async with asyncio.timeout(TIMEOUT * 5):
        async with their_server_and_our_client() as (client, _, received):
            await client.send(message)
        assert received == [message]
        async with our_server_and_their_client() as (ours, theirs):
            await ours.send(message)
            assert await theirs.recv() == message


async def test_client_pings_pongs_and_sends_wait_behind_the_frame() -> None:
    large = os.urandom(LARGE)
    async with asyncio.timeout(TIMEOUT * 5):
        async with their_server_and_our_client() as (client, theirs, received):
            sending = await start_sending(client, large)
            others = [
                asyncio.create_task(client.send("small 1")),
                asyncio.create_task(client.send(b"small 2")),
            ]
            our_pong = await client.ping(b"ours")
            # Our Pong answers from the receive path, behind the frame too.
            their_pong = await theirs.ping(b"theirs")
            await sending
            await asyncio.gather(*others)
            await our_pong
            await their_pong
        assert received == [large, "small 1", b"small 2"]
        assert client.close_code == CloseCode.NORMAL_CLOSURE


async def test_server_broadcast_and_sends_wait_behind_the_frame() -> None:
    large = os.urandom(LARGE)
    async with (
        asyncio.timeout(TIMEOUT * 5),
        our_server_and_their_client(broadcast_limit=None) as (ours, theirs),
    ):
        sending = await start_sending(ours, large)
        assert broadcast([ours], "broadcast") == BroadcastStats(1, 0, 0)
        other = asyncio.create_task(ours.send("small"))
        their_pong = await theirs.ping(b"theirs")
        our_pong = await ours.ping(b"ours")
        # The broadcast waited behind the frame, the send behind the broadcast.
        assert [await theirs.recv() for _ in range(3)] == [large, "broadcast", "small"]
        await sending
        await other
        await their_pong
        await our_pong


async def test_broadcast_limit_counts_the_rest_of_the_frame() -> None:
    async with (
        asyncio.timeout(TIMEOUT * 5),
        our_server_and_their_client(broadcast_limit=2 * SLICE, broadcast_overflow="drop") as (
            ours,
            theirs,
        ),
    ):
        sending = await start_sending(ours, os.urandom(LARGE))
        # Most of the frame waits, though not in the transport's buffer.
        assert ours.transport.get_write_buffer_size() < 2 * SLICE
        assert broadcast([ours], "dropped") == BroadcastStats(0, 1, 0)
        await ours.send("kept")
        await sending
        assert len(await theirs.recv()) == LARGE
        assert await theirs.recv() == "kept"


async def test_cancelled_send_finishes_the_frame() -> None:
    large = os.urandom(LARGE)
    async with asyncio.timeout(TIMEOUT * 5):
        async with their_server_and_our_client() as (client, _, received):
            sending = await start_sending(client, large)
            sending.cancel()
            with pytest.raises(asyncio.CancelledError):
                await sending
            # The frame goes on in the background; the next message follows it.
            await client.send("after")
        assert received == [large, "after"]
        assert client.close_code == CloseCode.NORMAL_CLOSURE


async def test_close_waits_for_the_frame() -> None:
    large = os.urandom(LARGE)
    async with asyncio.timeout(TIMEOUT * 5):
        async with their_server_and_our_client() as (client, theirs, received):
            sending = await start_sending(client, large)
            await client.close()
            # Not 1011: the frame was completed, then the Close frame sent.
            assert theirs.close_code == CloseCode.NORMAL_CLOSURE
            assert client.close_code == CloseCode.NORMAL_CLOSURE
            await sending
        assert received == [large]


async def test_connection_lost_in_the_middle_of_the_frame() -> None:
    async with asyncio.timeout(TIMEOUT * 5):
        async with their_server_and_our_client() as (client, theirs, received):
            sending = await start_sending(client, os.urandom(LARGE))
            waiting = asyncio.create_task(client.send("never"))
            theirs.transport.abort()
            with pytest.raises(ConnectionClosedError):
                await sending
            with pytest.raises(ConnectionClosed):
                await waiting
            assert client._sliced is None
            # The connection is usable as a closed one: nothing hangs.
            with pytest.raises(ConnectionClosed):
                await client.send(os.urandom(SLICED_FRAME))
        assert received == []
        assert client.close_code == CloseCode.ABNORMAL_CLOSURE


async def test_frames_held_back_go_before_the_large_frame() -> None:
    large = os.urandom(LARGE)
    async with (
        asyncio.timeout(TIMEOUT * 5),
        our_server_and_their_client() as (ours, theirs),
    ):
        # Messages wait in our queue: a small send is held back, to go out
        # with the next write (see Connection.send).
        await theirs.send("unread")
        await (await theirs.ping())
        await ours.send("held back")
        assert ours._corked
        await ours.send(large)
        assert await theirs.recv() == "held back"
        assert await theirs.recv() == large


async def test_large_messages_over_tls() -> None:
    # TLS transports pause and resume on their own code paths.
    server_context, client_context = tls_contexts()
    large = os.urandom(LARGE)

    async def their_echo(websocket: TheirServerConnection) -> None:
        async for message in websocket:
            await websocket.send(message)

    async def our_echo(connection: ServerConnection) -> None:
        async for message in connection:
            await connection.send(message)

    async with asyncio.timeout(TIMEOUT * 5):
        async with (
            their_serve(
                their_echo, "127.0.0.1", 0, ssl=server_context, max_size=None, compression=None
            ) as theirs,
            connect(
                f"wss://127.0.0.1:{next(iter(theirs.sockets)).getsockname()[1]}/",
                ssl=client_context,
                compression=None,
                max_size=None,
            ) as client,
        ):
            sending = await start_sending(client, large)
            pong = await client.ping()
            await sending
            await pong
            assert await client.recv() == large
        async with (
            serve(
                our_echo, "127.0.0.1", 0, ssl=server_context, max_size=None, compression=None
            ) as ours,
            their_connect(
                f"wss://127.0.0.1:{ours.sockets[0].getsockname()[1]}/",
                ssl=client_context,
                compression=None,
                max_size=None,
            ) as their_client,
        ):
            await their_client.send(large)
            assert await their_client.recv() == large


@pytest.mark.parametrize("side", ["client", "server"])
async def test_every_loop_slices(side: str) -> None:
    # Written whole, a large frame would wait in the transport's buffer:
    # uvloop's keeps the frame, asyncio's copies what the socket didn't take.
    large = os.urandom(LARGE)
    async with asyncio.timeout(TIMEOUT * 5):
        if side == "client":
            async with their_server_and_our_client() as (client, _, received):
                await check_default_write(client, large)
            assert received == [large]
        else:
            async with our_server_and_their_client() as (ours, theirs):
                await check_default_write(ours, large)
                assert await theirs.recv() == large


async def check_default_write(connection: Connection, large: bytes) -> None:
    """Send a large message with the default settings; check that it goes in slices."""
    sending = asyncio.create_task(connection.send(large))
    # One iteration of the loop: send() writes slices until the transport
    # pauses it, and waits for the transport to drain.
    await asyncio.sleep(0)
    assert connection._sliced is not None
    # The transport holds at most the write limit and a slice, not the frame.
    assert connection.transport.get_write_buffer_size() < 2 * SLICE
    await sending


reused = pytest.mark.skipif(not MASK_INTO, reason="no reused buffers without the C accelerator")


@reused
async def test_slices_are_masked_into_the_reused_buffers() -> None:
    # A new bytes object per slice made a fresh process's heap grow and
    # shrink for every message (see _sendbuffer).
    _sendbuffer._BUFFERS.clear()
    messages = [os.urandom(LARGE), os.urandom(SLICED_FRAME + 5)]
    async with asyncio.timeout(TIMEOUT * 5):
        async with their_server_and_our_client() as (client, _, received):
            for message in messages:
                await client.send(message)
            buffers = list(_sendbuffer._BUFFERS)
            copying = type(client.transport) is COPYING_TRANSPORT
        assert received == messages
    assert buffers, "the slices weren't masked into the reused buffers"
    assert len(buffers) <= _sendbuffer._KEPT
    # Each as large as a slice and the header, never a frame.
    assert all(len(buffer) <= SLICE + 14 for buffer in buffers)
    if copying:
        # The transport copies what it keeps: one buffer serves every
        # slice, unless the previous slice's view stayed alive.
        assert len(buffers) == 1


@reused
async def test_slices_kept_by_the_transport_are_not_written_over() -> None:
    # A small send buffer and no wait between messages: uvloop's transport
    # keeps views of the slices it couldn't send while the next ones are
    # masked; their peer's parser and the contents say whether any changed.
    messages = [os.urandom(SLICED_FRAME + 2 * SLICE + n) for n in range(4)]
    async with asyncio.timeout(TIMEOUT * 5):
        async with their_server_and_our_client() as (client, _, received):
            sends = [asyncio.create_task(client.send(message)) for message in messages]
            await asyncio.gather(*sends)
        assert received == messages
    assert len(_sendbuffer._BUFFERS) <= _sendbuffer._KEPT


@reused
async def test_a_written_slice_is_no_view_of_the_next_ones_buffer() -> None:
    # A write limit above the frame: the transport doesn't pause, and
    # send() writes every slice in one go. Where the transport copies what
    # it keeps, the slice just written is no view of the buffer any more
    # once the next one is masked: one buffer serves them all. Where it
    # keeps views (uvloop's), each slice it holds keeps its buffer from
    # being written over: the next one takes another.
    _sendbuffer._BUFFERS.clear()
    large = os.urandom(LARGE)
    async with asyncio.timeout(TIMEOUT * 5):
        async with their_server_and_our_client(write_limit=2 * LARGE) as (client, _, received):
            await client.send(large)
            assert client.transport.get_write_buffer_size() > LARGE // 2, "not in one go"
            if type(client.transport) is COPYING_TRANSPORT:
                assert len(_sendbuffer._BUFFERS) == 1
            else:
                assert len(_sendbuffer._BUFFERS) == _sendbuffer._KEPT
        assert received == [large]

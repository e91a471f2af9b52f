"""Interoperability with the `websockets` library (its modern asyncio implementation).

Our server with their client, and our client with their server, with and
without permessage-deflate: messages of every kind and size, fragmentation,
subprotocols, closing in both directions and pings in both directions.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Literal

import pytest
from raw_peer import echo
from websockets.asyncio.client import connect as their_connect
from websockets.asyncio.server import Server as TheirServer
from websockets.asyncio.server import ServerConnection as TheirServerConnection
from websockets.asyncio.server import serve as their_serve
from websockets.exceptions import ConnectionClosed as TheirConnectionClosed
from websockets.extensions.permessage_deflate import PerMessageDeflate as TheirPerMessageDeflate
from websockets.typing import Subprotocol as TheirSubprotocol

from websockets_typed.asyncio.client import connect
from websockets_typed.asyncio.server import Server, ServerConnection, serve
from websockets_typed.exceptions import ConnectionClosed, ConnectionClosedError
from websockets_typed.extensions.permessage_deflate import PerMessageDeflate
from websockets_typed.typing import Data

COMPRESSION = pytest.mark.parametrize("compression", ["deflate", None])

# Messages exchanged in every direction: empty, ASCII, non-ASCII, binary.
MESSAGES: list[Data] = ["", "hello", "café ☕ 🚀", b"", b"\x00\x01\xfe\xff", bytes(range(256)) * 8]

# 16 MiB: random bytes don't compress, repeated text compresses a lot.
LARGE = 16 * 2**20
MAX_SIZE = 2**25


def our_uri(server: Server) -> str:
    """A ws:// URI for our server."""
    port: int = server.sockets[0].getsockname()[1]
    return f"ws://127.0.0.1:{port}/"


def their_uri(server: TheirServer) -> str:
    """A ws:// URI for their server."""
    port: int = next(iter(server.sockets)).getsockname()[1]
    return f"ws://127.0.0.1:{port}/"


def deflate(compression: str | None) -> Literal["deflate"] | None:
    """Narrow the parameter to what our serve() and connect() accept."""
    return "deflate" if compression else None


def text_fragments(fragments: Sequence[Data]) -> list[str]:
    """The non-empty fragments of a text message, checking that they are str."""
    assert all(isinstance(fragment, str) for fragment in fragments)
    return [fragment for fragment in fragments if isinstance(fragment, str) and fragment]


def binary_fragments(fragments: Sequence[Data]) -> list[bytes]:
    """The non-empty fragments of a binary message, checking that they are bytes."""
    assert all(isinstance(fragment, bytes) for fragment in fragments)
    return [fragment for fragment in fragments if isinstance(fragment, bytes) and fragment]


async def their_echo(websocket: TheirServerConnection) -> None:
    """Send back every message."""
    async for message in websocket:
        await websocket.send(message)


# Text and binary messages.


@COMPRESSION
async def test_messages_our_server_their_client(compression: str | None) -> None:
    server_extensions: list[object] = []

    async def handler(websocket: ServerConnection) -> None:
        server_extensions.extend(websocket.protocol.extensions)
        await echo(websocket)

    async with (
        serve(handler, "127.0.0.1", 0, compression=deflate(compression)) as server,
        their_connect(our_uri(server), compression=compression, proxy=None) as client,
    ):
        for message in MESSAGES:
            await client.send(message)
            assert await client.recv() == message
        client_extensions = list(client.protocol.extensions)
    if compression:
        assert [type(extension) for extension in server_extensions] == [PerMessageDeflate]
        assert [type(extension) for extension in client_extensions] == [TheirPerMessageDeflate]
    else:
        assert server_extensions == []
        assert client_extensions == []


@COMPRESSION
async def test_messages_our_client_their_server(compression: str | None) -> None:
    server_extensions: list[object] = []

    async def handler(websocket: TheirServerConnection) -> None:
        server_extensions.extend(websocket.protocol.extensions)
        await their_echo(websocket)

    async with (
        their_serve(handler, "127.0.0.1", 0, compression=compression) as server,
        connect(their_uri(server), compression=deflate(compression)) as client,
    ):
        for message in MESSAGES:
            await client.send(message)
            assert await client.recv() == message
        client_extensions = list(client.protocol.extensions)
    if compression:
        assert [type(extension) for extension in server_extensions] == [TheirPerMessageDeflate]
        assert [type(extension) for extension in client_extensions] == [PerMessageDeflate]
    else:
        assert server_extensions == []
        assert client_extensions == []


# Fragmented messages.


@COMPRESSION
async def test_fragments_our_server_their_client(compression: str | None) -> None:
    received: list[list[Data]] = []

    async def handler(websocket: ServerConnection) -> None:
        for _ in range(2):
            received.append([fragment async for fragment in websocket.recv_streaming()])
        await websocket.send(["our ", "fragmented ", "text"])
        await websocket.send([b"our ", b"fragmented ", b"bytes"])
        await websocket.wait_closed()

    async with (
        serve(handler, "127.0.0.1", 0, compression=deflate(compression)) as server,
        their_connect(our_uri(server), compression=compression, proxy=None) as client,
    ):
        await client.send(["their ", "fragmented ", "text"])
        await client.send([b"their ", b"fragmented ", b"bytes"])
        text = [fragment async for fragment in client.recv_streaming()]
        binary = [fragment async for fragment in client.recv_streaming()]
    assert text_fragments(text) == ["our ", "fragmented ", "text"]
    assert binary_fragments(binary) == [b"our ", b"fragmented ", b"bytes"]
    text_in, binary_in = received
    assert text_fragments(text_in) == ["their ", "fragmented ", "text"]
    assert binary_fragments(binary_in) == [b"their ", b"fragmented ", b"bytes"]


@COMPRESSION
async def test_fragments_our_client_their_server(compression: str | None) -> None:
    received: list[list[str | bytes]] = []

    async def handler(websocket: TheirServerConnection) -> None:
        for _ in range(2):
            received.append([fragment async for fragment in websocket.recv_streaming()])
        await websocket.send(["their ", "fragmented ", "text"])
        await websocket.send([b"their ", b"fragmented ", b"bytes"])
        await websocket.wait_closed()

    async with (
        their_serve(handler, "127.0.0.1", 0, compression=compression) as server,
        connect(their_uri(server), compression=deflate(compression)) as client,
    ):
        await client.send(["our ", "fragmented ", "text"])
        await client.send([b"our ", b"fragmented ", b"bytes"])
        text = [fragment async for fragment in client.recv_streaming()]
        binary = [fragment async for fragment in client.recv_streaming()]
    assert text_fragments(text) == ["their ", "fragmented ", "text"]
    assert binary_fragments(binary) == [b"their ", b"fragmented ", b"bytes"]
    text_in, binary_in = received
    assert text_fragments(text_in) == ["our ", "fragmented ", "text"]
    assert binary_fragments(binary_in) == [b"our ", b"fragmented ", b"bytes"]


# Large messages.


def large_messages() -> list[Data]:
    """16 MiB of random bytes and 16 MiB of text."""
    return [os.urandom(LARGE), "ωmega " * (LARGE // 7)]


@COMPRESSION
async def test_large_messages_our_server_their_client(compression: str | None) -> None:
    async with (
        serve(echo, "127.0.0.1", 0, compression=deflate(compression), max_size=MAX_SIZE) as server,
        their_connect(
            our_uri(server), compression=compression, max_size=MAX_SIZE, proxy=None
        ) as client,
    ):
        for message in large_messages():
            await client.send(message)
            async with asyncio.timeout(30):
                assert await client.recv() == message


@COMPRESSION
async def test_large_messages_our_client_their_server(compression: str | None) -> None:
    async with (
        their_serve(
            their_echo, "127.0.0.1", 0, compression=compression, max_size=MAX_SIZE
        ) as server,
        connect(their_uri(server), compression=deflate(compression), max_size=MAX_SIZE) as client,
    ):
        for message in large_messages():
            await client.send(message)
            async with asyncio.timeout(30):
                assert await client.recv() == message


@COMPRESSION
async def test_too_large_message_our_server_their_client(compression: str | None) -> None:
    """Our max_size applies to their messages: 1009."""
    async with (
        serve(echo, "127.0.0.1", 0, compression=deflate(compression), max_size=1024) as server,
        their_connect(our_uri(server), compression=compression, proxy=None) as client,
    ):
        await client.send(b"x" * 1025)
        with pytest.raises(TheirConnectionClosed):
            await client.recv()
        assert client.close_code == 1009


@COMPRESSION
async def test_too_large_message_our_client_their_server(compression: str | None) -> None:
    """Our max_size applies to their messages: 1009."""
    async with (
        their_serve(their_echo, "127.0.0.1", 0, compression=compression) as server,
        connect(their_uri(server), compression=deflate(compression), max_size=1024) as client,
    ):
        await client.send("x" * 1025)
        with pytest.raises(ConnectionClosedError) as exc_info:
            await client.recv()
        assert exc_info.value.sent is not None
        assert exc_info.value.sent.code == 1009


# Subprotocols.


async def test_subprotocol_our_server_their_client() -> None:
    selected: list[str | None] = []

    async def handler(websocket: ServerConnection) -> None:
        selected.append(websocket.subprotocol)

    async with (
        serve(handler, "127.0.0.1", 0, subprotocols=["v2.chat", "v1.chat"]) as server,
        their_connect(
            our_uri(server),
            subprotocols=[TheirSubprotocol("v1.chat"), TheirSubprotocol("v2.chat")],
            proxy=None,
        ) as client,
    ):
        assert client.subprotocol == "v2.chat"
        await client.wait_closed()
    assert selected == ["v2.chat"]


async def test_subprotocol_our_client_their_server() -> None:
    selected: list[str | None] = []

    async def handler(websocket: TheirServerConnection) -> None:
        selected.append(websocket.subprotocol)

    async with (
        their_serve(
            handler,
            "127.0.0.1",
            0,
            subprotocols=[TheirSubprotocol("v2.chat"), TheirSubprotocol("v1.chat")],
        ) as server,
        connect(their_uri(server), subprotocols=["v1.chat", "v2.chat"]) as client,
    ):
        assert client.subprotocol == "v2.chat"
        await client.wait_closed()
    assert selected == ["v2.chat"]


# Closing.


@COMPRESSION
async def test_close_from_our_server(compression: str | None) -> None:
    async def handler(websocket: ServerConnection) -> None:
        await websocket.close(4001, "server says bye")

    async with (
        serve(handler, "127.0.0.1", 0, compression=deflate(compression)) as server,
        their_connect(our_uri(server), compression=compression, proxy=None) as client,
    ):
        with pytest.raises(TheirConnectionClosed) as exc_info:
            await client.recv()
        assert exc_info.value.rcvd is not None
        assert (exc_info.value.rcvd.code, exc_info.value.rcvd.reason) == (4001, "server says bye")
        assert (client.close_code, client.close_reason) == (4001, "server says bye")


@COMPRESSION
async def test_close_from_their_client(compression: str | None) -> None:
    closes: list[tuple[int, str]] = []

    async def handler(websocket: ServerConnection) -> None:
        try:
            await websocket.recv()
        except ConnectionClosed as exc:
            closes.append((exc.code, exc.reason))

    async with (
        serve(handler, "127.0.0.1", 0, compression=deflate(compression)) as server,
        their_connect(our_uri(server), compression=compression, proxy=None) as client,
    ):
        await client.close(4002, "client says bye")
        server.close()
        async with asyncio.timeout(5):
            await server.wait_closed()
    assert closes == [(4002, "client says bye")]


@COMPRESSION
async def test_close_from_their_server(compression: str | None) -> None:
    async def handler(websocket: TheirServerConnection) -> None:
        await websocket.close(4003, "their server says bye")

    async with (
        their_serve(handler, "127.0.0.1", 0, compression=compression) as server,
        connect(their_uri(server), compression=deflate(compression)) as client,
    ):
        with pytest.raises(ConnectionClosed) as exc_info:
            await client.recv()
        assert (exc_info.value.code, exc_info.value.reason) == (4003, "their server says bye")
        assert (client.close_code, client.close_reason) == (4003, "their server says bye")


@COMPRESSION
async def test_close_from_our_client(compression: str | None) -> None:
    closes: list[tuple[int | None, str | None]] = []
    handled = asyncio.Event()

    async def handler(websocket: TheirServerConnection) -> None:
        try:
            await websocket.recv()
        except TheirConnectionClosed:
            closes.append((websocket.close_code, websocket.close_reason))
        handled.set()

    async with (
        their_serve(handler, "127.0.0.1", 0, compression=compression) as server,
        connect(their_uri(server), compression=deflate(compression)) as client,
    ):
        await client.close(4004, "our client says bye")
        async with asyncio.timeout(5):
            await handled.wait()
        assert server.connections == set()
    assert closes == [(4004, "our client says bye")]


# Pings.


@COMPRESSION
async def test_pings_our_server_their_client(compression: str | None) -> None:
    latencies: list[float] = []

    async def handler(websocket: ServerConnection) -> None:
        # Their client answers our ping while it does nothing else.
        pong_waiter = await websocket.ping("from our server")
        async with asyncio.timeout(5):
            latencies.append(await pong_waiter)
        await websocket.send("pinged")
        await websocket.wait_closed()

    async with (
        serve(handler, "127.0.0.1", 0, compression=deflate(compression)) as server,
        their_connect(our_uri(server), compression=compression, proxy=None) as client,
    ):
        pong_waiter = await client.ping(b"from their client")
        async with asyncio.timeout(5):
            latency = await pong_waiter
            assert await client.recv() == "pinged"
    assert latency >= 0
    assert len(latencies) == 1
    assert latencies[0] >= 0


@COMPRESSION
async def test_pings_our_client_their_server(compression: str | None) -> None:
    latencies: list[float] = []

    async def handler(websocket: TheirServerConnection) -> None:
        pong_waiter = await websocket.ping(b"from their server")
        async with asyncio.timeout(5):
            latencies.append(await pong_waiter)
        await websocket.send("pinged")
        await websocket.wait_closed()

    async with (
        their_serve(handler, "127.0.0.1", 0, compression=compression) as server,
        connect(their_uri(server), compression=deflate(compression)) as client,
    ):
        pong_waiter = await client.ping("from our client")
        async with asyncio.timeout(5):
            latency = await pong_waiter
            assert await client.recv() == "pinged"
    assert latency >= 0
    assert len(latencies) == 1


async def test_keepalive_pings_our_server_their_client() -> None:
    """Our keepalive pings get their pongs: latency gets measured, nothing closes."""
    measured = asyncio.Event()
    connections: list[ServerConnection] = []

    async def handler(websocket: ServerConnection) -> None:
        connections.append(websocket)
        async with asyncio.timeout(5):
            while websocket.latency == 0:
                await asyncio.sleep(0.01)  # let keepalive pings go
        measured.set()
        await websocket.wait_closed()

    async with (
        serve(handler, "127.0.0.1", 0, ping_interval=0.02, ping_timeout=1) as server,
        their_connect(our_uri(server), ping_interval=None, proxy=None) as client,
    ):
        await measured.wait()
        assert client.state.name == "OPEN"
    assert connections[0].latency > 0


async def test_keepalive_pings_our_client_their_server() -> None:
    async def handler(websocket: TheirServerConnection) -> None:
        await websocket.wait_closed()

    async with (
        their_serve(handler, "127.0.0.1", 0, ping_interval=None) as server,
        connect(their_uri(server), ping_interval=0.02, ping_timeout=1) as client,
    ):
        async with asyncio.timeout(5):
            while client.latency == 0:
                await asyncio.sleep(0.01)  # let keepalive pings go
        assert client.open

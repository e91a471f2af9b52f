"""Tests of the reads of uvloop's plain transports: bytes between large frames, in place within.

On uvloop's plain TCP and Unix transports, a connection hands its transport
a :class:`BytesReads` (one call per read, ``data_received()``), and itself
for the payload of a large frame (``get_buffer()``, ``buffer_updated()``).
Elsewhere, asyncio's transports and TLS, the transport keeps the connection.
These tests run on both loops and check which object the transport calls,
before, during and after a large frame, and that messages come out whole and
in order all along.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sync_helpers import tls_contexts

from websockets_typed.asyncio._bytesreads import BytesReads, reads_bytes
from websockets_typed.asyncio.client import ClientConnection, connect, unix_connect
from websockets_typed.asyncio.connection import Connection
from websockets_typed.asyncio.server import ServerConnection, serve, unix_serve
from websockets_typed.frames import Frame, Opcode, serialize_frame


def on_uvloop() -> bool:
    return type(asyncio.get_running_loop()).__module__.startswith("uvloop")


def takes_bytes(connection: Connection) -> bool:
    """Whether the transport calls a BytesReads of ``connection`` rather than the connection."""
    protocol = connection.transport.get_protocol()
    if isinstance(protocol, BytesReads):
        assert protocol.connection is connection
        return True
    assert protocol is connection
    return False


@asynccontextmanager
async def pair(
    **options: object,
) -> AsyncGenerator[tuple[ServerConnection, ClientConnection]]:
    """A server connection and its client, over TCP; ``ssl`` for TLS."""
    accepted: asyncio.Queue[ServerConnection] = asyncio.Queue()

    async def handler(connection: ServerConnection) -> None:
        accepted.put_nowait(connection)
        await connection.wait_closed()

    server_ssl, client_ssl = tls_contexts() if options.get("ssl") else (None, None)
    async with (
        asyncio.timeout(10),
        serve(handler, "127.0.0.1", 0, ssl=server_ssl, compression=None, max_size=None) as server,
    ):
        port = server.sockets[0].getsockname()[1]
        scheme = "wss" if server_ssl else "ws"
        async with connect(
            f"{scheme}://127.0.0.1:{port}", ssl=client_ssl, compression=None, max_size=None
        ) as client:
            yield await accepted.get(), client


async def test_plain_transport_takes_bytes_between_large_frames_on_uvloop() -> None:
    large = bytes(range(256)) * 2**12  # 1 MiB, a large frame
    async with pair() as (server, client):
        assert takes_bytes(server) is on_uvloop()
        assert takes_bytes(client) is on_uvloop()
        # A large frame's start: its payload is read in place, by the connection.
        wire = b"".join(serialize_frame(Frame(Opcode.BINARY, large), mask=True))
        client.transport.write(wire[:1000])
        while server.protocol.payload_buffer is None:
            await asyncio.sleep(0)
        assert not takes_bytes(server)
        # Its end: in place still, for a next large frame.
        client.transport.write(wire[1000:])
        assert await server.recv() == large
        assert not takes_bytes(server)
        await client.send(large)
        assert await server.recv() == large
        assert not takes_bytes(server)
        # Then small messages: bytes again.
        for text in ("one", "two"):
            await client.send(text)
            assert await server.recv() == text
        assert takes_bytes(server) is on_uvloop()
        # Both ways.
        await server.send(large)
        assert await client.recv() == large
        assert not takes_bytes(client)
        await server.send("three")
        assert await client.recv() == "three"
        assert takes_bytes(client) is on_uvloop()


async def test_messages_around_large_frames_come_in_order() -> None:
    messages: list[str | bytes] = [
        b"a",
        bytes(2**17),
        "b",
        bytes(2**16 + 1),
        bytes(2**20),
        "c",
        b"d",
    ]
    async with pair() as (server, client):
        for message in messages:
            await client.send(message)
        received = [await server.recv() for _ in messages]
        assert received == messages
        assert takes_bytes(server) is on_uvloop()


async def test_tls_transport_keeps_the_connection() -> None:
    async with pair(ssl=True) as (server, client):
        assert not takes_bytes(server)
        assert not takes_bytes(client)
        await client.send(bytes(2**20))
        assert await server.recv() == bytes(2**20)
        assert not takes_bytes(server)


async def test_unix_transport_takes_bytes_on_uvloop(tmp_path: Path) -> None:
    path = str(tmp_path / "ws.sock")
    accepted: asyncio.Queue[ServerConnection] = asyncio.Queue()

    async def handler(connection: ServerConnection) -> None:
        accepted.put_nowait(connection)
        async for message in connection:
            await connection.send(message)

    async with asyncio.timeout(10), unix_serve(handler, path), unix_connect(path) as client:
        server = await accepted.get()
        assert takes_bytes(server) is on_uvloop()
        assert takes_bytes(client) is on_uvloop()
        await client.send("over a Unix socket")
        assert await client.recv() == "over a Unix socket"


def test_reads_bytes_only_for_uvloops_plain_transports() -> None:
    class TCPTransport:
        """Not uvloop's, whatever its name."""

    assert not reads_bytes(TCPTransport())
    assert not reads_bytes(asyncio.Transport())


@pytest.mark.parametrize("size", [0, 1, 2**16 - 1, 2**16, 2**16 + 7])
async def test_every_size_around_the_large_frame_threshold(size: int) -> None:
    async with pair() as (server, client):
        message = bytes(size)
        await client.send(message)
        await client.send("after")
        assert await server.recv() == message
        assert await server.recv() == "after"

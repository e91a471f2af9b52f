"""Interoperability of the threading layer: with `websockets.sync` both ways, and
with the asyncio APIs of `websockets` and of this library both ways.

Messages of every kind, fragments, pings, subprotocols and closing codes,
with and without permessage-deflate.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Generator

import pytest
from sync_helpers import TIMEOUT, echo, running, start_thread, uri_of
from websockets.asyncio.client import connect as their_async_connect
from websockets.asyncio.server import ServerConnection as TheirAsyncServerConnection
from websockets.asyncio.server import serve as their_async_serve
from websockets.sync.client import connect as their_connect
from websockets.sync.server import ServerConnection as TheirServerConnection
from websockets.sync.server import serve as their_serve

from websockets_typed.asyncio.client import connect as our_async_connect
from websockets_typed.asyncio.server import ServerConnection as OurAsyncServerConnection
from websockets_typed.asyncio.server import serve as our_async_serve
from websockets_typed.frames import CloseCode
from websockets_typed.sync.client import connect
from websockets_typed.typing import Data

COMPRESSION = pytest.mark.parametrize("compression", ["deflate", None])

MESSAGES: list[Data] = ["", "hello", "café ☕ 🚀", b"", b"\x00\x01\xfe\xff", bytes(range(256)) * 8]
LARGE = 2**20


def their_echo(websocket: TheirServerConnection) -> None:
    for message in websocket:
        websocket.send(message)


@contextlib.contextmanager
def their_server(compression: str | None) -> Generator[str]:
    """Run a `websockets.sync` echo server; yield its URI."""
    with their_serve(
        their_echo, "127.0.0.1", 0, compression=compression, max_size=2 * LARGE
    ) as server:
        thread = start_thread(server.serve_forever)
        try:
            yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}/"
        finally:
            server.shutdown()
            thread.join(TIMEOUT)


@contextlib.contextmanager
def in_event_loop(
    serve_until: Callable[[list[int], asyncio.Event], Awaitable[None]],
) -> Generator[int]:
    """Run an asyncio server in a thread of its own; yield its port.

    ``serve_until(ports, stop)`` starts the server, appends its port to
    ``ports``, then serves until ``stop`` is set.
    """
    ports: list[int] = []
    loops: list[asyncio.AbstractEventLoop] = []
    stop = asyncio.Event()

    async def main() -> None:
        loops.append(asyncio.get_running_loop())
        await serve_until(ports, stop)

    thread = start_thread(asyncio.run, main())
    deadline = time.monotonic() + TIMEOUT
    while not ports:
        assert time.monotonic() < deadline
        assert thread.is_alive()
        time.sleep(0.001)
    try:
        yield ports[0]
    finally:
        loops[0].call_soon_threadsafe(stop.set)
        thread.join(TIMEOUT)
        assert not thread.is_alive()


def exchange(uri: str, compression: str | None) -> None:
    """Send every kind of message with our sync client and check the echo."""
    with connect(uri, compression="deflate" if compression else None, max_size=2 * LARGE) as ws:
        for message in MESSAGES:
            ws.send(message)
            assert ws.recv(TIMEOUT) == message
        ws.send(["frag", "ments"])
        assert ws.recv(TIMEOUT) == "fragments"
        ws.send(b"\x00" * LARGE)
        assert ws.recv(TIMEOUT) == b"\x00" * LARGE
        assert ws.ping().wait(TIMEOUT)
    assert ws.close_code == CloseCode.NORMAL_CLOSURE


@COMPRESSION
def test_our_sync_client_their_sync_server(compression: str | None) -> None:
    with their_server(compression) as uri:
        exchange(uri, compression)


@COMPRESSION
def test_their_sync_client_our_sync_server(compression: str | None) -> None:
    with (
        running(echo, compression="deflate" if compression else None, max_size=2 * LARGE) as server,
        their_connect(uri_of(server), compression=compression, max_size=2 * LARGE) as websocket,
    ):
        for message in MESSAGES:
            websocket.send(message)
            assert websocket.recv(TIMEOUT) == message
        websocket.send(["frag", "ments"])
        assert websocket.recv(TIMEOUT) == "fragments"
        websocket.send(b"\x01" * LARGE)
        assert websocket.recv(TIMEOUT) == b"\x01" * LARGE
        assert websocket.ping().wait(TIMEOUT)
        websocket.close(CloseCode.GOING_AWAY, "bye")
    assert websocket.close_code == CloseCode.GOING_AWAY


@COMPRESSION
def test_our_sync_client_their_asyncio_server(compression: str | None) -> None:
    async def handler(websocket: TheirAsyncServerConnection) -> None:
        async for message in websocket:
            await websocket.send(message)

    async def serve_until(ports: list[int], stop: asyncio.Event) -> None:
        async with their_async_serve(
            handler, "127.0.0.1", 0, compression=compression, max_size=2 * LARGE
        ) as server:
            ports.append(next(iter(server.sockets)).getsockname()[1])
            await stop.wait()

    with in_event_loop(serve_until) as port:
        exchange(f"ws://127.0.0.1:{port}/", compression)


@COMPRESSION
def test_our_sync_client_our_asyncio_server(compression: str | None) -> None:
    async def handler(websocket: OurAsyncServerConnection) -> None:
        async for message in websocket:
            await websocket.send(message)

    async def serve_until(ports: list[int], stop: asyncio.Event) -> None:
        async with our_async_serve(
            handler,
            "127.0.0.1",
            0,
            compression="deflate" if compression else None,
            max_size=2 * LARGE,
        ) as server:
            ports.append(server.sockets[0].getsockname()[1])
            await stop.wait()

    with in_event_loop(serve_until) as port:
        exchange(f"ws://127.0.0.1:{port}/", compression)


@COMPRESSION
def test_their_asyncio_client_our_sync_server(compression: str | None) -> None:
    async def client(uri: str) -> None:
        async with their_async_connect(uri, compression=compression) as websocket:
            for message in MESSAGES:
                await websocket.send(message)
                assert await websocket.recv() == message
            pong = await websocket.ping()
            await asyncio.wait_for(pong, TIMEOUT)
        assert websocket.close_code == CloseCode.NORMAL_CLOSURE

    with running(echo, compression="deflate" if compression else None) as server:
        asyncio.run(asyncio.wait_for(client(uri_of(server)), TIMEOUT))


@COMPRESSION
def test_our_asyncio_client_our_sync_server(compression: str | None) -> None:
    async def client(uri: str) -> None:
        async with our_async_connect(
            uri, compression="deflate" if compression else None
        ) as websocket:
            for message in MESSAGES:
                await websocket.send(message)
                assert await websocket.recv() == message
            await websocket.send(["a", "b"])
            assert await websocket.recv() == "ab"
            pong = await websocket.ping()
            await asyncio.wait_for(pong, TIMEOUT)
        assert websocket.close_code == CloseCode.NORMAL_CLOSURE

    with running(echo, compression="deflate" if compression else None) as server:
        asyncio.run(asyncio.wait_for(client(uri_of(server)), TIMEOUT))


def test_subprotocol_and_close_code_with_their_sync_server() -> None:
    def handler(websocket: TheirServerConnection) -> None:
        websocket.send(websocket.subprotocol or "")
        websocket.close(CloseCode.TRY_AGAIN_LATER, "later")

    with their_serve(handler, "127.0.0.1", 0, subprotocols=["chat"]) as server:  # type: ignore[list-item]
        thread = start_thread(server.serve_forever)
        try:
            uri = f"ws://127.0.0.1:{server.socket.getsockname()[1]}/"
            with connect(uri, subprotocols=["chat"]) as websocket:
                assert websocket.recv(TIMEOUT) == "chat"
                assert websocket.wait_closed(TIMEOUT)
            assert websocket.close_code == CloseCode.TRY_AGAIN_LATER
            assert websocket.close_reason == "later"
        finally:
            server.shutdown()
            thread.join(TIMEOUT)

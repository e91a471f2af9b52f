"""Faults: peers that vanish, peers that send garbage, shutdown under load, restarts.

The misbehaving peers are raw sockets, not our own client: they reset the
connection, stop reading and answering, or send bytes no WebSocket peer
would. In each case the other side detects it, frees the connection
(handler returned, removed from ``server.connections``, transport closed)
and keeps serving everyone else.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Final

import pytest
from raw_peer import (
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_TEXT,
    RawFrame,
    RawPeer,
    RawServer,
    build_frame,
    http_exchange,
    open_raw_client,
)

from websockets_typed import (
    ConnectionClosed,
    ConnectionClosedError,
    ServerConnection,
    connect,
    serve,
)
from websockets_typed.asyncio.client import TCPConnectOptions
from websockets_typed.asyncio.server import Server, TCPServeOptions
from websockets_typed.frames import Close, CloseCode
from websockets_typed.protocol import State

# Short keepalive settings, so that dead peers are found in a fraction of a second.
FAST: TCPServeOptions = {"ping_interval": 0.1, "ping_timeout": 0.2, "close_timeout": 0.2}
FAST_CLIENT: TCPConnectOptions = {"ping_interval": 0.1, "ping_timeout": 0.2, "close_timeout": 0.2}


def port_of(server: Server) -> int:
    port: int = server.sockets[0].getsockname()[1]
    return port


class Tracker:
    """A handler that records its connections and whether it is still running."""

    def __init__(self) -> None:
        self.connections: list[ServerConnection] = []
        self.running = 0
        self.exceptions: list[BaseException] = []
        self.opened = asyncio.Event()
        self.finished = asyncio.Event()

    async def __call__(self, websocket: ServerConnection) -> None:
        self.connections.append(websocket)
        self.running += 1
        self.opened.set()
        try:
            async for message in websocket:
                await websocket.send(message)
        except ConnectionClosed as exc:
            self.exceptions.append(exc)
            raise
        finally:
            self.running -= 1
            self.finished.set()


MASK: Final = b"\x01\x02\x03\x04"


def masked(opcode: int, payload: bytes, *, rsv2: bool = False) -> bytes:
    """A frame as a client sends it."""
    return build_frame(opcode, payload, rsv2=rsv2, mask_key=MASK)


async def read_frame(peer: RawPeer) -> RawFrame:
    """Read the next frame a server sends; skip pings."""
    while True:
        frame = await peer.read_frame()
        if frame.opcode != OP_PING:
            return frame


def close_code(frame: RawFrame) -> int:
    """The code of a Close frame (RFC 6455, 5.5.1)."""
    assert frame.opcode == OP_CLOSE, frame
    return int.from_bytes(frame.payload[:2], "big")


async def assert_freed(server: Server, tracker: Tracker, websocket: ServerConnection) -> None:
    """The handler returned, the connection left the server, its transport is closed."""
    async with asyncio.timeout(10):
        await websocket.wait_closed()
        while tracker.running:
            tracker.finished.clear()
            await tracker.finished.wait()
        # The task that ran the handler is gone too.
        while websocket in server._handlers:
            await asyncio.sleep(0)
    assert websocket not in server.connections
    assert websocket.state is State.CLOSED
    assert websocket.transport.is_closing()


async def assert_still_serving(server: Server) -> None:
    """Another client gets its messages echoed."""
    uri = f"ws://127.0.0.1:{port_of(server)}/echo"
    async with asyncio.timeout(10), connect(uri) as websocket:
        await websocket.send("still there?")
        assert await websocket.recv() == "still there?"


# A peer that vanishes.


@pytest.mark.parametrize("in_recv", [True, False])
async def test_peer_resets_the_connection(in_recv: bool) -> None:
    # RST instead of a closing handshake: SO_LINGER with a zero timeout.
    tracker = Tracker()

    async def idle(websocket: ServerConnection) -> None:
        if websocket.path == "/echo":
            async for message in websocket:
                await websocket.send(message)
            return
        tracker.connections.append(websocket)
        tracker.running += 1
        tracker.opened.set()
        try:
            await websocket.wait_closed()
        finally:
            tracker.running -= 1
            tracker.finished.set()

    handler = tracker if in_recv else idle
    async with serve(handler, "127.0.0.1", 0, **FAST) as server:
        peer = await open_raw_client(port_of(server))
        await tracker.opened.wait()
        (websocket,) = tracker.connections
        assert websocket in server.connections
        peer.reset()
        await assert_freed(server, tracker, websocket)
        assert websocket.close_code == CloseCode.ABNORMAL_CLOSURE
        if in_recv:
            (exc,) = tracker.exceptions
            assert isinstance(exc, ConnectionClosedError)
        await assert_still_serving(server)


async def test_reset_while_reading_is_paused_is_detected_by_keepalive() -> None:
    # The handler doesn't read: past max_queue frames, the server stops
    # reading, so it can't see the reset there; the next keepalive ping
    # fails to write instead. (Without keepalive, the connection would
    # stay until the handler reads.)
    tracker = Tracker()

    async def not_reading(websocket: ServerConnection) -> None:
        tracker.connections.append(websocket)
        tracker.running += 1
        tracker.opened.set()
        try:
            await websocket.wait_closed()
        finally:
            tracker.running -= 1
            tracker.finished.set()

    options: TCPServeOptions = {**FAST, "max_queue": 4}
    async with serve(not_reading, "127.0.0.1", 0, **options) as server:
        peer = await open_raw_client(port_of(server))
        await tracker.opened.wait()
        (websocket,) = tracker.connections
        peer.writer.write(b"".join(masked(OP_TEXT, b"x" * 1000) for _ in range(64)))
        async with asyncio.timeout(10):
            while not websocket._reading_paused:
                await asyncio.sleep(0.01)
        peer.reset()
        await assert_freed(server, tracker, websocket)
        assert websocket.close_code == CloseCode.ABNORMAL_CLOSURE


async def test_silent_peer_is_detected_by_keepalive(caplog: pytest.LogCaptureFixture) -> None:
    # Half-open: the peer stops reading and answering, without closing.
    caplog.set_level(logging.INFO, logger="websockets_typed.server")
    tracker = Tracker()
    async with serve(tracker, "127.0.0.1", 0, **FAST) as server:
        peer = await open_raw_client(port_of(server))
        peer.stop_reading()
        await tracker.opened.wait()
        (websocket,) = tracker.connections
        await assert_freed(server, tracker, websocket)
        messages = [record.getMessage() for record in caplog.records]
        assert "keepalive ping timeout; closing connection" in messages
        assert "closing handshake timed out; aborting connection" in messages
        # The server sent a Close frame with 1011 before giving up.
        assert websocket.protocol.close_sent == Close(
            CloseCode.INTERNAL_ERROR, "keepalive ping timeout"
        )
        assert websocket.close_code == CloseCode.ABNORMAL_CLOSURE
        await assert_still_serving(server)
        await peer.close()


async def test_silent_server_is_detected_by_client_keepalive() -> None:
    # The client side of a half-open connection: the server answers the
    # handshake, then goes silent.
    raw = RawServer()
    await raw.start()
    try:
        async with asyncio.timeout(10):
            connecting = asyncio.ensure_future(connect(raw.uri, **FAST_CLIENT))
            peer = await raw.accept()
            peer.stop_reading()
            websocket = await connecting
            with pytest.raises(ConnectionClosedError) as raised:
                await websocket.recv()
        assert raised.value.sent == Close(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
        assert raised.value.rcvd is None
        assert websocket.state is State.CLOSED
        assert websocket.transport.is_closing()
    finally:
        await raw.close()


# A peer that sends garbage.


@pytest.mark.parametrize(
    ("garbage", "code"),
    [
        (b"\x81\x05hello", CloseCode.PROTOCOL_ERROR),  # unmasked
        (b"\x83\x80abcd", CloseCode.PROTOCOL_ERROR),  # reserved opcode
        (masked(OP_CONT, b"orphan"), CloseCode.PROTOCOL_ERROR),
        (masked(OP_PING, bytes(126)), CloseCode.PROTOCOL_ERROR),
        (masked(OP_TEXT, b"\xc3\x28"), CloseCode.INVALID_DATA),
        (masked(OP_TEXT, b"x", rsv2=True), CloseCode.PROTOCOL_ERROR),
        # Only the header: the length alone is enough to refuse it.
        (b"\x82\xff" + (2**20 + 1).to_bytes(8, "big") + b"abcd", CloseCode.MESSAGE_TOO_BIG),
        (b"\x82\xff" + b"\xff" * 8 + b"abcd", CloseCode.PROTOCOL_ERROR),  # length > 2**63
    ],
    ids=["unmasked", "opcode", "continuation", "long ping", "utf-8", "rsv2", "too big", "length"],
)
async def test_garbage_closes_with_the_right_code(garbage: bytes, code: CloseCode) -> None:
    tracker = Tracker()
    async with serve(tracker, "127.0.0.1", 0) as server:
        # A well-behaved client stays connected throughout.
        async with asyncio.timeout(10), connect(f"ws://127.0.0.1:{port_of(server)}/") as good:
            await tracker.opened.wait()
            tracker.opened.clear()
            peer = await open_raw_client(port_of(server))
            await tracker.opened.wait()
            bad = tracker.connections[-1]
            await peer.send(garbage)
            assert close_code(await read_frame(peer)) == code
            # The server closes the TCP connection after its Close frame.
            await peer.expect_eof()
            await peer.close()
            await assert_freed_connection(server, bad)
            await good.send("unaffected")
            assert await good.recv() == "unaffected"
        await assert_still_serving(server)


async def assert_freed_connection(server: Server, websocket: ServerConnection) -> None:
    async with asyncio.timeout(10):
        await websocket.wait_closed()
        while websocket in server._handlers:
            await asyncio.sleep(0)
    assert websocket not in server.connections
    assert websocket.transport.is_closing()


@pytest.mark.parametrize(
    ("garbage", "answer"),
    [
        # An incomplete request line: no answer, the connection just closes.
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b""),
        (b"SSH-2.0-OpenSSH_9.2\r\n", b"HTTP/1.1 400 Bad Request\r\n"),
        (b"\r\n\r\n", b"HTTP/1.1 400 Bad Request\r\n"),
        (b"POST / HTTP/1.1\r\n\r\n", b"HTTP/1.1 405 Method Not Allowed\r\n"),
    ],
    ids=["tls hello", "ssh", "empty lines", "post"],
)
async def test_garbage_instead_of_a_handshake(garbage: bytes, answer: bytes) -> None:
    tracker = Tracker()
    async with serve(tracker, "127.0.0.1", 0) as server:
        async with asyncio.timeout(10):
            response = await http_exchange(port_of(server), garbage, half_close=True, timeout=10)
        assert response.startswith(answer)
        assert bool(response) is bool(answer)
        await assert_still_serving(server)
    assert len(tracker.connections) == 1  # only the well-behaved client


async def test_many_bad_peers_at_once() -> None:
    # Garbage from many peers at the same time doesn't disturb a good one.
    tracker = Tracker()
    async with serve(tracker, "127.0.0.1", 0) as server:
        port = port_of(server)
        async with asyncio.timeout(20), connect(f"ws://127.0.0.1:{port}/") as good:

            async def bad_peer(index: int) -> int:
                peer = await open_raw_client(port)
                # A text frame, then one with a reserved opcode.
                await peer.send(masked(OP_TEXT, b"ok") + masked(0xF, b""))
                frame = await read_frame(peer)
                if frame.opcode == OP_TEXT:  # the echo, if it was quick
                    frame = await read_frame(peer)
                await peer.close()
                return close_code(frame)

            bad = [asyncio.create_task(bad_peer(index)) for index in range(50)]
            for index in range(50):
                await good.send(f"message {index}")
                assert await good.recv() == f"message {index}"
            assert await asyncio.gather(*bad) == [CloseCode.PROTOCOL_ERROR] * 50
        async with asyncio.timeout(10):
            while len(server._handlers) > 0:
                await asyncio.sleep(0.01)
    assert tracker.running == 0


# Closing the server under load.


async def test_server_close_under_load_loses_nothing() -> None:
    # Every message whose send() returned before the client saw the server's
    # Close frame reaches the handler; then every handler returns.
    received: dict[str, list[str]] = {}
    running: set[str] = set()

    async def count(websocket: ServerConnection) -> None:
        name = websocket.path
        running.add(name)
        try:
            async for message in websocket:
                assert isinstance(message, str)
                received.setdefault(name, []).append(message)
        finally:
            running.discard(name)

    sent: dict[str, list[str]] = {}
    close_codes: list[int | None] = []
    clients = 20

    async def client(port: int, index: int, started: asyncio.Event) -> None:
        name = f"/client/{index}"
        messages = sent.setdefault(name, [])
        async with connect(f"ws://127.0.0.1:{port}{name}") as websocket:
            number = 0
            try:
                while True:
                    message = f"{index}:{number}"
                    await websocket.send(message)
                    messages.append(message)  # send() returned
                    number += 1
                    if number == 50:
                        started.set()
                    if number % 10 == 0:
                        await asyncio.sleep(0)
            except ConnectionClosed as exc:
                close_codes.append(None if exc.rcvd is None else exc.rcvd.code)

    async with asyncio.timeout(30):
        server = await serve(count, "127.0.0.1", 0)
        port = port_of(server)
        events = [asyncio.Event() for _ in range(clients)]
        tasks = [
            asyncio.create_task(client(port, index, events[index])) for index in range(clients)
        ]
        for event in events:
            await event.wait()
        server.close()
        await server.wait_closed()
        await asyncio.gather(*tasks)

    assert close_codes == [CloseCode.GOING_AWAY] * clients
    assert not running, f"handlers still running: {running}"
    assert not server._handlers
    assert sorted(sent) == sorted(received)
    total = 0
    for name, messages in sent.items():
        assert received[name] == messages, name
        total += len(messages)
    assert total >= 50 * clients


# Reconnecting across a server restart.


@asynccontextmanager
async def fast_backoff() -> AsyncGenerator[None]:
    saved = (
        connect.BACKOFF_INITIAL_DELAY,
        connect.BACKOFF_MIN_DELAY,
        connect.BACKOFF_FACTOR,
        connect.BACKOFF_MAX_DELAY,
    )
    connect.BACKOFF_INITIAL_DELAY = 0.01
    connect.BACKOFF_MIN_DELAY = 0.02
    connect.BACKOFF_FACTOR = 2.0
    connect.BACKOFF_MAX_DELAY = 0.1
    try:
        yield
    finally:
        (
            connect.BACKOFF_INITIAL_DELAY,
            connect.BACKOFF_MIN_DELAY,
            connect.BACKOFF_FACTOR,
            connect.BACKOFF_MAX_DELAY,
        ) = saved


async def _stop_gracefully(server: Server) -> None:
    server.close()
    await server.wait_closed()


async def _stop_abruptly(server: Server) -> None:
    # As if the process died: connections vanish without a closing handshake.
    server.server.close()
    for websocket in list(server._handlers):
        websocket.transport.abort()
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize("stop", [_stop_gracefully, _stop_abruptly], ids=["graceful", "abrupt"])
async def test_client_survives_a_server_restart(
    stop: Callable[[Server], Awaitable[None]],
) -> None:
    generation = 0

    async def hello(websocket: ServerConnection) -> None:
        await websocket.send(f"generation {generation}")
        await websocket.wait_closed()

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    received: list[str] = []
    restarted = asyncio.Event()

    async def restart() -> None:
        nonlocal generation
        generation = 1
        server = await serve(hello, "127.0.0.1", port)
        while not received:
            await asyncio.sleep(0.01)
        await stop(server)
        # Down for a while: the client's attempts are refused meanwhile.
        await asyncio.sleep(0.2)
        generation = 2
        server = await serve(hello, "127.0.0.1", port)
        restarted.set()
        while len(received) < 2:
            await asyncio.sleep(0.01)
        await stop(server)

    async with asyncio.timeout(20), fast_backoff():
        restarter = asyncio.create_task(restart())
        while generation == 0:
            await asyncio.sleep(0)
        async for websocket in connect(f"ws://127.0.0.1:{port}/", open_timeout=2):
            try:
                async for message in websocket:
                    assert isinstance(message, str)
                    received.append(message)
                    if len(received) == 2:
                        break
            except ConnectionClosed:
                continue
            if len(received) == 2:
                break
        await restarter
    assert restarted.is_set()
    assert received == ["generation 1", "generation 2"]

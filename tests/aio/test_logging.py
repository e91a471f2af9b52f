"""Logs an operator can use, checked over real connections on loopback.

At INFO, the server logs how each connection closed, with the code and the
reason, abnormal closures included. At DEBUG, received frames are logged as
the application gets them: decompressed. A timeout of :func:`connect` says
what timed out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Unpack

import pytest
from raw_peer import RawPeer, RawServer, open_raw_client

from websockets_typed import ClientConnection, ConnectionClosed, InvalidStatus, connect, serve
from websockets_typed.asyncio.server import Server, ServerConnection, TCPServeOptions
from websockets_typed.datastructures import HeadersLike


class Closed(logging.Handler):
    """Collects "connection closed" records of the server; wakes a waiter."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []
        self.event = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("connection closed with code"):
            self.records.append(record)
            self.event.set()

    async def first(self) -> logging.LogRecord:
        async with asyncio.timeout(5):
            await self.event.wait()
        return self.records[0]


SERVER_LOGGER = logging.getLogger("websockets_typed.server")


async def wait_closed(websocket: ServerConnection) -> None:
    """A handler that waits for the client to close."""
    await websocket.wait_closed()


async def start(**options: Unpack[TCPServeOptions]) -> tuple[Server, int]:
    server = await serve(wait_closed, "127.0.0.1", 0, **options)
    return server, server.sockets[0].getsockname()[1]


@pytest.fixture
async def closed(caplog: pytest.LogCaptureFixture) -> AsyncIterator[Closed]:
    caplog.set_level(logging.INFO, logger="websockets_typed")
    handler = Closed()
    SERVER_LOGGER.addHandler(handler)
    try:
        yield handler
    finally:
        SERVER_LOGGER.removeHandler(handler)


async def stop(server: Server, peer: RawPeer | None = None) -> None:
    if peer is not None:
        peer.writer.transport.abort()
    server.close()
    await server.wait_closed()


async def test_normal_close_is_logged_with_code_and_reason(closed: Closed) -> None:
    server, port = await start()
    async with connect(f"ws://127.0.0.1:{port}/") as websocket:
        await websocket.close(4000, "bye now")
    record = await closed.first()
    await stop(server)
    assert record.levelno == logging.INFO
    assert record.getMessage() == (
        "connection closed with code 4000: received 4000 (private use) bye now; "
        "then sent 4000 (private use) bye now"
    )
    # The record says which connection it is about.
    assert hasattr(record, "connection_id")


async def test_protocol_error_is_logged(closed: Closed) -> None:
    server, port = await start(close_timeout=0.1)
    peer = await open_raw_client(port)
    # RFC 6455, 5.1: a client must mask its frames; the server fails with 1002.
    peer.writer.write(peer.frame(0x1, b"unmasked", masked=False))
    record = await closed.first()
    await stop(server, peer)
    assert record.levelno == logging.INFO
    assert "sent 1002 (protocol error)" in record.getMessage()


async def test_abnormal_close_is_logged(closed: Closed) -> None:
    server, port = await start()
    peer = await open_raw_client(port)
    # The TCP connection ends without a Close frame.
    peer.writer.transport.abort()
    record = await closed.first()
    await stop(server)
    assert record.getMessage() == (
        "connection closed with code 1006: no close frame received or sent"
    )


async def test_keepalive_timeout_is_logged(closed: Closed) -> None:
    # The raw client never answers Pings.
    server, port = await start(ping_interval=0.05, ping_timeout=0.05, close_timeout=0.1)
    peer = await open_raw_client(port)
    record = await closed.first()
    await stop(server, peer)
    assert record.getMessage() == (
        "connection closed with code 1006: "
        "sent 1011 (internal error) keepalive ping timeout; no close frame received"
    )


async def test_rejected_handshake_is_not_logged_as_a_close(
    closed: Closed, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="websockets_typed.server")
    server, port = await start()
    with pytest.raises(InvalidStatus, match="400"):
        await connect(f"ws://127.0.0.1:{port}/", additional_headers={"Sec-WebSocket-Version": "8"})
    await stop(server)
    # The rejection was logged at INFO; the end of the connection at DEBUG.
    assert closed.records == []
    assert any(message.startswith("connection closed: ") for message in caplog.messages)


async def test_received_frames_are_logged_decompressed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="websockets_typed.server")
    received: asyncio.Queue[str | bytes] = asyncio.Queue()

    async def handler(websocket: ServerConnection) -> None:
        try:
            async for message in websocket:
                received.put_nowait(message)
        except ConnectionClosed:  # pragma: no cover
            pass

    text = "compress me " * 10
    async with (
        serve(handler, "127.0.0.1", 0) as server,
        connect(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/") as websocket,
    ):
        assert websocket.response is not None
        assert "permessage-deflate" in websocket.response.headers["Sec-WebSocket-Extensions"]
        await websocket.send(text)
        assert await received.get() == text
    frames = [
        record.getMessage()
        for record in caplog.records
        if record.name == "websockets_typed.server" and record.getMessage().startswith("< TEXT")
    ]
    assert len(frames) == 1
    assert "compress me compress me" in frames[0]
    assert frames[0].endswith(f"[{len(text)} bytes]")


async def test_connect_timeout_says_what_timed_out() -> None:
    done = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Accepts the TCP connection, never answers the handshake.
        await reader.read()
        done.set()

    async with RawServer(respond=silent) as server:
        with pytest.raises(TimeoutError, match=r"^timed out during opening handshake$"):
            await connect(server.uri, open_timeout=0.2)
        # The client aborted the connection: the server's side ends.
        async with asyncio.timeout(5):
            await done.wait()


async def test_other_timeouts_keep_their_message() -> None:
    """Only the timeout of open_timeout is reworded; others pass through."""

    class SlowNetwork(ClientConnection):
        async def handshake(
            self,
            additional_headers: HeadersLike | None = None,
            user_agent_header: str | None = None,
        ) -> None:
            raise TimeoutError("the system gave up")

    async with serve(wait_closed, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(TimeoutError, match=r"^the system gave up$"):
            await connect(f"ws://127.0.0.1:{port}/", create_connection=SlowNetwork)

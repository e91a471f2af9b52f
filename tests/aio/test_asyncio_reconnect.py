"""Reconnection with ``async for websocket in connect(...)``: what it retries.

Servers that aren't WebSocket servers make it raise at once, since the next
try would fail the same way; network errors, timeouts, connections closed
before the response and 5xx responses make it retry, logging each retry on
the ``logger`` given to :func:`connect`. Every peer is a real server on
loopback: raw servers (tests/raw_peer.py) for the ones that don't speak WebSocket.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from raw_peer import RawServer, Respond

from websockets_typed import InvalidMessage, InvalidStatus, connect, serve
from websockets_typed.asyncio.server import ServerConnection
from websockets_typed.http11 import Request, Response


class Records(logging.Handler):
    """Collects the records that say the client will reconnect."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "reconnecting" in record.getMessage():
            self.records.append(record)


@pytest.fixture
def retries(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[logging.LogRecord]]:
    """Records of retries, on any logger; tiny reconnection delays."""
    monkeypatch.setattr(connect, "BACKOFF_INITIAL_DELAY", 0.01)
    monkeypatch.setattr(connect, "BACKOFF_MIN_DELAY", 0.01)
    monkeypatch.setattr(connect, "BACKOFF_MAX_DELAY", 0.01)
    caplog.set_level(logging.INFO)
    handler = Records()
    logging.getLogger().addHandler(handler)
    try:
        yield handler.records
    finally:
        logging.getLogger().removeHandler(handler)


APP_LOGGER = logging.getLogger("app.client")


async def first_message(uri: str) -> str | bytes:
    """Iterate over connect() until a connection yields a message, or raise."""
    async with asyncio.timeout(10):
        async for websocket in connect(uri, logger=APP_LOGGER):
            return await websocket.recv()
    raise AssertionError("unreachable")  # pragma: no cover


async def http10(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An HTTP/1.0 web server: it answers any request with a page."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<h1>It works</h1>\n")


async def ssh(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A service that doesn't speak HTTP: it greets first, then waits."""
    writer.write(b"SSH-2.0-OpenSSH_9.6\r\n")
    await reader.read()


async def forbidden(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\nForbidden\n")


@pytest.mark.parametrize(
    ("respond", "error"),
    [(http10, InvalidMessage), (ssh, InvalidMessage), (forbidden, InvalidStatus)],
    ids=["http-1.0", "not-http", "403"],
)
async def test_not_a_websocket_server_raises_at_once(
    respond: Respond, error: type[Exception], retries: list[logging.LogRecord]
) -> None:
    async with RawServer(respond=respond) as raw:
        with pytest.raises(error):
            await first_message(raw.uri)
    assert raw.connections == 1
    assert retries == []


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A server going down: it closes the connection without answering."""
    await reader.readuntil(b"\r\n\r\n")


async def test_connection_closed_before_response_is_retried(
    retries: list[logging.LogRecord],
) -> None:
    async with RawServer(respond=hang_up) as raw:
        client = asyncio.create_task(first_message(raw.uri))
        async with asyncio.timeout(5):
            while await raw.counted.get() < 3:
                pass
        client.cancel()
        with pytest.raises(asyncio.CancelledError):
            await client
    assert len(retries) >= 2
    assert {record.name for record in retries} == {"app.client"}
    assert "connection closed while reading HTTP status line" in retries[0].getMessage()


async def test_5xx_is_retried_until_the_server_accepts(
    retries: list[logging.LogRecord],
) -> None:
    requests = 0

    def unavailable_once(connection: ServerConnection, request: Request) -> Response | None:
        nonlocal requests
        requests += 1
        if requests == 1:
            return connection.respond(503, "Starting up.\n")
        return None

    async def hello(websocket: ServerConnection) -> None:
        await websocket.send("hello")

    async with serve(hello, "127.0.0.1", 0, process_request=unavailable_once) as server:
        port = server.sockets[0].getsockname()[1]
        assert await first_message(f"ws://127.0.0.1:{port}/") == "hello"
    assert requests == 2
    [retry] = retries
    assert retry.name == "app.client"
    assert retry.levelno == logging.INFO
    assert "503" in retry.getMessage()

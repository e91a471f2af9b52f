"""The test server's endpoints, from our client and from ``websockets``' client.

The server runs in-process (``create_test_server`` on a free port); the
command line that runs it is tested in tests/tools/test_testserver_cli.py. Each
endpoint is exercised from both clients through :class:`Peer`, a small
adapter, so that a behaviour that only our own client accepts would show.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import sys
import time
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Literal, TypeAlias

import pytest
import websockets.asyncio.client
import websockets.exceptions
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from raw_peer import http_exchange, http_request, parse_response

from websockets_typed import (
    ClientConnection,
    ConnectionClosed,
    InvalidStatus,
    Server,
    connect,
)
from websockets_typed.testserver import create_test_server
from websockets_typed.testserver._endpoints import ENDPOINTS, MAX_COUNT, payload
from websockets_typed.testserver._query import BadRequest, Query
from websockets_typed.testserver._tls import MissingCryptography, self_signed_context
from websockets_typed.typing import Data

MAX_SIZE = 4096

Library: TypeAlias = Literal["ours", "websockets"]


class Peer:
    """A client connection of either library, with the few methods the tests need."""

    def __init__(
        self,
        ours: ClientConnection | None,
        theirs: websockets.asyncio.client.ClientConnection | None,
    ) -> None:
        self.ours = ours
        self.theirs = theirs

    async def send(self, message: Data) -> None:
        if self.ours is not None:
            await self.ours.send(message)
        else:
            assert self.theirs is not None
            await self.theirs.send(message)

    async def recv(self) -> Data:
        async with asyncio.timeout(10):
            if self.ours is not None:
                return await self.ours.recv()
            assert self.theirs is not None
            return await self.theirs.recv()

    async def recv_json(self) -> Any:
        message = await self.recv()
        assert isinstance(message, str)
        return json.loads(message)

    async def recv_all(self) -> tuple[list[Data], int | None, str | None]:
        """Receive until the server closes; return messages, close code and reason."""
        messages: list[Data] = []
        async with asyncio.timeout(10):
            try:
                while True:
                    messages.append(await self.recv())
            except (ConnectionClosed, websockets.exceptions.ConnectionClosed):
                pass
        connection = self.ours or self.theirs
        assert connection is not None
        return messages, connection.close_code, connection.close_reason

    @property
    def subprotocol(self) -> str | None:
        connection = self.ours or self.theirs
        assert connection is not None
        return connection.subprotocol


class Server_:
    """The test server under test, and how to reach it from each library."""

    def __init__(self, server: Server, library: Library) -> None:
        self.port = server.sockets[0].getsockname()[1]
        self.library = library

    def url(self, path: str, userinfo: str = "") -> str:
        return f"ws://{userinfo}127.0.0.1:{self.port}{path}"

    async def _connect(
        self, path: str, subprotocols: Sequence[str] | None, headers: dict[str, str] | None
    ) -> Peer:
        url = self.url(path)
        if self.library == "ours":
            return Peer(
                await connect(url, subprotocols=subprotocols, additional_headers=headers), None
            )
        theirs = await websockets.asyncio.client.connect(
            url,
            subprotocols=None
            if subprotocols is None
            else [*map(websockets.Subprotocol, subprotocols)],
            additional_headers=headers,
        )
        return Peer(None, theirs)

    async def open(
        self,
        path: str,
        subprotocols: Sequence[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Peer:
        """Connect to ``path``; the test closes it with :meth:`close`, or the server does."""
        async with asyncio.timeout(10):
            return await self._connect(path, subprotocols, headers)

    async def refused(
        self,
        path: str,
        subprotocols: Sequence[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        """Connect to ``path``, expecting a refusal; return its status and body."""
        try:
            async with asyncio.timeout(10):
                peer = await self._connect(path, subprotocols, headers)
        except InvalidStatus as exc:
            return exc.response.status_code, (exc.response.body or b"").decode()
        except websockets.exceptions.InvalidStatus as exc:
            return exc.response.status_code, exc.response.body.decode()
        raise AssertionError(f"{path} accepted the handshake: {peer}")


async def close(peer: Peer) -> None:
    connection = peer.ours or peer.theirs
    assert connection is not None
    await connection.close()


@pytest.fixture(params=["ours", "websockets"])
async def server(request: pytest.FixtureRequest) -> AsyncIterator[Server_]:
    """The test server with small limits, subprotocols and credentials."""
    async with create_test_server(
        "127.0.0.1",
        0,
        max_size=MAX_SIZE,
        subprotocols=["chat", "json"],
        credentials=("alice", "s3cret"),
    ) as running:
        yield Server_(running, request.param)


@pytest.fixture
async def plain_server() -> AsyncIterator[Server_]:
    """The test server with its defaults, for our client."""
    async with create_test_server("127.0.0.1", 0) as running:
        yield Server_(running, "ours")


# One test per endpoint and client, then its bad parameters.


@pytest.mark.parametrize("path", ["/", "/echo", "/echo?"])
async def test_echo(server: Server_, path: str) -> None:
    peer = await server.open(path)
    await peer.send("text")
    assert await peer.recv() == "text"
    await peer.send(b"\x00\xff")
    assert await peer.recv() == b"\x00\xff"
    await close(peer)


async def test_chat_rooms(server: Server_) -> None:
    alice = await server.open("/chat/room-1")
    assert await alice.recv() == "* 1 connected"
    bob = await server.open("/chat/room-1")
    assert await alice.recv() == "* 2 connected"
    assert await bob.recv() == "* 2 connected"
    # Another room hears nothing of this one.
    carol = await server.open("/chat/room-2")
    assert await carol.recv() == "* 1 connected"
    await alice.send("Hello, Bob!")
    assert await bob.recv() == "Hello, Bob!"
    assert await alice.recv() == "Hello, Bob!"
    await close(bob)
    assert await alice.recv() == "* 1 connected"
    await carol.send("alone")
    assert await carol.recv() == "alone"
    await close(alice)
    await close(carol)


@pytest.mark.parametrize("path", ["/chat", "/chat/"])
async def test_chat_lobby(server: Server_, path: str) -> None:
    first = await server.open(path)
    assert await first.recv() == "* 1 connected"
    second = await server.open("/chat/lobby")
    assert await first.recv() == "* 2 connected"
    await close(second)
    await close(first)


@pytest.mark.parametrize("room", ["a" * 65, "sp%20ace", "%C3%A9"])
async def test_chat_bad_room(server: Server_, room: str) -> None:
    assert await server.refused(f"/chat/{room}") == (
        400,
        "a room name has 1 to 64 letters, digits, '-', '_' or '.'\n",
    )


@pytest.mark.parametrize(
    ("query", "code", "reason"),
    [("", 1000, ""), ("?code=4001&reason=bye%20now", 4001, "bye now"), ("?code=1011", 1011, "")],
)
async def test_close(server: Server_, query: str, code: int, reason: str) -> None:
    peer = await server.open(f"/close{query}")
    assert await peer.recv_all() == ([], code, reason)


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("code=1005", "code=1005 may not be sent in a Close frame (RFC 6455, 7.4)"),
        ("code=999", "code=999 may not be sent in a Close frame (RFC 6455, 7.4)"),
        ("code=5000", "code=5000 is above the server's limit of 4999"),
        ("code=-1", "code=-1 is below the minimum of 0"),
        ("code=1e3", "code must be an integer, not '1e3'"),
        ("code=%201000", "code must be an integer, not ' 1000'"),
        (f"reason={'x' * 124}", "reason is longer than 123 bytes"),
        ("code=1000&code=1001", "parameter code is given more than once"),
        ("cose=1000", "unknown parameter: cose"),
        ("code", "code must be an integer, not ''"),
        (
            "reason=%FF",
            "invalid query string: 'utf-8' codec can't decode byte 0xff in position 0: "
            "invalid start byte",
        ),
    ],
)
async def test_close_bad_parameters(server: Server_, query: str, error: str) -> None:
    assert await server.refused(f"/close?{query}") == (400, f"{error}\n")


@pytest.mark.parametrize("status", [200, 302, 403, 418, 500, 503, 599])
async def test_status(server: Server_, status: int) -> None:
    assert await server.refused(f"/status/{status}") == (
        status,
        f"Refused with {status}, as requested.\n",
    )


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("", "/status/{code} takes an HTTP status from 200 to 599, not ''"),
        ("101", "/status/{code} takes an HTTP status from 200 to 599, not '101'"),
        ("600", "/status/{code} takes an HTTP status from 200 to 599, not '600'"),
        ("abc", "/status/{code} takes an HTTP status from 200 to 599, not 'abc'"),
        ("204", "status 204 has no body: choose another"),
        ("304", "status 304 has no body: choose another"),
    ],
)
async def test_status_bad_code(server: Server_, code: str, error: str) -> None:
    assert await server.refused(f"/status/{code}") == (400, f"{error}\n")


@pytest.mark.parametrize("status", ["", "&status=301", "&status=307", "&status=308"])
async def test_redirect(server: Server_, status: str) -> None:
    # Both clients follow redirects, here to /headers, which shows where they arrived.
    peer = await server.open(f"/redirect?to=/headers%3Fafter{status}")
    report = await peer.recv_json()
    assert report["path"] == "/headers?after"
    await close(peer)


async def test_redirect_to_a_url(server: Server_) -> None:
    target = urllib.parse.quote(server.url("/echo"), safe="")
    peer = await server.open(f"/redirect?to={target}")
    await peer.send("there")
    assert await peer.recv() == "there"
    await close(peer)


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("to=echo", "to must be a path starting with / or a ws, wss, http or https URL"),
        ("to=//evil.example", "to must be a path starting with / or a ws, wss, http or https URL"),
        ("to=ftp://x", "to must be a path starting with / or a ws, wss, http or https URL"),
        ("to=/a%20b", "to must not contain spaces or control characters"),
        ("to=/a%0D%0Ab", "to must not contain spaces or control characters"),
        ("to=/" + "a" * 2000, "to is longer than 2000 bytes"),
        ("status=304", "status must be 301, 302, 303, 307 or 308, not 304"),
        ("status=300", "status=300 is below the minimum of 301"),
    ],
)
async def test_redirect_bad_parameters(server: Server_, query: str, error: str) -> None:
    assert await server.refused(f"/redirect?{query}") == (400, f"{error}\n")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["abcdefghijklmnop"]),
        ("?count=3&size=5&type=binary", [b"\x00\x01\x02\x03\x04"] * 3),
        ("?count=2&size=0", ["", ""]),
        ("?count=0", []),
        (f"?size={MAX_SIZE}&type=text", [payload("text", MAX_SIZE)]),
        ("?count=3&size=1&interval=20", ["a"] * 3),
    ],
)
async def test_send(server: Server_, query: str, expected: list[Data]) -> None:
    started = time.monotonic()
    peer = await server.open(f"/send{query}")
    assert await peer.recv_all() == (expected, 1000, f"sent {len(expected)} messages")
    if "interval=20" in query:
        # Two intervals between three messages: never less.
        assert time.monotonic() - started >= 0.04


def test_payloads() -> None:
    assert payload("text", 70) == (
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefgh"
    )
    assert payload("binary", 300) == bytes(range(256)) + bytes(range(44))


@pytest.mark.parametrize(
    ("query", "error"),
    [
        (
            f"size={MAX_SIZE + 1}",
            f"size={MAX_SIZE + 1} is above the server's limit of {MAX_SIZE} (--max-size)",
        ),
        (
            f"count={MAX_COUNT + 1}",
            f"count={MAX_COUNT + 1} is above the server's limit of {MAX_COUNT}",
        ),
        ("type=utf8", "type must be one of text, binary, not 'utf8'"),
        ("interval=60001", "interval=60001 is above the server's limit of 60000"),
        ("count=x", "count must be an integer, not 'x'"),
    ],
)
async def test_send_bad_parameters(server: Server_, query: str, error: str) -> None:
    assert await server.refused(f"/send?{query}") == (400, f"{error}\n")


@pytest.mark.parametrize(
    ("query", "expected", "frames"),
    [
        ("", payload("text", 1024), 4),
        ("?size=10&frames=3&type=binary", bytes(range(10)), 3),
        ("?size=2&frames=5", "ab", 5),
        ("?size=0&frames=1", "", 1),
    ],
)
async def test_fragment(server: Server_, query: str, expected: Data, frames: int) -> None:
    peer = await server.open(f"/fragment{query}")
    assert await peer.recv_all() == ([expected], 1000, f"sent {frames} frames")


async def test_fragment_frames(plain_server: Server_) -> None:
    # Our client yields the message frame by frame: data in the first ones,
    # then the empty final frame.
    async with connect(plain_server.url("/fragment?size=10&frames=4")) as websocket:
        fragments = [fragment async for fragment in websocket.recv_streaming()]
    assert fragments == ["abc", "def", "ghij", ""]


@pytest.mark.parametrize(
    ("query", "error"),
    [
        (
            f"size={MAX_SIZE + 1}",
            f"size={MAX_SIZE + 1} is above the server's limit of {MAX_SIZE} (--max-size)",
        ),
        ("frames=0", "frames=0 is below the minimum of 1"),
        ("frames=1001", "frames=1001 is above the server's limit of 1000"),
    ],
)
async def test_fragment_bad_parameters(server: Server_, query: str, error: str) -> None:
    assert await server.refused(f"/fragment?{query}") == (400, f"{error}\n")


async def test_delay(server: Server_) -> None:
    peer = await server.open("/delay?ms=50")
    started = time.monotonic()
    await peer.send("later")
    assert await peer.recv() == "later"
    assert time.monotonic() - started >= 0.05
    await close(peer)


async def test_delay_bad_parameters(server: Server_) -> None:
    assert await server.refused("/delay?ms=60001") == (
        400,
        "ms=60001 is above the server's limit of 60000\n",
    )


async def test_ping(server: Server_) -> None:
    peer = await server.open("/ping?interval=10")
    for number in (1, 2, 3):
        report = await peer.recv_json()
        assert report["ping"] == number
        assert isinstance(report["latency_ms"], float | int)
        assert report["latency_ms"] >= 0
    # It echoes too (between reports).
    await peer.send("still here")
    while (message := await peer.recv()) != "still here":
        assert isinstance(message, str)
        assert message.startswith('{"ping"')
    await close(peer)


async def test_ping_bad_parameters(server: Server_) -> None:
    assert await server.refused("/ping?interval=9") == (
        400,
        "interval=9 is below the minimum of 10\n",
    )


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [(["json"], "json"), (["xml", "json", "chat"], "chat")],
)
async def test_subprotocol(server: Server_, offered: list[str], chosen: str) -> None:
    peer = await server.open("/subprotocol", subprotocols=offered)
    assert peer.subprotocol == chosen
    assert await peer.recv_json() == {
        "subprotocol": chosen,
        "offered": offered,
        "supported": ["chat", "json"],
    }
    await peer.send("echo")
    assert await peer.recv() == "echo"
    await close(peer)


@pytest.mark.parametrize("offered", [None, ["xml"]])
async def test_subprotocol_required(server: Server_, offered: list[str] | None) -> None:
    status, body = await server.refused("/subprotocol", subprotocols=offered)
    assert status == 400
    assert "offer one of these subprotocols: chat, json" in body


async def test_subprotocol_optional_elsewhere(server: Server_) -> None:
    # Other endpoints accept a subprotocol but don't require one.
    peer = await server.open("/echo", subprotocols=["xml"])
    assert peer.subprotocol is None
    await close(peer)
    peer = await server.open("/echo", subprotocols=["json"])
    assert peer.subprotocol == "json"
    await close(peer)


async def test_subprotocol_without_any(plain_server: Server_) -> None:
    peer = await plain_server.open("/subprotocol", subprotocols=["chat"])
    assert peer.subprotocol is None
    assert await peer.recv_json() == {"subprotocol": None, "offered": ["chat"], "supported": []}
    await close(peer)


async def test_headers(server: Server_) -> None:
    peer = await server.open("/headers?x=1", headers={"X-Test": "yes", "Cookie": "a=1"})
    report = await peer.recv_json()
    assert report["path"] == "/headers?x=1"
    assert report["query"] == {"x": "1"}
    headers: dict[str, str] = report["headers"]
    assert headers["X-Test"] == "yes"
    assert headers["Cookie"] == "a=1"
    assert headers["Upgrade"] == "websocket"
    assert headers["Sec-WebSocket-Version"] == "13"
    await peer.send("echo")
    assert await peer.recv() == "echo"
    await close(peer)


async def test_headers_repeated(plain_server: Server_) -> None:
    headers = [("X-Twice", "one"), ("X-Twice", "two")]
    async with connect(plain_server.url("/headers"), additional_headers=headers) as websocket:
        report = json.loads(await websocket.recv(decode=True))
    # RFC 9110, 5.3: repeated fields combine, separated by commas.
    assert report["headers"]["X-Twice"] == "one, two"


def basic(credentials: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


async def test_auth(server: Server_) -> None:
    peer = await server.open("/auth", headers=basic("alice:s3cret"))
    assert await peer.recv_json() == {"user": "alice"}
    await peer.send("echo")
    assert await peer.recv() == "echo"
    await close(peer)


async def test_auth_in_the_uri(server: Server_) -> None:
    # Both clients turn user information in the URI into Basic credentials.
    if server.library == "ours":
        websocket = await connect(server.url("/auth", "alice:s3cret@"))
        assert json.loads(await websocket.recv(decode=True)) == {"user": "alice"}
        await websocket.close()
    else:
        async with websockets.asyncio.client.connect(server.url("/auth", "alice:s3cret@")) as ws:
            assert json.loads(await ws.recv(decode=True)) == {"user": "alice"}


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        (None, "Missing credentials\n"),
        (basic("alice:wrong"), "Invalid credentials\n"),
        (basic("bob:s3cret"), "Invalid credentials\n"),
        ({"Authorization": "Bearer token"}, "Unsupported credentials\n"),
    ],
)
async def test_auth_refused(server: Server_, headers: dict[str, str] | None, body: str) -> None:
    assert await server.refused("/auth", headers=headers) == (401, body)


async def test_auth_off(plain_server: Server_) -> None:
    assert await plain_server.refused("/auth", headers=basic("alice:s3cret")) == (
        404,
        "/auth is off: start the server with --auth USER:PASSWORD\n",
    )


async def test_slow_echoes_after_the_pause(server: Server_) -> None:
    peer = await server.open("/slow?ms=50")
    started = time.monotonic()
    await peer.send("one")
    await peer.send("two")
    assert await peer.recv() == "one"
    assert await peer.recv() == "two"
    assert time.monotonic() - started >= 0.05
    await close(peer)


async def test_slow_shows_backpressure(plain_server: Server_) -> None:
    # The server reads nothing for 30 s: once the kernel's buffers are full,
    # the client's write buffer grows and send() waits.
    websocket = await connect(
        plain_server.url("/slow?ms=30000"), compression=None, write_limit=2**16
    )
    message = bytes(2**19)

    async def send_many() -> None:
        for _ in range(64):  # 32 MiB: more than loopback buffers hold
            await websocket.send(message)

    sending = asyncio.create_task(send_many())
    async with asyncio.timeout(20):
        while websocket.transport.get_write_buffer_size() <= 2**16:
            # Polling: nothing signals "the buffer is above the high-water mark".
            await asyncio.sleep(0.01)
    assert not sending.done()
    sending.cancel()
    websocket.transport.abort()
    with pytest.raises((asyncio.CancelledError, ConnectionClosed)):
        await sending


async def test_slow_bad_parameters(server: Server_) -> None:
    assert await server.refused("/slow?ms=30001") == (
        400,
        "ms=30001 is above the server's limit of 30000\n",
    )


async def test_stats(plain_server: Server_) -> None:
    async with connect(plain_server.url("/echo")) as websocket:
        await websocket.send("héllo")
        await websocket.recv()
        await websocket.send(b"\x00" * 10)
        await websocket.recv()
    await plain_server.refused("/send?count=x")
    # Over WebSocket: a snapshot at once, then one per message received.
    async with connect(plain_server.url("/stats")) as websocket:
        first = json.loads(await websocket.recv(decode=True))
        await websocket.send("again")
        second = json.loads(await websocket.recv(decode=True))
    echo = {
        "requests": 1,
        "rejected": 0,
        "connections": 1,
        "open": 0,
        "messages_in": 2,
        "messages_out": 2,
        "bytes_in": 16,
        "bytes_out": 16,
    }
    assert first["by_endpoint"]["echo"] == echo
    assert first["by_endpoint"]["send"] == echo | {
        "rejected": 1,
        "connections": 0,
        "messages_in": 0,
        "messages_out": 0,
        "bytes_in": 0,
        "bytes_out": 0,
    }
    assert first["by_endpoint"]["stats"]["open"] == 1
    assert first["total"]["requests"] == 3
    assert second["by_endpoint"]["stats"]["messages_in"] == 1
    assert second["by_endpoint"]["stats"]["messages_out"] == 1
    assert second["uptime"] >= first["uptime"] > 0


async def test_stats_from_both_clients(server: Server_) -> None:
    peer = await server.open("/stats")
    first = await peer.recv_json()
    assert first["by_endpoint"]["stats"]["open"] == 1
    await peer.send("again")
    second = await peer.recv_json()
    assert second["by_endpoint"]["stats"]["messages_in"] == 1
    await close(peer)


async def test_stats_over_http(plain_server: Server_) -> None:
    peer = await plain_server.open("/chat/x")
    assert await peer.recv() == "* 1 connected"
    status, content_type, body = await http_get(plain_server.port, "/stats")
    assert (status, content_type) == (200, "application/json")
    stats = json.loads(body)
    assert stats["by_endpoint"]["chat"]["open"] == 1
    # The notice that announced the member counts as a message sent.
    assert stats["by_endpoint"]["chat"]["messages_out"] == 1
    assert stats["total"]["bytes_out"] == len("* 1 connected")
    await close(peer)


# Plain HTTP.


async def http_get(port: int, path: str) -> tuple[int, str, str]:
    """GET ``path`` over a raw socket; return status, content type and body."""
    request = http_request("GET", path, [("Host", "127.0.0.1")])
    response = parse_response(await http_exchange(port, request, timeout=10))
    return response.status, response.headers.get("content-type", ""), response.body.decode()


async def test_page(plain_server: Server_) -> None:
    status, content_type, body = await http_get(plain_server.port, "/")
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    assert "<title>websockets_typed test server</title>" in body
    # Every endpoint is on the page, with its summary.
    for endpoint in ENDPOINTS.values():
        assert f"<code>{endpoint.path.replace('&', '&amp;')}</code>" in body
    assert "{{" not in body
    status, content_type, body = await http_get(plain_server.port, "/app.js")
    assert (status, content_type) == (200, "text/javascript; charset=utf-8")
    assert "new WebSocket(" in body


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/healthz", 200, "OK\n"),
        ("/status/404", 404, "Refused with 404, as requested.\n"),
        ("/missing?x=1", 404, "No such endpoint: /missing\n"),
        ("/echo/more", 404, "No such endpoint: /echo/more\n"),
        ("/healthz?verbose=1", 400, "unknown parameter: verbose\n"),
    ],
)
async def test_plain_http(plain_server: Server_, path: str, status: int, body: str) -> None:
    assert await http_get(plain_server.port, path) == (status, "text/plain; charset=utf-8", body)


async def test_redirect_over_plain_http(plain_server: Server_) -> None:
    request = http_request("GET", "/redirect?to=/stats&status=307", [("Host", "x")])
    data = await http_exchange(plain_server.port, request, timeout=10)
    assert data.startswith(b"HTTP/1.1 307 Temporary Redirect\r\n")
    assert b"\r\nLocation: /stats\r\n" in data


async def test_unknown_websocket_path(server: Server_) -> None:
    assert await server.refused("/missing") == (404, "No such endpoint: /missing\n")


# Options.


async def test_max_size_is_enforced(server: Server_) -> None:
    peer = await server.open("/echo")
    await peer.send("x" * (MAX_SIZE + 1))
    messages, code, _ = await peer.recv_all()
    assert (messages, code) == ([], 1009)


@pytest.mark.parametrize("compression", [True, False])
async def test_compression(compression: bool) -> None:
    async with create_test_server("127.0.0.1", 0, compression=compression) as running:
        port = running.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/echo") as websocket:
            assert websocket.response is not None
            extensions = websocket.response.headers.get("Sec-WebSocket-Extensions")
    assert (extensions is not None) == compression


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"max_size": 0}, "max_size must be positive, not 0"),
        ({"subprotocols": ["bad proto"]}, "invalid subprotocol: 'bad proto'"),
    ],
)
def test_create_test_server_checks_options(options: dict[str, object], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        create_test_server(**options)  # type: ignore[arg-type]


async def test_tls() -> None:
    context, fingerprint = self_signed_context("127.0.0.1")
    async with create_test_server("127.0.0.1", 0, ssl=context) as running:
        port = running.sockets[0].getsockname()[1]
        # The client trusts nothing but checks the fingerprint, as a person would.
        client = ssl.create_default_context()
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
        async with connect(f"wss://127.0.0.1:{port}/echo", ssl=client) as websocket:
            ssl_object = websocket.transport.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True)
            await websocket.send("secure")
            assert await websocket.recv() == "secure"
    certificate = x509.load_der_x509_certificate(der)
    expected = certificate.fingerprint(hashes.SHA256()).hex(":").upper()
    assert fingerprint == expected
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(name.value) for name in names] == ["localhost", "127.0.0.1", "::1"]


def test_tls_names_include_the_host() -> None:
    context, _ = self_signed_context("example.test")
    assert isinstance(context, ssl.SSLContext)
    from websockets_typed.testserver._tls import _names

    assert _names("example.test") == ["localhost", "127.0.0.1", "::1", "example.test"]
    assert _names("::") == ["localhost", "127.0.0.1", "::1"]


def test_tls_without_cryptography(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import fail, as if it weren't installed.
    monkeypatch.setitem(sys.modules, "cryptography", None)
    with pytest.raises(MissingCryptography) as raised:
        self_signed_context("localhost")
    assert str(raised.value) == (
        "--tls needs the cryptography package: pip install 'websockets_typed[testserver]'"
    )


def test_query_parser() -> None:
    query = Query("a=1&b=x")
    assert query.integer("a", 0, 0, 10) == 1
    assert query.integer("missing", 7, 0, 10) == 7
    assert query.text("b", "", 5) == "x"
    assert query.choice("c", "text", ("text", "binary")) == "text"
    query.done()
    with pytest.raises(BadRequest, match="unknown parameter: a, b"):
        Query("a=1&b=2").done()


def test_docs_list_every_endpoint() -> None:
    # The "Test server" page has a row for each endpoint, in the same order.
    page = (Path(__file__).parents[2] / "docs" / "testserver.md").read_text("utf-8")
    rows = [line.split("`")[1] for line in page.splitlines() if line.startswith("| `/")]
    endpoints = [endpoint.path for endpoint in ENDPOINTS.values()]
    assert rows[: len(endpoints)] == endpoints

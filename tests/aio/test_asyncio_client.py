"""Tests of websockets_typed.asyncio.client: connect(), unix_connect() and reconnection.

Every test talks to a real server on a loopback socket (or a Unix socket):
the library's server, or a raw TCP server where the test needs a misbehaving
peer.
"""

from __future__ import annotations

import asyncio
import base64
import http
import logging
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from raw_peer import RawServer, Respond, echo

from websockets_typed.asyncio.client import (
    MAX_REDIRECTS,
    USER_AGENT,
    ClientConnection,
    connect,
    is_transient,
    unix_connect,
)
from websockets_typed.asyncio.server import Server, ServerConnection, serve, unix_serve
from websockets_typed.datastructures import Headers
from websockets_typed.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidHeader,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
    NegotiationError,
    SecurityError,
)
from websockets_typed.frames import CloseCode
from websockets_typed.http11 import Request, Response

# Helpers.


def port_of(server: Server) -> int:
    """The port the server listens on."""
    port: int = server.sockets[0].getsockname()[1]
    return port


def uri_of(server: Server, path: str = "/", scheme: str = "ws") -> str:
    """A URI for the server."""
    return f"{scheme}://127.0.0.1:{port_of(server)}{path}"


async def send_path(websocket: ServerConnection) -> None:
    """Tell the client which path it reached."""
    await websocket.send(websocket.path)


class RequestLog:
    """A process_request hook that records requests and answers some with plain HTTP.

    Attributes:
        requests: Every request received, in order.
        routes: Path -> (status, Location header or None): the answer to
            requests for that path. Other paths proceed with the handshake.
    """

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.routes: dict[str, tuple[int, str | None]] = {}

    def __call__(self, connection: ServerConnection, request: Request) -> Response | None:
        self.requests.append(request)
        route = self.routes.get(request.path)
        if route is None:
            return None
        status, location = route
        response = connection.respond(status, f"status {status}\n")
        if location is not None:
            response.headers["Location"] = location
        return response

    @property
    def last_headers(self) -> Headers:
        """Headers of the last request."""
        return self.requests[-1].headers


class LogWaiter(logging.Handler):
    """Count log records containing some text, and wake a waiter on each."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.text = text
        self.records: list[logging.LogRecord] = []
        self.event = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.records.append(record)
            self.event.set()

    async def wait(self, count: int = 1) -> None:
        """Wait until ``count`` matching records were seen."""
        async with asyncio.timeout(5):
            while len(self.records) < count:
                self.event.clear()
                await self.event.wait()


@pytest.fixture
def reconnections(caplog: pytest.LogCaptureFixture) -> Iterator[LogWaiter]:
    """Watch the client's "reconnecting" log records."""
    caplog.set_level(logging.INFO, logger="websockets_typed.client")
    waiter = LogWaiter("reconnecting")
    logger = logging.getLogger("websockets_typed.client")
    logger.addHandler(waiter)
    try:
        yield waiter
    finally:
        logger.removeHandler(waiter)


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make reconnection delays tiny; monkeypatch restores them after the test."""
    monkeypatch.setattr(connect, "BACKOFF_INITIAL_DELAY", 0.01)
    monkeypatch.setattr(connect, "BACKOFF_MIN_DELAY", 0.02)
    monkeypatch.setattr(connect, "BACKOFF_FACTOR", 2.0)
    monkeypatch.setattr(connect, "BACKOFF_MAX_DELAY", 0.05)


class TLS:
    """A CA, and contexts for a server named 127.0.0.1, localhost and example.test."""

    def __init__(self) -> None:
        self.ca = trustme.CA()
        self.server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert = self.ca.issue_cert("127.0.0.1", "localhost", "example.test")
        cert.configure_cert(self.server_context)  # pyright: ignore[reportUnknownMemberType]
        self.client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.ca.configure_trust(self.client_context)  # pyright: ignore[reportUnknownMemberType]


@pytest.fixture(scope="module")
def tls() -> TLS:
    """TLS contexts, made once for the module: making keys takes time."""
    return TLS()


async def silent_server() -> tuple[socket.socket, int]:
    """A socket that accepts TCP connections (in the kernel's backlog) and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    port: int = sock.getsockname()[1]
    return sock, port


def answer_with(response: bytes) -> Respond:
    """A :class:`RawServer` callback answering every request with fixed bytes, then closing."""

    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(response)
        await writer.drain()

    return respond


def log_arg(record: logging.LogRecord, index: int) -> object:
    """An argument of a log record's message."""
    assert isinstance(record.args, tuple)
    return record.args[index]


async def first_connection(client: connect) -> None:
    """Iterate over connect() until it yields a connection or raises; close it."""
    async with asyncio.timeout(5):
        async for websocket in client:
            await websocket.close()
            return


# Opening a connection.


async def test_connect_awaited() -> None:
    async with serve(echo, "127.0.0.1", 0) as server:
        websocket = await connect(uri_of(server))
        try:
            assert isinstance(websocket, ClientConnection)
            await websocket.send("hello")
            assert await websocket.recv() == "hello"
        finally:
            await websocket.close()
        assert websocket.close_code == CloseCode.NORMAL_CLOSURE


async def test_connect_as_async_context_manager() -> None:
    async with serve(echo, "127.0.0.1", 0) as server:
        async with connect(uri_of(server)) as websocket:
            await websocket.send(b"bytes")
            assert await websocket.recv() == b"bytes"
        assert websocket.closed
        assert websocket.close_code == CloseCode.NORMAL_CLOSURE


async def test_connect_context_manager_error_closes_with_1011() -> None:
    codes: list[int | None] = []

    async def handler(websocket: ServerConnection) -> None:
        await websocket.wait_closed()
        codes.append(websocket.close_code)

    async with serve(handler, "127.0.0.1", 0) as server:
        with pytest.raises(ZeroDivisionError):
            async with connect(uri_of(server)):
                raise ZeroDivisionError
        server.close()
        async with asyncio.timeout(5):
            await server.wait_closed()
    assert codes == [CloseCode.INTERNAL_ERROR]


async def test_connect_invalid_uri() -> None:
    with pytest.raises(InvalidURI):
        connect("http://localhost/")
    with pytest.raises(InvalidURI):
        connect("not a uri")


async def test_connect_refused() -> None:
    async with serve(echo, "127.0.0.1", 0, start_serving=False) as server:
        with pytest.raises(ConnectionRefusedError):
            await connect(uri_of(server))


async def test_create_connection_subclass() -> None:
    class MyConnection(ClientConnection):
        marker = "mine"

    async with (
        serve(echo, "127.0.0.1", 0) as server,
        connect(uri_of(server), create_connection=MyConnection) as websocket,
    ):
        assert isinstance(websocket, MyConnection)
        await websocket.send(websocket.marker)
        assert await websocket.recv() == "mine"


async def test_connect_with_existing_socket() -> None:
    async with serve(echo, "127.0.0.1", 0) as server:
        sock = socket.create_connection(("127.0.0.1", port_of(server)))
        async with connect(uri_of(server), sock=sock) as websocket:
            await websocket.send("through my socket")
            assert await websocket.recv() == "through my socket"


async def test_unsupported_compression() -> None:
    async with serve(echo, "127.0.0.1", 0) as server:
        with pytest.raises(ValueError, match="unsupported compression"):
            await connect(uri_of(server), compression="br")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_compression_offer(compression: str | None) -> None:
    log = RequestLog()
    async with (
        serve(echo, "127.0.0.1", 0, process_request=log) as server,
        connect(uri_of(server), compression="deflate" if compression else None) as websocket,
    ):
        offer = log.last_headers.get("Sec-WebSocket-Extensions")
        if compression:
            assert offer is not None
            assert offer.startswith("permessage-deflate")
            assert len(websocket.protocol.extensions) == 1
        else:
            assert offer is None
            assert websocket.protocol.extensions == []


# Reconnecting with async for.


async def test_reconnect_after_server_closes_connection() -> None:
    count = 0

    async def handler(websocket: ServerConnection) -> None:
        nonlocal count
        count += 1
        await websocket.send(str(count))
        if count == 3:
            await websocket.wait_closed()

    received: list[str | bytes] = []
    websockets: list[ClientConnection] = []
    async with serve(handler, "127.0.0.1", 0) as server:
        async with asyncio.timeout(5):
            async for websocket in connect(uri_of(server)):
                websockets.append(websocket)
                message = await websocket.recv()
                received.append(message)
                if message == "3":
                    break
                with pytest.raises(ConnectionClosed):
                    await websocket.recv()
            # Leaving the loop finalizes the generator, which closes the connection.
            await websockets[-1].wait_closed()
        assert websockets[-1].close_code == CloseCode.NORMAL_CLOSURE
    assert received == ["1", "2", "3"]
    assert len(set(websockets)) == 3


@pytest.mark.usefixtures("fast_backoff")
async def test_reconnect_after_connection_refused(reconnections: LogWaiter) -> None:
    async with serve(send_path, "127.0.0.1", 0, start_serving=False) as server:

        async def client() -> str | bytes:
            async for websocket in connect(uri_of(server, "/later")):
                return await websocket.recv()
            raise AssertionError("unreachable")  # pragma: no cover

        task = asyncio.create_task(client())
        # Let the client fail a few times: the delay grows, up to its cap.
        await reconnections.wait(4)
        await server.start_serving()
        async with asyncio.timeout(5):
            assert await task == "/later"
    delays = [log_arg(record, 0) for record in reconnections.records]
    assert isinstance(delays[0], float)
    assert 0 <= delays[0] <= 0.01
    assert delays[1:4] == [0.02, 0.04, 0.05]
    errors = [log_arg(record, 1) for record in reconnections.records]
    assert all(isinstance(error, ConnectionRefusedError) for error in errors)


@pytest.mark.usefixtures("fast_backoff")
async def test_reconnect_after_5xx(reconnections: LogWaiter) -> None:
    log = RequestLog()
    log.routes["/"] = (503, None)

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        if len(log.requests) == 1:
            log.routes["/"] = (500, None)
        elif len(log.requests) == 2:
            del log.routes["/"]
        return log(connection, request)

    async with serve(send_path, "127.0.0.1", 0, process_request=process_request) as server:
        async with asyncio.timeout(5):
            async for websocket in connect(uri_of(server)):
                assert await websocket.recv() == "/"
                break
    assert len(log.requests) == 3
    assert len(reconnections.records) == 2


@pytest.mark.parametrize("status", [403, 404, 400])
@pytest.mark.usefixtures("fast_backoff")
async def test_no_reconnect_after_4xx(status: int, reconnections: LogWaiter) -> None:
    log = RequestLog()
    log.routes["/"] = (status, None)
    async with serve(echo, "127.0.0.1", 0, process_request=log) as server:
        with pytest.raises(InvalidStatus) as exc_info:
            await first_connection(connect(uri_of(server)))
    assert exc_info.value.response.status_code == status
    assert len(log.requests) == 1
    assert reconnections.records == []


async def test_no_reconnect_with_invalid_uri() -> None:
    with pytest.raises(InvalidURI):
        await first_connection(connect("https://example.com/"))


@pytest.mark.usefixtures("fast_backoff")
async def test_no_reconnect_after_invalid_response(reconnections: LogWaiter) -> None:
    """A response that isn't HTTP/1.1 won't become one on the next try: raise."""
    async with RawServer(respond=answer_with(b"garbage\r\n\r\n")) as server:
        with pytest.raises(InvalidMessage):
            await first_connection(connect(server.uri))
    assert reconnections.records == []


def test_is_transient() -> None:
    def status(code: int) -> InvalidStatus:
        return InvalidStatus(Response(code, "", Headers(), b""))

    closed_early = InvalidMessage("connection closed while reading HTTP headers")
    closed_early.__cause__ = EOFError()

    transient: list[BaseException] = [
        OSError("network"),
        ConnectionRefusedError(),
        ConnectionResetError(),
        TimeoutError(),
        closed_early,
        status(500),
        status(502),
        status(503),
        status(504),
    ]
    permanent: list[BaseException] = [
        ssl.SSLCertVerificationError("certificate verify failed"),
        InvalidMessage("did not receive a valid HTTP response"),
        status(429),
        status(400),
        status(401),
        status(403),
        status(404),
        status(301),
        status(200),
        InvalidURI("http://x", "scheme isn't ws or wss"),
        InvalidHeader("Upgrade"),
        NegotiationError("unsupported subprotocol"),
        InvalidHandshake("bad"),
        SecurityError("too many redirects"),
        ValueError("ssl"),
        RuntimeError(),
    ]
    assert [exc for exc in transient if not is_transient(exc)] == []
    assert [exc for exc in permanent if is_transient(exc)] == []


# Redirects.


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_to_another_path(status: int) -> None:
    log = RequestLog()
    log.routes["/old"] = (status, "/new?x=1")
    async with (
        serve(send_path, "127.0.0.1", 0, process_request=log) as server,
        connect(uri_of(server, "/old")) as websocket,
    ):
        assert await websocket.recv() == "/new?x=1"
        assert websocket.path == "/new?x=1"
    assert [request.path for request in log.requests] == ["/old", "/new?x=1"]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_to_another_port(status: int) -> None:
    log = RequestLog()
    async with (
        serve(send_path, "127.0.0.1", 0) as target,
        serve(echo, "127.0.0.1", 0, process_request=log) as server,
    ):
        log.routes["/"] = (status, uri_of(target, "/moved"))
        async with connect(uri_of(server)) as websocket:
            assert await websocket.recv() == "/moved"
            assert websocket.remote_address[1] == port_of(target)


async def test_redirect_loop_fails() -> None:
    log = RequestLog()
    log.routes["/loop"] = (302, "/loop")
    async with serve(echo, "127.0.0.1", 0, process_request=log) as server:
        with pytest.raises(SecurityError, match=f"more than {MAX_REDIRECTS} redirects"):
            await connect(uri_of(server, "/loop"))
    assert len(log.requests) == MAX_REDIRECTS + 1


async def test_redirect_without_location_is_an_error() -> None:
    log = RequestLog()
    log.routes["/"] = (302, None)
    async with serve(echo, "127.0.0.1", 0, process_request=log) as server:
        with pytest.raises(InvalidStatus) as exc_info:
            await connect(uri_of(server))
    assert exc_info.value.response.status_code == 302


async def test_redirect_to_invalid_uri() -> None:
    log = RequestLog()
    log.routes["/"] = (301, "https://example.com/")
    async with serve(echo, "127.0.0.1", 0, process_request=log) as server:
        with pytest.raises(InvalidHandshake, match="invalid redirect"):
            await connect(uri_of(server))


async def test_redirect_from_wss_to_ws_refused(tls: TLS) -> None:
    log = RequestLog()
    async with (
        serve(echo, "127.0.0.1", 0) as plain,
        serve(echo, "127.0.0.1", 0, ssl=tls.server_context, process_request=log) as secure,
    ):
        log.routes["/"] = (302, uri_of(plain))
        with pytest.raises(SecurityError, match="non-secure"):
            await connect(uri_of(secure, scheme="wss"), ssl=tls.client_context)


async def test_redirect_from_ws_to_wss_followed(
    tls: TLS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The ssl argument is only valid with a wss:// URI, so the redirected
    # connection uses the default context: make it trust the test CA.
    ca_file = tmp_path / "ca.pem"
    tls.ca.cert_pem.write_to_path(str(ca_file))  # pyright: ignore[reportUnknownMemberType]
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    log = RequestLog()
    async with (
        serve(send_path, "127.0.0.1", 0, ssl=tls.server_context) as secure,
        serve(echo, "127.0.0.1", 0, process_request=log) as plain,
    ):
        log.routes["/"] = (302, uri_of(secure, "/secure", scheme="wss"))
        async with connect(uri_of(plain)) as websocket:
            assert await websocket.recv() == "/secure"
            assert websocket.transport.get_extra_info("ssl_object") is not None


CREDENTIALS = {"Authorization": "Bearer secret", "Cookie": "session=1", "X-Other": "kept"}


async def test_redirect_same_origin_keeps_credentials() -> None:
    log = RequestLog()
    log.routes["/"] = (307, "/target")
    async with (
        serve(send_path, "127.0.0.1", 0, process_request=log) as server,
        connect(uri_of(server), additional_headers=CREDENTIALS) as websocket,
    ):
        assert await websocket.recv() == "/target"
    first, second = (request.headers for request in log.requests)
    for name, value in CREDENTIALS.items():
        assert first[name] == value
        assert second[name] == value


async def test_redirect_cross_origin_drops_credentials() -> None:
    source, target = RequestLog(), RequestLog()
    async with (
        serve(send_path, "127.0.0.1", 0, process_request=target) as target_server,
        serve(echo, "127.0.0.1", 0, process_request=source) as source_server,
    ):
        source.routes["/"] = (307, uri_of(target_server, "/target"))
        async with connect(uri_of(source_server), additional_headers=CREDENTIALS) as websocket:
            assert await websocket.recv() == "/target"
    assert source.last_headers["Authorization"] == "Bearer secret"
    assert source.last_headers["Cookie"] == "session=1"
    assert "Authorization" not in target.last_headers
    assert "Cookie" not in target.last_headers
    assert target.last_headers["X-Other"] == "kept"


async def test_redirect_user_info_credentials() -> None:
    """Credentials from the URI's user info follow a relative redirect, not another origin."""
    source, target = RequestLog(), RequestLog()
    async with (
        serve(send_path, "127.0.0.1", 0, process_request=target) as target_server,
        serve(send_path, "127.0.0.1", 0, process_request=source) as source_server,
    ):
        source.routes["/same"] = (302, "/target")
        source.routes["/other"] = (302, uri_of(target_server, "/target"))
        port = port_of(source_server)
        async with connect(f"ws://user:pass@127.0.0.1:{port}/same") as websocket:
            assert await websocket.recv() == "/target"
        basic = "Basic " + base64.b64encode(b"user:pass").decode()
        assert [request.headers.get("Authorization") for request in source.requests] == [
            basic,
            basic,
        ]
        # User info in the Location replaces the original one.
        source.routes["/own"] = (302, f"ws://other:pw@127.0.0.1:{port}/target")
        async with connect(f"ws://user:pass@127.0.0.1:{port}/own") as websocket:
            assert await websocket.recv() == "/target"
        assert source.last_headers["Authorization"] == (
            "Basic " + base64.b64encode(b"other:pw").decode()
        )
        async with connect(f"ws://user:pass@127.0.0.1:{port}/other") as websocket:
            assert await websocket.recv() == "/target"
        assert source.last_headers["Authorization"] == basic
        assert "Authorization" not in target.last_headers


async def test_redirect_over_unix_socket(tmp_path: Path) -> None:
    log = RequestLog()
    log.routes["/"] = (301, "/here")
    log.routes["/away"] = (301, "ws://example.com/")
    path = str(tmp_path / "ws.sock")
    async with unix_serve(send_path, path, process_request=log):
        async with unix_connect(path) as websocket:
            assert await websocket.recv() == "/here"
        with pytest.raises(InvalidHandshake, match="Unix socket"):
            await unix_connect(path, "ws://localhost/away")


async def test_redirect_cross_origin_with_host_and_port_overrides() -> None:
    """With host/port overrides, a cross-origin redirect can't be followed."""
    log = RequestLog()
    async with (
        serve(send_path, "127.0.0.1", 0) as target,
        serve(echo, "127.0.0.1", 0, process_request=log) as server,
    ):
        log.routes["/"] = (302, uri_of(target, "/moved"))
        with pytest.raises(InvalidHandshake, match="host or port"):
            await connect("ws://example.test/", host="127.0.0.1", port=port_of(server))
        # Same-origin redirects are fine.
        log.routes["/same"] = (302, "/target")
        async with connect(
            "ws://example.test/same", host="127.0.0.1", port=port_of(server)
        ) as websocket:
            assert websocket.path == "/target"
    assert len(log.requests) == 3


async def test_redirect_with_preexisting_socket() -> None:
    """The socket passed to connect() is used up: a redirect can't be followed."""
    log = RequestLog()
    log.routes["/"] = (302, "/target")
    async with serve(send_path, "127.0.0.1", 0, process_request=log) as server:
        with (
            socket.create_connection(("127.0.0.1", port_of(server))) as sock,
            pytest.raises(InvalidHandshake, match="preexisting socket"),
        ):
            await connect(uri_of(server), sock=sock)
    assert len(log.requests) == 1


# TLS.


async def test_wss_with_client_context(tls: TLS) -> None:
    async with (
        serve(echo, "127.0.0.1", 0, ssl=tls.server_context) as server,
        connect(uri_of(server, scheme="wss"), ssl=tls.client_context) as websocket,
    ):
        assert websocket.transport.get_extra_info("ssl_object") is not None
        assert websocket.request_headers["Host"] == f"127.0.0.1:{port_of(server)}"
        await websocket.send("secret")
        assert await websocket.recv() == "secret"


async def test_wss_server_hostname(tls: TLS) -> None:
    async with serve(echo, "127.0.0.1", 0, ssl=tls.server_context) as server:
        uri = uri_of(server, scheme="wss")
        async with connect(uri, ssl=tls.client_context, server_hostname="example.test") as ws:
            ssl_object = ws.transport.get_extra_info("ssl_object")
            assert isinstance(ssl_object, ssl.SSLObject)
            assert ssl_object.server_hostname == "example.test"
        with pytest.raises(ssl.SSLCertVerificationError):
            await connect(uri, ssl=tls.client_context, server_hostname="wrong.test")


async def test_wss_default_context_rejects_self_signed(tls: TLS) -> None:
    async with serve(echo, "127.0.0.1", 0, ssl=tls.server_context) as server:
        with pytest.raises(ssl.SSLCertVerificationError):
            await connect(uri_of(server, scheme="wss"))


async def test_ws_with_ssl_argument_is_an_error(tls: TLS) -> None:
    with pytest.raises(ValueError, match="ws://"):
        connect("ws://localhost/", ssl=tls.client_context)


async def test_wss_over_unix_socket(tls: TLS, tmp_path: Path) -> None:
    path = str(tmp_path / "wss.sock")
    async with (
        unix_serve(send_path, path, ssl=tls.server_context),
        unix_connect(path, ssl=tls.client_context) as websocket,
    ):
        # The URI defaults to wss://localhost/, which names the server.
        assert await websocket.recv() == "/"
        assert websocket.request_headers["Host"] == "localhost"


# Timeouts.


async def test_open_timeout_when_server_never_answers() -> None:
    sock, port = await silent_server()
    with sock, pytest.raises(TimeoutError):
        async with asyncio.timeout(5):
            await connect(f"ws://127.0.0.1:{port}/", open_timeout=0.1)


async def test_open_timeout_none() -> None:
    async with (
        serve(echo, "127.0.0.1", 0) as server,
        connect(uri_of(server), open_timeout=None) as websocket,
    ):
        await websocket.send("no timeout")
        assert await websocket.recv() == "no timeout"


# Request headers.


async def test_additional_headers() -> None:
    log = RequestLog()
    async with (
        serve(echo, "127.0.0.1", 0, process_request=log) as server,
        connect(uri_of(server), additional_headers={"X-Token": "abc"}),
        connect(uri_of(server), additional_headers=[("X-Multi", "1"), ("X-Multi", "2")]),
        connect(uri_of(server), additional_headers=Headers(X_Header="h")),
    ):
        pass
    first, second, third = (request.headers for request in log.requests)
    assert first["X-Token"] == "abc"
    assert second.get_all("X-Multi") == ["1", "2"]
    assert third["X_Header"] == "h"


async def test_extra_headers_alias() -> None:
    log = RequestLog()
    async with (
        serve(echo, "127.0.0.1", 0, process_request=log) as server,
        connect(uri_of(server), extra_headers={"X-Legacy": "yes"}),
    ):
        pass
    assert log.last_headers["X-Legacy"] == "yes"


async def test_user_agent_header() -> None:
    log = RequestLog()
    async with serve(echo, "127.0.0.1", 0, process_request=log) as server:
        async with connect(uri_of(server)):
            pass
        assert log.last_headers["User-Agent"] == USER_AGENT
        async with connect(uri_of(server), user_agent_header="MyClient/2.0"):
            pass
        assert log.last_headers["User-Agent"] == "MyClient/2.0"
        async with connect(uri_of(server), user_agent_header=None):
            pass
        assert "User-Agent" not in log.last_headers
        # A User-Agent in additional_headers wins over the default.
        async with connect(uri_of(server), additional_headers={"User-Agent": "Custom"}):
            pass
        assert log.last_headers.get_all("User-Agent") == ["Custom"]
    assert USER_AGENT.startswith("Python/3.")
    assert "websockets_typed/" in USER_AGENT


async def test_user_info_sent_as_basic_authorization() -> None:
    log = RequestLog()
    async with serve(echo, "127.0.0.1", 0, process_request=log) as server:
        port = port_of(server)
        async with connect(f"ws://alice:s%3Acret@127.0.0.1:{port}/"):
            pass
    expected = "Basic " + base64.b64encode(b"alice:s:cret").decode()
    assert log.last_headers["Authorization"] == expected
    # The Host header doesn't leak the user info.
    assert log.last_headers["Host"] == f"127.0.0.1:{port}"


async def test_origin() -> None:
    log = RequestLog()
    async with serve(
        echo, "127.0.0.1", 0, process_request=log, origins=["https://a.test"]
    ) as server:
        async with connect(uri_of(server), origin="https://a.test") as websocket:
            await websocket.send("allowed")
            assert await websocket.recv() == "allowed"
        assert log.last_headers["Origin"] == "https://a.test"
        with pytest.raises(InvalidStatus) as exc_info:
            await connect(uri_of(server), origin="https://b.test")
        assert exc_info.value.response.status_code == 403
        with pytest.raises(InvalidStatus):
            await connect(uri_of(server))
        assert "Origin" not in log.last_headers


async def test_subprotocols_negotiated() -> None:
    log = RequestLog()
    async with serve(
        echo, "127.0.0.1", 0, subprotocols=["v2", "v1"], process_request=log
    ) as server:
        async with connect(uri_of(server), subprotocols=["v1", "v2"]) as websocket:
            assert websocket.subprotocol == "v2"
        assert log.last_headers["Sec-WebSocket-Protocol"] == "v1, v2"
        async with connect(uri_of(server), subprotocols=["v1"]) as websocket:
            assert websocket.subprotocol == "v1"
        with pytest.raises(InvalidStatus) as exc_info:
            await connect(uri_of(server), subprotocols=["v3"])
        assert exc_info.value.response.status_code == 400


async def test_invalid_subprotocol_argument() -> None:
    async with serve(echo, "127.0.0.1", 0) as server:
        with pytest.raises(ValueError):
            await connect(uri_of(server), subprotocols=["not a token"])


async def test_invalid_status_carries_response() -> None:
    async def process_request(connection: ServerConnection, request: Request) -> Response:
        response = connection.respond(http.HTTPStatus.NOT_FOUND, "nothing here\n")
        response.headers["X-Reason"] = "test"
        return response

    async with serve(echo, "127.0.0.1", 0, process_request=process_request) as server:
        with pytest.raises(InvalidStatus) as exc_info:
            await connect(uri_of(server))
    exc = exc_info.value
    assert exc.response.status_code == 404
    assert exc.response.reason_phrase == "Not Found"
    assert exc.response.body == b"nothing here\n"
    assert exc.response.headers["X-Reason"] == "test"
    # The legacy attributes are there too.
    assert exc.status_code == 404
    assert exc.headers is not None
    assert exc.headers["Content-Length"] == "13"
    assert str(exc) == "server rejected WebSocket connection: HTTP 404"


async def test_invalid_accept_key_is_an_error() -> None:
    """A 101 response that doesn't match the request fails the handshake."""
    response = (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n"
    )
    async with RawServer(respond=answer_with(response)) as server:
        with pytest.raises(InvalidHeader):
            await connect(server.uri)
        assert not is_transient(InvalidHeader("Sec-WebSocket-Accept", "x"))


async def test_server_closing_before_response() -> None:
    """EOF instead of a response: InvalidMessage, which is transient."""
    async with RawServer(respond=answer_with(b"")) as server:
        with pytest.raises(InvalidMessage) as exc_info:
            await connect(server.uri)
        assert is_transient(exc_info.value)


async def test_host_and_port_options() -> None:
    log = RequestLog()
    async with serve(send_path, "127.0.0.1", 0, process_request=log) as server:
        uri = "ws://ws.example.test:1234/chat?room=1"
        async with connect(uri, host="127.0.0.1", port=port_of(server)) as websocket:
            assert await websocket.recv() == "/chat?room=1"
            assert websocket.remote_address == ("127.0.0.1", port_of(server))
    # The request still names the server of the URI.
    assert log.last_headers["Host"] == "ws.example.test:1234"


async def test_host_and_port_options_with_tls(tls: TLS) -> None:
    async with serve(send_path, "127.0.0.1", 0, ssl=tls.server_context) as server:
        # The certificate is checked against the URI's host, not the address.
        uri = "wss://example.test/secure"
        async with connect(
            uri, host="127.0.0.1", port=port_of(server), ssl=tls.client_context
        ) as websocket:
            assert await websocket.recv() == "/secure"


async def test_client_logger_option(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="my.client")
    async with (
        serve(echo, "127.0.0.1", 0) as server,
        connect(uri_of(server), logger=logging.getLogger("my.client")) as websocket,
    ):
        assert websocket.logger.name == "my.client"
    assert any(record.name == "my.client" for record in caplog.records)


async def test_unix_connect_default_uri(tmp_path: Path) -> None:
    path = str(tmp_path / "ws.sock")
    log = RequestLog()
    async with (
        unix_serve(send_path, path, process_request=log),
        unix_connect(path) as websocket,
    ):
        assert await websocket.recv() == "/"
    assert log.last_headers["Host"] == "localhost"


async def test_legacy_attribute_names() -> None:
    async with serve(echo, "127.0.0.1", 0) as server:
        websocket = await connect(uri_of(server, "/legacy?x=1"))
        assert websocket.path == "/legacy?x=1"
        assert websocket.request_headers["Sec-WebSocket-Version"] == "13"
        assert websocket.response_headers["Connection"] == "Upgrade"
        assert (websocket.open, websocket.closed) == (True, False)
        await websocket.close()
        assert (websocket.open, websocket.closed) == (False, True)

"""Tests of websockets_typed.asyncio.server: serve(), unix_serve(), Server and its hooks.

Every test runs a real server on a loopback socket (or a Unix socket) and
talks to it with the library's client or with raw HTTP over a socket.
"""

from __future__ import annotations

import asyncio
import http
import logging
import re
import socket
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import trustme
from raw_peer import echo, http_exchange, http_request, parse_response, raw_stream

from websockets_typed._defaults import CLOSE_TIMEOUT, PING_INTERVAL
from websockets_typed.asyncio.client import connect, unix_connect
from websockets_typed.asyncio.server import (
    USER_AGENT,
    ProcessRequest,
    ProcessResponse,
    Server,
    ServerConnection,
    serve,
    unix_serve,
)
from websockets_typed.datastructures import Headers
from websockets_typed.exceptions import (
    AbortHandshake,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidState,
    InvalidStatus,
    NegotiationError,
)
from websockets_typed.extensions.permessage_deflate import PerMessageDeflate
from websockets_typed.frames import CloseCode
from websockets_typed.http11 import Request, Response
from websockets_typed.server import ServerProtocol
from websockets_typed.typing import Subprotocol

# Helpers.


def port_of(server: Server) -> int:
    """The port the server listens on."""
    port: int = server.sockets[0].getsockname()[1]
    return port


def uri_of(server: Server, path: str = "/") -> str:
    """A ws:// URI for the server."""
    return f"ws://127.0.0.1:{port_of(server)}{path}"


async def wait_forever(websocket: ServerConnection) -> None:
    """Keep the connection open until the peer closes it."""
    await websocket.wait_closed()


async def raw_http(port: int, request: bytes) -> bytes:
    """Send raw bytes to the server and read everything until it closes."""
    return await http_exchange(port, request, timeout=5)


def parse_http(data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Split a raw HTTP response into status code, headers (lower-cased names) and body."""
    response = parse_response(data)
    return response.status, response.headers, response.body


def library_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Records of this library's loggers, leaving out asyncio's (e.g. slow callbacks)."""
    return [record for record in caplog.records if record.name.startswith("websockets_typed")]


def get_request(path: str = "/") -> bytes:
    """A plain HTTP GET request, not a WebSocket handshake."""
    return http_request("GET", path)


async def handshake_error(uri: str, **kwargs: str | None) -> InvalidStatus:
    """Connect to a server that must reject the handshake; return the error."""
    with pytest.raises(InvalidStatus) as exc_info:
        async with asyncio.timeout(5):
            await connect(uri, origin=kwargs.get("origin"))
    return exc_info.value


@pytest.fixture
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server TLS context and a client context that trusts it, for 127.0.0.1."""
    ca = trustme.CA()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)  # pyright: ignore[reportUnknownMemberType]
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(client_context)  # pyright: ignore[reportUnknownMemberType]
    return server_context, client_context


# Starting and stopping a server.


async def test_serve_as_async_context_manager() -> None:
    async with serve(echo, "127.0.0.1", 0) as server:
        assert isinstance(server, Server)
        async with connect(uri_of(server)) as websocket:
            await websocket.send("hello")
            assert await websocket.recv() == "hello"
    assert not server.is_serving()


async def test_serve_awaited() -> None:
    server = await serve(echo, "127.0.0.1", 0)
    try:
        assert server.is_serving()
        async with connect(uri_of(server)) as websocket:
            await websocket.send(b"\x00\xff")
            assert await websocket.recv() == b"\x00\xff"
    finally:
        server.close()
        async with asyncio.timeout(5):
            await server.wait_closed()
    assert not server.is_serving()


async def test_server_as_async_context_manager() -> None:
    """The awaited server is an async context manager too, closing on exit."""
    async with (
        await serve(echo, "127.0.0.1", 0) as server,
        connect(uri_of(server)) as websocket,
    ):
        await websocket.send("hello")
        assert await websocket.recv() == "hello"
    assert not server.is_serving()


def test_serve_legacy_run_until_complete() -> None:
    """The seeds' style: create the server in a plain event loop, without warnings.

    pytest turns warnings into errors, so a DeprecationWarning (e.g. about
    get_event_loop) would fail this test.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        start_server = serve(echo, "127.0.0.1", 0)
        server = asyncio.get_event_loop().run_until_complete(start_server)

        async def hello() -> str | bytes:
            async with connect(uri_of(server)) as websocket:
                await websocket.send("Hello world!")
                return await websocket.recv()

        assert loop.run_until_complete(hello()) == "Hello world!"
        server.close()
        loop.run_until_complete(server.wait_closed())
    finally:
        asyncio.set_event_loop(None)
        loop.close()


async def test_serve_on_several_hosts() -> None:
    """host may be a sequence; each listening socket is reported."""
    async with serve(echo, ["127.0.0.1"], 0) as server:
        assert len(server.sockets) == 1
        async with connect(uri_of(server)) as websocket:
            await websocket.send("hi")
            assert await websocket.recv() == "hi"


async def test_serve_on_ipv6(caplog: pytest.LogCaptureFixture) -> None:
    if not socket.has_ipv6:  # pragma: no cover - depends on the machine
        pytest.skip("no IPv6")
    caplog.set_level(logging.INFO, logger="websockets_typed")
    try:
        server = await serve(echo, "::1", 0)
    except OSError:  # pragma: no cover - depends on the machine
        pytest.skip("no IPv6 loopback")
    async with server:
        port = port_of(server)
        assert f"server listening on [::1]:{port}" in caplog.messages
        async with connect(f"ws://[::1]:{port}/") as websocket:
            await websocket.send("hi")
            assert await websocket.recv() == "hi"


async def test_unix_serve_and_unix_connect(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="websockets_typed")
    path = str(tmp_path / "ws.sock")
    paths: list[str] = []

    async def handler(websocket: ServerConnection) -> None:
        paths.append(websocket.request.path if websocket.request else "")
        await echo(websocket)

    async with unix_serve(handler, path) as server:
        assert f"server listening on {path}" in caplog.messages
        async with unix_connect(path) as websocket:
            assert websocket.local_address == ""  # an unnamed client socket
            assert websocket.remote_address == path
            await websocket.send("over a Unix socket")
            assert await websocket.recv() == "over a Unix socket"
        async with unix_connect(path, "ws://localhost/chat?room=1") as websocket:
            await websocket.send("again")
            assert await websocket.recv() == "again"
        assert server.is_serving()
    assert paths == ["/", "/chat?room=1"]


async def test_server_attributes() -> None:
    opened = asyncio.Event()
    done = asyncio.Event()

    async def handler(websocket: ServerConnection) -> None:
        opened.set()
        await done.wait()

    async with serve(handler, "127.0.0.1", 0) as server:
        assert server.get_loop() is asyncio.get_running_loop()
        assert server.is_serving()
        assert len(server.sockets) == 1
        assert server.sockets[0].getsockname()[0] == "127.0.0.1"
        assert server.connections == set()
        async with connect(uri_of(server)) as websocket:
            await opened.wait()
            (connection,) = server.connections
            assert isinstance(connection, ServerConnection)
            assert connection.server is server
            assert connection.remote_address == websocket.local_address
            done.set()
            await websocket.wait_closed()
        # A connection leaves the set as soon as it isn't open.
        assert server.connections == set()


async def test_start_serving_false() -> None:
    async with serve(echo, "127.0.0.1", 0, start_serving=False) as server:
        assert not server.is_serving()
        # The socket is bound but doesn't listen yet: connections are refused.
        with pytest.raises(ConnectionRefusedError):
            await connect(uri_of(server))
        await server.start_serving()
        assert server.is_serving()
        async with connect(uri_of(server)) as websocket:
            await websocket.send("now")
            assert await websocket.recv() == "now"


async def test_serve_forever_cancelled_closes_server() -> None:
    server = await serve(wait_forever, "127.0.0.1", 0)
    task = asyncio.create_task(server.serve_forever())
    websocket = await connect(uri_of(server))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(5):
            await task
    assert not server.is_serving()
    async with asyncio.timeout(5):
        await server.wait_closed()
        await websocket.wait_closed()
    assert websocket.close_code == CloseCode.GOING_AWAY


async def test_close_twice_is_harmless() -> None:
    server = await serve(echo, "127.0.0.1", 0)
    server.close()
    server.close()
    async with asyncio.timeout(5):
        await server.wait_closed()
        await server.wait_closed()


async def wait_not_serving(server: Server) -> None:
    """Let the closing task, scheduled by close(), stop the listening socket."""
    async with asyncio.timeout(5):
        while server.is_serving():
            await asyncio.sleep(0)


async def test_close_closes_connections_with_1001_and_waits_for_handlers() -> None:
    release = asyncio.Event()
    closed_with: list[int] = []
    finished: list[ServerConnection] = []

    async def handler(websocket: ServerConnection) -> None:
        with pytest.raises(ConnectionClosedOK) as exc_info:
            await websocket.recv()
        assert exc_info.value.sent is not None
        closed_with.append(exc_info.value.sent.code)
        # The handler may clean up for a while; wait_closed waits for it.
        await release.wait()
        finished.append(websocket)

    server = await serve(handler, "127.0.0.1", 0)
    clients = [await connect(uri_of(server)) for _ in range(2)]
    server.close()
    async with asyncio.timeout(5):
        for client in clients:
            await client.wait_closed()
            assert client.close_code == CloseCode.GOING_AWAY
    waiter = asyncio.create_task(server.wait_closed())
    await asyncio.sleep(0.05)  # let time pass: wait_closed must not return yet
    assert not waiter.done()
    assert finished == []
    release.set()
    async with asyncio.timeout(5):
        await waiter
    assert len(finished) == 2
    assert closed_with == [CloseCode.GOING_AWAY, CloseCode.GOING_AWAY]


async def test_close_logs_a_connection_that_fails_to_close(
    caplog: pytest.LogCaptureFixture,
) -> None:
    accepted: asyncio.Queue[ServerConnection] = asyncio.Queue()

    async def handler(connection: ServerConnection) -> None:
        accepted.put_nowait(connection)
        await connection.wait_closed()

    server = await serve(handler, "127.0.0.1", 0, compression=None)
    client = await connect(uri_of(server))
    async with asyncio.timeout(5):
        connection = await accepted.get()
    # Half-closed behind the protocol's back: the transport refuses the
    # Close frame, and close() raises.
    connection.transport.write_eof()
    with caplog.at_level(logging.ERROR, "websockets_typed.server"):
        server.close()
        async with asyncio.timeout(5):
            await server.wait_closed()
            await client.wait_closed()
    (record,) = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert record.getMessage() == "closing a connection failed"
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)


async def test_close_without_closing_connections() -> None:
    server = await serve(echo, "127.0.0.1", 0)
    uri = uri_of(server)
    websocket = await connect(uri)
    server.close(close_connections=False)
    await wait_not_serving(server)
    # New connections are refused...
    with pytest.raises(OSError):
        await connect(uri)
    # ... but the open one goes on until it ends.
    await websocket.send("still there")
    assert await websocket.recv() == "still there"
    waiter = asyncio.create_task(server.wait_closed())
    await asyncio.sleep(0.05)  # let time pass: the server waits for the connection
    assert not waiter.done()
    await websocket.close()
    async with asyncio.timeout(5):
        await waiter
    assert websocket.close_code == CloseCode.NORMAL_CLOSURE


async def test_handshake_in_progress_while_closing_gets_503() -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def process_request(connection: ServerConnection, request: Request) -> None:
        entered.set()
        await release.wait()

    server = await serve(echo, "127.0.0.1", 0, process_request=process_request)
    client = asyncio.create_task(handshake_error(uri_of(server)))
    async with asyncio.timeout(5):
        await entered.wait()
    server.close()
    await wait_not_serving(server)
    release.set()
    exc = await client
    assert exc.response.status_code == 503
    assert exc.response.body == b"Server is shutting down.\n"
    async with asyncio.timeout(5):
        await server.wait_closed()


# Handler.


async def test_handler_return_closes_with_1000() -> None:
    async def handler(websocket: ServerConnection) -> None:
        await websocket.send("bye")

    async with serve(handler, "127.0.0.1", 0) as server, connect(uri_of(server)) as websocket:
        assert await websocket.recv() == "bye"
        async with asyncio.timeout(5):
            await websocket.wait_closed()
        assert websocket.close_code == CloseCode.NORMAL_CLOSURE


async def test_legacy_handler_receives_path() -> None:
    received: list[str] = []

    async def handler(websocket: ServerConnection, path: str) -> None:
        received.append(path)
        await websocket.send(path)

    async with (
        serve(handler, "127.0.0.1", 0) as server,
        connect(uri_of(server, "/chat/room?id=42")) as websocket,
    ):
        assert await websocket.recv() == "/chat/room?id=42"
    assert received == ["/chat/room?id=42"]


async def test_handler_with_var_positional_gets_path_too() -> None:
    received: list[object] = []

    async def handler(*args: object) -> None:
        received.extend(args[1:])

    async with (
        serve(handler, "127.0.0.1", 0) as server,
        connect(uri_of(server, "/p")) as websocket,
    ):
        await websocket.wait_closed()
    assert received == ["/p"]


async def test_handler_exception_logged_with_connection_context(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="websockets_typed")
    connections: list[ServerConnection] = []

    async def handler(websocket: ServerConnection) -> None:
        connections.append(websocket)
        raise RuntimeError("boom")

    async with serve(handler, "127.0.0.1", 0) as server:
        async with connect(uri_of(server)) as websocket:
            async with asyncio.timeout(5):
                await websocket.wait_closed()
            assert websocket.close_code == CloseCode.INTERNAL_ERROR
        # The server keeps serving after a handler failed.
        async with connect(uri_of(server)) as websocket:
            await websocket.wait_closed()

    errors = [record for record in library_records(caplog) if record.levelno >= logging.ERROR]
    assert len(errors) == 2
    record = errors[0]
    assert record.name == "websockets_typed.server"
    assert record.getMessage() == "connection handler failed"
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)
    (connection, _) = connections
    assert record.__dict__["connection_id"] == str(connection.id)
    assert record.__dict__["websocket"] is connection
    assert record.__dict__["remote_address"] == connection.remote_address


async def test_custom_logger_adapter(caplog: pytest.LogCaptureFixture) -> None:
    """A LoggerAdapter works as logger; records still get the connection context."""
    caplog.set_level(logging.INFO, logger="custom")
    adapter = logging.LoggerAdapter(logging.getLogger("custom"), {"app": "test"})

    async with (
        serve(echo, "127.0.0.1", 0, logger=adapter) as server,
        connect(uri_of(server)) as websocket,
    ):
        await websocket.send("x")
        await websocket.recv()
    opened = [record for record in caplog.records if record.getMessage() == "connection open"]
    assert len(opened) == 1
    assert opened[0].name == "custom"
    assert "connection_id" in opened[0].__dict__


async def test_create_connection_subclass() -> None:
    class MyConnection(ServerConnection):
        greeting = "custom"

    classes: list[type] = []

    async def handler(websocket: ServerConnection) -> None:
        classes.append(type(websocket))
        assert isinstance(websocket, MyConnection)
        await websocket.send(websocket.greeting)

    async with (
        serve(handler, "127.0.0.1", 0, create_connection=MyConnection) as server,
        connect(uri_of(server)) as websocket,
    ):
        assert await websocket.recv() == "custom"
    assert classes == [MyConnection]


@pytest.mark.parametrize("given", [False, True])
async def test_connections_get_the_options_of_serve(given: bool) -> None:
    """serve() passes its options to each connection, its defaults included:
    a subclass's own defaults don't apply."""
    seen: list[tuple[float | None, float | None]] = []

    class OwnDefaults(ServerConnection):
        def __init__(
            self,
            protocol: ServerProtocol,
            server: Server,
            *,
            ping_interval: float | None = 1.0,
            close_timeout: float | None = 2.0,
            **kwargs: Any,
        ) -> None:
            super().__init__(
                protocol, server, ping_interval=ping_interval, close_timeout=close_timeout, **kwargs
            )

    async def handler(websocket: ServerConnection) -> None:
        seen.append((websocket.ping_interval, websocket.close_timeout))

    def start(connection_class: type[ServerConnection]) -> serve[ServerConnection]:
        if given:
            return serve(
                handler, "127.0.0.1", 0, create_connection=connection_class, ping_interval=7
            )
        return serve(handler, "127.0.0.1", 0, create_connection=connection_class)

    for connection_class in (ServerConnection, OwnDefaults):
        async with start(connection_class) as server, connect(uri_of(server)) as websocket:
            await websocket.wait_closed()
    expected = (7 if given else PING_INTERVAL, CLOSE_TIMEOUT)
    assert seen == [expected, expected]


async def test_create_connection_types_the_handler() -> None:
    """serve() is generic over create_connection: the handler takes the subclass."""

    class UserConnection(ServerConnection):
        user = "alice"
        early: Exception | None = None
        early_path: Exception | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            # Before the request arrives, request raises rather than return
            # None; so does path, of the legacy API.
            try:
                _ = self.request
            except InvalidState as exc:
                self.early = exc
            try:
                _ = self.path
            except InvalidState as exc:
                self.early_path = exc
            super().connection_made(transport)

    async def handler(websocket: UserConnection) -> None:
        assert str(websocket.early) == "the opening handshake request hasn't arrived"
        assert str(websocket.early_path) == "the opening handshake request hasn't arrived"
        await websocket.send(f"{websocket.user} on {websocket.request.path}")

    async with (
        serve(handler, "127.0.0.1", 0, create_connection=UserConnection) as server,
        connect(uri_of(server, "/room")) as websocket,
    ):
        assert await websocket.recv() == "alice on /room"


async def test_legacy_attribute_names() -> None:
    """path, request_headers, response_headers, open and closed, on both sides."""
    seen: dict[str, object] = {}

    async def handler(websocket: ServerConnection) -> None:
        seen["path"] = websocket.path
        seen["request_headers"] = websocket.request_headers
        seen["response_headers"] = websocket.response_headers
        seen["open"] = websocket.open
        seen["closed"] = websocket.closed
        await websocket.wait_closed()
        seen["open after"] = websocket.open
        seen["closed after"] = websocket.closed

    async with serve(handler, "127.0.0.1", 0) as server:
        websocket = await connect(uri_of(server, "/legacy?x=1"))
        assert websocket.path == "/legacy?x=1"
        assert websocket.request_headers["Host"] == f"127.0.0.1:{port_of(server)}"
        assert websocket.response_headers["Upgrade"] == "websocket"
        assert (websocket.open, websocket.closed) == (True, False)
        await websocket.close()
        assert (websocket.open, websocket.closed) == (False, True)
    assert seen["path"] == "/legacy?x=1"
    request_headers = seen["request_headers"]
    assert isinstance(request_headers, Headers)
    assert request_headers["Sec-WebSocket-Key"] == websocket.request_headers["Sec-WebSocket-Key"]
    response_headers = seen["response_headers"]
    assert isinstance(response_headers, Headers)
    assert (
        response_headers["Sec-WebSocket-Accept"]
        == websocket.response_headers["Sec-WebSocket-Accept"]
    )
    assert seen["open"] is True
    assert seen["closed"] is False
    assert seen["open after"] is False
    assert seen["closed after"] is True


# process_request.


def continue_sync(connection: ServerConnection, request: Request) -> Response | None:
    """A synchronous hook that lets every handshake continue."""
    connection.logger.info("sync hook saw %s", request.path)
    return None


async def continue_async(connection: ServerConnection, request: Request) -> Response | None:
    """An asynchronous hook that lets every handshake continue."""
    await asyncio.sleep(0)
    connection.logger.info("async hook saw %s", request.path)
    return None


@pytest.mark.parametrize("hook", [continue_sync, continue_async])
async def test_process_request_returning_none_continues(
    hook: ProcessRequest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="websockets_typed")
    async with (
        serve(echo, "127.0.0.1", 0, process_request=hook) as server,
        connect(uri_of(server, "/ws")) as websocket,
    ):
        await websocket.send("through")
        assert await websocket.recv() == "through"
    assert any(message.endswith("hook saw /ws") for message in caplog.messages)


def health_check_sync(connection: ServerConnection, request: Request) -> Response | None:
    """Answer /healthz with plain HTTP."""
    if request.path == "/healthz":
        return connection.respond(http.HTTPStatus.OK, "OK\n")
    return None


async def health_check_async(connection: ServerConnection, request: Request) -> Response | None:
    """Answer /healthz with plain HTTP, asynchronously."""
    return health_check_sync(connection, request)


@pytest.mark.parametrize("hook", [health_check_sync, health_check_async])
async def test_process_request_answers_plain_http(hook: ProcessRequest) -> None:
    async with serve(echo, "127.0.0.1", 0, process_request=hook) as server:
        status, headers, body = parse_http(await raw_http(port_of(server), get_request("/healthz")))
        assert status == 200
        assert body == b"OK\n"
        assert headers["content-length"] == "3"
        assert headers["content-type"] == "text/plain; charset=utf-8"
        assert headers["server"] == USER_AGENT
        # A WebSocket client on that path gets the 200 as a rejection.
        exc = await handshake_error(uri_of(server, "/healthz"))
        assert exc.response.status_code == 200
        assert exc.response.body == b"OK\n"
        # Other paths are WebSocket endpoints.
        async with connect(uri_of(server, "/ws")) as websocket:
            await websocket.send("ws")
            assert await websocket.recv() == "ws"


async def test_process_request_answer_with_status_as_int() -> None:
    def teapot(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(418, "short and stout\n")

    async with serve(echo, "127.0.0.1", 0, process_request=teapot) as server:
        exc = await handshake_error(uri_of(server))
        assert exc.response.status_code == 418
        assert exc.response.body == b"short and stout\n"


async def test_process_request_abort_handshake() -> None:
    async def process_request(connection: ServerConnection, request: Request) -> None:
        raise AbortHandshake(
            http.HTTPStatus.UNAUTHORIZED,
            {"WWW-Authenticate": 'Basic realm="test"'},
            b"credentials required\n",
        )

    async with serve(echo, "127.0.0.1", 0, process_request=process_request) as server:
        exc = await handshake_error(uri_of(server))
        assert exc.response.status_code == 401
        assert exc.response.reason_phrase == "Unauthorized"
        assert exc.response.headers["WWW-Authenticate"] == 'Basic realm="test"'
        assert exc.response.body == b"credentials required\n"
        # The connection is closed after the response.
        status, _, body = parse_http(await raw_http(port_of(server), get_request()))
        assert status == 401
        assert body == b"credentials required\n"


async def test_process_request_error_gives_500_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="websockets_typed")

    def process_request(connection: ServerConnection, request: Request) -> None:
        raise ZeroDivisionError("bug in hook")

    async with serve(echo, "127.0.0.1", 0, process_request=process_request) as server:
        exc = await handshake_error(uri_of(server))
        assert exc.response.status_code == 500
        assert exc.response.body is not None
        assert b"See server log" in exc.response.body
    errors = [record for record in library_records(caplog) if record.levelno >= logging.ERROR]
    assert [record.getMessage().partition(";")[0] for record in errors] == [
        "process_request failed"
    ]
    assert errors[0].exc_info is not None
    assert isinstance(errors[0].exc_info[1], ZeroDivisionError)
    assert "connection_id" in errors[0].__dict__


# process_response.


def add_header_sync(
    connection: ServerConnection, request: Request, response: Response
) -> Response | None:
    """Modify the response in place."""
    response.headers["X-Hook"] = "sync"
    return None


async def add_header_async(
    connection: ServerConnection, request: Request, response: Response
) -> Response | None:
    """Modify the response in place, asynchronously."""
    await asyncio.sleep(0)
    response.headers["X-Hook"] = "async"
    return None


@pytest.mark.parametrize(
    ("hook", "value"), [(add_header_sync, "sync"), (add_header_async, "async")]
)
async def test_process_response_modifies_headers(hook: ProcessResponse, value: str) -> None:
    async with (
        serve(echo, "127.0.0.1", 0, process_response=hook) as server,
        connect(uri_of(server)) as websocket,
    ):
        assert websocket.response is not None
        assert websocket.response.headers["X-Hook"] == value
        await websocket.send("ok")
        assert await websocket.recv() == "ok"


def replace_sync(
    connection: ServerConnection, request: Request, response: Response
) -> Response | None:
    """Replace the handshake response with a rejection."""
    assert response.status_code == 101
    return connection.respond(http.HTTPStatus.FORBIDDEN, "replaced\n")


async def replace_async(
    connection: ServerConnection, request: Request, response: Response
) -> Response | None:
    """Replace the handshake response with a rejection, asynchronously."""
    return replace_sync(connection, request, response)


@pytest.mark.parametrize("hook", [replace_sync, replace_async])
async def test_process_response_replaces_response(hook: ProcessResponse) -> None:
    async with serve(echo, "127.0.0.1", 0, process_response=hook) as server:
        exc = await handshake_error(uri_of(server))
        assert exc.response.status_code == 403
        assert exc.response.body == b"replaced\n"


async def test_process_response_sees_server_header_and_rejections() -> None:
    seen: list[tuple[int, str | None]] = []

    def process_response(
        connection: ServerConnection, request: Request, response: Response
    ) -> None:
        seen.append((response.status_code, response.headers.get("Server")))

    async with serve(
        echo, "127.0.0.1", 0, origins=["https://good"], process_response=process_response
    ) as server:
        await handshake_error(uri_of(server), origin="https://evil")
        async with connect(uri_of(server), origin="https://good"):
            pass
    assert seen == [(403, USER_AGENT), (101, USER_AGENT)]


async def test_process_response_error_gives_500_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="websockets_typed")

    async def process_response(
        connection: ServerConnection, request: Request, response: Response
    ) -> None:
        raise KeyError("bug in hook")

    async with serve(echo, "127.0.0.1", 0, process_response=process_response) as server:
        exc = await handshake_error(uri_of(server))
        assert exc.response.status_code == 500
    errors = [
        record.getMessage() for record in library_records(caplog) if record.levelno >= logging.ERROR
    ]
    assert [error.partition(";")[0] for error in errors] == ["process_response failed"]


# Response headers.


async def test_server_header_default() -> None:
    async with serve(echo, "127.0.0.1", 0) as server, connect(uri_of(server)) as websocket:
        assert websocket.response_headers["Server"] == USER_AGENT
    assert re.fullmatch(r"Python/3\.\d+ websockets_typed/\S+", USER_AGENT)


async def test_server_header_custom() -> None:
    async with (
        serve(echo, "127.0.0.1", 0, server_header="MyServer/1.0") as server,
        connect(uri_of(server)) as websocket,
    ):
        assert websocket.response_headers["Server"] == "MyServer/1.0"


async def test_server_header_none() -> None:
    async with (
        serve(echo, "127.0.0.1", 0, server_header=None) as server,
        connect(uri_of(server)) as websocket,
    ):
        assert "Server" not in websocket.response_headers
    # Rejections don't get one either.
    async with serve(echo, "127.0.0.1", 0, server_header=None) as server:
        _, headers, _ = parse_http(await raw_http(port_of(server), get_request()))
        assert "server" not in headers


async def test_extra_headers_mapping() -> None:
    async with (
        serve(echo, "127.0.0.1", 0, extra_headers={"X-Extra": "1", "X-Other": "2"}) as server,
        connect(uri_of(server)) as websocket,
    ):
        assert websocket.response_headers["X-Extra"] == "1"
        assert websocket.response_headers["X-Other"] == "2"


async def test_extra_headers_pairs_not_on_rejections() -> None:
    async with serve(echo, "127.0.0.1", 0, extra_headers=[("X-Extra", "pair")]) as server:
        async with connect(uri_of(server)) as websocket:
            assert websocket.response_headers["X-Extra"] == "pair"
        # extra_headers only decorate successful handshakes.
        _, headers, _ = parse_http(await raw_http(port_of(server), get_request()))
        assert "x-extra" not in headers


async def test_extra_headers_callable() -> None:
    calls: list[tuple[str, str]] = []

    def extra_headers(path: str, request_headers: Headers) -> Headers:
        calls.append((path, request_headers["X-Client"]))
        return Headers({"X-Path": path})

    async with (
        serve(echo, "127.0.0.1", 0, extra_headers=extra_headers) as server,
        connect(uri_of(server, "/a?b=c"), additional_headers={"X-Client": "me"}) as websocket,
    ):
        assert websocket.response_headers["X-Path"] == "/a?b=c"
    assert calls == [("/a?b=c", "me")]


# Negotiation.


async def test_origins_allowed_and_rejected() -> None:
    origins: list[str | re.Pattern[str] | None] = [
        "https://example.com",
        re.compile(r"https://[a-z]+\.example\.org"),
        None,
    ]
    async with serve(echo, "127.0.0.1", 0, origins=origins) as server:
        for origin in ["https://example.com", "https://sub.example.org", None]:
            async with connect(uri_of(server), origin=origin) as websocket:
                await websocket.send("ok")
                assert await websocket.recv() == "ok"
        exc = await handshake_error(uri_of(server), origin="https://evil.com")
        assert exc.response.status_code == 403
        assert exc.response.body is not None
        assert b"Origin" in exc.response.body


async def test_origins_without_none_rejects_missing_origin() -> None:
    async with serve(echo, "127.0.0.1", 0, origins=["https://example.com"]) as server:
        exc = await handshake_error(uri_of(server))
        assert exc.response.status_code == 403


async def test_subprotocols_negotiated() -> None:
    server_side: list[str | None] = []

    async def handler(websocket: ServerConnection) -> None:
        server_side.append(websocket.subprotocol)

    async with serve(handler, "127.0.0.1", 0, subprotocols=["superchat", "chat"]) as server:
        async with connect(uri_of(server), subprotocols=["chat", "superchat"]) as websocket:
            # The server's preference wins.
            assert websocket.subprotocol == "superchat"
        # A client offering none of them is rejected.
        exc = await handshake_error(uri_of(server))
        assert exc.response.status_code == 400
        async with connect(uri_of(server), subprotocols=["chat"]) as websocket:
            assert websocket.subprotocol == "chat"
    assert server_side == ["superchat", "chat"]


async def test_select_subprotocol_hook() -> None:
    calls: list[tuple[ServerConnection, list[Subprotocol]]] = []

    def select_subprotocol(
        connection: ServerConnection, subprotocols: Sequence[Subprotocol]
    ) -> Subprotocol | str | None:
        calls.append((connection, list(subprotocols)))
        if "v2" in subprotocols:
            return "v2"
        return None

    async with serve(echo, "127.0.0.1", 0, select_subprotocol=select_subprotocol) as server:
        async with connect(uri_of(server), subprotocols=["v1", "v2"]) as websocket:
            assert websocket.subprotocol == "v2"
        async with connect(uri_of(server), subprotocols=["v1"]) as websocket:
            assert websocket.subprotocol is None
        async with connect(uri_of(server)) as websocket:
            assert websocket.subprotocol is None
    assert [offered for _, offered in calls] == [["v1", "v2"], ["v1"], []]
    assert all(isinstance(connection, ServerConnection) for connection, _ in calls)


async def test_select_subprotocol_hook_returning_unoffered_value() -> None:
    def select_subprotocol(
        connection: ServerConnection, subprotocols: Sequence[Subprotocol]
    ) -> Subprotocol | str | None:
        return "not offered"

    async with serve(echo, "127.0.0.1", 0, select_subprotocol=select_subprotocol) as server:
        exc = await handshake_error(uri_of(server))
        assert exc.response.status_code == 400


async def test_select_subprotocol_hook_rejects() -> None:
    def select_subprotocol(
        connection: ServerConnection, subprotocols: Sequence[Subprotocol]
    ) -> Subprotocol | str | None:
        raise NegotiationError("no subprotocol for you")

    async with serve(echo, "127.0.0.1", 0, select_subprotocol=select_subprotocol) as server:
        exc = await handshake_error(uri_of(server))
        assert exc.response.status_code == 400
        assert exc.response.body is not None
        assert b"no subprotocol for you" in exc.response.body


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_compression(compression: str | None) -> None:
    server_extensions: list[list[object]] = []

    async def handler(websocket: ServerConnection) -> None:
        server_extensions.append(list(websocket.protocol.extensions))
        await echo(websocket)

    async with (
        serve(
            handler,
            "127.0.0.1",
            0,
            compression="deflate" if compression else None,
        ) as server,
        connect(uri_of(server)) as websocket,
    ):
        await websocket.send("compressible " * 100)
        assert await websocket.recv() == "compressible " * 100
        client_extensions = websocket.protocol.extensions
        header = websocket.response_headers.get("Sec-WebSocket-Extensions")
    (extensions,) = server_extensions
    if compression:
        assert header is not None
        assert header.startswith("permessage-deflate")
        assert len(extensions) == 1
        assert isinstance(extensions[0], PerMessageDeflate)
        assert len(client_extensions) == 1
        assert isinstance(client_extensions[0], PerMessageDeflate)
    else:
        assert header is None
        assert extensions == []
        assert client_extensions == []


async def test_unsupported_compression() -> None:
    with pytest.raises(ValueError, match="unsupported compression"):
        await serve(echo, "127.0.0.1", 0, compression="gzip")  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]


# Failed handshakes.


async def test_handshake_failures_are_not_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="websockets_typed")
    async with serve(echo, "127.0.0.1", 0, origins=["https://ok"], open_timeout=0.1) as server:
        port = port_of(server)
        # Not a WebSocket request: 426.
        status, headers, _ = parse_http(await raw_http(port, get_request()))
        assert status == 426
        assert headers["upgrade"] == "websocket"
        # Forbidden origin: 403.
        assert (
            await handshake_error(uri_of(server), origin="https://ko")
        ).response.status_code == 403
        # Malformed request: 400.
        status, _, _ = parse_http(await raw_http(port, b"NONSENSE\r\n\r\n"))
        assert status == 400
        # Silent client: dropped.
        assert await raw_http(port, b"") == b""
    failures = [record for record in caplog.records if "opening handshake" in record.getMessage()]
    assert failures
    assert {record.levelno for record in failures} <= {logging.INFO, logging.DEBUG}
    assert all(record.levelno < logging.WARNING for record in library_records(caplog))


async def test_silent_client_dropped_after_open_timeout(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="websockets_typed")
    async with (
        serve(echo, "127.0.0.1", 0, open_timeout=0.1) as server,
        raw_stream(port_of(server)) as (reader, _),
        asyncio.timeout(5),
    ):
        assert await reader.read() == b""
    assert "opening handshake timed out" in caplog.messages


async def test_slow_process_request_hits_open_timeout() -> None:
    async def process_request(connection: ServerConnection, request: Request) -> None:
        await asyncio.sleep(10)

    async with serve(
        echo, "127.0.0.1", 0, open_timeout=0.1, process_request=process_request
    ) as server:
        with pytest.raises(InvalidHandshake):
            async with asyncio.timeout(5):
                await connect(uri_of(server))


async def test_no_open_timeout() -> None:
    # open_timeout=None: no timer, the handshake takes as long as it takes.
    async with (
        serve(echo, "127.0.0.1", 0, open_timeout=None) as server,
        connect(uri_of(server)) as websocket,
        asyncio.timeout(5),
    ):
        await websocket.send("hello")
        assert await websocket.recv() == "hello"


async def test_other_cancellation_of_handshake_is_not_a_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # open_timeout cancels the task with a message of its own; any other
    # cancellation goes through: the connection is aborted, nothing says
    # that the handshake timed out, and the server goes on.
    caplog.set_level(logging.INFO, logger="websockets_typed")
    started = asyncio.Event()

    async def process_request(connection: ServerConnection, request: Request) -> None:
        started.set()
        await asyncio.sleep(10)

    async with (
        serve(echo, "127.0.0.1", 0, open_timeout=10, process_request=process_request) as server,
        raw_stream(port_of(server)) as (reader, writer),
        asyncio.timeout(5),
    ):
        writer.write(http_request("GET", "/", [("Host", "localhost")]))
        await started.wait()
        (task,) = server._handlers.values()
        task.cancel()
        assert await reader.read() == b""
        with pytest.raises(asyncio.CancelledError):
            await task
    assert "opening handshake timed out" not in caplog.messages


async def test_malformed_request_gets_400_and_server_keeps_serving() -> None:
    async with serve(echo, "127.0.0.1", 0) as server:
        # A header line without a colon: bytes no request helper builds.
        data = await raw_http(port_of(server), b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n")
        status, _, body = parse_http(data)
        assert status == 400
        assert body.startswith(b"Failed to open a WebSocket connection")
        async with connect(uri_of(server)) as websocket:
            await websocket.send("fine")
            assert await websocket.recv() == "fine"


async def test_too_long_header_gets_431() -> None:
    async with serve(echo, "127.0.0.1", 0) as server:
        request = http_request("GET", "/", [("Host", "localhost"), ("X-Big", "a" * 10_000)])
        status, _, _ = parse_http(await raw_http(port_of(server), request))
        assert status == 431
        async with connect(uri_of(server)) as websocket:
            await websocket.send("fine")
            assert await websocket.recv() == "fine"


async def test_truncated_request_closes_quietly(caplog: pytest.LogCaptureFixture) -> None:
    """A client that sends half a request then its EOF gets no response."""
    caplog.set_level(logging.INFO, logger="websockets_typed")
    async with serve(echo, "127.0.0.1", 0) as server:
        # Half a request, then EOF: bytes no request helper builds.
        truncated = b"GET / HTTP/1.1\r\nHost: loc"
        assert await http_exchange(port_of(server), truncated, half_close=True, timeout=5) == b""
    assert any("opening handshake failed" in message for message in caplog.messages)


async def test_rejected_client_that_never_closes_is_aborted() -> None:
    """After a rejection, the server waits close_timeout for the client to close."""
    async with (
        serve(echo, "127.0.0.1", 0, close_timeout=0.1) as server,
        raw_stream(port_of(server)) as (reader, writer),
        asyncio.timeout(5),
    ):
        writer.write(get_request())
        response = await reader.read()
        assert parse_http(response)[0] == 426
        # The client keeps its side open; the server must not wait
        # for it forever: closing the server completes.
        server.close()
        await server.wait_closed()


# TLS.


async def test_serve_tls(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_context, client_context = tls
    async with serve(echo, "127.0.0.1", 0, ssl=server_context) as server:
        uri = f"wss://127.0.0.1:{port_of(server)}/"
        async with connect(uri, ssl=client_context) as websocket:
            assert websocket.transport.get_extra_info("ssl_object") is not None
            await websocket.send("secret")
            assert await websocket.recv() == "secret"


async def test_connection_lost_during_process_request(caplog: pytest.LogCaptureFixture) -> None:
    """If the connection ends while process_request runs, the handler never runs."""
    caplog.set_level(logging.INFO, logger="websockets_typed")
    handled: list[ServerConnection] = []

    async def handler(websocket: ServerConnection) -> None:  # pragma: no cover - must not run
        handled.append(websocket)

    async def process_request(connection: ServerConnection, request: Request) -> None:
        # Reading is paused during the hook, so a peer that goes away is only
        # noticed when the transport closes: abort it to simulate that.
        connection.transport.abort()
        await connection.wait_closed()

    async with serve(handler, "127.0.0.1", 0, process_request=process_request) as server:
        with pytest.raises(InvalidHandshake):
            async with asyncio.timeout(5):
                await connect(uri_of(server))
    assert handled == []
    assert all(record.levelno < logging.WARNING for record in library_records(caplog))
    assert any("opening handshake failed" in message for message in caplog.messages)


async def test_cancelled_handler_aborts_connection() -> None:
    """When the event loop shuts down, handler tasks are cancelled: connections are aborted."""
    opened = asyncio.Event()

    async def handler(websocket: ServerConnection) -> None:
        opened.set()
        await asyncio.sleep(10)

    async with serve(handler, "127.0.0.1", 0) as server, connect(uri_of(server)) as websocket:
        await opened.wait()
        (task,) = server._handlers.values()
        task.cancel()
        async with asyncio.timeout(5):
            await websocket.wait_closed()
        assert websocket.close_code == CloseCode.ABNORMAL_CLOSURE
        assert server._handlers == {}


async def test_server_default_logger() -> None:
    async def handler(websocket: ServerConnection) -> None:  # pragma: no cover - never called
        pass

    server = Server(handler)
    assert isinstance(server.logger, logging.Logger)
    assert server.logger.name == "websockets_typed.server"


async def test_handler_exiting_with_connection_closed_is_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="websockets_typed")

    async def handler(websocket: ServerConnection) -> None:
        await websocket.recv()  # raises ConnectionClosedOK when the client leaves

    async with serve(handler, "127.0.0.1", 0) as server:
        async with connect(uri_of(server)):
            pass
        server.close()
        async with asyncio.timeout(5):
            await server.wait_closed()
    assert all(record.levelno < logging.WARNING for record in library_records(caplog))
    assert any("connection handler exited" in message for message in caplog.messages)

"""Programs written from the seeds' text run unchanged, and nothing fails silently.

Seed 001 documents the high-level API at ``websockets.server``,
``websockets.client`` and ``websockets.protocol``; seed 002 shows it in the
getting-started examples. Here the same programs import ``websockets_typed``
instead of ``websockets`` (and listen on a free port rather than 8765, since
tests run in parallel), and each asserts what the seed says happens.

The second half covers the silent failures of the issue: hooks that raise or
return the wrong type must answer 500 at once and log an ERROR, unknown
keyword arguments must raise :exc:`TypeError`. Waits are bounded by
``asyncio.timeout`` so that a regression fails fast instead of hanging.
"""

from __future__ import annotations

import asyncio
import http
import inspect
import logging
import socket
import ssl
import subprocess
import sys
import types
import warnings
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, cast

import pytest
import trustme

import websockets_typed
from websockets_typed import _defaults
from websockets_typed import client as client_module
from websockets_typed import protocol as protocol_module
from websockets_typed import server as server_module
from websockets_typed.asyncio.client import ClientConnection, unix_connect
from websockets_typed.asyncio.client import connect as modern_connect
from websockets_typed.asyncio.server import ServerConnection
from websockets_typed.asyncio.server import serve as modern_serve
from websockets_typed.asyncio.server import unix_serve as modern_unix_serve
from websockets_typed.client import ClientProtocol, WebSocketClientProtocol, connect
from websockets_typed.datastructures import Headers
from websockets_typed.exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidStatus,
    InvalidStatusCode,
)
from websockets_typed.frames import CloseCode
from websockets_typed.http11 import Request, Response
from websockets_typed.protocol import OPEN, WebSocketCommonProtocol
from websockets_typed.server import (
    WebSocketServer,
    WebSocketServerProtocol,
    serve,
    unix_serve,
)
from websockets_typed.typing import Subprotocol
from websockets_typed.uri import parse_uri

# Helpers.


def port_of(server: WebSocketServer) -> int:
    """The port a legacy server listens on."""
    sockets = server.sockets
    assert sockets is not None
    port: int = sockets[0].getsockname()[1]
    return port


def free_port() -> int:
    """A TCP port that nothing listens on, for programs that choose their port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """ERROR records of this library's loggers."""
    return [
        record
        for record in caplog.records
        if record.name.startswith("websockets_typed") and record.levelno >= logging.ERROR
    ]


async def echo(websocket: WebSocketServerProtocol, path: str) -> None:
    """Seed 002's echo handler."""
    async for message in websocket:
        await websocket.send(message)


async def modern_echo(websocket: ServerConnection) -> None:
    """The echo handler, for the modern serve()."""
    async for message in websocket:
        await websocket.send(message)


async def rejected(uri: str, subprotocols: Sequence[str] | None = None) -> InvalidStatus:
    """Connect to a server that must reject the handshake at once; return the error."""
    with pytest.raises(InvalidStatus) as exc_info:
        # Far below open_timeout: a server that doesn't answer fails the test.
        async with asyncio.timeout(2):
            await modern_connect(uri, subprotocols=subprotocols)
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


# Seed 002: the getting-started programs, run as programs.

SEED_002_PROGRAM = """
import asyncio
import websockets_typed

async def echo(websocket, path):
    async for message in websocket:
        await websocket.send(message)

async def hello(websocket, path):
    name = await websocket.recv()
    greeting = f"Hello {name}!"
    await websocket.send(greeting)
    print(f"> {greeting}")

start_server = websockets_typed.serve(echo, "localhost", PORT)
asyncio.get_event_loop().run_until_complete(start_server)
start_server = websockets_typed.serve(hello, "localhost", PORT + 1)
asyncio.get_event_loop().run_until_complete(start_server)

async def hello_client():
    uri = "ws://localhost:PORT"
    async with websockets_typed.connect(uri) as websocket:
        await websocket.send("Hello world!")
        print(f"< {await websocket.recv()}")

async def name_client():
    uri = "ws://localhost:NEXT"
    async with websockets_typed.connect(uri) as websocket:
        name = "Alice"
        await websocket.send(name)
        print(f"> {name}")
        greeting = await websocket.recv()
        print(f"< {greeting}")

asyncio.get_event_loop().run_until_complete(hello_client())
asyncio.get_event_loop().run_until_complete(name_client())
"""


def run_program(source: str) -> str:
    """Run a program in a fresh interpreter; return what it printed."""
    result = subprocess.run(
        [sys.executable, "-c", source],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_seed_002_hello_and_echo_programs() -> None:
    port = free_port()
    source = SEED_002_PROGRAM.replace("NEXT", str(port + 1)).replace("PORT", str(port))
    output = run_program(source)
    assert output.splitlines() == ["< Hello world!", "> Alice", "> Hello Alice!", "< Hello Alice!"]


SEED_001_PROGRAM = """
import asyncio
import http
import websockets_typed.client
import websockets_typed.server

class AuthProtocol(websockets_typed.server.WebSocketServerProtocol):
    async def process_request(self, path, request_headers):
        if request_headers.get("Authorization") != "Token secret":
            return http.HTTPStatus.UNAUTHORIZED, [("WWW-Authenticate", "Token")], b"no\\n"

async def handler(websocket, path):
    await websocket.send(f"{type(websocket).__name__} {path}")

async def main():
    server = await websockets_typed.server.serve(
        handler, "127.0.0.1", PORT, create_protocol=AuthProtocol
    )
    try:
        await websockets_typed.client.connect("ws://127.0.0.1:PORT/")
    except websockets_typed.InvalidStatusCode as exc:
        print(exc.status_code)
    async with websockets_typed.client.connect(
        "ws://127.0.0.1:PORT/chat", extra_headers={"Authorization": "Token secret"}
    ) as websocket:
        print(await websocket.recv())
    server.close()
    await server.wait_closed()
    print(server.sockets)

asyncio.get_event_loop().run_until_complete(main())
"""


def test_seed_001_program_with_subclass() -> None:
    output = run_program(SEED_001_PROGRAM.replace("PORT", str(free_port())))
    assert output.splitlines() == ["401", "AuthProtocol /chat", "None"]


# Seed 001: the names at their module paths.


# Seed 001's defaults of the legacy protocols' options, and the constants
# of the defaults module that give them.
LEGACY_DEFAULTS = {
    "ping_interval": (_defaults.PING_INTERVAL, 20),
    "ping_timeout": (_defaults.PING_TIMEOUT, 20),
    "close_timeout": (_defaults.CLOSE_TIMEOUT, 10),
    "max_size": (_defaults.MAX_SIZE, 2**20),
    "max_queue": (_defaults.LEGACY_MAX_QUEUE, 32),
    "read_limit": (_defaults.LEGACY_READ_LIMIT, 2**16),
    "write_limit": (_defaults.LEGACY_WRITE_LIMIT, 2**16),
}


@pytest.mark.parametrize(
    "function",
    [
        WebSocketCommonProtocol.__init__,
        WebSocketClientProtocol.__init__,
        WebSocketServerProtocol.__init__,
    ],
)
def test_legacy_defaults_come_from_the_defaults_module(function: object) -> None:
    parameters = inspect.signature(function).parameters  # type: ignore[arg-type]
    for name, (constant, documented) in LEGACY_DEFAULTS.items():
        assert parameters[name].default is constant, name
        assert constant == documented, name


def test_legacy_names_at_the_seed_paths() -> None:
    assert server_module.serve is serve
    assert server_module.unix_serve is unix_serve
    assert issubclass(server_module.WebSocketServerProtocol, WebSocketCommonProtocol)
    assert issubclass(client_module.WebSocketClientProtocol, WebSocketCommonProtocol)
    assert protocol_module.WebSocketCommonProtocol is WebSocketCommonProtocol
    assert client_module.connect is connect
    # The sans-I/O classes are still there, and the modern API unchanged.
    assert server_module.ServerProtocol is websockets_typed.ServerProtocol
    assert client_module.ClientProtocol is ClientProtocol
    assert websockets_typed.serve is modern_serve
    for module in (server_module, client_module, protocol_module):
        with pytest.raises(AttributeError, match="no attribute 'missing'"):
            _ = module.missing


# serve() and WebSocketServerProtocol.


async def test_handler_receives_connection_and_path() -> None:
    seen: list[tuple[WebSocketServerProtocol, str]] = []

    async def handler(websocket: WebSocketServerProtocol, path: str) -> None:
        seen.append((websocket, path))
        await websocket.send(path)

    async with serve(handler, "127.0.0.1", 0) as server:
        assert isinstance(server, WebSocketServer)
        async with connect(f"ws://127.0.0.1:{port_of(server)}/room?x=1") as websocket:
            assert isinstance(websocket, WebSocketClientProtocol)
            assert await websocket.recv() == "/room?x=1"
    [(connection, path)] = seen
    assert type(connection) is WebSocketServerProtocol
    assert path == "/room?x=1"
    assert connection.ws_server is server


async def test_handler_with_one_argument() -> None:
    async def handler(websocket: WebSocketServerProtocol) -> None:
        await websocket.send("one argument")

    async with (
        serve(handler, "127.0.0.1", 0) as server,
        connect(f"ws://127.0.0.1:{port_of(server)}/") as websocket,
    ):
        assert await websocket.recv() == "one argument"


class ChatProtocol(WebSocketServerProtocol):
    """Seed 001's subclassing: process_request and select_subprotocol overridden."""

    async def process_request(
        self, path: str, request_headers: Headers
    ) -> tuple[http.HTTPStatus, list[tuple[str, str]], bytes] | None:
        if path == "/health":
            return http.HTTPStatus.OK, [("Content-Type", "text/plain")], b"OK\n"
        if "X-Token" not in request_headers:
            return http.HTTPStatus.FORBIDDEN, [], b""
        return None

    @staticmethod
    def select_subprotocol(
        client_subprotocols: Sequence[Subprotocol], server_subprotocols: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        # The server's last choice, always: not what the default does.
        return server_subprotocols[-1]


async def test_create_protocol_subclass_hooks_and_instances() -> None:
    received: list[WebSocketServerProtocol] = []

    async def handler(websocket: ChatProtocol, path: str) -> None:
        received.append(websocket)
        await websocket.send(str(websocket.subprotocol))

    async with serve(
        handler, "127.0.0.1", 0, create_protocol=ChatProtocol, subprotocols=["v1", "v2"]
    ) as server:
        uri = f"ws://127.0.0.1:{port_of(server)}"
        exc = await rejected(f"{uri}/health")
        assert exc.response.status_code == 200
        assert exc.response.body == b"OK\n"
        assert exc.response.headers["Content-Type"] == "text/plain"
        assert (await rejected(f"{uri}/")).response.status_code == 403
        async with connect(
            f"{uri}/", subprotocols=["v1", "v2"], extra_headers={"X-Token": "t"}
        ) as websocket:
            assert await websocket.recv() == "v2"
            assert websocket.subprotocol == "v2"
    assert [type(connection) for connection in received] == [ChatProtocol]


async def test_klass_is_the_former_name_of_create_protocol() -> None:
    async def handler(websocket: WebSocketServerProtocol, path: str) -> None:
        await websocket.send(type(websocket).__name__)

    async with (
        serve(handler, "127.0.0.1", 0, klass=ChatProtocol) as server,
        connect(f"ws://127.0.0.1:{port_of(server)}/", extra_headers={"X-Token": "t"}) as websocket,
    ):
        assert await websocket.recv() == "ChatProtocol"
    with pytest.raises(TypeError, match="create_protocol or klass"):
        serve(handler, create_protocol=ChatProtocol, klass=ChatProtocol)


@pytest.mark.parametrize("is_coroutine", [False, True])
async def test_process_request_argument_function_or_coroutine(is_coroutine: bool) -> None:
    calls: list[tuple[str, Headers]] = []

    def check(path: str, request_headers: Headers) -> tuple[int, Headers, bytes] | None:
        calls.append((path, request_headers))
        if path == "/private":
            return http.HTTPStatus.UNAUTHORIZED, Headers([("X-Reason", "private")]), b"private\n"
        return None

    async def check_async(path: str, request_headers: Headers) -> tuple[int, Headers, bytes] | None:
        return check(path, request_headers)

    hook = check_async if is_coroutine else check
    # The argument takes precedence over the method of the subclass.
    async with serve(echo, "127.0.0.1", 0, create_protocol=ChatProtocol, process_request=hook) as (
        server
    ):
        uri = f"ws://127.0.0.1:{port_of(server)}"
        exc = await rejected(f"{uri}/private")
        assert exc.response.status_code == 401
        assert exc.response.headers["X-Reason"] == "private"
        assert exc.response.body == b"private\n"
        async with connect(f"{uri}/public") as websocket:
            await websocket.send("through")
            assert await websocket.recv() == "through"
    assert [path for path, _ in calls] == ["/private", "/public"]
    assert isinstance(calls[0][1], Headers)


# select_subprotocol.


@pytest.mark.parametrize(
    ("client", "server", "expected"),
    [
        (["a", "b"], ["b", "c"], "b"),  # the only common one
        (["a", "b", "c"], ["b", "c", "a"], "b"),  # best combined rank: 1 + 0
        (["a", "b"], ["b", "a"], "b"),  # a tie: the server's preference
        (["a"], ["b"], None),  # nothing in common: no subprotocol
    ],
)
def test_default_select_subprotocol_rule(
    client: list[str], server: list[str], expected: str | None
) -> None:
    # Static, as in the seed: callable on the class.
    select = WebSocketServerProtocol.select_subprotocol
    assert select([Subprotocol(s) for s in client], [Subprotocol(s) for s in server]) == expected


async def test_subprotocol_negotiation_on_the_wire() -> None:
    async def handler(websocket: WebSocketServerProtocol, path: str) -> None:
        await websocket.send(str(websocket.subprotocol))

    async with serve(handler, "127.0.0.1", 0, subprotocols=["chat", "superchat"]) as server:
        uri = f"ws://127.0.0.1:{port_of(server)}/"
        async with connect(uri, subprotocols=["superchat", "chat"]) as websocket:
            # A tie (0 + 1 each way): the server's preference.
            assert await websocket.recv() == "chat"
        # Unlike the modern API's default, no common subprotocol isn't an error.
        async with connect(uri, subprotocols=["other"]) as websocket:
            assert await websocket.recv() == "None"
        async with connect(uri) as websocket:
            assert await websocket.recv() == "None"


async def test_select_subprotocol_argument() -> None:
    calls: list[tuple[Sequence[Subprotocol], Sequence[Subprotocol]]] = []

    def select(client: Sequence[Subprotocol], server: Sequence[Subprotocol]) -> str:
        calls.append((client, server))
        return "b"

    async def handler(websocket: WebSocketServerProtocol, path: str) -> None:
        await websocket.send(str(websocket.subprotocol))

    async with (
        serve(
            handler, "127.0.0.1", 0, subprotocols=["a", "b"], select_subprotocol=select
        ) as server,
        connect(f"ws://127.0.0.1:{port_of(server)}/", subprotocols=["a", "b"]) as websocket,
    ):
        assert await websocket.recv() == "b"
    assert calls == [(["a", "b"], ["a", "b"])]


# Options: limits, defaults, loop.


async def test_limits_defaults_and_zero_max_queue() -> None:
    connections: list[WebSocketServerProtocol] = []

    async def handler(websocket: WebSocketServerProtocol, path: str) -> None:
        connections.append(websocket)
        await websocket.send("ok")

    async with (
        serve(handler, "127.0.0.1", 0) as server,
        connect(f"ws://127.0.0.1:{port_of(server)}/") as websocket,
    ):
        await websocket.recv()
        assert websocket.max_queue == (32, None)
        assert websocket.write_limit == (2**16, None)
        assert websocket.read_limit == 2**16
        # asyncio's low-water mark is a quarter of the high-water mark.
        assert websocket.transport.get_write_buffer_limits() == (2**14, 2**16)
    assert connections[0].max_queue == (32, None)
    assert connections[0].write_limit == (2**16, None)

    loop = asyncio.get_running_loop()
    async with (
        serve(
            handler, "127.0.0.1", 0, max_queue=0, read_limit=2**10, write_limit=2**12, loop=loop
        ) as server,
        connect(
            f"ws://127.0.0.1:{port_of(server)}/", max_queue=0, write_limit=2**12, loop=loop
        ) as websocket,
    ):
        await websocket.recv()
        assert websocket.max_queue == (None, None)
        assert websocket.transport.get_write_buffer_limits() == (2**10, 2**12)
    assert connections[1].max_queue == (None, None)
    assert connections[1].read_limit == 2**10


async def test_max_size_closes_with_1009() -> None:
    async def handler(websocket: WebSocketServerProtocol, path: str) -> None:
        await websocket.recv()

    async with (
        serve(handler, "127.0.0.1", 0, max_size=10) as server,
        connect(f"ws://127.0.0.1:{port_of(server)}/") as websocket,
    ):
        await websocket.send("x" * 11)
        await websocket.wait_closed()
        assert websocket.close_code == CloseCode.MESSAGE_TOO_BIG


# Unknown keyword arguments.


async def test_unknown_keyword_arguments_raise_type_error() -> None:
    # Legacy: passed to create_server() and create_connection(), which refuse them.
    kwargs = cast("dict[str, Any]", {"ping_intreval": 5})
    with pytest.raises(TypeError, match="ping_intreval"):
        await serve(echo, "127.0.0.1", 0, **kwargs)
    with pytest.raises(TypeError, match="ping_intreval"):
        await unix_serve(echo, "unused.sock", **kwargs)
    async with serve(echo, "127.0.0.1", 0) as server:
        with pytest.raises(TypeError, match="ping_intreval"):
            await connect(f"ws://127.0.0.1:{port_of(server)}/", **kwargs)
    # Modern: refused at once, with the name of the function.
    with pytest.raises(
        TypeError, match=r"^serve\(\) got unexpected keyword argument 'ping_intreval'"
    ):
        modern_serve(modern_echo, "127.0.0.1", 0, **kwargs)
    with pytest.raises(TypeError, match=r"^unix_serve\(\).*'reuse_port'"):
        modern_unix_serve(modern_echo, "unused.sock", **cast("dict[str, Any]", {"reuse_port": 1}))
    with pytest.raises(TypeError, match=r"^connect\(\).*'create_protocol', 'ping_intreval'"):
        modern_connect(
            "ws://localhost/", **cast("dict[str, Any]", {"create_protocol": 1, **kwargs})
        )
    with pytest.raises(TypeError, match=r"^unix_connect\(\).*'local_addr'"):
        unix_connect("unused.sock", **cast("dict[str, Any]", {"local_addr": None}))


# WebSocketServer.


async def test_server_close_sockets_and_wait_closed() -> None:
    handler_done = asyncio.Event()
    closed_with: list[int | None] = []

    async def handler(websocket: WebSocketServerProtocol, path: str) -> None:
        try:
            await websocket.send("hello")
            await websocket.recv()
        except ConnectionClosed as exc:
            closed_with.append(exc.rcvd.code if exc.rcvd else None)
            raise
        finally:
            handler_done.set()

    server = await serve(handler, "127.0.0.1", 0)
    sockets = server.sockets
    assert isinstance(sockets, list)
    assert isinstance(server.server, asyncio.Server)
    async with connect(f"ws://127.0.0.1:{port_of(server)}/") as websocket:
        assert await websocket.recv() == "hello"
        server.close()
        server.close()  # idempotent
        assert server.sockets is None
        async with asyncio.timeout(5):
            await server.wait_closed()
        assert handler_done.is_set()
        assert websocket.close_code == CloseCode.GOING_AWAY
    assert not server.server.is_serving()


def test_websocket_server_made_by_hand_says_so() -> None:
    server = WebSocketServer(loop=None)
    with pytest.raises(RuntimeError, match=r"created by serve\(\)"):
        server.close()


async def test_unix_serve(tmp_path: Path) -> None:
    path = str(tmp_path / "legacy.sock")
    async with unix_serve(echo, path, create_protocol=ChatProtocol) as server:
        async with unix_connect(path, additional_headers={"X-Token": "t"}) as websocket:
            await websocket.send("over a Unix socket")
            assert await websocket.recv() == "over a Unix socket"
        sockets = server.sockets
        assert sockets is not None
        assert sockets[0].family == socket.AF_UNIX


async def test_create_protocol_must_make_protocols() -> None:
    with pytest.raises(TypeError, match="subclass of WebSocketServerProtocol"):
        serve(echo, create_protocol=cast("Any", WebSocketClientProtocol))
    with pytest.raises(TypeError, match="subclass of WebSocketClientProtocol"):
        connect("ws://localhost/", create_protocol=cast("Any", WebSocketServerProtocol))

    def not_a_client(**kwargs: object) -> WebSocketClientProtocol:
        return cast("WebSocketClientProtocol", object())

    async with serve(echo, "127.0.0.1", 0) as server:
        uri = f"ws://127.0.0.1:{port_of(server)}/"
        with pytest.raises(TypeError, match="returned object, not a WebSocketClientProtocol"):
            await connect(uri, create_protocol=not_a_client)


# connect() and WebSocketClientProtocol.


async def test_connect_wss_uses_tls_by_default(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_context, client_context = tls
    async with serve(echo, "127.0.0.1", 0, ssl=server_context) as server:
        uri = f"wss://127.0.0.1:{port_of(server)}/"
        # ssl=True by default: Python's default context, which doesn't trust the test CA.
        with pytest.raises(ssl.SSLCertVerificationError):
            await connect(uri)
        async with connect(uri, ssl=client_context) as websocket:
            assert websocket.secure is True
            await websocket.send("secure")
            assert await websocket.recv() == "secure"
    with pytest.raises(ValueError, match="ws:// URI"):
        connect("ws://127.0.0.1/", ssl=client_context)


async def test_connect_extra_headers_and_origin() -> None:
    headers: list[Headers] = []

    async def handler(websocket: WebSocketServerProtocol, path: str) -> None:
        headers.append(websocket.request_headers)

    async with serve(handler, "127.0.0.1", 0, origins=["https://example.com"]) as server:
        uri = f"ws://127.0.0.1:{port_of(server)}/"
        async with connect(uri, origin="https://example.com", extra_headers=[("X-A", "1")]):
            pass
        with pytest.raises(InvalidStatusCode) as exc_info:
            await connect(uri, origin="https://evil.example")
        assert exc_info.value.status_code == 403
    assert headers[0]["Origin"] == "https://example.com"
    assert headers[0]["X-A"] == "1"


class CountingClient(WebSocketClientProtocol):
    """A client subclass, as create_protocol for connect()."""

    sent = 0

    async def send_counted(self, message: str) -> None:
        self.sent += 1
        await self.send(message)


async def test_connect_create_protocol() -> None:
    async with (
        serve(echo, "127.0.0.1", 0) as server,
        connect(f"ws://127.0.0.1:{port_of(server)}/", create_protocol=CountingClient) as websocket,
    ):
        await websocket.send_counted("counted")
        assert await websocket.recv() == "counted"
        assert websocket.sent == 1


# WebSocketCommonProtocol: every attribute and method seed 001 lists.


async def test_common_protocol_attributes_and_methods() -> None:
    server_side: list[WebSocketServerProtocol] = []

    async def handler(websocket: WebSocketServerProtocol, path: str) -> None:
        server_side.append(websocket)
        await websocket.send("first")
        await websocket.send(b"second")
        await websocket.pong(b"heartbeat")
        async with asyncio.timeout(5):
            await websocket.wait_closed()

    # Before the connection is made, there are no addresses.
    assert WebSocketClientProtocol().local_address is None
    assert WebSocketClientProtocol().remote_address is None

    async with serve(
        handler, "127.0.0.1", 0, subprotocols=["chat"], extra_headers={"X-Server": "legacy"}
    ) as server:
        port = port_of(server)
        websocket = await connect(f"ws://127.0.0.1:{port}/path?q", subprotocols=["chat"])
        assert (websocket.host, websocket.port, websocket.secure) == ("127.0.0.1", port, False)
        assert websocket.path == "/path?q"
        assert websocket.request_headers["Host"] == f"127.0.0.1:{port}"
        assert websocket.response_headers["X-Server"] == "legacy"
        assert websocket.subprotocol == "chat"
        assert (websocket.open, websocket.closed) == (True, False)
        assert (websocket.close_code, websocket.close_reason) == (None, None)
        assert websocket.remote_address == ("127.0.0.1", port)
        local_address = websocket.local_address
        assert isinstance(local_address, tuple)
        assert local_address[0] == "127.0.0.1"
        pong_waiter = await websocket.ping()
        async with asyncio.timeout(5):
            await pong_waiter
        assert await websocket.recv() == "first"
        messages = [message async for message in _take(websocket, 1)]
        assert messages == [b"second"]

        [connection] = server_side
        # The arguments of serve(), as the seed says: "simply stored".
        assert (connection.host, connection.port, connection.secure) == ("127.0.0.1", 0, False)
        assert connection.remote_address == local_address
        assert connection.path == "/path?q"

        await websocket.close(CloseCode.GOING_AWAY, "bye")
        await websocket.wait_closed()
        assert (websocket.open, websocket.closed) == (False, True)
        assert websocket.close_code == CloseCode.GOING_AWAY
        assert websocket.close_reason == "bye"
        with pytest.raises(ConnectionClosedOK):
            await websocket.recv()


async def _take(websocket: WebSocketClientProtocol, count: int) -> AsyncIterator[str | bytes]:
    """Yield the first ``count`` messages of ``async for message in websocket``."""
    async for message in websocket:
        yield message
        count -= 1
        if count == 0:
            return


async def test_common_protocol_on_an_established_connection() -> None:
    # Seed 001: WebSocketCommonProtocol assumes the handshake happened
    # elsewhere. Here, the server side of a socket pair, with a client
    # connection that starts OPEN as well.
    loop = asyncio.get_running_loop()
    server_sock, client_sock = socket.socketpair()
    _, server = await loop.connect_accepted_socket(
        lambda: WebSocketCommonProtocol(ping_interval=None), server_sock
    )
    protocol = ClientProtocol(parse_uri("ws://localhost/"), state=OPEN)
    _, client = await loop.connect_accepted_socket(lambda: ClientConnection(protocol), client_sock)
    assert server.local_address is not None
    assert server.secure is False  # not given: from the transport
    await client.send("to the server")
    assert await server.recv() == "to the server"
    await server.send("to the client")
    assert await client.recv() == "to the client"
    await server.close()
    assert server.closed
    assert client.close_code == CloseCode.NORMAL_CLOSURE


# Modern connections: host, port, secure.


async def test_modern_connections_host_port_secure(
    tls: tuple[ssl.SSLContext, ssl.SSLContext], tmp_path: Path
) -> None:
    seen: list[tuple[str | None, int | None, bool]] = []

    async def handler(websocket: ServerConnection) -> None:
        seen.append((websocket.host, websocket.port, websocket.secure))

    server_context, client_context = tls
    async with modern_serve(handler, "127.0.0.1", 0, ssl=server_context) as server:
        port: int = server.sockets[0].getsockname()[1]
        async with modern_connect(f"wss://127.0.0.1:{port}/", ssl=client_context) as websocket:
            assert (websocket.host, websocket.port, websocket.secure) == ("127.0.0.1", port, True)
    path = str(tmp_path / "modern.sock")
    async with modern_unix_serve(handler, path), unix_connect(path) as websocket:
        assert (websocket.host, websocket.port, websocket.secure) == ("localhost", 80, False)
    assert seen == [("127.0.0.1", port, True), (None, None, False)]


# Nothing fails silently: hooks that raise or return the wrong type.


def assert_500_logged(
    caplog: pytest.LogCaptureFixture, exc: InvalidStatus, hook: str, form: str
) -> logging.LogRecord:
    """The client got 500, and the server logged one ERROR naming the hook and its form."""
    assert exc.response.status_code == 500
    [record] = errors_logged(caplog)
    message = record.getMessage()
    assert message.startswith(f"{hook} failed"), message
    assert form in message, message
    assert record.exc_info is not None
    return record


LegacyHook = Callable[[str, Headers], object]


def raises(path: str, headers: Headers) -> object:
    """A hook with a bug."""
    return 1 / 0


def returns_str(path: str, headers: Headers) -> object:
    """A hook that returns what no hook may return."""
    return "OK"


def returns_str_body(path: str, headers: Headers) -> object:
    """A legacy process_request with a str body."""
    return 200, (), "text body"


def returns_bad_status(path: str, headers: Headers) -> object:
    """A legacy process_request with a status that doesn't exist."""
    return 999, (), b""


def returns_int(path: str, headers: Headers) -> object:
    """An extra_headers callable that returns no headers."""
    return 42


@pytest.mark.parametrize(
    "hook",
    [
        pytest.param(raises, id="raises"),
        pytest.param(returns_str, id="str"),
        pytest.param(returns_str_body, id="str-body"),
        pytest.param(returns_bad_status, id="bad-status"),
    ],
)
async def test_legacy_process_request_failure_gives_500(
    caplog: pytest.LogCaptureFixture, hook: LegacyHook
) -> None:
    caplog.set_level(logging.INFO, logger="websockets_typed")
    process_request = cast("Callable[[str, Headers], None]", hook)
    async with serve(echo, "127.0.0.1", 0, process_request=process_request) as server:
        exc = await rejected(f"ws://127.0.0.1:{port_of(server)}/")
    assert_500_logged(caplog, exc, "process_request", "process_request(path, request_headers)")


async def test_legacy_form_process_request_given_to_modern_serve(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Written for seed 001, passed to the modern serve(): it returns a tuple.
    def process_request(path: object, request_headers: object) -> object:
        return http.HTTPStatus.OK, (), b"OK\n"

    hook = cast("Callable[[ServerConnection, Request], None]", process_request)
    async with modern_serve(modern_echo, "127.0.0.1", 0, process_request=hook) as server:
        port: int = server.sockets[0].getsockname()[1]
        exc = await rejected(f"ws://127.0.0.1:{port}/")
    record = assert_500_logged(
        caplog, exc, "process_request", "process_request(connection, request)"
    )
    assert "websockets_typed.server.serve" in record.getMessage()
    assert record.exc_info is not None
    assert "returned tuple" in str(record.exc_info[1])


async def test_modern_process_response_wrong_type(caplog: pytest.LogCaptureFixture) -> None:
    def process_response(connection: ServerConnection, request: Request, response: Response) -> str:
        return "not a response"

    hook = cast("Callable[[ServerConnection, Request, Response], None]", process_response)
    async with modern_serve(modern_echo, "127.0.0.1", 0, process_response=hook) as server:
        port: int = server.sockets[0].getsockname()[1]
        exc = await rejected(f"ws://127.0.0.1:{port}/")
    assert_500_logged(caplog, exc, "process_response", "process_response(connection, request")


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize(
    "extra_headers",
    [
        pytest.param(raises, id="raises"),
        pytest.param(returns_int, id="int"),
    ],
)
async def test_extra_headers_callable_failure_gives_500(
    caplog: pytest.LogCaptureFixture, legacy: bool, extra_headers: Callable[[str, Headers], object]
) -> None:
    hook = cast("Callable[[str, Headers], Headers]", extra_headers)
    server: WebSocketServer | websockets_typed.Server
    if legacy:
        server = await serve(echo, "127.0.0.1", 0, extra_headers=hook)
    else:
        server = await modern_serve(modern_echo, "127.0.0.1", 0, extra_headers=hook)
    try:
        sockets = server.sockets
        assert sockets is not None
        exc = await rejected(f"ws://127.0.0.1:{sockets[0].getsockname()[1]}/")
    finally:
        server.close()
        await server.wait_closed()
    assert_500_logged(caplog, exc, "extra_headers", "extra_headers(path, request_headers)")


async def test_select_subprotocol_wrong_type_gives_500(caplog: pytest.LogCaptureFixture) -> None:
    def select(client: Sequence[Subprotocol], server: Sequence[Subprotocol]) -> str:
        return cast("str", 42)

    async with serve(echo, "127.0.0.1", 0, subprotocols=["a"], select_subprotocol=select) as server:
        exc = await rejected(f"ws://127.0.0.1:{port_of(server)}/", subprotocols=["a"])
    assert exc.response.status_code == 500
    [record] = errors_logged(caplog)
    assert record.exc_info is not None
    assert "select_subprotocol returned int, not str" in str(record.exc_info[1])


async def test_legacy_form_select_subprotocol_given_to_modern_serve(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Written for seed 001: (client_subprotocols, server_subprotocols).
    def select(
        client_subprotocols: Sequence[str], server_subprotocols: Sequence[str]
    ) -> str | None:
        for subprotocol in client_subprotocols:
            if subprotocol in server_subprotocols:
                return subprotocol
        return None

    hook = cast("Callable[[ServerConnection, Sequence[Subprotocol]], str | None]", select)
    async with modern_serve(
        modern_echo, "127.0.0.1", 0, subprotocols=["a"], select_subprotocol=hook
    ) as server:
        port: int = server.sockets[0].getsockname()[1]
        exc = await rejected(f"ws://127.0.0.1:{port}/", subprotocols=["a"])
    assert exc.response.status_code == 500
    [record] = errors_logged(caplog)
    assert record.exc_info is not None
    notes = getattr(record.exc_info[1], "__notes__", [])
    assert any("select_subprotocol(connection, subprotocols)" in note for note in notes)
    assert caplog.text.count("websockets_typed.server.serve") >= 1


# More options.


async def test_compression_option() -> None:
    extensions: list[list[str]] = []

    async def handler(websocket: WebSocketServerProtocol, path: str) -> None:
        extensions.append([extension.name for extension in websocket.protocol.extensions])

    async with serve(handler, "127.0.0.1", 0) as server:
        assert server.logger.name == "websockets_typed.server"
        uri = f"ws://127.0.0.1:{port_of(server)}/"
        async with connect(uri):
            pass
        async with connect(uri, compression=None):
            pass
    async with (
        serve(handler, "127.0.0.1", 0, compression=None) as server,
        connect(f"ws://127.0.0.1:{port_of(server)}/"),
    ):
        pass
    assert extensions == [["permessage-deflate"], [], []]
    unsupported = cast("Any", "gzip")
    with pytest.raises(ValueError, match="unsupported compression"):
        serve(echo, compression=unsupported)
    with pytest.raises(ValueError, match="unsupported compression"):
        connect("ws://localhost/", compression=unsupported)


async def test_connect_with_a_socket() -> None:
    async with serve(echo, "127.0.0.1", 0) as server:
        sock = socket.create_connection(("127.0.0.1", port_of(server)))
        async with connect("ws://example.com/", sock=sock) as websocket:
            assert websocket.request_headers["Host"] == "example.com"
            await websocket.send("over a given socket")
            assert await websocket.recv() == "over a given socket"


async def test_broadcast_to_legacy_connections() -> None:
    # Seed 004: broadcast() takes the connections the legacy handler gets.
    connected: set[WebSocketServerProtocol] = set()
    ready = asyncio.Event()

    async def handler(websocket: WebSocketServerProtocol, path: str) -> None:
        connected.add(websocket)
        if len(connected) == 2:
            ready.set()
        await websocket.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        uri = f"ws://127.0.0.1:{port_of(server)}/"
        async with connect(uri) as first, connect(uri) as second:
            async with asyncio.timeout(5):
                await ready.wait()
            websockets_typed.broadcast(connected, "to everyone")
            assert await first.recv() == "to everyone"
            assert await second.recv() == "to everyone"


# websockets' own legacy implementation, as the reference and as a peer.


def reference_legacy() -> tuple[Any, Any, Any]:
    """``websockets.legacy``'s server protocol, ``serve`` and ``connect``."""
    with warnings.catch_warnings():
        # websockets deprecates its legacy API; it is only a reference here.
        warnings.simplefilter("ignore", DeprecationWarning)
        from websockets.legacy.client import connect as reference_connect
        from websockets.legacy.server import WebSocketServerProtocol as Reference
        from websockets.legacy.server import serve as reference_serve
    return Reference, reference_serve, reference_connect


@pytest.mark.parametrize(
    ("client", "server"),
    [
        (["a", "b", "c"], ["c", "b", "a"]),
        (["a", "b", "c"], ["b", "c", "a"]),
        (["x", "a"], ["a", "y"]),
        (["a", "b", "c", "d"], ["d", "c", "a"]),
        (["a"], ["b"]),
        (["b", "a"], ["a", "b", "c"]),
    ],
)
def test_select_subprotocol_rule_matches_the_reference(
    client: list[str], server: list[str]
) -> None:
    reference = reference_legacy()[0]
    offered = [Subprotocol(subprotocol) for subprotocol in client]
    available = [Subprotocol(subprotocol) for subprotocol in server]
    expected = reference.select_subprotocol(
        types.SimpleNamespace(_select_subprotocol=None), offered, available
    )
    ranks = {s: offered.index(s) + available.index(s) for s in set(offered) & set(available)}
    if expected is not None and list(ranks.values()).count(ranks[expected]) > 1:
        # The reference breaks ties in set order; here, by the server's order.
        assert WebSocketServerProtocol.select_subprotocol(offered, available) in ranks
    else:
        assert WebSocketServerProtocol.select_subprotocol(offered, available) == expected


async def test_interop_with_the_reference_legacy_implementation() -> None:
    _, reference_serve, reference_connect = reference_legacy()

    async def reference_handler(websocket: Any) -> None:
        await websocket.send(f"reference {websocket.path}")

    async def health(
        path: str, request_headers: Any
    ) -> tuple[http.HTTPStatus, list[Any], bytes] | None:
        if path == "/health":
            return http.HTTPStatus.OK, [], b"OK\n"
        return None

    # Our legacy client, against websockets' legacy server: same hooks, same results.
    reference_server = await reference_serve(
        reference_handler, "127.0.0.1", 0, process_request=health
    )
    try:
        port = reference_server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/room") as websocket:
            assert await websocket.recv() == "reference /room"
        with pytest.raises(InvalidStatusCode) as exc_info:
            await connect(f"ws://127.0.0.1:{port}/health")
        assert exc_info.value.status_code == 200
        # Our client returns as soon as the response arrives. websockets'
        # legacy server fails to close a connection it answered with plain
        # HTTP (no transfer_data_task) until its handler returned: let it.
        async with asyncio.timeout(5):
            while reference_server.websockets:
                await asyncio.sleep(0.005)
    finally:
        reference_server.close()
        await reference_server.wait_closed()

    # websockets' legacy client, against our legacy server.
    async with serve(echo, "127.0.0.1", 0, process_request=health) as server:
        async with reference_connect(f"ws://127.0.0.1:{port_of(server)}/") as websocket:
            await websocket.send("from the reference")
            assert await websocket.recv() == "from the reference"
        exc = await rejected(f"ws://127.0.0.1:{port_of(server)}/health")
        assert exc.response.status_code == 200
        assert exc.response.body == b"OK\n"


async def test_response_with_wrong_types_gives_500(caplog: pytest.LogCaptureFixture) -> None:
    # A Response whose parts have the wrong types can't be serialized.
    def process_request(connection: ServerConnection, request: Request) -> Response:
        return Response(200, "OK", Headers([("X-Count", cast("str", 42))]), b"")

    async with modern_serve(modern_echo, "127.0.0.1", 0, process_request=process_request) as (
        server
    ):
        port: int = server.sockets[0].getsockname()[1]
        exc = await rejected(f"ws://127.0.0.1:{port}/")
    assert exc.response.status_code == 500
    [record] = errors_logged(caplog)
    # Caught when serializing it, or earlier if Headers checks its values.
    assert record.getMessage().startswith(("invalid handshake response", "process_request failed"))
    assert isinstance(record.exc_info and record.exc_info[1], TypeError)

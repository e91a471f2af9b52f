"""Tests of websockets_typed.sync.server: serve(), unix_serve(), Server, hooks, shutdown.

Real servers on loopback TCP (plain and TLS) and Unix sockets, with the
threading client, raw HTTP over a socket, and 200 concurrent clients.
"""

from __future__ import annotations

import http
import logging
import socket
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from raw_peer import blocking_http_exchange, http_request
from sync_helpers import TIMEOUT, echo, running, running_server, start_thread, tls_contexts, uri_of

from websockets_typed._defaults import USER_AGENT
from websockets_typed.exceptions import ConnectionClosedOK, InvalidStatus
from websockets_typed.frames import CloseCode
from websockets_typed.http11 import Request, Response
from websockets_typed.protocol import OPEN
from websockets_typed.sync.client import connect, unix_connect
from websockets_typed.sync.server import (
    Server,
    ServerConnection,
    basic_auth,
    serve,
    unix_serve,
)
from websockets_typed.typing import Subprotocol


def raw_http(server: Server, request: bytes) -> bytes:
    """Send raw bytes to the server and read everything until it closes."""
    return blocking_http_exchange(server.socket.getsockname()[1], request, timeout=TIMEOUT)


def status_of(uri: str, **headers: str) -> InvalidStatus:
    """Connect to a server that must reject the handshake; return the error."""
    with pytest.raises(InvalidStatus) as exc_info:
        connect(uri, additional_headers=headers, open_timeout=TIMEOUT)
    return exc_info.value


# Starting and stopping.


def test_serve_forever_and_shutdown() -> None:
    with running(echo) as server, connect(uri_of(server)) as websocket:
        websocket.send("hello")
        assert websocket.recv(TIMEOUT) == "hello"
        assert server.is_serving()
        assert server.fileno() == server.socket.fileno()
    assert not server.is_serving()


def test_server_as_context_manager_shuts_down() -> None:
    server = serve(echo, "127.0.0.1", 0)
    thread = start_thread(server.serve_forever)
    with server, connect(uri_of(server)) as websocket:
        websocket.send("hi")
        assert websocket.recv(TIMEOUT) == "hi"
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    server.shutdown()  # idempotent


def test_shutdown_closes_connections_with_1001_and_loses_no_message() -> None:
    sent = threading.Event()
    count = 500

    def talk(websocket: ServerConnection) -> None:
        for index in range(count):
            websocket.send(str(index))
        sent.set()
        websocket.recv()  # until shutdown closes the connection

    with running(talk) as server:
        websocket = connect(uri_of(server), max_queue=None)
        assert sent.wait(TIMEOUT)
        assert server.connections == {next(iter(server.connections))}
        closer = start_thread(server.shutdown)
        # Every message whose send() returned arrives before the close.
        assert list(websocket) == [str(index) for index in range(count)]
        closer.join(TIMEOUT)
        assert websocket.close_code == CloseCode.GOING_AWAY
        assert not server.connections


def test_handler_returning_closes_with_1000_and_errors_with_1011(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def fail(websocket: ServerConnection) -> None:
        if websocket.request is not None and websocket.request.path == "/fail":
            raise RuntimeError("handler bug")

    with running(fail) as server:
        with connect(uri_of(server)) as websocket:
            assert websocket.wait_closed(TIMEOUT)
            assert websocket.close_code == CloseCode.NORMAL_CLOSURE
        with caplog.at_level(logging.ERROR), connect(uri_of(server, "/fail")) as websocket:
            assert websocket.wait_closed(TIMEOUT)
            assert websocket.close_code == CloseCode.INTERNAL_ERROR
    assert "connection handler failed" in caplog.text


def test_unix_serve_and_unix_connect(tmp_path: Path) -> None:
    path = str(tmp_path / "socket")
    with running_server(unix_serve(echo, path)), unix_connect(path) as websocket:
        websocket.send("over unix")
        assert websocket.recv(TIMEOUT) == "over unix"
        assert websocket.local_address == ""


def test_unix_serve_and_connect_need_a_path() -> None:
    with pytest.raises(ValueError, match="path"):
        unix_serve(echo)
    with pytest.raises(ValueError, match="path"):
        unix_connect()


def test_serve_with_existing_socket() -> None:
    sock = socket.create_server(("127.0.0.1", 0))
    with running_server(serve(echo, sock=sock)) as server, connect(uri_of(server)) as websocket:
        websocket.send("via sock")
        assert websocket.recv(TIMEOUT) == "via sock"


def test_serve_tls() -> None:
    server_context, client_context = tls_contexts()
    with (
        running(echo, ssl=server_context) as server,
        connect(uri_of(server, scheme="wss"), ssl=client_context) as websocket,
    ):
        websocket.send("secure")
        assert websocket.recv(TIMEOUT) == "secure"
        websocket.send([b"frag", b"ments"])
        assert websocket.recv(TIMEOUT) == b"fragments"
    assert websocket.close_code == CloseCode.NORMAL_CLOSURE


def test_tls_handshake_failure_is_logged_and_server_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server_context, client_context = tls_contexts()
    with caplog.at_level(logging.INFO), running(echo, ssl=server_context) as server:
        # A plain client on a TLS server.
        with pytest.raises((InvalidStatus, OSError, Exception)):
            connect(uri_of(server), open_timeout=2)
        with connect(uri_of(server, scheme="wss"), ssl=client_context) as websocket:
            websocket.send("still serving")
            assert websocket.recv(TIMEOUT) == "still serving"
    assert "opening connection failed" in caplog.text


def test_200_concurrent_clients() -> None:
    clients = 200
    with running(echo, ping_interval=None) as server:
        results: list[str] = []
        lock = threading.Lock()

        def client(index: int) -> None:
            with connect(uri_of(server), ping_interval=None, open_timeout=30) as websocket:
                websocket.send(f"client {index}")
                reply = websocket.recv(30)
                assert isinstance(reply, str)
                with lock:
                    results.append(reply)

        threads = [start_thread(client, index) for index in range(clients)]
        for thread in threads:
            thread.join(45)
        assert sorted(results) == sorted(f"client {index}" for index in range(clients))


# Options.


def test_unknown_option_raises_type_error() -> None:
    with pytest.raises(TypeError, match="write_limt"):
        serve(echo, "127.0.0.1", 0, write_limt=1)  # type: ignore[call-arg] # pyright: ignore[reportCallIssue]
    with pytest.raises(TypeError, match="bogus"):
        unix_serve(echo, "/nonexistent", bogus=1)  # type: ignore[call-arg] # pyright: ignore[reportCallIssue]


def test_invalid_options_fail_before_serving() -> None:
    with pytest.raises(ValueError, match="compression"):
        serve(echo, "127.0.0.1", 0, compression="gzip")  # type: ignore[arg-type] # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match="Server"):
        serve(echo, "127.0.0.1", 0, server_header="bad\r\nheader")


def test_server_header() -> None:
    with running(echo) as server, connect(uri_of(server)) as websocket:
        assert websocket.response is not None
        assert websocket.response.headers["Server"] == USER_AGENT
    with running(echo, server_header=None) as server, connect(uri_of(server)) as websocket:
        assert websocket.response is not None
        assert "Server" not in websocket.response.headers


def test_origins() -> None:
    with running(echo, origins=["https://good.example"]) as server:
        with connect(uri_of(server), origin="https://good.example") as websocket:
            assert websocket.state is OPEN
        assert status_of(uri_of(server), Origin="https://evil.example").response.status_code == 403


def test_hosts() -> None:
    with running(echo, hosts=["127.0.0.1"]) as server, connect(uri_of(server)) as websocket:
        assert websocket.state is OPEN
    with running(echo, hosts=["example.com"]) as server:
        assert status_of(uri_of(server)).response.status_code == 421


def test_subprotocols_and_select_subprotocol() -> None:
    with (
        running(echo, subprotocols=["chat", "superchat"]) as server,
        connect(uri_of(server), subprotocols=["superchat"]) as websocket,
    ):
        assert websocket.subprotocol == "superchat"

    seen: list[Sequence[str]] = []

    def select(connection: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        assert isinstance(connection, ServerConnection)
        seen.append(offered)
        return offered[-1]

    with (
        running(echo, select_subprotocol=select) as server,
        connect(uri_of(server), subprotocols=["a", "b"]) as websocket,
    ):
        assert websocket.subprotocol == "b"
    assert seen == [["a", "b"]]


def test_subprotocol_mismatch_fails() -> None:
    with running(echo, subprotocols=["chat"]) as server:
        assert (
            status_of(uri_of(server), **{"Sec-WebSocket-Protocol": "other"}).response.status_code
            == 400
        )


@pytest.mark.parametrize("compression", ["deflate", None])
def test_compression(compression: str | None) -> None:
    with (
        running(echo, compression="deflate" if compression else None) as server,
        connect(uri_of(server)) as websocket,
    ):
        assert websocket.response is not None
        extensions = websocket.response.headers.get("Sec-WebSocket-Extensions")
        assert (extensions is not None) == (compression is not None)
        websocket.send("compressible " * 100)
        assert websocket.recv(TIMEOUT) == "compressible " * 100


def test_process_request_answers_plain_http() -> None:
    def health(connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/health":
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        return None

    with running(echo, process_request=health) as server:
        response = raw_http(server, http_request("GET", "/health"))
        assert response.startswith(b"HTTP/1.1 200 OK\r\n")
        assert response.endswith(b"OK\n")
        with connect(uri_of(server)) as websocket:
            assert websocket.state is OPEN


def test_process_request_error_gives_500(caplog: pytest.LogCaptureFixture) -> None:
    def broken(connection: ServerConnection, request: Request) -> Response | None:
        raise RuntimeError("hook bug")

    with caplog.at_level(logging.ERROR), running(echo, process_request=broken) as server:
        assert status_of(uri_of(server)).response.status_code == 500
    assert "process_request failed" in caplog.text


def test_process_response_modifies_or_replaces() -> None:
    def add_header(
        connection: ServerConnection, request: Request, response: Response
    ) -> Response | None:
        response.headers["X-Added"] = "yes"
        return None

    with running(echo, process_response=add_header) as server, connect(uri_of(server)) as ws:
        assert ws.response is not None
        assert ws.response.headers["X-Added"] == "yes"

    def replace(
        connection: ServerConnection, request: Request, response: Response
    ) -> Response | None:
        return connection.respond(http.HTTPStatus.FORBIDDEN, "no\n")

    with running(echo, process_response=replace) as server:
        assert status_of(uri_of(server)).response.status_code == 403


def test_process_response_error_and_invalid_response_give_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(
        connection: ServerConnection, request: Request, response: Response
    ) -> Response | None:
        raise RuntimeError("hook bug")

    def injecting(
        connection: ServerConnection, request: Request, response: Response
    ) -> Response | None:
        response.headers["X-Bad"] = "a\r\nb"
        return None

    with caplog.at_level(logging.ERROR):
        with running(echo, process_response=broken) as server:
            assert status_of(uri_of(server)).response.status_code == 500
        with running(echo, process_response=injecting) as server:
            assert status_of(uri_of(server)).response.status_code == 500
    assert "process_response failed" in caplog.text
    assert "invalid handshake response" in caplog.text


def test_basic_auth_with_credentials() -> None:
    def whoami(websocket: ServerConnection) -> None:
        websocket.send(websocket.username or "")

    auth = basic_auth(realm="test", credentials=[("alice", "secret"), ("bob", "pw")])
    with running(whoami, process_request=auth) as server:
        port = server.socket.getsockname()[1]
        with connect(f"ws://alice:secret@127.0.0.1:{port}/") as websocket:
            assert websocket.recv(TIMEOUT) == "alice"
        exc = status_of(uri_of(server))
        assert exc.response.status_code == 401
        assert exc.response.headers["WWW-Authenticate"] == 'Basic realm="test", charset="UTF-8"'
        with pytest.raises(InvalidStatus) as exc_info:
            connect(f"ws://alice:wrong@127.0.0.1:{port}/")
        assert exc_info.value.response.status_code == 401
        assert status_of(uri_of(server), Authorization="Bearer x").response.status_code == 401


def test_basic_auth_with_check_credentials() -> None:
    def check(username: str, password: str) -> bool:
        return password == username[::-1]

    with running(echo, process_request=basic_auth(check_credentials=check)) as server:
        port = server.socket.getsockname()[1]
        with connect(f"ws://abc:cba@127.0.0.1:{port}/") as websocket:
            assert websocket.state is OPEN
        with pytest.raises(InvalidStatus):
            connect(f"ws://abc:abc@127.0.0.1:{port}/")


def test_basic_auth_arguments() -> None:
    with pytest.raises(ValueError, match="either"):
        basic_auth()
    with pytest.raises(TypeError):
        basic_auth(credentials=[("alice",)])  # type: ignore[list-item] # pyright: ignore[reportArgumentType]


def test_silent_client_dropped_after_open_timeout(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.INFO),
        running(echo, open_timeout=0.2) as server,
        socket.create_connection(server.socket.getsockname()[:2], TIMEOUT) as sock,
    ):
        assert sock.recv(1) == b""
    assert "opening handshake timed out" in caplog.text


def test_malformed_request_gets_400_and_server_keeps_serving() -> None:
    with running(echo) as server:
        response = raw_http(server, b"GARBAGE\r\n\r\n")
        assert response.startswith(b"HTTP/1.1 400")
        with connect(uri_of(server)) as websocket:
            assert websocket.state is OPEN


def test_handshake_while_shutting_down_gets_503() -> None:
    proceed = threading.Event()
    arrived = threading.Event()

    def slow(connection: ServerConnection, request: Request) -> Response | None:
        arrived.set()
        proceed.wait(TIMEOUT)
        return None

    server = serve(echo, "127.0.0.1", 0, process_request=slow)
    thread = start_thread(server.serve_forever)
    errors: list[BaseException] = []

    def client() -> None:
        try:
            connect(uri_of(server))
        except InvalidStatus as exc:
            errors.append(exc)

    client_thread = start_thread(client)
    assert arrived.wait(TIMEOUT)
    closer = start_thread(server.shutdown)
    while server.is_serving():
        pass
    proceed.set()
    client_thread.join(TIMEOUT)
    closer.join(TIMEOUT)
    thread.join(TIMEOUT)
    assert isinstance(errors[0], InvalidStatus)
    assert errors[0].response.status_code == 503


def test_create_connection_subclass() -> None:
    class Custom(ServerConnection):
        pass

    def kind(websocket: ServerConnection) -> None:
        websocket.send(type(websocket).__name__)

    with running(kind, create_connection=Custom) as server, connect(uri_of(server)) as websocket:
        assert websocket.recv(TIMEOUT) == "Custom"


def test_handler_exiting_on_connection_closed_is_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def forever(websocket: ServerConnection) -> None:
        while True:
            websocket.recv()

    with caplog.at_level(logging.ERROR), running(forever) as server:
        websocket = connect(uri_of(server))
        websocket.close()
        with pytest.raises(ConnectionClosedOK):
            websocket.recv()
    assert not [r for r in caplog.records if r.name.startswith("websockets_typed")]


def test_connection_records_carry_its_id_and_remote_address(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def fail(websocket: ServerConnection) -> None:
        raise RuntimeError("handler bug")

    with caplog.at_level(logging.ERROR), running(fail) as server:
        with connect(uri_of(server)) as websocket:
            assert websocket.wait_closed(TIMEOUT)
        local = websocket.local_address
    [record] = [r for r in caplog.records if r.getMessage() == "connection handler failed"]
    assert record.__dict__["remote_address"] == local
    assert isinstance(record.__dict__["websocket"], ServerConnection)
    assert record.__dict__["connection_id"] == str(record.__dict__["websocket"].id)


def test_many_tls_connections_close_cleanly() -> None:
    # Reading and writing a TLS connection from two threads at once used to
    # report a spurious end of stream now and then: 1006 instead of 1000.
    server_context, client_context = tls_contexts()
    with running(echo, ssl=server_context) as server:
        for index in range(20):
            with connect(uri_of(server, scheme="wss"), ssl=client_context) as websocket:
                websocket.send(str(index))
                assert websocket.recv(TIMEOUT) == str(index)
            assert websocket.close_code == CloseCode.NORMAL_CLOSURE

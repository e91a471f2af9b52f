"""Tests of websockets_typed.sync.client: connect(), unix_connect() and their options."""

from __future__ import annotations

import logging
import socket
import ssl
import threading

import pytest
from sync_helpers import TIMEOUT, echo, running, start_thread, tls_contexts, uri_of

from websockets_typed._defaults import USER_AGENT
from websockets_typed.exceptions import InvalidMessage, InvalidURI
from websockets_typed.protocol import OPEN
from websockets_typed.sync.client import ClientConnection, connect
from websockets_typed.sync.server import ServerConnection


def headers_echo(websocket: ServerConnection) -> None:
    """Send back the request's headers, one message each."""
    assert websocket.request is not None
    for name, value in websocket.request.headers.raw_items():
        websocket.send(f"{name}: {value}")


def received_headers(websocket: ClientConnection) -> list[str]:
    return [message for message in websocket if isinstance(message, str)]


def test_user_agent_origin_and_additional_headers() -> None:
    with running(headers_echo) as server:
        with connect(uri_of(server)) as websocket:
            assert f"User-Agent: {USER_AGENT}" in received_headers(websocket)
        with connect(
            uri_of(server),
            user_agent_header=None,
            origin="https://example.com",
            additional_headers={"X-Custom": "1"},
        ) as websocket:
            headers = received_headers(websocket)
            assert not [h for h in headers if h.startswith("User-Agent")]
            assert "Origin: https://example.com" in headers
            assert "X-Custom: 1" in headers


def test_unknown_option_raises_type_error() -> None:
    with pytest.raises(TypeError, match="extra_headerz"):
        connect("ws://127.0.0.1:1/", extra_headerz={})  # type: ignore[call-arg] # pyright: ignore[reportCallIssue]


def test_invalid_arguments_fail_before_connecting() -> None:
    with pytest.raises(InvalidURI):
        connect("http://127.0.0.1/")
    with pytest.raises(ValueError, match="ssl"):
        connect("ws://127.0.0.1:1/", ssl=ssl.create_default_context())
    with pytest.raises(ValueError, match="header"):
        connect("ws://127.0.0.1:1/", additional_headers={"X": "a\r\nb"})


def test_connection_refused_raises_os_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        connect(f"ws://127.0.0.1:{port}/")


def test_open_timeout_when_server_never_answers() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        with pytest.raises(TimeoutError):
            connect(f"ws://127.0.0.1:{port}/", open_timeout=0.2)


def test_invalid_response_raises_invalid_message() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def answer() -> None:
            sock, _ = listener.accept()
            with sock:
                sock.recv(65536)
                sock.sendall(b"NOT HTTP\r\n\r\n")
                sock.recv(65536)

        thread = start_thread(answer)
        with pytest.raises(InvalidMessage):
            connect(f"ws://127.0.0.1:{port}/", open_timeout=TIMEOUT)
        thread.join(TIMEOUT)


def test_connect_with_existing_socket() -> None:
    with running(echo) as server:
        sock = socket.create_connection(server.socket.getsockname()[:2])
        with connect(uri_of(server), sock=sock) as websocket:
            websocket.send("via sock")
            assert websocket.recv(TIMEOUT) == "via sock"


def test_tls_with_verification() -> None:
    server_context, client_context = tls_contexts()
    with running(echo, ssl=server_context) as server:
        with connect(uri_of(server, scheme="wss"), ssl=client_context) as websocket:
            assert isinstance(websocket.socket, ssl.SSLSocket)
            assert websocket.state is OPEN
        # The default context doesn't trust the test CA.
        with pytest.raises(ssl.SSLCertVerificationError):
            connect(uri_of(server, scheme="wss"))
        # Nor does it accept another host name.
        with pytest.raises(ssl.SSLCertVerificationError):
            connect(uri_of(server, scheme="wss"), ssl=client_context, server_hostname="other")


def test_create_connection_and_logger(caplog: pytest.LogCaptureFixture) -> None:
    class Custom(ClientConnection):
        pass

    logger = logging.getLogger("test.sync.client")
    with (
        caplog.at_level(logging.INFO, "test.sync.client"),
        running(echo) as server,
        connect(uri_of(server), create_connection=Custom, logger=logger) as websocket,
    ):
        assert isinstance(websocket, Custom)
        assert websocket.logger is logger
    assert any(record.name == "test.sync.client" for record in caplog.records)


def test_compression_none_offers_no_extension() -> None:
    with running(headers_echo) as server:
        with connect(uri_of(server), compression=None) as websocket:
            assert not [h for h in received_headers(websocket) if "Extensions" in h]
        with connect(uri_of(server)) as websocket:
            assert [h for h in received_headers(websocket) if "permessage-deflate" in h]


def test_source_address() -> None:
    with (
        running(echo) as server,
        connect(uri_of(server), source_address=("127.0.0.1", 0)) as websocket,
    ):
        assert websocket.local_address[0] == "127.0.0.1"


def test_connect_from_many_threads() -> None:
    with running(echo) as server:
        barrier = threading.Barrier(10, timeout=TIMEOUT)

        def client() -> None:
            with connect(uri_of(server)) as websocket:
                barrier.wait()
                websocket.send("x")
                assert websocket.recv(TIMEOUT) == "x"

        threads = [start_thread(client) for _ in range(10)]
        for thread in threads:
            thread.join(TIMEOUT)
            assert not thread.is_alive()

"""The client side of the opening handshake (RFC 6455, section 4.1), sans I/O."""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence

import pytest
from protocol_helpers import EOF, assert_state, handshake_response

from websockets_typed.client import ClientProtocol
from websockets_typed.exceptions import (
    ConnectionClosedError,
    InvalidHeader,
    InvalidHeaderFormat,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidState,
    InvalidStatus,
    InvalidUpgrade,
    NegotiationError,
    SecurityError,
)
from websockets_typed.extensions.base import ClientExtensionFactory
from websockets_typed.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
)
from websockets_typed.frames import Frame, Opcode
from websockets_typed.http11 import Request, Response
from websockets_typed.protocol import State
from websockets_typed.uri import parse_uri


def make_client(
    uri: str = "ws://example.com/",
    *,
    origin: str | None = None,
    extensions: Sequence[ClientExtensionFactory] | None = None,
    subprotocols: Sequence[str] | None = None,
    logger: logging.Logger | None = None,
) -> ClientProtocol:
    """A client that sent its handshake request."""
    client = ClientProtocol(
        parse_uri(uri),
        origin=origin,
        extensions=extensions,
        subprotocols=subprotocols,
        logger=logger,
    )
    client.send_request(client.connect())
    client.data_to_send()
    return client


def respond(client: ClientProtocol, *extra: tuple[str, str], remove: Sequence[str] = ()) -> None:
    """Feed a 101 response for ``client``'s key, with headers adjusted."""
    response = handshake_response(*extra, remove=remove, key=client.key)
    client.receive_data(response.serialize())


def assert_handshake_failed(
    client: ClientProtocol, exc_type: type[Exception], message: str | None = None
) -> Response:
    """The handshake failed: the response is still an event, and the client closes TCP."""
    [response] = client.events_received()
    assert isinstance(response, Response)
    assert type(client.handshake_exc) is exc_type
    if message is not None:
        assert str(client.handshake_exc) == message
    # A client that rejects the response half-closes TCP and waits for the server.
    assert client.data_to_send() == [EOF]
    assert client.close_expected()
    assert_state(client, State.CONNECTING)
    # Nothing that follows is processed.
    client.receive_data(b"\x81\x02hi")
    assert client.events_received() == []
    assert client.data_to_send() == []
    client.receive_eof()
    assert client.data_to_send() == []
    assert_state(client, State.CLOSED)
    assert client.close_code == 1006
    assert isinstance(client.close_exc, ConnectionClosedError)
    return response


# The handshake request (RFC 6455, 4.1).


def test_connect() -> None:
    client = ClientProtocol(parse_uri("ws://example.com/"))
    request = client.connect()
    assert request.path == "/"
    assert list(request.headers.raw_items()) == [
        ("Host", "example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", client.key),
        ("Sec-WebSocket-Version", "13"),
    ]
    # Building the request sends nothing.
    assert client.data_to_send() == []
    assert_state(client, State.CONNECTING)
    assert client.handshake_exc is None
    assert not client.close_expected()


def test_key_is_a_random_nonce() -> None:
    # RFC 6455, 4.1, point 7: 16 random bytes, base64-encoded, new for each
    # connection.
    keys = {ClientProtocol(parse_uri("ws://example.com/")).key for _ in range(10)}
    assert len(keys) == 10
    for key in keys:
        assert len(base64.b64decode(key, validate=True)) == 16


@pytest.mark.parametrize(
    ("uri", "host"),
    [
        ("ws://example.com/", "example.com"),
        ("ws://example.com:80/", "example.com"),
        ("ws://example.com:8080/", "example.com:8080"),
        ("wss://example.com/", "example.com"),
        ("wss://example.com:443/", "example.com"),
        ("wss://example.com:80/", "example.com:80"),
        ("ws://EXAMPLE.com/", "example.com"),
        ("ws://[::1]/", "[::1]"),
        ("ws://[2001:db8::1]:8080/", "[2001:db8::1]:8080"),
        ("wss://[::1]:443/", "[::1]"),
        ("ws://127.0.0.1:8765/", "127.0.0.1:8765"),
    ],
)
def test_host_header(uri: str, host: str) -> None:
    # RFC 6455, 4.1, point 4: the port only when it isn't the default one.
    request = ClientProtocol(parse_uri(uri)).connect()
    assert request.headers["Host"] == host


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("ws://example.com", "/"),
        ("ws://example.com/chat", "/chat"),
        ("ws://example.com/chat?room=1&x=y", "/chat?room=1&x=y"),
        ("ws://example.com?q", "/?q"),
    ],
)
def test_resource_name(uri: str, path: str) -> None:
    # RFC 6455, 4.1, point 3: the path and query of the URI.
    assert ClientProtocol(parse_uri(uri)).connect().path == path


def test_authorization_from_user_info() -> None:
    request = ClientProtocol(parse_uri("ws://user:p%40ss@example.com/")).connect()
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"user:p@ss").decode()
    assert "Authorization" not in ClientProtocol(parse_uri("ws://example.com/")).connect().headers


def test_origin() -> None:
    client = ClientProtocol(parse_uri("ws://example.com/"), origin="https://example.com")
    assert client.origin == "https://example.com"
    assert client.connect().headers["Origin"] == "https://example.com"
    assert "Origin" not in ClientProtocol(parse_uri("ws://example.com/")).connect().headers


def test_extensions_offered() -> None:
    client = ClientProtocol(
        parse_uri("ws://example.com/"),
        extensions=[
            ClientPerMessageDeflateFactory(server_max_window_bits=10),
            ClientPerMessageDeflateFactory(client_max_window_bits=None),
        ],
    )
    assert client.connect().headers["Sec-WebSocket-Extensions"] == (
        "permessage-deflate; server_max_window_bits=10; client_max_window_bits, permessage-deflate"
    )


@pytest.mark.parametrize("extensions", [None, []])
def test_no_extensions_offered(extensions: list[ClientExtensionFactory] | None) -> None:
    client = ClientProtocol(parse_uri("ws://example.com/"), extensions=extensions)
    assert "Sec-WebSocket-Extensions" not in client.connect().headers


def test_subprotocols_offered() -> None:
    client = ClientProtocol(parse_uri("ws://example.com/"), subprotocols=["chat", "superchat"])
    assert client.available_subprotocols == ["chat", "superchat"]
    assert client.connect().headers["Sec-WebSocket-Protocol"] == "chat, superchat"


@pytest.mark.parametrize("subprotocols", [None, []])
def test_no_subprotocols_offered(subprotocols: list[str] | None) -> None:
    client = ClientProtocol(parse_uri("ws://example.com/"), subprotocols=subprotocols)
    assert "Sec-WebSocket-Protocol" not in client.connect().headers


@pytest.mark.parametrize(
    ("subprotocols", "exc_type"),
    [
        ("chat", TypeError),
        ({"chat"}, TypeError),
        ([b"chat"], TypeError),
        (["chat room"], ValueError),
        ([""], ValueError),
    ],
)
def test_invalid_subprotocols_argument(subprotocols: object, exc_type: type[Exception]) -> None:
    with pytest.raises(exc_type):
        ClientProtocol(parse_uri("ws://example.com/"), subprotocols=subprotocols)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def test_send_request() -> None:
    client = ClientProtocol(parse_uri("ws://example.com/chat"))
    request = client.connect()
    request.headers["User-Agent"] = "added by the application"
    client.send_request(request)
    [data] = client.data_to_send()
    assert data == request.serialize()
    assert data.startswith(b"GET /chat HTTP/1.1\r\nHost: example.com\r\n")
    assert data.endswith(b"User-Agent: added by the application\r\n\r\n")
    assert_state(client, State.CONNECTING)


def test_send_request_twice() -> None:
    client = make_client()
    with pytest.raises(InvalidState, match="cannot send a handshake request"):
        client.send_request(client.connect())
    assert client.data_to_send() == []


def test_send_request_when_open() -> None:
    client = ClientProtocol(parse_uri("ws://example.com/"), state=State.OPEN)
    with pytest.raises(InvalidState, match="connection is OPEN"):
        client.send_request(Request("/", client.connect().headers))


# The handshake response (RFC 6455, 4.1, the client's checks).


def test_accept_response(caplog: pytest.LogCaptureFixture) -> None:
    client = make_client()
    response = handshake_response(key=client.key)
    with caplog.at_level(logging.INFO, logger="websockets_typed.client"):
        client.receive_data(response.serialize())
    assert client.events_received() == [response]
    assert client.data_to_send() == []
    assert_state(client, State.OPEN)
    assert client.handshake_exc is None
    assert client.extensions == []
    assert client.subprotocol is None
    assert not client.close_expected()
    assert "connection open" in caplog.messages
    client.send_text(b"hi")
    [frame] = client.data_to_send()
    assert frame[:2] == b"\x81\x82"  # masked (RFC 6455, 5.3)


def test_accept_response_byte_by_byte() -> None:
    client = make_client()
    response = handshake_response(key=client.key)
    data = response.serialize() + b"\x81\x05hello"
    events: list[object] = []
    for index in range(len(data)):
        client.receive_data(data[index : index + 1])
        events += client.events_received()
    assert events == [response, Frame(Opcode.TEXT, b"hello")]
    assert_state(client, State.OPEN)


def test_frames_in_same_chunk_as_response() -> None:
    client = make_client()
    response = handshake_response(key=client.key)
    client.receive_data(response.serialize() + b"\x81\x05hello\x89\x01?")
    assert client.events_received() == [
        response,
        Frame(Opcode.TEXT, b"hello"),
        Frame(Opcode.PING, b"?"),
    ]
    [pong] = client.data_to_send()
    assert pong[:2] == b"\x8a\x81"


@pytest.mark.parametrize(
    ("upgrade", "connection"),
    [("WebSocket", "upgrade"), ("websocket", "keep-alive, Upgrade")],
)
def test_accept_response_header_variants(upgrade: str, connection: str) -> None:
    client = make_client()
    respond(
        client, ("Upgrade", upgrade), ("Connection", connection), remove=["Upgrade", "Connection"]
    )
    assert_state(client, State.OPEN)


def test_rejected_with_status(caplog: pytest.LogCaptureFixture) -> None:
    client = make_client()
    client.receive_data(
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\nContent-Type: text/plain\r\n\r\nGo away.\n"
    )
    response = assert_handshake_failed(
        client, InvalidStatus, "server rejected WebSocket connection: HTTP 403"
    )
    assert (response.status_code, response.reason_phrase) == (403, "Forbidden")
    assert response.body == b"Go away.\n"
    exc = client.handshake_exc
    assert isinstance(exc, InvalidStatus)
    assert exc.response == response
    assert exc.status_code == 403


def test_rejected_with_chunked_body() -> None:
    client = make_client()
    client.receive_data(
        b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\nNot \r\n6\r\nFound.\r\n0\r\n\r\n"
    )
    response = assert_handshake_failed(client, InvalidStatus)
    assert response.body == b"Not Found."


def test_rejected_with_body_until_eof() -> None:
    # RFC 7230, 3.3.3, point 7: without Content-Length nor Transfer-Encoding,
    # the body ends with the connection.
    client = make_client()
    client.receive_data(b"HTTP/1.1 500 Internal Server Error\r\n\r\nOops")
    client.receive_data(b", sorry.")
    assert client.events_received() == []
    exc = client.handshake_exc
    assert exc is None
    client.receive_eof()
    [response] = client.events_received()
    assert isinstance(response, Response)
    assert response.status_code == 500
    assert response.body == b"Oops, sorry."
    assert isinstance(client.handshake_exc, InvalidStatus)
    assert client.data_to_send() == [EOF]
    assert_state(client, State.CLOSED)


def test_redirect_is_a_failed_handshake() -> None:
    client = make_client()
    client.receive_data(
        b"HTTP/1.1 302 Found\r\nLocation: ws://other.example/\r\nContent-Length: 0\r\n\r\n"
    )
    response = assert_handshake_failed(client, InvalidStatus)
    assert response.headers["Location"] == "ws://other.example/"
    assert response.body == b""


@pytest.mark.parametrize(
    ("extra", "remove", "exc_type", "message"),
    [
        ([], ["Upgrade"], InvalidUpgrade, "missing Upgrade header"),
        ([("Upgrade", "h2c")], ["Upgrade"], InvalidUpgrade, "invalid Upgrade header: h2c"),
        (
            # RFC 6455, 4.1: the server picks one protocol, websocket.
            [("Upgrade", "websocket, h2c")],
            ["Upgrade"],
            InvalidUpgrade,
            "invalid Upgrade header: websocket, h2c",
        ),
        ([], ["Connection"], InvalidUpgrade, "missing Connection header"),
        (
            [("Connection", "close")],
            ["Connection"],
            InvalidUpgrade,
            "invalid Connection header: close",
        ),
        (
            [("Connection", "Upgrade;")],
            ["Connection"],
            InvalidHeaderFormat,
            "invalid Connection header: expected comma at 7 in Upgrade;",
        ),
        ([], ["Sec-WebSocket-Accept"], InvalidHeader, "missing Sec-WebSocket-Accept header"),
        (
            [("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")],
            ["Sec-WebSocket-Accept"],
            InvalidHeaderValue,
            "invalid Sec-WebSocket-Accept header: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
        ),
        (
            [("Sec-WebSocket-Accept", "x"), ("Sec-WebSocket-Accept", "y")],
            ["Sec-WebSocket-Accept"],
            InvalidHeader,
            "invalid Sec-WebSocket-Accept header: multiple values",
        ),
    ],
)
def test_invalid_upgrade_response(
    extra: list[tuple[str, str]], remove: list[str], exc_type: type[Exception], message: str
) -> None:
    client = make_client()
    respond(client, *extra, remove=remove)
    assert_handshake_failed(client, exc_type, message)


def test_wrong_accept_for_this_key() -> None:
    client = make_client()
    # A response to another key: a replay, or a confused cache.
    client.receive_data(handshake_response().serialize())
    assert_handshake_failed(client, InvalidHeaderValue)


# Extensions in the response (RFC 6455, 4.1, point 5 of the client's checks).


def test_extension_accepted() -> None:
    client = make_client(extensions=[ClientPerMessageDeflateFactory()])
    respond(client, ("Sec-WebSocket-Extensions", "permessage-deflate; server_no_context_takeover"))
    assert_state(client, State.OPEN)
    [extension] = client.extensions
    assert isinstance(extension, PerMessageDeflate)
    assert extension.remote_no_context_takeover
    assert not extension.local_no_context_takeover


def test_extension_declined_by_server() -> None:
    client = make_client(extensions=[ClientPerMessageDeflateFactory()])
    respond(client)
    assert_state(client, State.OPEN)
    assert client.extensions == []


def test_extension_accepted_by_second_factory() -> None:
    client = make_client(
        extensions=[
            ClientPerMessageDeflateFactory(server_no_context_takeover=True),
            ClientPerMessageDeflateFactory(),
        ]
    )
    # The first offer requires server_no_context_takeover; the response
    # lacks it, which only the second factory accepts.
    respond(client, ("Sec-WebSocket-Extensions", "permessage-deflate"))
    assert_state(client, State.OPEN)
    [extension] = client.extensions
    assert isinstance(extension, PerMessageDeflate)
    assert not extension.remote_no_context_takeover


@pytest.mark.parametrize(
    ("offered", "values", "exc_type", "message"),
    [
        (
            [],
            ["permessage-deflate"],
            NegotiationError,
            "no extensions supported",
        ),
        (
            [ClientPerMessageDeflateFactory()],
            ["x-unknown"],
            NegotiationError,
            "unsupported extension: name = x-unknown, params = []",
        ),
        (
            # A parameter the offer doesn't allow (RFC 7692, 7.1.2.2).
            [ClientPerMessageDeflateFactory(client_max_window_bits=None)],
            ["permessage-deflate; client_max_window_bits=10"],
            NegotiationError,
            "unsupported extension: name = permessage-deflate, "
            "params = [('client_max_window_bits', '10')]",
        ),
        (
            # Accepted twice: both would use RSV1 (RFC 7692, 5).
            [ClientPerMessageDeflateFactory()],
            ["permessage-deflate", "permessage-deflate"],
            NegotiationError,
            "unsupported extension: name = permessage-deflate, params = []",
        ),
        (
            [ClientPerMessageDeflateFactory()],
            ["permessage-deflate;"],
            InvalidHeaderFormat,
            "invalid Sec-WebSocket-Extensions header: expected token at 19 in permessage-deflate;",
        ),
    ],
)
def test_extension_not_acceptable(
    offered: list[ClientExtensionFactory],
    values: list[str],
    exc_type: type[Exception],
    message: str,
) -> None:
    client = make_client(extensions=offered)
    respond(client, *[("Sec-WebSocket-Extensions", value) for value in values])
    assert_handshake_failed(client, exc_type, message)
    assert client.extensions == []


# Subprotocols in the response (RFC 6455, 4.1, point 6 of the client's checks).


def test_subprotocol_accepted() -> None:
    client = make_client(subprotocols=["chat", "superchat"])
    respond(client, ("Sec-WebSocket-Protocol", "superchat"))
    assert_state(client, State.OPEN)
    assert client.subprotocol == "superchat"


def test_no_subprotocol_selected() -> None:
    # The server may go on without a subprotocol; the application decides
    # whether that is acceptable.
    client = make_client(subprotocols=["chat"])
    respond(client)
    assert_state(client, State.OPEN)
    assert client.subprotocol is None


@pytest.mark.parametrize(
    ("offered", "values", "exc_type", "message"),
    [
        ([], ["chat"], NegotiationError, "no subprotocols supported"),
        (["chat"], ["superchat"], NegotiationError, "unsupported subprotocol: superchat"),
        (
            ["chat", "superchat"],
            ["chat, superchat"],
            InvalidHeader,
            "invalid Sec-WebSocket-Protocol header: multiple values: chat, superchat",
        ),
        (
            ["chat", "superchat"],
            ["chat", "superchat"],
            InvalidHeader,
            "invalid Sec-WebSocket-Protocol header: multiple values",
        ),
        (
            ["chat"],
            ["chat/1"],
            InvalidHeaderFormat,
            "invalid Sec-WebSocket-Protocol header: expected comma at 4 in chat/1",
        ),
    ],
)
def test_subprotocol_not_acceptable(
    offered: list[str], values: list[str], exc_type: type[Exception], message: str
) -> None:
    client = make_client(subprotocols=offered)
    respond(client, *[("Sec-WebSocket-Protocol", value) for value in values])
    assert_handshake_failed(client, exc_type, message)
    assert client.subprotocol is None


# Malformed responses and the end of the stream.


@pytest.mark.parametrize(
    ("data", "exc_type", "message"),
    [
        (
            b"HTTP/1.0 101 Switching Protocols\r\n",
            InvalidMessage,
            "unsupported HTTP version: b'HTTP/1.0'",
        ),
        (b"HTTP/1.1 1O1 Switching\r\n", InvalidMessage, "invalid HTTP status code: b'1O1'"),
        (
            b"SSH-2.0-OpenSSH_9.6\r\n",
            InvalidMessage,
            "invalid HTTP status line: b'SSH-2.0-OpenSSH_9.6'",
        ),
        (
            b"HTTP/1.1 101 OK\nUpgrade: websocket\n",
            InvalidMessage,
            "HTTP status line doesn't end with CRLF",
        ),
        (b"HTTP/1.1 101 OK\r\n" + b"X-Many: 1\r\n" * 129, SecurityError, "too many HTTP headers"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n",
            SecurityError,
            "body exceeds 1048576 bytes",
        ),
    ],
)
def test_malformed_response(data: bytes, exc_type: type[Exception], message: str) -> None:
    client = make_client()
    client.receive_data(data)
    assert client.events_received() == []
    assert type(client.handshake_exc) is exc_type
    assert str(client.handshake_exc) == message
    assert client.data_to_send() == [EOF]
    assert client.close_expected()
    client.receive_data(b"more")
    assert client.data_to_send() == []
    client.receive_eof()
    assert client.data_to_send() == []
    assert_state(client, State.CLOSED)
    assert type(client.handshake_exc) is exc_type


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "connection closed while reading HTTP status line"),
        (b"HTTP/1.1 101 Switching", "connection closed while reading HTTP status line"),
        (b"HTTP/1.1 101 Switching Protocols\r\n", "connection closed while reading HTTP headers"),
        (
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nNot",
            "connection closed while reading HTTP body",
        ),
    ],
)
def test_eof_before_response(data: bytes, message: str) -> None:
    client = make_client()
    client.receive_data(data)
    client.receive_eof()
    assert client.events_received() == []
    assert client.data_to_send() == [EOF]
    assert_state(client, State.CLOSED)
    assert isinstance(client.handshake_exc, InvalidMessage)
    assert str(client.handshake_exc) == message
    assert (client.close_code, client.close_reason) == (1006, "")
    assert isinstance(client.close_exc, ConnectionClosedError)


def test_eof_after_response() -> None:
    client = make_client()
    respond(client)
    client.events_received()
    client.receive_eof()
    assert client.data_to_send() == [EOF]
    assert_state(client, State.CLOSED)
    assert client.handshake_exc is None
    assert client.close_code == 1006


def test_receive_after_eof() -> None:
    client = make_client()
    client.receive_eof()
    with pytest.raises(EOFError):
        client.receive_data(b"HTTP/1.1 101 Switching Protocols\r\n")
    with pytest.raises(EOFError):
        client.receive_eof()


# Logging.


def test_debug_logging(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.client")
    logger.setLevel(logging.DEBUG)
    with caplog.at_level(logging.DEBUG, logger="test.client"):
        client = make_client("ws://example.com/chat", logger=logger)
        respond(client)
    assert caplog.messages[:2] == ["> GET /chat HTTP/1.1", "> Host: example.com"]
    assert "< HTTP/1.1 101 Switching Protocols" in caplog.messages
    assert "< Upgrade: websocket" in caplog.messages
    assert "= CONNECTING -> OPEN" in caplog.messages


def test_debug_logging_of_invalid_response(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.client")
    logger.setLevel(logging.DEBUG)
    with caplog.at_level(logging.DEBUG, logger="test.client"):
        client = make_client(logger=logger)
        respond(client, remove=["Upgrade"])
    assert "! invalid handshake response: missing Upgrade header" in caplog.messages
    assert "> EOF" in caplog.messages

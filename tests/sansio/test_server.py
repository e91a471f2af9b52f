"""The server side of the opening handshake (RFC 6455, section 4.2), sans I/O."""

from __future__ import annotations

import datetime
import email.utils
import gc
import http
import logging
import re
from collections.abc import Sequence

import pytest
from protocol_helpers import (
    EOF,
    KEY,
    assert_state,
    handshake_request,
    wire,
)

from websockets_typed.datastructures import Headers
from websockets_typed.exceptions import (
    ConnectionClosedError,
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderFormat,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidOrigin,
    InvalidState,
    InvalidStatus,
    InvalidUpgrade,
    NegotiationError,
    SecurityError,
)
from websockets_typed.extensions.base import Extension, ServerExtensionFactory
from websockets_typed.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets_typed.frames import Frame, Opcode
from websockets_typed.handshake import accept_key
from websockets_typed.http11 import Request, RequestParser, Response
from websockets_typed.protocol import State
from websockets_typed.server import OriginLike, SelectSubprotocol, ServerProtocol
from websockets_typed.typing import ExtensionName, ExtensionParameter, Subprotocol

# RFC 6455, 1.3: the accept value of the example key.
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

ADVICE = (
    "You cannot access a WebSocket server directly with a browser. You need a WebSocket client.\n"
)


def receive_request(server: ServerProtocol, request: Request) -> Request:
    """Feed ``request`` to ``server`` and return the event it parses."""
    server.receive_data(request.serialize())
    [event] = server.events_received()
    assert isinstance(event, Request)
    return event


def accept(
    request: Request, server: ServerProtocol | None = None
) -> tuple[ServerProtocol, Response]:
    """Receive ``request`` and build the response with :meth:`ServerProtocol.accept`."""
    if server is None:
        server = ServerProtocol()
    response = server.accept(receive_request(server, request))
    return server, response


def assert_rejected(
    request: Request,
    status: int,
    exc_type: type[Exception],
    message: str,
    server: ServerProtocol | None = None,
) -> tuple[ServerProtocol, Response]:
    """``request`` is rejected with ``status``, and ``handshake_exc`` says ``message``."""
    server, response = accept(request, server)
    assert response.status_code == status
    assert type(server.handshake_exc) is exc_type
    assert str(server.handshake_exc) == message
    assert response.body is not None
    assert response.body.decode().startswith(f"Failed to open a WebSocket connection: {message}.\n")
    assert_plain_text(response)
    return server, response


def assert_plain_text(response: Response) -> None:
    """A rejection is a short plain text response, and the connection closes after it."""
    assert response.body is not None
    headers = response.headers
    assert headers["Connection"] == "close"
    assert headers["Content-Length"] == str(len(response.body))
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert_date(headers)


def assert_date(headers: Headers) -> None:
    """The Date header is an IMF-fixdate (RFC 7231, 7.1.1.1) close to now."""
    value = headers["Date"]
    assert value.endswith(" GMT")
    date = email.utils.parsedate_to_datetime(value)
    now = datetime.datetime.now(datetime.UTC)
    assert abs(date - now) < datetime.timedelta(days=1)


# Parsing the request.


def test_receive_request() -> None:
    server = ServerProtocol()
    request = handshake_request(("Origin", "https://example.com"), path="/chat?room=1")
    server.receive_data(request.serialize())
    assert server.events_received() == [request]
    assert server.data_to_send() == []
    assert_state(server, State.CONNECTING)
    assert server.handshake_exc is None
    assert not server.close_expected()


def test_request_parser_released_after_the_request() -> None:
    # A connection lives long after its handshake: it doesn't keep the
    # parser, nor the empty headers it holds for a next message (S5).
    server = ServerProtocol()
    data = handshake_request().serialize()
    server.receive_data(data[:10])
    assert any(isinstance(item, RequestParser) for item in gc.get_referents(server))
    server.receive_data(data[10:])
    assert len(server.events_received()) == 1
    assert not any(isinstance(item, RequestParser) for item in gc.get_referents(server))
    # What follows the request waits for the response, as before.
    server.receive_data(b"\x81")
    assert server.events_received() == []


def test_no_request_parser_for_a_request_in_one_read() -> None:
    # The usual case: the request comes whole and is parsed without a
    # parser object (bench/run.py, S4).
    server = ServerProtocol()
    assert not any(isinstance(item, RequestParser) for item in gc.get_referents(server))
    request = handshake_request()
    server.receive_data(request.serialize())
    assert server.events_received() == [request]
    assert not any(isinstance(item, RequestParser) for item in gc.get_referents(server))


def test_eof_before_the_request_without_a_parser() -> None:
    # Nothing came: the parser made for the end of the stream says so.
    server = ServerProtocol()
    server.receive_eof()
    assert isinstance(server.handshake_exc, InvalidMessage)
    assert str(server.handshake_exc) == "connection closed while reading HTTP request line"


def test_receive_request_byte_by_byte() -> None:
    server = ServerProtocol()
    request = handshake_request()
    data = request.serialize()
    events: list[object] = []
    for index in range(len(data)):
        server.receive_data(data[index : index + 1])
        events += server.events_received()
        assert server.data_to_send() == []
    assert events == [request]


def test_frames_pipelined_after_request_wait_for_the_response() -> None:
    server = ServerProtocol()
    request = handshake_request()
    frames = wire(server, Frame(Opcode.TEXT, b"early")) + wire(server, Frame(Opcode.PING, b"?"))
    server.receive_data(request.serialize() + frames[:5])
    assert server.events_received() == [request]
    # More bytes before the response: kept, not parsed.
    server.receive_data(frames[5:])
    assert server.events_received() == []
    server.send_response(server.accept(request))
    assert_state(server, State.OPEN)
    assert server.events_received() == [Frame(Opcode.TEXT, b"early"), Frame(Opcode.PING, b"?")]
    [response, pong] = server.data_to_send()
    assert response.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert pong == b"\x8a\x01?"


# Accepting the handshake (RFC 6455, 4.2.2).


def test_accept() -> None:
    server, response = accept(handshake_request())
    assert response.status_code == 101
    assert response.reason_phrase == "Switching Protocols"
    assert response.body is None
    assert [name for name, _ in response.headers.raw_items()] == [
        "Date",
        "Upgrade",
        "Connection",
        "Sec-WebSocket-Accept",
    ]
    assert response.headers["Upgrade"] == "websocket"
    assert response.headers["Connection"] == "Upgrade"
    assert response.headers["Sec-WebSocket-Accept"] == ACCEPT
    assert_date(response.headers)
    assert server.handshake_exc is None
    assert server.extensions == []
    assert server.subprotocol is None
    # Accepting does not send anything: the application may modify the
    # response first.
    assert server.data_to_send() == []
    assert_state(server, State.CONNECTING)


def test_accept_key_of_random_key() -> None:
    key = "x3JJHMbDL1EzLkh9GBhXDw=="
    _, response = accept(
        handshake_request(("Sec-WebSocket-Key", key), remove=["Sec-WebSocket-Key"])
    )
    assert (
        response.headers["Sec-WebSocket-Accept"]
        == accept_key(key)
        == "HSmrc0sMlYUkAGmm5OPpG2HaGWk="
    )


def test_send_accept_response_opens_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    server, response = accept(handshake_request())
    response.headers["X-Extra"] = "added by the application"
    with caplog.at_level(logging.INFO, logger="websockets_typed.server"):
        server.send_response(response)
    assert server.data_to_send() == [response.serialize()]
    assert b"X-Extra: added by the application\r\n" in response.serialize()
    assert_state(server, State.OPEN)
    assert server.handshake_exc is None
    assert not server.close_expected()
    assert "connection open" in caplog.messages
    # Frames flow now.
    server.send_text(b"hello")
    assert server.data_to_send() == [b"\x81\x05hello"]
    server.receive_data(wire(server, Frame(Opcode.BINARY, b"hi")))
    assert server.events_received() == [Frame(Opcode.BINARY, b"hi")]


@pytest.mark.parametrize("upgrade", ["websocket", "WebSocket", "h2c, websocket"])
@pytest.mark.parametrize("connection", ["Upgrade", "upgrade", "keep-alive, Upgrade"])
def test_accept_variants_of_upgrade_and_connection(upgrade: str, connection: str) -> None:
    # RFC 6455, 4.2.1: values are compared case-insensitively, and these are
    # lists (RFC 7230, 6.1 and 6.7).
    request = handshake_request(
        ("Upgrade", upgrade), ("Connection", connection), remove=["Upgrade", "Connection"]
    )
    server, response = accept(request)
    assert response.status_code == 101
    assert server.handshake_exc is None


def test_accept_ignores_request_path_and_host() -> None:
    # Routing and Host checks are the application's business.
    _, response = accept(handshake_request(remove=["Host"], path="/any/path?x=1"))
    assert response.status_code == 101


# Rejecting requests that aren't WebSocket handshakes (RFC 6455, 4.2.1).


@pytest.mark.parametrize(
    ("headers", "remove", "message"),
    [
        ([], ["Connection"], "missing Connection header"),
        ([("Connection", "close")], ["Connection"], "invalid Connection header: close"),
        (
            [("Connection", "keep-alive"), ("Connection", "close")],
            ["Connection"],
            "invalid Connection header: keep-alive, close",
        ),
        ([], ["Upgrade"], "missing Upgrade header"),
        ([("Upgrade", "h2c")], ["Upgrade"], "invalid Upgrade header: h2c"),
        ([("Upgrade", "websocket/13")], ["Upgrade"], "invalid Upgrade header: websocket/13"),
    ],
)
def test_reject_not_an_upgrade(
    headers: list[tuple[str, str]], remove: list[str], message: str
) -> None:
    server, response = assert_rejected(
        handshake_request(*headers, remove=remove), 426, InvalidUpgrade, message
    )
    assert response.reason_phrase == "Upgrade Required"
    # RFC 7231, 6.5.15: a 426 response says which protocol to upgrade to.
    assert response.headers["Upgrade"] == "websocket"
    assert (
        response.body == f"Failed to open a WebSocket connection: {message}.\n\n{ADVICE}".encode()
    )
    assert server.origin is None


@pytest.mark.parametrize("name", ["Connection", "Upgrade"])
def test_reject_unparsable_connection_or_upgrade(name: str) -> None:
    assert_rejected(
        handshake_request((name, "Upgrade;"), remove=[name]),
        400,
        InvalidHeaderFormat,
        f"invalid {name} header: expected comma at 7 in Upgrade;",
    )


@pytest.mark.parametrize(
    ("headers", "exc_type", "message"),
    [
        ([], InvalidHeader, "missing Sec-WebSocket-Key header"),
        (
            [("Sec-WebSocket-Key", KEY), ("Sec-WebSocket-Key", KEY)],
            InvalidHeader,
            "invalid Sec-WebSocket-Key header: multiple values",
        ),
        (
            [("Sec-WebSocket-Key", "not base64!")],
            InvalidHeaderValue,
            "invalid Sec-WebSocket-Key header: not base64!",
        ),
        (
            # RFC 6455, 4.2.1, point 5: 16 bytes, not 15.
            [("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA")],
            InvalidHeaderValue,
            "invalid Sec-WebSocket-Key header: AAAAAAAAAAAAAAAAAAAA",
        ),
        ([("Sec-WebSocket-Key", "")], InvalidHeaderValue, "empty Sec-WebSocket-Key header"),
    ],
)
def test_reject_bad_key(
    headers: list[tuple[str, str]], exc_type: type[Exception], message: str
) -> None:
    _, response = assert_rejected(
        handshake_request(*headers, remove=["Sec-WebSocket-Key"]), 400, exc_type, message
    )
    assert response.reason_phrase == "Bad Request"
    assert "Upgrade" not in response.headers


def test_reject_key_with_bytes_that_are_not_text() -> None:
    # Header values keep bytes 0x80-0xFF as lone surrogates; quoting them in
    # the response body must not crash the server.
    server = ServerProtocol()
    data = handshake_request(remove=["Sec-WebSocket-Key"]).serialize()
    data = data[:-2] + b"Sec-WebSocket-Key: \xff\xfe\r\n\r\n"
    server.receive_data(data)
    [request] = server.events_received()
    assert isinstance(request, Request)
    response = server.accept(request)
    assert response.status_code == 400
    assert isinstance(server.handshake_exc, InvalidHeaderValue)
    assert response.body == (
        b"Failed to open a WebSocket connection: "
        b"invalid Sec-WebSocket-Key header: \\udcff\\udcfe.\n"
    )
    server.send_response(response)
    assert server.data_to_send() == [response.serialize(), EOF]


@pytest.mark.parametrize("version", ["8", "14", "13, 8"])
def test_reject_unsupported_version(version: str) -> None:
    # RFC 6455, 4.2.2 and 4.4: answer 426 with the versions the server speaks.
    _, response = assert_rejected(
        handshake_request(("Sec-WebSocket-Version", version), remove=["Sec-WebSocket-Version"]),
        426,
        InvalidHeaderValue,
        f"invalid Sec-WebSocket-Version header: {version}",
    )
    assert response.headers["Sec-WebSocket-Version"] == "13"
    assert "Upgrade" not in response.headers


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ([], "missing Sec-WebSocket-Version header"),
        (
            [("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Version", "13")],
            "invalid Sec-WebSocket-Version header: multiple values",
        ),
    ],
)
def test_reject_missing_or_duplicate_version(headers: list[tuple[str, str]], message: str) -> None:
    _, response = assert_rejected(
        handshake_request(*headers, remove=["Sec-WebSocket-Version"]), 400, InvalidHeader, message
    )
    assert "Sec-WebSocket-Version" not in response.headers


# Origins (RFC 6455, 4.2.1, point 8 and 10.2).

ORIGINS: list[OriginLike] = ["https://example.com", re.compile(r"https://[a-z]+\.example\.org")]


@pytest.mark.parametrize(
    ("origins", "origin"),
    [
        (None, "https://anything.example"),
        (None, None),
        (ORIGINS, "https://example.com"),
        (ORIGINS, "https://chat.example.org"),
        ([*ORIGINS, None], None),
        ([None], None),
    ],
)
def test_accept_origin(origins: Sequence[OriginLike] | None, origin: str | None) -> None:
    extra = [] if origin is None else [("Origin", origin)]
    server, response = accept(handshake_request(*extra), ServerProtocol(origins=origins))
    assert response.status_code == 101
    assert server.origin == origin


@pytest.mark.parametrize(
    ("origins", "origin", "message"),
    [
        (ORIGINS, "https://example.org", "invalid Origin header: https://example.org"),
        (ORIGINS, "https://EXAMPLE.com", "invalid Origin header: https://EXAMPLE.com"),
        (ORIGINS, "http://example.com", "invalid Origin header: http://example.com"),
        # A pattern must match the whole origin.
        (
            ORIGINS,
            "https://a.example.org.evil",
            "invalid Origin header: https://a.example.org.evil",
        ),
        (ORIGINS, "xhttps://a.example.org", "invalid Origin header: xhttps://a.example.org"),
        # No Origin header is acceptable only if None is listed.
        (ORIGINS, None, "missing Origin header"),
        ([], "https://example.com", "invalid Origin header: https://example.com"),
        ([None], "https://example.com", "invalid Origin header: https://example.com"),
    ],
)
def test_reject_origin(origins: Sequence[OriginLike], origin: str | None, message: str) -> None:
    extra = [] if origin is None else [("Origin", origin)]
    server, response = assert_rejected(
        handshake_request(*extra), 403, InvalidOrigin, message, ServerProtocol(origins=origins)
    )
    assert response.reason_phrase == "Forbidden"
    assert isinstance(server.handshake_exc, InvalidOrigin)
    assert server.handshake_exc.origin == origin


@pytest.mark.parametrize("origins", [None, ORIGINS])
def test_reject_multiple_origin_headers(origins: Sequence[OriginLike] | None) -> None:
    # RFC 6454, 7.3: a user agent sends at most one Origin header.
    request = handshake_request(("Origin", "https://example.com"), ("Origin", "https://evil.com"))
    assert_rejected(
        request,
        400,
        InvalidHeader,
        "invalid Origin header: multiple values",
        ServerProtocol(origins=origins),
    )


# Subprotocols (RFC 6455, 4.2.2, point 5.4 /subprotocol/).


def protocols(*values: str) -> list[tuple[str, str]]:
    """``Sec-WebSocket-Protocol`` header lines."""
    return [("Sec-WebSocket-Protocol", value) for value in values]


@pytest.mark.parametrize(
    ("available", "offered", "selected"),
    [
        # The first of the server's subprotocols that the client offers wins.
        (["chat", "superchat"], ["superchat, chat"], "chat"),
        (["chat", "superchat"], ["superchat"], "superchat"),
        (["chat", "superchat"], ["other", "superchat"], "superchat"),
        (["chat"], ["x, y", "chat"], "chat"),
        # Without subprotocols, the server ignores the client's offer.
        ([], ["chat"], None),
        ([], [], None),
    ],
)
def test_subprotocol_selected(
    available: list[str], offered: list[str], selected: str | None
) -> None:
    server, response = accept(
        handshake_request(*protocols(*offered)), ServerProtocol(subprotocols=available)
    )
    assert response.status_code == 101
    assert server.subprotocol == selected
    assert response.headers.get("Sec-WebSocket-Protocol") == selected
    assert server.available_subprotocols == available


@pytest.mark.parametrize(
    ("offered", "message"),
    [
        ([], "missing subprotocol"),
        (["other"], "invalid subprotocol; expected one of chat, superchat"),
        (["other, more", "again"], "invalid subprotocol; expected one of chat, superchat"),
    ],
)
def test_subprotocol_not_agreed(offered: list[str], message: str) -> None:
    server, response = assert_rejected(
        handshake_request(*protocols(*offered)),
        400,
        NegotiationError,
        message,
        ServerProtocol(subprotocols=["chat", "superchat"]),
    )
    assert "Sec-WebSocket-Protocol" not in response.headers
    assert server.subprotocol is None


def test_unparsable_subprotocol_header() -> None:
    assert_rejected(
        handshake_request(*protocols("chat;v=2")),
        400,
        InvalidHeaderFormat,
        "invalid Sec-WebSocket-Protocol header: expected comma at 4 in chat;v=2",
        ServerProtocol(subprotocols=["chat"]),
    )


def test_select_subprotocol_hook() -> None:
    calls: list[tuple[ServerProtocol, Sequence[Subprotocol]]] = []

    def select(protocol: ServerProtocol, subprotocols: Sequence[Subprotocol]) -> str | None:
        calls.append((protocol, subprotocols))
        return "chat" if "chat" in subprotocols else None

    # Seed 003's example: "chat" if offered, else no subprotocol, even when
    # the client offers none.
    server, response = accept(
        handshake_request(*protocols("v1", "chat, v2")),
        ServerProtocol(subprotocols=["v2"], select_subprotocol=select),
    )
    assert response.status_code == 101
    assert server.subprotocol == "chat"
    assert response.headers["Sec-WebSocket-Protocol"] == "chat"
    assert calls == [(server, ["v1", "chat", "v2"])]

    server, response = accept(
        handshake_request(), ServerProtocol(subprotocols=["v2"], select_subprotocol=select)
    )
    assert response.status_code == 101
    assert server.subprotocol is None
    assert "Sec-WebSocket-Protocol" not in response.headers


def test_select_subprotocol_hook_raises_negotiation_error() -> None:
    def select(protocol: ServerProtocol, subprotocols: Sequence[Subprotocol]) -> str | None:
        raise NegotiationError("no thanks")

    assert_rejected(
        handshake_request(*protocols("chat")),
        400,
        NegotiationError,
        "no thanks",
        ServerProtocol(select_subprotocol=select),
    )


def test_select_subprotocol_hook_returns_subprotocol_not_offered() -> None:
    select: SelectSubprotocol = lambda protocol, subprotocols: "superchat"  # noqa: E731
    assert_rejected(
        handshake_request(*protocols("chat")),
        400,
        NegotiationError,
        "selected subprotocol 'superchat' wasn't offered",
        ServerProtocol(select_subprotocol=select),
    )


def test_select_subprotocol_override_in_subclass() -> None:
    class Server(ServerProtocol):
        def select_subprotocol(self, subprotocols: Sequence[Subprotocol]) -> Subprotocol | None:
            return subprotocols[-1] if subprotocols else None

    server, response = accept(handshake_request(*protocols("a, b")), Server())
    assert server.subprotocol == "b"
    assert response.headers["Sec-WebSocket-Protocol"] == "b"


@pytest.mark.parametrize("where", ["select_subprotocol", "extension factory"])
def test_unexpected_exception_in_hook(where: str, caplog: pytest.LogCaptureFixture) -> None:
    def select(protocol: ServerProtocol, subprotocols: Sequence[Subprotocol]) -> str | None:
        raise RuntimeError("bug in the hook")

    class BrokenFactory(ServerExtensionFactory):
        name = ExtensionName("x-broken")

        def process_request_params(
            self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
        ) -> tuple[list[ExtensionParameter], Extension]:
            raise RuntimeError("bug in the hook")

    if where == "select_subprotocol":
        server = ServerProtocol(select_subprotocol=select)
        request = handshake_request()
    else:
        server = ServerProtocol(extensions=[BrokenFactory()])
        request = handshake_request(("Sec-WebSocket-Extensions", "x-broken"))
    with caplog.at_level(logging.ERROR, logger="websockets_typed.server"):
        server, response = accept(request, server)
    assert response.status_code == 500
    assert response.reason_phrase == "Internal Server Error"
    assert response.body == (
        b"Failed to open a WebSocket connection.\nSee server log for more information.\n"
    )
    assert_plain_text(response)
    assert isinstance(server.handshake_exc, RuntimeError)
    [record] = caplog.records
    assert record.getMessage() == "opening handshake failed"
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert record.exc_info[1] is server.handshake_exc


# Extensions (RFC 6455, 9.1; RFC 7692, 7).


def extensions(*values: str) -> list[tuple[str, str]]:
    """``Sec-WebSocket-Extensions`` header lines."""
    return [("Sec-WebSocket-Extensions", value) for value in values]


def test_permessage_deflate_accepted() -> None:
    server, response = accept(
        handshake_request(*extensions("permessage-deflate; client_max_window_bits")),
        ServerProtocol(extensions=[ServerPerMessageDeflateFactory()]),
    )
    assert response.status_code == 101
    assert response.headers["Sec-WebSocket-Extensions"] == "permessage-deflate"
    [extension] = server.extensions
    assert isinstance(extension, PerMessageDeflate)
    assert not extension.remote_no_context_takeover
    assert extension.local_max_window_bits == 15


def test_permessage_deflate_parameters_in_response() -> None:
    server, response = accept(
        handshake_request(
            *extensions("permessage-deflate; client_max_window_bits; server_no_context_takeover")
        ),
        ServerProtocol(
            extensions=[
                ServerPerMessageDeflateFactory(server_max_window_bits=10, client_max_window_bits=11)
            ]
        ),
    )
    assert response.headers["Sec-WebSocket-Extensions"] == (
        "permessage-deflate; server_no_context_takeover; "
        "server_max_window_bits=10; client_max_window_bits=11"
    )
    [extension] = server.extensions
    assert isinstance(extension, PerMessageDeflate)
    assert extension.local_no_context_takeover
    assert (extension.local_max_window_bits, extension.remote_max_window_bits) == (10, 11)


@pytest.mark.parametrize(
    "offers",
    [
        # The first offer is invalid.
        ["permessage-deflate; unknown_parameter, permessage-deflate; client_no_context_takeover"],
        [
            "permessage-deflate; server_max_window_bits=16, "
            "permessage-deflate; client_no_context_takeover"
        ],
        # Unknown extensions are skipped; offers may span several lines.
        ["x-webkit-deflate-frame", "permessage-deflate; client_no_context_takeover"],
        ["x-foo, permessage-deflate; client_no_context_takeover", "permessage-deflate"],
    ],
)
def test_permessage_deflate_declined_offer_then_next_offer(offers: list[str]) -> None:
    server, response = accept(
        handshake_request(*extensions(*offers)),
        ServerProtocol(extensions=[ServerPerMessageDeflateFactory()]),
    )
    assert response.status_code == 101
    # Only one permessage-deflate can be negotiated (RFC 7692, 5).
    assert response.headers["Sec-WebSocket-Extensions"] == (
        "permessage-deflate; client_no_context_takeover"
    )
    [extension] = server.extensions
    assert isinstance(extension, PerMessageDeflate)
    assert extension.remote_no_context_takeover


@pytest.mark.parametrize(
    ("offer", "expected"),
    [
        ("permessage-deflate", "permessage-deflate; server_no_context_takeover"),
        (
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; client_max_window_bits=10",
        ),
    ],
)
def test_next_factory_tried_when_one_declines(offer: str, expected: str) -> None:
    factories = [
        ServerPerMessageDeflateFactory(
            client_max_window_bits=10, require_client_max_window_bits=True
        ),
        ServerPerMessageDeflateFactory(server_no_context_takeover=True),
    ]
    _, response = accept(
        handshake_request(*extensions(offer)), ServerProtocol(extensions=factories)
    )
    assert response.headers["Sec-WebSocket-Extensions"] == expected


@pytest.mark.parametrize(
    ("available", "offers"),
    [
        ([ServerPerMessageDeflateFactory()], []),
        ([ServerPerMessageDeflateFactory()], ["x-unknown"]),
        ([ServerPerMessageDeflateFactory()], ["permessage-deflate; server_max_window_bits=16"]),
        ([], ["permessage-deflate"]),
        # Nothing to negotiate: the header is not even parsed.
        ([], ["not; a valid; header;"]),
    ],
)
def test_no_extension_negotiated(
    available: list[ServerExtensionFactory], offers: list[str]
) -> None:
    server, response = accept(
        handshake_request(*extensions(*offers)), ServerProtocol(extensions=available)
    )
    assert response.status_code == 101
    assert "Sec-WebSocket-Extensions" not in response.headers
    assert server.extensions == []


def test_unparsable_extensions_header() -> None:
    assert_rejected(
        handshake_request(*extensions("permessage-deflate; =")),
        400,
        InvalidHeaderFormat,
        "invalid Sec-WebSocket-Extensions header: expected token at 20 in permessage-deflate; =",
        ServerProtocol(extensions=[ServerPerMessageDeflateFactory()]),
    )


# Building a rejection.


def test_reject() -> None:
    server = ServerProtocol()
    response = server.reject(http.HTTPStatus.NOT_FOUND, "Sorry, nothing here.\n")
    assert response.status_code == 404
    assert response.reason_phrase == "Not Found"
    assert response.body == b"Sorry, nothing here.\n"
    assert [name for name, _ in response.headers.raw_items()] == [
        "Date",
        "Connection",
        "Content-Length",
        "Content-Type",
    ]
    assert_plain_text(response)
    # Building a response changes nothing.
    assert server.handshake_exc is None
    assert server.data_to_send() == []


def test_reject_with_int_and_non_ascii_text() -> None:
    response = ServerProtocol().reject(403, "café ☕")
    assert (response.status_code, response.reason_phrase) == (403, "Forbidden")
    assert response.body == "café ☕".encode()
    assert response.headers["Content-Length"] == "9"


def test_reject_with_unknown_status_code() -> None:
    response = ServerProtocol().reject(599, "")
    assert (response.status_code, response.reason_phrase) == (599, "")
    assert response.body == b""
    assert response.headers["Content-Length"] == "0"
    assert response.serialize().startswith(b"HTTP/1.1 599 \r\n")


# Sending the response.


def test_send_rejection(caplog: pytest.LogCaptureFixture) -> None:
    server, _ = accept(handshake_request())
    response = server.reject(403, "Go away.\n")
    with caplog.at_level(logging.INFO, logger="websockets_typed.server"):
        server.send_response(response)
    # The server closes the TCP connection right after the response.
    assert server.data_to_send() == [response.serialize(), EOF]
    assert response.serialize().endswith(b"\r\n\r\nGo away.\n")
    assert_state(server, State.CONNECTING)
    assert server.close_expected()
    # The application rejected a valid request: handshake_exc says so.
    assert isinstance(server.handshake_exc, InvalidStatus)
    assert server.handshake_exc.response is response
    assert "connection rejected (403 Forbidden)" in caplog.messages
    # Whatever the client sends now is ignored.
    server.receive_data(wire(server, Frame(Opcode.TEXT, b"ignored")))
    assert server.events_received() == []
    assert server.data_to_send() == []
    server.receive_eof()
    assert server.data_to_send() == []
    assert_state(server, State.CLOSED)
    assert isinstance(server.handshake_exc, InvalidStatus)
    assert server.close_code == 1006
    assert isinstance(server.close_exc, ConnectionClosedError)


def test_send_rejection_keeps_handshake_exc() -> None:
    server, response = accept(handshake_request(remove=["Upgrade"]))
    exc = server.handshake_exc
    assert isinstance(exc, InvalidUpgrade)
    server.send_response(response)
    assert server.handshake_exc is exc
    assert server.data_to_send() == [response.serialize(), EOF]


def test_send_response_twice() -> None:
    server, response = accept(handshake_request())
    server.send_response(response)
    server.data_to_send()
    with pytest.raises(InvalidState, match="cannot send a handshake response: connection is OPEN"):
        server.send_response(response)
    rejected, rejection = accept(handshake_request(remove=["Upgrade"]))
    rejected.send_response(rejection)
    with pytest.raises(InvalidState, match="connection is CONNECTING"):
        rejected.send_response(rejection)
    assert rejected.data_to_send() == [rejection.serialize(), EOF]


def test_send_response_when_open() -> None:
    server = ServerProtocol(state=State.OPEN)
    with pytest.raises(InvalidState):
        server.send_response(server.reject(400, ""))
    assert server.data_to_send() == []


# Malformed requests are answered automatically (RFC 7230, 3).


@pytest.mark.parametrize(
    ("data", "status", "exc_type", "message"),
    [
        (b"HELLO\r\n", 400, InvalidMessage, "invalid HTTP request line: b'HELLO'"),
        (b"GET / HTTP/1.1\n", 400, InvalidMessage, "HTTP request line doesn't end with CRLF"),
        (
            b"GET / HTTP/1.1\r\nHost\r\n",
            400,
            InvalidMessage,
            "HTTP header line without colon: b'Host'",
        ),
        (
            b"GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            400,
            InvalidMessage,
            "handshake request has a body (Content-Length)",
        ),
        (b"PUT / HTTP/1.1\r\n", 405, InvalidMessage, "unsupported HTTP method: PUT"),
        (b"GET / HTTP/1.0\r\n", 505, InvalidMessage, "unsupported HTTP version: b'HTTP/1.0'"),
        (
            b"GET /" + b"a" * 8192 + b" HTTP/1.1\r\n",
            414,
            SecurityError,
            "HTTP request line too long",
        ),
        (
            b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 8192 + b"\r\n",
            431,
            SecurityError,
            "HTTP header line too long",
        ),
        (
            b"GET / HTTP/1.1\r\n" + b"X-Many: 1\r\n" * 129,
            431,
            SecurityError,
            "too many HTTP headers",
        ),
    ],
)
def test_malformed_request_is_answered(
    data: bytes, status: int, exc_type: type[Exception], message: str
) -> None:
    server = ServerProtocol()
    server.receive_data(data)
    assert server.events_received() == []
    assert type(server.handshake_exc) is exc_type
    assert str(server.handshake_exc) == message
    [response_data, eof] = server.data_to_send()
    assert eof == EOF
    assert response_data.startswith(b"HTTP/1.1 %d " % status)
    assert response_data.endswith(
        b"\r\n\r\nFailed to open a WebSocket connection: %s.\n" % message.encode()
    )
    assert (b"\r\nAllow: GET\r\n" in response_data) is (status == 405)
    assert b"\r\nConnection: close\r\n" in response_data
    assert server.close_expected()
    assert_state(server, State.CONNECTING)
    # The rest of the stream is ignored.
    server.receive_data(b"GET / HTTP/1.1\r\n\r\n")
    assert server.events_received() == []
    assert server.data_to_send() == []
    server.receive_eof()
    assert server.data_to_send() == []
    assert_state(server, State.CLOSED)
    assert type(server.handshake_exc) is exc_type


@pytest.mark.parametrize("method", ["HEAD", "POST"])
def test_head_and_post_are_events_that_accept_refuses(method: str) -> None:
    """process_request may answer them; left to accept(), they get 405."""
    server = ServerProtocol()
    server.receive_data(f"{method} /healthz HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    [request] = server.events_received()
    assert isinstance(request, Request)
    assert request.method == method
    response = server.accept(request)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"
    assert "Date" in response.headers
    assert str(server.handshake_exc) == f"unsupported HTTP method: {method}"


def test_response_to_head_has_no_body() -> None:
    """RFC 9110, 9.3.2: the headers of the response to GET, without its body."""
    server = ServerProtocol()
    server.receive_data(b"HEAD /healthz HTTP/1.1\r\n\r\n")
    server.events_received()
    server.send_response(server.reject(http.HTTPStatus.OK, "OK\n"))
    [data, eof] = server.data_to_send()
    assert eof == EOF
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nContent-Length: 3\r\n" in data
    assert data.endswith(b"\r\n\r\n")


def test_malformed_request_with_status_in_exception() -> None:
    server = ServerProtocol()
    server.receive_data(b"DELETE / HTTP/1.1\r\n")
    exc = server.handshake_exc
    assert isinstance(exc, InvalidMessage)
    assert exc.status == http.HTTPStatus.METHOD_NOT_ALLOWED


# End of stream during the opening handshake.


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "connection closed while reading HTTP request line"),
        (b"GET / HTT", "connection closed while reading HTTP request line"),
        (
            b"GET / HTTP/1.1\r\nHost: example.com\r\n",
            "connection closed while reading HTTP headers",
        ),
    ],
)
def test_eof_before_or_while_reading_request(data: bytes, message: str) -> None:
    server = ServerProtocol()
    server.receive_data(data)
    server.receive_eof()
    assert server.events_received() == []
    assert server.data_to_send() == [EOF]
    assert_state(server, State.CLOSED)
    assert isinstance(server.handshake_exc, InvalidMessage)
    assert str(server.handshake_exc) == message
    assert (server.close_code, server.close_reason) == (1006, "")
    assert isinstance(server.close_exc, ConnectionClosedError)


def test_eof_after_request() -> None:
    server = ServerProtocol()
    request = receive_request(server, handshake_request())
    server.receive_eof()
    assert server.data_to_send() == [EOF]
    assert_state(server, State.CLOSED)
    assert isinstance(server.handshake_exc, InvalidMessage)
    assert str(server.handshake_exc) == "connection closed during the opening handshake"
    # Too late to answer.
    with pytest.raises(InvalidState):
        server.send_response(server.accept(request))
    assert server.data_to_send() == []


def test_eof_after_accepting() -> None:
    server, response = accept(handshake_request())
    server.send_response(response)
    server.data_to_send()
    server.receive_eof()
    assert server.data_to_send() == [EOF]
    assert_state(server, State.CLOSED)
    assert server.handshake_exc is None
    assert server.close_code == 1006


def test_receive_after_eof() -> None:
    server = ServerProtocol()
    server.receive_eof()
    with pytest.raises(EOFError):
        server.receive_data(b"GET / HTTP/1.1\r\n")
    with pytest.raises(EOFError):
        server.receive_eof()


# Logging.


def test_debug_logging(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.server")
    logger.setLevel(logging.DEBUG)
    server = ServerProtocol(logger=logger)
    with caplog.at_level(logging.DEBUG, logger="test.server"):
        server.receive_data(handshake_request(path="/chat").serialize())
        [request] = server.events_received()
        assert isinstance(request, Request)
        server.send_response(server.accept(request))
    assert caplog.messages[:2] == ["< GET /chat HTTP/1.1", "< Host: example.com"]
    assert "> HTTP/1.1 101 Switching Protocols" in caplog.messages
    assert f"> Sec-WebSocket-Accept: {ACCEPT}" in caplog.messages
    assert "= CONNECTING -> OPEN" in caplog.messages


def test_debug_logging_of_invalid_request(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.server")
    logger.setLevel(logging.DEBUG)
    server = ServerProtocol(logger=logger)
    with caplog.at_level(logging.DEBUG, logger="test.server"):
        server.receive_data(b"PUT / HTTP/1.1\r\n")
    assert "! invalid handshake request: unsupported HTTP method: PUT" in caplog.messages
    assert "> HTTP/1.1 405 Method Not Allowed" in caplog.messages
    assert "> Allow: GET" in caplog.messages


def test_handshake_exc_is_an_invalid_handshake_for_every_rejection() -> None:
    # Every rejection path, except bugs (500), records an InvalidHandshake.
    requests = [
        handshake_request(remove=["Upgrade"]),
        handshake_request(remove=["Sec-WebSocket-Key"]),
        handshake_request(("Sec-WebSocket-Version", "8"), remove=["Sec-WebSocket-Version"]),
    ]
    for request in requests:
        server, response = accept(request)
        assert response.status_code != 101
        assert isinstance(server.handshake_exc, InvalidHandshake)

"""The exception hierarchy: typed attributes and readable messages."""

from __future__ import annotations

import http

import pytest

from websockets_typed.datastructures import Headers
from websockets_typed.exceptions import (
    AbortHandshake,
    CancelHandshake,
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    DuplicateParameter,
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderFormat,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidOrigin,
    InvalidParameterName,
    InvalidParameterValue,
    InvalidState,
    InvalidStatus,
    InvalidStatusCode,
    InvalidUpgrade,
    InvalidURI,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
    SecurityError,
    TooManyFragments,
    WebSocketException,
    WebSocketProtocolError,
)
from websockets_typed.frames import Close
from websockets_typed.http11 import Response


@pytest.mark.parametrize(
    ("exception", "text"),
    [
        (ConnectionClosed(None, None), "no close frame received or sent"),
        (
            ConnectionClosed(None, Close(1000, "")),
            "sent 1000 (OK); no close frame received",
        ),
        (
            ConnectionClosed(Close(1001, "bye"), None),
            "received 1001 (going away) bye; no close frame sent",
        ),
        (
            ConnectionClosed(Close(1000, ""), Close(1000, ""), True),
            "received 1000 (OK); then sent 1000 (OK)",
        ),
        (
            ConnectionClosed(Close(1000, ""), Close(1002, ""), False),
            "sent 1002 (protocol error); then received 1000 (OK)",
        ),
        (
            InvalidURI("http://x", "scheme isn't ws or wss"),
            "http://x isn't a valid URI: scheme isn't ws or wss",
        ),
        (InvalidHeader("Host"), "missing Host header"),
        (InvalidHeader("Host", ""), "empty Host header"),
        (InvalidHeader("Host", "x y"), "invalid Host header: x y"),
        (
            InvalidHeaderFormat("Upgrade", "expected token", "a b", 2),
            "invalid Upgrade header: expected token at 2 in a b",
        ),
        (
            InvalidHeaderValue("Sec-WebSocket-Version", "12"),
            "invalid Sec-WebSocket-Version header: 12",
        ),
        (InvalidOrigin(None), "missing Origin header"),
        (InvalidOrigin("https://evil"), "invalid Origin header: https://evil"),
        (InvalidUpgrade("Upgrade", "h2c"), "invalid Upgrade header: h2c"),
        (DuplicateParameter("a"), "duplicate parameter: a"),
        (InvalidParameterName("a"), "invalid parameter name: a"),
        (InvalidParameterValue("a", None), "missing value for parameter a"),
        (InvalidParameterValue("a", ""), "empty value for parameter a"),
        (InvalidParameterValue("a", "7"), "invalid value for parameter a: 7"),
        (InvalidStatusCode(403), "server rejected WebSocket connection: HTTP 403"),
        (PayloadTooBig(1024), "message exceeds the limit of 1024 bytes"),
        (PayloadTooBig(1024, 2048), "message of 2048 bytes exceeds the limit of 1024 bytes"),
        (ProtocolError("bad"), "bad"),
        (TooManyFragments(64), "message has more than 64 fragments"),
    ],
)
def test_str(exception: Exception, text: str) -> None:
    assert str(exception) == text


def test_connection_closed_code_and_reason() -> None:
    closed = ConnectionClosedOK(Close(1001, "bye"), Close(1001, "bye"), True)
    assert (closed.code, closed.reason) == (1001, "bye")
    assert (closed.rcvd, closed.sent, closed.rcvd_then_sent) == (
        Close(1001, "bye"),
        Close(1001, "bye"),
        True,
    )
    abnormal = ConnectionClosedError(None, None)
    assert (abnormal.code, abnormal.reason) == (1006, "")


def test_invalid_status_carries_the_response() -> None:
    response = Response(404, "Not Found", Headers(X="1"), b"nope")
    exception = InvalidStatus(response)
    assert exception.response is response
    # The legacy attributes keep working.
    assert isinstance(exception, InvalidStatusCode)
    assert exception.status_code == 404
    assert exception.headers is response.headers
    assert str(exception) == "server rejected WebSocket connection: HTTP 404"


def test_status_of_http_errors() -> None:
    assert InvalidMessage("bad").status is http.HTTPStatus.BAD_REQUEST
    assert SecurityError("big", http.HTTPStatus.REQUEST_URI_TOO_LONG).status == 414


def test_abort_handshake() -> None:
    exception = AbortHandshake(401, {"WWW-Authenticate": "Basic"}, b"who are you?")
    assert exception.status is http.HTTPStatus.UNAUTHORIZED
    assert exception.headers["www-authenticate"] == "Basic"
    assert exception.body == b"who are you?"
    assert str(exception) == "HTTP 401, 1 headers, 12 bytes"


def test_hierarchy() -> None:
    assert WebSocketProtocolError is ProtocolError
    assert issubclass(ConcurrencyError, RuntimeError)
    assert issubclass(InvalidState, AssertionError)
    for handshake_error in (
        SecurityError,
        InvalidMessage,
        InvalidStatus,
        InvalidHeader,
        NegotiationError,
        AbortHandshake,
        CancelHandshake,
    ):
        assert issubclass(handshake_error, InvalidHandshake)
    for parameter_error in (DuplicateParameter, InvalidParameterName, InvalidParameterValue):
        assert issubclass(parameter_error, NegotiationError)
    for header_error in (InvalidHeaderFormat, InvalidHeaderValue, InvalidOrigin, InvalidUpgrade):
        assert issubclass(header_error, InvalidHeader)
    for closed in (ConnectionClosedOK, ConnectionClosedError):
        assert issubclass(closed, ConnectionClosed)
    assert issubclass(InvalidHandshake, WebSocketException)

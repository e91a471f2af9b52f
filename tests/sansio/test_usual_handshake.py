"""The shortcuts of the usual handshake decide as the full checks do (RFC 6455, 4.2).

The server checks the usual request, and builds its 101 response, with
shortcuts (bench/run.py, S4). Each test here gives requests that differ from
the usual one in one header and compares the shortcut with the full checks,
which a subclass of Headers takes.
"""

from __future__ import annotations

import email.utils
import time

import pytest
from protocol_helpers import KEY, handshake_request

from websockets_typed.datastructures import Headers
from websockets_typed.handshake import accept_key, build_response, check_request
from websockets_typed.http11 import Response
from websockets_typed.server import ServerProtocol

USUAL = [
    ("Host", "example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", KEY),
    ("Sec-WebSocket-Version", "13"),
]


class FullChecks(Headers):
    """Headers that the shortcut leaves to the full checks."""

    __slots__ = ()


def replaced(name: str, *values: str) -> list[tuple[str, str]]:
    """The usual request headers, with ``values`` (any number) in place of ``name``."""
    fields = [(other, value) for other, value in USUAL if other != name]
    return fields + [(name, value) for value in values]


VARIANTS = [
    USUAL,
    replaced("Connection", "keep-alive, Upgrade"),
    replaced("Connection", "upgrade"),
    replaced("Connection", "UPGRADE"),
    replaced("Connection", "keep-alive"),
    replaced("Connection", "Upgrade", "Upgrade"),
    replaced("Connection", "Upgrade", "keep-alive"),
    replaced("Connection", ",,"),
    replaced("Connection"),
    replaced("Upgrade", "WebSocket"),
    replaced("Upgrade", "h2c"),
    replaced("Upgrade", "websocket", "websocket"),
    replaced("Upgrade", "h2c, websocket"),
    replaced("Upgrade"),
    replaced("Sec-WebSocket-Key", KEY, KEY),
    replaced("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZR=="),
    replaced("Sec-WebSocket-Key", KEY[:-2]),
    replaced("Sec-WebSocket-Key", ""),
    replaced("Sec-WebSocket-Key"),
    replaced("Sec-WebSocket-Version", "13", "13"),
    replaced("Sec-WebSocket-Version", "8"),
    replaced("Sec-WebSocket-Version", "13, 8"),
    replaced("Sec-WebSocket-Version", ""),
    replaced("Sec-WebSocket-Version"),
]


def outcome(headers: Headers) -> object:
    """The key that check_request returns, or the error it raises."""
    try:
        return check_request(headers)
    except Exception as exc:  # any difference counts
        return type(exc), str(exc)


@pytest.mark.parametrize("fields", VARIANTS)
def test_check_request_shortcut_agrees_with_full_checks(fields: list[tuple[str, str]]) -> None:
    assert outcome(Headers(fields)) == outcome(FullChecks(fields))


@pytest.mark.parametrize("fields", VARIANTS)
def test_accept_shortcut_agrees_with_full_checks(fields: list[tuple[str, str]]) -> None:
    # The status code and the reason a request is rejected for, if it is.
    def answer(headers: Headers) -> tuple[int, str]:
        server = ServerProtocol()
        request = handshake_request()
        response = server.accept(type(request)(request.path, headers))
        return response.status_code, str(server.handshake_exc)

    assert answer(Headers(fields)) == answer(FullChecks(fields))


def test_usual_response_is_what_build_response_makes() -> None:
    server = ServerProtocol()
    response = server.accept(handshake_request())
    expected = Headers()
    expected["Date"] = response.headers["Date"]
    build_response(expected, KEY)
    assert response.headers == expected
    assert list(response.headers.raw_items()) == list(expected.raw_items())
    assert response.headers["Sec-WebSocket-Accept"] == accept_key(KEY)


def test_usual_response_is_dated_each_second(monkeypatch: pytest.MonkeyPatch) -> None:
    # Its lines, Date first, are made once per second: a new second gets
    # new lines, in the bytes sent as in the headers.
    now = [1_800_000_000.75]
    monkeypatch.setattr(time, "time", lambda: now[0])
    for second in (1_800_000_000, 1_800_000_001):
        date = email.utils.formatdate(second, usegmt=True)
        for _ in range(2):
            response = ServerProtocol().accept(handshake_request())
            assert response.headers["Date"] == date
            expected = Response(101, "Switching Protocols", plain_copy(response.headers))
            data = response.serialize()
            assert data == expected.serialize()
            assert data.startswith(f"HTTP/1.1 101 Switching Protocols\r\nDate: {date}\r\n".encode())
        now[0] += 1


def test_usual_response_takes_more_headers() -> None:
    # Headers added to the response, as serve() adds Server, are sent.
    server = ServerProtocol()
    response = server.accept(handshake_request())
    response.headers["Server"] = "test"
    del response.headers["Date"]
    data = response.serialize()
    assert data.startswith(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n")
    assert data.endswith(b"\r\nServer: test\r\n\r\n")
    assert b"Date" not in data
    assert response.headers.get_all("date") == []


def plain_copy(headers: Headers) -> Headers:
    """The same headers, built one by one: serialized without shortcuts."""
    return Headers(list(headers.raw_items()))


def test_usual_response_serializes_as_any_headers() -> None:
    server = ServerProtocol()
    headers = server.accept(handshake_request()).headers
    expected = plain_copy(headers).serialize()
    assert headers.serialize() == expected
    # The lines made with the response serve once; then as any headers.
    assert headers.serialize() == expected


def test_usual_response_serializes_headers_added_since() -> None:
    server = ServerProtocol()
    headers = server.accept(handshake_request()).headers
    headers["Server"] = "test"
    headers["X-Trace"] = "1"
    assert headers.serialize() == plain_copy(headers).serialize()
    assert headers.serialize().endswith(b"\r\nServer: test\r\nX-Trace: 1\r\n\r\n")


def test_usual_response_checks_headers_added_since() -> None:
    # No header injection through a header added to the usual response.
    server = ServerProtocol()
    headers = server.accept(handshake_request()).headers
    headers["X-Bad"] = "a\r\nInjected: 1"
    with pytest.raises(ValueError, match="invalid value for header X-Bad"):
        headers.serialize()


def test_usual_response_cleared() -> None:
    server = ServerProtocol()
    headers = server.accept(handshake_request()).headers
    headers.clear()
    headers["Server"] = "test"
    assert headers.serialize() == b"Server: test\r\n\r\n"

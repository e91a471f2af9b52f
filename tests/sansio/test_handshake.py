"""Tests for websockets_typed.handshake (RFC 6455, section 4)."""

from __future__ import annotations

import base64
import os

import pytest

from websockets_typed.datastructures import Headers
from websockets_typed.exceptions import (
    InvalidHeader,
    InvalidHeaderFormat,
    InvalidHeaderValue,
    InvalidUpgrade,
)
from websockets_typed.handshake import (
    GUID,
    accept_key,
    build_request,
    build_response,
    check_request,
    check_response,
    generate_key,
)
from websockets_typed.http11 import Request, RequestParser, Response, ResponseParser

# RFC 6455, 1.3: the example of the opening handshake.
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def request_headers(**overrides: str | None) -> Headers:
    """Valid handshake request headers, with some replaced or (``None``) removed."""
    values: dict[str, str | None] = {
        "Host": "server.example.com",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": KEY,
        "Sec-WebSocket-Version": "13",
    }
    values.update({name.replace("_", "-"): value for name, value in overrides.items()})
    return Headers([(name, value) for name, value in values.items() if value is not None])


def response_headers(**overrides: str | None) -> Headers:
    """Valid handshake response headers for :data:`KEY`, with some replaced or removed."""
    values: dict[str, str | None] = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Accept": ACCEPT,
    }
    values.update({name.replace("_", "-"): value for name, value in overrides.items()})
    return Headers([(name, value) for name, value in values.items() if value is not None])


# Keys.


def test_guid() -> None:
    assert GUID == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def test_accept_key_rfc_example() -> None:
    assert accept_key(KEY) == ACCEPT


def test_generate_key_is_16_random_bytes_in_base64(monkeypatch: pytest.MonkeyPatch) -> None:
    requested: list[int] = []

    def urandom(size: int) -> bytes:
        requested.append(size)
        return b"the sample nonce"

    monkeypatch.setattr(os, "urandom", urandom)
    assert generate_key() == KEY
    assert requested == [16]


def test_generate_key_is_different_every_time() -> None:
    keys = {generate_key() for _ in range(10)}
    assert len(keys) == 10
    assert all(len(base64.b64decode(key, validate=True)) == 16 for key in keys)


# Requests.


def test_build_request() -> None:
    headers = Headers([("Host", "server.example.com")])
    key = build_request(headers)
    assert list(headers.raw_items()) == [
        ("Host", "server.example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ]
    assert len(base64.b64decode(key, validate=True)) == 16


def test_build_request_then_check_request() -> None:
    headers = Headers()
    key = build_request(headers)
    assert check_request(headers) == key


def test_check_request_rfc_example() -> None:
    assert check_request(request_headers()) == KEY


@pytest.mark.parametrize(
    "headers",
    [
        request_headers(Connection="upgrade"),
        request_headers(Connection="UPGRADE"),
        request_headers(Connection="keep-alive, Upgrade"),
        request_headers(Connection=", Upgrade ,"),
        request_headers(Upgrade="WebSocket"),
        request_headers(Upgrade="h2c, websocket"),
        request_headers(Upgrade="websocket, websocket/13"),
    ],
)
def test_check_request_accepts_variants(headers: Headers) -> None:
    assert check_request(headers) == KEY


def test_check_request_joins_headers_given_several_times() -> None:
    headers = request_headers(Connection="keep-alive", Upgrade="h2c")
    headers["Connection"] = "Upgrade"
    headers["Upgrade"] = "websocket"
    assert check_request(headers) == KEY


@pytest.mark.parametrize(
    ("headers", "name", "value"),
    [
        (request_headers(Connection=None), "Connection", None),
        (request_headers(Connection="keep-alive"), "Connection", "keep-alive"),
        (request_headers(Connection="Upgrade-Insecure"), "Connection", "Upgrade-Insecure"),
        (request_headers(Upgrade=None), "Upgrade", None),
        (request_headers(Upgrade="h2c"), "Upgrade", "h2c"),
        (request_headers(Upgrade="websocket/13"), "Upgrade", "websocket/13"),
        (request_headers(Upgrade="websockets"), "Upgrade", "websockets"),
    ],
)
def test_check_request_invalid_upgrade(headers: Headers, name: str, value: str | None) -> None:
    with pytest.raises(InvalidUpgrade) as raised:
        check_request(headers)
    assert (raised.value.name, raised.value.value) == (name, value)


def test_check_request_missing_connection_message() -> None:
    with pytest.raises(InvalidUpgrade) as raised:
        check_request(request_headers(Connection=None))
    assert str(raised.value) == "missing Connection header"


@pytest.mark.parametrize(
    ("headers", "name"),
    [
        (request_headers(Connection="Up grade"), "Connection"),
        (request_headers(Connection=""), "Connection"),
        (request_headers(Upgrade="web socket"), "Upgrade"),
        (request_headers(Upgrade="websocket/"), "Upgrade"),
    ],
)
def test_check_request_unparsable_upgrade(headers: Headers, name: str) -> None:
    with pytest.raises(InvalidHeaderFormat) as raised:
        check_request(headers)
    assert raised.value.name == name


def test_check_request_missing_key() -> None:
    with pytest.raises(InvalidHeader) as raised:
        check_request(request_headers(Sec_WebSocket_Key=None))
    assert type(raised.value) is InvalidHeader
    assert (raised.value.name, raised.value.value) == ("Sec-WebSocket-Key", None)


def test_check_request_multiple_keys() -> None:
    headers = request_headers()
    headers["Sec-WebSocket-Key"] = KEY
    with pytest.raises(InvalidHeader) as raised:
        check_request(headers)
    assert type(raised.value) is InvalidHeader
    assert (raised.value.name, raised.value.value) == ("Sec-WebSocket-Key", "multiple values")


@pytest.mark.parametrize(
    "key",
    [
        "",
        "not a base64 value",
        "dGhlIHNhbXBsZSBub25jZQ",  # missing padding
        "dGhlIHNhbXBsZSBub25jZQ=",  # incomplete padding
        "dGhlIHNhbXBsZSBub25jZR==",  # non-canonical: padding bits set
        "dGhlIHNhbXBsZSBub25j",  # 15 bytes
        "dGhlIHNhbXBsZSBub25jZVhY",  # 18 bytes
        base64.b64encode(b"x" * 17).decode(),
        "dGhlIHNhbXBsZSBub25jZQ==AAAA",  # data after the padding
        "dGhlIHNhbXBsZSBub25j ZQ==",
        "dGhlIHNhbXBsZSBub25jZQ\udce9=",
        "dGhlIHNhbXBsZSBub25jZQé=",
    ],
)
def test_check_request_invalid_key(key: str) -> None:
    with pytest.raises(InvalidHeaderValue) as raised:
        check_request(request_headers(Sec_WebSocket_Key=key))
    assert (raised.value.name, raised.value.value) == ("Sec-WebSocket-Key", key)


def test_check_request_missing_version() -> None:
    with pytest.raises(InvalidHeader) as raised:
        check_request(request_headers(Sec_WebSocket_Version=None))
    assert type(raised.value) is InvalidHeader
    assert (raised.value.name, raised.value.value) == ("Sec-WebSocket-Version", None)


def test_check_request_multiple_versions() -> None:
    headers = request_headers()
    headers["Sec-WebSocket-Version"] = "13"
    with pytest.raises(InvalidHeader) as raised:
        check_request(headers)
    assert type(raised.value) is InvalidHeader
    assert (raised.value.name, raised.value.value) == ("Sec-WebSocket-Version", "multiple values")


@pytest.mark.parametrize("version", ["", "8", "12", "14", "13, 8", "013", "thirteen"])
def test_check_request_unsupported_version(version: str) -> None:
    # RFC 6455, 4.4: the server answers this with 426 Upgrade Required.
    with pytest.raises(InvalidHeaderValue) as raised:
        check_request(request_headers(Sec_WebSocket_Version=version))
    assert (raised.value.name, raised.value.value) == ("Sec-WebSocket-Version", version)


# Responses.


def test_build_response() -> None:
    headers = Headers([("Server", "test")])
    build_response(headers, KEY)
    assert list(headers.raw_items()) == [
        ("Server", "test"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", ACCEPT),
    ]


def test_build_response_then_check_response() -> None:
    request = Headers()
    key = build_request(request)
    response = Headers()
    build_response(response, check_request(request))
    check_response(response, key)


@pytest.mark.parametrize(
    "headers",
    [
        response_headers(),
        response_headers(Upgrade="WebSocket"),
        response_headers(Upgrade=" , websocket,"),
        response_headers(Connection="upgrade"),
        response_headers(Connection="keep-alive, Upgrade"),
    ],
)
def test_check_response_accepts_variants(headers: Headers) -> None:
    check_response(headers, KEY)


@pytest.mark.parametrize(
    ("headers", "name", "value"),
    [
        (response_headers(Connection=None), "Connection", None),
        (response_headers(Connection="close"), "Connection", "close"),
        (response_headers(Upgrade=None), "Upgrade", None),
        (response_headers(Upgrade="h2c"), "Upgrade", "h2c"),
        (response_headers(Upgrade="websocket/13"), "Upgrade", "websocket/13"),
        # RFC 6455, 4.1: the server upgrades to one protocol, websocket.
        (response_headers(Upgrade="websocket, h2c"), "Upgrade", "websocket, h2c"),
        (response_headers(Upgrade="h2c, websocket"), "Upgrade", "h2c, websocket"),
        (response_headers(Upgrade="websocket, websocket"), "Upgrade", "websocket, websocket"),
    ],
)
def test_check_response_invalid_upgrade(headers: Headers, name: str, value: str | None) -> None:
    with pytest.raises(InvalidUpgrade) as raised:
        check_response(headers, KEY)
    assert (raised.value.name, raised.value.value) == (name, value)


def test_check_response_upgrade_given_twice() -> None:
    headers = response_headers()
    headers["Upgrade"] = "websocket"
    with pytest.raises(InvalidUpgrade) as raised:
        check_response(headers, KEY)
    assert raised.value.value == "websocket, websocket"


@pytest.mark.parametrize(
    ("headers", "name"),
    [
        (response_headers(Connection="Up grade"), "Connection"),
        (response_headers(Upgrade=""), "Upgrade"),
    ],
)
def test_check_response_unparsable_upgrade(headers: Headers, name: str) -> None:
    with pytest.raises(InvalidHeaderFormat) as raised:
        check_response(headers, KEY)
    assert raised.value.name == name


def test_check_response_missing_accept() -> None:
    with pytest.raises(InvalidHeader) as raised:
        check_response(response_headers(Sec_WebSocket_Accept=None), KEY)
    assert type(raised.value) is InvalidHeader
    assert (raised.value.name, raised.value.value) == ("Sec-WebSocket-Accept", None)


def test_check_response_multiple_accepts() -> None:
    headers = response_headers()
    headers["Sec-WebSocket-Accept"] = ACCEPT
    with pytest.raises(InvalidHeader) as raised:
        check_response(headers, KEY)
    assert type(raised.value) is InvalidHeader
    assert (raised.value.name, raised.value.value) == ("Sec-WebSocket-Accept", "multiple values")


@pytest.mark.parametrize("accept", ["", "x", ACCEPT.lower(), accept_key(generate_key()), KEY])
def test_check_response_wrong_accept(accept: str) -> None:
    with pytest.raises(InvalidHeaderValue) as raised:
        check_response(response_headers(Sec_WebSocket_Accept=accept), KEY)
    assert (raised.value.name, raised.value.value) == ("Sec-WebSocket-Accept", accept)


def test_check_response_with_another_key() -> None:
    with pytest.raises(InvalidHeaderValue):
        check_response(response_headers(), generate_key())


# Interoperability with websockets, over the wire format.


def test_websockets_server_accepts_our_request() -> None:
    from websockets.http11 import Request as WsRequest
    from websockets.server import ServerProtocol

    headers = Headers([("Host", "server.example.com")])
    key = build_request(headers)
    data = Request("/chat", headers).serialize()

    # websockets parses the request from the wire and checks it.
    server = ServerProtocol()
    server.receive_data(data)
    [ws_request] = server.events_received()
    assert isinstance(ws_request, WsRequest)
    ws_response = server.accept(ws_request)
    assert ws_response.status_code == 101

    # Our client-side check accepts websockets' answer.
    response = ResponseParser().parse(bytearray(ws_response.serialize()))
    assert response is not None
    assert response.status_code == 101
    check_response(response.headers, key)


def test_our_server_accepts_websockets_request() -> None:
    from websockets.client import ClientProtocol
    from websockets.protocol import State
    from websockets.uri import parse_uri

    client = ClientProtocol(parse_uri("ws://server.example.com/chat"))
    client.send_request(client.connect())
    [data] = client.data_to_send()

    request = RequestParser().parse(bytearray(data))
    assert request is not None
    key = check_request(request.headers)

    headers = Headers()
    build_response(headers, key)
    client.receive_data(Response(101, "Switching Protocols", headers).serialize())
    assert client.handshake_exc is None
    assert client.state is State.OPEN


def test_websockets_client_rejects_a_wrong_accept() -> None:
    from websockets.client import ClientProtocol
    from websockets.exceptions import InvalidHeaderValue as WsInvalidHeaderValue
    from websockets.uri import parse_uri

    client = ClientProtocol(parse_uri("ws://server.example.com/chat"))
    client.send_request(client.connect())
    headers = Headers()
    build_response(headers, KEY)  # not the key the client sent
    client.receive_data(Response(101, "Switching Protocols", headers).serialize())
    assert isinstance(client.handshake_exc, WsInvalidHeaderValue)


# The usual values, checked without parsing them.

# KELVIN SIGN: "WEBSOC\u212aET".lower() == "websocket", but it isn't a token.
_KELVIN_WEBSOCKET = "WEBSOC\u212aET"


def test_check_request_refuses_non_ascii_that_lowercases_to_websocket() -> None:
    with pytest.raises(InvalidHeaderFormat) as raised:
        check_request(request_headers(Upgrade=_KELVIN_WEBSOCKET))
    assert raised.value.name == "Upgrade"


def test_check_response_refuses_non_ascii_that_lowercases_to_websocket() -> None:
    with pytest.raises(InvalidHeaderFormat) as raised:
        check_response(response_headers(Upgrade=_KELVIN_WEBSOCKET), KEY)
    assert raised.value.name == "Upgrade"


def test_check_request_accepts_every_16_byte_key() -> None:
    # Whatever the last byte, the canonical encoding passes: the last
    # character before "==" is then A, Q, g or w.
    keys = {base64.b64encode(os.urandom(15) + bytes([last])).decode() for last in range(256)}
    assert {key[-3] for key in keys} == set("AQgw")
    for key in keys:
        assert check_request(request_headers(Sec_WebSocket_Key=key)) == key

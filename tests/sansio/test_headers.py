"""Tests for websockets_typed.headers: RFC 7230 lists, RFC 6455, RFC 7692, RFC 7617."""

from __future__ import annotations

import base64
import contextlib
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from websockets_typed import headers
from websockets_typed.exceptions import InvalidHeaderFormat, InvalidHeaderValue
from websockets_typed.headers import (
    build_authorization_basic,
    build_extension,
    build_host,
    build_subprotocol,
    build_www_authenticate_basic,
    parse_authorization_basic,
    parse_connection,
    parse_extension,
    parse_subprotocol,
    parse_upgrade,
    validate_subprotocols,
)
from websockets_typed.typing import ExtensionHeader, ExtensionName, ExtensionParameter

if TYPE_CHECKING:
    from collections.abc import Sequence


def ext(name: str, *params: ExtensionParameter) -> ExtensionHeader:
    """Build an extension header item concisely."""
    return (ExtensionName(name), list(params))


# Connection (RFC 7230, 6.1).


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Upgrade", ["Upgrade"]),
        ("upgrade", ["upgrade"]),
        ("keep-alive, Upgrade", ["keep-alive", "Upgrade"]),
        ("keep-alive,Upgrade", ["keep-alive", "Upgrade"]),
        # RFC 7230, 7: empty elements and OWS around commas are accepted.
        (", , a ,b", ["a", "b"]),
        (",a", ["a"]),
        ("a,", ["a"]),
        ("a, ,\t,b,,", ["a", "b"]),
        ("a \t", ["a"]),
    ],
)
def test_parse_connection(header: str, expected: list[str]) -> None:
    assert parse_connection(header) == expected


@pytest.mark.parametrize(
    ("header", "error", "pos"),
    [
        ("", "expected at least one element", 0),
        (",", "expected at least one element", 1),
        (" , ,\t", "expected at least one element", 5),
        ("a b", "expected comma", 2),
        ("a;b", "expected comma", 1),
        ("a,(b)", "expected token", 2),
        ("a/b", "expected comma", 1),
        ('"a"', "expected token", 0),
        ("é", "expected token", 0),
    ],
)
def test_parse_connection_invalid(header: str, error: str, pos: int) -> None:
    with pytest.raises(InvalidHeaderFormat) as raised:
        parse_connection(header)
    assert raised.value.name == "Connection"
    assert raised.value.error == error
    assert raised.value.header == header
    assert raised.value.pos == pos


# Upgrade (RFC 7230, 6.7).


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("websocket", ["websocket"]),
        ("WebSocket", ["WebSocket"]),
        ("HTTP/2.0, SHTTP/1.3, IRC/6.9, RTA/x11", ["HTTP/2.0", "SHTTP/1.3", "IRC/6.9", "RTA/x11"]),
        (", websocket/13 ,h2c", ["websocket/13", "h2c"]),
    ],
)
def test_parse_upgrade(header: str, expected: list[str]) -> None:
    assert parse_upgrade(header) == expected


@pytest.mark.parametrize(
    ("header", "error", "pos"),
    [
        ("", "expected at least one element", 0),
        ("/1", "expected protocol", 0),
        ("websocket/", "expected comma", 9),
        ("websocket/1/2", "expected comma", 11),
        ("websocket 13", "expected comma", 10),
        ("a,(b)", "expected protocol", 2),
    ],
)
def test_parse_upgrade_invalid(header: str, error: str, pos: int) -> None:
    with pytest.raises(InvalidHeaderFormat) as raised:
        parse_upgrade(header)
    assert raised.value.name == "Upgrade"
    assert (raised.value.error, raised.value.pos) == (error, pos)


# Sec-WebSocket-Extensions (RFC 6455, 9.1; RFC 7692, 7).


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("foo", [ext("foo")]),
        ("foo, bar", [ext("foo"), ext("bar")]),
        (
            "permessage-deflate; client_max_window_bits; server_max_window_bits=10",
            [
                ext(
                    "permessage-deflate",
                    ("client_max_window_bits", None),
                    ("server_max_window_bits", "10"),
                )
            ],
        ),
        (
            'permessage-deflate;client_max_window_bits="10" ; server_no_context_takeover',
            [
                ext(
                    "permessage-deflate",
                    ("client_max_window_bits", "10"),
                    ("server_no_context_takeover", None),
                )
            ],
        ),
        ("a ; b = c", [ext("a", ("b", "c"))]),
        ('a;b=\t"c"\t;d', [ext("a", ("b", "c"), ("d", None))]),
        ('a; b="c\\d"', [ext("a", ("b", "cd"))]),
        (", , a; x ,b,", [ext("a", ("x", None)), ext("b")]),
        ("a; x=1, a; x=2", [ext("a", ("x", "1")), ext("a", ("x", "2"))]),
    ],
)
def test_parse_extension(header: str, expected: list[ExtensionHeader]) -> None:
    assert parse_extension(header) == expected


@pytest.mark.parametrize(
    ("header", "error", "pos"),
    [
        ("", "expected at least one element", 0),
        (";x", "expected token", 0),
        ("a;", "expected token", 2),
        ("a; ", "expected token", 3),
        ("a;;b", "expected token", 2),
        ("a; b=", "expected token", 5),
        ("a; b= ,", "expected token", 6),
        ("a; b=(c)", "expected token", 5),
        ('a; b="c', "expected quoted string", 5),
        ('a; b="c\\"', "expected quoted string", 5),
        ('a; b="c\x00"', "expected quoted string", 5),
        # RFC 7692, 7: a quoted value must be a token once unquoted.
        ('a; b=""', "invalid quoted header content", 5),
        ('a; b="c d"', "invalid quoted header content", 5),
        ('a; b="c,d"', "invalid quoted header content", 5),
        ('a; b="\\"c"', "invalid quoted header content", 5),
        ('a; b="\udce9"', "invalid quoted header content", 5),
        ("a b", "expected comma", 2),
        ("a; b c", "expected comma", 5),
        ("a; b=c d", "expected comma", 7),
        ('a; b="c"d', "expected comma", 8),
    ],
)
def test_parse_extension_invalid(header: str, error: str, pos: int) -> None:
    with pytest.raises(InvalidHeaderFormat) as raised:
        parse_extension(header)
    assert raised.value.name == "Sec-WebSocket-Extensions"
    assert (raised.value.error, raised.value.pos) == (error, pos)


def test_build_extension() -> None:
    extensions: list[ExtensionHeader] = [
        (
            ExtensionName("permessage-deflate"),
            [("client_max_window_bits", None), ("server_max_window_bits", "10")],
        ),
        (ExtensionName("x-other"), []),
    ]
    assert build_extension(extensions) == (
        "permessage-deflate; client_max_window_bits; server_max_window_bits=10, x-other"
    )


def test_build_extension_empty() -> None:
    assert build_extension([]) == ""


@pytest.mark.parametrize(
    ("extensions", "message"),
    [
        ([ext("")], "invalid extension name"),
        ([ext("a b")], "invalid extension name"),
        ([ext("a", ("b;c", None))], "invalid extension parameter name"),
        ([ext("a", ("b", "c d"))], "invalid extension parameter value"),
        ([ext("a", ("b", ""))], "invalid extension parameter value"),
        ([ext("a", ("b", "1\r\nX: y"))], "invalid extension parameter value"),
    ],
)
def test_build_extension_invalid(extensions: list[ExtensionHeader], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_extension(extensions)


# Sec-WebSocket-Protocol (RFC 6455, 11.3.4).


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("chat", ["chat"]),
        ("chat, superchat", ["chat", "superchat"]),
        ("chat,superchat", ["chat", "superchat"]),
        (", chat ,, v2.bookings.example.net", ["chat", "v2.bookings.example.net"]),
    ],
)
def test_parse_subprotocol(header: str, expected: list[str]) -> None:
    assert parse_subprotocol(header) == expected


@pytest.mark.parametrize(
    ("header", "error", "pos"),
    [
        ("", "expected at least one element", 0),
        ("chat superchat", "expected comma", 5),
        ("chat/1", "expected comma", 4),
        ("chat, (x)", "expected token", 6),
    ],
)
def test_parse_subprotocol_invalid(header: str, error: str, pos: int) -> None:
    with pytest.raises(InvalidHeaderFormat) as raised:
        parse_subprotocol(header)
    assert raised.value.name == "Sec-WebSocket-Protocol"
    assert (raised.value.error, raised.value.pos) == (error, pos)


def test_build_subprotocol() -> None:
    assert build_subprotocol(["chat"]) == "chat"
    assert build_subprotocol(["chat", "superchat"]) == "chat, superchat"
    assert build_subprotocol([]) == ""


@pytest.mark.parametrize("subprotocol", ["", "a b", "a,b", "a\r\nX: y", "é"])
def test_build_subprotocol_invalid(subprotocol: str) -> None:
    with pytest.raises(ValueError, match="invalid subprotocol"):
        build_subprotocol(["chat", subprotocol])


@pytest.mark.parametrize("subprotocols", [[], ["chat"], ["chat", "v2"], ("chat",)])
def test_validate_subprotocols(subprotocols: Sequence[str]) -> None:
    validate_subprotocols(subprotocols)


def test_validate_subprotocols_rejects_a_str() -> None:
    with pytest.raises(TypeError, match="not a str"):
        validate_subprotocols("chat")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


@pytest.mark.parametrize("subprotocols", [{"chat"}, None, 42, iter(["chat"])])
def test_validate_subprotocols_rejects_non_sequences(subprotocols: object) -> None:
    with pytest.raises(TypeError, match="must be a list of str"):
        validate_subprotocols(subprotocols)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


@pytest.mark.parametrize("subprotocols", [[b"chat"], ["chat", 1], [None]])
def test_validate_subprotocols_rejects_non_str_items(subprotocols: list[object]) -> None:
    with pytest.raises(TypeError, match="subprotocol must be a str"):
        validate_subprotocols(subprotocols)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


@pytest.mark.parametrize("subprotocols", [[""], ["a b"], ["chat", "a,b"]])
def test_validate_subprotocols_rejects_non_tokens(subprotocols: list[str]) -> None:
    with pytest.raises(ValueError, match="invalid subprotocol"):
        validate_subprotocols(subprotocols)


def test_legacy_names() -> None:
    assert headers.parse_extension_list is parse_extension
    assert headers.build_extension_list is build_extension
    assert headers.parse_subprotocol_list is parse_subprotocol
    assert headers.build_subprotocol_list is build_subprotocol


# Host (RFC 7230, 5.4).


@pytest.mark.parametrize(
    ("host", "port", "secure", "always_include_port", "expected"),
    [
        ("example.com", 80, False, False, "example.com"),
        ("example.com", 443, True, False, "example.com"),
        ("example.com", 443, False, False, "example.com:443"),
        ("example.com", 80, True, False, "example.com:80"),
        ("example.com", 8765, False, False, "example.com:8765"),
        ("example.com", 80, False, True, "example.com:80"),
        ("example.com", 443, True, True, "example.com:443"),
        ("127.0.0.1", 80, False, False, "127.0.0.1"),
        ("127.0.0.1", 8765, False, False, "127.0.0.1:8765"),
        ("::1", 80, False, False, "[::1]"),
        ("::1", 8765, True, False, "[::1]:8765"),
        ("fe80::1", 443, True, True, "[fe80::1]:443"),
    ],
)
def test_build_host(
    host: str, port: int, secure: bool, always_include_port: bool, expected: str
) -> None:
    assert build_host(host, port, secure, always_include_port=always_include_port) == expected


# Authorization (RFC 7617).


def test_build_authorization_basic() -> None:
    # RFC 7617, 2: the example credentials.
    assert build_authorization_basic("Aladdin", "open sesame") == (
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    )


def test_build_authorization_basic_utf8() -> None:
    # RFC 7617, 2.1: the example with charset="UTF-8".
    assert build_authorization_basic("test", "123£") == "Basic dGVzdDoxMjPCow=="


def test_build_authorization_basic_password_may_contain_colons() -> None:
    assert parse_authorization_basic(build_authorization_basic("user", "a:b:c")) == (
        "user",
        "a:b:c",
    )


def test_build_authorization_basic_username_with_colon() -> None:
    with pytest.raises(ValueError, match="colon"):
        build_authorization_basic("us:er", "pass")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", ("Aladdin", "open sesame")),
        ("basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", ("Aladdin", "open sesame")),
        ("BASIC   QWxhZGRpbjpvcGVuIHNlc2FtZQ==", ("Aladdin", "open sesame")),
        ("Basic dGVzdDoxMjPCow==", ("test", "123£")),
        ("Basic Og==", ("", "")),
    ],
)
def test_parse_authorization_basic(header: str, expected: tuple[str, str]) -> None:
    assert parse_authorization_basic(header) == expected


@pytest.mark.parametrize(
    ("header", "error", "pos"),
    [
        ("", "expected token", 0),
        (" Basic Og==", "expected token", 0),
        ("Basic", "expected space after scheme", 5),
        ("Basic\tOg==", "expected space after scheme", 5),
        ("Basic ", "expected token68", 6),
        ("Basic !Og==", "expected token68", 6),
        ("Basic Og== ", "trailing data", 10),
        ("Basic Og==x", "trailing data", 10),
        ("Basic Og==, realm=x", "trailing data", 10),
    ],
)
def test_parse_authorization_basic_invalid_format(header: str, error: str, pos: int) -> None:
    with pytest.raises(InvalidHeaderFormat) as raised:
        parse_authorization_basic(header)
    assert raised.value.name == "Authorization"
    assert (raised.value.error, raised.value.pos) == (error, pos)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Bearer abc", "unsupported scheme: Bearer"),
        ("Digest username=x", "unsupported scheme: Digest"),
        ("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ", "expected base64-encoded UTF-8 credentials"),
        ("Basic a-b_", "expected base64-encoded UTF-8 credentials"),
        (
            "Basic " + base64.b64encode(b"\xff:\xfe").decode(),
            "expected base64-encoded UTF-8 credentials",
        ),
        (
            "Basic " + base64.b64encode(b"no colon").decode(),
            "expected username:password credentials",
        ),
    ],
)
def test_parse_authorization_basic_invalid_value(header: str, value: str) -> None:
    with pytest.raises(InvalidHeaderValue) as raised:
        parse_authorization_basic(header)
    assert raised.value.name == "Authorization"
    assert raised.value.value == value


def test_build_www_authenticate_basic() -> None:
    assert build_www_authenticate_basic("Private area") == (
        'Basic realm="Private area", charset="UTF-8"'
    )


def test_build_www_authenticate_basic_quotes_realm() -> None:
    assert build_www_authenticate_basic('a "b" \\c\td') == (
        'Basic realm="a \\"b\\" \\\\c\td", charset="UTF-8"'
    )


@pytest.mark.parametrize("realm", ["a\r\nSet-Cookie: x", "a\nb", "\x00", "\x7f"])
def test_build_www_authenticate_basic_invalid_realm(realm: str) -> None:
    with pytest.raises(ValueError, match="invalid realm"):
        build_www_authenticate_basic(realm)


# Inputs that make backtracking or quadratic parsers slow.


@pytest.mark.parametrize(
    "header",
    [
        ", " * 20_000,
        "a" + " " * 40_000 + "b",
        "a;" + " b;" * 10_000 + "=",
        'a; b="' + "\\a" * 20_000,
        "a, " * 10_000 + "(",
    ],
)
def test_pathological_headers_fail(header: str) -> None:
    # Parsing is linear, so these take milliseconds; a backtracking or
    # quadratic parser would run into the test timeout instead.
    with pytest.raises(InvalidHeaderFormat):
        parse_extension(header)


# Properties.

_TOKEN = st.from_regex(r"[-!#$%&'*+.^_`|~0-9A-Za-z]{1,10}", fullmatch=True)
_PARAMS = st.lists(st.tuples(_TOKEN, st.none() | _TOKEN), max_size=4)
_EXTENSIONS = st.lists(st.tuples(_TOKEN.map(ExtensionName), _PARAMS), min_size=1, max_size=4)


@given(_EXTENSIONS)
def test_extension_round_trip(extensions: list[ExtensionHeader]) -> None:
    assert parse_extension(build_extension(extensions)) == extensions


@given(_EXTENSIONS, st.data())
def test_extension_with_quoted_values_and_spacing(
    extensions: list[ExtensionHeader], data: st.DataObject
) -> None:
    # Build the header by hand, with optional whitespace and quoting.
    ows = st.sampled_from(["", " ", "\t", " \t "])
    items: list[str] = []
    for name, params in extensions:
        item: str = name
        for param_name, param_value in params:
            item += data.draw(ows) + ";" + data.draw(ows) + param_name
            if param_value is not None:
                quoted = data.draw(st.booleans())
                value = f'"{param_value}"' if quoted else param_value
                item += data.draw(ows) + "=" + data.draw(ows) + value
        items.append(item)
    separator = data.draw(st.sampled_from([",", ", ", " , ", ",,", ", ,\t,"]))
    header = data.draw(st.sampled_from(["", ", "])) + separator.join(items)
    assert parse_extension(header) == extensions


@given(st.lists(_TOKEN, min_size=1, max_size=8))
def test_subprotocol_round_trip(subprotocols: list[str]) -> None:
    assert parse_subprotocol(build_subprotocol(subprotocols)) == subprotocols


@given(st.text(max_size=40))
def test_parsers_only_raise_invalid_header_format(header: str) -> None:
    for parse in (parse_connection, parse_upgrade, parse_extension, parse_subprotocol):
        with contextlib.suppress(InvalidHeaderFormat):
            parse(header)
    with contextlib.suppress(InvalidHeaderFormat, InvalidHeaderValue):
        parse_authorization_basic(header)


@given(st.text(max_size=20).filter(lambda username: ":" not in username), st.text(max_size=20))
def test_authorization_basic_round_trip(username: str, password: str) -> None:
    assert parse_authorization_basic(build_authorization_basic(username, password)) == (
        username,
        password,
    )

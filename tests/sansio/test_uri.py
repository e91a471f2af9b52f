"""Tests for websockets_typed.uri (RFC 6455, section 3)."""

from __future__ import annotations

import ipaddress
import re
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from websockets_typed.exceptions import InvalidURI
from websockets_typed.uri import WebSocketURI, parse_uri

# Valid URIs.


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("ws://localhost/", WebSocketURI(False, "localhost", 80, "/", "")),
        ("wss://localhost/", WebSocketURI(True, "localhost", 443, "/", "")),
        ("ws://localhost", WebSocketURI(False, "localhost", 80, "/", "")),
        ("ws://localhost?q", WebSocketURI(False, "localhost", 80, "/", "q")),
        ("ws://localhost:8765/", WebSocketURI(False, "localhost", 8765, "/", "")),
        ("wss://localhost:80/", WebSocketURI(True, "localhost", 80, "/", "")),
        ("ws://localhost:/", WebSocketURI(False, "localhost", 80, "/", "")),
        ("ws://localhost:65535/", WebSocketURI(False, "localhost", 65535, "/", "")),
        ("ws://localhost/path?query", WebSocketURI(False, "localhost", 80, "/path", "query")),
        ("ws://localhost/a/b/?x=1&y=2", WebSocketURI(False, "localhost", 80, "/a/b/", "x=1&y=2")),
        ("ws://localhost/?", WebSocketURI(False, "localhost", 80, "/", "")),
        ("ws://127.0.0.1:8000/", WebSocketURI(False, "127.0.0.1", 8000, "/", "")),
        ("ws://[::1]:8765/", WebSocketURI(False, "::1", 8765, "/", "")),
        ("wss://[::1]/", WebSocketURI(True, "::1", 443, "/", "")),
        ("ws://[::1]", WebSocketURI(False, "::1", 80, "/", "")),
        ("ws://[FE80::ABCD]/", WebSocketURI(False, "fe80::abcd", 80, "/", "")),
        ("WS://LocalHost/Path", WebSocketURI(False, "localhost", 80, "/Path", "")),
        ("wSs://EXAMPLE.com/", WebSocketURI(True, "example.com", 443, "/", "")),
        (
            "ws://user:pass@localhost/",
            WebSocketURI(False, "localhost", 80, "/", "", "user", "pass"),
        ),
        (
            "ws://us%3Aer:p%40ss%20w@localhost/",
            WebSocketURI(False, "localhost", 80, "/", "", "us:er", "p@ss w"),
        ),
        ("ws://:@localhost/", WebSocketURI(False, "localhost", 80, "/", "", "", "")),
        (
            "ws://a@b:c@localhost/",
            WebSocketURI(False, "localhost", 80, "/", "", "a@b", "c"),
        ),
        (
            "ws://user:%C3%A9@localhost/",
            WebSocketURI(False, "localhost", 80, "/", "", "user", "é"),
        ),
    ],
)
def test_parse_valid(uri: str, expected: WebSocketURI) -> None:
    assert parse_uri(uri) == expected


def test_internationalized_host_uses_idna() -> None:
    assert parse_uri("ws://bücher.example/").host == "xn--bcher-kva.example"


def test_internationalized_host_is_lower_cased() -> None:
    assert parse_uri("ws://BÜCHER.EXAMPLE/").host == "xn--bcher-kva.example"


def test_non_ascii_path_and_query_are_percent_encoded() -> None:
    uri = parse_uri("ws://localhost/päth/€?q=ü&r=ß")
    assert uri.path == "/p%C3%A4th/%E2%82%AC"
    assert uri.query == "q=%C3%BC&r=%C3%9F"


def test_reserved_delimiters_and_escapes_are_kept() -> None:
    path = "/a:b@c!$&'()*+,;=/%41%2F"
    query = "x=/?:@[]&y=%23"
    uri = parse_uri(f"ws://localhost{path}é?{query}é")
    assert uri.path == path + "%C3%A9"
    assert uri.query == query + "%C3%A9"


def test_characters_invalid_in_a_request_line_are_percent_encoded() -> None:
    # A space would split the request line (RFC 7230, 3.1.1).
    uri = parse_uri('ws://localhost/a b"<>?c d')
    assert uri.path == "/a%20b%22%3C%3E"
    assert uri.query == "c%20d"


def test_resource_name() -> None:
    assert parse_uri("ws://localhost").resource_name == "/"
    assert parse_uri("ws://localhost/path").resource_name == "/path"
    assert parse_uri("ws://localhost/path?q=1").resource_name == "/path?q=1"
    assert parse_uri("ws://localhost?q=1").resource_name == "/?q=1"


def test_resource_name_of_an_uri_built_with_an_empty_path() -> None:
    assert WebSocketURI(False, "localhost", 80, "", "").resource_name == "/"
    assert WebSocketURI(False, "localhost", 80, "", "q").resource_name == "/?q"


def test_user_info() -> None:
    assert parse_uri("ws://localhost/").user_info is None
    assert parse_uri("ws://user:pass@localhost/").user_info == ("user", "pass")
    # Incomplete credentials built by hand are not credentials.
    assert WebSocketURI(False, "localhost", 80, "/", "", "user").user_info is None


def test_websocket_uri_is_frozen() -> None:
    uri = parse_uri("ws://localhost/")
    with pytest.raises(AttributeError):
        uri.host = "example.com"  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue]


# Invalid URIs.


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        # Scheme.
        ("http://localhost/", "scheme isn't ws or wss"),
        ("https://localhost/", "scheme isn't ws or wss"),
        ("wsx://localhost/", "scheme isn't ws or wss"),
        ("localhost/", "scheme is missing"),
        ("//localhost/", "scheme is missing"),
        ("1ws://localhost/", "scheme is missing"),
        (" ws://localhost/", "scheme is missing"),
        ("", "scheme is missing"),
        # Fragment (RFC 6455, 3).
        ("ws://localhost/#", "fragment identifiers aren't allowed"),
        ("ws://localhost/path#frag", "fragment identifiers aren't allowed"),
        ("ws://localhost/?q#frag", "fragment identifiers aren't allowed"),
        # Host.
        ("ws:localhost", "host is missing"),
        ("ws:/localhost/", "host is missing"),
        ("ws:///path", "host is missing"),
        ("ws://:8765/", "host is missing"),
        ("ws://user:pass@/", "host is missing"),
        ("ws://local host/", "invalid host"),
        ("ws://local<host/", "invalid host"),
        ("ws://a b é/", "invalid host"),
        ("ws://::1/", "host is missing"),
        ("ws://[::1/", "IPv6 address isn't closed by ]"),
        ("ws://[localhost]/", "invalid IPv6 address"),
        ("ws://[127.0.0.1]/", "invalid IPv6 address"),
        ("ws://[::1]x/", "unexpected characters after IPv6 address"),
        ("ws://[::1]8765/", "unexpected characters after IPv6 address"),
        # IDNA.
        ("ws://" + "é" * 64 + ".example/", "host can't be encoded with IDNA"),
        ("ws://a..é/", "host can't be encoded with IDNA"),
        ("ws://\u0080x/", "host can't be encoded with IDNA"),
        # Port.
        ("ws://localhost:port/", "port isn't a number"),
        ("ws://localhost:+80/", "port isn't a number"),
        ("ws://localhost:-1/", "port isn't a number"),
        ("ws://localhost: 80/", "port isn't a number"),
        ("ws://localhost:١٢/", "port isn't a number"),
        ("ws://localhost:123456/", "port isn't a number"),
        ("ws://localhost:8765:1/", "port isn't a number"),
        ("ws://[::1]:x/", "port isn't a number"),
        ("ws://localhost:0/", "port is out of range"),
        ("ws://localhost:65536/", "port is out of range"),
        ("ws://localhost:99999/", "port is out of range"),
        # User information.
        ("ws://user@localhost/", "username provided without password"),
        ("ws://user:%FF@localhost/", "user information isn't valid UTF-8"),
        ("ws://%C3@localhost/", "username provided without password"),
        ("ws://%C3:x@localhost/", "user information isn't valid UTF-8"),
        # Control characters are never allowed, not even where they'd be stripped.
        ("ws://localhost/\n", "control characters aren't allowed"),
        ("ws://local\thost/", "control characters aren't allowed"),
        ("ws://localhost/\x00", "control characters aren't allowed"),
        ("ws://localhost/?\x7f", "control characters aren't allowed"),
        ("ws://localhost/\r\nX-Injected: 1", "control characters aren't allowed"),
        # Lone surrogates can't be percent-encoded.
        ("ws://localhost/\ud800", "path or query can't be encoded"),
        ("ws://localhost/?\udcff", "path or query can't be encoded"),
    ],
)
def test_parse_invalid(uri: str, message: str) -> None:
    with pytest.raises(InvalidURI) as raised:
        parse_uri(uri)
    assert raised.value.uri == uri
    assert raised.value.msg == message
    # The message never shows a password.
    shown = re.sub(r"//([^:/@]*):[^/@]*@", r"//\1:***@", uri)
    assert str(raised.value) == f"{shown} isn't a valid URI: {message}"


# Properties.

_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
_REG_NAME = st.lists(_LABEL, min_size=1, max_size=4).map(".".join)
_IPV4 = st.ip_addresses(v=4).map(str)
_IPV6 = st.ip_addresses(v=6).map(lambda address: address.compressed)
_HOST = st.one_of(_REG_NAME, _IPV4, _IPV6)

# RFC 3986, 3.3: pchar = unreserved / pct-encoded / sub-delims / ":" / "@".
_PCHAR = st.sampled_from("ABCXYZabcxyz0189-._~!$&'()*+,;=:@") | st.integers(0, 255).map(
    lambda byte: f"%{byte:02X}"
)
_SEGMENT = st.lists(_PCHAR, max_size=8).map("".join)
_PATH = st.lists(_SEGMENT, min_size=1, max_size=4).map(lambda segments: "/" + "/".join(segments))
_QUERY = st.lists(_PCHAR | st.sampled_from("/?"), max_size=12).map("".join)
_CREDENTIALS = st.none() | st.tuples(st.text(max_size=8), st.text(max_size=8))


def _encode(text: str) -> str:
    return urllib.parse.quote(text, safe="")


@given(
    secure=st.booleans(),
    host=_HOST,
    port=st.none() | st.integers(1, 65535),
    path=_PATH,
    query=_QUERY,
    credentials=_CREDENTIALS,
)
def test_parse_uri_built_from_parts(
    *,
    secure: bool,
    host: str,
    port: int | None,
    path: str,
    query: str,
    credentials: tuple[str, str] | None,
) -> None:
    uri = "wss://" if secure else "ws://"
    if credentials is not None:
        uri += f"{_encode(credentials[0])}:{_encode(credentials[1])}@"
    is_ipv6 = ":" in host
    uri += f"[{host}]" if is_ipv6 else host
    if port is not None:
        uri += f":{port}"
    uri += path
    if query:
        uri += f"?{query}"

    parsed = parse_uri(uri)

    default_port = 443 if secure else 80
    assert parsed == WebSocketURI(
        secure=secure,
        host=host,
        port=default_port if port is None else port,
        path=path,
        query=query,
        username=None if credentials is None else credentials[0],
        password=None if credentials is None else credentials[1],
    )
    assert parsed.resource_name == (f"{path}?{query}" if query else path)
    if is_ipv6:
        assert ipaddress.IPv6Address(parsed.host) == ipaddress.IPv6Address(host)


@given(st.text(max_size=30))
def test_parse_uri_only_raises_invalid_uri(text: str) -> None:
    for candidate in (text, "ws://" + text, "wss://localhost/" + text):
        try:
            uri = parse_uri(candidate)
        except InvalidURI:
            continue
        # Whatever parses can go in a request line and a Host header.
        assert all(0x21 <= ord(char) <= 0x7E for char in uri.resource_name)
        assert uri.host.isascii()
        assert 0 < uri.port < 65536

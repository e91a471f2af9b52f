"""Tests of websockets_typed.proxy: proxy URLs, the environment, the CONNECT request and answer."""

from __future__ import annotations

import pytest

from websockets_typed.exceptions import InvalidMessage, InvalidProxy
from websockets_typed.http11 import ConnectResponseParser, ResponseParser
from websockets_typed.proxy import (
    Proxy,
    check_proxy,
    get_proxy,
    parse_proxy,
    prepare_connect_request,
)
from websockets_typed.uri import parse_uri

# Proxy URLs.


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://proxy", Proxy("http", "proxy", 80)),
        ("https://proxy", Proxy("https", "proxy", 443)),
        ("socks5://proxy", Proxy("socks5", "proxy", 1080)),
        ("socks5h://proxy:1081", Proxy("socks5h", "proxy", 1081)),
        ("socks4://proxy/", Proxy("socks4", "proxy", 1080)),
        ("SOCKS4A://Proxy", Proxy("socks4a", "proxy", 1080)),
        ("http://[::1]:3128", Proxy("http", "::1", 3128)),
        ("http://al%40ce:p%3Ass@proxy:3128", Proxy("http", "proxy", 3128, "al@ce", "p:ss")),
        ("socks4://userid@proxy", Proxy("socks4", "proxy", 1080, "userid", None)),
    ],
)
def test_parse_proxy(url: str, expected: Proxy) -> None:
    assert parse_proxy(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://proxy", "scheme 'ftp' isn't one of http, https, socks5"),
        ("proxy:3128", "scheme 'proxy:3128' isn't one of"),
        ("http://proxy/path", "no path, query or fragment"),
        ("http://proxy?query", "no path, query or fragment"),
        ("http://proxy:port", "port isn't a number"),
        ("http://proxy:0", "port is out of range"),
        ("http://", "host is missing"),
        ("http://user:%ff@proxy", "user information isn't valid UTF-8"),
    ],
)
def test_parse_invalid_proxy(url: str, message: str) -> None:
    with pytest.raises(InvalidProxy, match=message) as raised:
        parse_proxy(url)
    assert raised.value.proxy == url


@pytest.mark.parametrize("url", ["http://proxy", "socks5://proxy"])
@pytest.mark.parametrize(
    ("proxy_ssl", "proxy_server_hostname"), [(True, None), (False, None), (None, "proxy")]
)
def test_tls_options_need_an_https_proxy(
    url: str, proxy_ssl: bool | None, proxy_server_hostname: str | None
) -> None:
    with pytest.raises(ValueError, match=r"need an https:// proxy, not .*://proxy:"):
        check_proxy(url, proxy_ssl, proxy_server_hostname)


@pytest.mark.parametrize("url", ["http://proxy", "https://proxy", "socks5://proxy"])
def test_check_proxy_parses_the_url(url: str) -> None:
    assert check_proxy(url) == parse_proxy(url)
    with pytest.raises(InvalidProxy):
        check_proxy(url + "/path", True)


def test_tls_options_of_an_https_proxy() -> None:
    assert check_proxy("https://proxy", True, "other") == Proxy("https", "proxy", 443)


def test_invalid_proxy_hides_password() -> None:
    with pytest.raises(InvalidProxy) as raised:
        parse_proxy("http://alice:s3cr3t@proxy:port")
    assert (
        str(raised.value) == "http://alice:***@proxy:port isn't a valid proxy: port isn't a number"
    )


def test_proxy_never_shows_password() -> None:
    proxy = parse_proxy("http://al%40ce:s3cr3t@[::1]:3128")
    assert str(proxy) == "http://al%40ce:***@[::1]:3128"
    assert "s3cr3t" not in repr(proxy)
    assert str(parse_proxy("socks5://proxy")) == "socks5://proxy:1080"


def test_user_info() -> None:
    assert parse_proxy("http://proxy").user_info is None
    assert parse_proxy("http://a:b@proxy").user_info == ("a", "b")
    assert parse_proxy("http://a@proxy").user_info == ("a", "")


# The environment.


@pytest.mark.parametrize(
    ("variables", "uri", "expected"),
    [
        ({}, "ws://example.com", None),
        ({"http_proxy": "http://p:1"}, "ws://example.com", "http://p:1"),
        ({"http_proxy": "http://p:1"}, "wss://example.com", None),
        ({"https_proxy": "http://p:2"}, "wss://example.com", "http://p:2"),
        ({"HTTPS_PROXY": "http://p:2"}, "wss://example.com", "http://p:2"),
        ({"all_proxy": "socks5h://p:3"}, "ws://example.com", "socks5h://p:3"),
        ({"all_proxy": "socks5h://p:3", "https_proxy": "http://p:2"}, "wss://e.com", "http://p:2"),
        ({"wss_proxy": "http://p:4", "https_proxy": "http://p:2"}, "wss://e.com", "http://p:4"),
        ({"ws_proxy": "http://p:5"}, "ws://example.com", "http://p:5"),
        ({"all_proxy": "http://p:3", "no_proxy": "example.com"}, "ws://example.com", None),
        ({"all_proxy": "http://p:3", "no_proxy": ".example.com"}, "ws://a.example.com", None),
        ({"all_proxy": "http://p:3", "no_proxy": "example.com"}, "ws://example.org", "http://p:3"),
        ({"all_proxy": "http://p:3", "no_proxy": "127.0.0.1:8000"}, "ws://127.0.0.1:8000", None),
        ({"all_proxy": "http://p:3", "no_proxy": "*"}, "ws://example.com", None),
    ],
)
def test_get_proxy(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], uri: str, expected: str | None
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert get_proxy(parse_uri(uri)) == expected


# The CONNECT request.


def test_connect_request() -> None:
    request = prepare_connect_request(parse_proxy("http://proxy"), "example.com", 443)
    assert request == b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"


def test_connect_request_with_credentials_and_user_agent() -> None:
    proxy = parse_proxy("http://alice:s3cr3t@proxy")
    request = prepare_connect_request(proxy, "::1", 8765, "agent/1.0")
    assert request == (
        b"CONNECT [::1]:8765 HTTP/1.1\r\n"
        b"Host: [::1]:8765\r\n"
        b"User-Agent: agent/1.0\r\n"
        b"Proxy-Authorization: Basic YWxpY2U6czNjcjN0\r\n"
        b"\r\n"
    )


def test_connect_request_refuses_control_characters() -> None:
    with pytest.raises(ValueError, match="User-Agent"):
        prepare_connect_request(parse_proxy("http://proxy"), "example.com", 80, "a\r\nb: c")


# The answer to CONNECT.


def test_connect_answer_ends_with_headers() -> None:
    # RFC 7231, 4.3.6: Content-Length and Transfer-Encoding are ignored in a 2xx answer.
    buffer = bytearray(b"HTTP/1.0 200 Connection established\r\nContent-Length: 5\r\n\r\ntunnel")
    response = ConnectResponseParser().parse(buffer)
    assert response is not None
    assert (response.status_code, response.reason_phrase, response.body) == (
        200,
        "Connection established",
        None,
    )
    assert buffer == b"tunnel"


def test_connect_refusal_has_a_body() -> None:
    buffer = bytearray(
        b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 4\r\n\r\nno!\n"
    )
    response = ConnectResponseParser().parse(buffer)
    assert response is not None
    assert (response.status_code, response.body) == (407, b"no!\n")


def test_http10_only_for_connect() -> None:
    with pytest.raises(InvalidMessage, match="unsupported HTTP version"):
        ResponseParser().parse(bytearray(b"HTTP/1.0 200 OK\r\n\r\n"))
    with pytest.raises(InvalidMessage, match="unsupported HTTP version"):
        ConnectResponseParser().parse(bytearray(b"HTTP/0.9 200 OK\r\n\r\n"))

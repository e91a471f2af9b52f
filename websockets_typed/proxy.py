"""Proxies for clients, without I/O: proxy URLs, the environment, HTTP ``CONNECT``.

A client behind a proxy first opens a tunnel to the WebSocket server, then
performs the opening handshake through it:

* an HTTP proxy (``http://``, or ``https://`` for TLS to the proxy) opens
  the tunnel when asked with a ``CONNECT`` request (RFC 9110, 9.3.6);
  :func:`prepare_connect_request` builds it and
  :class:`~websockets_typed.http11.ConnectResponseParser`
  parses the answer;
* a SOCKS proxy (``socks5://``, ``socks5h://``, ``socks4://``,
  ``socks4a://``) speaks its own binary protocol, which ``python-socks``
  implements.

:func:`get_proxy` picks the proxy for a URI from the environment variables
that other tools use (``https_proxy``, ``http_proxy``, ``all_proxy``,
``no_proxy``), as :mod:`urllib.request` reads them.
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Final, Literal, TypeAlias

import attrs

from .datastructures import Headers
from .exceptions import InvalidProxy, InvalidURI
from .headers import build_authorization_basic
from .uri import WebSocketURI, _parse_host_port

if TYPE_CHECKING:
    import ssl

__all__ = [
    "DEFAULT_PORTS",
    "Proxy",
    "ProxyScheme",
    "check_proxy",
    "get_proxy",
    "parse_proxy",
    "prepare_connect_request",
]

ProxyScheme: TypeAlias = Literal["http", "https", "socks5", "socks5h", "socks4", "socks4a"]
"""The schemes of the proxies :func:`~websockets_typed.connect` supports."""

DEFAULT_PORTS: Final[dict[ProxyScheme, int]] = {
    "http": 80,
    "https": 443,
    "socks5": 1080,
    "socks5h": 1080,
    "socks4": 1080,
    "socks4a": 1080,
}
"""The port of a proxy whose URL doesn't say, by scheme."""


@attrs.frozen
class Proxy:
    """A parsed proxy URL.

    Its ``repr()`` and ``str()`` never show the password, so that logging a
    proxy doesn't leak it.

    Attributes:
        scheme: How to talk to the proxy.
        host: Host name or IP address of the proxy (IPv6 without brackets).
        port: Port of the proxy.
        username: User name from the URL, percent-decoded; ``None`` if absent.
        password: Password from the URL, percent-decoded; ``None`` if absent.
    """

    scheme: ProxyScheme
    host: str
    port: int
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)

    @property
    def user_info(self) -> tuple[str, str] | None:
        """``(username, password)`` for ``Proxy-Authorization``, or ``None``."""
        if self.username is None:
            return None
        return (self.username, self.password or "")

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = "" if self.username is None else f"{urllib.parse.quote(self.username)}:***@"
        return f"{self.scheme}://{user}{host}:{self.port}"


def parse_proxy(proxy: str) -> Proxy:
    """Parse and validate a proxy URL, e.g. ``http://user:pass@proxy:3128``.

    Raises:
        InvalidProxy: If ``proxy`` isn't a URL with a supported scheme and a
            host, or has a path, query or fragment.
    """
    scheme, separator, rest = proxy.partition("://")
    scheme = scheme.lower()
    if not separator or scheme not in DEFAULT_PORTS:
        raise InvalidProxy(proxy, f"scheme {scheme!r} isn't one of {', '.join(DEFAULT_PORTS)}")
    authority, _, path = rest.partition("/")
    if path or "?" in authority or "#" in authority:
        raise InvalidProxy(proxy, "a proxy URL has no path, query or fragment")
    user_info, at, host_port = authority.rpartition("@")
    username: str | None = None
    password: str | None = None
    if at:
        raw_username, colon, raw_password = user_info.partition(":")
        try:
            username = urllib.parse.unquote(raw_username, errors="strict")
            password = urllib.parse.unquote(raw_password, errors="strict") if colon else None
        except UnicodeDecodeError:
            raise InvalidProxy(proxy, "user information isn't valid UTF-8") from None
    try:
        host, port = _parse_host_port(proxy, host_port)
    except InvalidURI as exc:
        raise InvalidProxy(proxy, exc.msg) from None
    return Proxy(
        scheme=scheme,
        host=host,
        port=DEFAULT_PORTS[scheme] if port is None else port,
        username=username,
        password=password,
    )


def check_proxy(
    proxy: str,
    proxy_ssl: ssl.SSLContext | bool | None = None,
    proxy_server_hostname: str | None = None,
) -> Proxy:
    """Parse ``proxy`` and check that the options of TLS to it fit its scheme.

    ``proxy_ssl`` and ``proxy_server_hostname`` configure TLS to the proxy,
    which only an ``https://`` proxy speaks: given for another proxy, they
    would be ignored, so they fail at once. The asyncio and threading
    ``connect()`` both call this before connecting.

    Raises:
        InvalidProxy: If ``proxy`` isn't a valid proxy URL.
        ValueError: If ``proxy_ssl`` or ``proxy_server_hostname`` is given
            for a proxy that isn't ``https://``.
    """
    parsed = parse_proxy(proxy)
    if parsed.scheme != "https" and (proxy_ssl is not None or proxy_server_hostname is not None):
        raise ValueError(
            f"proxy_ssl and proxy_server_hostname need an https:// proxy, not {parsed}"
        )
    return parsed


def get_proxy(uri: WebSocketURI) -> str | None:
    """Return the proxy URL that the environment configures for ``uri``, if any.

    ``wss://`` URIs use ``wss_proxy``, then ``https_proxy``, then
    ``all_proxy``; ``ws://`` URIs use ``ws_proxy``, then ``http_proxy``,
    then ``all_proxy`` (upper-case names work too). Hosts that ``no_proxy``
    lists are reached directly. This is :func:`urllib.request.getproxies`
    and :func:`urllib.request.proxy_bypass`, which also read the system's
    settings on macOS and Windows.
    """
    if urllib.request.proxy_bypass(f"{uri.host}:{uri.port}"):
        return None
    proxies = urllib.request.getproxies()
    names = ("wss", "https", "all") if uri.secure else ("ws", "http", "all")
    for name in names:
        proxy = proxies.get(name)
        if proxy:
            return proxy
    return None


def prepare_connect_request(
    proxy: Proxy, host: str, port: int, user_agent_header: str | None = None
) -> bytes:
    """Build the ``CONNECT`` request that asks an HTTP proxy for a tunnel.

    The request target is the authority ``host:port`` (RFC 9110, 9.3.6);
    credentials in the proxy URL become a ``Proxy-Authorization: Basic``
    header (RFC 9110, 11.7.2).

    Raises:
        ValueError: If ``user_agent_header`` holds control characters.
    """
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    headers = Headers()
    headers["Host"] = authority
    if user_agent_header is not None:
        headers["User-Agent"] = user_agent_header
    if proxy.user_info is not None:
        headers["Proxy-Authorization"] = build_authorization_basic(*proxy.user_info)
    return f"CONNECT {authority} HTTP/1.1\r\n".encode() + headers.serialize()

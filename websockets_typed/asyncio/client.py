"""The asyncio WebSocket client: :func:`connect` and :func:`unix_connect`."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import ssl as ssl_module
import urllib.parse
from collections.abc import AsyncIterator, Generator, Sequence
from types import TracebackType
from typing import Any, Final, Literal, TypedDict, Unpack, cast

import attrs

from .._defaults import (
    CLOSE_TIMEOUT,
    MAX_FRAGMENTS,
    MAX_QUEUE,
    MAX_SIZE,
    OPEN_TIMEOUT,
    PING_INTERVAL,
    PING_TIMEOUT,
    WRITE_LIMIT,
)
from .._defaults import (
    USER_AGENT as DEFAULT_USER_AGENT,
)
from ..client import ClientProtocol
from ..datastructures import Headers, HeadersLike
from ..exceptions import (
    InvalidHandshake,
    InvalidMessage,
    InvalidProxyMessage,
    InvalidProxyStatus,
    InvalidStatus,
    InvalidURI,
    SecurityError,
)
from ..extensions.base import ClientExtensionFactory
from ..extensions.permessage_deflate import enable_client_permessage_deflate, with_compression
from ..frames import CloseCode
from ..http11 import Request, Response
from ..proxy import get_proxy, parse_proxy
from ..typing import LoggerLike, SequenceNotStr
from ..uri import WebSocketURI, parse_uri
from ._options import check_options
from .connection import Connection
from .proxy import create_proxy_connection

__all__ = [
    "ClientConnection",
    "ConnectOptions",
    "TCPConnectOptions",
    "UnixConnectOptions",
    "connect",
    "unix_connect",
]

USER_AGENT: Final = DEFAULT_USER_AGENT
"""Default value of the ``User-Agent`` header."""

MAX_REDIRECTS: Final = int(os.environ.get("WEBSOCKETS_TYPED_MAX_REDIRECTS", "10"))
"""How many HTTP redirects :func:`connect` follows before giving up."""

# Headers that carry credentials: never sent to another origin on redirect.
_CREDENTIAL_HEADERS: Final = frozenset({"authorization", "cookie"})


class ClientConnection(Connection):
    """A WebSocket connection opened by :func:`connect`."""

    protocol: ClientProtocol
    # Redeclared so that type checkers don't infer narrower types from the
    # assignments in this class.
    response: Response | None

    def __init__(
        self,
        protocol: ClientProtocol,
        *,
        ping_interval: float | None = PING_INTERVAL,
        ping_timeout: float | None = PING_TIMEOUT,
        close_timeout: float | None = CLOSE_TIMEOUT,
        max_queue: int | tuple[int | None, int | None] | None = MAX_QUEUE,
        write_limit: int | tuple[int, int | None] = WRITE_LIMIT,
    ) -> None:
        super().__init__(
            protocol,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
            write_limit=write_limit,
        )

    @property
    def host(self) -> str | None:
        """Host of the URI connected to."""
        return self.protocol.wsuri.host

    @property
    def port(self) -> int | None:
        """Port of the URI connected to."""
        return self.protocol.wsuri.port

    @property
    def secure(self) -> bool:
        """Whether the URI is ``wss://``."""
        return self.protocol.wsuri.secure

    # The names of the legacy API.

    @property
    def path(self) -> str:
        """Path of the request, query included (legacy API; prefer ``request.path``)."""
        return self.protocol.wsuri.resource_name

    # Opening handshake.

    async def handshake(
        self,
        additional_headers: HeadersLike | None = None,
        user_agent_header: str | None = USER_AGENT,
    ) -> None:
        """Perform the client side of the opening handshake.

        Raises:
            InvalidHandshake: If the server rejects the handshake or answers
                with an invalid response.
        """
        request = self.protocol.connect()
        if additional_headers is not None:
            request.headers.update(additional_headers)
        if user_agent_header is not None and "User-Agent" not in request.headers:
            request.headers["User-Agent"] = user_agent_header
        self._request = request
        self.protocol.send_request(request)
        self._write_pending()
        assert self._handshake_waiter is not None
        await self._handshake_waiter
        if self.protocol.handshake_exc is not None:
            raise self.protocol.handshake_exc

    def _process_handshake_event(self, event: Request | Response) -> None:
        assert isinstance(event, Response)
        self.response = event
        self._wake_handshake()


class ConnectOptions(TypedDict, total=False):
    """Options of :func:`connect` and :func:`unix_connect`, with their defaults."""

    origin: str | None
    """Value of the ``Origin`` header."""
    extensions: Sequence[ClientExtensionFactory] | None
    """Extensions to offer, in order of preference."""
    subprotocols: SequenceNotStr[str] | None
    """Subprotocols to offer, in order of preference."""
    additional_headers: HeadersLike | None
    """Headers added to the handshake request."""
    extra_headers: HeadersLike | None
    """Legacy name of ``additional_headers``."""
    user_agent_header: str | None
    """Value of the ``User-Agent`` header; ``None`` omits it."""
    compression: Literal["deflate"] | None
    """``"deflate"`` (default) offers permessage-deflate; ``None`` doesn't."""
    open_timeout: float | None
    """Seconds allowed to connect and complete the opening handshake (default 10)."""
    ping_interval: float | None
    """Seconds between keepalive pings (default 20)."""
    ping_timeout: float | None
    """Seconds to wait for a keepalive pong (default 20)."""
    close_timeout: float | None
    """Seconds allowed for the closing handshake (default 10)."""
    max_size: int | None
    """Largest incoming message in bytes (default 1 MiB)."""
    max_fragments: int | None
    """Largest number of frames in an incoming message (default 65536)."""
    max_queue: int | tuple[int | None, int | None] | None
    """High-water mark of the queue of received frames (default 16)."""
    write_limit: int | tuple[int, int | None]
    """High-water mark of the write buffer (default 32 KiB)."""
    logger: LoggerLike | None
    """Logger for the connection."""
    create_connection: type[ClientConnection] | None
    """Connection class to use, e.g. a subclass of :class:`ClientConnection`."""
    # Forwarded to the event loop.
    ssl: ssl_module.SSLContext | bool | None
    """TLS context for ``wss://``; when omitted, ``None`` or ``True``,
    :func:`ssl.create_default_context`: certificates verified, TLS 1.2 or later."""
    server_hostname: str | None
    """Host name to check the server's certificate against."""
    sock: socket.socket | None
    """An existing connected socket."""
    ssl_handshake_timeout: float | None
    """Seconds allowed for the TLS handshake."""
    ssl_shutdown_timeout: float | None
    """Seconds allowed for the TLS shutdown."""


class TCPConnectOptions(ConnectOptions, total=False):
    """Options of :func:`connect`: :class:`ConnectOptions` plus TCP settings."""

    host: str | None
    """Host to connect to instead of the URI's (the URI still names the server)."""
    port: int | None
    """Port to connect to instead of the URI's."""
    family: int
    """Address family, e.g. ``socket.AF_INET6``."""
    proto: int
    """Protocol number for ``getaddrinfo``."""
    flags: int
    """Flags for ``getaddrinfo``."""
    local_addr: tuple[str, int] | None
    """Local address to bind to."""
    happy_eyeballs_delay: float | None
    """Enables Happy Eyeballs (RFC 8305) with this delay."""
    interleave: int | None
    """Address family interleaving for Happy Eyeballs."""
    proxy: str | Literal[True] | None
    """URL of a proxy to connect through (``http://``, ``https://``,
    ``socks5://``, ``socks5h://``, ``socks4://``, ``socks4a://``); ``True``
    (default) takes it from the environment (``https_proxy``, ``http_proxy``,
    ``all_proxy``, ``no_proxy``), ``None`` connects directly."""
    proxy_ssl: ssl_module.SSLContext | bool | None
    """TLS context for an ``https://`` proxy (default: secure defaults)."""
    proxy_server_hostname: str | None
    """Host name to check an ``https://`` proxy's certificate against."""


class UnixConnectOptions(ConnectOptions, total=False):
    """Options of :func:`unix_connect`."""


_LOOP_OPTIONS: Final = frozenset(
    {
        "ssl",
        "server_hostname",
        "sock",
        "ssl_handshake_timeout",
        "ssl_shutdown_timeout",
        "family",
        "proto",
        "flags",
        "local_addr",
        "happy_eyeballs_delay",
        "interleave",
    }
)


def _origin(uri: WebSocketURI) -> tuple[bool, str, int]:
    return uri.secure, uri.host, uri.port


def _uri_string(uri: WebSocketURI) -> str:
    """Rebuild a URI without its user information, to resolve redirects against."""
    host = f"[{uri.host}]" if ":" in uri.host else uri.host
    return f"{'wss' if uri.secure else 'ws'}://{host}:{uri.port}{uri.resource_name}"


class connect:  # a function for its callers, a class for await, async with and async for
    """Connect to the WebSocket server at ``uri``.

    Await it, use it as an asynchronous context manager, which closes the
    connection on exit::

        async with connect("ws://localhost:8765") as websocket:
            await websocket.send("Hello world!")

    or iterate over it to reconnect automatically, with a capped exponential
    backoff, after errors that retrying may fix (see ``is_transient()``:
    network errors, timeouts, a connection closed before the response ended,
    5xx responses)::

        async for websocket in connect("ws://localhost:8765"):
            try:
                ...
            except ConnectionClosed:
                continue

    Other errors raise at once, since the next try would fail the same way:
    a server that isn't a WebSocket server (a response that isn't HTTP/1.1,
    or not HTTP at all), a 4xx response, a TLS certificate error. Each retry
    is logged at INFO on ``logger``.

    HTTP redirects are followed, up to :data:`MAX_REDIRECTS`; credentials
    headers are dropped when a redirect leads to another origin.

    Args:
        uri: ``ws://`` or ``wss://`` URI; user information in it is sent as
            HTTP Basic credentials.
        **kwargs: The options of :class:`TCPConnectOptions`.

    Raises:
        InvalidURI: If ``uri`` is not a WebSocket URI.
        OSError: If the TCP connection fails.
        TimeoutError: If the opening handshake takes longer than
            ``open_timeout``; its message is "timed out during opening
            handshake".
        InvalidHandshake: If the opening handshake fails.
        ValueError: If ``ssl`` is given with a ``ws://`` URI.
        InvalidProxy: If ``proxy`` isn't a valid proxy URL.
        ProxyError: If the proxy refuses to open a tunnel to the server.
    """

    BACKOFF_INITIAL_DELAY: float = float(
        os.environ.get("WEBSOCKETS_TYPED_BACKOFF_INITIAL_DELAY", "5")
    )
    """Upper bound of the random delay before the first reconnection, in seconds."""
    BACKOFF_MIN_DELAY: float = float(os.environ.get("WEBSOCKETS_TYPED_BACKOFF_MIN_DELAY", "3.1"))
    """Delay before the second reconnection, in seconds."""
    BACKOFF_MAX_DELAY: float = float(os.environ.get("WEBSOCKETS_TYPED_BACKOFF_MAX_DELAY", "90"))
    """Cap on the delay between reconnections, in seconds."""
    BACKOFF_FACTOR: float = float(os.environ.get("WEBSOCKETS_TYPED_BACKOFF_FACTOR", "1.618"))
    """Growth of the delay between consecutive reconnections."""

    def __init__(self, uri: str, **kwargs: Unpack[TCPConnectOptions]) -> None:
        check_options("connect", kwargs, TCPConnectOptions.__optional_keys__)
        self.uri = uri
        self._options: TCPConnectOptions = kwargs
        self._unix = False
        self._unix_path: str | None = None
        self._connection: ClientConnection | None = None
        wsuri = parse_uri(uri)
        if not wsuri.secure and kwargs.get("ssl") is not None:
            raise ValueError("ssl argument is incompatible with a ws:// URI")
        _check_static_headers(kwargs)
        proxy = kwargs.get("proxy")
        if isinstance(proxy, str):
            parse_proxy(proxy)  # an invalid proxy fails here, not when connecting
            if kwargs.get("sock") is not None:
                raise ValueError("proxy argument is incompatible with sock")

    async def _connect_once(
        self, wsuri: WebSocketURI, headers: HeadersLike | None
    ) -> ClientConnection:
        """Open one TCP connection and perform the opening handshake on it."""
        options = self._options
        extensions = with_compression(
            options.get("compression", "deflate"),
            options.get("extensions"),
            enable_client_permessage_deflate,
        )
        logger = options.get("logger") or logging.getLogger("websockets_typed.client")
        connection_class = options.get("create_connection") or ClientConnection

        # Built before opening the socket: an invalid option (e.g. a
        # subprotocol that isn't a token) then raises without leaking it,
        # whereas asyncio doesn't close the socket if the factory raises.
        protocol = ClientProtocol(
            wsuri,
            origin=options.get("origin"),
            extensions=extensions,
            subprotocols=options.get("subprotocols"),
            max_size=options.get("max_size", MAX_SIZE),
            max_fragments=options.get("max_fragments", MAX_FRAGMENTS),
            logger=logger,
        )
        new_connection = connection_class(
            protocol,
            ping_interval=options.get("ping_interval", PING_INTERVAL),
            ping_timeout=options.get("ping_timeout", PING_TIMEOUT),
            close_timeout=options.get("close_timeout", CLOSE_TIMEOUT),
            max_queue=options.get("max_queue", MAX_QUEUE),
            write_limit=options.get("write_limit", WRITE_LIMIT),
        )

        def protocol_factory() -> ClientConnection:
            return new_connection

        # Typed by the TypedDict of options; the loop's overloads can't see that.
        loop_options: dict[str, Any] = {
            name: value for name, value in options.items() if name in _LOOP_OPTIONS
        }
        if wsuri.secure:
            if loop_options.get("ssl") in (None, True):
                # The platform's secure defaults: certificates and host
                # names verified, TLS 1.2 or later.
                loop_options["ssl"] = ssl_module.create_default_context()
            # The URI names the server even when connecting elsewhere.
            loop_options.setdefault("server_hostname", wsuri.host)
        loop = asyncio.get_running_loop()
        if self._unix:
            _, connection = await loop.create_unix_connection(
                protocol_factory,
                self._unix_path,
                **loop_options,
            )
        elif "sock" in loop_options:
            _, connection = await loop.create_connection(
                protocol_factory,
                **loop_options,
            )
        else:
            host = options.get("host") or wsuri.host
            port = options.get("port") or wsuri.port
            proxy = options.get("proxy", True)
            if proxy is True:
                proxy = get_proxy(wsuri)
            if proxy is not None:
                connection = await create_proxy_connection(
                    protocol_factory,
                    proxy,
                    host,
                    port,
                    loop_options=loop_options,
                    proxy_ssl=options.get("proxy_ssl"),
                    proxy_server_hostname=options.get("proxy_server_hostname"),
                    user_agent_header=options.get("user_agent_header", USER_AGENT),
                )
            else:
                _, connection = await loop.create_connection(
                    protocol_factory,
                    host,
                    port,
                    **loop_options,
                )
        try:
            await connection.handshake(
                headers,
                options.get("user_agent_header", USER_AGENT),
            )
        except BaseException:
            connection.transport.abort()
            raise
        connection.start_keepalive()
        return connection

    async def _connect(self) -> ClientConnection:
        """Connect, following redirects, within ``open_timeout``."""
        wsuri = parse_uri(self.uri)
        # additional_headers and its legacy name extra_headers both count.
        headers: HeadersLike | None = None
        for value in (self._options.get("additional_headers"), self._options.get("extra_headers")):
            if value is not None:
                headers = Headers(headers or (), value)
        timeout = asyncio.timeout(self._options.get("open_timeout", OPEN_TIMEOUT))
        try:
            async with timeout:
                for _ in range(MAX_REDIRECTS + 1):
                    try:
                        return await self._connect_once(wsuri, headers)
                    except InvalidStatus as exc:
                        redirect = self._redirect(wsuri, exc)
                        if redirect is None:
                            raise
                    wsuri, same_origin = redirect, _origin(redirect) == _origin(wsuri)
                    if not same_origin and headers is not None:
                        headers = [
                            (name, value)
                            for name, value in Headers(headers).raw_items()
                            if name.lower() not in _CREDENTIAL_HEADERS
                        ]
        except TimeoutError as exc:
            if not timeout.expired():  # e.g. the system's TCP connect timeout
                raise
            # asyncio's TimeoutError says nothing: say what timed out.
            raise TimeoutError("timed out during opening handshake") from exc
        raise SecurityError(f"more than {MAX_REDIRECTS} redirects")

    def _redirect(self, wsuri: WebSocketURI, exc: InvalidStatus) -> WebSocketURI | None:
        """Return where a 3xx response redirects to, or ``None`` if it doesn't."""
        response = exc.response
        if response.status_code not in (301, 302, 303, 307, 308):
            return None
        location = response.headers.get("Location")
        if location is None:
            return None
        target = urllib.parse.urljoin(_uri_string(wsuri), location)
        try:
            new_wsuri = parse_uri(target)
        except InvalidURI as uri_exc:
            raise InvalidHandshake(f"invalid redirect: {target}") from uri_exc
        if wsuri.secure and not new_wsuri.secure:
            raise SecurityError("cannot follow a redirect to a non-secure URI")
        if self._options.get("sock") is not None:
            # The socket was used up by the first connection.
            raise InvalidHandshake("cannot follow a redirect with a preexisting socket")
        if _origin(new_wsuri) == _origin(wsuri):
            if new_wsuri.user_info is None:
                # Same origin: the credentials of the URI's user info still apply.
                new_wsuri = attrs.evolve(
                    new_wsuri, username=wsuri.username, password=wsuri.password
                )
        elif self._unix:
            raise InvalidHandshake("cannot follow a redirect to another host with a Unix socket")
        elif self._options.get("host") is not None or self._options.get("port") is not None:
            # host and port point at the original server, not at the new one.
            raise InvalidHandshake(
                "cannot follow a redirect to another host when host or port is set"
            )
        return new_wsuri

    def __await__(self) -> Generator[object, None, ClientConnection]:
        return self._connect().__await__()

    async def __aenter__(self) -> ClientConnection:
        self._connection = await self._connect()
        return self._connection

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._connection is not None
        if exc_type is None or not issubclass(exc_type, Exception):
            await self._connection.close()
        else:
            await self._connection.close(CloseCode.INTERNAL_ERROR)

    async def __aiter__(self) -> AsyncIterator[ClientConnection]:
        """Yield a connection, then reconnect each time it closes or fails to open."""
        delay: float | None = None
        while True:
            try:
                connection = await self._connect()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                if delay is None:
                    delay = self.BACKOFF_INITIAL_DELAY * random.random()
                elif delay < self.BACKOFF_MIN_DELAY:
                    delay = self.BACKOFF_MIN_DELAY
                else:
                    delay = min(delay * self.BACKOFF_FACTOR, self.BACKOFF_MAX_DELAY)
                logger = self._options.get("logger") or logging.getLogger("websockets_typed.client")
                logger.info("connect failed; reconnecting in %.1f seconds: %s", delay, exc)
                await asyncio.sleep(delay)
                continue
            delay = None
            try:
                yield connection
            finally:
                await connection.close()


def _check_static_headers(options: ConnectOptions) -> None:
    """Refuse headers that would break the handshake request, before connecting.

    Raises:
        ValueError: If a header name isn't a token, or a value holds CR, LF
            or another control character.
    """
    headers = Headers()
    for name in ("additional_headers", "extra_headers"):
        value = options.get(name)
        if value is not None:
            headers.update(cast("HeadersLike", value))
    user_agent = options.get("user_agent_header", USER_AGENT)
    if user_agent is not None:
        headers["User-Agent"] = user_agent
    origin = options.get("origin")
    if origin is not None:
        headers["Origin"] = origin
    headers.serialize()


def is_transient(exc: BaseException) -> bool:
    """Tell whether a failure to connect is worth retrying.

    Transient: network errors (:exc:`OSError`, e.g. connection refused or
    reset), timeouts, a connection closed before the whole response arrived
    (:exc:`InvalidMessage` caused by :exc:`EOFError`, e.g. a server
    restarting), 5xx responses, and a proxy's 5xx answer or silence.

    Permanent, since the next try would fail the same way: a response that
    isn't valid HTTP/1.1 (an HTTP/1.0 server, a service that doesn't speak
    HTTP), 4xx and other non-101 responses, invalid handshake headers, TLS
    errors, invalid URIs.
    """
    if isinstance(exc, InvalidStatus):
        return exc.response.status_code >= 500
    if isinstance(exc, InvalidProxyStatus):
        # E.g. 502 or 504: the proxy can't reach the server, which may come back.
        return exc.response.status_code >= 500
    if isinstance(exc, InvalidMessage | InvalidProxyMessage):
        # E.g. the server or the proxy closed the connection without answering.
        return isinstance(exc.__cause__, EOFError)
    if isinstance(exc, ssl_module.SSLError | ssl_module.CertificateError):
        # A certificate that fails verification won't pass on the next try.
        return False
    return isinstance(exc, OSError | TimeoutError)


def unix_connect(
    path: str | None = None,
    uri: str | None = None,
    **kwargs: Unpack[UnixConnectOptions],
) -> connect:
    """Connect to a WebSocket server listening on a Unix socket.

    Like :func:`connect`, e.g. behind a reverse proxy on the same machine.

    Args:
        path: Path of the Unix socket; ``None`` with ``sock``.
        uri: URI of the server, for the ``Host`` header and the request
            path; ``ws://localhost/`` by default, ``wss://localhost/`` with
            ``ssl``.
        **kwargs: The options of :class:`UnixConnectOptions`.
    """
    check_options("unix_connect", kwargs, UnixConnectOptions.__optional_keys__)
    if uri is None:
        uri = "wss://localhost/" if kwargs.get("ssl") else "ws://localhost/"
    client = connect(uri, **kwargs)
    client._unix = True
    client._unix_path = path
    return client

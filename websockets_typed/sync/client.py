"""The threading WebSocket client: :func:`connect` and :func:`unix_connect`."""

from __future__ import annotations

import logging
import socket
import ssl as ssl_module
import time
from collections.abc import Sequence
from typing import Literal, TypedDict, Unpack

from .._defaults import (
    CLOSE_TIMEOUT,
    MAX_FRAGMENTS,
    MAX_QUEUE,
    MAX_SIZE,
    OPEN_TIMEOUT,
    PING_INTERVAL,
    PING_TIMEOUT,
    USER_AGENT,
)
from ..asyncio._options import check_options
from ..client import ClientProtocol
from ..datastructures import Headers, HeadersLike
from ..extensions.base import ClientExtensionFactory
from ..extensions.permessage_deflate import enable_client_permessage_deflate, with_compression
from ..http11 import Request, Response
from ..proxy import check_proxy, get_proxy
from ..typing import LoggerLike
from ..uri import parse_uri
from ._options import remaining
from ._tls_in_tls import TLSInTLSSocket
from .connection import Connection
from .proxy import connect_through_proxy

__all__ = ["ClientConnection", "ConnectOptions", "TCPConnectOptions", "connect", "unix_connect"]


class ClientConnection(Connection):
    """A WebSocket connection opened by :func:`connect`."""

    protocol: ClientProtocol
    # Redeclared so that type checkers don't infer narrower types from the
    # assignments in this class.
    request: Request | None
    response: Response | None

    def __init__(
        self,
        socket: socket.socket,
        protocol: ClientProtocol,
        *,
        ping_interval: float | None = PING_INTERVAL,
        ping_timeout: float | None = PING_TIMEOUT,
        close_timeout: float | None = CLOSE_TIMEOUT,
        max_queue: int | tuple[int | None, int | None] | None = MAX_QUEUE,
    ) -> None:
        super().__init__(
            socket,
            protocol,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
        )

    def handshake(
        self,
        additional_headers: HeadersLike | None = None,
        user_agent_header: str | None = USER_AGENT,
        timeout: float | None = None,
    ) -> None:
        """Perform the client side of the opening handshake.

        Raises:
            InvalidHandshake: If the server rejects the handshake or answers
                with an invalid response.
            TimeoutError: If the response doesn't come within ``timeout`` seconds.
        """
        with self._protocol_lock:
            request = self.protocol.connect()
            if additional_headers is not None:
                request.headers.update(additional_headers)
            if user_agent_header is not None and "User-Agent" not in request.headers:
                request.headers["User-Agent"] = user_agent_header
            self.request = request
            self.protocol.send_request(request)
        with self._write_lock:
            self._flush()
        if not self._handshake_event.wait(timeout):
            raise TimeoutError("timed out during opening handshake")
        if self.protocol.handshake_exc is not None:
            raise self.protocol.handshake_exc

    def _process_handshake_event(self, event: Request | Response) -> None:
        assert isinstance(event, Response)
        self.response = event
        self._handshake_event.set()


class ConnectOptions(TypedDict, total=False):
    """Options of :func:`connect` and :func:`unix_connect`, with their defaults."""

    origin: str | None
    """Value of the ``Origin`` header."""
    extensions: Sequence[ClientExtensionFactory] | None
    """Extensions to offer, in order of preference."""
    subprotocols: Sequence[str] | None
    """Subprotocols to offer, in order of preference."""
    additional_headers: HeadersLike | None
    """Headers added to the handshake request."""
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
    """Largest number of frames in an incoming message."""
    max_queue: int | tuple[int | None, int | None] | None
    """High-water mark of the queue of received frames (default 16)."""
    logger: LoggerLike | None
    """Logger for the connection."""
    create_connection: type[ClientConnection] | None
    """Connection class to use, e.g. a subclass of :class:`ClientConnection`."""
    ssl: ssl_module.SSLContext | None
    """TLS context for ``wss://``; by default, :func:`ssl.create_default_context`:
    certificates verified, TLS 1.2 or later."""
    server_hostname: str | None
    """Host name to check the server's certificate against; the URI's by default."""
    sock: socket.socket | None
    """An existing connected socket, instead of opening one."""
    source_address: tuple[str, int] | None
    """Local address to bind to before connecting (TCP)."""


class TCPConnectOptions(ConnectOptions, total=False):
    """Options of :func:`connect`: those of :class:`ConnectOptions` and proxies."""

    proxy: str | Literal[True] | None
    """URL of a proxy to connect through (``http://``, ``https://``,
    ``socks5://``, ``socks5h://``, ``socks4://``, ``socks4a://``); ``True``
    (default) takes it from the environment (``https_proxy``, ``http_proxy``,
    ``all_proxy``, ``no_proxy``), ``None`` connects directly."""
    proxy_ssl: ssl_module.SSLContext | None
    """TLS context for an ``https://`` proxy (default: secure defaults)."""
    proxy_server_hostname: str | None
    """Host name to check an ``https://`` proxy's certificate against."""


def connect(uri: str, **kwargs: Unpack[TCPConnectOptions]) -> ClientConnection:
    """Connect to the WebSocket server at ``uri`` and return the connection.

    Use the connection as a context manager, which closes it on exit::

        with connect("ws://localhost:8765") as websocket:
            websocket.send("Hello world!")
            print(websocket.recv())

    Args:
        uri: ``ws://`` or ``wss://`` URI; user information in it is sent as
            HTTP Basic credentials.
        **kwargs: The options of :class:`TCPConnectOptions`.

    Raises:
        TypeError: If an option is unknown.
        InvalidURI: If ``uri`` is not a WebSocket URI.
        InvalidProxy: If ``proxy`` isn't a valid proxy URL.
        OSError: If the TCP connection fails.
        TimeoutError: If the opening handshake takes longer than ``open_timeout``.
        InvalidHandshake: If the opening handshake fails; :exc:`ProxyError`
            if the proxy refuses to open a tunnel to the server.
        ValueError: If ``ssl`` is given with a ``ws://`` URI, ``proxy`` with
            ``sock``, or ``proxy_ssl`` with a proxy that isn't ``https://``.
    """
    check_options("connect", kwargs, TCPConnectOptions.__optional_keys__)
    proxy = kwargs.get("proxy")
    if isinstance(proxy, str):
        # An invalid proxy fails here, before connecting.
        check_proxy(proxy, kwargs.get("proxy_ssl"), kwargs.get("proxy_server_hostname"))
        if kwargs.get("sock") is not None:
            raise ValueError("proxy argument is incompatible with sock")
    return _connect(uri, None, kwargs, kwargs)


def unix_connect(
    path: str | None = None,
    uri: str | None = None,
    **kwargs: Unpack[ConnectOptions],
) -> ClientConnection:
    """Connect to a WebSocket server listening on a Unix socket.

    Like :func:`connect`, e.g. behind a reverse proxy on the same machine.

    Args:
        path: Path of the Unix socket; ``None`` with ``sock``.
        uri: URI of the server, for the ``Host`` header and the request
            path; ``ws://localhost/`` by default, ``wss://localhost/`` with
            ``ssl``.
        **kwargs: The options of :class:`ConnectOptions`.
    """
    if uri is None:
        uri = "wss://localhost/" if kwargs.get("ssl") is not None else "ws://localhost/"
    if path is None and kwargs.get("sock") is None:
        raise ValueError("missing path argument")
    check_options("unix_connect", kwargs, ConnectOptions.__optional_keys__)
    return _connect(uri, path, kwargs, {"proxy": None})


def _connect(
    uri: str, unix_path: str | None, options: ConnectOptions, proxy_options: TCPConnectOptions
) -> ClientConnection:
    wsuri = parse_uri(uri)
    ssl = options.get("ssl")
    if not wsuri.secure and ssl is not None:
        raise ValueError("ssl argument is incompatible with a ws:// URI")
    extensions = with_compression(
        options.get("compression", "deflate"),
        options.get("extensions"),
        enable_client_permessage_deflate,
    )
    logger = options.get("logger") or logging.getLogger("websockets_typed.client")
    connection_class = options.get("create_connection") or ClientConnection
    additional_headers = options.get("additional_headers")
    if additional_headers is not None:
        # Invalid headers fail here, before connecting.
        Request("/", Headers(additional_headers)).serialize()
    protocol = ClientProtocol(
        wsuri,
        origin=options.get("origin"),
        extensions=extensions,
        subprotocols=options.get("subprotocols"),
        max_size=options.get("max_size", MAX_SIZE),
        max_fragments=options.get("max_fragments", MAX_FRAGMENTS),
        logger=logger,
    )
    open_timeout = options.get("open_timeout", OPEN_TIMEOUT)
    deadline = None if open_timeout is None else time.monotonic() + open_timeout

    sock = options.get("sock")
    if sock is None:
        if unix_path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(open_timeout)
                sock.connect(unix_path)
            except BaseException:
                sock.close()
                raise
        else:
            proxy = proxy_options.get("proxy", True)
            if proxy is True:
                proxy = get_proxy(wsuri)
            if proxy is None:
                sock = socket.create_connection(
                    (wsuri.host, wsuri.port), open_timeout, options.get("source_address")
                )
            else:
                sock = connect_through_proxy(
                    proxy,
                    wsuri.host,
                    wsuri.port,
                    secure=wsuri.secure,
                    deadline=deadline,
                    source_address=options.get("source_address"),
                    proxy_ssl=proxy_options.get("proxy_ssl"),
                    proxy_server_hostname=proxy_options.get("proxy_server_hostname"),
                    user_agent_header=options.get("user_agent_header", USER_AGENT),
                )
    try:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            # Small frames go out at once: latency matters more than packets.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        if wsuri.secure:
            if ssl is None:
                # The platform's secure defaults: certificates and host
                # names verified, TLS 1.2 or later.
                ssl = ssl_module.create_default_context()
            sock.settimeout(remaining(deadline))
            server_hostname = options.get("server_hostname") or wsuri.host
            if isinstance(sock, TLSInTLSSocket):
                # Through an https:// proxy: TLS inside TLS.
                sock.add_tls(ssl, server_hostname)
            else:
                sock = ssl.wrap_socket(sock, server_hostname=server_hostname)
        sock.settimeout(None)
        connection = connection_class(
            sock,
            protocol,
            ping_interval=options.get("ping_interval", PING_INTERVAL),
            ping_timeout=options.get("ping_timeout", PING_TIMEOUT),
            close_timeout=options.get("close_timeout", CLOSE_TIMEOUT),
            max_queue=options.get("max_queue", MAX_QUEUE),
        )
    except BaseException:
        sock.close()
        raise
    try:
        connection.handshake(
            additional_headers,
            options.get("user_agent_header", USER_AGENT),
            remaining(deadline),
        )
    except BaseException:
        connection._abort()
        connection.wait_closed()
        raise
    connection.start_keepalive()
    return connection

"""The threading WebSocket server: :func:`serve`, :func:`unix_serve`, :class:`Server`."""

from __future__ import annotations

import contextlib
import http
import logging
import socket
import ssl as ssl_module
import threading
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Final, Literal, Self, TypeAlias, TypedDict, Unpack

from .._basic_auth import password_checker, read_credentials
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
from ..asyncio.server import _ConnectionLogger
from ..datastructures import Headers
from ..exceptions import ConnectionClosed, InvalidHandshake
from ..extensions.base import ServerExtensionFactory
from ..extensions.permessage_deflate import enable_server_permessage_deflate, with_compression
from ..frames import CloseCode
from ..headers import build_www_authenticate_basic
from ..http11 import Request, Response
from ..protocol import CONNECTING, OPEN
from ..server import OriginLike, ServerProtocol
from ..typing import LoggerLike, StatusLike, Subprotocol
from .connection import Connection

__all__ = [
    "CheckCredentials",
    "Credentials",
    "Handler",
    "ProcessRequest",
    "ProcessResponse",
    "SelectSubprotocol",
    "ServeOptions",
    "Server",
    "ServerConnection",
    "basic_auth",
    "serve",
    "unix_serve",
]

_SERVER_ERROR_TEXT: Final = (
    "Failed to open a WebSocket connection.\nSee server log for more information.\n"
)


class ServerConnection(Connection):
    """A WebSocket connection accepted by a :class:`Server`: what the handler receives.

    Attributes:
        server: The server that accepted the connection.
        username: The user name that :func:`basic_auth` authenticated;
            ``None`` without authentication.
    """

    protocol: ServerProtocol
    # Redeclared so that type checkers don't infer narrower types from the
    # assignments in this class.
    request: Request | None
    response: Response | None

    def __init__(
        self,
        socket: socket.socket,
        protocol: ServerProtocol,
        server: Server,
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
        self.server = server
        self.username: str | None = None

    def respond(self, status: StatusLike, text: str) -> Response:
        """Build a plain-text HTTP response, e.g. for a health check.

        Return it from ``process_request`` to answer without upgrading to
        WebSocket; modify its headers first if needed.
        """
        return self.protocol.reject(status, text)

    def handshake(
        self,
        process_request: ProcessRequest | None = None,
        process_response: ProcessResponse | None = None,
        server_header: str | None = USER_AGENT,
        timeout: float | None = None,
    ) -> None:
        """Perform the server side of the opening handshake.

        Raises:
            InvalidHandshake: If the handshake fails, including when
                ``process_request`` answers with a plain HTTP response.
            TimeoutError: If the request doesn't come within ``timeout`` seconds.
        """
        if not self._handshake_event.wait(timeout):
            raise TimeoutError("timed out during opening handshake")
        request = self.request
        if request is None:
            # Malformed (the protocol answered it already), or the connection
            # ended before the request arrived.
            raise self.protocol.handshake_exc or InvalidHandshake("connection closed")

        response: Response | None = None
        if process_request is not None:
            try:
                response = process_request(self, request)
            except Exception as exc:
                self.protocol.handshake_exc = exc
                self.logger.error("process_request failed", exc_info=True)
                response = self.respond(http.HTTPStatus.INTERNAL_SERVER_ERROR, _SERVER_ERROR_TEXT)
        if response is None:
            if self.server.is_serving():
                with self._protocol_lock:
                    response = self.protocol.accept(request)
            else:
                response = self.respond(
                    http.HTTPStatus.SERVICE_UNAVAILABLE, "Server is shutting down.\n"
                )
        if server_header is not None:
            response.headers["Server"] = server_header
        if process_response is not None:
            try:
                replacement = process_response(self, request, response)
            except Exception as exc:
                self.protocol.handshake_exc = exc
                self.logger.error("process_response failed", exc_info=True)
                replacement = self.respond(
                    http.HTTPStatus.INTERNAL_SERVER_ERROR, _SERVER_ERROR_TEXT
                )
            if replacement is not None:
                response = replacement

        with self._protocol_lock:
            if self.protocol.state is not CONNECTING:
                # The client went away while the hooks were running.
                self.response = response
                raise self.protocol.handshake_exc or InvalidHandshake("connection closed")
            try:
                self.protocol.send_response(response)
            except ValueError as exc:
                # A hook built a response that would break the HTTP stream,
                # e.g. a header value with CR LF: send none of it.
                self.protocol.handshake_exc = exc
                self.logger.error("invalid handshake response", exc_info=True)
                response = self.respond(http.HTTPStatus.INTERNAL_SERVER_ERROR, _SERVER_ERROR_TEXT)
                self.protocol.send_response(response)
            self.response = response
            # Frames that arrived with the request, held until now.
            events = self.protocol.events_received()
        with self._write_lock:
            self._flush()
        self._process_events(events)
        if self.protocol.handshake_exc is not None:
            raise self.protocol.handshake_exc

    def _process_handshake_event(self, event: Request | Response) -> None:
        assert isinstance(event, Request)
        self.request = event
        self._handshake_event.set()


Handler: TypeAlias = Callable[[ServerConnection], object]
"""A connection handler: ``def handler(connection)``, run in a thread of its own."""

ProcessRequest: TypeAlias = Callable[[ServerConnection, Request], Response | None]
"""A hook called with each handshake request; returning a response answers
it without upgrading to WebSocket."""

ProcessResponse: TypeAlias = Callable[[ServerConnection, Request, Response], Response | None]
"""A hook called with each handshake response before it is sent; it may modify
it or return another one."""

SelectSubprotocol: TypeAlias = Callable[
    [ServerConnection, Sequence[Subprotocol]], Subprotocol | str | None
]
"""A hook that picks a subprotocol among those the client offers."""

Credentials: TypeAlias = tuple[str, str]
"""A user name and its password."""

CheckCredentials: TypeAlias = Callable[[str, str], bool]
"""A callable that tells whether a user name and password are valid."""


class ServeOptions(TypedDict, total=False):
    """Options of :func:`serve` and :func:`unix_serve`, with their defaults."""

    origins: Sequence[OriginLike] | None
    """Acceptable ``Origin`` headers; include ``None`` to accept requests
    without one. Others get 403. Default: no check."""
    hosts: Sequence[str] | None
    """Acceptable ``Host`` headers; a name without a port accepts any port.
    Others get 421. Default: no check."""
    extensions: Sequence[ServerExtensionFactory] | None
    """Supported extensions, in order of preference."""
    subprotocols: Sequence[str] | None
    """Supported subprotocols, in order of preference."""
    select_subprotocol: SelectSubprotocol | None
    """Replaces the default subprotocol selection."""
    compression: Literal["deflate"] | None
    """``"deflate"`` (default) enables permessage-deflate; ``None`` disables it."""
    process_request: ProcessRequest | None
    """Hook called with each request; may answer it with plain HTTP."""
    process_response: ProcessResponse | None
    """Hook called with each response before it is sent."""
    server_header: str | None
    """Value of the ``Server`` header; ``None`` omits it."""
    open_timeout: float | None
    """Seconds allowed for the TLS and opening handshakes (default 10)."""
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
    """Logger for the server and its connections."""
    create_connection: type[ServerConnection] | None
    """Connection class to use, e.g. a subclass of :class:`ServerConnection`."""
    ssl: ssl_module.SSLContext | None
    """TLS context: serves ``wss://``."""
    sock: socket.socket | None
    """An existing listening socket."""
    backlog: int | None
    """Maximum number of queued TCP connections."""
    reuse_port: bool
    """Allow several sockets to bind the same port (TCP)."""
    family: int
    """Address family of the listening socket, e.g. ``socket.AF_INET6`` (TCP)."""


class Server:
    """A threading WebSocket server: what :func:`serve` returns.

    :meth:`serve_forever` accepts connections and runs the handler of each
    in a thread of its own; :meth:`shutdown`, from another thread, stops it.
    Used as a context manager, it shuts down on exit::

        with serve(handler, "localhost", 8765) as server:
            server.serve_forever()

    Attributes:
        socket: The listening socket.
        logger: Logger for server-wide events.
    """

    def __init__(
        self,
        socket: socket.socket,
        handler: Handler,
        options: ServeOptions,
        logger: LoggerLike | None = None,
    ) -> None:
        self.socket = socket
        self.handler = handler
        self._options = options
        if logger is None:
            logger = logging.getLogger("websockets_typed.server")
        self.logger: LoggerLike = logger
        self._lock = threading.Lock()
        self._serving = True
        self._threads: set[threading.Thread] = set()
        self._connections: set[ServerConnection] = set()
        self._extensions = with_compression(
            options.get("compression", "deflate"),
            options.get("extensions"),
            enable_server_permessage_deflate,
        )
        self.logger.info("server listening on %s", socket.getsockname())

    @property
    def connections(self) -> set[ServerConnection]:
        """The open WebSocket connections; a copy, safe to iterate."""
        with self._lock:
            return {connection for connection in self._connections if connection.state is OPEN}

    def is_serving(self) -> bool:
        """Whether the server accepts new connections."""
        return self._serving

    def fileno(self) -> int:
        """File descriptor of the listening socket, e.g. for :mod:`selectors`."""
        return self.socket.fileno()

    def serve_forever(self) -> None:
        """Accept connections until :meth:`shutdown` is called.

        Each connection gets a thread that performs the opening handshake,
        runs the handler, then closes the connection: with 1000 when the
        handler returns, with 1011 if it raises (the error is logged).
        """
        while True:
            try:
                sock, _ = self.socket.accept()
            except OSError:
                if not self._serving:
                    return  # shutdown() closed the listening socket
                raise
            thread = threading.Thread(target=self._run, args=(sock,), daemon=True)
            with self._lock:
                if not self._serving:
                    sock.close()
                    return
                self._threads.add(thread)
            thread.start()

    def shutdown(self) -> None:
        """Stop accepting connections, close open ones with 1001 and join their threads.

        Safe to call from any thread, including a handler's, and
        idempotent. Messages whose :meth:`~Connection.send` returned are
        delivered before the closing handshake.
        """
        with self._lock:
            was_serving, self._serving = self._serving, False
            connections = list(self._connections)
            threads = list(self._threads)
        if was_serving:
            self.logger.info("server closing")
            with contextlib.suppress(OSError):
                # Wakes accept() in serve_forever().
                self.socket.shutdown(socket.SHUT_RDWR)
            self.socket.close()
        closers = [
            threading.Thread(target=connection.close, args=(CloseCode.GOING_AWAY,), daemon=True)
            for connection in connections
        ]
        for closer in closers:
            closer.start()
        for closer in closers:
            closer.join()
        current = threading.current_thread()
        for thread in threads:
            if thread is not current:
                thread.join()
        if was_serving:
            self.logger.info("server closed")

    def _run(self, sock: socket.socket) -> None:
        """Run one connection: TLS and opening handshakes, handler, closing."""
        try:
            connection = self._open(sock)
            if connection is not None:
                with self._lock:
                    self._connections.add(connection)
                try:
                    self._handle(connection)
                finally:
                    with self._lock:
                        self._connections.discard(connection)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _open(self, sock: socket.socket) -> ServerConnection | None:
        """Set up the socket and the connection; ``None`` if that fails."""
        options = self._options
        open_timeout = options.get("open_timeout", OPEN_TIMEOUT)
        try:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
            ssl = options.get("ssl")
            if ssl is not None:
                sock.settimeout(open_timeout)
                sock = ssl.wrap_socket(sock, server_side=True)
            sock.settimeout(None)
            hook = options.get("select_subprotocol")
            connection: ServerConnection | None = None

            def select_subprotocol(
                _: ServerProtocol, offered: Sequence[Subprotocol]
            ) -> Subprotocol | str | None:
                # The hook of serve() receives the connection, not the protocol.
                assert hook is not None
                assert connection is not None
                return hook(connection, offered)

            # Records get the connection's id and remote address, as in the asyncio layer.
            logger = _ConnectionLogger(self.logger)
            protocol = ServerProtocol(
                origins=options.get("origins"),
                hosts=options.get("hosts"),
                extensions=self._extensions,
                subprotocols=options.get("subprotocols"),
                select_subprotocol=None if hook is None else select_subprotocol,
                max_size=options.get("max_size", MAX_SIZE),
                max_fragments=options.get("max_fragments", MAX_FRAGMENTS),
                logger=logger,
            )
            connection_class = options.get("create_connection") or ServerConnection
            connection = connection_class(
                sock,
                protocol,
                self,
                ping_interval=options.get("ping_interval", PING_INTERVAL),
                ping_timeout=options.get("ping_timeout", PING_TIMEOUT),
                close_timeout=options.get("close_timeout", CLOSE_TIMEOUT),
                max_queue=options.get("max_queue", MAX_QUEUE),
            )
            logger.connection = connection
        except Exception as exc:
            self.logger.info("opening connection failed: %s", exc)
            sock.close()
            return None
        return connection

    def _handle(self, connection: ServerConnection) -> None:
        options = self._options
        close_timeout = options.get("close_timeout", CLOSE_TIMEOUT)
        try:
            connection.handshake(
                options.get("process_request"),
                options.get("process_response"),
                options.get("server_header", USER_AGENT),
                options.get("open_timeout", OPEN_TIMEOUT),
            )
        except Exception as exc:
            if isinstance(exc, TimeoutError):
                connection.logger.info("opening handshake timed out")
                connection._abort()
            else:
                connection.logger.info("opening handshake failed: %s", exc)
            # Let the client close first, then make sure.
            if not connection.wait_closed(close_timeout):
                connection._abort()
                connection.wait_closed()
            return
        if connection.response is not None and connection.response.status_code != 101:
            # process_request answered with plain HTTP.
            if not connection.wait_closed(close_timeout):
                connection._abort()
                connection.wait_closed()
            return
        connection.start_keepalive()
        try:
            self.handler(connection)
        except ConnectionClosed as exc:
            # The usual way out of `for message in connection: connection.send(...)`
            # when the peer closes first: not a bug in the handler.
            connection.logger.debug("connection handler exited: %s", exc)
            connection.close()
        except Exception:
            connection.logger.error("connection handler failed", exc_info=True)
            connection.close(CloseCode.INTERNAL_ERROR)
        else:
            connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()


def serve(
    handler: Handler,
    host: str | None = None,
    port: int | None = None,
    **kwargs: Unpack[ServeOptions],
) -> Server:
    """Create a threading WebSocket server listening on ``host`` and ``port``.

    Call :meth:`Server.serve_forever` to accept connections::

        def echo(websocket):
            for message in websocket:
                websocket.send(message)

        with serve(echo, "localhost", 8765) as server:
            server.serve_forever()

    ``handler`` runs in a thread per connection, once the opening handshake
    succeeded; the connection closes with 1000 when it returns and with 1011
    if it raises (the error is logged on ``websockets_typed.server``).

    Args:
        handler: ``def handler(connection)``.
        host: Interface to listen on; ``None`` for all.
        port: TCP port; 0 picks a free one.
        **kwargs: The options of :class:`ServeOptions`.

    Raises:
        TypeError: If an option is unknown.
        OSError: If the socket can't listen.
    """
    check_options("serve", kwargs, ServeOptions.__optional_keys__)
    sock = kwargs.get("sock")
    if sock is None:
        sock = socket.create_server(
            (host or "", port or 0),
            family=kwargs.get("family", socket.AF_INET),
            backlog=kwargs.get("backlog"),
            reuse_port=kwargs.get("reuse_port", False),
        )
    return _server(sock, handler, kwargs)


def unix_serve(
    handler: Handler,
    path: str | None = None,
    **kwargs: Unpack[ServeOptions],
) -> Server:
    """Create a threading WebSocket server listening on a Unix socket.

    Like :func:`serve`, e.g. behind a reverse proxy on the same machine.

    Args:
        handler: ``def handler(connection)``.
        path: Path of the Unix socket; ``None`` with ``sock``.
        **kwargs: The options of :class:`ServeOptions`.
    """
    check_options("unix_serve", kwargs, ServeOptions.__optional_keys__)
    sock = kwargs.get("sock")
    if sock is None:
        if path is None:
            raise ValueError("missing path argument")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
            backlog = kwargs.get("backlog")
            sock.listen(socket.SOMAXCONN if backlog is None else backlog)
        except BaseException:
            sock.close()
            raise
    return _server(sock, handler, kwargs)


def _server(sock: socket.socket, handler: Handler, options: ServeOptions) -> Server:
    try:
        # Invalid options fail here, not at the first connection.
        with_compression(options.get("compression", "deflate"), None, lambda e: list(e or ()))
        server_header = options.get("server_header", USER_AGENT)
        if server_header is not None:
            Response(101, "Switching Protocols", Headers(Server=server_header)).serialize()
        hosts = options.get("hosts")
        if hosts is not None:
            ServerProtocol(hosts=hosts)
    except BaseException:
        sock.close()
        raise
    return Server(sock, handler, options, options.get("logger"))


def basic_auth(
    realm: str = "",
    credentials: Credentials | Iterable[Credentials] | None = None,
    check_credentials: CheckCredentials | None = None,
) -> Callable[[ServerConnection, Request], Response | None]:
    """Build a ``process_request`` hook that requires HTTP Basic authentication.

    Pass exactly one of ``credentials`` and ``check_credentials``::

        serve(handler, host, port, process_request=basic_auth(
            realm="chat", credentials=[("alice", "secret")],
        ))

    It works as :func:`websockets_typed.asyncio.server.basic_auth` does:
    401 with a ``WWW-Authenticate`` challenge (RFC 7617) for missing or
    invalid credentials, passwords compared in constant time, the user name
    in :attr:`ServerConnection.username` once authenticated.

    Args:
        realm: Where the credentials apply, shown by browsers.
        credentials: A ``(username, password)`` pair, or several.
        check_credentials: ``check(username, password) -> bool``; it is
            responsible for comparing in constant time.

    Raises:
        ValueError: If not exactly one of ``credentials`` and
            ``check_credentials`` is given, or if ``realm`` holds control
            characters.
        TypeError: If ``credentials`` is not a pair or pairs of strings.
    """
    if (credentials is None) == (check_credentials is None):
        raise ValueError("provide either credentials or check_credentials")
    challenge = build_www_authenticate_basic(realm)
    check = check_credentials if credentials is None else password_checker(credentials)
    assert check is not None

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        found = read_credentials(request)
        if isinstance(found, str):
            text = found
        else:
            username, password = found
            if check(username, password):
                connection.username = username
                return None
            connection.logger.info("invalid credentials for user %r", username)
            text = "Invalid credentials\n"
        response = connection.respond(http.HTTPStatus.UNAUTHORIZED, text)
        response.headers["WWW-Authenticate"] = challenge
        return response

    return process_request

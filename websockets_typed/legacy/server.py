"""Seed 001's server API: :func:`serve`, :func:`unix_serve`, :class:`WebSocketServer`
and :class:`WebSocketServerProtocol`.

They run on the asyncio server: :class:`WebSocketServerProtocol` is a
:class:`~websockets_typed.asyncio.server.ServerConnection` that calls the
legacy hooks, and :class:`WebSocketServer` wraps a
:class:`~websockets_typed.asyncio.server.Server`. Import them from
:mod:`websockets_typed.server`, as the seed does.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import ssl as ssl_module
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from types import TracebackType
from typing import (
    Any,
    ClassVar,
    Final,
    Literal,
    TypeAlias,
    TypedDict,
    TypeVar,
    Unpack,
    cast,
    overload,
)

from .._defaults import (
    CLOSE_TIMEOUT,
    LEGACY_MAX_QUEUE,
    LEGACY_READ_LIMIT,
    LEGACY_WRITE_LIMIT,
    MAX_SIZE,
    OPEN_TIMEOUT,
    PING_INTERVAL,
    PING_TIMEOUT,
)
from ..asyncio.server import (
    ExtraHeaders,
    ProcessRequest,
    ProcessResponse,
    Server,
    ServerConnection,
    _ConnectionLogger,
    _two_arguments,
)
from ..datastructures import Headers, HeadersLike
from ..exceptions import AbortHandshake
from ..extensions.base import ServerExtensionFactory
from ..extensions.permessage_deflate import enable_server_permessage_deflate
from ..http11 import Request, Response
from ..server import OriginLike, ServerProtocol
from ..typing import LoggerLike, StatusLike, Subprotocol
from .protocol import WebSocketCommonProtocol, is_factory_of, legacy_max_queue

__all__ = [
    "HTTPResponse",
    "LegacyProcessRequest",
    "LegacySelectSubprotocol",
    "ServeOptions",
    "TCPServeOptions",
    "UnixServeOptions",
    "WebSocketServer",
    "WebSocketServerProtocol",
    "serve",
    "unix_serve",
]

HTTPResponse: TypeAlias = tuple[StatusLike, HeadersLike, bytes]
"""What a legacy ``process_request`` returns to answer with plain HTTP:
status, headers and body."""

LegacyProcessRequest: TypeAlias = Callable[
    [str, Headers], Awaitable[HTTPResponse | None] | HTTPResponse | None
]
"""``process_request(path, request_headers)``, a function or a coroutine."""

LegacySelectSubprotocol: TypeAlias = Callable[
    [Sequence[Subprotocol], Sequence[Subprotocol]], Subprotocol | str | None
]
"""``select_subprotocol(client_subprotocols, server_subprotocols)``."""

_LEGACY_HOOK_FORMS: Final = {
    "process_request": (
        "process_request(path, request_headers) must return None or "
        "(HTTPStatus, headers, body) with body in bytes"
    ),
    "process_response": "process_response isn't part of the legacy API",
    "extra_headers": (
        "extra_headers must be headers, or extra_headers(path, request_headers) returning headers"
    ),
}


# local_address and remote_address may be None: see WebSocketCommonProtocol.
class WebSocketServerProtocol(WebSocketCommonProtocol, ServerConnection):  # pyright: ignore[reportIncompatibleMethodOverride]
    """A connection accepted by :func:`serve`: what the handler receives.

    Subclass it and pass the subclass as ``create_protocol`` to override
    :meth:`process_request` or :meth:`select_subprotocol`; the handler then
    receives instances of the subclass.

    It is a :class:`~websockets_typed.asyncio.server.ServerConnection`, so
    :func:`~websockets_typed.broadcast` and the rest of the asyncio API accept
    it. Its opening handshake is performed by :func:`serve`.

    Args:
        ws_handler: The connection handler.
        ws_server: The server accepting the connection.
        host: Stored as :attr:`host`.
        port: Stored as :attr:`port`.
        secure: Stored as :attr:`secure`.
        ping_interval: See :class:`~websockets_typed.legacy.protocol.WebSocketCommonProtocol`.
        ping_timeout: Idem.
        close_timeout: Idem.
        max_size: Idem.
        max_queue: Idem.
        read_limit: Idem.
        write_limit: Idem.
        loop: Accepted and ignored.
        origins: Acceptable ``Origin`` headers; include ``None`` to accept
            requests without one.
        extensions: Supported extensions, in order of preference.
        subprotocols: Supported subprotocols, in order of preference.
        extra_headers: Headers added to the handshake response, or
            ``extra_headers(path, request_headers)`` returning them.
        process_request: Replaces :meth:`process_request`.
        select_subprotocol: Replaces :meth:`select_subprotocol`.
    """

    _hook_forms: ClassVar[Mapping[str, str]] = _LEGACY_HOOK_FORMS

    def __init__(
        self,
        ws_handler: Callable[[WebSocketServerProtocol, str], Awaitable[object]]
        | Callable[[WebSocketServerProtocol], Awaitable[object]],
        ws_server: WebSocketServer,
        *,
        host: str | None = None,
        port: int | None = None,
        secure: bool | None = None,
        ping_interval: float | None = PING_INTERVAL,
        ping_timeout: float | None = PING_TIMEOUT,
        close_timeout: float | None = CLOSE_TIMEOUT,
        max_size: int | None = MAX_SIZE,
        max_queue: int | None = LEGACY_MAX_QUEUE,
        read_limit: int = LEGACY_READ_LIMIT,
        write_limit: int = LEGACY_WRITE_LIMIT,
        loop: asyncio.AbstractEventLoop | None = None,
        origins: Sequence[OriginLike] | None = None,
        extensions: Sequence[ServerExtensionFactory] | None = None,
        subprotocols: Sequence[str] | None = None,
        extra_headers: ExtraHeaders | None = None,
        process_request: LegacyProcessRequest | None = None,
        select_subprotocol: LegacySelectSubprotocol | None = None,
    ) -> None:
        server = ws_server._attached()
        logger = _ConnectionLogger(server.logger)
        protocol = ServerProtocol(
            origins=origins,
            extensions=extensions,
            subprotocols=subprotocols,
            select_subprotocol=self._negotiate_subprotocol,
            max_size=max_size,
            logger=logger,
        )
        ServerConnection.__init__(
            self,
            protocol,
            server,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=legacy_max_queue(max_queue),
            write_limit=write_limit,
        )
        logger.connection = self
        self._legacy_init(host, port, secure, read_limit)
        self.ws_handler = ws_handler
        self.ws_server = ws_server
        self._extra_headers = extra_headers
        self._process_request = process_request
        self._select_subprotocol = select_subprotocol

    async def process_request(self, path: str, request_headers: Headers) -> HTTPResponse | None:
        """Intercept the handshake request; return a response to send instead.

        Return ``None`` (the default) to go on with the WebSocket handshake,
        or ``(status, headers, body)``, e.g. ``(HTTPStatus.FORBIDDEN, [],
        b"")``, to answer with that HTTP response and close the connection.
        ``status`` is an :class:`http.HTTPStatus`; ``headers`` are
        :class:`~websockets_typed.datastructures.Headers`, a mapping or
        pairs; ``body`` is bytes, possibly empty.

        Override it in a subclass, or pass ``process_request`` to
        :func:`serve`, which takes precedence. It may be a plain function or
        a coroutine. If it raises or returns something else, the client gets
        500 and the error is logged.
        """
        return None

    @staticmethod
    def select_subprotocol(
        client_subprotocols: Sequence[Subprotocol],
        server_subprotocols: Sequence[Subprotocol],
    ) -> Subprotocol | str | None:
        """Pick a subprotocol among those both the client and the server support.

        The one with the best combined rank in both lists wins, giving equal
        weight to the client's and the server's preferences; ties go to the
        server's preference. Without a common subprotocol, the connection
        goes on without one.

        It is called only when the client offers subprotocols and the
        server has some. Override it in a subclass, or pass
        ``select_subprotocol`` to :func:`serve`, which takes precedence.
        """
        common = [
            subprotocol for subprotocol in server_subprotocols if subprotocol in client_subprotocols
        ]
        if not common:
            return None
        # min() keeps the first of equal ranks: the server's preference.
        return min(
            common,
            key=lambda subprotocol: (
                client_subprotocols.index(subprotocol) + server_subprotocols.index(subprotocol)
            ),
        )

    def _negotiate_subprotocol(
        self, protocol: ServerProtocol, offered: Sequence[Subprotocol]
    ) -> Subprotocol | str | None:
        """The sans-I/O protocol's hook: apply the legacy rule and hooks."""
        available = protocol.available_subprotocols
        if not offered or not available:
            return None
        select = self._select_subprotocol or self.select_subprotocol
        return select(list(offered), list(available))

    def _hooks(
        self,
    ) -> tuple[ProcessRequest | None, ProcessResponse | None, str | None, ExtraHeaders | None]:
        """The server's hooks, with this connection's ``process_request`` and ``extra_headers``."""
        _, process_response, server_header, _ = super()._hooks()
        return _legacy_process_request, process_response, server_header, self._extra_headers

    async def _answer(self, request: Request) -> None:
        """Run the legacy ``process_request``; raise AbortHandshake to answer."""
        if self._process_request is not None:
            result = self._process_request(request.path, request.headers)
        else:
            result = self.process_request(request.path, request.headers)
        if inspect.isawaitable(result):
            result = await result
        if result is None:
            return
        # Checked here, so that a mistake gets a 500 and a log line at once.
        value = cast("object", result)
        if not isinstance(value, tuple) or len(cast("tuple[object, ...]", value)) != 3:
            kind = type(cast("object", result)).__name__
            raise TypeError(f"process_request returned {kind}, not a 3-tuple")
        status, headers, body = result
        if not isinstance(body, bytes):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"the body must be bytes, not {type(body).__name__}")
        raise AbortHandshake(status, headers, body)


async def _legacy_process_request(
    connection: ServerConnection, request: Request
) -> Response | None:
    """The asyncio server's ``process_request``, for legacy connections."""
    assert isinstance(connection, WebSocketServerProtocol)
    await connection._answer(request)
    return None


class WebSocketServer:
    """What :func:`serve` returns: a server that closes its connections on exit.

    It wraps the :class:`~websockets_typed.asyncio.server.Server` that does
    the work.

    Args:
        loop: Accepted for compatibility and ignored.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._websocket_server: Server | None = None
        self._closed = False

    def _attach(self, server: Server) -> None:
        self._websocket_server = server

    def _attached(self) -> Server:
        if self._websocket_server is None:
            raise RuntimeError("this WebSocketServer wasn't created by serve()")
        return self._websocket_server

    @property
    def server(self) -> asyncio.Server:
        """The :class:`asyncio.Server` that ``create_server()`` returned."""
        return self._attached().server

    @property
    def logger(self) -> LoggerLike:
        """Logger for the server and its connections."""
        return self._attached().logger

    def close(self) -> None:
        """Stop accepting connections; close open ones with 1001 (going away).

        Idempotent. Handlers get :exc:`~websockets_typed.exceptions.ConnectionClosed`
        at their next interaction with the connection.
        """
        self._closed = True
        self._attached().close()

    async def wait_closed(self) -> None:
        """Wait until the server is closed and every connection handler returned."""
        await self._attached().wait_closed()

    @property
    def sockets(self) -> list[socket.socket] | None:
        """The listening sockets; ``None`` once the server is closed."""
        if self._closed:
            return None
        return list(self._attached().sockets)


class ServeOptions(TypedDict, total=False):
    """Options of :func:`serve` and :func:`unix_serve`, with their defaults."""

    klass: Callable[..., WebSocketServerProtocol] | None
    """The former name of ``create_protocol``."""
    ping_interval: float | None
    """Seconds between keepalive pings (default 20)."""
    ping_timeout: float | None
    """Seconds to wait for a keepalive pong (default 20)."""
    close_timeout: float | None
    """Seconds allowed for the closing handshake (default 10)."""
    max_size: int | None
    """Largest incoming message in bytes (default 1 MiB)."""
    max_queue: int | None
    """Incoming messages waiting for ``recv()`` (default 32; 0 for no limit)."""
    read_limit: int
    """Accepted; see :class:`~websockets_typed.legacy.protocol.WebSocketCommonProtocol`."""
    write_limit: int
    """High-water mark of the write buffer (default 64 KiB)."""
    loop: asyncio.AbstractEventLoop | None
    """Accepted and ignored: the server runs on the running loop."""
    compression: Literal["deflate"] | None
    """``"deflate"`` (default) enables permessage-deflate; ``None`` disables it."""
    origins: Sequence[OriginLike] | None
    """Acceptable ``Origin`` headers; include ``None`` to accept requests without one."""
    extensions: Sequence[ServerExtensionFactory] | None
    """Supported extensions, in order of preference."""
    subprotocols: Sequence[str] | None
    """Supported subprotocols, in order of preference."""
    extra_headers: ExtraHeaders | None
    """Headers added to the handshake response, or a function of the path and request headers."""
    process_request: LegacyProcessRequest | None
    """``process_request(path, request_headers)``; see
    :meth:`WebSocketServerProtocol.process_request`."""
    select_subprotocol: LegacySelectSubprotocol | None
    """``select_subprotocol(client_subprotocols, server_subprotocols)``."""
    open_timeout: float | None
    """Seconds allowed for the opening handshake (default 10); not in the seed."""
    logger: LoggerLike | None
    """Logger for the server and its connections; not in the seed."""
    # Forwarded to the event loop.
    ssl: ssl_module.SSLContext | None
    """TLS context: serves ``wss://``."""
    sock: socket.socket | None
    """An existing listening socket."""
    backlog: int
    """Maximum number of queued connections."""
    start_serving: bool
    """Whether to accept connections at once (default ``True``)."""
    ssl_handshake_timeout: float | None
    """Seconds allowed for the TLS handshake."""
    ssl_shutdown_timeout: float | None
    """Seconds allowed for the TLS shutdown."""


class TCPServeOptions(ServeOptions, total=False):
    """Options of :func:`serve`: :class:`ServeOptions` plus TCP settings."""

    family: int
    """Address family, e.g. ``socket.AF_INET6``."""
    flags: int
    """Flags for ``getaddrinfo``."""
    reuse_address: bool | None
    """Reuse a local socket in TIME_WAIT state."""
    reuse_port: bool | None
    """Allow several sockets to bind the same port."""


class UnixServeOptions(ServeOptions, total=False):
    """Options of :func:`unix_serve`."""


# Options that serve() uses; the others go to create_server().
_OWN_OPTIONS: Final = frozenset(
    {
        "klass",
        "ping_interval",
        "ping_timeout",
        "close_timeout",
        "max_size",
        "max_queue",
        "read_limit",
        "write_limit",
        "loop",
        "compression",
        "origins",
        "extensions",
        "subprotocols",
        "extra_headers",
        "process_request",
        "select_subprotocol",
        "open_timeout",
        "logger",
    }
)

_P = TypeVar("_P", bound=WebSocketServerProtocol)

LegacyHandler: TypeAlias = (
    Callable[[WebSocketServerProtocol, str], Awaitable[object]]
    | Callable[[WebSocketServerProtocol], Awaitable[object]]
)


class serve:  # a function for its callers, a class for await and async with
    """Start a WebSocket server, the legacy way.

    Await it to get a :class:`WebSocketServer`, or use it as an asynchronous
    context manager, which closes the server on exit::

        async def echo(websocket, path):
            async for message in websocket:
                await websocket.send(message)

        async with serve(echo, "localhost", 8765):
            await asyncio.Future()

    It runs on the asyncio server of :func:`websockets_typed.serve`; the
    differences are the handler's ``path`` argument, the hooks' forms and
    the defaults of ``max_queue`` and ``write_limit``.

    Args:
        ws_handler: ``async def handler(websocket, path)``; also
            ``async def handler(websocket)``.
        host: Interface(s) to listen on, passed to ``create_server()``.
        port: TCP port, passed to ``create_server()``.
        create_protocol: A subclass of :class:`WebSocketServerProtocol`, or a
            callable taking the same arguments and returning an instance:
            what the handler receives.
        **kwds: The options of :class:`TCPServeOptions`; the others, unknown
            to ``serve``, go to ``loop.create_server()``, which raises
            :exc:`TypeError` for those it doesn't know either.

    Raises:
        TypeError: If both ``create_protocol`` and ``klass`` are given.
        ValueError: If ``compression`` isn't ``"deflate"`` or ``None``.
    """

    @overload
    def __init__(
        self,
        ws_handler: LegacyHandler,
        host: str | Sequence[str] | None = None,
        port: int | None = None,
        *,
        create_protocol: None = None,
        **kwds: Unpack[TCPServeOptions],
    ) -> None: ...

    @overload
    def __init__(
        self,
        ws_handler: Callable[[_P, str], Awaitable[object]] | Callable[[_P], Awaitable[object]],
        host: str | Sequence[str] | None = None,
        port: int | None = None,
        *,
        create_protocol: Callable[..., _P],
        **kwds: Unpack[TCPServeOptions],
    ) -> None: ...

    def __init__(
        self,
        ws_handler: Callable[..., Awaitable[object]],
        host: str | Sequence[str] | None = None,
        port: int | None = None,
        *,
        create_protocol: Callable[..., WebSocketServerProtocol] | None = None,
        **kwds: Unpack[TCPServeOptions],
    ) -> None:
        klass = kwds.get("klass")
        if create_protocol is not None and klass is not None:
            raise TypeError("pass create_protocol or klass, not both")
        compression = kwds.get("compression", "deflate")
        if compression not in ("deflate", None):
            raise ValueError(f"unsupported compression: {compression}")
        self._handler = ws_handler
        self._host = host
        self._port = port
        self._create_protocol = create_protocol or klass or WebSocketServerProtocol
        if not is_factory_of(self._create_protocol, WebSocketServerProtocol):
            raise TypeError("create_protocol must be a subclass of WebSocketServerProtocol")
        self._options: ServeOptions = kwds
        self._unix_path: str | None = None
        self._unix = False
        self._server: WebSocketServer | None = None

    async def _start(self) -> WebSocketServer:
        options = self._options
        handler = self._handler
        two_arguments = _two_arguments(handler)

        def run(connection: ServerConnection) -> Awaitable[object]:
            if two_arguments:
                return handler(connection, connection.path)
            return handler(connection)

        logger = options.get("logger") or logging.getLogger("websockets_typed.server")
        server = Server(
            run,
            open_timeout=options.get("open_timeout", OPEN_TIMEOUT),
            close_timeout=options.get("close_timeout", CLOSE_TIMEOUT),
            logger=logger,
        )
        ws_server = WebSocketServer()
        ws_server._attach(server)

        extensions = options.get("extensions")
        if options.get("compression", "deflate") == "deflate":
            extensions = enable_server_permessage_deflate(extensions)
        host = self._host if isinstance(self._host, str) else None
        create_protocol = self._create_protocol
        # Typed by the TypedDict of options; the loop's overloads can't see that.
        loop_options: dict[str, Any] = {
            name: value for name, value in options.items() if name not in _OWN_OPTIONS
        }
        secure = loop_options.get("ssl") is not None

        def protocol_factory() -> WebSocketServerProtocol:
            return create_protocol(
                handler,
                ws_server,
                host=host,
                port=self._port,
                secure=secure,
                ping_interval=options.get("ping_interval", PING_INTERVAL),
                ping_timeout=options.get("ping_timeout", PING_TIMEOUT),
                close_timeout=options.get("close_timeout", CLOSE_TIMEOUT),
                max_size=options.get("max_size", MAX_SIZE),
                max_queue=options.get("max_queue", LEGACY_MAX_QUEUE),
                read_limit=options.get("read_limit", LEGACY_READ_LIMIT),
                write_limit=options.get("write_limit", LEGACY_WRITE_LIMIT),
                origins=options.get("origins"),
                extensions=extensions,
                subprotocols=options.get("subprotocols"),
                extra_headers=options.get("extra_headers"),
                process_request=options.get("process_request"),
                select_subprotocol=options.get("select_subprotocol"),
            )

        loop = asyncio.get_running_loop()
        asyncio_server: asyncio.Server
        if self._unix:
            asyncio_server = await loop.create_unix_server(
                protocol_factory, self._unix_path, **loop_options
            )
        else:
            # host may be a sequence with port None: the overloads can't say so.
            create_server = cast("Callable[..., Awaitable[asyncio.Server]]", loop.create_server)
            asyncio_server = await create_server(
                protocol_factory, self._host, self._port, **loop_options
            )
        server.wrap(asyncio_server)
        self._server = ws_server
        return ws_server

    def __await__(self) -> Generator[object, None, WebSocketServer]:
        return self._start().__await__()

    async def __aenter__(self) -> WebSocketServer:
        return await self._start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@overload
def unix_serve(
    ws_handler: LegacyHandler,
    path: str | None = None,
    *,
    create_protocol: None = None,
    **kwds: Unpack[UnixServeOptions],
) -> serve: ...


@overload
def unix_serve(
    ws_handler: Callable[[_P, str], Awaitable[object]] | Callable[[_P], Awaitable[object]],
    path: str | None = None,
    *,
    create_protocol: Callable[..., _P],
    **kwds: Unpack[UnixServeOptions],
) -> serve: ...


def unix_serve(
    ws_handler: Callable[..., Awaitable[object]],
    path: str | None = None,
    *,
    create_protocol: Callable[..., WebSocketServerProtocol] | None = None,
    **kwds: Unpack[UnixServeOptions],
) -> serve:
    """Like :func:`serve`, listening on a Unix socket (``create_unix_server()``).

    Useful behind a reverse proxy on the same machine.

    Args:
        ws_handler: The connection handler.
        path: Path of the Unix socket; ``None`` with ``sock``.
        create_protocol: As for :func:`serve`.
        **kwds: The options of :class:`UnixServeOptions`; the others go to
            ``loop.create_unix_server()``.
    """
    # The implementation accepts None: the overloads only say which forms go together.
    factory = cast("Callable[..., WebSocketServerProtocol]", create_protocol)
    server = serve(ws_handler, create_protocol=factory, **kwds)
    server._unix = True
    server._unix_path = path
    return server

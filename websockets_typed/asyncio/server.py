"""The asyncio WebSocket server: :func:`serve`, :func:`unix_serve`, :class:`Server`."""

from __future__ import annotations

import asyncio
import http
import inspect
import logging
import socket
import ssl as ssl_module
import weakref
from collections.abc import (
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Mapping,
    MutableMapping,
    Sequence,
)
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Final,
    Generic,
    Literal,
    Self,
    TypeAlias,
    TypedDict,
    Unpack,
    cast,
)

from typing_extensions import TypeVar

from .._basic_auth import password_checker, read_credentials
from .._defaults import (
    BROADCAST_LIMIT,
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
from ..datastructures import Headers, HeadersLike, add_serialized, serialized_line
from ..exceptions import (
    AbortHandshake,
    ConnectionClosed,
    InvalidHandshake,
    InvalidState,
    InvalidStatus,
)
from ..extensions.base import ServerExtensionFactory
from ..extensions.permessage_deflate import enable_server_permessage_deflate, with_compression
from ..frames import CloseCode
from ..headers import build_www_authenticate_basic
from ..http11 import Request, Response
from ..protocol import CONNECTING, OPEN
from ..server import OriginLike, ServerProtocol
from ..server import SelectSubprotocol as SelectSubprotocolHook
from ..typing import LoggerLike, SequenceNotStr, StatusLike, Subprotocol
from ._accept import Acceptor
from ._options import check_options
from ._timers import Timers
from .connection import BroadcastOverflow, Connection, check_broadcast_options

if TYPE_CHECKING:
    from ..sync.connection import Connection as SyncConnection

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
    "ServerConnectionT",
    "TCPServeOptions",
    "UnixServeOptions",
    "basic_auth",
    "serve",
    "unix_serve",
]


USER_AGENT: Final = DEFAULT_USER_AGENT
"""Default value of the ``Server`` header."""

# The message of the cancellation that open_timeout makes (see Server._handshake_then_handle).
_OPEN_TIMED_OUT: Final = "opening handshake timed out"

_SERVER_ERROR_TEXT: Final = (
    "Failed to open a WebSocket connection.\nSee server log for more information.\n"
)

# What the log says when a hook fails: a hook written for the legacy API
# (websockets_typed.server.serve) fails here, and this says which form to use.
_HOOK_FORMS: Final = {
    "process_request": (
        "process_request(connection, request) must return a Response or None "
        "(the legacy process_request(path, request_headers) returning "
        "(status, headers, body) is for websockets_typed.server.serve)"
    ),
    "process_response": (
        "process_response(connection, request, response) must return a Response or None"
    ),
    "extra_headers": (
        "extra_headers must be headers, or extra_headers(path, request_headers) returning headers"
    ),
}
_SELECT_SUBPROTOCOL_FORM: Final = (
    "select_subprotocol(connection, subprotocols) must return one of the subprotocols "
    "or None (the legacy select_subprotocol(client_subprotocols, server_subprotocols) "
    "is for websockets_typed.server.serve)"
)


class ServerConnection(Connection):
    """A WebSocket connection accepted by a :class:`Server`.

    It is what the connection handler receives. Besides the
    :class:`~websockets_typed.asyncio.connection.Connection` API, it offers
    :meth:`respond` to answer plain HTTP requests in ``process_request``.

    Attributes:
        server: The server that accepted the connection.
        username: The user name that :func:`basic_auth` authenticated;
            ``None`` without authentication.
    """

    protocol: ServerProtocol
    # Redeclared so that type checkers don't infer narrower types from the
    # assignments in this class.
    response: Response | None
    loop: asyncio.AbstractEventLoop
    # How each hook must be written, for the log when one fails.
    _hook_forms: ClassVar[Mapping[str, str]] = _HOOK_FORMS
    # No handshake waiter: the request is answered in the step that brings it.
    _waits_for_handshake: ClassVar[bool] = False
    # The server's loop (see __init__).
    _loop_given: ClassVar[bool] = True
    # Set once the failure of a handshake without request is logged; a
    # class attribute until then, for the memory of connections.
    _handshake_failed: bool = False

    def __init__(
        self,
        protocol: ServerProtocol,
        server: Server,
        *,
        ping_interval: float | None = PING_INTERVAL,
        ping_timeout: float | None = PING_TIMEOUT,
        close_timeout: float | None = CLOSE_TIMEOUT,
        max_queue: int | tuple[int | None, int | None] | None = MAX_QUEUE,
        write_limit: int | tuple[int, int | None] = WRITE_LIMIT,
        broadcast_limit: int | None = BROADCAST_LIMIT,
        broadcast_overflow: BroadcastOverflow = "close",
    ) -> None:
        self.loop = server.loop
        # Not through super(): an object less per connection (bench/run.py, S4).
        Connection.__init__(
            self,
            protocol,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
            write_limit=write_limit,
            broadcast_limit=broadcast_limit,
            broadcast_overflow=broadcast_overflow,
        )
        self.server = server
        self.username: str | None = None

    def respond(self, status: StatusLike, text: str) -> Response:
        """Build a plain-text HTTP response, e.g. for a health check.

        Return it from ``process_request`` to answer without upgrading to
        WebSocket; modify its headers first if needed.
        """
        return self.protocol.reject(status, text)

    @property
    def request(self) -> Request:
        """The opening handshake request.

        It arrives before any hook runs: ``process_request``,
        ``select_subprotocol``, ``process_response`` and the connection
        handler can use it as is, without checking for ``None``.

        Raises:
            InvalidState: If the request hasn't arrived yet.
        """
        if self._request is None:
            raise InvalidState("the opening handshake request hasn't arrived")
        return self._request

    # The names of the legacy API.

    @property
    def path(self) -> str:
        """Path of the request, query included (legacy API; prefer ``request.path``)."""
        return self.request.path

    # Opening handshake. The server answers the request in the step that
    # receives it, and only then starts a task, for the handler: a task per
    # connection that waits for the request, its coroutine and its wake-up
    # cost more than the rest of the handshake (bench/run.py --callgrind,
    # S4). Hooks that return awaitables get a task of their own, which goes
    # on with the handler (see Server._handshake_then_handle).

    def _hooks(
        self,
    ) -> tuple[ProcessRequest | None, ProcessResponse | None, str | None, ExtraHeaders | None]:
        """The hooks of the handshake: ``process_request``, ``process_response``,
        ``server_header`` and ``extra_headers``; the server's by default."""
        server = self.server
        return (
            server.process_request,
            server.process_response,
            server.server_header,
            server.extra_headers,
        )

    def _process_handshake_event(self, event: Request | Response) -> None:
        """Answer the request now, unless a hook returns an awaitable; start the handler."""
        assert isinstance(event, Request)
        self._request = event
        server = self.server
        hooks = self._hooks()
        if hooks[0] is None and hooks[1] is None:
            # No hook, no generator (bench/run.py --callgrind, S4).
            response = self._accepted(event, hooks[2], hooks[3])
        else:
            steps = self._respond(event, hooks)
            try:
                awaitable = steps.send(None)
            except StopIteration as done:
                response = cast(Response, done.value)
            else:
                server._handlers[self] = server.loop.create_task(
                    server._handshake_then_handle(self, steps, awaitable)
                )
                return
        opened = self._send_handshake_response(response)
        # Once the response is written: the client waits for it
        # (bench/run.py --uvloop, S4 one at a time).
        self._stop_open_timer()
        if opened:
            self.start_keepalive()
            server._handlers[self] = server.loop.create_task(server._handle(self))
        # Otherwise the connection stays in _handlers until it ends:
        # _write_pending() armed close_timeout, for a client that doesn't
        # close its side.

    def _respond(
        self,
        request: Request,
        hooks: tuple[
            ProcessRequest | None, ProcessResponse | None, str | None, ExtraHeaders | None
        ],
    ) -> Generator[Awaitable[Response | None], Response | None, Response]:
        """Build the response to ``request`` with the hooks.

        A generator: it yields what a hook returned when it must be awaited,
        and receives its result (or its exception, thrown in). It returns the
        response without yielding when no hook returns an awaitable.
        """
        process_request, process_response, server_header, extra_headers = hooks
        response: Response | None = None
        if process_request is not None:
            try:
                value = process_request(self, request)
                if inspect.isawaitable(value):
                    self._pause_for_hook()
                    value = yield value
                response = _check_response("process_request", value)
            except AbortHandshake as exc:
                response = Response(exc.status.value, exc.status.phrase, exc.headers, exc.body)
                # Frame the body, and say the connection ends with it.
                response.headers.setdefault("Content-Length", str(len(exc.body)))
                response.headers.setdefault("Connection", "close")
            except Exception as exc:
                response = self._hook_failed("process_request", exc)
        if response is None:
            response = self._accepted(request, server_header, extra_headers)
        else:
            self._add_server_header(response, server_header)
        if process_response is not None:
            try:
                value = process_response(self, request, response)
                if inspect.isawaitable(value):
                    self._pause_for_hook()
                    value = yield value
                replacement = _check_response("process_response", value)
            except Exception as exc:
                replacement = self._hook_failed("process_response", exc)
            if replacement is not None:
                response = replacement
        return response

    def _accepted(
        self, request: Request, server_header: str | None, extra_headers: ExtraHeaders | None
    ) -> Response:
        """The response when ``process_request`` doesn't answer: 101, or 503 while closing."""
        if self.server.is_serving():
            response = self.protocol.accept(request)
            if response.status_code == 101 and extra_headers is not None:
                try:
                    if callable(extra_headers):
                        extra_headers = extra_headers(request.path, request.headers)
                    response.headers.update(extra_headers)
                except Exception as exc:
                    response = self._hook_failed("extra_headers", exc)
        else:
            response = self.respond(
                http.HTTPStatus.SERVICE_UNAVAILABLE, "Server is shutting down.\n"
            )
        self._add_server_header(response, server_header)
        return response

    def _add_server_header(self, response: Response, server_header: str | None) -> None:
        if server_header is not None:
            line = self.server._server_line
            if line is not None and line[0] is server_header:
                add_serialized(response.headers, "Server", "server", server_header, line[1])
            else:
                response.headers["Server"] = server_header

    def _pause_for_hook(self) -> None:
        """Stop reading while a hook decides: the client must wait for the response
        before sending anything (RFC 6455, 4.1), so nothing should pile up."""
        if not self._reading_paused and not self.transport.is_closing():
            self._pause_reading()

    async def _respond_later(
        self,
        steps: Generator[Awaitable[Response | None], Response | None, Response],
        awaitable: Awaitable[Response | None],
    ) -> Response:
        """Finish :meth:`_respond`, awaiting what its hooks return."""
        while True:
            try:
                try:
                    value = await awaitable
                except Exception as exc:
                    awaitable = steps.throw(exc)
                else:
                    awaitable = steps.send(value)
            except StopIteration as done:
                return cast(Response, done.value)

    def _send_handshake_response(self, response: Response) -> bool:
        """Send the response; return whether the connection is open.

        A failure other than the response itself (an error status) is logged
        at INFO.
        """
        protocol = self.protocol
        exc: Exception | None
        if protocol.state is not CONNECTING:
            # The client went away while a hook was running.
            self.response = response
            exc = protocol.handshake_exc or InvalidHandshake("connection closed")
        else:
            try:
                protocol.send_response(response)
            except (ValueError, TypeError) as error:
                # A hook built a response that would break the HTTP stream,
                # e.g. a header value with CR LF, or that holds values of the
                # wrong type: send none of it.
                protocol.handshake_exc = error
                self.logger.error("invalid handshake response", exc_info=True)
                response = self.respond(http.HTTPStatus.INTERNAL_SERVER_ERROR, _SERVER_ERROR_TEXT)
                protocol.send_response(response)
            self.response = response
            self._write_pending()
            # Reading was paused while a hook decided, or max_queue held back
            # frames that came right behind the request (those that fit are
            # parsed already). Usually neither (bench/run.py, S4).
            if self._reading_paused or protocol.holds_frames:
                self._resume_reading()
            events = protocol.events_received()
            if events:
                self._process_events(events)
            exc = protocol.handshake_exc
            if exc is None:
                return True
        # The server chose to answer with a plain HTTP response: no failure.
        if not isinstance(exc, InvalidStatus):
            self._log_handshake_failure(exc)
        return False

    def _log_handshake_failure(self, exc: BaseException | None) -> None:
        """Log why the opening handshake failed: at INFO, with the traceback at DEBUG."""
        self.logger.info("opening handshake failed: %s", exc)
        self.logger.debug("opening handshake failed", exc_info=exc)

    def _hook_failed(self, hook: str, exc: Exception) -> Response:
        """Log a hook's failure at ERROR, with the form it must have; answer 500."""
        self.protocol.handshake_exc = exc
        self.logger.error("%s failed; %s", hook, self._hook_forms[hook], exc_info=exc)
        return self.respond(http.HTTPStatus.INTERNAL_SERVER_ERROR, _SERVER_ERROR_TEXT)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Register with the server and arm ``open_timeout``: no task yet."""
        Connection.connection_made(self, transport)
        server = self.server
        # Tracked until the handler's task takes over, or until the end of
        # the connection if the handshake fails: close() answers 503 to a
        # request that comes meanwhile, and wait_closed() waits for it.
        server._handlers[self] = self.connection_lost_waiter
        if server.open_timeout is not None:
            # The keepalive's timer slot holds open_timeout's until the
            # handshake is answered: one attribute less per connection (see
            # Connection._lost_waiters on their number).
            self._keepalive_timer = server._timers.call_later(
                server.open_timeout, self._open_timed_out
            )

    def _stop_open_timer(self) -> None:
        timer = self._keepalive_timer
        if timer is not None:
            timer.pop(self._open_timed_out, None)

    def _wake_handshake(self) -> None:
        """The request was malformed, or the connection ended: maybe before the request.

        ``buffer_updated()`` calls it once the protocol failed the handshake,
        ``connection_lost()`` always.
        """
        if self.connection_lost_waiter.done():
            # The end of the connection: it leaves the server unless the
            # handler's task (or the hooks') runs, which removes it itself.
            handlers = self.server._handlers
            if handlers.get(self) is self.connection_lost_waiter:
                del handlers[self]
        if self._request is not None or self._handshake_failed:
            return
        # The request never came, or the protocol answered it (e.g. 400):
        # the handshake failed, once.
        self._handshake_failed = True
        self._stop_open_timer()
        self._log_handshake_failure(self.protocol.handshake_exc)

    def _timers(self) -> Timers:
        # The server's: no lookup per connection.
        return self.server._timers

    def _open_timed_out(self) -> None:
        """``open_timeout`` ran out: abort the connection, or cancel the hooks' task."""
        handler = self.server._handlers.get(self)
        if handler is not None and handler is not self.connection_lost_waiter:
            # A hook is running in a task: see Server._handshake_then_handle.
            handler.cancel(_OPEN_TIMED_OUT)
            return
        # Waiting for the request: nothing else to log at the end.
        self._handshake_failed = True
        self.logger.info("opening handshake timed out")
        self.transport.abort()


ServerConnectionT = TypeVar("ServerConnectionT", bound=ServerConnection, default=ServerConnection)
"""The connection class of a server: :class:`ServerConnection` or a subclass."""

Handler: TypeAlias = (
    Callable[[ServerConnection], Awaitable[object]]
    | Callable[[ServerConnection, str], Awaitable[object]]
)
"""A connection handler: ``async def handler(connection)``, or the legacy
``async def handler(connection, path)``."""

ProcessRequest: TypeAlias = Callable[
    [ServerConnection, Request], Response | Awaitable[Response | None] | None
]
"""A hook called with each handshake request; returning a response answers
it without upgrading to WebSocket."""

ProcessResponse: TypeAlias = Callable[
    [ServerConnection, Request, Response], Response | Awaitable[Response | None] | None
]
"""A hook called with each handshake response before it is sent; it may modify
it or return another one."""

SelectSubprotocol: TypeAlias = Callable[
    [ServerConnection, Sequence[Subprotocol]], Subprotocol | str | None
]
"""A hook that picks a subprotocol among those the client offers."""

ExtraHeaders: TypeAlias = HeadersLike | Callable[[str, Headers], HeadersLike]
"""Headers added to a successful handshake response (legacy API), or a
callable receiving the request path and headers and returning them."""


def _check_response(hook: str, value: object) -> Response | None:
    """Return what a hook returned if it is a response or ``None``.

    Raises:
        TypeError: Otherwise, e.g. for the legacy ``(status, headers, body)``.
    """
    if value is None or isinstance(value, Response):
        return value
    raise TypeError(f"{hook} returned {type(value).__name__}, not Response or None")


class Server:
    """A WebSocket server: what :func:`serve` returns.

    It mirrors :class:`asyncio.Server` (:meth:`close`, :meth:`wait_closed`,
    :meth:`serve_forever`, :attr:`sockets`...) and knows its WebSocket
    connections, to close them properly.

    Attributes:
        server: The underlying :class:`asyncio.Server`, once started.
        logger: Logger for server-wide events.
    """

    server: asyncio.Server

    def __init__(
        self,
        handler: Callable[[ServerConnection], Awaitable[object]],
        *,
        process_request: ProcessRequest | None = None,
        process_response: ProcessResponse | None = None,
        server_header: str | None = USER_AGENT,
        extra_headers: ExtraHeaders | None = None,
        open_timeout: float | None = OPEN_TIMEOUT,
        close_timeout: float | None = CLOSE_TIMEOUT,
        logger: LoggerLike | None = None,
    ) -> None:
        self.loop: asyncio.AbstractEventLoop = asyncio.get_running_loop()
        self.handler = handler
        self.process_request = process_request
        self.process_response = process_response
        self.server_header = server_header
        # Its line in responses, checked and encoded once (see handshake()).
        line = None if server_header is None else serialized_line("Server", server_header)
        self._server_line = None if line is None else (server_header, line)
        self.extra_headers = extra_headers
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        if logger is None:
            logger = logging.getLogger("websockets_typed.server")
        self.logger: LoggerLike = logger
        # Each connection, with its task, or its connection_lost_waiter
        # while it has no task (see ServerConnection.connection_made).
        self._handlers: dict[ServerConnection, asyncio.Future[None]] = {}
        self._timers = Timers.of(self.loop)
        self._close_task: asyncio.Task[None] | None = None
        self._closed_waiter: asyncio.Future[None] = self.loop.create_future()
        # Accepts connections without a task each, where it can (see _accept).
        self._acceptor: Acceptor | None = None

    def wrap(self, server: asyncio.Server) -> None:
        """Attach the :class:`asyncio.Server` that accepts TCP connections."""
        self.server = server
        for sock in server.sockets:
            name = sock.getsockname()
            if sock.family == socket.AF_INET6:
                self.logger.info("server listening on [%s]:%d", name[0], name[1])
            elif sock.family == socket.AF_INET:
                self.logger.info("server listening on %s:%d", name[0], name[1])
            else:
                self.logger.info("server listening on %s", name)

    @property
    def connections(self) -> set[ServerConnection]:
        """The open WebSocket connections; a copy, safe to iterate."""
        return {connection for connection in self._handlers if connection.state is OPEN}

    # Connections.

    async def _handshake_then_handle(
        self,
        connection: ServerConnection,
        steps: Generator[Awaitable[Response | None], Response | None, Response],
        awaitable: Awaitable[Response | None],
    ) -> None:
        """Finish a handshake whose hooks return awaitables, then run the handler."""
        try:
            try:
                response = await connection._respond_later(steps, awaitable)
            finally:
                connection._stop_open_timer()
            opened = connection._send_handshake_response(response)
        except BaseException as exc:
            connection.transport.abort()
            del self._handlers[connection]
            # open_timeout cancels the task with a message of its own (see
            # ServerConnection._open_timed_out); another cancellation, or
            # one more after the timer's, wins.
            if isinstance(exc, asyncio.CancelledError) and exc.args == (_OPEN_TIMED_OUT,):
                task = asyncio.current_task()
                assert task is not None
                if task.uncancel() == 0:
                    connection.logger.info("opening handshake timed out")
                    return
            raise
        if not opened:
            # Tracked until the connection ends, as without a task.
            if connection.connection_lost_waiter.done():
                del self._handlers[connection]
            else:
                self._handlers[connection] = connection.connection_lost_waiter
            return
        connection.start_keepalive()
        await self._handle(connection)

    async def _handle(self, connection: ServerConnection) -> None:
        """Run the handler of an open connection, then close it."""
        try:
            try:
                await self.handler(connection)
            except ConnectionClosed as exc:
                # The usual way out of `async for message in connection:
                # await connection.send(...)` when the peer closes first:
                # not a bug in the handler.
                connection.logger.debug("connection handler exited: %s", exc)
            except Exception:
                connection.logger.error("connection handler failed", exc_info=True)
                await connection.close(CloseCode.INTERNAL_ERROR)
            else:
                # Usually closed already, when `async for` ended: then
                # close() would do nothing, for a coroutine (bench/run.py, S4).
                if not connection.connection_lost_waiter.done():
                    await connection.close()
        except asyncio.CancelledError:
            connection.transport.abort()
            raise
        finally:
            del self._handlers[connection]

    # Closing.

    def close(self, close_connections: bool = True) -> None:
        """Stop accepting connections and close the server.

        Idempotent. Handshakes in progress get a 503; with
        ``close_connections``, open connections are closed with 1001 (going
        away). Then :meth:`wait_closed` waits for every handler to return.
        """
        if self._close_task is None:
            self._close_task = self.loop.create_task(self._close(close_connections))

    async def _close(self, close_connections: bool) -> None:
        self.logger.info("server closing")
        self.server.close()
        if close_connections:
            closing = [
                self.loop.create_task(connection.close(CloseCode.GOING_AWAY))
                for connection in self._handlers
                if connection.state is OPEN
            ]
            if closing:
                await asyncio.wait(closing)
                for task in closing:
                    # Not left for asyncio to report as never retrieved,
                    # when the task is collected, if ever.
                    exc = None if task.cancelled() else task.exception()
                    if exc is not None:
                        self.logger.error("closing a connection failed", exc_info=exc)
        # Handler tasks, and connections in the opening handshake or
        # rejected, until they end.
        while self._handlers:
            await asyncio.wait(list(self._handlers.values()))
        await self.server.wait_closed()
        self.logger.info("server closed")
        self._closed_waiter.set_result(None)

    async def wait_closed(self) -> None:
        """Wait until the server is closed and every connection handler returned."""
        await asyncio.shield(self._closed_waiter)

    # The asyncio.Server API.

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the server runs on."""
        return self.loop

    def is_serving(self) -> bool:
        """Whether the server accepts new connections."""
        return self.server.is_serving()

    async def start_serving(self) -> None:
        """Start accepting connections, for a server created with ``start_serving=False``."""
        await self.server.start_serving()
        self._take_over_accepts()

    def _take_over_accepts(self) -> None:
        # asyncio registers its readers of the listening sockets whenever
        # the server starts serving (see _accept).
        if self._acceptor is not None:
            self._acceptor.take_over()

    async def serve_forever(self) -> None:
        """Accept connections until cancelled or closed; when cancelled, close the server.

        Unlike :meth:`asyncio.Server.serve_forever`, closing waits for the
        WebSocket connections to close with 1001 rather than for them to
        end on their own.
        """
        if not self.server.is_serving():
            await self.start_serving()
        try:
            await asyncio.shield(self._closed_waiter)
        except asyncio.CancelledError:
            self.close()
            await self.wait_closed()
            raise

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """The listening sockets."""
        return self.server.sockets

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
        await self.wait_closed()


class ServeOptions(TypedDict, total=False):
    """Options of :func:`serve` and :func:`unix_serve`, with their defaults."""

    origins: Sequence[OriginLike] | None
    """Acceptable ``Origin`` headers; include ``None`` to accept requests
    without one. Others get 403. Default: no check."""
    hosts: Sequence[str] | None
    """Acceptable ``Host`` headers, e.g. ``["example.com"]``; a name without
    a port accepts any port. Others get 421. Default: no check."""
    extensions: Sequence[ServerExtensionFactory] | None
    """Supported extensions, in order of preference."""
    subprotocols: SequenceNotStr[str] | None
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
    extra_headers: ExtraHeaders | None
    """Headers added to successful handshake responses (legacy API)."""
    open_timeout: float | None
    """Seconds allowed for the opening handshake (default 10)."""
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
    broadcast_limit: int | None
    """Bytes that may wait in a connection's write buffer for
    :func:`~websockets_typed.asyncio.connection.broadcast` to add a message
    (default 2 MiB); ``None`` disables the limit."""
    broadcast_overflow: BroadcastOverflow
    """What :func:`~websockets_typed.asyncio.connection.broadcast` does for a
    connection over ``broadcast_limit``: ``"close"`` (default) closes it with
    1013, ``"drop"`` skips the message for it."""
    logger: LoggerLike | None
    """Logger for the server and its connections."""
    # create_connection is a parameter of serve() and unix_serve(), which
    # are generic over it.
    # Forwarded to the event loop.
    ssl: ssl_module.SSLContext | None
    """TLS context: serves ``wss://``."""
    sock: socket.socket | None
    """An existing listening socket."""
    backlog: int
    """Maximum number of queued TCP connections."""
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


_LOOP_OPTIONS: Final = frozenset(
    {
        "ssl",
        "sock",
        "backlog",
        "start_serving",
        "ssl_handshake_timeout",
        "ssl_shutdown_timeout",
        "family",
        "flags",
        "reuse_address",
        "reuse_port",
    }
)

_BACKLOG: Final = 100
"""The listening sockets' backlog unless ``backlog`` says otherwise, as asyncio's."""


def _two_arguments(handler: Handler) -> bool:
    """Tell whether ``handler`` takes the legacy ``(connection, path)`` arguments."""
    try:
        parameters = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover - builtins only
        return False
    positional = [
        parameter
        for parameter in parameters
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)
    ]
    return len(positional) >= 2 or any(
        parameter.kind is parameter.VAR_POSITIONAL for parameter in parameters
    )


class serve(Generic[ServerConnectionT]):  # a function for callers; a class for await, async with
    """Start a WebSocket server listening on ``host`` and ``port``.

    Await it, or use it as an asynchronous context manager::

        async with serve(handler, "localhost", 8765) as server:
            await server.serve_forever()

    ``handler`` runs once per connection, once the opening handshake
    succeeded; the connection closes with 1000 when it returns and with 1011
    if it raises (the error is logged on ``websockets_typed.server``).

    Args:
        handler: ``async def handler(connection)``, or the legacy
            ``async def handler(connection, path)``.
        host: Interface(s) to listen on; ``None`` for all.
        port: TCP port.
        create_connection: Connection class to use, a subclass of
            :class:`ServerConnection`; the handler and the hooks receive
            instances of it, and type checkers know it: a handler that takes
            the subclass needs no ``isinstance``.
        **kwargs: The options of :class:`TCPServeOptions`.
    """

    def __init__(
        self,
        handler: Callable[[ServerConnectionT], Awaitable[object]]
        | Callable[[ServerConnectionT, str], Awaitable[object]],
        host: str | Sequence[str] | None = None,
        port: int | None = None,
        *,
        # The default is a class, not None: pyright then solves the type
        # variable from it when the argument is omitted, and reports a
        # handler that expects a subclass nobody passed. mypy can't follow.
        create_connection: type[ServerConnectionT] | None = ServerConnection,  # type: ignore[assignment]
        **kwargs: Unpack[TCPServeOptions],
    ) -> None:
        check_options("serve", kwargs, TCPServeOptions.__optional_keys__)
        self._handler = cast("Handler", handler)
        self._create_connection: type[ServerConnection] = create_connection or ServerConnection
        self._host = host
        self._port = port
        # Set by unix_serve().
        self._unix = False
        self._unix_path: str | None = None
        self._options: ServeOptions = kwargs
        self._server: Server | None = None

    async def _start(self) -> Server:
        options = self._options
        handler = self._handler
        run: Callable[[ServerConnection], Awaitable[object]]
        if _two_arguments(handler):
            legacy = cast("Callable[[ServerConnection, str], Awaitable[object]]", handler)

            def modern(connection: ServerConnection) -> Awaitable[object]:
                return legacy(connection, connection.path)

            run = modern
        else:
            run = cast("Callable[[ServerConnection], Awaitable[object]]", handler)

        logger = options.get("logger") or logging.getLogger("websockets_typed.server")
        _check_static_headers(options)
        server = Server(
            run,
            process_request=options.get("process_request"),
            process_response=options.get("process_response"),
            server_header=options.get("server_header", USER_AGENT),
            extra_headers=options.get("extra_headers"),
            open_timeout=options.get("open_timeout", OPEN_TIMEOUT),
            close_timeout=options.get("close_timeout", CLOSE_TIMEOUT),
            logger=logger,
        )
        extensions = with_compression(
            options.get("compression", "deflate"),
            options.get("extensions"),
            enable_server_permessage_deflate,
        )
        select_subprotocol = options.get("select_subprotocol")
        hosts = options.get("hosts")
        if hosts is not None:
            # Invalid hosts fail here, not at the first connection.
            ServerProtocol(hosts=hosts)
        connection_class = self._create_connection
        broadcast_limit = options.get("broadcast_limit", BROADCAST_LIMIT)
        broadcast_overflow = options.get("broadcast_overflow", "close")
        # Invalid values fail here, not at the first connection.
        check_broadcast_options(broadcast_limit, broadcast_overflow)
        # Looked up once, not once per connection (bench/run.py, S4).
        origins = options.get("origins")
        subprotocols = options.get("subprotocols")
        max_size = options.get("max_size", MAX_SIZE)
        max_fragments = options.get("max_fragments", MAX_FRAGMENTS)
        option_values: dict[str, Any] = {
            "ping_interval": options.get("ping_interval", PING_INTERVAL),
            "ping_timeout": options.get("ping_timeout", PING_TIMEOUT),
            "close_timeout": options.get("close_timeout", CLOSE_TIMEOUT),
            "max_queue": options.get("max_queue", MAX_QUEUE),
            "write_limit": options.get("write_limit", WRITE_LIMIT),
            "broadcast_limit": broadcast_limit,
            "broadcast_overflow": broadcast_overflow,
        }
        # Calling a class with keyword arguments builds a dict of them, per
        # connection: none when the class's defaults are serve()'s, i.e.
        # ServerConnection's own __init__ and no option given (bench/run.py
        # --callgrind, S4).
        connection_options: dict[str, Any] | None = option_values
        if connection_class.__init__ is ServerConnection.__init__ and not any(
            name in options for name in option_values
        ):
            connection_options = None

        def protocol_factory() -> ServerConnection:
            adapter = _ConnectionLogger(logger)
            protocol_hook: SelectSubprotocolHook | None = None
            # Only when needed: a closure per connection costs memory (bench/run.py, S5).
            if select_subprotocol is not None:
                hook = select_subprotocol

                def protocol_select_subprotocol(
                    _: ServerProtocol, offered: Sequence[Subprotocol]
                ) -> Subprotocol | str | None:
                    # The hook of serve() receives the connection, not the protocol.
                    try:
                        return hook(connection, offered)
                    except Exception as exc:
                        exc.add_note(_SELECT_SUBPROTOCOL_FORM)
                        raise

                protocol_hook = protocol_select_subprotocol

            # ServerProtocol(...) with keyword arguments would build a dict
            # of them, per connection; its __init__ called as a function
            # takes them without one (bench/run.py --callgrind, S4).
            protocol = _new_protocol(ServerProtocol)
            ServerProtocol.__init__(
                protocol,
                origins=origins,
                hosts=hosts,
                extensions=extensions,
                subprotocols=subprotocols,
                select_subprotocol=protocol_hook,
                max_size=max_size,
                max_fragments=max_fragments,
                logger=adapter,
            )
            if connection_options is None:
                connection = connection_class(protocol, server)
            else:
                connection = connection_class(protocol, server, **connection_options)
            # The setter of adapter.connection, without its call.
            adapter._connection = weakref.ref(connection)
            return connection

        # Typed by the TypedDict of options; the loop's overloads can't see that.
        loop_options: dict[str, Any] = {
            name: value for name, value in options.items() if name in _LOOP_OPTIONS
        }
        loop = asyncio.get_running_loop()
        asyncio_server: asyncio.Server
        if self._unix:
            asyncio_server = await loop.create_unix_server(
                protocol_factory,
                self._unix_path,
                **loop_options,
            )
        else:
            # host may be a sequence with port None: the overloads can't say so.
            create_server = cast("Callable[..., Awaitable[asyncio.Server]]", loop.create_server)
            asyncio_server = await create_server(
                protocol_factory, self._host, self._port, **loop_options
            )
        if loop_options.get("ssl") is None:
            server._acceptor = Acceptor.of(
                asyncio_server,
                protocol_factory,
                backlog=loop_options.get("backlog", _BACKLOG),
                logger=logger,
            )
            server._take_over_accepts()
        server.wrap(asyncio_server)
        self._server = server
        return server

    def __await__(self) -> Generator[object, None, Server]:
        return self._start().__await__()

    async def __aenter__(self) -> Server:
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


# What ServerProtocol(...) calls first: object.__new__, as it has no __new__ of its own.
_new_protocol: Final = object.__new__


def _check_static_headers(options: ServeOptions) -> None:
    """Refuse a ``server_header`` or ``extra_headers`` that would break responses.

    Raises:
        ValueError: If a header name isn't a token, or a value holds CR, LF
            or another control character.
    """
    headers = Headers()
    server_header = options.get("server_header", USER_AGENT)
    if server_header is not None:
        headers["Server"] = server_header
    extra_headers = options.get("extra_headers")
    if extra_headers is not None and not callable(extra_headers):
        headers.update(extra_headers)
    headers.serialize()


Credentials: TypeAlias = tuple[str, str]
"""A user name and its password."""

CheckCredentials: TypeAlias = Callable[[str, str], bool | Awaitable[bool]]
"""A callable that tells whether a user name and password are valid."""


def basic_auth(
    realm: str = "",
    credentials: Credentials | Iterable[Credentials] | None = None,
    check_credentials: CheckCredentials | None = None,
) -> Callable[[ServerConnection, Request], Awaitable[Response | None]]:
    """Build a ``process_request`` hook that requires HTTP Basic authentication.

    Pass exactly one of ``credentials`` and ``check_credentials``::

        serve(handler, host, port, process_request=basic_auth(
            realm="chat", credentials=[("alice", "secret")],
        ))

    Clients that send no credentials, or invalid ones, get 401 with a
    ``WWW-Authenticate: Basic realm="..."`` header (RFC 7617). Authenticated
    connections have their user name in :attr:`ServerConnection.username`.
    Passwords from ``credentials`` are compared in constant time
    (:func:`hmac.compare_digest` on their SHA-256 digests, so that the time
    tells nothing about their content or length).

    Args:
        realm: Where the credentials apply, shown by browsers.
        credentials: A ``(username, password)`` pair, or several.
        check_credentials: ``check(username, password) -> bool``, possibly
            a coroutine; it is responsible for comparing in constant time.

    Raises:
        ValueError: If not exactly one of ``credentials`` and
            ``check_credentials`` is given, or if ``realm`` holds control
            characters.
        TypeError: If ``credentials`` is not a pair or pairs of strings.
    """
    if (credentials is None) == (check_credentials is None):
        raise ValueError("provide either credentials or check_credentials")
    challenge = build_www_authenticate_basic(realm)
    check: CheckCredentials
    if credentials is not None:
        check = password_checker(credentials)
    else:
        assert check_credentials is not None
        check = check_credentials

    async def process_request(connection: ServerConnection, request: Request) -> Response | None:
        found = read_credentials(request)
        if isinstance(found, str):
            return _unauthorized(connection, challenge, found)
        username, password = found
        valid = check(username, password)
        if not isinstance(valid, bool):
            valid = await valid
        if not valid:
            connection.logger.info("invalid credentials for user %r", username)
            return _unauthorized(connection, challenge, "Invalid credentials\n")
        connection.username = username
        return None

    return process_request


def _unauthorized(connection: ServerConnection, challenge: str, text: str) -> Response:
    response = connection.respond(http.HTTPStatus.UNAUTHORIZED, text)
    response.headers["WWW-Authenticate"] = challenge
    return response


def unix_serve(
    handler: Callable[[ServerConnectionT], Awaitable[object]]
    | Callable[[ServerConnectionT, str], Awaitable[object]],
    path: str | None = None,
    *,
    create_connection: type[ServerConnectionT] | None = ServerConnection,  # type: ignore[assignment]
    **kwargs: Unpack[UnixServeOptions],
) -> serve[ServerConnectionT]:
    """Start a WebSocket server listening on a Unix socket.

    Like :func:`serve`, e.g. behind a reverse proxy on the same machine.

    Args:
        handler: The connection handler.
        path: Path of the Unix socket; ``None`` with ``sock``.
        create_connection: Connection class to use, as in :func:`serve`.
        **kwargs: The options of :class:`UnixServeOptions`.
    """
    check_options("unix_serve", kwargs, UnixServeOptions.__optional_keys__)
    server = serve(handler, create_connection=create_connection, **kwargs)
    server._unix = True
    server._unix_path = path
    return server


class _ConnectionLogger(logging.LoggerAdapter[logging.Logger]):
    """Adds the connection id and remote address to every record.

    They are available to formatters as ``%(connection_id)s`` and
    ``%(remote_address)s``, and the connection itself as ``websocket``.
    """

    # What LoggerAdapter.__init__ would set per connection, shared (see __init__).
    extra = None
    merge_extra = False

    def __init__(self, logger: LoggerLike) -> None:
        # LoggerAdapter.__init__ without calling it, nor setting ``extra``:
        # one adapter per connection (bench/run.py, S4); process() ignores
        # ``extra`` and ``merge_extra``.
        self.logger = logger if isinstance(logger, logging.Logger) else logger.logger
        # A weak reference: the connection refers to its adapter (through
        # its protocol), and a cycle would leave every connection to the
        # garbage collector, a cost of every connection (bench/run.py
        # --callgrind, S4). Whoever logs through a connection's logger holds
        # the connection, or at least its protocol (see process).
        self._connection: weakref.ref[Connection | SyncConnection] | None = None

    @property
    def connection(self) -> Connection | SyncConnection | None:
        """The connection whose records these are, once known (the threading layer's too)."""
        ref = self._connection
        return None if ref is None else ref()

    @connection.setter
    def connection(self, connection: Connection | SyncConnection | None) -> None:
        self._connection = None if connection is None else weakref.ref(connection)

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra = kwargs.setdefault("extra", {})
        ref = self._connection
        if ref is None:
            return msg, kwargs
        connection = ref()
        if connection is None:
            # Collected: only its protocol remains, for records that keep
            # the fields formatters expect.
            extra.setdefault("websocket", None)
            extra.setdefault("connection_id", None)
            extra.setdefault("remote_address", None)
        else:
            extra.setdefault("websocket", connection)
            extra.setdefault("connection_id", str(connection.id))
            try:
                extra.setdefault("remote_address", connection.remote_address)
            except AttributeError:  # before connection_made()
                extra.setdefault("remote_address", None)
        return msg, kwargs

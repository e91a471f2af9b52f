"""Accepting connections on asyncio's selector event loops without a task each.

An :class:`asyncio.Server` on asyncio's selector loops (the default on Unix)
accepts a connection in a task of its own: the listening socket's reader
starts a coroutine that builds the transport with a Future, then awaits that
Future until the transport has called ``connection_made()``. Every
connection pays for a task, a Future, their wake-ups and one more event loop
iteration, and nothing but that task ever awaits the Future. An
:class:`Acceptor` is the reader of the server's plain TCP and Unix sockets
instead: it builds each transport in the reader's own call, as uvloop does.
Opening and closing a connection costs 10% fewer instructions in the server
(bench/run.py --callgrind, S4 x16: 431,392 to 389,228 per connection).

TLS keeps asyncio's path (its transport's handshake is what that Future waits
for), and so do other event loops (uvloop, the proactor). The acceptor uses
private parts of asyncio's selector loops that Python 3.11 to 3.13 share:
``_add_reader()``, ``_remove_reader()``, ``_make_socket_transport()`` and the
socket inside a :class:`~asyncio.trsock.TransportSocket`. Where one of them
is missing, asyncio keeps its own path.

One difference besides speed: when building a connection fails, asyncio
drops it silently unless in debug mode; the acceptor closes the socket and
logs the failure at ERROR on the server's logger.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from asyncio.selector_events import BaseSelectorEventLoop
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Protocol, cast

if TYPE_CHECKING:
    from ..typing import LoggerLike

__all__ = ["ACCEPT_RETRY_DELAY", "Acceptor"]


ACCEPT_RETRY_DELAY: Final = 1.0
"""Seconds without accepting after the system ran out of resources, as asyncio waits."""

_OUT_OF_RESOURCES: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class _SelectorLoop(Protocol):
    """The private methods of asyncio's selector loops that an acceptor calls."""

    def _add_reader(
        self, fd: int, callback: Callable[[socket.socket], object], sock: socket.socket, /
    ) -> object: ...

    def _remove_reader(self, fd: int, /) -> bool: ...

    def _make_socket_transport(
        self,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        waiter: None = None,
        *,
        extra: dict[str, object],
        server: asyncio.Server,
    ) -> asyncio.Transport: ...

    def call_later(
        self, delay: float, callback: Callable[[socket.socket], object], sock: socket.socket, /
    ) -> asyncio.TimerHandle: ...


def _selector_loop(loop: asyncio.AbstractEventLoop) -> _SelectorLoop | None:
    """``loop``, if it is a selector loop with the private methods an acceptor calls."""
    if not isinstance(loop, BaseSelectorEventLoop):
        return None
    if not all(
        hasattr(loop, name) for name in ("_add_reader", "_remove_reader", "_make_socket_transport")
    ):
        return None  # pragma: no cover - every Python the project supports has them
    return cast("_SelectorLoop", loop)


class Acceptor:
    """The reader of an :class:`asyncio.Server`'s listening sockets, in place of asyncio's.

    Create it with :meth:`of`, then call :meth:`take_over` whenever the
    server starts serving: asyncio registers its own readers then.
    """

    def __init__(
        self,
        loop: _SelectorLoop,
        server: asyncio.Server,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        backlog: int,
        logger: LoggerLike,
    ) -> None:
        self._loop = loop
        self._server = server
        self._protocol_factory = protocol_factory
        self._backlog = backlog
        self._logger = logger

    @classmethod
    def of(
        cls,
        server: asyncio.Server,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        *,
        backlog: int,
        logger: LoggerLike,
    ) -> Acceptor | None:
        """An acceptor for a server without TLS on a selector loop; else None."""
        loop = _selector_loop(server.get_loop())
        if loop is None:
            return None
        return cls(loop, server, protocol_factory, backlog, logger)

    def take_over(self) -> None:
        """Become the reader of each listening socket, if the server serves."""
        if not self._server.is_serving():
            return
        for transport_socket in self._server.sockets:
            sock = getattr(transport_socket, "_sock", None)
            if isinstance(sock, socket.socket):
                # Replaces asyncio's reader of that socket.
                self._loop._add_reader(sock.fileno(), self._accept, sock)

    def _accept(self, sock: socket.socket) -> None:
        """Accept up to ``backlog`` waiting connections, as asyncio does."""
        loop = self._loop
        for _ in range(self._backlog):
            try:
                connection, address = sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise  # the event loop logs it, as with asyncio's reader
                # Linux keeps reporting the socket readable: stop reading it for a while.
                self._logger.error(
                    "accepting connections failed; retrying in %g s",
                    ACCEPT_RETRY_DELAY,
                    exc_info=exc,
                )
                loop._remove_reader(sock.fileno())
                loop.call_later(ACCEPT_RETRY_DELAY, self._resume, sock)
                return
            try:
                connection.setblocking(False)
                loop._make_socket_transport(
                    connection,
                    self._protocol_factory(),
                    extra={"peername": address},
                    server=self._server,
                )
            except Exception:
                connection.close()
                self._logger.error("accepting a connection failed", exc_info=True)

    def _resume(self, sock: socket.socket) -> None:
        """Read the listening socket again after :data:`ACCEPT_RETRY_DELAY`, unless it closed.

        Closing the server closes its listening sockets.
        """
        if sock.fileno() != -1:
            self._loop._add_reader(sock.fileno(), self._accept, sock)

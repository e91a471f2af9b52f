"""Seed 001's :class:`WebSocketCommonProtocol`, on the asyncio connection.

It is a :class:`~websockets_typed.asyncio.connection.Connection` with the
legacy constructor and attributes: ``recv()``, ``send()``, ``ping()`` and
the rest run the same code as with the modern API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .._defaults import (
    CLOSE_TIMEOUT,
    LEGACY_MAX_QUEUE,
    LEGACY_READ_LIMIT,
    LEGACY_WRITE_LIMIT,
    MAX_SIZE,
    PING_INTERVAL,
    PING_TIMEOUT,
)
from ..asyncio.connection import Connection
from ..protocol import OPEN, SERVER, Protocol
from ..typing import SocketAddress

__all__ = ["WebSocketCommonProtocol"]


def legacy_max_queue(max_queue: int | None) -> int | None:
    """Translate the legacy ``max_queue``, where ``0`` means no limit.

    The legacy API counts messages; the asyncio connection counts frames,
    which are the same for messages that aren't fragmented.
    """
    return None if max_queue == 0 else max_queue


def is_factory_of(factory: Callable[..., object], base: type) -> bool:
    """Tell whether ``factory`` may build ``base`` instances: a subclass, or any callable.

    A class is checked at once; what a function returns can only be checked
    when it is called.
    """
    return not isinstance(factory, type) or issubclass(factory, base)


class WebSocketCommonProtocol(Connection):
    """The base of :class:`~websockets_typed.legacy.server.WebSocketServerProtocol`
    and :class:`~websockets_typed.legacy.client.WebSocketClientProtocol`.

    It is an asyncio connection with the legacy attributes. Iterating over it
    yields messages until the connection closes normally (1000 or 1001), and
    raises :exc:`~websockets_typed.exceptions.ConnectionClosed` otherwise::

        async for message in websocket:
            await websocket.send(message)

    Instantiated directly, it is the server side of a connection whose
    opening handshake happened elsewhere: it starts OPEN.

    Args:
        host: Stored as :attr:`host`, for handlers that need it.
        port: Stored as :attr:`port`.
        secure: Stored as :attr:`secure`; ``None`` tells from the transport
            whether TLS is used.
        ping_interval: Seconds between keepalive pings; ``None`` disables them.
        ping_timeout: Seconds to wait for a keepalive pong before closing
            with 1011; ``None`` disables the timeout.
        close_timeout: Seconds allowed for the closing handshake.
        max_size: Largest incoming message in bytes; ``None`` for no limit
            (larger messages close the connection with 1009).
        max_queue: How many incoming messages may wait for :meth:`recv`
            before reading from the network pauses; ``0`` or ``None`` for no
            limit.
        read_limit: Stored as :attr:`read_limit`. Incoming bytes go straight
            to the parser rather than to a stream buffer, so there is no read
            buffer for it to bound: memory is bounded by ``max_size`` and
            ``max_queue``.
        write_limit: High-water mark of the write buffer; :meth:`send` waits
            while the buffer is above it, until it drains to a quarter of it.
        loop: Accepted for compatibility and ignored: the connection runs on
            the running event loop.

    Attributes:
        read_limit: The ``read_limit`` argument.
    """

    def __init__(
        self,
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
    ) -> None:
        super().__init__(
            Protocol(SERVER, state=OPEN, max_size=max_size),
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=legacy_max_queue(max_queue),
            write_limit=write_limit,
        )
        self._legacy_init(host, port, secure, read_limit)

    def _legacy_init(
        self, host: str | None, port: int | None, secure: bool | None, read_limit: int
    ) -> None:
        """Store the attributes that the legacy constructors share."""
        self._legacy_host = host
        self._legacy_port = port
        self._legacy_secure = secure
        self.read_limit = read_limit

    @property
    def host(self) -> str | None:
        """The ``host`` given to the constructor."""
        return self._legacy_host

    @property
    def port(self) -> int | None:
        """The ``port`` given to the constructor."""
        return self._legacy_port

    @property
    def secure(self) -> bool:
        """The ``secure`` given to the constructor, or whether TLS is used."""
        if self._legacy_secure is None:
            return super().secure
        return self._legacy_secure

    # The legacy API says None before the connection is made, where the
    # asyncio connection, which never exists without a transport once a
    # handler sees it, says an address.

    @property
    def local_address(self) -> SocketAddress | None:  # type: ignore[override]  # pyright: ignore[reportIncompatibleMethodOverride]
        """Local address, e.g. ``(host, port)``; ``None`` before the connection is made."""
        if not hasattr(self, "transport"):
            return None
        return super().local_address

    @property
    def remote_address(self) -> SocketAddress | None:  # type: ignore[override]  # pyright: ignore[reportIncompatibleMethodOverride]
        """Remote address, e.g. ``(host, port)``; ``None`` before the connection is made."""
        if not hasattr(self, "transport"):
            return None
        return super().remote_address

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Store the transport; an already OPEN connection starts its keepalive."""
        super().connection_made(transport)
        if self.protocol.state is OPEN:
            self.start_keepalive()

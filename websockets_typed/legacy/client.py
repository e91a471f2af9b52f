"""Seed 001's client API: :func:`connect` and :class:`WebSocketClientProtocol`.

:class:`WebSocketClientProtocol` is a
:class:`~websockets_typed.asyncio.client.ClientConnection` with the legacy
constructor. Import them from :mod:`websockets_typed.client`, as the seed does.
"""

from __future__ import annotations

import asyncio
import socket
import ssl as ssl_module
from collections.abc import Callable, Generator, Sequence
from types import TracebackType
from typing import Any, Final, Generic, Literal, TypedDict, TypeVar, Unpack, cast, overload

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
from ..asyncio.client import ClientConnection
from ..client import ClientProtocol
from ..datastructures import HeadersLike
from ..extensions.base import ClientExtensionFactory
from ..extensions.permessage_deflate import enable_client_permessage_deflate
from ..uri import WebSocketURI, parse_uri
from .protocol import WebSocketCommonProtocol, is_factory_of, legacy_max_queue

__all__ = ["ConnectOptions", "WebSocketClientProtocol", "connect"]


# local_address and remote_address may be None: see WebSocketCommonProtocol.
class WebSocketClientProtocol(WebSocketCommonProtocol, ClientConnection):  # pyright: ignore[reportIncompatibleMethodOverride]
    """A connection opened by :func:`connect`.

    Subclass it and pass the subclass as ``create_protocol`` to
    :func:`connect` to get instances of the subclass. Its opening handshake
    is performed by :func:`connect`.

    Args:
        host: Stored as :attr:`host`; the host of the URI with :func:`connect`.
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
        origin: Value of the ``Origin`` header.
        extensions: Extensions to offer, in order of preference.
        subprotocols: Subprotocols to offer, in order of preference.
        extra_headers: Headers added to the handshake request.
    """

    # Redeclared: _open() assigns it.
    protocol: ClientProtocol

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
        origin: str | None = None,
        extensions: Sequence[ClientExtensionFactory] | None = None,
        subprotocols: Sequence[str] | None = None,
        extra_headers: HeadersLike | None = None,
    ) -> None:
        # The URI's path is known at the handshake: see _open().
        default_port = 443 if secure else 80
        uri = WebSocketURI(bool(secure), host or "localhost", port or default_port, "/", "")
        protocol = ClientProtocol(
            uri,
            origin=origin,
            extensions=extensions,
            subprotocols=subprotocols,
            max_size=max_size,
        )
        ClientConnection.__init__(
            self,
            protocol,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=legacy_max_queue(max_queue),
            write_limit=write_limit,
        )
        self._legacy_init(host, port, secure, read_limit)
        self._extra_headers = extra_headers

    async def _open(self, wsuri: WebSocketURI) -> None:
        """Perform the opening handshake for ``wsuri``, then start the keepalive."""
        previous = self.protocol
        self.protocol = ClientProtocol(
            wsuri,
            origin=previous.origin,
            extensions=previous.available_extensions,
            subprotocols=previous.available_subprotocols,
            max_size=previous.max_size,
            max_fragments=previous.max_fragments,
            logger=previous.logger,
        )
        await self.handshake(self._extra_headers)
        self.start_keepalive()


class ConnectOptions(TypedDict, total=False):
    """Options of :func:`connect`, with their defaults."""

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
    """Accepted and ignored: the connection runs on the running loop."""
    compression: Literal["deflate"] | None
    """``"deflate"`` (default) offers permessage-deflate; ``None`` doesn't."""
    origin: str | None
    """Value of the ``Origin`` header."""
    extensions: Sequence[ClientExtensionFactory] | None
    """Extensions to offer, in order of preference."""
    subprotocols: Sequence[str] | None
    """Subprotocols to offer, in order of preference."""
    extra_headers: HeadersLike | None
    """Headers added to the handshake request."""
    open_timeout: float | None
    """Seconds allowed to connect and complete the handshake (default 10); not in the seed."""
    # Forwarded to the event loop.
    ssl: ssl_module.SSLContext | bool | None
    """TLS settings; ``True`` (the default for ``wss://``) uses Python's default context."""
    server_hostname: str | None
    """Host name to check the server's certificate against."""
    sock: socket.socket | None
    """An existing connected socket."""
    local_addr: tuple[str, int] | None
    """Local address to bind to."""
    family: int
    """Address family, e.g. ``socket.AF_INET6``."""
    proto: int
    """Protocol number for ``getaddrinfo``."""
    flags: int
    """Flags for ``getaddrinfo``."""
    happy_eyeballs_delay: float | None
    """Enables Happy Eyeballs (RFC 8305) with this delay."""
    interleave: int | None
    """Address family interleaving for Happy Eyeballs."""
    ssl_handshake_timeout: float | None
    """Seconds allowed for the TLS handshake."""
    ssl_shutdown_timeout: float | None
    """Seconds allowed for the TLS shutdown."""


# Options that connect() uses; the others go to create_connection().
_OWN_OPTIONS: Final = frozenset(
    {
        "ping_interval",
        "ping_timeout",
        "close_timeout",
        "max_size",
        "max_queue",
        "read_limit",
        "write_limit",
        "loop",
        "compression",
        "origin",
        "extensions",
        "subprotocols",
        "extra_headers",
        "open_timeout",
    }
)

_P = TypeVar("_P", bound=WebSocketClientProtocol)


class connect(Generic[_P]):  # a function for its callers, a class for await and async with
    """Connect to the WebSocket server at ``uri``, the legacy way.

    Await it to get a :class:`WebSocketClientProtocol`, or use it as an
    asynchronous context manager, which closes the connection on exit::

        async with connect("ws://localhost:8765") as websocket:
            await websocket.send("Hello world!")

    Unlike :func:`websockets_typed.connect`, it doesn't follow redirects nor
    reconnect when iterated over, as in the seed.

    Args:
        uri: ``ws://`` or ``wss://`` URI.
        create_protocol: A subclass of :class:`WebSocketClientProtocol`, or a
            callable taking the same arguments and returning an instance.
        **kwds: The options of :class:`ConnectOptions`; the others go to
            ``loop.create_connection()``, which raises :exc:`TypeError` for
            those it doesn't know either.

    Raises:
        InvalidURI: If ``uri`` is not a WebSocket URI.
        ValueError: If ``ssl`` is given with a ``ws://`` URI, or
            ``compression`` isn't ``"deflate"`` or ``None``.
        OSError: If the TCP connection fails.
        TimeoutError: If the handshake takes longer than ``open_timeout``.
        InvalidHandshake: If the opening handshake fails.
    """

    @overload
    def __init__(
        self: connect[WebSocketClientProtocol],
        uri: str,
        *,
        create_protocol: None = None,
        **kwds: Unpack[ConnectOptions],
    ) -> None: ...

    @overload
    def __init__(
        self,
        uri: str,
        *,
        create_protocol: Callable[..., _P],
        **kwds: Unpack[ConnectOptions],
    ) -> None: ...

    def __init__(
        self,
        uri: str,
        *,
        create_protocol: Callable[..., _P] | None = None,
        **kwds: Unpack[ConnectOptions],
    ) -> None:
        self._wsuri = parse_uri(uri)
        if not self._wsuri.secure and kwds.get("ssl") is not None:
            raise ValueError("ssl argument is incompatible with a ws:// URI")
        compression = kwds.get("compression", "deflate")
        if compression not in ("deflate", None):
            raise ValueError(f"unsupported compression: {compression}")
        self._create_protocol: Callable[..., WebSocketClientProtocol] = (
            create_protocol or WebSocketClientProtocol
        )
        if not is_factory_of(self._create_protocol, WebSocketClientProtocol):
            raise TypeError("create_protocol must be a subclass of WebSocketClientProtocol")
        self._options = kwds
        self._connection: _P | None = None

    async def _connect(self) -> _P:
        options = self._options
        wsuri = self._wsuri
        extensions = options.get("extensions")
        if options.get("compression", "deflate") == "deflate":
            extensions = enable_client_permessage_deflate(extensions)
        # Typed by the TypedDict of options; the loop's overloads can't see that.
        loop_options: dict[str, Any] = {
            name: value for name, value in options.items() if name not in _OWN_OPTIONS
        }
        if wsuri.secure:
            loop_options.setdefault("ssl", True)
            # The URI names the server, even with a socket given.
            loop_options.setdefault("server_hostname", wsuri.host)
        # Built before opening the socket: asyncio doesn't close it if the
        # protocol factory raises.
        new_connection = self._create_protocol(
            host=wsuri.host,
            port=wsuri.port,
            secure=wsuri.secure,
            ping_interval=options.get("ping_interval", PING_INTERVAL),
            ping_timeout=options.get("ping_timeout", PING_TIMEOUT),
            close_timeout=options.get("close_timeout", CLOSE_TIMEOUT),
            max_size=options.get("max_size", MAX_SIZE),
            max_queue=options.get("max_queue", LEGACY_MAX_QUEUE),
            read_limit=options.get("read_limit", LEGACY_READ_LIMIT),
            write_limit=options.get("write_limit", LEGACY_WRITE_LIMIT),
            origin=options.get("origin"),
            extensions=extensions,
            subprotocols=options.get("subprotocols"),
            extra_headers=options.get("extra_headers"),
        )
        if not isinstance(cast("object", new_connection), WebSocketClientProtocol):
            raise TypeError(
                f"create_protocol returned {type(new_connection).__name__}, "
                "not a WebSocketClientProtocol"
            )

        def protocol_factory() -> WebSocketClientProtocol:
            return new_connection

        loop = asyncio.get_running_loop()
        async with asyncio.timeout(options.get("open_timeout", OPEN_TIMEOUT)):
            if "sock" in loop_options:
                transport, connection = await loop.create_connection(
                    protocol_factory, **loop_options
                )
            else:
                transport, connection = await loop.create_connection(
                    protocol_factory, wsuri.host, wsuri.port, **loop_options
                )
            try:
                await connection._open(wsuri)
            except BaseException:
                transport.abort()
                raise
        # create_protocol returns a _P: the overloads say so.
        return connection  # type: ignore[return-value]  # pyright: ignore[reportReturnType]

    def __await__(self) -> Generator[object, None, _P]:
        return self._connect().__await__()

    async def __aenter__(self) -> _P:
        self._connection = await self._connect()
        return self._connection

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._connection is not None
        await self._connection.close()

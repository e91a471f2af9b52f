"""Opening a connection through a proxy, for :func:`~websockets_typed.connect`.

:func:`create_proxy_connection` is what ``connect()`` calls instead of
:meth:`asyncio.loop.create_connection` when a proxy applies: it opens a
tunnel to the WebSocket server through the proxy, then hands it to the
client's connection, with TLS to the server on top for ``wss://``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl as ssl_module
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar, cast

from .._socks import socks_arguments, socks_errors
from ..exceptions import InvalidProxyMessage, InvalidProxyStatus
from ..http11 import ConnectResponseParser, Response
from ..proxy import Proxy, check_proxy, prepare_connect_request

__all__ = ["create_proxy_connection"]

_P = TypeVar("_P", bound=asyncio.BaseProtocol)

# The options of loop.create_connection() that concern the TLS connection to
# the WebSocket server; the others concern the TCP connection to the proxy.
_SERVER_TLS_OPTIONS: Final = frozenset(
    {"ssl", "server_hostname", "ssl_handshake_timeout", "ssl_shutdown_timeout"}
)

_logger = logging.getLogger("websockets_typed.client")


async def create_proxy_connection(
    protocol_factory: Callable[[], _P],
    proxy: str,
    host: str,
    port: int,
    *,
    loop_options: Mapping[str, Any],
    proxy_ssl: ssl_module.SSLContext | bool | None = None,
    proxy_server_hostname: str | None = None,
    user_agent_header: str | None = None,
) -> _P:
    """Connect to ``host`` and ``port`` through ``proxy``; return the protocol.

    Args:
        protocol_factory: Builds the protocol of the connection to the
            server, as for :meth:`asyncio.loop.create_connection`.
        proxy: URL of the proxy: ``http://``, ``https://``, ``socks5://``,
            ``socks5h://``, ``socks4://`` or ``socks4a://``; user
            information in it authenticates to the proxy.
        host: Host of the WebSocket server; a SOCKS proxy resolves it for
            ``socks5h`` and ``socks4a``, an HTTP proxy always does.
        port: Port of the WebSocket server.
        loop_options: Options of :meth:`asyncio.loop.create_connection`:
            ``ssl``, ``server_hostname`` and the TLS timeouts apply to the
            server, the others to the TCP connection to the proxy.
        proxy_ssl: TLS context for an ``https://`` proxy (default: the
            platform's secure defaults); only for ``https://`` proxies.
        proxy_server_hostname: Host name to check the ``https://`` proxy's
            certificate against (default: the proxy's host).
        user_agent_header: ``User-Agent`` of the ``CONNECT`` request.

    Raises:
        InvalidProxy: If ``proxy`` isn't a valid proxy URL.
        InvalidProxyStatus: If an HTTP proxy refuses the tunnel.
        InvalidProxyMessage: If an HTTP proxy answers with a malformed
            response, or closes the connection without answering.
        ProxyError: If a SOCKS proxy refuses the tunnel.
        OSError: If the proxy can't be reached.
        ImportError: For a SOCKS proxy, if ``python-socks`` isn't installed.
        ValueError: See :func:`~websockets_typed.proxy.check_proxy`.
    """
    parsed = check_proxy(proxy, proxy_ssl, proxy_server_hostname)
    server_options = {
        name: value for name, value in loop_options.items() if name in _SERVER_TLS_OPTIONS
    }
    proxy_options = {
        name: value for name, value in loop_options.items() if name not in _SERVER_TLS_OPTIONS
    }
    _logger.debug("connecting to %s:%d through proxy %s", host, port, parsed)
    loop = asyncio.get_running_loop()
    if parsed.scheme.startswith("socks"):
        sock = await _open_socks_tunnel(parsed, host, port, proxy_options)
        _, protocol = await loop.create_connection(protocol_factory, sock=sock, **server_options)
        return protocol

    if parsed.scheme == "https":
        if proxy_ssl is None or proxy_ssl is True:
            proxy_ssl = ssl_module.create_default_context()
        proxy_options["ssl"] = proxy_ssl
        proxy_options["server_hostname"] = proxy_server_hostname or parsed.host
        if "ssl_handshake_timeout" in server_options:
            proxy_options["ssl_handshake_timeout"] = server_options["ssl_handshake_timeout"]
    transport, tunnel = await loop.create_connection(
        lambda: _TunnelProtocol(prepare_connect_request(parsed, host, port, user_agent_header)),
        parsed.host,
        parsed.port,
        **proxy_options,
    )
    try:
        await tunnel.wait_open(parsed)
        protocol = protocol_factory()
        transport.set_protocol(protocol)
        ssl = server_options.pop("ssl", None)
        if ssl is None:
            transport.resume_reading()
        else:
            # TLS to the server inside the tunnel, itself maybe inside TLS to
            # the proxy. start_tls() resumes reading, but doesn't call
            # connection_made().
            tls_transport = await loop.start_tls(transport, protocol, ssl, **server_options)
            assert tls_transport is not None  # None only if the transport is closing
            transport = tls_transport
    except BaseException:
        # E.g. cancelled by open_timeout: nobody will read the response.
        tunnel.response.cancel()
        transport.abort()
        raise
    protocol.connection_made(transport)
    return protocol


async def _open_socks_tunnel(
    proxy: Proxy, host: str, port: int, options: Mapping[str, Any]
) -> socket.socket:
    """Open a TCP connection to ``host`` and ``port`` through a SOCKS proxy."""
    # Raises ImportError naming the socks extra if python-socks is missing.
    arguments = socks_arguments(proxy)
    from python_socks.async_.asyncio import Proxy as SocksProxy  # noqa: PLC0415

    with socks_errors(proxy):
        return await SocksProxy(**arguments).connect(
            host, port, local_addr=options.get("local_addr")
        )


class _TunnelProtocol(asyncio.Protocol):
    """Sends ``CONNECT`` to an HTTP proxy and reads its answer."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.parser = ConnectResponseParser()
        self.buffer = bytearray()
        self.received = False
        self.response: asyncio.Future[Response] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP transport (uvloop's don't derive from asyncio.Transport).
        self.transport = cast("asyncio.Transport", transport)
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.received = True
        self.buffer += data
        try:
            response = self.parser.parse(self.buffer)
        except Exception as exc:
            self._finish(exc)
            return
        if response is not None:
            self._finish(response)

    def eof_received(self) -> None:
        if not self.received:
            self._finish(EOFError("proxy closed the connection"))
            return
        try:
            self._finish(self.parser.parse_eof(self.buffer))
        except Exception as exc:
            self._finish(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(EOFError("proxy closed the connection"))

    def _finish(self, outcome: Response | Exception) -> None:
        """Resolve :attr:`response` once; stop reading: what follows is the tunnel's."""
        if self.response.done():
            return
        if isinstance(outcome, Response):
            self.response.set_result(outcome)
        else:
            self.response.set_exception(outcome)
        self.transport.pause_reading()

    async def wait_open(self, proxy: Proxy) -> None:
        """Wait until the proxy opens the tunnel.

        Raises:
            InvalidProxyStatus: If the proxy answers with a status other than 2xx.
            InvalidProxyMessage: If the answer is malformed or missing.
        """
        try:
            response = await self.response
        except Exception as exc:
            raise InvalidProxyMessage(f"invalid response from proxy {proxy}: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise InvalidProxyStatus(response)
        if self.buffer:
            # The server can't have spoken: the client speaks first in both
            # the opening handshake and TLS.
            raise InvalidProxyMessage(f"unexpected data from proxy {proxy} after its response")

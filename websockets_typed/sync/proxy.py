"""Opening a connection through a proxy, for the threading ``connect()``.

:func:`connect_through_proxy` is what ``connect()`` calls instead of
:func:`socket.create_connection` when a proxy applies: it returns a blocking
socket whose stream is a tunnel to the WebSocket server, on which
``connect()`` then performs TLS (for ``wss://``) and the opening handshake.
The ``CONNECT`` request and the parsing of its answer are the asyncio
client's (:mod:`websockets_typed.proxy`,
:class:`~websockets_typed.http11.ConnectResponseParser`).

A ``wss://`` server through an ``https://`` proxy needs TLS inside TLS,
which :class:`ssl.SSLSocket` can't do: the tunnel is then a
``TLSInTLSSocket``, which runs the proxy's TLS session in memory, and to
which ``connect()`` adds the server's.
"""

from __future__ import annotations

import logging
import socket
import ssl as ssl_module

from .._socks import socks_arguments, socks_errors
from ..exceptions import InvalidProxyMessage, InvalidProxyStatus
from ..http11 import ConnectResponseParser, Response
from ..proxy import Proxy, check_proxy, prepare_connect_request
from ._options import remaining
from ._tls_in_tls import TLSInTLSSocket

__all__ = ["connect_through_proxy"]

_logger = logging.getLogger("websockets_typed.client")

_RECV_BUFSIZE = 4096


def connect_through_proxy(
    proxy: str,
    host: str,
    port: int,
    *,
    secure: bool = False,
    deadline: float | None = None,
    source_address: tuple[str, int] | None = None,
    proxy_ssl: ssl_module.SSLContext | None = None,
    proxy_server_hostname: str | None = None,
    user_agent_header: str | None = None,
) -> socket.socket:
    """Open a tunnel to ``host`` and ``port`` through ``proxy``; return its socket.

    Args:
        proxy: URL of the proxy: ``http://``, ``https://``, ``socks5://``,
            ``socks5h://``, ``socks4://`` or ``socks4a://``; user
            information in it authenticates to the proxy.
        host: Host of the WebSocket server; a SOCKS proxy resolves it for
            ``socks5h`` and ``socks4a``, an HTTP proxy always does.
        port: Port of the WebSocket server.
        secure: Whether TLS to the server follows (a ``wss://`` URI): then
            the tunnel through an ``https://`` proxy is a ``TLSInTLSSocket``.
        deadline: :func:`time.monotonic` time by which the tunnel must be open.
        source_address: Local address to bind to.
        proxy_ssl: TLS context for an ``https://`` proxy (default: the
            platform's secure defaults).
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
        TimeoutError: If the tunnel isn't open by ``deadline``.
        ImportError: For a SOCKS proxy, if ``python-socks`` isn't installed.
        ValueError: See :func:`~websockets_typed.proxy.check_proxy`.
    """
    parsed = check_proxy(proxy, proxy_ssl, proxy_server_hostname)
    _logger.debug("connecting to %s:%d through proxy %s", host, port, parsed)
    if parsed.scheme.startswith("socks"):
        return _open_socks_tunnel(parsed, host, port, deadline, source_address)
    sock = socket.create_connection((parsed.host, parsed.port), remaining(deadline), source_address)
    try:
        if parsed.scheme == "https":
            context = proxy_ssl or ssl_module.create_default_context()
            hostname = proxy_server_hostname or parsed.host
            if secure:
                # The server's TLS will run inside the proxy's: both in memory.
                sock = TLSInTLSSocket(sock)
                sock.settimeout(remaining(deadline))
                sock.add_tls(context, hostname)
            else:
                sock = context.wrap_socket(sock, server_hostname=hostname)
        sock.settimeout(remaining(deadline))
        sock.sendall(prepare_connect_request(parsed, host, port, user_agent_header))
        _read_connect_response(sock, parsed)
    except BaseException:
        sock.close()
        raise
    return sock


def _read_connect_response(sock: socket.socket, proxy: Proxy) -> Response:
    """Read the proxy's answer to ``CONNECT``; return it if it opens the tunnel.

    Raises:
        InvalidProxyStatus: If the proxy answers with a status other than 2xx.
        InvalidProxyMessage: If the answer is malformed or missing.
    """
    parser = ConnectResponseParser()
    buffer = bytearray()
    received = False
    response: Response | None = None
    while response is None:
        # Bytes past the response would be the server's, which can't have
        # spoken yet: the client speaks first in the handshake and in TLS.
        data = sock.recv(_RECV_BUFSIZE)
        try:
            if data:
                received = True
                buffer += data
                response = parser.parse(buffer)
            elif received:
                response = parser.parse_eof(buffer)
            else:
                raise EOFError("proxy closed the connection")
        except Exception as exc:
            raise InvalidProxyMessage(f"invalid response from proxy {proxy}: {exc}") from exc
    if not 200 <= response.status_code < 300:
        raise InvalidProxyStatus(response)
    if buffer:
        raise InvalidProxyMessage(f"unexpected data from proxy {proxy} after its response")
    return response


def _open_socks_tunnel(
    proxy: Proxy,
    host: str,
    port: int,
    deadline: float | None,
    source_address: tuple[str, int] | None,
) -> socket.socket:
    """Open a TCP connection to ``host`` and ``port`` through a SOCKS proxy."""
    # Raises ImportError naming the socks extra if python-socks is missing.
    arguments = socks_arguments(proxy)
    from python_socks.sync import Proxy as SocksProxy  # noqa: PLC0415

    with socks_errors(proxy):
        return SocksProxy(**arguments).connect(
            host, port, timeout=remaining(deadline), local_addr=source_address
        )

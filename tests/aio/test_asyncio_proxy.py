"""Tests of connect() through proxies: real proxy servers on loopback.

``pproxy`` (HTTP, HTTPS, SOCKS4, SOCKS5) and Debian's ``tinyproxy`` (HTTP)
run as subprocesses on free ports, once per module; tests prove that the
connection went through them by reading their logs. Misbehaving proxies
(refusing, closing, answering garbage) are tiny asyncio servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import sys
from typing import Unpack

import pytest
from process_helpers import free_port
from proxy_helpers import CREDENTIALS, TLS, ProxyProcess
from raw_peer import RawServer

from websockets_typed import (
    InvalidProxy,
    InvalidProxyMessage,
    InvalidProxyStatus,
    ProxyError,
    connect,
)
from websockets_typed.asyncio.client import ClientConnection, TCPConnectOptions, is_transient
from websockets_typed.asyncio.server import Server, ServerConnection, serve
from websockets_typed.exceptions import ConnectionClosed, InvalidHandshake
from websockets_typed.http11 import Request, Response

# The proxies, as module-scoped fixtures: open_proxy, auth_proxy, tls_proxy,
# tinyproxy, tinyproxy_auth, and tls.
pytest_plugins = ["proxy_fixtures"]


async def echo(websocket: ServerConnection) -> None:
    async for message in websocket:
        await websocket.send(message)


def port_of(server: Server | asyncio.Server) -> int:
    port: int = server.sockets[0].getsockname()[1]
    return port


async def check_echo(uri: str, **kwargs: Unpack[TCPConnectOptions]) -> None:
    """Connect to ``uri`` with ``kwargs`` and check that messages go both ways."""
    async with connect(uri, **kwargs) as websocket:
        await websocket.send("hello")
        assert await websocket.recv() == "hello"


# HTTP proxies: pproxy and tinyproxy, ws:// and wss://, with and without credentials.

HTTP_PROXIES = [
    ("open_proxy", None),
    ("auth_proxy", CREDENTIALS),
    ("tinyproxy", None),
    ("tinyproxy_auth", "alice:s3cr3tpass"),
]


@pytest.mark.parametrize(("proxy_fixture", "credentials"), HTTP_PROXIES)
async def test_http_proxy_ws(
    request: pytest.FixtureRequest, proxy_fixture: str, credentials: str | None
) -> None:
    proxy: ProxyProcess = request.getfixturevalue(proxy_fixture)
    async with serve(echo, "127.0.0.1", 0) as server:
        server_port = port_of(server)
        await check_echo(f"ws://127.0.0.1:{server_port}/", proxy=proxy.url("http", credentials))
    assert proxy.saw(server_port)


@pytest.mark.parametrize(("proxy_fixture", "credentials"), HTTP_PROXIES)
async def test_http_proxy_wss(
    request: pytest.FixtureRequest, tls: TLS, proxy_fixture: str, credentials: str | None
) -> None:
    proxy: ProxyProcess = request.getfixturevalue(proxy_fixture)
    async with serve(echo, "127.0.0.1", 0, ssl=tls.server_context) as server:
        server_port = port_of(server)
        await check_echo(
            f"wss://localhost:{server_port}/",
            host="127.0.0.1",
            ssl=tls.client_context,
            proxy=proxy.url("http", credentials),
        )
    assert proxy.saw(server_port)


@pytest.mark.parametrize("uri_scheme", ["ws", "wss"])
async def test_https_proxy(tls: TLS, tls_proxy: ProxyProcess, uri_scheme: str) -> None:
    server_ssl = tls.server_context if uri_scheme == "wss" else None
    client_ssl = tls.client_context if uri_scheme == "wss" else None
    async with serve(echo, "127.0.0.1", 0, ssl=server_ssl) as server:
        server_port = port_of(server)
        # TLS to the proxy, and for wss:// TLS to the server inside it.
        await check_echo(
            f"{uri_scheme}://127.0.0.1:{server_port}/",
            ssl=client_ssl,
            proxy=tls_proxy.url("https"),
            proxy_ssl=tls.client_context,
            ssl_handshake_timeout=5,
        )
    assert tls_proxy.saw(server_port)


async def test_https_proxy_server_hostname(tls: TLS, tls_proxy: ProxyProcess) -> None:
    async with serve(echo, "127.0.0.1", 0) as server:
        server_port = port_of(server)
        uri = f"ws://127.0.0.1:{server_port}/"
        await check_echo(
            uri,
            proxy=tls_proxy.url("https"),
            proxy_ssl=tls.client_context,
            proxy_server_hostname="localhost",
        )
        with pytest.raises(ssl.SSLCertVerificationError, match=r"example\.test"):
            await check_echo(
                uri,
                proxy=tls_proxy.url("https"),
                proxy_ssl=tls.client_context,
                proxy_server_hostname="example.test",
            )


async def test_https_proxy_verifies_certificate(tls_proxy: ProxyProcess) -> None:
    # The default context doesn't trust the test CA.
    async with serve(echo, "127.0.0.1", 0) as server:
        server_port = port_of(server)
        with pytest.raises(ssl.SSLCertVerificationError):
            await check_echo(f"ws://127.0.0.1:{server_port}/", proxy=tls_proxy.url("https"))


async def test_proxy_ssl_needs_https_proxy(tls: TLS, open_proxy: ProxyProcess) -> None:
    with pytest.raises(ValueError, match="need an https:// proxy"):
        await check_echo(
            "ws://127.0.0.1:1/", proxy=open_proxy.url("http"), proxy_ssl=tls.client_context
        )


# SOCKS proxies through python-socks.


@pytest.mark.parametrize("scheme", ["socks5", "socks5h", "socks4", "socks4a"])
@pytest.mark.parametrize("uri_scheme", ["ws", "wss"])
async def test_socks_proxy(
    tls: TLS, open_proxy: ProxyProcess, scheme: str, uri_scheme: str
) -> None:
    server_ssl = tls.server_context if uri_scheme == "wss" else None
    client_ssl = tls.client_context if uri_scheme == "wss" else None
    async with serve(echo, "127.0.0.1", 0, ssl=server_ssl) as server:
        server_port = port_of(server)
        # A host name: the proxy resolves it for socks5h. pproxy doesn't
        # support SOCKS4a's host names: an address then.
        host = "127.0.0.1" if scheme == "socks4a" else "localhost"
        await check_echo(
            f"{uri_scheme}://{host}:{server_port}/",
            ssl=client_ssl,
            proxy=open_proxy.url(scheme),
        )
    assert f":{server_port}" in open_proxy.log.read_text()


async def test_socks5_proxy_with_credentials(auth_proxy: ProxyProcess) -> None:
    async with serve(echo, "127.0.0.1", 0) as server:
        server_port = port_of(server)
        uri = f"ws://127.0.0.1:{server_port}/"
        await check_echo(uri, proxy=auth_proxy.url("socks5", CREDENTIALS))
        with pytest.raises(ProxyError, match=r"SOCKS proxy .* failed") as raised:
            await check_echo(uri, proxy=auth_proxy.url("socks5", "alice:wrong"))
        assert "wrong" not in str(raised.value)
        assert "alice:***@" in str(raised.value)


async def test_socks_proxy_unreachable() -> None:
    with pytest.raises(OSError, match="Could not connect to proxy"):
        await check_echo("ws://127.0.0.1:1/", proxy=f"socks5://127.0.0.1:{free_port()}")


async def test_socks_proxy_garbage() -> None:
    async with garbage_proxy(b"HTTP/1.1 200 OK\r\n\r\n", wait_request=False) as proxy:
        with pytest.raises(ProxyError, match="Unexpected SOCKS version number"):
            await check_echo("ws://127.0.0.1:1/", proxy=f"socks5://127.0.0.1:{proxy.port}")


async def test_socks_proxy_closes() -> None:
    async with garbage_proxy(b"", wait_request=False) as proxy:
        with pytest.raises(ProxyError, match="failed: Connection closed unexpectedly"):
            await check_echo("ws://127.0.0.1:1/", proxy=f"socks5://127.0.0.1:{proxy.port}")


async def test_socks_needs_python_socks(monkeypatch: pytest.MonkeyPatch) -> None:
    # As if python-socks weren't installed: importing it fails.
    monkeypatch.setitem(sys.modules, "python_socks", None)
    with pytest.raises(ImportError, match=r"pip install 'websockets_typed\[socks\]'"):
        await check_echo("ws://127.0.0.1:1/", proxy="socks5://127.0.0.1:1")


# HTTP proxies that refuse, close or answer garbage.


async def test_proxy_requires_credentials(auth_proxy: ProxyProcess) -> None:
    with pytest.raises(InvalidProxyStatus) as raised:
        await check_echo("ws://127.0.0.1:1/", proxy=auth_proxy.url("http"))
    assert raised.value.response.status_code == 407
    assert str(raised.value) == "proxy rejected connection: HTTP 407"
    assert not is_transient(raised.value)


async def test_proxy_refuses_credentials(
    tinyproxy_auth: ProxyProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    proxy = tinyproxy_auth.url("http", "alice:wrongpassword")
    with pytest.raises(InvalidProxyStatus) as raised:
        await check_echo("ws://127.0.0.1:1/", proxy=proxy)
    # tinyproxy answers wrong credentials with 401, and explains.
    response = raised.value.response
    assert response.status_code == 401
    assert response.body is not None
    assert b"Unauthorized" in response.body
    # Credentials appear neither in the logs nor in the exception.
    assert caplog.records
    for record in caplog.records:
        assert "wrongpassword" not in record.getMessage()
    assert "wrongpassword" not in repr(raised.value)


async def test_proxy_cannot_reach_server(tinyproxy: ProxyProcess) -> None:
    with pytest.raises(InvalidProxyStatus) as raised:
        await check_echo(f"ws://127.0.0.1:{free_port()}/", proxy=tinyproxy.url("http"))
    # The server may come back: worth retrying.
    assert raised.value.response.status_code == 500
    assert is_transient(raised.value)


def garbage_proxy(answer: bytes, *, wait_request: bool = True) -> RawServer:
    """A raw server that answers anything with ``answer``, then closes."""

    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if wait_request:
            with contextlib.suppress(asyncio.IncompleteReadError):
                await reader.readuntil(b"\r\n\r\n")
        else:
            await reader.read(1)
        writer.write(answer)

    return RawServer(respond=respond)


async def test_proxy_forbids() -> None:
    answer = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\nforbidden\n"
    async with garbage_proxy(answer) as proxy:
        with pytest.raises(InvalidProxyStatus) as raised:
            await check_echo("ws://127.0.0.1:1/", proxy=f"http://127.0.0.1:{proxy.port}")
    assert raised.value.response.status_code == 403
    assert raised.value.response.body == b"forbidden\n"
    assert not is_transient(raised.value)


async def test_proxy_closes() -> None:
    async with garbage_proxy(b"") as proxy:
        with pytest.raises(InvalidProxyMessage, match="proxy closed the connection") as raised:
            await check_echo("ws://127.0.0.1:1/", proxy=f"http://127.0.0.1:{proxy.port}")
    assert isinstance(raised.value, InvalidHandshake)
    assert is_transient(raised.value)


async def test_proxy_answers_garbage() -> None:
    async with garbage_proxy(b"SSH-2.0-OpenSSH_9.2\r\n\r\n") as proxy:
        with pytest.raises(InvalidProxyMessage, match="invalid HTTP status line") as raised:
            await check_echo("ws://127.0.0.1:1/", proxy=f"http://127.0.0.1:{proxy.port}")
    assert not is_transient(raised.value)


async def test_proxy_truncated_answer() -> None:
    async with garbage_proxy(b"HTTP/1.1 200 Connection established\r\n") as proxy:
        with pytest.raises(InvalidProxyMessage, match="connection closed while reading HTTP"):
            await check_echo("ws://127.0.0.1:1/", proxy=f"http://127.0.0.1:{proxy.port}")


async def test_proxy_sends_data_after_answer() -> None:
    answer = b"HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.1 101 Switching Protocols\r\n"
    async with garbage_proxy(answer) as proxy:
        with pytest.raises(InvalidProxyMessage, match="unexpected data"):
            await check_echo("ws://127.0.0.1:1/", proxy=f"http://127.0.0.1:{proxy.port}")


async def test_proxy_open_timeout() -> None:
    # A proxy that never answers: open_timeout covers the tunnel too.
    with socket.socket() as proxy:
        proxy.bind(("127.0.0.1", 0))
        proxy.listen(8)  # connections wait in the kernel's backlog
        proxy_url = f"http://127.0.0.1:{proxy.getsockname()[1]}"
        with pytest.raises(TimeoutError):
            await check_echo("ws://127.0.0.1:1/", proxy=proxy_url, open_timeout=0.2)


async def test_proxy_unreachable() -> None:
    with pytest.raises(ConnectionRefusedError):
        await check_echo("ws://127.0.0.1:1/", proxy=f"http://127.0.0.1:{free_port()}")


def test_invalid_proxy_fails_at_once() -> None:
    with pytest.raises(InvalidProxy, match="isn't a valid proxy"):
        connect("ws://127.0.0.1:1/", proxy="ftp://proxy")


def test_proxy_with_socket_fails_at_once() -> None:
    with socket.socket() as sock, pytest.raises(ValueError, match="incompatible with sock"):
        connect("ws://127.0.0.1:1/", proxy="http://proxy", sock=sock)


# The environment.


async def test_proxy_from_environment(
    monkeypatch: pytest.MonkeyPatch, tls: TLS, open_proxy: ProxyProcess
) -> None:
    monkeypatch.setenv("http_proxy", open_proxy.url("http"))
    monkeypatch.setenv("https_proxy", open_proxy.url("socks5"))
    async with serve(echo, "127.0.0.1", 0) as server:
        server_port = port_of(server)
        await check_echo(f"ws://127.0.0.1:{server_port}/")
    assert open_proxy.saw(server_port)
    async with serve(echo, "127.0.0.1", 0, ssl=tls.server_context) as server:
        server_port = port_of(server)
        await check_echo(f"wss://127.0.0.1:{server_port}/", ssl=tls.client_context)
    assert open_proxy.saw(server_port)


async def test_proxy_none_ignores_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy that isn't there: only a direct connection succeeds.
    monkeypatch.setenv("all_proxy", f"http://127.0.0.1:{free_port()}")
    async with serve(echo, "127.0.0.1", 0) as server:
        server_port = port_of(server)
        uri = f"ws://127.0.0.1:{server_port}/"
        with pytest.raises(ConnectionRefusedError):
            await check_echo(uri)
        await check_echo(uri, proxy=None)


async def test_no_proxy_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("all_proxy", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    async with serve(echo, "127.0.0.1", 0) as server:
        server_port = port_of(server)
        await check_echo(f"ws://127.0.0.1:{server_port}/")


# Reconnection and redirects go through the proxy.


async def test_reconnect_through_proxy(open_proxy: ProxyProcess) -> None:
    count = 0

    async def handler(websocket: ServerConnection) -> None:
        nonlocal count
        count += 1
        await websocket.send(str(count))

    received: list[str | bytes] = []
    websockets: list[ClientConnection] = []
    async with serve(handler, "127.0.0.1", 0) as server:
        server_port = port_of(server)
        uri = f"ws://127.0.0.1:{server_port}/"
        async with asyncio.timeout(10):
            async for websocket in connect(uri, proxy=open_proxy.url("http")):
                websockets.append(websocket)
                received.append(await websocket.recv())
                if len(received) == 2:
                    break
                with pytest.raises(ConnectionClosed):
                    await websocket.recv()
            # Leaving the loop finalizes the generator, which closes the
            # connection in a task of its own: without waiting for it, the
            # proxy's end of the tunnel could reach the client after the
            # test's event loop closed.
            await websockets[-1].wait_closed()
    assert received == ["1", "2"]
    assert open_proxy.log.read_text().count(f"127.0.0.1:{server_port}") == 2


async def test_redirect_through_proxy(open_proxy: ProxyProcess) -> None:
    async with serve(echo, "127.0.0.1", 0) as target:
        target_port = port_of(target)
        location = f"ws://127.0.0.1:{target_port}/"

        def redirect(connection: ServerConnection, request: Request) -> Response:
            response = connection.respond(302, "")
            response.headers["Location"] = location
            return response

        async with serve(echo, "127.0.0.1", 0, process_request=redirect) as server:
            server_port = port_of(server)
            await check_echo(f"ws://127.0.0.1:{server_port}/", proxy=open_proxy.url("http"))
    assert open_proxy.saw(server_port)
    assert open_proxy.saw(target_port)

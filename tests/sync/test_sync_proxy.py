"""Tests of the threading connect() through proxies: real proxy servers on loopback.

The same proxies as tests/aio/test_asyncio_proxy.py (pproxy for HTTP,
HTTPS, SOCKS4 and SOCKS5; Debian's tinyproxy for HTTP), as subprocesses on
free ports, once per module; tests prove that the connection went through
them by reading their logs. Misbehaving proxies (refusing, closing,
answering garbage) are tiny servers in a thread.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import sys
import threading
from collections.abc import Generator
from typing import Unpack

import pytest
from process_helpers import free_port
from proxy_helpers import CREDENTIALS, TLS, ProxyProcess
from sync_helpers import TIMEOUT, echo, port_of, running

from websockets_typed.exceptions import (
    InvalidHandshake,
    InvalidProxy,
    InvalidProxyMessage,
    InvalidProxyStatus,
    ProxyError,
)
from websockets_typed.sync.client import TCPConnectOptions, connect, unix_connect

# The proxies, as module-scoped fixtures: open_proxy, auth_proxy, tls_proxy,
# tinyproxy, tinyproxy_auth, and tls.
pytest_plugins = ["proxy_fixtures"]


def check_echo(uri: str, **kwargs: Unpack[TCPConnectOptions]) -> None:
    """Connect to ``uri`` with ``kwargs`` and check that messages go both ways."""
    kwargs.setdefault("open_timeout", TIMEOUT)
    with connect(uri, **kwargs) as websocket:
        websocket.send("hello")
        assert websocket.recv(TIMEOUT) == "hello"


# HTTP proxies: pproxy and tinyproxy, ws:// and wss://, with and without credentials.

HTTP_PROXIES = [
    ("open_proxy", None),
    ("auth_proxy", CREDENTIALS),
    ("tinyproxy", None),
    ("tinyproxy_auth", "alice:s3cr3tpass"),
]


@pytest.mark.parametrize(("proxy_fixture", "credentials"), HTTP_PROXIES)
@pytest.mark.parametrize("uri_scheme", ["ws", "wss"])
def test_http_proxy(
    request: pytest.FixtureRequest,
    tls: TLS,
    proxy_fixture: str,
    credentials: str | None,
    uri_scheme: str,
) -> None:
    proxy: ProxyProcess = request.getfixturevalue(proxy_fixture)
    secure = uri_scheme == "wss"
    with running(echo, ssl=tls.server_context if secure else None) as server:
        server_port = port_of(server)
        check_echo(
            f"{uri_scheme}://127.0.0.1:{server_port}/",
            ssl=tls.client_context if secure else None,
            proxy=proxy.url("http", credentials),
        )
    assert proxy.saw(server_port)


@pytest.mark.parametrize("uri_scheme", ["ws", "wss"])
def test_https_proxy(tls: TLS, tls_proxy: ProxyProcess, uri_scheme: str) -> None:
    secure = uri_scheme == "wss"
    with running(echo, ssl=tls.server_context if secure else None) as server:
        server_port = port_of(server)
        # TLS to the proxy, and for wss:// TLS to the server inside it.
        check_echo(
            f"{uri_scheme}://127.0.0.1:{server_port}/",
            ssl=tls.client_context if secure else None,
            proxy=tls_proxy.url("https"),
            proxy_ssl=tls.client_context,
        )
    assert tls_proxy.saw(server_port)


def test_https_proxy_server_hostname(tls: TLS, tls_proxy: ProxyProcess) -> None:
    with running(echo) as server:
        uri = f"ws://127.0.0.1:{port_of(server)}/"
        check_echo(
            uri,
            proxy=tls_proxy.url("https"),
            proxy_ssl=tls.client_context,
            proxy_server_hostname="localhost",
        )
        with pytest.raises(ssl.SSLCertVerificationError, match=r"example\.test"):
            check_echo(
                uri,
                proxy=tls_proxy.url("https"),
                proxy_ssl=tls.client_context,
                proxy_server_hostname="example.test",
            )


def test_https_proxy_verifies_certificate(tls_proxy: ProxyProcess) -> None:
    # The default context doesn't trust the test CA.
    with pytest.raises(ssl.SSLCertVerificationError):
        check_echo("ws://127.0.0.1:1/", proxy=tls_proxy.url("https"))


def test_proxy_ssl_needs_https_proxy(tls: TLS, open_proxy: ProxyProcess) -> None:
    with pytest.raises(ValueError, match="need an https:// proxy"):
        connect("ws://127.0.0.1:1/", proxy=open_proxy.url("http"), proxy_ssl=tls.client_context)


# SOCKS proxies through python-socks' blocking API.


@pytest.mark.parametrize("scheme", ["socks5", "socks5h", "socks4", "socks4a"])
@pytest.mark.parametrize("uri_scheme", ["ws", "wss"])
def test_socks_proxy(tls: TLS, open_proxy: ProxyProcess, scheme: str, uri_scheme: str) -> None:
    secure = uri_scheme == "wss"
    with running(echo, ssl=tls.server_context if secure else None) as server:
        server_port = port_of(server)
        # A host name: the proxy resolves it for socks5h. pproxy doesn't
        # support SOCKS4a's host names: an address then.
        host = "127.0.0.1" if scheme == "socks4a" else "localhost"
        check_echo(
            f"{uri_scheme}://{host}:{server_port}/",
            ssl=tls.client_context if secure else None,
            proxy=open_proxy.url(scheme),
        )
    assert f":{server_port}" in open_proxy.log.read_text()


def test_socks5_proxy_with_credentials(auth_proxy: ProxyProcess) -> None:
    with running(echo) as server:
        uri = f"ws://127.0.0.1:{port_of(server)}/"
        check_echo(uri, proxy=auth_proxy.url("socks5", CREDENTIALS))
        with pytest.raises(ProxyError, match=r"SOCKS proxy .* failed") as raised:
            check_echo(uri, proxy=auth_proxy.url("socks5", "alice:wrong"))
        assert "wrong" not in str(raised.value)
        assert "alice:***@" in str(raised.value)


def test_socks_proxy_unreachable() -> None:
    with pytest.raises(OSError, match="Could not connect to proxy"):
        check_echo("ws://127.0.0.1:1/", proxy=f"socks5://127.0.0.1:{free_port()}")


def test_socks_proxy_garbage() -> None:
    with (
        garbage_proxy(b"HTTP/1.1 200 OK\r\n\r\n", wait_request=False) as proxy,
        pytest.raises(ProxyError, match="Unexpected SOCKS version number"),
    ):
        check_echo("ws://127.0.0.1:1/", proxy=f"socks5://127.0.0.1:{port_of(proxy)}")


def test_socks_needs_python_socks(monkeypatch: pytest.MonkeyPatch) -> None:
    # As if python-socks weren't installed: importing it fails.
    monkeypatch.setitem(sys.modules, "python_socks", None)
    with pytest.raises(ImportError, match=r"pip install 'websockets_typed\[socks\]'"):
        check_echo("ws://127.0.0.1:1/", proxy="socks5://127.0.0.1:1")


# HTTP proxies that refuse, close or answer garbage.


def test_proxy_requires_credentials(auth_proxy: ProxyProcess) -> None:
    with pytest.raises(InvalidProxyStatus) as raised:
        check_echo("ws://127.0.0.1:1/", proxy=auth_proxy.url("http"))
    assert raised.value.response.status_code == 407
    assert str(raised.value) == "proxy rejected connection: HTTP 407"


def test_proxy_refuses_credentials(
    tinyproxy_auth: ProxyProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    proxy = tinyproxy_auth.url("http", "alice:wrongpassword")
    with pytest.raises(InvalidProxyStatus) as raised:
        check_echo("ws://127.0.0.1:1/", proxy=proxy)
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


def test_proxy_cannot_reach_server(tinyproxy: ProxyProcess) -> None:
    with pytest.raises(InvalidProxyStatus) as raised:
        check_echo(f"ws://127.0.0.1:{free_port()}/", proxy=tinyproxy.url("http"))
    assert raised.value.response.status_code == 500


@contextlib.contextmanager
def garbage_proxy(answer: bytes, *, wait_request: bool = True) -> Generator[socket.socket]:
    """A TCP server that answers one connection with ``answer``, then closes it."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)

        def handle() -> None:
            client, _ = listener.accept()
            with client:
                client.settimeout(TIMEOUT)
                received = b""
                while (b"\r\n\r\n" not in received) if wait_request else not received:
                    data = client.recv(4096)
                    if not data:
                        break
                    received += data
                client.sendall(answer)

        thread = threading.Thread(target=handle)
        thread.start()
        try:
            yield listener
        finally:
            thread.join(TIMEOUT)
            assert not thread.is_alive()


def test_proxy_forbids() -> None:
    answer = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\nforbidden\n"
    with garbage_proxy(answer) as proxy, pytest.raises(InvalidProxyStatus) as raised:
        check_echo("ws://127.0.0.1:1/", proxy=f"http://127.0.0.1:{port_of(proxy)}")
    assert raised.value.response.status_code == 403
    assert raised.value.response.body == b"forbidden\n"


def test_proxy_closes() -> None:
    with (
        garbage_proxy(b"") as proxy,
        pytest.raises(InvalidProxyMessage, match="proxy closed the connection") as raised,
    ):
        check_echo("ws://127.0.0.1:1/", proxy=f"http://127.0.0.1:{port_of(proxy)}")
    assert isinstance(raised.value, InvalidHandshake)


def test_proxy_answers_garbage() -> None:
    with (
        garbage_proxy(b"SSH-2.0-OpenSSH_9.2\r\n\r\n") as proxy,
        pytest.raises(InvalidProxyMessage, match="invalid HTTP status line"),
    ):
        check_echo("ws://127.0.0.1:1/", proxy=f"http://127.0.0.1:{port_of(proxy)}")


def test_proxy_truncated_answer() -> None:
    with (
        garbage_proxy(b"HTTP/1.1 200 Connection established\r\n") as proxy,
        pytest.raises(InvalidProxyMessage, match="connection closed while reading HTTP"),
    ):
        check_echo("ws://127.0.0.1:1/", proxy=f"http://127.0.0.1:{port_of(proxy)}")


def test_proxy_answer_ended_by_connection() -> None:
    # A 403 whose body ends with the connection: complete at the end.
    answer = b"HTTP/1.1 403 Forbidden\r\n\r\nno"
    with garbage_proxy(answer) as proxy, pytest.raises(InvalidProxyStatus) as raised:
        check_echo("ws://127.0.0.1:1/", proxy=f"http://127.0.0.1:{port_of(proxy)}")
    assert raised.value.response.body == b"no"


def test_proxy_sends_data_after_answer() -> None:
    answer = b"HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.1 101 Switching Protocols\r\n"
    with (
        garbage_proxy(answer) as proxy,
        pytest.raises(InvalidProxyMessage, match="unexpected data"),
    ):
        check_echo("ws://127.0.0.1:1/", proxy=f"http://127.0.0.1:{port_of(proxy)}")


def test_proxy_open_timeout() -> None:
    # A proxy that never answers: open_timeout covers the tunnel too.
    # Connections wait in the kernel's backlog.
    with (
        socket.create_server(("127.0.0.1", 0)) as proxy,
        pytest.raises(TimeoutError),
    ):
        check_echo(
            "ws://127.0.0.1:1/", proxy=f"http://127.0.0.1:{port_of(proxy)}", open_timeout=0.2
        )


@pytest.mark.parametrize("scheme", ["http", "socks5"])
def test_proxy_without_open_timeout(open_proxy: ProxyProcess, scheme: str) -> None:
    # No deadline: the tunnel waits as long as it takes.
    with running(echo) as server:
        server_port = port_of(server)
        check_echo(
            f"ws://127.0.0.1:{server_port}/", proxy=open_proxy.url(scheme), open_timeout=None
        )
    assert f":{server_port}" in open_proxy.log.read_text()


def test_proxy_unreachable() -> None:
    with pytest.raises(ConnectionRefusedError):
        check_echo("ws://127.0.0.1:1/", proxy=f"http://127.0.0.1:{free_port()}")


def test_invalid_proxy_fails_at_once() -> None:
    with pytest.raises(InvalidProxy, match="isn't a valid proxy"):
        connect("ws://127.0.0.1:1/", proxy="ftp://proxy")


def test_proxy_with_socket_fails_at_once() -> None:
    with socket.socket() as sock, pytest.raises(ValueError, match="incompatible with sock"):
        connect("ws://127.0.0.1:1/", proxy="http://proxy", sock=sock)


def test_unix_connect_has_no_proxy() -> None:
    with pytest.raises(TypeError, match="'proxy'"):
        unix_connect("/nonexistent", proxy=None)  # type: ignore[call-arg] # pyright: ignore[reportCallIssue]


# The environment.


def test_proxy_from_environment(
    monkeypatch: pytest.MonkeyPatch, tls: TLS, open_proxy: ProxyProcess
) -> None:
    monkeypatch.setenv("http_proxy", open_proxy.url("http"))
    monkeypatch.setenv("https_proxy", open_proxy.url("socks5"))
    with running(echo) as server:
        server_port = port_of(server)
        check_echo(f"ws://127.0.0.1:{server_port}/")
    assert open_proxy.saw(server_port)
    with running(echo, ssl=tls.server_context) as server:
        server_port = port_of(server)
        check_echo(f"wss://127.0.0.1:{server_port}/", ssl=tls.client_context)
    assert open_proxy.saw(server_port)


def test_proxy_none_ignores_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy that isn't there: only a direct connection succeeds.
    monkeypatch.setenv("all_proxy", f"http://127.0.0.1:{free_port()}")
    with running(echo) as server:
        uri = f"ws://127.0.0.1:{port_of(server)}/"
        with pytest.raises(ConnectionRefusedError):
            check_echo(uri)
        check_echo(uri, proxy=None)


def test_no_proxy_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("all_proxy", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    with running(echo) as server:
        check_echo(f"ws://127.0.0.1:{port_of(server)}/")

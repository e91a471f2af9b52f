"""Tests of the threading client's ``wss://`` through an ``https://`` proxy: TLS inside TLS.

Real parts: pproxy serving HTTP over TLS (certificates from trustme), the
threading server behind it over TLS, and small in-test proxies in a thread
for the answers pproxy won't give (403, silence). The tests prove that the
connection went through the proxy by reading its log.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import Generator
from typing import Unpack

import pytest
from process_helpers import free_port
from proxy_helpers import CREDENTIALS, TLS, ProxyProcess
from sync_helpers import (
    TIMEOUT,
    echo,
    port_of,
    running,
    start_thread,
    tls_contexts,
    uri_of,
    wait_until_send_blocks,
)

from websockets_typed.exceptions import ConnectionClosedOK, InvalidProxyStatus
from websockets_typed.sync._tls_in_tls import TLSInTLSSocket
from websockets_typed.sync.client import ClientConnection, TCPConnectOptions, connect
from websockets_typed.sync.proxy import connect_through_proxy
from websockets_typed.sync.server import Server, ServerConnection

# The proxies, as module-scoped fixtures: tls_proxy, tls_auth_proxy and tls.
pytest_plugins = ["proxy_fixtures"]


def wss_through(
    tls: TLS, proxy_url: str, server: Server, **kwargs: Unpack[TCPConnectOptions]
) -> ClientConnection:
    """Connect to ``server`` with wss:// through the https:// ``proxy_url``."""
    kwargs.setdefault("ssl", tls.client_context)
    kwargs.setdefault("proxy_ssl", tls.client_context)
    kwargs.setdefault("open_timeout", TIMEOUT)
    kwargs["proxy"] = proxy_url
    return connect(uri_of(server, scheme="wss"), **kwargs)


def test_wss_through_https_proxy(tls: TLS, tls_proxy: ProxyProcess) -> None:
    # The server's certificate comes from another CA than the proxy's: each
    # session verifies against its own context.
    server_context, client_context = tls_contexts()
    with running(echo, ssl=server_context) as server:
        with wss_through(tls, tls_proxy.url("https"), server, ssl=client_context) as websocket:
            assert isinstance(websocket.socket, TLSInTLSSocket)
            # The server's certificate (for 127.0.0.1 only), not the proxy's.
            certificate = websocket.socket.getpeercert()
            assert certificate is not None
            assert certificate["subjectAltName"] == (("IP Address", "127.0.0.1"),)
            assert websocket.socket.getpeercert(binary_form=True)
            assert websocket.socket.version() == "TLSv1.3"
            cipher = websocket.socket.cipher()
            assert cipher is not None
            assert cipher[1] == "TLSv1.3"
            websocket.send("hello")
            assert websocket.recv(TIMEOUT) == "hello"
            # Keepalive goes through both sessions too.
            assert websocket.ping().wait(TIMEOUT)
            # The proxy is the peer on TCP.
            assert websocket.remote_address[1] == tls_proxy.port
        assert websocket.close_code == 1000
        assert tls_proxy.saw(port_of(server))


@contextlib.contextmanager
def flow_controlled_proxy(tls: TLS) -> Generator[str]:
    """An https:// proxy on asyncio streams in a thread; yields its URL.

    Unlike pproxy, which buffers without limit, it stops reading from one
    side while it can't write to the other, as a proxy should.
    """
    ready: list[tuple[asyncio.AbstractEventLoop, asyncio.Event, int]] = []
    started = threading.Event()

    async def pipe(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await source.read(65536):
                target.write(data)
                await target.drain()
        target.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        host, _, port = request.split()[1].decode().rpartition(":")
        server_reader, server_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await asyncio.gather(pipe(reader, server_writer), pipe(server_reader, writer))

    async def serve() -> None:
        stop = asyncio.Event()
        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls.server_context)
        async with server:
            ready.append((asyncio.get_running_loop(), stop, port_of(server.sockets[0])))
            started.set()
            await stop.wait()

    thread = start_thread(asyncio.run, serve())
    assert started.wait(TIMEOUT)
    loop, stop, port = ready[0]
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(TIMEOUT)
        assert not thread.is_alive()


def test_large_messages_wait_for_room(tls: TLS) -> None:
    # The server reads nothing until the gate opens: buffers fill up to the
    # client, whose writes wait for room (SSLWantWriteError, then the same
    # bytes again) while its reading thread shares the socket. Nothing is
    # lost or reordered, and nothing deadlocks.
    gate = threading.Event()
    messages = [bytes([index]) * (1 << 20) for index in range(8)]

    def gated_echo(websocket: ServerConnection) -> None:
        gate.wait(TIMEOUT)
        echo(websocket)

    with (
        flow_controlled_proxy(tls) as proxy,
        running(gated_echo, ssl=tls.server_context, max_size=None, max_queue=1) as server,
        wss_through(tls, proxy, server, max_size=None, compression=None) as websocket,
    ):
        websocket.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        writer = start_thread(send_all, websocket, messages)
        wait_until_send_blocks(websocket)
        gate.set()
        received = [websocket.recv(TIMEOUT) for _ in messages]
        writer.join(TIMEOUT)
        assert not writer.is_alive()
    assert received == messages


def send_all(websocket: ClientConnection, messages: list[bytes]) -> None:
    for message in messages:
        websocket.send(message)


def test_server_closes(tls: TLS, tls_proxy: ProxyProcess) -> None:
    def say_bye(websocket: ServerConnection) -> None:
        websocket.close(1001, "bye")

    with running(say_bye, ssl=tls.server_context) as server:
        with wss_through(tls, tls_proxy.url("https"), server) as websocket:
            with pytest.raises(ConnectionClosedOK):
                websocket.recv(TIMEOUT)
            assert websocket.wait_closed(TIMEOUT)
        assert (websocket.close_code, websocket.close_reason) == (1001, "bye")


def test_proxy_credentials(tls: TLS, tls_auth_proxy: ProxyProcess) -> None:
    with running(echo, ssl=tls.server_context) as server:
        with wss_through(tls, tls_auth_proxy.url("https", CREDENTIALS), server) as websocket:
            websocket.send("hello")
            assert websocket.recv(TIMEOUT) == "hello"
        with (
            pytest.raises(InvalidProxyStatus) as raised,
            wss_through(tls, tls_auth_proxy.url("https"), server),
        ):
            pass
        assert tls_auth_proxy.saw(port_of(server))
    assert raised.value.response.status_code == 407


@contextlib.contextmanager
def in_test_proxy(tls: TLS, answer: bytes | None) -> Generator[str]:
    """An https:// proxy for one client: answers ``CONNECT`` with ``answer``,
    or never if ``None``; yields its URL."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)
        requests: list[bytes] = []

        def handle() -> None:
            client, _ = listener.accept()
            with contextlib.suppress(OSError), client:
                client.settimeout(TIMEOUT)
                with tls.server_context.wrap_socket(client, server_side=True) as tunnel:
                    request = b""
                    while b"\r\n\r\n" not in request:
                        request += tunnel.recv(4096)
                    requests.append(request)
                    if answer is None:
                        tunnel.recv(1)  # until the client gives up
                    else:
                        tunnel.sendall(answer)

        thread = threading.Thread(target=handle)
        thread.start()
        try:
            yield f"https://127.0.0.1:{port_of(listener)}"
        finally:
            thread.join(TIMEOUT)
            assert not thread.is_alive()
    assert requests
    assert requests[0].startswith(b"CONNECT 127.0.0.1:")


def test_proxy_forbids(tls: TLS) -> None:
    answer = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\nforbidden\n"
    with (
        running(echo, ssl=tls.server_context) as server,
        in_test_proxy(tls, answer) as proxy,
        pytest.raises(InvalidProxyStatus) as raised,
        wss_through(tls, proxy, server),
    ):
        pass
    assert raised.value.response.status_code == 403
    assert raised.value.response.body == b"forbidden\n"


def test_proxy_never_answers(tls: TLS) -> None:
    # open_timeout covers the CONNECT request inside TLS to the proxy.
    with (
        running(echo, ssl=tls.server_context) as server,
        in_test_proxy(tls, None) as proxy,
        pytest.raises(TimeoutError),
        # Long enough for the TLS handshake with the proxy on a busy machine:
        # the proxy checks that the CONNECT request came.
        wss_through(tls, proxy, server, open_timeout=2),
    ):
        pass


def test_server_never_answers_tls(tls: TLS, tls_proxy: ProxyProcess) -> None:
    # The server accepts the tunnel, reads the client's TLS handshake, and
    # never answers it.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        silent.settimeout(TIMEOUT)
        hello: list[bytes] = []

        def read_hello() -> None:
            sock, _ = silent.accept()
            with sock:
                sock.settimeout(TIMEOUT)
                hello.append(sock.recv(5))  # a TLS record header
                while sock.recv(4096):  # until the client gives up
                    pass

        thread = start_thread(read_hello)
        with pytest.raises(TimeoutError):
            connect(
                f"wss://127.0.0.1:{port_of(silent)}/",
                ssl=tls.client_context,
                proxy=tls_proxy.url("https"),
                proxy_ssl=tls.client_context,
                open_timeout=2,
            )
        thread.join(TIMEOUT)
    # 22: a handshake record (RFC 8446, 5.1).
    assert hello[0][0] == 22


def test_server_certificate_verified(tls: TLS, tls_proxy: ProxyProcess) -> None:
    # The proxy's certificate verifies; the server's, inside, doesn't.
    with running(echo, ssl=tls.server_context) as server:
        with (
            pytest.raises(ssl.SSLCertVerificationError, match=r"example\.test"),
            wss_through(tls, tls_proxy.url("https"), server, server_hostname="example.test"),
        ):
            pass
        # The default context doesn't trust the test CA.
        with pytest.raises(ssl.SSLCertVerificationError, match=r"self-signed|local issuer"):
            connect(
                uri_of(server, scheme="wss"),
                proxy=tls_proxy.url("https"),
                proxy_ssl=tls.client_context,
                open_timeout=TIMEOUT,
            )
        assert tls_proxy.saw(port_of(server))


def test_proxy_certificate_verified(tls: TLS, tls_proxy: ProxyProcess) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match=r"example\.test"):
        connect(
            f"wss://127.0.0.1:{free_port()}/",
            ssl=tls.client_context,
            proxy=tls_proxy.url("https"),
            proxy_ssl=tls.client_context,
            proxy_server_hostname="example.test",
            open_timeout=TIMEOUT,
        )


# The socket itself, through pproxy to a TLS server in a thread.


@contextlib.contextmanager
def tls_tunnel(
    tls: TLS, tls_proxy: ProxyProcess
) -> Generator[tuple[TLSInTLSSocket, ssl.SSLSocket]]:
    """A TLS-in-TLS socket to a TLS server in a thread; yield both ends."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)
        peer: list[ssl.SSLSocket] = []
        accepted = threading.Event()

        def accept() -> None:
            sock, _ = listener.accept()
            peer.append(tls.server_context.wrap_socket(sock, server_side=True))
            accepted.set()

        thread = start_thread(accept)
        sock = connect_through_proxy(
            tls_proxy.url("https"),
            "127.0.0.1",
            port_of(listener),
            secure=True,
            proxy_ssl=tls.client_context,
        )
        assert isinstance(sock, TLSInTLSSocket)
        with sock:
            sock.settimeout(TIMEOUT)
            sock.add_tls(tls.client_context, "localhost")
            assert accepted.wait(TIMEOUT)
            thread.join(TIMEOUT)
            with peer[0]:
                peer[0].settimeout(TIMEOUT)
                yield sock, peer[0]


def test_socket_sends_and_receives(tls: TLS, tls_proxy: ProxyProcess) -> None:
    with tls_tunnel(tls, tls_proxy) as (sock, peer):
        sock.sendall(b"ping")
        assert peer.recv(4) == b"ping"
        peer.sendall(b"pong")
        buffer = bytearray(16)
        assert sock.recv_into(buffer) == 4
        assert buffer[:4] == b"pong"
        # Non-blocking: nothing to read yet.
        sock.setblocking(False)
        with pytest.raises(ssl.SSLWantReadError):
            sock.recv(4)
        sock.setblocking(True)
        peer.sendall(b"more")
        assert sock.recv(2) == b"mo"
        assert sock.recv(2) == b"re"  # left over from the last record


@pytest.mark.parametrize("close_notify", [True, False])
def test_socket_end_of_stream(tls: TLS, tls_proxy: ProxyProcess, close_notify: bool) -> None:
    with tls_tunnel(tls, tls_proxy) as (sock, peer):
        peer.sendall(b"last")
        if close_notify:
            # Send close_notify without waiting for the client's.
            peer.setblocking(False)
            with pytest.raises(ssl.SSLWantReadError):
                peer.unwrap()
        else:
            socket.socket.shutdown(peer, socket.SHUT_RDWR)
        assert sock.recv(4) == b"last"
        assert sock.recv(4) == b""


def test_socket_refuses_what_would_bypass_tls(tls: TLS, tls_proxy: ProxyProcess) -> None:
    with tls_tunnel(tls, tls_proxy) as (sock, _):
        with pytest.raises(ValueError, match="non-zero flags"):
            sock.recv(4, socket.MSG_PEEK)
        with pytest.raises(ValueError, match="non-zero flags"):
            sock.send(b"x", socket.MSG_DONTWAIT)
        with pytest.raises(ValueError, match="buffer too small"):
            sock.recv_into(bytearray(2), 4)
        with pytest.raises(NotImplementedError, match="dup"):
            sock.dup()
        with pytest.raises(NotImplementedError, match="sendfile"):
            sock.sendfile(None)
        with pytest.raises(NotImplementedError, match="recvmsg"):
            sock.recvmsg(4)
        with pytest.raises(NotImplementedError, match="sendmsg"):
            sock.sendmsg([b"x"])

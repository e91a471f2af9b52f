"""Tests of TLS in websockets_typed.sync.connection: one thread in OpenSSL at a time.

OpenSSL doesn't support using one TLS connection from two threads at once.
The reading thread used to block in OpenSSL, e.g. after half a record or a
TLS 1.3 session ticket arrived, while another thread wrote: now and then the
bytes written never reached the peer, and the opening handshake timed out.
These tests hold half a record back between a real client and a real server,
and watch every call into the client's TLS socket.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
from collections.abc import Generator
from typing import TYPE_CHECKING

import pytest
from sync_helpers import (
    TIMEOUT,
    echo,
    running,
    start_thread,
    tls_contexts,
    wait_until_send_blocks,
)

from websockets_typed.exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK
from websockets_typed.frames import CloseCode, Frame, Opcode
from websockets_typed.http11 import Request
from websockets_typed.protocol import CLOSED
from websockets_typed.server import ServerProtocol
from websockets_typed.sync.client import ClientConnection, connect

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


class Watch:
    """Counts the threads inside a TLS socket's recv() and send()."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0
        self.overlapped = False
        # Set when the reading thread enters recv().
        self.reading = threading.Event()

    @contextlib.contextmanager
    def inside(self, reading: bool) -> Generator[None]:
        with self._lock:
            self._inside += 1
            self.overlapped = self.overlapped or self._inside > 1
        if reading:
            self.reading.set()
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1


def watched_context(context: ssl.SSLContext, watch: Watch) -> ssl.SSLContext:
    """Make ``context`` create TLS sockets whose recv() and send() ``watch`` sees."""

    class WatchedSSLSocket(ssl.SSLSocket):
        def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
            with watch.inside(reading=True):
                return super().recv(buflen, flags)

        def send(self, data: ReadableBuffer, flags: int = 0) -> int:
            with watch.inside(reading=False):
                return super().send(data, flags)

    # The documented way to get SSLSocket subclasses from wrap_socket().
    context.sslsocket_class = WatchedSSLSocket
    return context


class Relay:
    """Forwards TCP between a client and a server; can hold back part of a chunk."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.socket.getsockname()[1]
        # When set, the next chunk from the server goes out one byte first,
        # the rest once `release` is set.
        self.split_next = threading.Event()
        self.release = threading.Event()
        self._thread = start_thread(self._accept)

    def _accept(self) -> None:
        """Relay one connection, then close both sides."""
        with contextlib.suppress(OSError):
            client, _ = self.socket.accept()
            with client, socket.create_connection(self._upstream, TIMEOUT) as server:
                upstream = start_thread(self._forward, client, server, False)
                self._forward(server, client, True)
                upstream.join(TIMEOUT)

    def _forward(self, source: socket.socket, target: socket.socket, split: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if split and self.split_next.is_set():
                    self.split_next.clear()
                    target.sendall(data[:1])
                    self.release.wait(TIMEOUT)
                    data = data[1:]
                target.sendall(data)
            target.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.release.set()
        self.socket.close()
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive()


class SlowPeer:
    """A raw TLS server for one client, reading nothing until ``reading`` is set.

    It accepts the opening handshake, then, once ``reading`` is set, receives
    ``count`` binary messages and sends a Close frame, but never ends the TCP
    connection: the client must give up after ``close_timeout``.
    """

    def __init__(self, context: ssl.SSLContext, count: int) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.socket.getsockname()[1]
        self.reading = threading.Event()
        self.messages: list[bytes] = []
        self._done = threading.Event()
        self._thread = start_thread(self._serve, context, count)

    def _serve(self, context: ssl.SSLContext, count: int) -> None:
        sock, _ = self.socket.accept()
        with context.wrap_socket(sock, server_side=True) as tls:
            protocol = ServerProtocol()
            events: list[object] = []
            while not events:
                protocol.receive_data(tls.recv(65536))
                events.extend(protocol.events_received())
            request = events[0]
            assert isinstance(request, Request)
            protocol.send_response(protocol.accept(request))
            tls.sendall(b"".join(protocol.data_to_send()))
            self.reading.wait(TIMEOUT)
            # The client may have aborted the connection: the test tells.
            with contextlib.suppress(OSError):
                while len(self.messages) < count:
                    data = tls.recv(65536)
                    if not data:
                        return
                    protocol.receive_data(data)
                    for event in protocol.events_received():
                        assert isinstance(event, Frame)
                        assert event.opcode is Opcode.BINARY
                        self.messages.append(event.data)
                protocol.send_close(CloseCode.NORMAL_CLOSURE)
                tls.sendall(b"".join(protocol.data_to_send()))
            self._done.wait(TIMEOUT)

    def close(self) -> None:
        self._done.set()
        self.reading.set()
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive()
        self.socket.close()


@contextlib.contextmanager
def slow_peer_client(count: int) -> Generator[tuple[SlowPeer, ClientConnection]]:
    """A client of a :class:`SlowPeer`: small send buffer, 0.2 s close timeout."""
    server_context, client_context = tls_contexts()
    peer = SlowPeer(server_context, count)
    try:
        websocket = connect(
            f"wss://127.0.0.1:{peer.port}/",
            ssl=client_context,
            ping_interval=None,
            close_timeout=0.2,
        )
        websocket.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        yield peer, websocket
    finally:
        peer.close()


def test_tls_send_waits_for_room_and_loses_nothing() -> None:
    # Writes that fill the socket's buffer wait outside OpenSSL, then resume
    # with the same bytes: the peer gets every message intact.
    expected = [bytes([index]) * 65536 for index in range(32)]
    with slow_peer_client(count=len(expected)) as (peer, websocket):

        def flood() -> None:
            for message in expected:
                websocket.send(message)

        thread = start_thread(flood)
        wait_until_send_blocks(websocket)
        peer.reading.set()
        thread.join(TIMEOUT)
        assert not thread.is_alive()
        with pytest.raises(ConnectionClosedOK):
            websocket.recv(TIMEOUT)
        assert peer.messages == expected


def test_tls_close_aborts_a_blocked_send() -> None:
    # A send waiting for room in the socket's buffer, outside OpenSSL, wakes
    # up and fails when close() aborts the connection after close_timeout.
    with slow_peer_client(count=1) as (_, websocket):
        errors: list[BaseException] = []

        def flood() -> None:
            try:
                while True:
                    websocket.send(b"x" * 65536)
            except ConnectionClosed as exc:
                errors.append(exc)

        thread = start_thread(flood)
        wait_until_send_blocks(websocket)
        websocket.close()
        thread.join(TIMEOUT)
        assert not thread.is_alive()
        assert isinstance(errors[0], ConnectionClosedError)
        assert websocket.state is CLOSED


def test_tls_close_timeout_when_peer_keeps_tcp_open(caplog: pytest.LogCaptureFixture) -> None:
    # After the closing handshake, the client waits close_timeout for the
    # server to end the TCP connection (RFC 6455, 7.1.1), then aborts it.
    caplog.set_level(logging.INFO, logger="websockets_typed.client")
    with slow_peer_client(count=0) as (peer, websocket):
        peer.reading.set()
        with pytest.raises(ConnectionClosed):
            websocket.recv(TIMEOUT)
        assert websocket.close_code == CloseCode.NORMAL_CLOSURE
        assert "closing handshake timed out; aborting connection" in caplog.messages


def test_tls_send_while_half_a_record_arrived() -> None:
    # The reading thread wakes up for the first byte of a record and must
    # not sit in OpenSSL waiting for the rest while the application sends.
    server_context, client_context = tls_contexts()
    watch = Watch()
    watched_context(client_context, watch)
    with running(echo, ssl=server_context, ping_interval=None) as server:
        relay = Relay(server.socket.getsockname())
        try:
            with connect(
                f"wss://127.0.0.1:{relay.port}/", ssl=client_context, ping_interval=None
            ) as websocket:
                relay.split_next.set()
                watch.reading.clear()
                websocket.send("first")
                # The echo's first byte arrived: the reading thread reads.
                assert watch.reading.wait(TIMEOUT)
                websocket.send("second")
                relay.release.set()
                assert websocket.recv(TIMEOUT) == "first"
                assert websocket.recv(TIMEOUT) == "second"
            assert websocket.close_code == CloseCode.NORMAL_CLOSURE
        finally:
            relay.close()
    assert not watch.overlapped


def test_tls_connections_never_enter_openssl_twice() -> None:
    # Handshakes, messages in both directions and closing handshakes, with
    # TLS 1.3 session tickets arriving while the client sends its request.
    server_context, client_context = tls_contexts()
    watch = Watch()
    watched_context(client_context, watch)
    with running(echo, ssl=server_context) as server:
        port: int = server.socket.getsockname()[1]
        for index in range(10):
            with connect(f"wss://127.0.0.1:{port}/", ssl=client_context) as websocket:
                assert isinstance(websocket.socket, ssl.SSLSocket)
                assert websocket.socket.version() == "TLSv1.3"
                websocket.send(str(index))
                assert websocket.recv(TIMEOUT) == str(index)
            assert websocket.close_code == CloseCode.NORMAL_CLOSURE
    assert not watch.overlapped

"""Helpers of the threading layer's tests: a server running in a thread, TLS contexts."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Generator
from typing import Unpack

import trustme

from websockets_typed.sync.connection import Connection
from websockets_typed.sync.server import Handler, ServeOptions, Server, ServerConnection, serve

# Every wait in these tests is bounded by this many seconds.
TIMEOUT = 10


@contextlib.contextmanager
def running(handler: Handler, **kwargs: Unpack[ServeOptions]) -> Generator[Server]:
    """Run a server on a free loopback port in a thread; shut it down on exit."""
    with running_server(serve(handler, "127.0.0.1", 0, **kwargs)) as server:
        yield server


@contextlib.contextmanager
def running_server(server: Server) -> Generator[Server]:
    """Run ``server.serve_forever()`` in a thread; shut it down on exit."""
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(TIMEOUT)
        assert not thread.is_alive()


def port_of(server: Server | socket.socket) -> int:
    """The port that a server, or a listening socket, is bound to."""
    sock = server.socket if isinstance(server, Server) else server
    port: int = sock.getsockname()[1]
    return port


def uri_of(server: Server, path: str = "/", scheme: str = "ws") -> str:
    """A URI for a server listening on 127.0.0.1."""
    port: int = server.socket.getsockname()[1]
    return f"{scheme}://127.0.0.1:{port}{path}"


def echo(websocket: ServerConnection) -> None:
    """Send back every message."""
    for message in websocket:
        websocket.send(message)


def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server TLS context and a client context that trusts it, for 127.0.0.1."""
    ca = trustme.CA()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)  # pyright: ignore[reportUnknownMemberType]
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(client_context)  # pyright: ignore[reportUnknownMemberType]
    return server_context, client_context


def wait_until_send_blocks(websocket: Connection) -> None:
    """Wait until a send() blocks on a full socket buffer: the write lock stays held."""
    lock = websocket._write_lock
    deadline = time.monotonic() + TIMEOUT
    while lock.acquire(timeout=0.2):
        lock.release()
        assert time.monotonic() < deadline


def start_thread(target: object, *args: object) -> threading.Thread:
    """Start a daemon thread running ``target(*args)``."""
    assert callable(target)
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread

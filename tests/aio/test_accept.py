"""Tests of websockets_typed.asyncio._accept: connections accepted without a task each.

On asyncio's selector loop, a server without TLS builds each connection in
the listening socket's reader; asyncio would build it in a task of its own.
Where a connection is built tells the two paths apart: the connection class
records the task that builds it. Everything runs on real loopback and Unix
sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import resource
import socket
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from raw_peer import echo, handshake_request, http_exchange
from sync_helpers import tls_contexts

from websockets_typed.asyncio import _accept
from websockets_typed.asyncio.client import connect, unix_connect
from websockets_typed.asyncio.server import Server, ServerConnection, serve, unix_serve


class Recorded(ServerConnection):
    """A server connection that records the task building it, if any."""

    builders: list[asyncio.Task[Any] | None] = []  # noqa: RUF012 - reset by each test

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        Recorded.builders.append(asyncio.current_task())
        super().__init__(*args, **kwargs)


@pytest.fixture(autouse=True)
def fresh_builders() -> None:
    Recorded.builders = []


def port_of(server: Server) -> int:
    port: int = server.sockets[0].getsockname()[1]
    return port


async def echo_once(uri: str, **options: Any) -> None:
    """Open a connection, check an echo, close."""
    async with asyncio.timeout(5), connect(uri, **options) as websocket:
        await websocket.send("hello")
        assert await websocket.recv() == "hello"


async def test_tcp_connections_are_built_outside_tasks() -> None:
    async with serve(echo, "127.0.0.1", 0, create_connection=Recorded) as server:
        for _ in range(3):
            await echo_once(f"ws://127.0.0.1:{port_of(server)}/")
    assert Recorded.builders == [None, None, None]


async def test_unix_connections_are_built_outside_tasks(tmp_path: Path) -> None:
    path = str(tmp_path / "socket")
    async with (
        unix_serve(echo, path, create_connection=Recorded),
        asyncio.timeout(5),
        unix_connect(path) as websocket,
    ):
        await websocket.send(b"\x00")
        assert await websocket.recv() == b"\x00"
    assert Recorded.builders == [None]


async def test_a_given_socket_is_served_outside_tasks() -> None:
    sock = socket.create_server(("127.0.0.1", 0))
    async with serve(echo, sock=sock, create_connection=Recorded) as server:
        await echo_once(f"ws://127.0.0.1:{port_of(server)}/")
    assert Recorded.builders == [None]
    assert sock.fileno() == -1  # closed with the server


async def test_tls_connections_keep_asyncios_path() -> None:
    """TLS transports report the end of the TLS handshake to asyncio's task."""
    server_context, client_context = tls_contexts()
    async with serve(
        echo, "127.0.0.1", 0, ssl=server_context, create_connection=Recorded
    ) as server:
        await echo_once(f"wss://127.0.0.1:{port_of(server)}/", ssl=client_context)
    assert len(Recorded.builders) == 1
    assert Recorded.builders[0] is not None


@pytest.mark.parametrize("start", ["start_serving", "serve_forever"])
async def test_a_server_started_later_accepts_outside_tasks(start: str) -> None:
    """asyncio registers its readers when the server starts: they are replaced then."""
    server = await serve(echo, "127.0.0.1", 0, create_connection=Recorded, start_serving=False)
    forever = None
    try:
        assert not server.is_serving()
        # Not listening yet: the acceptor isn't reading the socket either.
        for _ in range(3):
            await asyncio.sleep(0)
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port_of(server))
        if start == "start_serving":
            await server.start_serving()
        else:
            forever = asyncio.create_task(server.serve_forever())
            while not server.is_serving():
                await asyncio.sleep(0)
        await echo_once(f"ws://127.0.0.1:{port_of(server)}/")
    finally:
        if forever is not None:
            forever.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await forever
        server.close()
        await server.wait_closed()
    assert Recorded.builders == [None]


async def test_a_small_backlog_accepts_every_connection() -> None:
    """One accept per readable event: the others wait for the next iterations."""
    async with serve(echo, "127.0.0.1", 0, backlog=1, create_connection=Recorded) as server:
        uri = f"ws://127.0.0.1:{port_of(server)}/"
        await asyncio.gather(*(echo_once(uri) for _ in range(8)))
    assert Recorded.builders == [None] * 8


class FailsOnce(ServerConnection):
    """A server connection whose first construction fails."""

    failed = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if not FailsOnce.failed:
            FailsOnce.failed = True
            raise RuntimeError("no connection today")
        super().__init__(*args, **kwargs)


async def test_a_connection_that_cannot_be_built_is_closed_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """asyncio drops it silently outside debug mode; the server logs it at ERROR."""
    caplog.set_level(logging.ERROR, logger="websockets_typed")
    async with serve(echo, "127.0.0.1", 0, create_connection=FailsOnce) as server:
        port = port_of(server)
        # The socket is closed without a response: the client reads EOF.
        assert await http_exchange(port, handshake_request(port=port)) == b""
        # The server goes on accepting.
        await echo_once(f"ws://127.0.0.1:{port}/")
    (record,) = [r for r in caplog.records if r.name.startswith("websockets_typed")]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "accepting a connection failed"
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "no connection today"


@contextlib.contextmanager
def no_new_file_descriptors() -> Generator[None]:
    """Make the process unable to open a file descriptor, as when it ran out."""
    probe = socket.socket()
    lowest_free = probe.fileno()
    probe.close()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def client_socket() -> socket.socket:
    """A client socket, created before it connects: connecting needs no new descriptor."""
    client = socket.socket()
    client.setblocking(False)
    return client


async def connect_without_descriptors(
    client: socket.socket, port: int, caplog: pytest.LogCaptureFixture
) -> logging.LogRecord:
    """Connect while the server can't accept: return the record of its failure."""
    with no_new_file_descriptors():
        await asyncio.get_running_loop().sock_connect(client, ("127.0.0.1", port))
        async with asyncio.timeout(5):
            while True:
                for record in caplog.records:
                    if record.getMessage().startswith("accepting connections failed"):
                        return record
                await asyncio.sleep(0.01)


@pytest.fixture
def short_pause(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pause accepting for 0.2 s after running out; capture the library's errors."""
    monkeypatch.setattr(_accept, "ACCEPT_RETRY_DELAY", 0.2)
    caplog.set_level(logging.ERROR, logger="websockets_typed")


@pytest.mark.usefixtures("short_pause")
async def test_running_out_of_file_descriptors_pauses_accepting(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """EMFILE: logged, then no accept for a while, rather than a busy loop; then accepting again."""
    loop = asyncio.get_running_loop()
    async with serve(echo, "127.0.0.1", 0, create_connection=Recorded) as server:
        port = port_of(server)
        with client_socket() as client:
            record = await connect_without_descriptors(client, port, caplog)
            assert record.levelno == logging.ERROR
            assert record.getMessage() == "accepting connections failed; retrying in 0.2 s"
            assert record.exc_info is not None
            assert isinstance(record.exc_info[1], OSError)
            assert record.exc_info[1].errno == errno.EMFILE
            assert Recorded.builders == []
            # After the delay, the waiting connection is accepted and answered.
            await loop.sock_sendall(client, handshake_request(port=port))
            async with asyncio.timeout(5):
                response = await loop.sock_recv(client, 4096)
            assert response.startswith(b"HTTP/1.1 101 ")
    assert Recorded.builders == [None]
    failures = [r for r in caplog.records if r.name.startswith("websockets_typed")]
    assert len(failures) == 1


@pytest.mark.usefixtures("short_pause")
async def test_a_server_closed_while_paused_stays_closed(caplog: pytest.LogCaptureFixture) -> None:
    """The delayed retry doesn't read a listening socket that closed meanwhile."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        async with serve(echo, "127.0.0.1", 0) as server:
            port = port_of(server)
            with client_socket() as client:
                await connect_without_descriptors(client, port, caplog)
        await asyncio.sleep(0.4)  # past the pause
    finally:
        loop.set_exception_handler(None)
    assert errors == []


async def test_other_accept_errors_reach_the_event_loop() -> None:
    """As with asyncio's reader: the loop's exception handler reports them."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        sock = socket.create_server(("127.0.0.1", 0))
        async with serve(echo, sock=sock):
            # On Linux, a listening socket shut down for reading is reported
            # readable, and accept() fails with EINVAL.
            sock.shutdown(socket.SHUT_RD)
            async with asyncio.timeout(5):
                while not errors:
                    await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    exception = errors[0]["exception"]
    assert isinstance(exception, OSError)
    assert exception.errno == errno.EINVAL

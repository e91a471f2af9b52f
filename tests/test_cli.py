"""The command line, run as a program: the interactive client and the test server.

The client is driven through its standard input, as a script would, and
once through a pseudo-terminal, as a person would; the test server runs as
``python -m websockets_typed serve --port N``.
"""

from __future__ import annotations

import asyncio
import errno
import http
import importlib
import os
import pty
import select
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator

import pytest
from process_helpers import (
    ROOT,
    child_env,
    free_port,
    python_command,
    run_python,
    running_server,
    stop_sync,
    wait_for_port_sync,
)

from websockets_typed import (
    ClientConnection,
    ConnectionClosedOK,
    Headers,
    InvalidHandshake,
    InvalidStatus,
    Response,
    ServerConnection,
    connect,
    serve,
)
from websockets_typed.cli import _describe, main
from websockets_typed.testserver import _url_host

CLIENT = ("-m", "websockets_typed")

ENDPOINT_PATHS = (
    "/echo /chat/{room} /close /send /fragment /delay /ping /subprotocol "
    "/headers /auth /slow /stats"
)


# The test server, shared by the tests that don't stop it.


class ServerUnderTest:
    """The test server running as a subprocess, and what it printed first."""

    def __init__(self, process: subprocess.Popen[str], port: int, banner: list[str]) -> None:
        self.process = process
        self.port = port
        self.banner = banner

    def url(self, path: str) -> str:
        """WebSocket URL of ``path`` on this server."""
        return f"ws://127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="module")
def test_server() -> Iterator[ServerUnderTest]:
    """Run ``python -m websockets_typed serve`` for the module; check it stops cleanly."""
    port = free_port()
    process = subprocess.Popen(
        python_command(*CLIENT, "serve", "--port", str(port)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=child_env(),
        text=True,
    )
    try:
        wait_for_port_sync(port, process)
        assert process.stdout is not None
        banner = [process.stdout.readline(), process.stdout.readline()]
        yield ServerUnderTest(process, port, banner)
    except BaseException:
        stop_sync(process, signal.SIGKILL)
        raise
    stdout, stderr = stop_sync(process, signal.SIGTERM)
    assert (process.returncode, stderr) == (0, "")
    assert stdout == "Shutting down...\nServer stopped.\n"


def test_test_server_prints_the_url_to_open(test_server: ServerUnderTest) -> None:
    port = test_server.port
    assert test_server.banner == [
        f"Test server running: open http://127.0.0.1:{port}/ in a browser\n",
        f"WebSocket endpoints at ws://127.0.0.1:{port}: {ENDPOINT_PATHS}\n",
    ]


# The interactive client, driven through pipes.


class Client:
    """``python -m websockets_typed URI`` running as a subprocess, driven through pipes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def readline(self) -> str:
        """Read a line of output, within a bounded time."""
        assert self.process.stdout is not None
        async with asyncio.timeout(10):
            return (await self.process.stdout.readline()).decode()

    def send(self, line: str) -> None:
        """Type a line."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"{line}\n".encode())

    async def finish(self) -> tuple[int, str, str]:
        """End the input, wait for the exit; return status, rest of stdout, stderr."""
        # With input, even empty, communicate() closes stdin: the end of input.
        stdout, stderr = await asyncio.wait_for(self.process.communicate(b""), 20)
        assert self.process.returncode is not None
        return self.process.returncode, stdout.decode(), stderr.decode()


@pytest.fixture
async def client_factory() -> AsyncIterator[list[Client]]:
    """Collect the clients a test starts, and kill those left running at the end."""
    clients: list[Client] = []
    yield clients
    for client in clients:
        if client.process.returncode is None:
            client.process.kill()
            await client.process.communicate()


async def start_client(clients: list[Client], *args: str) -> Client:
    """Start the interactive client with ``args``."""
    process = await asyncio.create_subprocess_exec(
        *python_command(*CLIENT, *args),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env=child_env(),
    )
    client = Client(process)
    clients.append(client)
    return client


async def run_client(clients: list[Client], *args: str) -> tuple[int, str, str]:
    """Run the client with ``args`` and no input; return status, stdout, stderr."""
    return await (await start_client(clients, *args)).finish()


@pytest.mark.parametrize("path", ["/echo", "/"])
async def test_client_sends_lines_and_prints_replies(
    test_server: ServerUnderTest, client_factory: list[Client], path: str
) -> None:
    url = test_server.url(path)
    client = await start_client(client_factory, url)
    assert await client.readline() == f"Connected to {url}.\n"
    client.send("hello")
    assert await client.readline() == "< hello\n"
    client.send("café, naïve")
    assert await client.readline() == "< café, naïve\n"
    # Control characters are escaped: a server can't drive the terminal.
    client.send("\x1b[2J\tcleared?\x7f")
    assert await client.readline() == "< \\x1b[2J\\tcleared?\\x7f\n"
    client.send("")
    assert await client.readline() == "< \n"
    # End of input: the client closes the connection normally.
    returncode, stdout, stderr = await client.finish()
    assert (returncode, stdout, stderr) == (0, "Connection closed: 1000 (OK).\n", "")


async def test_client_prints_binary_messages_and_close_codes(
    client_factory: list[Client],
) -> None:
    async def handler(websocket: ServerConnection) -> None:
        await websocket.send(b"\x00\x01\xfe\xff")
        await websocket.send("two\nlines")
        await websocket.close(4000, "bye\r\n")

    async with serve(handler, "127.0.0.1", 0) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        client = await start_client(client_factory, url)
        returncode, stdout, stderr = await client.finish()
    # Closed by the server with a code other than 1000 or 1001: exit status 1.
    assert (returncode, stderr) == (1, "")
    assert stdout == (
        f"Connected to {url}.\n"
        "< (binary) 00 01 fe ff\n"
        "< two\\nlines\n"
        "Connection closed: 4000 (private use) bye\\r\\n.\n"
    )


async def test_client_reports_abnormal_closure(client_factory: list[Client]) -> None:
    async def handler(websocket: ServerConnection) -> None:
        websocket.transport.abort()

    async with serve(handler, "127.0.0.1", 0) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        client = await start_client(client_factory, url)
        returncode, stdout, stderr = await client.finish()
    assert (returncode, stderr) == (1, "")
    assert stdout.endswith("Connection closed: 1006 (abnormal closure [internal]).\n")


async def test_client_closes_on_ctrl_c(
    test_server: ServerUnderTest, client_factory: list[Client]
) -> None:
    url = test_server.url("/echo")
    client = await start_client(client_factory, url)
    assert await client.readline() == f"Connected to {url}.\n"
    client.process.send_signal(signal.SIGINT)
    returncode, stdout, stderr = await client.finish()
    assert (returncode, stdout, stderr) == (0, "Connection closed: 1000 (OK).\n", "")


# Errors: one clear line on stderr, a non-zero exit status.


async def test_client_connection_refused(client_factory: list[Client]) -> None:
    url = f"ws://127.0.0.1:{free_port()}/"
    returncode, stdout, stderr = await run_client(client_factory, url)
    assert (returncode, stdout) == (1, "")
    assert stderr == f"Failed to connect to {url}: connection refused.\n"


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("http://localhost/", "scheme isn't ws or wss"),
        ("localhost:8765", "scheme isn't ws or wss"),
        ("ws://localhost:99999/", "port is out of range"),
    ],
)
async def test_client_invalid_uri(client_factory: list[Client], uri: str, reason: str) -> None:
    returncode, stdout, stderr = await run_client(client_factory, uri)
    assert (returncode, stdout) == (2, "")
    assert stderr == f"Invalid URI {uri}: {reason}.\n"


async def test_client_handshake_rejected(
    test_server: ServerUnderTest, client_factory: list[Client]
) -> None:
    url = test_server.url("/nowhere")
    returncode, stdout, stderr = await run_client(client_factory, url)
    assert (returncode, stdout) == (1, "")
    assert stderr == (
        f"Failed to connect to {url}: server answered HTTP 404 Not Found: "
        "No such endpoint: /nowhere.\n"
    )


async def test_client_unknown_host(client_factory: list[Client]) -> None:
    # .invalid never resolves (RFC 2606); the resolver answers without the network.
    url = "ws://websockets-typed.invalid/"
    returncode, stdout, stderr = await run_client(client_factory, url)
    assert (returncode, stdout) == (1, "")
    assert stderr.startswith(f"Failed to connect to {url}: cannot resolve host: ")
    assert stderr.count("\n") == 1


def test_help_documents_both_modes() -> None:
    result = subprocess.run(
        python_command(*CLIENT, "--help"),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=child_env(),
        timeout=20,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")
    for text in (
        "python -m websockets_typed URI",
        "python -m websockets_typed serve [--host HOST] [--port PORT]",
        "Ctrl-D",
        "/echo",
        "/chat",
        "/healthz",
        "1001",
    ):
        assert text in result.stdout

    result = run_python(*CLIENT, "serve", "--help")
    assert (result.returncode, result.stderr) == (0, "")
    assert "--host HOST" in result.stdout
    assert "--port PORT" in result.stdout


def test_usage_error_without_uri() -> None:
    result = subprocess.run(
        python_command(*CLIENT),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=child_env(),
        timeout=20,
        check=False,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert "usage: python -m websockets_typed" in result.stderr


# The interactive client in a terminal.


def read_until(fd: int, expected: str, transcript: list[str]) -> None:
    """Read the terminal's output into ``transcript`` until ``expected`` appears."""
    deadline = time.monotonic() + 10
    while expected not in "".join(transcript):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{expected!r} not in {''.join(transcript)!r}"
        readable, _, _ = select.select([fd], [], [], remaining)
        if readable:
            try:
                data = os.read(fd, 4096)
            except OSError as exc:
                # EIO: the program closed the terminal.
                if exc.errno != errno.EIO:
                    raise
                data = b""
            assert data, f"{expected!r} not in {''.join(transcript)!r}"
            transcript.append(data.decode())


def test_client_in_a_terminal(test_server: ServerUnderTest) -> None:
    url = test_server.url("/echo")
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        python_command(*CLIENT, url),
        stdin=terminal,
        stdout=terminal,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=child_env(),
    )
    os.close(terminal)
    transcript: list[str] = []
    try:
        # The terminal turns "\n" into "\r\n". Each printed line erases the
        # prompt ("\r" and ESC [K), then shows it again.
        read_until(controller, f"\r\x1b[KConnected to {url}.\r\n> ", transcript)
        os.write(controller, b"hello\n")
        # The terminal echoes what is typed; the prompt comes back at once,
        # then the reply replaces it.
        read_until(controller, "> hello\r\n> \r\x1b[K< hello\r\n> ", transcript)
        os.write(controller, b"\x04")  # Ctrl-D: end of input
        read_until(controller, "\r\x1b[KConnection closed: 1000 (OK).\r\n", transcript)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        os.close(controller)
    assert (process.returncode, stderr) == (0, b"")
    # No prompt after the last line.
    assert "".join(transcript).endswith("Connection closed: 1000 (OK).\r\n")


# The test server's endpoints.


def http_get(url: str) -> tuple[int, str, str]:
    """GET ``url`` with a plain HTTP client; return status, content type, body."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers["Content-Type"], exc.read().decode()


def test_test_server_health_check(test_server: ServerUnderTest) -> None:
    assert http_get(f"http://127.0.0.1:{test_server.port}/healthz") == (
        200,
        "text/plain; charset=utf-8",
        "OK\n",
    )


def test_test_server_page(test_server: ServerUnderTest) -> None:
    status, content_type, body = http_get(f"http://127.0.0.1:{test_server.port}/")
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    assert "<title>websockets_typed test server</title>" in body


def test_test_server_unknown_path(test_server: ServerUnderTest) -> None:
    assert http_get(f"http://127.0.0.1:{test_server.port}/missing?x=1") == (
        404,
        "text/plain; charset=utf-8",
        "No such endpoint: /missing\n",
    )


async def test_test_server_rejects_unknown_websocket_path(test_server: ServerUnderTest) -> None:
    with pytest.raises(InvalidStatus) as raised:
        await connect(test_server.url("/missing"), open_timeout=10)
    assert raised.value.response.status_code == 404


@pytest.mark.parametrize("path", ["/", "/echo", "/echo?"])
async def test_test_server_echo(test_server: ServerUnderTest, path: str) -> None:
    async with connect(test_server.url(path)) as websocket, asyncio.timeout(10):
        await websocket.send("text")
        assert await websocket.recv() == "text"
        await websocket.send(b"\x00bytes")
        assert await websocket.recv() == b"\x00bytes"
    assert websocket.close_code == 1000


async def test_test_server_chat(test_server: ServerUnderTest) -> None:
    url = test_server.url("/chat")
    async with connect(url) as alice, asyncio.timeout(10):
        assert await alice.recv() == "* 1 connected"
        async with connect(url) as bob:
            assert await alice.recv() == "* 2 connected"
            assert await bob.recv() == "* 2 connected"
            await alice.send("Hello, Bob!")
            assert await bob.recv() == "Hello, Bob!"
            assert await alice.recv() == "Hello, Bob!"
            await bob.send("Hi!")
            assert await alice.recv() == "Hi!"
            assert await bob.recv() == "Hi!"
        assert await alice.recv() == "* 1 connected"
        # A member that vanishes without closing leaves the room too.
        carol = await connect(url)
        assert await alice.recv() == "* 2 connected"
        carol.transport.abort()
        assert await alice.recv() == "* 1 connected"


def test_test_server_port_in_use(test_server: ServerUnderTest) -> None:
    port = test_server.port
    result = run_python(*CLIENT, "serve", "--port", str(port))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"Cannot start the test server on 127.0.0.1:{port}: Address already in use.\n"
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_test_server_stops_cleanly(
    client_factory: list[Client], signum: signal.Signals
) -> None:
    port = free_port()
    args = ["-m", "websockets_typed", "serve", "--port", str(port)]
    async with running_server(args, port, env=child_env()) as server:
        url = f"ws://127.0.0.1:{port}/echo"
        client = await start_client(client_factory, url)
        assert await client.readline() == f"Connected to {url}.\n"
        chat: ClientConnection = await connect(f"ws://127.0.0.1:{port}/chat")
        async with asyncio.timeout(10):
            assert await chat.recv() == "* 1 connected"

        stdout = await server.stop_cleanly(signum)
        # Connections are closed with 1001 (going away), which is a normal
        # closure for the interactive client: it exits with status 0, while
        # its input is still open.
        with pytest.raises(ConnectionClosedOK):
            async with asyncio.timeout(10):
                await chat.recv()
        assert chat.close_code == 1001
        await asyncio.wait_for(client.process.wait(), 10)
        returncode, rest, stderr = await client.finish()
    assert (returncode, rest, stderr) == (0, "Connection closed: 1001 (going away).\n", "")
    assert stdout == (
        f"Test server running: open http://127.0.0.1:{port}/ in a browser\n"
        f"WebSocket endpoints at ws://127.0.0.1:{port}: {ENDPOINT_PATHS}\n"
        "Shutting down...\n"
        "Server stopped.\n"
    )


# Details, in-process.


@pytest.mark.parametrize(
    ("address", "host"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("::1", "[::1]"),
        ("0.0.0.0", "localhost"),
        ("::", "localhost"),
    ],
)
def test_test_server_url_host(address: str, host: str) -> None:
    assert _url_host(address) == host


def rejection(status: int, body: bytes | None) -> InvalidStatus:
    """The exception of a handshake rejected with ``status`` and ``body``."""
    reason = http.HTTPStatus(status).phrase
    return InvalidStatus(Response(status, reason, Headers(), body))


@pytest.mark.parametrize(
    ("exc", "description"),
    [
        (
            rejection(403, b"Forbidden.\nSee logs."),
            "server answered HTTP 403 Forbidden: Forbidden.",
        ),
        (rejection(503, None), "server answered HTTP 503 Service Unavailable"),
        (rejection(500, b"x" * 101), "server answered HTTP 500 Internal Server Error"),
        (rejection(400, b"\x1b[31mred\n"), "server answered HTTP 400 Bad Request: \\x1b[31mred"),
        (ConnectionRefusedError(111, "Connect call failed"), "connection refused"),
        (
            socket.gaierror(-2, "Name or service not known"),
            "cannot resolve host: Name or service not known",
        ),
        (TimeoutError(), "timed out"),
        (
            ConnectionResetError(104, "Connection reset by peer"),
            "[Errno 104] Connection reset by peer",
        ),
        (InvalidHandshake(), "InvalidHandshake"),
    ],
)
def test_client_describes_connection_errors(exc: BaseException, description: str) -> None:
    assert _describe(exc) == description


def test_main_module_runs_only_as_a_program() -> None:
    # Imported, rather than run with -m, it defines main and does nothing.
    module = importlib.import_module("websockets_typed.__main__")
    assert module.main is main

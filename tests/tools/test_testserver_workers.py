"""The test server's worker processes and Redis room: ``serve --workers N --redis URL``.

They run as programs, with a real redis-server on a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncGenerator, Generator
from pathlib import Path

import pytest
from process_helpers import (
    RunningServer,
    child_env,
    free_port,
    run_python,
    running_test_server,
)
from services import RedisServer, _children

from websockets_typed import ClientConnection, connect
from websockets_typed._workers import reserve_port

SERVE = ["-m", "websockets_typed", "serve"]


async def join(clients: list[ClientConnection]) -> None:
    """Have each client say hello in /chat, and wait until its own hello comes back."""
    for index, client in enumerate(clients):
        await client.send(f"hello from {index}")
        async with asyncio.timeout(10):
            while await client.recv() != f"hello from {index}":
                pass


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_workers_share_one_chat_room(
    redis_server: RedisServer, signum: signal.Signals
) -> None:
    async with running_test_server("--workers", "3", "--redis", redis_server.url) as server:
        # Three processes run; the first one says when it listens (a stop
        # signal before that would end it quietly).
        workers = _children(server.process.pid)
        assert len(workers) == 3
        clients = [await connect(f"ws://127.0.0.1:{server.port}/chat") for _ in range(9)]
        await join(clients)
        # Whichever worker a client reached, it's in the one room.
        await clients[0].send("news for everyone")
        for client in clients:
            async with asyncio.timeout(10):
                while await client.recv() != "news for everyone":
                    pass
        returncode = await server.stop(signum)
        assert (returncode, server.stderr) == (0, ""), server.stdout
        stdout = server.stdout
        # Each worker closed its connections with 1001 (going away).
        for client in clients:
            await client.wait_closed()
            assert client.close_code == 1001
    assert stdout.count("Test server running") == 1  # one banner is enough
    assert stdout.endswith("Shutting down...\nServer stopped.\n")
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)


def all_exit(pidfds: list[int], timeout: float) -> bool:
    """Whether the processes of ``pidfds`` all exit within ``timeout`` seconds.

    A pidfd becomes readable once its process has exited. Once the test
    server's pipes are closed, a worker killed with it may still be exiting
    (its files closed, not a zombie yet): checking its state then is a race.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    pending = set(pidfds)
    while pending:
        remaining = deadline - asyncio.get_running_loop().time()
        ready, _, _ = select.select(list(pending), [], [], max(remaining, 0))
        if not ready:
            return False
        pending.difference_update(ready)
    return True


async def test_a_failing_test_leaves_no_workers_behind() -> None:
    # The server is killed with SIGKILL, which it can't forward: its process
    # group is, workers included.
    pidfds: list[int] = []

    async def fail() -> None:
        async with running_test_server("--workers", "2") as server:
            pidfds.extend(map(os.pidfd_open, _children(server.process.pid)))
            raise RuntimeError("a test failed")

    try:
        with pytest.raises(RuntimeError, match="a test failed"):
            await fail()
        assert len(pidfds) == 2
        assert all_exit(pidfds, timeout=10)
    finally:
        for pidfd in pidfds:
            os.close(pidfd)


@contextlib.asynccontextmanager
async def two_servers(redis_url: str) -> AsyncGenerator[list[int]]:
    """Run two test servers with one Redis; yield their ports; stop them cleanly."""
    async with contextlib.AsyncExitStack() as stack:
        servers: list[RunningServer] = [
            await stack.enter_async_context(running_test_server("--redis", redis_url))
            for _ in range(2)
        ]
        yield [server.port for server in servers]
        for server in servers:
            await server.stop_cleanly()


async def test_servers_on_two_ports_share_the_room(redis_server: RedisServer) -> None:
    async with two_servers(redis_server.url) as ports:
        clients = [await connect(f"ws://127.0.0.1:{port}/chat") for port in ports]
        await join(clients)
        await clients[1].send(b"\x00binary")
        for client in clients:
            async with asyncio.timeout(10):
                while await client.recv() != b"\x00binary":
                    pass
        for client in clients:
            await client.close()


async def test_room_notices_and_names_across_servers(redis_server: RedisServer) -> None:
    async with two_servers(redis_server.url) as ports:
        async with asyncio.timeout(10):
            alice = await connect(f"ws://127.0.0.1:{ports[0]}/chat/tea")
            assert await alice.recv() == "* someone joined"  # herself
            carol = await connect(f"ws://127.0.0.1:{ports[0]}/chat/coffee")
            assert await carol.recv() == "* someone joined"
            async with connect(f"ws://127.0.0.1:{ports[1]}/chat/tea") as bob:
                assert await alice.recv() == "* someone joined"
                assert await bob.recv() == "* someone joined"
                await bob.send("hi")
                assert await alice.recv() == "hi"
            assert await alice.recv() == "* someone left"
            # Another room heard none of it.
            await carol.send("anyone?")
            assert await carol.recv() == "anyone?"
            await alice.close()
            await carol.close()


async def test_workers_on_a_free_port() -> None:
    async with running_test_server("--workers", "2") as server:
        async with connect(f"ws://127.0.0.1:{server.port}/echo") as client:
            await client.send("echo")
            assert await client.recv() == "echo"
        await server.stop_cleanly()


async def test_workers_share_one_certificate() -> None:
    async with running_test_server("--tls", "--workers", "2") as server:
        pems = {
            await asyncio.to_thread(ssl.get_server_certificate, ("127.0.0.1", server.port))
            for _ in range(16)
        }
        stdout = await server.stop_cleanly()
    assert len(pems) == 1
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pems.pop())).digest()
    assert f"Self-signed certificate, SHA-256 fingerprint: {digest.hex(':').upper()}\n" in stdout


def test_tls_workers_without_cryptography() -> None:
    code = (
        "import sys; sys.modules['cryptography'] = None; "
        "from websockets_typed.cli import main; "
        "sys.exit(main(['serve', '--tls', '--workers', '2', '--port', '0']))"
    )
    result = run_python("-c", code)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith("Cannot start the test server: --tls needs the cryptography")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_python(*SERVE, *args)


def test_a_failing_worker_stops_the_others() -> None:
    # The port is taken by a socket that doesn't share it.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("--port", str(port), "--workers", "2")
    assert result.returncode == 1
    assert f"Cannot start the test server on 127.0.0.1:{port}" in result.stderr
    assert "exited with status 1: stopping the others." in result.stderr


def test_unreachable_redis() -> None:
    url = f"redis://127.0.0.1:{free_port()}"
    result = run_cli("--port", str(free_port()), "--redis", url)
    assert result.returncode == 1
    assert result.stderr.startswith(f"Cannot connect to Redis at {url}: ")


def test_workers_must_be_positive() -> None:
    result = run_cli("--workers", "0")
    assert result.returncode == 2
    assert "argument --workers: invalid number of workers '0': use 1 or more" in result.stderr


def test_redis_needs_the_extra() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "from websockets_typed.cli import main\n"
        "sys.exit(main(['serve', '--redis', 'redis://localhost']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=child_env(), check=False
    )
    assert result.returncode == 1
    assert result.stderr == "--redis needs redis-py: pip install 'websockets_typed[redis]'.\n"


def test_reserve_port_keeps_a_given_port() -> None:
    with reserve_port("127.0.0.1", 8765) as port:
        assert port == 8765


# Each worker says it started, then computes in C for about a minute, as a
# worker might before it installs signal handlers (a DNS lookup, a TLS
# context): a Python signal handler would wait until the call returns.
WORKERS = """
import asyncio, hashlib, os, signal, sys
from websockets_typed._workers import run_workers

async def serve():
    pass

def target(index):
    if index == int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)
    # As the test server's workers do, make a coroutine for asyncio.run(),
    # whose loop would install signal handlers: a stop signal before that
    # ends the worker without a "never awaited" warning.
    coroutine = serve()
    os.write(1, b"started\\n")  # one write: the workers' lines don't mix
    hashlib.pbkdf2_hmac("sha256", b"password", b"salt", 300_000_000)
    asyncio.run(coroutine)

sys.exit(run_workers(2, target))
"""


@contextlib.contextmanager
def workers(killed: int) -> Generator[subprocess.Popen[str]]:
    """Run WORKERS, where worker ``killed`` kills itself; kill them all on the way out."""
    with subprocess.Popen(
        [sys.executable, "-c", WORKERS, str(killed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        start_new_session=True,  # its own process group: the workers are killed with it
    ) as process:
        try:
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_workers_stopped_before_handling_signals_exit_cleanly(signum: signal.Signals) -> None:
    with workers(killed=-1) as process:
        assert process.stdout is not None
        assert [process.stdout.readline() for _ in range(2)] == ["started\n"] * 2
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=20)
    assert (process.returncode, stderr) == (0, "")


# A stop signal that comes once run_workers() installed its handlers, before
# it started any worker: it waits until they are all started, then stops them.
SIGNAL_BEFORE_STARTING = """
import os, signal, sys, time
from websockets_typed._workers import run_workers

parent = os.getpid()
installed = 0
real_signal = signal.signal

def signal_then_stop(signum, handler):
    global installed
    previous = real_signal(signum, handler)
    if os.getpid() == parent:
        installed += 1
        if installed == len({signal.SIGINT, signal.SIGTERM}):
            os.kill(parent, signal.SIGTERM)
    return previous

signal.signal = signal_then_stop

def target(index):
    time.sleep(30)  # stopped long before

sys.exit(run_workers(2, target))
"""


def test_stop_signal_before_workers_start() -> None:
    result = run_python("-c", SIGNAL_BEFORE_STARTING)
    assert (result.returncode, result.stderr) == (0, "")


def test_a_worker_killed_by_a_signal_is_reported() -> None:
    # Worker 1 dies at once; worker 0, stopped, is ended by SIGTERM.
    with workers(killed=1) as process:
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 1
    assert re.fullmatch(r"Worker \d+ exited with signal SIGKILL: stopping the others\.\n", stderr)

"""Run the examples and the command line as programs, for the tests that need them.

tests/docs/test_examples.py, tests/tools/test_cli.py and tests/docs/test_browser.py start
servers as subprocesses on free ports, wait until they accept connections,
talk to them, then stop them with a signal and check that they exit cleanly.

Subprocesses run with warnings as errors, unbuffered output (tests read it
as it comes) and without asyncio's debug mode, whose slow-callback warnings
would make "nothing on stderr" flaky on a busy machine. When the test run
measures coverage, each subprocess measures its own into a data file that
pytest-cov combines at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncGenerator, Generator, Sequence
from pathlib import Path

import coverage

__all__ = [
    "EXAMPLES",
    "ROOT",
    "RunningServer",
    "child_env",
    "free_port",
    "python_command",
    "run_python",
    "running_server",
    "running_server_sync",
    "running_test_server",
    "stop_sync",
    "wait_for_port_sync",
]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# Upper bound for a program to start or to stop; generous for a busy CI machine.
START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0


def free_port() -> int:
    """Return a TCP port that nothing listens on right now, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def child_env(**extra: str) -> dict[str, str]:
    """Environment for a subprocess: see the module docstring."""
    env = dict(os.environ)
    env.pop("PYTHONASYNCIODEBUG", None)
    env["PYTHONUNBUFFERED"] = "1"
    cov = coverage.Coverage.current()
    if cov is not None and cov.config.config_file:
        env["COVERAGE_PROCESS_START"] = str(cov.config.config_file)
        data_file = Path(cov.config.data_file).resolve()
        env["COVERAGE_FILE"] = f"{data_file}.subprocess.{uuid.uuid4().hex}"
    env.update(extra)
    return env


def python_command(*args: str | Path) -> list[str]:
    """Command line running Python with ``args``, warnings as errors."""
    return [sys.executable, "-W", "error", *map(str, args)]


def run_python(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``python args``, a program that exits by itself; return its result."""
    return subprocess.run(
        python_command(*args),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=child_env(),
        timeout=START_TIMEOUT,
        check=False,
    )


class RunningServer:
    """A server program running as a subprocess, on ``port``."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port
        self.stdout = ""
        self.stderr = ""
        # Output read before stop(), e.g. the line that said the port.
        self.head = ""

    async def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send ``signum``, wait for the exit; keep the output; return the exit status.

        SIGKILL goes to the server's whole process group: a server's worker
        processes would otherwise outlive it, holding its output open.
        """
        if signum == signal.SIGKILL:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signum)
        elif self.process.returncode is None:
            self.process.send_signal(signum)
        stdout, stderr = await asyncio.wait_for(self.process.communicate(), STOP_TIMEOUT)
        self.stdout, self.stderr = self.head + stdout.decode(), stderr.decode()
        assert self.process.returncode is not None
        return self.process.returncode

    async def stop_cleanly(self, signum: int = signal.SIGTERM) -> str:
        """Stop with ``signum``, check exit status 0 and an empty stderr; return stdout."""
        returncode = await self.stop(signum)
        assert returncode == 0, self.stderr
        assert self.stderr == "", self.stderr
        return self.stdout


async def _wait_for_port(port: int, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.returncode is not None:
            raise AssertionError(f"the server exited with status {process.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            # Polling: there is no event to await for "a process started listening".
            await asyncio.sleep(0.05)
        else:
            writer.close()
            await writer.wait_closed()
            return


@contextlib.asynccontextmanager
async def running_server(
    args: Sequence[str | Path],
    port: int | re.Pattern[str],
    *,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
) -> AsyncGenerator[RunningServer]:
    """Run ``python args`` until the block ends; yield it once it accepts connections.

    ``port`` is the port it listens on, or, for a server that picks its own
    port, a pattern whose first group finds it in the first line the server
    prints. Prefer the latter where the server can: a port picked free by
    :func:`free_port` can be taken by another program before the server
    binds it, and the test then talks to that program.

    The block may stop it with :meth:`RunningServer.stop`; otherwise it is
    killed at the end.
    """
    process = await asyncio.create_subprocess_exec(
        *python_command(*args),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=env or (child_env(PORT=str(port)) if isinstance(port, int) else child_env()),
        # A process group of its own, with its workers if any: see stop().
        start_new_session=True,
    )
    server = RunningServer(process, port if isinstance(port, int) else 0)
    try:
        try:
            if isinstance(port, int):
                await _wait_for_port(port, process)
            else:
                server.port = await _read_port(port, server)
        except (OSError, AssertionError, TimeoutError) as exc:
            await server.stop(signal.SIGKILL)
            raise AssertionError(f"the server didn't start: {exc}\n{server.stderr}") from None
        yield server
    finally:
        if process.returncode is None:
            await server.stop(signal.SIGKILL)


def running_test_server(*args: str) -> contextlib.AbstractAsyncContextManager[RunningServer]:
    """Run ``python -m websockets_typed serve --port 0 args``; yield it with the port it picked.

    A port picked with :func:`free_port` once let another test suite's
    server take it first: the test server exited, and a test waited for a
    stranger's server to relay its chat room (see :func:`running_server`).
    """
    return running_server(["-m", "websockets_typed", "serve", "--port", "0", *args], _BANNER)


# The test server's first line, with the port it picked.
_BANNER = re.compile(r"^Test server running: open https?://127\.0\.0\.1:(\d+)/")


async def _read_port(pattern: re.Pattern[str], server: RunningServer) -> int:
    assert server.process.stdout is not None
    line = (await asyncio.wait_for(server.process.stdout.readline(), START_TIMEOUT)).decode()
    server.head = line
    match = pattern.search(line)
    assert match is not None, f"no port in {line!r}"
    return int(match.group(1))


def wait_for_port_sync(port: int, process: subprocess.Popen[str]) -> None:
    """Wait until ``port`` accepts connections, or fail if ``process`` exits first."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with status {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # polling, as in _wait_for_port
        else:
            return


def stop_sync(process: subprocess.Popen[str], signum: int = signal.SIGTERM) -> tuple[str, str]:
    """Send ``signum`` to ``process`` and return its stdout and stderr once it exits."""
    if process.poll() is None:
        process.send_signal(signum)
    try:
        return process.communicate(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise


@contextlib.contextmanager
def running_server_sync(args: Sequence[str | Path], port: int) -> Generator[subprocess.Popen[str]]:
    """Like :func:`running_server`, without asyncio; check a clean exit at the end."""
    process = subprocess.Popen(
        python_command(*args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=child_env(PORT=str(port)),
        text=True,
    )
    try:
        wait_for_port_sync(port, process)
        yield process
    except BaseException:
        stop_sync(process, signal.SIGKILL)
        raise
    _, stderr = stop_sync(process)
    assert process.returncode == 0, stderr
    assert stderr == ""

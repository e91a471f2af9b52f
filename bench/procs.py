"""Processes of the benchmark: pinned workers driven by JSON lines.

Every server, client and load generator runs in its own process, pinned to
one core, so that the side under test never competes with the side that
measures it. The orchestrator talks to a worker over its standard input and
output, one JSON object per line: a request ``{"op": ..., ...}`` gets one
reply, either the result or ``{"error": ...}``. Closing the worker's standard
input asks it to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import json
import os
import resource
import select
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import IO, Any, Self

__all__ = [
    "BENCH_DIR",
    "Handler",
    "Instructions",
    "Message",
    "Unsupported",
    "Worker",
    "WorkerError",
    "cpu_seconds",
    "pinning",
    "raise_open_files_limit",
    "rss_bytes",
    "run_worker",
]

BENCH_DIR = Path(__file__).resolve().parent

Message = dict[str, Any]
"""A request or a reply: a JSON object."""

Handler = Callable[[Message], Awaitable[Message]]
"""Runs one request in a worker and returns its reply."""


class Unsupported(Exception):
    """Raised in a worker when its library lacks what a scenario needs."""


class WorkerError(Exception):
    """A request failed in a worker, or the worker died or timed out."""

    def __init__(self, message: str, *, unsupported: bool = False) -> None:
        super().__init__(message)
        self.unsupported = unsupported


def raise_open_files_limit() -> None:
    """Raise the soft limit of open files to the hard limit (thousands of sockets)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from ``VmRSS`` in ``/proc/<pid>/status``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            value, unit = line.split()[1:3]
            assert unit == "kB"
            return int(value) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def pinning() -> tuple[int, int] | None:
    """The cores for the processes under test and for the fixed peers.

    ``None`` when ``taskset`` is missing or only one core is available:
    workers then share the cores the scheduler gives them.
    """
    cores = sorted(os.sched_getaffinity(0))
    if shutil.which("taskset") is None or len(cores) < 2:
        return None
    return cores[0], cores[1]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far, from ``/proc/<pid>/stat``."""
    # The command name, in parentheses, may contain spaces: split after it.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Instructions:
    """Count the instructions that process ``pid`` executes within a ``with`` block.

    The process must run under callgrind with instrumentation off, as a
    :class:`Worker` started with ``callgrind=True`` does. Instruction counts
    don't depend on what else the machine runs: they judge changes that the
    noise of shared cores hides from timings. A worker can count its own
    instructions too: the environment variable ``BENCH_CALLGRIND_OUT`` then
    names its output file.
    """

    def __init__(self, pid: int, callgrind_out: Path) -> None:
        self.pid = pid
        self.callgrind_out = callgrind_out
        self.count = 0
        """The instructions counted, once the block is over."""

    def _control(self, option: str) -> None:
        command = ["callgrind_control", option, str(self.pid)]
        subprocess.run(command, check=True, capture_output=True)

    def __enter__(self) -> Self:
        self._control("--instr=on")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._control("--instr=off")
        pattern = f"{self.callgrind_out.name}.*"
        dumps = set(self.callgrind_out.parent.glob(pattern))
        self._control("--dump")
        (dump,) = set(self.callgrind_out.parent.glob(pattern)) - dumps
        for line in dump.read_text().splitlines():
            if line.startswith("totals:"):
                self.count = int(line.split()[1])
                return
        raise RuntimeError(f"no totals in {dump}")


class Worker:
    """A worker process as seen from the orchestrator.

    Args:
        name: For messages and the log file name.
        script: The module of ``bench/`` to run, e.g. ``"servers.py"``.
        args: Its command line arguments.
        core: Pin it to this core with ``taskset``; ``None``: no pinning.
        log_dir: Where its standard error goes.
        callgrind: Run it under callgrind, to count its instructions.
        profile: Profile it with cProfile, and write the statistics there.
        environment: Variables to set in its environment, e.g. ``PYTHONPATH``
            to import websockets_typed from another checkout.
    """

    def __init__(
        self,
        name: str,
        script: str,
        args: list[str],
        core: int | None,
        log_dir: Path,
        *,
        callgrind: bool = False,
        profile: Path | None = None,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        command = [sys.executable, str(BENCH_DIR / script), *args]
        self.callgrind_out: Path | None = None
        if callgrind:
            # Instrumentation starts off: the orchestrator turns it on
            # around the timed part of each measurement (see Instructions).
            self.callgrind_out = log_dir / f"{name}.callgrind"
            command = [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={self.callgrind_out}",
                *command,
            ]
        if core is not None:
            command = ["taskset", "-c", str(core), *command]
        self.log_path = log_dir / f"{name}.log"
        log = self.log_path.open("a")
        variables = {**os.environ, **(environment or {})}
        variables.pop("PYTHONASYNCIODEBUG", None)  # debug mode would skew every figure
        if self.callgrind_out is not None:
            variables["BENCH_CALLGRIND_OUT"] = str(self.callgrind_out)
        if profile is not None:
            variables["BENCH_PROFILE"] = str(profile)
        # taskset and valgrind exec Python in the same process: the pid is
        # the worker's own, whose RSS and CPU time are ours to read.
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=variables,
        )
        log.close()
        # The first line says the worker imported its library and is ready.
        self._read(timeout=600 if callgrind else 60)

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self._process.pid

    @property
    def alive(self) -> bool:
        """Whether the process still runs."""
        return self._process.poll() is None

    def call(self, request: Message, timeout: float) -> Message:
        """Send a request and wait for its reply.

        Raises:
            WorkerError: If the request failed, or the worker died or didn't
                answer within ``timeout`` seconds (the worker is killed then).
        """
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
        except OSError as exc:
            self.kill()
            raise WorkerError(f"{self.name} died{self._log_tail()}") from exc
        reply = self._read(timeout)
        if "error" in reply:
            raise WorkerError(str(reply["error"]), unsupported=bool(reply.get("unsupported")))
        return reply

    def _read(self, timeout: float) -> Message:
        stdout = self._process.stdout
        assert stdout is not None
        # One reply per request: nothing is ever left in the reader's buffer,
        # so waiting on the file descriptor is enough.
        ready, _, _ = select.select([stdout], [], [], timeout)
        if not ready:
            self.kill()
            raise WorkerError(f"{self.name} didn't answer within {timeout:.0f} s")
        line = stdout.readline()
        if not line:
            self.kill()
            raise WorkerError(f"{self.name} died{self._log_tail()}")
        reply: Message = json.loads(line)
        return reply

    def _log_tail(self) -> str:
        lines = self.log_path.read_text(errors="replace").strip().splitlines()
        return f": {lines[-1]}" if lines else ""

    def close(self, timeout: float = 10) -> None:
        """Ask the worker to stop, and kill it if it doesn't in time."""
        if self._process.stdin is not None and not self._process.stdin.closed:
            with contextlib.suppress(OSError):  # it may have died already
                self._process.stdin.close()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        if self._process.stdout is not None:
            self._process.stdout.close()

    def kill(self) -> None:
        """Stop the worker at once."""
        self._process.kill()
        self._process.wait()


# Worker side.


def _take_stdout() -> IO[str]:
    """Keep the real standard output for replies, and send prints to stderr.

    A library that prints would otherwise corrupt the reply channel.
    """
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return channel


async def _serve_requests(handlers: Mapping[str, Handler], channel: IO[str]) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**20)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )

    def reply(message: Message) -> None:
        channel.write(json.dumps(message) + "\n")
        channel.flush()

    reply({"ready": True})
    try:
        while line := await reader.readline():
            request: Message = json.loads(line)
            try:
                result = await handlers[request["op"]](request)
            except Unsupported as exc:
                reply({"error": str(exc), "unsupported": True})
            except Exception as exc:
                reply({"error": f"{type(exc).__name__}: {exc}"})
            else:
                reply(result)
        if "exit" in handlers:
            await handlers["exit"]({})
    finally:
        transport.close()


def run_worker(handlers: Mapping[str, Handler], *, uvloop: bool) -> None:
    """Serve requests from the orchestrator until it closes our standard input.

    Args:
        handlers: Coroutine per request ``op``; ``"exit"``, if present, runs
            at the end to release what the others left open.
        uvloop: Run on uvloop instead of asyncio's default event loop.

    With the environment variable ``BENCH_PROFILE`` set, the whole run is
    profiled with cProfile and the statistics written to the file it names
    (``run.py --profile``): call counts per operation tell what each one costs.
    """
    raise_open_files_limit()
    channel = _take_stdout()
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if uvloop:
        import uvloop as uvloop_module  # noqa: PLC0415 - only when asked for

        loop_factory = uvloop_module.new_event_loop
    profile_path = os.environ.get("BENCH_PROFILE")
    profiler = cProfile.Profile() if profile_path else None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        if profiler is not None:
            profiler.enable()
        try:
            runner.run(_serve_requests(handlers, channel))
        finally:
            if profiler is not None and profile_path:
                profiler.disable()
                profiler.dump_stats(profile_path)

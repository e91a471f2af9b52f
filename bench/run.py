"""Benchmark websockets_typed against websockets, aiohttp, picows, raw asyncio
and, with threads, websockets.sync and websocket-client.

Usage, from the repository's root, once ``pip install -e '.[bench]'`` ran
in the virtual environment (``scripts/bench`` does both)::

    python bench/run.py [--quick] [--uvloop] [--repetitions N]
                        [--libraries a,b] [--scenarios S1,C1] [--json FILE]

It prints a Markdown table: for each scenario, the median and the min-max
of every library over the repetitions, and the ratio of websockets_typed to
each other library (median and min-max of the per-repetition ratios, each
taken from two measurements made one right after the other), the ratio of
rates over CPU time to websockets, and the scenario's target.

Method: every library runs in its own worker process, pinned with taskset
to one core; the fixed peers (``fixed.py``: a load generator for servers, a
server for clients) run pinned to another core. They cost little and the
same whatever they talk to, so the library's cost dominates. "raw-asyncio"
(``raw.py``) is no library: plain asyncio protocols that do the least the
fixed peers accept, the limit of anything built on the event loop. Each
measurement starts with a warm-up on the same connections. Repetitions go
round every scenario, and within a scenario round every library, in an
order that rotates from one repetition to the next. A library's worker is
long-lived: it serves every scenario of every repetition, except the
"(fresh)" rows (and S5), each measured in a new process. The large-message
scenarios run both ways: "(fresh)", and "(long-lived)" after every other
scenario of the repetition. Besides the rate over wall-clock time, the table
gives the ratio of rates over CPU time of the process under test, which
other loads on the machine disturb less.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from procs import Instructions, Message, Worker, WorkerError, cpu_seconds, pinning

OURS = "websockets_typed"
REFERENCE = "websockets"
# No library: plain asyncio protocols (raw.py), the limit of the event loop.
RAW = "raw-asyncio"
LIBRARIES = [OURS, REFERENCE, "aiohttp", "picows", RAW]
# The threading libraries, measured in the "-sync" scenarios only.
OURS_SYNC = "websockets_typed.sync"
REFERENCE_SYNC = "websockets.sync"
SYNC_LIBRARIES = [OURS_SYNC, REFERENCE_SYNC, "websocket-client"]


@dataclass(frozen=True)
class Sizes:
    """How much work each measurement does (the timed part; warm-ups are a tenth)."""

    round_trips: int  # S1, C1
    pipelined: int  # S2
    large_1m: int  # S3, C2: messages of 1 MiB
    large_16m: int  # S3, C2: messages of 16 MiB
    handshakes: int  # S4, each of the two variants
    idle: int  # S5: connections
    room: int  # S6: clients
    broadcasts: int  # S6: messages
    compressed: int  # S7


FULL = Sizes(
    round_trips=10_000,
    pipelined=100_000,
    large_1m=500,
    large_16m=32,
    handshakes=1_000,
    idle=2_000,
    room=500,
    broadcasts=2_000,
    compressed=20_000,
)
# Under callgrind, the process under test runs some 50 times slower.
CALLGRIND = Sizes(
    round_trips=500,
    pipelined=5_000,
    large_1m=10,
    large_16m=2,
    handshakes=100,
    idle=0,
    room=500,
    broadcasts=20,
    compressed=1_000,
)
QUICK = Sizes(
    round_trips=1_000,
    pipelined=10_000,
    large_1m=40,
    large_16m=4,
    handshakes=100,
    idle=300,
    room=100,
    broadcasts=200,
    compressed=2_000,
)

MiB = 2**20


@dataclass
class Sample:
    """One measurement: the figure, and the rate over CPU time if relevant.

    Under callgrind, the figure is the number of instructions per operation.
    """

    value: float
    cpu_rate: float | None = None
    pid: int | None = None
    """The process under test: tells long-lived workers from fresh ones."""


class Bench:
    """The workers and the settings of one run."""

    def __init__(
        self,
        sizes: Sizes,
        libraries: list[str],
        uvloop: bool,
        log_dir: Path,
        *,
        callgrind: bool = False,
        profile: bool = False,
    ) -> None:
        self.sizes = sizes
        self.uvloop = uvloop
        self.log_dir = log_dir
        self.callgrind = callgrind
        self.profile = profile
        self._spawned = 0
        # Timeouts of requests to the processes under test.
        self.timeout = 3000 if callgrind else 300
        cores = pinning()
        self.cores: tuple[int | None, int | None] = (None, None) if cores is None else cores
        flags = ["--uvloop"] if uvloop else []
        self.load = Worker("load", "fixed.py", ["load", *flags], self.cores[1], log_dir)
        self.fixed_server = Worker("server", "fixed.py", ["server", *flags], self.cores[1], log_dir)
        self.libraries: dict[str, Worker] = {name: self.spawn(name) for name in libraries}

    def spawn(self, library: str) -> Worker:
        """Start a worker process for a library, pinned to the core under test."""
        flags = ["--uvloop"] if self.uvloop else []
        self._spawned += 1
        # A name per process: its log, profile and callgrind files are its own.
        name = f"{library}-{self._spawned}"
        return Worker(
            name,
            "libs.py",
            [library, *flags],
            self.cores[0],
            self.log_dir,
            callgrind=self.callgrind,
            profile=self.log_dir / f"{name}.prof" if self.profile else None,
        )

    @contextlib.contextmanager
    def fresh(self, library: str) -> Generator[None, None, None]:
        """Within the block, the library's worker is a new process.

        The long-lived worker waits meanwhile, untouched, and serves again
        after the block: the new one is closed.
        """
        long_lived = self.libraries[library]
        self.libraries[library] = self.spawn(library)
        try:
            yield
        finally:
            # worker() may have replaced the new process if it died.
            self.libraries[library].close()
            self.libraries[library] = long_lived

    def worker(self, library: str) -> Worker:
        """The library's worker, restarted if a failure killed it."""
        worker = self.libraries[library]
        if not worker.alive:
            worker = self.libraries[library] = self.spawn(library)
        return worker

    def close(self) -> None:
        for worker in [self.load, self.fixed_server, *self.libraries.values()]:
            worker.close()

    @contextlib.contextmanager
    def server(
        self,
        library: str,
        *,
        compression: bool = False,
        like_aiohttp: bool = False,
        worker: Worker | None = None,
    ) -> Generator[int, None, None]:
        """Run the library's server for the duration of the block; yield its port.

        ``like_aiohttp`` asks for aiohttp's deflate settings (see libs.py).
        """
        worker = worker or self.worker(library)
        request = {"op": "start", "compression": compression, "like_aiohttp": like_aiohttp}
        port: int = worker.call(request, self.timeout)["port"]
        try:
            yield port
        finally:
            if worker.alive:
                worker.call({"op": "stop"}, self.timeout)

    @contextlib.contextmanager
    def session(
        self, port: int, path: str, count: int = 1, deflate: str | None = None
    ) -> Generator[int, None, None]:
        """Open ``count`` load generator connections to ``path``; yield the session."""
        reply = self.load.call(
            {"op": "open", "port": port, "path": path, "count": count, "deflate": deflate},
            self.timeout,
        )
        if deflate is not None and not reply["deflate"]:
            raise WorkerError("the server didn't negotiate permessage-deflate")
        try:
            yield reply["session"]
        finally:
            self.load.call({"op": "close", "session": reply["session"]}, self.timeout)

    def timed(self, server: Worker, request: Message, warmup: Message, scale: float) -> Sample:
        """Run a warm-up then a timed load generator request; rate per second.

        ``scale`` converts the request's ``ops`` into the reported unit.
        """
        self.load.call({**request, **warmup}, self.timeout)
        if server.callgrind_out is not None:
            with Instructions(server.pid, server.callgrind_out) as counted:
                reply = self.load.call(request, self.timeout)
            return Sample(counted.count / (reply["ops"] * scale), pid=server.pid)
        cpu = cpu_seconds(server.pid)
        reply = self.load.call(request, self.timeout)
        cpu = cpu_seconds(server.pid) - cpu
        ops = reply["ops"] * scale
        return Sample(ops / reply["seconds"], ops / cpu if cpu > 0 else None, server.pid)


# Scenarios: each measures one library once.


def s1_latency(bench: Bench, library: str) -> Sample:
    count = bench.sizes.round_trips
    with bench.server(library) as port, bench.session(port, "/echo") as session:
        request = {"op": "latency", "session": session, "count": count}
        return bench.timed(bench.worker(library), request, {"count": count // 10}, 1)


def s2_pipelined(bench: Bench, library: str) -> Sample:
    count = bench.sizes.pipelined
    with bench.server(library) as port, bench.session(port, "/echo") as session:
        request = {"op": "pipeline", "session": session, "count": count, "window": 1000}
        request["size"] = 64
        return bench.timed(bench.worker(library), request, {"count": count // 10}, 1)


def s3_large(size: int) -> Callable[[Bench, str], Sample]:
    def s3(bench: Bench, library: str) -> Sample:
        count = bench.sizes.large_1m if size == MiB else bench.sizes.large_16m
        with bench.server(library) as port, bench.session(port, "/ack") as session:
            request = {"op": "large", "session": session, "count": count, "size": size}
            warmup = {"count": max(count // 10, 1)}
            return bench.timed(bench.worker(library), request, warmup, 1e-6)

    return s3


def s4_handshakes(concurrency: int) -> Callable[[Bench, str], Sample]:
    def s4(bench: Bench, library: str) -> Sample:
        count = bench.sizes.handshakes
        with bench.server(library) as port:
            request = {"op": "handshakes", "port": port, "count": count}
            request["concurrency"] = concurrency
            return bench.timed(bench.worker(library), request, {"count": count // 10}, 1)

    return s4


def s5_memory(compression: bool) -> Callable[[Bench, str], Sample]:
    def s5(bench: Bench, library: str) -> Sample:
        if bench.callgrind:
            raise WorkerError("memory isn't measured under callgrind", unsupported=True)
        # A new process, so that memory freed by earlier scenarios doesn't
        # hide the growth.
        worker = bench.spawn(library)
        try:
            deflate = "browser" if compression else None
            with bench.server(library, compression=compression, worker=worker) as port:
                # Warm-up: whatever a first connection allocates once.
                with bench.session(port, "/idle", 20, deflate):
                    pass
                before = worker.call({"op": "memory"}, 60)["rss"]
                with bench.session(port, "/idle", bench.sizes.idle, deflate):
                    after = worker.call({"op": "memory"}, 60)["rss"]
        finally:
            worker.close()
        return Sample((after - before) / bench.sizes.idle / 1024, pid=worker.pid)

    return s5


def s6_broadcast(bench: Bench, library: str) -> Sample:
    sizes = bench.sizes
    with bench.server(library) as port, bench.session(port, "/room", sizes.room) as session:
        request = {"op": "room", "session": session, "count": sizes.broadcasts, "size": 64}
        return bench.timed(bench.worker(library), request, {"count": sizes.broadcasts // 10}, 1)


def s7_compression(like_aiohttp: bool) -> Callable[[Bench, str], Sample]:
    def s7(bench: Bench, library: str) -> Sample:
        return _s7(bench, library, like_aiohttp)

    return s7


def _s7(bench: Bench, library: str, like_aiohttp: bool) -> Sample:
    count = bench.sizes.compressed
    with (
        bench.server(library, compression=True, like_aiohttp=like_aiohttp) as port,
        bench.session(port, "/echo", deflate="deflate") as session,
    ):
        request = {"op": "pipeline", "session": session, "count": count, "window": 1000}
        request |= {"size": 1024, "json": True}
        return bench.timed(bench.worker(library), request, {"count": count // 10}, 1)


def c1_latency(bench: Bench, library: str) -> Sample:
    return client_run(bench, library, "latency", bench.sizes.round_trips, 0)


def c2_large(size: int) -> Callable[[Bench, str], Sample]:
    def c2(bench: Bench, library: str) -> Sample:
        count = bench.sizes.large_1m if size == MiB else bench.sizes.large_16m
        return client_run(bench, library, "large", count, size)

    return c2


def client_run(bench: Bench, library: str, kind: str, count: int, size: int) -> Sample:
    port = bench.fixed_server.call({"op": "start"}, 60)["port"]
    worker = bench.worker(library)
    try:
        request = {"op": "client", "kind": kind, "port": port, "count": count, "size": size}
        request["warmup"] = max(count // 10, 1)
        request["callgrind"] = bench.callgrind
        reply = worker.call(request, bench.timeout)
    finally:
        bench.fixed_server.call({"op": "stop"}, 60)
    scale = 1e-6 if kind == "large" else 1
    ops = reply["ops"] * scale
    if bench.callgrind:
        return Sample(reply["instructions"] / ops, pid=worker.pid)
    cpu_rate = ops / reply["cpu"] if reply["cpu"] > 0 else None
    return Sample(ops / reply["seconds"], cpu_rate, worker.pid)


@dataclass(frozen=True)
class Target:
    """A scenario's target: the ratio ours / ``peer`` (median) against ``bound``.

    "Ahead of a peer" is a ratio of at least 1 to it.
    """

    peer: str
    bound: float
    lower_is_better: bool = False

    def __str__(self) -> str:
        sign = "≤" if self.lower_is_better else "≥"
        return f"{sign} {self.bound} \N{MULTIPLICATION SIGN} {self.peer}"

    def met(self, ratio: float) -> bool:
        return ratio <= self.bound if self.lower_is_better else ratio >= self.bound


@dataclass
class Scenario:
    key: str
    title: str
    unit: str
    measure: Callable[[Bench, str], Sample]
    target: Target
    fresh: bool = False
    """Measure each library in a new process, whose memory no earlier
    scenario shaped: how malloc serves large buffers depends on the ones
    freed before (mmap thresholds)."""
    last: bool = False
    """Run after every other scenario of a repetition, in the library's
    long-lived worker, which has served them all: the condition of a
    server that has been up for a while."""
    sync: bool = False
    """Measures the threading libraries rather than the asyncio ones."""
    samples: dict[str, list[Sample | None]] = field(default_factory=dict[str, list[Sample | None]])
    errors: dict[str, str] = field(default_factory=dict[str, str])

    def measures(self, library: str) -> bool:
        """Whether this scenario applies to ``library``."""
        return (library in SYNC_LIBRARIES) == self.sync


def large_scenarios(
    key: str, title: str, measure: Callable[[Bench, str], Sample], target: Target
) -> list[Scenario]:
    """A large-message scenario twice: in a fresh process and in the long-lived one."""
    return [
        Scenario(f"{key} (fresh)", title, "MB/s", measure, target, fresh=True),
        Scenario(f"{key} (long-lived)", title, "MB/s", measure, target, last=True),
    ]


def scenarios() -> list[Scenario]:
    """Every scenario, in the order of the table, with the targets of issue 16."""
    raw, picows = Target(RAW, 0.85), Target("picows", 1.0)
    return [
        Scenario("S1", "latency: 16 B text, send → echo", "round trips/s", s1_latency, raw),
        Scenario("S2", "pipelined: 64 B binary, ≤ 1000 in flight", "msg/s", s2_pipelined,
                 Target(REFERENCE, 3.1)),
        *large_scenarios("S3 1 MiB", "large inbound, masked, 1 MiB", s3_large(MiB), picows),
        *large_scenarios("S3 16 MiB", "large inbound, masked, 16 MiB", s3_large(16 * MiB),
                         picows),
        Scenario("S4 seq", "handshakes, one at a time", "conn/s", s4_handshakes(1), raw),
        Scenario("S4 x16", "handshakes, 16 at a time", "conn/s", s4_handshakes(16), picows),
        Scenario("S5", "idle connection", "KiB/conn", s5_memory(False),
                 Target(REFERENCE, 0.6, lower_is_better=True)),
        Scenario("S5 deflate", "idle connection, deflate", "KiB/conn", s5_memory(True),
                 Target(REFERENCE, 0.8, lower_is_better=True)),
        Scenario("S6", "broadcast: 64 B to every client", "deliveries/s", s6_broadcast,
                 Target(REFERENCE, 1.3)),
        Scenario("S7", "pipelined, deflate, 1 KiB JSON", "msg/s", s7_compression(False),
                 Target("aiohttp", 1.0)),
        Scenario("S7 same", "S7, every server with aiohttp's deflate settings", "msg/s",
                 s7_compression(True), Target("aiohttp", 1.0)),
        Scenario("C1", "client latency: 16 B text, send → echo", "round trips/s", c1_latency,
                 raw),
        *large_scenarios("C2 1 MiB", "client large outbound, 1 MiB", c2_large(MiB), picows),
        *large_scenarios("C2 16 MiB", "client large outbound, 16 MiB", c2_large(16 * MiB),
                         picows),
        Scenario("S1-sync", "threads, latency: 16 B text, send → echo", "round trips/s",
                 s1_latency, Target(REFERENCE_SYNC, 1.0), sync=True),
        Scenario("C1-sync", "threads, client latency: 16 B text, send → echo", "round trips/s",
                 c1_latency, Target(REFERENCE_SYNC, 1.0), sync=True),
    ]  # fmt: skip


def select(selected: list[Scenario], keys: str) -> list[Scenario]:
    """The scenarios named by comma-separated keys or key prefixes of whole words.

    ``S3`` selects the four S3 rows, ``S3 1 MiB`` its two, ``S1`` not ``S1-sync``.
    """
    wanted = [key.strip().lower() for key in keys.split(",") if key.strip()]
    return [
        scenario
        for scenario in selected
        if any(scenario.key.lower() == key or scenario.key.lower().startswith(key + " ")
               for key in wanted)
    ]  # fmt: skip


def rotated(items: list[str], shift: int) -> list[str]:
    shift %= len(items)
    return items[shift:] + items[:shift]


def run(bench: Bench, selected: list[Scenario], libraries: list[str], repetitions: int) -> None:
    """Measure every library in every scenario, ``repetitions`` times.

    Scenarios marked ``last`` run after the others in each repetition.
    """
    ordered = [s for s in selected if not s.last] + [s for s in selected if s.last]
    for repetition in range(repetitions):
        for scenario in ordered:
            for library in rotated(libraries, repetition):
                if not scenario.measures(library):
                    continue
                samples = scenario.samples.setdefault(library, [])
                try:
                    sample: Sample | None
                    if scenario.fresh:
                        with bench.fresh(library):
                            sample = scenario.measure(bench, library)
                    else:
                        sample = scenario.measure(bench, library)
                except WorkerError as exc:
                    sample = None
                    if not exc.unsupported:
                        scenario.errors[library] = str(exc)
                        print(f"{scenario.key} {library}: {exc}", file=sys.stderr)
                samples.append(sample)
            print(
                f"repetition {repetition + 1}/{repetitions}: {scenario.key} done", file=sys.stderr
            )


# Reporting.


def number(value: float) -> str:
    """Three significant digits, thousands separated."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def spread(values: list[float]) -> str:
    return f"{number(statistics.median(values))} ({number(min(values))}-{number(max(values))})"


def ours(scenario: Scenario) -> str:
    """Our library in a scenario: the threading one in the "-sync" scenarios."""
    return OURS_SYNC if scenario.sync else OURS


def peer_in(scenario: Scenario, peer: str) -> str:
    """The library that stands for ``peer`` in a scenario.

    In the threading scenarios, websockets is websockets.sync.
    """
    return REFERENCE_SYNC if scenario.sync and peer == REFERENCE else peer


def ratios(scenario: Scenario, peer: str, cpu: bool, inverse: bool = False) -> list[float]:
    """Per-repetition ratios ours / ``peer``; ``peer`` / ours with ``inverse``.

    Each ratio divides two measurements of the same repetition, made one
    after the other.
    """
    result: list[float] = []
    for mine, theirs in zip(
        scenario.samples.get(ours(scenario), []),
        scenario.samples.get(peer_in(scenario, peer), []),
        strict=False,
    ):
        if mine is None or theirs is None:
            continue
        if cpu:
            if mine.cpu_rate is not None and theirs.cpu_rate is not None:
                result.append(mine.cpu_rate / theirs.cpu_rate)
        elif inverse and mine.value > 0:
            result.append(theirs.value / mine.value)
        elif not inverse and theirs.value > 0:
            result.append(mine.value / theirs.value)
    return result


def peers(libraries: list[str]) -> list[str]:
    """The libraries we compare ourselves with, websockets first: a ratio column each."""
    others = [
        name for name in libraries if name not in (OURS, REFERENCE, OURS_SYNC, REFERENCE_SYNC)
    ]
    return [REFERENCE, *others]


def table(selected: list[Scenario], libraries: list[str], callgrind: bool) -> str:
    """The results as a Markdown table.

    A ratio column per peer (ours / peer: more than 1 means faster, or for
    memory, bigger), the CPU-time ratio to websockets, and the target, with
    its verdict when its peer took part. Under callgrind, cells are
    instructions per operation and the ratios peer / ours, so that, as for
    rates, more than 1 means faster; the targets, set for rates, are shown
    without a verdict.
    """
    compared = peers(libraries)
    if callgrind:
        ratio_columns = [f"{peer} / ours (instructions)" for peer in compared]
        header = ["Scenario", "Unit", *libraries, *ratio_columns, "Target"]
    else:
        ratio_columns = [f"ours / {peer}" for peer in compared]
        header = ["Scenario", "Unit", *libraries, *ratio_columns, "CPU ours / websockets", "Target"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for scenario in selected:
        unit = f"instructions per {_OPERATION[scenario.unit]}" if callgrind else scenario.unit
        cells = [f"**{scenario.key}** {scenario.title}", unit]
        for library in libraries:
            values = [s.value for s in scenario.samples.get(library, []) if s is not None]
            if values:
                cells.append(spread(values))
            else:
                cells.append("error" if library in scenario.errors else "n/a")
        for peer in compared:
            wall = ratios(scenario, peer, cpu=False, inverse=callgrind)
            cells.append(spread(wall) if wall else "-")
        if not callgrind:
            cpu = ratios(scenario, REFERENCE, cpu=True)
            cells.append(spread(cpu) if cpu else "-")
        target = str(scenario.target)
        judged = ratios(scenario, scenario.target.peer, cpu=False)
        if judged and not callgrind:
            target += " ✅" if scenario.target.met(statistics.median(judged)) else " ❌"
        cells.append(target)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


_OPERATION = {
    "round trips/s": "round trip",
    "msg/s": "message",
    "MB/s": "MB",
    "conn/s": "connection",
    "KiB/conn": "connection",
    "deliveries/s": "delivery",
}


def version(distribution: str) -> str:
    if distribution == RAW:
        return f"Python {platform.python_version()}"
    try:
        # The threading implementations ship with their asyncio ones.
        return importlib.metadata.version(distribution.removesuffix(".sync"))
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def describe(bench: Bench, repetitions: int, quick: bool) -> str:
    """The conditions of the run, as a Markdown list."""
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    from websockets_typed.extensions.permessage_deflate import ZLIB_NG  # noqa: PLC0415
    from websockets_typed.frames import SPEEDUPS  # noqa: PLC0415 - reads the environment

    pinned = "not pinned" if bench.cores[0] is None else f"pinned to cores {bench.cores}"
    versions = ", ".join(f"{name} {version(name)}" for name in bench.libraries)
    return "\n".join(
        [
            f"- Date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
            f"- Machine: {platform.machine()}, {cpu}, {os.cpu_count()} cores; "
            f"{platform.system()} {platform.release()}",
            f"- Python {platform.python_version()}; {versions}",
            f"- Event loop: {'uvloop ' + version('uvloop') if bench.uvloop else 'asyncio'}; "
            f"websockets_typed C accelerator: {'on' if SPEEDUPS else 'off'}, "
            f"zlib-ng: {'on' if ZLIB_NG else 'off'}",
            f"- {'Callgrind' if bench.callgrind else 'Quick' if quick else 'Full'} run: "
            f"{repetitions} repetitions, "
            f"processes {pinned}; cells: median (min-max)",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Benchmark websockets_typed against its peers.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: under a minute")
    parser.add_argument("--uvloop", action="store_true", help="run every process on uvloop")
    parser.add_argument("--repetitions", type=int, default=3, help="at least 3 (default)")
    parser.add_argument(
        "--libraries", help=f"comma-separated, among {', '.join(LIBRARIES + SYNC_LIBRARIES)}"
    )
    parser.add_argument(
        "--scenarios", help="comma-separated keys or key prefixes, e.g. S1,S3,C2 1 MiB"
    )
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="count instructions per operation of the process under test (slow)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the processes under test with cProfile (files in the log directory)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw samples to this file")
    args = parser.parse_args()

    libraries = [name for name in LIBRARIES + SYNC_LIBRARIES if version(name) != "not installed"]
    if args.libraries:
        libraries = [name for name in args.libraries.split(",") if name]
    for required in (OURS, REFERENCE):
        if required not in libraries:
            parser.error(f"{required} is needed for the ratios")
    selected = scenarios()
    if args.scenarios:
        selected = select(selected, args.scenarios)

    started = time.monotonic()
    log_dir = Path(tempfile.mkdtemp(prefix="websockets-typed-bench-"))
    sizes = CALLGRIND if args.callgrind else QUICK if args.quick else FULL
    bench = Bench(
        sizes, libraries, args.uvloop, log_dir, callgrind=args.callgrind, profile=args.profile
    )
    try:
        run(bench, selected, libraries, args.repetitions)
        description = describe(bench, args.repetitions, args.quick)
    finally:
        bench.close()
    print(description)
    print()
    print(table(selected, libraries, args.callgrind))
    print()
    print(f"Took {time.monotonic() - started:.0f} s; worker logs in {log_dir}")
    if args.json:
        raw = {
            scenario.key: {
                library: [None if s is None else vars(s) for s in samples]
                for library, samples in scenario.samples.items()
            }
            for scenario in selected
        }
        args.json.write_text(json.dumps(raw, indent=2))


if __name__ == "__main__":
    main()

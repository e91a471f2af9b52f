"""Servers side by side on one load generator, in alternating rounds.

Where ``run.py`` measures each library a few times, this measures a few
servers many times, round after round, one after the other, with the same
load generator: the ratios between them then hold however the machine's
speed drifts, and the CPU time of each side tells which one bounds the
rate (the load generator is a peer too, on its own core)::

    python bench/alternate.py [--uvloop] [--scenario S1|S4|S4-seq]
                              [--rounds N] [--count N] SERVER [SERVER ...]

A SERVER is a library of ``libs.py`` (``websockets_typed``, ``picows``,
``raw-asyncio``...), or ``NAME=PATH``: websockets_typed imported from the
checkout at PATH (a git worktree, say), to compare two versions of our
code. Per server, it prints the median rate, the median and quartiles of
its per-round ratio to the first server, and the CPU time per operation
of the server and of the load generator.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from procs import Message, Worker, cpu_seconds, pinning

SCENARIOS = {
    "S1": "latency: 16 B text, send → echo, round trips/s",
    "S4": "handshakes, 16 at a time, connections/s",
    "S4-seq": "handshakes, one at a time, connections/s",
}
TIMEOUT = 300


@dataclass
class Server:
    """One server under test, and what it measured so far."""

    label: str
    worker: Worker
    port: int
    session: int | None = None
    rates: list[float] = field(default_factory=list[float])
    server_cpu: float = 0.0
    load_cpu: float = 0.0
    operations: int = 0


def start(label: str, core: int | None, log_dir: Path, uvloop: bool) -> Server:
    """Start a server: ``label`` is a library or ``NAME=PATH``."""
    library, environment = label, None
    if "=" in label:
        library, environment = "websockets_typed", {"PYTHONPATH": label.split("=", 1)[1]}
    flags = ["--uvloop"] if uvloop else []
    name = label.split("=", 1)[0]
    worker = Worker(name, "libs.py", [library, *flags], core, log_dir, environment=environment)
    port: int = worker.call({"op": "start", "compression": False}, TIMEOUT)["port"]
    return Server(name, worker, port)


def request_for(scenario: str, server: Server, count: int) -> Message:
    if scenario == "S1":
        return {"op": "latency", "session": server.session, "count": count}
    concurrency = 16 if scenario == "S4" else 1
    return {"op": "handshakes", "port": server.port, "count": count, "concurrency": concurrency}


def measure(load: Worker, server: Server, request: Message) -> None:
    """One round of one server: its rate and both sides' CPU time."""
    server_cpu, load_cpu = cpu_seconds(server.worker.pid), cpu_seconds(load.pid)
    reply = load.call(request, TIMEOUT)
    server.server_cpu += cpu_seconds(server.worker.pid) - server_cpu
    server.load_cpu += cpu_seconds(load.pid) - load_cpu
    server.operations += reply["ops"]
    server.rates.append(reply["ops"] / reply["seconds"])


def report(servers: list[Server]) -> str:
    first = servers[0]
    lines = [
        f"| Server | median rate | / {first.label} (p25-p75) | server CPU µs/op | "
        "load generator CPU µs/op |",
        "|---|---|---|---|---|",
    ]
    for server in servers:
        ratios = [a / b for a, b in zip(server.rates, first.rates, strict=True)]
        low, _, high = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
        lines.append(
            f"| {server.label} | {statistics.median(server.rates):,.0f} "
            f"| {statistics.median(ratios):.3f} ({low:.3f}-{high:.3f}) "
            f"| {server.server_cpu * 1e6 / server.operations:.1f} "
            f"| {server.load_cpu * 1e6 / server.operations:.1f} |"
        )
    return "\n".join(lines)


@contextlib.contextmanager
def running(
    labels: list[str], log_dir: Path, uvloop: bool
) -> Generator[tuple[Worker, list[Server]]]:
    cores = pinning() or (None, None)
    flags = ["--uvloop"] if uvloop else []
    load = Worker("load", "fixed.py", ["load", *flags], cores[1], log_dir)
    servers: list[Server] = []
    try:
        for label in labels:
            servers.append(start(label, cores[0], log_dir, uvloop))
        yield load, servers
    finally:
        for worker in [load, *(server.worker for server in servers)]:
            worker.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("servers", nargs="+", metavar="SERVER")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="S1")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--count", type=int, default=2000, help="operations per round")
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="websockets-typed-alternate-"))
    with running(args.servers, log_dir, args.uvloop) as (load, servers):
        if args.scenario == "S1":
            for server in servers:
                opened = {"op": "open", "port": server.port, "path": "/echo", "count": 1}
                server.session = load.call(opened, TIMEOUT)["session"]
        # A warm-up round, not counted.
        for server in servers:
            load.call(request_for(args.scenario, server, args.count // 4 or 1), TIMEOUT)
        for _ in range(args.rounds):
            for server in servers:
                measure(load, server, request_for(args.scenario, server, args.count))
    print(f"{args.scenario} ({SCENARIOS[args.scenario]}), {args.rounds} rounds of {args.count}")
    print(f"{'uvloop' if args.uvloop else 'asyncio'}; worker logs in {log_dir}\n")
    print(report(servers))


if __name__ == "__main__":
    main()

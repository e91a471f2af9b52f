"""Scale on one process: many idle connections, many connect/close cycles.

Run on demand (minutes, not seconds; ``scripts/scale`` wraps it)::

    .venv/bin/python tests/scale.py idle --connections 10000 --processes 4
    .venv/bin/python tests/scale.py idle --connections 10000 --processes 4 --no-compression
    .venv/bin/python tests/scale.py cycles --cycles 100000

``idle`` starts a server in this process, opens the connections from client
processes, and reports the server's memory per connection: the growth of
its resident set size divided by the number of connections, once every
connection is open and idle, and again after one message went each way
(which allocates permessage-deflate's state). ``cycles`` connects and
closes in a loop, client and server in this process, and samples the open
file descriptors (``/proc/self/fd``) and the resident set size at
intervals, reporting their slopes.

``tests/tools/test_scale.py`` runs both with small numbers as part of the suite.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

from websockets_typed import ClientConnection, ServerConnection, connect, serve

Compression = Literal["deflate"] | None

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    """Resident set size of this process, in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE


def open_fds() -> int:
    """Number of open file descriptors of this process."""
    return len(os.listdir("/proc/self/fd"))


def raise_fd_limit(needed: int) -> int:
    """Raise RLIMIT_NOFILE to at least ``needed`` (up to the hard limit, or beyond as root)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    else:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def settle() -> int:
    """Collect garbage, then return the resident set size."""
    gc.collect()
    return rss()


async def echo(websocket: ServerConnection) -> None:
    async for message in websocket:
        await websocket.send(message)


def _compression(no_compression: bool) -> Compression:
    return None if no_compression else "deflate"


# Idle connections.


@dataclass
class IdleResult:
    """Memory of a server holding ``connections`` idle connections."""

    connections: int
    compression: Compression
    fd_limit: int
    rss_before: int
    rss_idle: int
    rss_after_message: int
    rss_after_close: int
    fds_before: int
    fds_idle: int
    fds_after_close: int
    seconds_to_open: float
    client_bytes_per_connection: list[float] = field(default_factory=list[float])

    @property
    def bytes_per_idle_connection(self) -> float:
        return (self.rss_idle - self.rss_before) / self.connections

    @property
    def bytes_per_connection_after_message(self) -> float:
        return (self.rss_after_message - self.rss_before) / self.connections

    def report(self) -> str:
        kib = 1024
        lines = [
            f"connections: {self.connections} (compression: {self.compression})",
            f"fd limit: {self.fd_limit}; server fds: {self.fds_before} before, "
            f"{self.fds_idle} idle, {self.fds_after_close} after closing",
            f"opened in {self.seconds_to_open:.1f} s",
            f"server RSS: {self.rss_before / kib**2:.1f} MiB before, "
            f"{self.rss_idle / kib**2:.1f} MiB idle, "
            f"{self.rss_after_message / kib**2:.1f} MiB after one message each way, "
            f"{self.rss_after_close / kib**2:.1f} MiB after closing",
            f"server memory per idle connection: {self.bytes_per_idle_connection / kib:.1f} KiB",
            f"server memory per connection after a message: "
            f"{self.bytes_per_connection_after_message / kib:.1f} KiB",
        ]
        if self.client_bytes_per_connection:
            mean = sum(self.client_bytes_per_connection) / len(self.client_bytes_per_connection)
            lines.append(f"client memory per connection after a message: {mean / kib:.1f} KiB")
        return "\n".join(lines)


async def open_clients(
    port: int, count: int, compression: Compression, batch: int = 200
) -> list[ClientConnection]:
    """Open ``count`` connections, ``batch`` at a time, from several source addresses."""
    clients: list[ClientConnection] = []
    for start in range(0, count, batch):
        clients += await asyncio.gather(
            *(
                connect(
                    f"ws://127.0.0.1:{port}/",
                    compression=compression,
                    # Spread source ports over 127.0.0.2-9: one address has
                    # fewer ephemeral ports than a big run needs.
                    local_addr=(f"127.0.0.{2 + index % 8}", 0),
                    open_timeout=60,
                )
                for index in range(start, min(start + batch, count))
            )
        )
    return clients


async def exchange(clients: Sequence[ClientConnection]) -> None:
    """Send one message on each connection and receive its echo."""
    for start in range(0, len(clients), 200):
        part = clients[start : start + 200]
        for client in part:
            await client.send("Hello, Hello, Hello!")
        for client in part:
            await client.recv()


async def close_clients(clients: Sequence[ClientConnection]) -> None:
    for start in range(0, len(clients), 500):
        await asyncio.gather(*(client.close() for client in clients[start : start + 500]))


async def client_process(port: int, count: int, compression: Compression) -> None:
    """What a client process does: open, report, exchange, report, close on request."""
    raise_fd_limit(count + 256)
    lines = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(lines), sys.stdin)
    before = settle()
    clients = await open_clients(port, count, compression)
    print("open", flush=True)
    assert await lines.readline() == b"exchange\n"
    await exchange(clients)
    per_connection = (settle() - before) / count
    print(f"exchanged {per_connection}", flush=True)
    assert await lines.readline() == b"close\n"
    await close_clients(clients)
    print("closed", flush=True)


async def _command(process: asyncio.subprocess.Process, line: bytes | None) -> bytes:
    assert process.stdin is not None
    assert process.stdout is not None
    if line is not None:
        process.stdin.write(line)
        await process.stdin.drain()
    return await process.stdout.readline()


async def run_idle(connections: int, compression: Compression, processes: int) -> IdleResult:
    """Hold ``connections`` idle connections; clients in ``processes`` processes (0: here)."""
    needed = connections * (2 if processes == 0 else 1) + 1024
    fd_limit = raise_fd_limit(needed)
    if fd_limit < needed:
        raise SystemExit(
            f"{needed} file descriptors needed, {fd_limit} allowed: "
            "open the connections from client processes (--processes)"
        )
    async with serve(echo, "127.0.0.1", 0, compression=compression, backlog=4096) as server:
        port: int = server.sockets[0].getsockname()[1]
        # Warm up: import and cache what connections need, then measure.
        warm = await open_clients(port, 20, compression)
        await exchange(warm)
        await close_clients(warm)
        while server.connections:
            await asyncio.sleep(0.01)
        fds_before = open_fds()
        rss_before = settle()

        started = time.monotonic()
        children: list[asyncio.subprocess.Process] = []
        local: list[ClientConnection] = []
        if processes:
            base, extra = divmod(connections, processes)
            share = [base + (i < extra) for i in range(processes)]
            for count in share:
                children.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        __file__,
                        "_client",
                        "--port",
                        str(port),
                        "--connections",
                        str(count),
                        *(["--no-compression"] if compression is None else []),
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                    )
                )
            for child in children:
                assert await _command(child, None) == b"open\n"
        else:
            local = await open_clients(port, connections, compression)
        while len(server.connections) < connections:
            await asyncio.sleep(0.01)
        seconds_to_open = time.monotonic() - started
        fds_idle = open_fds()
        rss_idle = settle()
        if processes:
            client_bytes = [
                float((await _command(child, b"exchange\n")).split()[1]) for child in children
            ]
        else:
            client_bytes = []
            await exchange(local)
        rss_after_message = settle()
        if processes:
            for child in children:
                assert await _command(child, b"close\n") == b"closed\n"
                await child.wait()
        else:
            await close_clients(local)
            del local
        while server.connections:
            await asyncio.sleep(0.01)
        # Handlers finish shortly after the connections leave server.connections.
        while server._handlers:
            await asyncio.sleep(0.01)
        fds_after_close = open_fds()
        rss_after_close = settle()
    return IdleResult(
        connections=connections,
        compression=compression,
        fd_limit=fd_limit,
        rss_before=rss_before,
        rss_idle=rss_idle,
        rss_after_message=rss_after_message,
        rss_after_close=rss_after_close,
        fds_before=fds_before,
        fds_idle=fds_idle,
        fds_after_close=fds_after_close,
        seconds_to_open=seconds_to_open,
        client_bytes_per_connection=client_bytes,
    )


# Connect/close cycles.


@dataclass
class CyclesResult:
    """File descriptors and memory sampled while connecting and closing in a loop."""

    cycles: int
    samples: list[tuple[int, int, int]]  # (cycles done, open fds, RSS in bytes)
    seconds: float

    @staticmethod
    def _slope(points: Sequence[tuple[int, int]]) -> float:
        """Least-squares slope of y over x."""
        count = len(points)
        mean_x = sum(x for x, _ in points) / count
        mean_y = sum(y for _, y in points) / count
        covariance = sum((x - mean_x) * (y - mean_y) for x, y in points)
        variance = sum((x - mean_x) ** 2 for x, _ in points)
        return covariance / variance if variance else 0.0

    def second_half(self) -> list[tuple[int, int, int]]:
        """Samples after the first half of the run: past warm-up and allocator growth."""
        return [sample for sample in self.samples if sample[0] >= self.cycles // 2]

    @property
    def fd_slope(self) -> float:
        """Open file descriptors gained per cycle, over the second half."""
        return self._slope([(done, fds) for done, fds, _ in self.second_half()])

    @property
    def rss_slope(self) -> float:
        """Bytes of RSS gained per cycle, over the second half."""
        return self._slope([(done, size) for done, _, size in self.second_half()])

    def report(self) -> str:
        first, last = self.samples[0], self.samples[-1]
        return "\n".join(
            [
                f"cycles: {self.cycles} in {self.seconds:.0f} s "
                f"({self.cycles / self.seconds:.0f} per second)",
                f"open fds: {first[1]} at the start, {last[1]} at the end, "
                f"{min(s[1] for s in self.samples)}-{max(s[1] for s in self.samples)} "
                "between samples",
                f"RSS: {first[2] / 1024**2:.1f} MiB at the start, "
                f"{last[2] / 1024**2:.1f} MiB at the end",
                f"slope over the second half: {self.fd_slope * 1000:.4f} fds "
                f"and {self.rss_slope * 1000:.0f} bytes of RSS per 1000 cycles",
                "samples (cycles, fds, RSS MiB): "
                + ", ".join(f"({c}, {f}, {r / 1024**2:.1f})" for c, f, r in self.samples),
            ]
        )


async def run_cycles(cycles: int, concurrency: int = 16, samples: int = 20) -> CyclesResult:
    """Connect and close ``cycles`` times, ``concurrency`` at once, sampling fds and RSS.

    Samples are taken with no cycle in flight, so that the number of open
    file descriptors is exact: any growth is a leak.
    """
    interval = max(cycles // samples, 1)
    results: list[tuple[int, int, int]] = []
    started_cycles = 0
    in_flight = 0
    running = asyncio.Event()
    running.set()
    started = time.monotonic()
    async with serve(echo, "127.0.0.1", 0, backlog=1024) as server:
        port: int = server.sockets[0].getsockname()[1]

        async def sample() -> None:
            # Let cycles in flight finish, and the server's side of them.
            while in_flight or server._handlers:
                await asyncio.sleep(0.001)
            results.append((started_cycles, open_fds(), settle()))

        async def loop(worker: int) -> None:
            nonlocal started_cycles, in_flight
            address = f"127.0.0.{2 + worker % 8}"
            while started_cycles < cycles:
                await running.wait()
                if started_cycles >= cycles:
                    break
                started_cycles += 1
                in_flight += 1
                try:
                    async with connect(f"ws://127.0.0.1:{port}/", local_addr=(address, 0)):
                        pass
                finally:
                    in_flight -= 1
                if started_cycles % interval == 0 and running.is_set():
                    running.clear()
                    await sample()
                    running.set()

        await sample()
        await asyncio.gather(*(loop(worker) for worker in range(concurrency)))
        await sample()
    return CyclesResult(cycles=started_cycles, samples=results, seconds=time.monotonic() - started)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Scale on one process.")
    commands = parser.add_subparsers(dest="command", required=True)
    idle = commands.add_parser("idle", help="memory per idle connection")
    idle.add_argument("--connections", type=int, default=10_000)
    idle.add_argument("--processes", type=int, default=4, help="client processes; 0: this one")
    idle.add_argument("--no-compression", action="store_true")
    cycles = commands.add_parser("cycles", help="fds and memory over connect/close cycles")
    cycles.add_argument("--cycles", type=int, default=100_000)
    cycles.add_argument("--concurrency", type=int, default=16)
    client = commands.add_parser("_client", help=argparse.SUPPRESS)
    client.add_argument("--port", type=int, required=True)
    client.add_argument("--connections", type=int, required=True)
    client.add_argument("--no-compression", action="store_true")
    for command in (idle, cycles):
        command.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    args = parser.parse_args(argv)

    if args.command == "_client":
        asyncio.run(client_process(args.port, args.connections, _compression(args.no_compression)))
        return
    if args.command == "idle":
        result: IdleResult | CyclesResult = asyncio.run(
            run_idle(args.connections, _compression(args.no_compression), args.processes)
        )
    else:
        result = asyncio.run(run_cycles(args.cycles, args.concurrency))
    print(json.dumps(asdict(result)) if args.json else result.report())


if __name__ == "__main__":
    main()

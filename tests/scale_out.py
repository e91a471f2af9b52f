"""Scale out: worker processes sharing a port, a Redis bus between them.

Run on demand (``scripts/scale-out`` wraps it)::

    .venv/bin/python tests/scale_out.py --workers 4 --clients 2000 --messages 1000

It starts a ``redis-server`` on a free port, ``--workers`` server processes
listening on one port with ``reuse_port=True`` (the kernel spreads
connections over them), each with a :class:`RedisBroadcast`, and client
processes holding ``--clients`` connections. Every connection is
subscribed to one channel. Each worker then publishes its share of
``--messages``, half of them text and half binary; every client must
receive every message exactly once, with its type, and in publish order per
publisher. Halfway, Redis is restarted: the buses reconnect and the second
half arrives too.

It reports how connections spread over the workers, deliveries per second
(messages received by all clients, over the time from the first publish to
the last delivery) and the workers' memory per connection (growth of their
resident set size once the connections are open and subscribed).

``tests/tools/test_scale_out.py`` runs the same code with small numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from process_helpers import child_env, free_port
from scale import open_clients, raise_fd_limit, settle
from services import RedisServer, require_program

from websockets_typed import ClientConnection, ServerConnection, serve
from websockets_typed.asyncio.bus import RedisBroadcast

CHANNEL = "room"

# Upper bound for one step (start, publish, deliver): generous for a busy machine.
STEP_TIMEOUT = 120.0


async def _stdin_lines() -> asyncio.StreamReader:
    lines = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(lines), sys.stdin)
    return lines


def message(publisher: int, index: int) -> str | bytes:
    """The ``index``-th message of ``publisher``: text if even, binary if odd."""
    text = f"{publisher} {index}"
    return text if index % 2 == 0 else text.encode()


# A worker process.


async def worker(port: int, url: str) -> None:
    """Serve on the shared port; publish and report on the parent's commands."""
    reconnected = asyncio.Event()

    class OnReconnect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("reconnected"):
                reconnected.set()

    # Warnings (a lost connection to Redis...) go to stderr, for whoever runs this.
    warnings = logging.StreamHandler()
    warnings.setLevel(logging.WARNING)
    logging.getLogger().addHandler(warnings)
    bus_logger = logging.getLogger("websockets_typed.bus")
    bus_logger.setLevel(logging.INFO)
    bus_logger.addHandler(OnReconnect())
    lines = await _stdin_lines()
    before = settle()
    async with RedisBroadcast(url, max_queue=1_000_000) as bus:

        async def handler(websocket: ServerConnection) -> None:
            async with bus.subscription(CHANNEL, websocket):
                # Subscribed: tell the client, and which process serves it.
                await websocket.send(f"pid {os.getpid()}")
                await websocket.wait_closed()

        async with serve(handler, "127.0.0.1", port, reuse_port=True, backlog=4096) as server:
            print(f"ready {os.getpid()}", flush=True)
            while command := (await lines.readline()).decode().split():
                match command:
                    case ["publish", publisher, start, count]:
                        for index in range(int(start), int(start) + int(count)):
                            bus.publish(CHANNEL, message(int(publisher), index))
                        print("published", flush=True)
                    case ["reconnected"]:
                        await reconnected.wait()
                        reconnected.clear()
                        await bus.wait_connected()
                        print("connected", flush=True)
                    case ["memory"]:
                        size = settle() - before
                        print(f"memory {size} {len(server.connections)}", flush=True)
                    case _:  # pragma: no cover - a bug in the parent
                        raise SystemExit(f"unknown command: {command}")
    assert bus.dropped == 0, bus.dropped


# A client process.


class Receiver:
    """Checks what one connection receives: every message once, in order per publisher."""

    def __init__(self, client: ClientConnection, publishers: int) -> None:
        self.client = client
        self.next = [0] * publishers
        self.received = 0

    def check(self, data: str | bytes) -> None:
        text = data if isinstance(data, str) else data.decode()
        publisher, index = map(int, text.split())
        if index != self.next[publisher]:
            raise AssertionError(f"from {publisher}: got {index}, expected {self.next[publisher]}")
        if (index % 2 == 0) != isinstance(data, str):
            raise AssertionError(f"from {publisher}: {data!r} has the wrong type")
        self.next[publisher] += 1
        self.received += 1


async def clients(port: int, count: int, publishers: int) -> None:
    """Hold ``count`` connections; check deliveries on the parent's commands."""
    raise_fd_limit(count + 256)
    lines = await _stdin_lines()
    connections = await open_clients(port, count, compression=None)
    pids = Counter([str(await connection.recv()).split()[1] for connection in connections])
    print(f"open {json.dumps(pids)}", flush=True)
    receivers = [Receiver(connection, publishers) for connection in connections]
    while command := (await lines.readline()).decode().split():
        match command:
            case ["expect", total]:
                # Read until every connection has ``total`` messages.
                async def receive(receiver: Receiver, total: int = int(total)) -> None:
                    while receiver.received < total:
                        receiver.check(await receiver.client.recv())

                await asyncio.gather(*(receive(receiver) for receiver in receivers))
                print("received", flush=True)
            case _:  # pragma: no cover - a bug in the parent
                raise SystemExit(f"unknown command: {command}")
    for start in range(0, count, 500):
        await asyncio.gather(*(c.close() for c in connections[start : start + 500]))


# The parent.


class Child:
    """A child process of this script, driven line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, *args: str) -> Child:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=child_env(),
        )
        return cls(process)

    async def ask(self, line: str | None) -> list[str]:
        """Send ``line`` (if any), return the words of the answer."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        if line is not None:
            self.process.stdin.write(f"{line}\n".encode())
            await self.process.stdin.drain()
        try:
            answer = await asyncio.wait_for(self.process.stdout.readline(), STEP_TIMEOUT)
        except TimeoutError:
            raise AssertionError(f"no answer to {line!r} in {STEP_TIMEOUT:.0f} s") from None
        if not answer:
            await self.process.wait()
            raise AssertionError(f"child exited with status {self.process.returncode}")
        return answer.decode().split(maxsplit=1)

    async def finish(self) -> None:
        """Close stdin (the end of commands) and check a clean exit."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        status = await asyncio.wait_for(self.process.wait(), STEP_TIMEOUT)
        assert status == 0, f"child exited with status {status}"

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)


@dataclass
class ScaleOutResult:
    workers: int
    clients: int
    messages: int
    connections_per_worker: list[int]
    bytes_per_connection: float
    seconds_per_phase: list[float]
    redis_restarted: bool

    @property
    def deliveries(self) -> int:
        return self.clients * self.messages

    @property
    def deliveries_per_second(self) -> float:
        return self.deliveries / sum(self.seconds_per_phase)

    def report(self) -> str:
        phases = " and ".join(f"{seconds:.2f} s" for seconds in self.seconds_per_phase)
        return "\n".join(
            [
                f"{self.workers} workers, {self.clients} clients, {self.messages} messages "
                f"published by {self.workers} processes, Redis restarted halfway",
                f"connections per worker: {self.connections_per_worker}",
                f"{self.deliveries} deliveries in {phases}: "
                f"{self.deliveries_per_second:,.0f} deliveries per second",
                f"worker memory per connection (open, subscribed): "
                f"{self.bytes_per_connection / 1024:.1f} KiB",
            ]
        )


async def run(
    workers: int, clients_count: int, messages: int, client_processes: int
) -> ScaleOutResult:
    """Run the whole scenario; see the module docstring."""
    assert messages % (2 * workers) == 0, "messages must split evenly into halves per worker"
    with tempfile.TemporaryDirectory() as directory:
        redis_server = RedisServer(require_program("redis-server"), Path(directory))
        await redis_server.start()
        children: list[Child] = []
        try:
            port = free_port()
            servers = [
                await Child.start("_worker", str(port), redis_server.url) for _ in range(workers)
            ]
            children += servers
            for server in servers:
                assert (await server.ask(None))[0] == "ready"
            base, extra = divmod(clients_count, client_processes)
            holders = [
                await Child.start("_clients", str(port), str(base + (i < extra)), str(workers))
                for i in range(client_processes)
            ]
            children += holders
            pids: Counter[str] = Counter()
            for holder in holders:
                answer = await holder.ask(None)
                assert answer[0] == "open", answer
                pids.update(json.loads(answer[1]))
            memory = [(await server.ask("memory"))[1].split() for server in servers]
            connections = [int(held) for _, held in memory]
            assert sum(connections) == clients_count
            bytes_per_connection = sum(int(size) for size, _ in memory) / clients_count
            # The pids clients saw are the workers', in the same numbers.
            assert sorted(pids.values()) == sorted(connections)

            seconds: list[float] = []
            share = messages // (2 * workers)
            for phase in range(2):
                if phase:
                    await redis_server.restart()
                    for server in servers:
                        assert await server.ask("reconnected") == ["connected"]
                started = time.monotonic()
                waits = [
                    asyncio.create_task(holder.ask(f"expect {messages // 2 * (phase + 1)}"))
                    for holder in holders
                ]
                for publisher, server in enumerate(servers):
                    command = f"publish {publisher} {phase * share} {share}"
                    assert await server.ask(command) == ["published"]
                for wait in waits:
                    assert await wait == ["received"]
                seconds.append(time.monotonic() - started)
            for child in children:
                await child.finish()
        finally:
            for child in children:
                child.kill()
            await redis_server.stop()
    return ScaleOutResult(
        workers=workers,
        clients=clients_count,
        messages=messages,
        connections_per_worker=connections,
        bytes_per_connection=bytes_per_connection,
        seconds_per_phase=seconds,
        redis_restarted=True,
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["_worker"]:
        asyncio.run(worker(int(args[1]), args[2]))
        return
    if args[:1] == ["_clients"]:
        asyncio.run(clients(int(args[1]), int(args[2]), int(args[3])))
        return
    parser = argparse.ArgumentParser(description="Scale out: workers, a Redis bus, many clients.")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    options = parser.parse_args(args)
    result = asyncio.run(
        run(options.workers, options.clients, options.messages, options.client_processes)
    )
    print(json.dumps(asdict(result)) if options.json else result.report())


if __name__ == "__main__":
    main()

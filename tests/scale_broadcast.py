"""Slow consumers of broadcast(): one server, fast clients, clients that stop reading.

Run on demand (minutes)::

    .venv/bin/python tests/scale_broadcast.py                       # 1,000 clients, 10 slow
    .venv/bin/python tests/scale_broadcast.py --overflow drop
    .venv/bin/python tests/scale_broadcast.py --clients 2 --slow 1 \\
        --messages 200000 --size 1024 --limit none                  # the issue's figures

A server and its clients run in this process, on one event loop: fast
clients are asyncio protocols that check every byte they receive against
the expected stream; slow clients are raw sockets with a small receive
buffer that complete the opening handshake and never read again. The server
broadcasts ``messages`` binary messages, numbered, in bursts, yielding to
the event loop between bursts, and samples this process's resident set size
after each burst. Then the slow clients read what reached them, and the
figures are checked: fast clients got every message in order, slow ones got
a subset in order, the counts of ``broadcast()`` and of the connections
agree, and RSS grew by at most the limit per slow client plus a constant.

``tests/aio/test_broadcast_limit.py`` runs the same code with small numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import cast

from raw_peer import handshake_request
from scale import raise_fd_limit

from websockets_typed import ServerConnection, broadcast, serve
from websockets_typed._defaults import BROADCAST_LIMIT
from websockets_typed.asyncio.connection import BroadcastOverflow
from websockets_typed.frames import CloseCode, serialize_payload

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
MiB = 2**20
# RSS growth besides the slow clients' buffers: allocator slack, the fast
# clients' buffers, asyncio's bookkeeping (measured: up to 10 MiB with 1,000
# clients, 100,000 messages).
RSS_CONSTANT = 16 * MiB
# Receive buffer of a slow client: the kernel doubles it (socket(7)).
SLOW_RCVBUF = 4096


def rss() -> int:
    """Resident set size of this process, in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE


def payload(number: int, size: int) -> bytes:
    """Message ``number``: its number in 8 bytes, padded to ``size`` bytes."""
    return struct.pack("!Q", number).ljust(size, b".")


def frame(number: int, size: int) -> bytes:
    """Message ``number`` on the wire, as broadcast() writes it: one unmasked Binary frame."""
    return b"".join(serialize_payload(0x82, payload(number, size), False))


def parse(stream: bytes | bytearray, offset: int) -> tuple[int, int, bytes] | None:
    """The unmasked frame at ``offset``: ``(opcode, end, payload)``, if complete."""
    if len(stream) < offset + 2:
        return None
    opcode, length = stream[offset] & 0x0F, stream[offset + 1] & 0x7F
    start = offset + 2
    if length == 126:
        (length,) = struct.unpack_from("!H", stream, start) if len(stream) >= start + 2 else (-1,)
        start += 2
    elif length == 127:
        (length,) = struct.unpack_from("!Q", stream, start) if len(stream) >= start + 8 else (-1,)
        start += 8
    if length < 0 or len(stream) < start + length:
        return None
    return opcode, start + length, bytes(stream[start : start + length])


class FastClient(asyncio.Protocol):
    """A client that reads everything and compares it with the expected stream."""

    def __init__(self, expected: bytes) -> None:
        self.expected = expected
        self.received = 0  # bytes of the expected stream received
        self.mismatch = False
        self.rest = b""  # what came after the expected stream: the Close frame
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.complete: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports don't derive from asyncio.Transport.
        self.transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        if self.rest and self.received >= 0:
            self.rest += data
            return
        if self.received < 0:  # still in the handshake response
            self.rest += data
            head, sep, tail = self.rest.partition(b"\r\n\r\n")
            if not sep:
                return
            assert head.startswith(b"HTTP/1.1 101 "), head
            self.received, self.rest, data = 0, b"", tail
        fits = len(self.expected) - self.received
        if len(data) > fits:
            self.rest += data[fits:]
            data = data[:fits]
        if not self.expected.startswith(data, self.received):
            self.mismatch = True
        self.received += len(data)
        if self.received == len(self.expected) and not self.complete.done():
            self.complete.set_result(None)
        if self.rest and self.transport is not None:
            # The server is closing: answer by closing the TCP connection.
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.complete.done():
            self.complete.set_result(None)
        if not self.lost.done():
            self.lost.set_result(None)


async def open_fast(port: int, expected: bytes) -> FastClient:
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(lambda: FastClient(expected), "127.0.0.1", port)
    client.received = -1
    assert client.transport is not None
    client.transport.write(handshake_request())
    return client


async def open_slow(port: int) -> socket.socket:
    """A raw client with a small receive buffer that reads its handshake response only."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RCVBUF)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, handshake_request())
    response = b""
    while b"\r\n\r\n" not in response:
        # Byte by byte: nothing after the response may be read now.
        response += await loop.sock_recv(sock, 1)
    assert response.startswith(b"HTTP/1.1 101 "), response
    return sock


async def read_all(sock: socket.socket) -> tuple[list[int], int | None]:
    """Read until a Close frame, the end of the stream or a reset.

    Return the numbers of the messages received, and the close code.
    """
    loop = asyncio.get_running_loop()
    stream = bytearray()
    offset = 0
    numbers: list[int] = []
    code: int | None = None
    try:
        while code is None:
            chunk = await loop.sock_recv(sock, 2**16)
            if not chunk:
                break
            stream += chunk
            while code is None and (parsed := parse(stream, offset)) is not None:
                opcode, offset, data = parsed
                if opcode == 0x8:
                    (code,) = struct.unpack("!H", data[:2])
                else:
                    numbers.append(struct.unpack_from("!Q", data)[0])
            del stream[:offset]
            offset = 0
    except ConnectionResetError:
        pass
    sock.close()
    return numbers, code


@dataclass
class SlowConsumersResult:
    """Figures of one run; :meth:`check` says whether they hold."""

    clients: int
    slow: int
    messages: int
    size: int
    limit: int | None
    overflow: BroadcastOverflow
    seconds: float
    rss_before: int
    rss_peak: int
    # Sums over every broadcast() call.
    sent: int
    dropped: int
    closed: int
    # Per slow connection, from the server's side.
    slow_dropped: list[int]
    slow_close_codes: list[int | None]
    # Per slow client: numbers of the messages it read afterwards, and the
    # close code it read, if the Close frame reached it.
    slow_received: list[list[int]]
    slow_codes_received: list[int | None]
    fast_dropped: int
    fast_complete: int
    fast_mismatched: int

    @property
    def rss_growth(self) -> int:
        return self.rss_peak - self.rss_before

    def bound(self) -> int:
        """The most RSS may grow: the limit per slow client, plus a constant."""
        assert self.limit is not None
        # A buffer may exceed the limit by a message, and a bytearray
        # over-allocates by an eighth when it grows.
        return self.slow * (self.limit + self.size) * 9 // 8 + RSS_CONSTANT

    def check(self) -> None:
        """Assert what the limit promises."""
        fast = self.clients - self.slow
        assert self.fast_complete == fast, "a fast client missed messages"
        assert self.fast_mismatched == 0, "a fast client received wrong bytes"
        assert self.fast_dropped == 0
        assert self.sent + self.dropped + self.closed <= self.messages * self.clients
        if self.limit is None:
            return
        assert self.rss_growth <= self.bound(), (self.rss_growth, self.bound())
        for dropped, code, received in zip(
            self.slow_dropped, self.slow_close_codes, self.slow_received, strict=True
        ):
            # A slow client reads a subset of the messages, in order.
            assert received == sorted(received)
            assert len(set(received)) == len(received)
            if self.overflow == "drop":
                assert code is None or code != CloseCode.TRY_AGAIN_LATER
                assert dropped > 0
                # Every message was either delivered or dropped.
                assert len(received) + dropped == self.messages, (len(received), dropped)
            else:
                assert code == CloseCode.TRY_AGAIN_LATER
                assert dropped == 0
                assert len(received) < self.messages
        if self.overflow == "drop":
            assert self.dropped == sum(self.slow_dropped)
            assert self.closed == 0
            assert self.sent == self.messages * self.clients - self.dropped
        else:
            assert self.closed == self.slow
            assert self.dropped == 0

    def report(self) -> str:
        mib = 2**20
        limit = "none" if self.limit is None else f"{self.limit / mib:g} MiB"
        return "\n".join(
            [
                f"{self.clients} clients, {self.slow} slow; {self.messages} messages "
                f"of {self.size} bytes; broadcast_limit {limit}, overflow {self.overflow!r}",
                f"took {self.seconds:.1f} s "
                f"({self.messages * self.clients / self.seconds:,.0f} deliveries/s)",
                f"server RSS: {self.rss_before / mib:.1f} MiB before, "
                f"{self.rss_peak / mib:.1f} MiB at most: "
                f"+{self.rss_growth / mib:.1f} MiB"
                + ("" if self.limit is None else f" (bound: {self.bound() / mib:.1f} MiB)"),
                f"broadcast() counts: sent {self.sent}, dropped {self.dropped}, "
                f"closed {self.closed}",
                f"slow clients: dropped {self.slow_dropped}, "
                f"received {[len(numbers) for numbers in self.slow_received]}",
                f"fast clients: {self.fast_complete} of {self.clients - self.slow} "
                f"got every message in order",
            ]
        )


async def run_slow_consumers(
    clients: int = 1000,
    slow: int = 10,
    messages: int = 100_000,
    *,
    size: int = 64,
    limit: int | None = BROADCAST_LIMIT,
    overflow: BroadcastOverflow = "close",
    burst: int = 50,
) -> SlowConsumersResult:
    """Run the scenario and return its figures (see the module's docstring)."""
    expected = b"".join(frame(number, size) for number in range(messages))
    connections: list[ServerConnection] = []
    all_open = asyncio.Event()

    async def handler(connection: ServerConnection) -> None:
        connections.append(connection)
        if len(connections) == clients:
            all_open.set()
        await connection.wait_closed()

    async with serve(
        handler,
        "127.0.0.1",
        0,
        compression=None,
        # Keepalive would close the slow clients too: leave that to the limit.
        ping_interval=None,
        close_timeout=1,
        broadcast_limit=limit,
        broadcast_overflow=overflow,
    ) as server:
        port: int = server.sockets[0].getsockname()[1]
        fast_clients = [await open_fast(port, expected) for _ in range(clients - slow)]
        slow_clients = [await open_slow(port) for _ in range(slow)]
        async with asyncio.timeout(60):
            await all_open.wait()
        gc.collect()
        rss_before = rss_peak = rss()
        sent = dropped = closed = 0
        started = time.monotonic()
        for first in range(0, messages, burst):
            for number in range(first, min(first + burst, messages)):
                stats = broadcast(connections, payload(number, size))
                sent += stats.sent
                dropped += stats.dropped
                closed += stats.closed
            # Let the event loop write to the sockets and the clients read.
            await asyncio.sleep(0)
            rss_peak = max(rss_peak, rss())
        seconds = time.monotonic() - started
        async with asyncio.timeout(60):
            await asyncio.gather(*(client.complete for client in fast_clients))
        slow_ports = {sock.getsockname()[1] for sock in slow_clients}
        slow_server_side = [c for c in connections if _peer_port(c) in slow_ports]
        fast_server_side = [c for c in connections if _peer_port(c) not in slow_ports]
        # The slow clients read what was buffered for them; closing the
        # server then puts a Close frame after it.
        reading = [asyncio.create_task(read_all(sock)) for sock in slow_clients]
        server.close()
        async with asyncio.timeout(60):
            received = await asyncio.gather(*reading)
            await server.wait_closed()
            await asyncio.gather(*(client.lost for client in fast_clients))

    return SlowConsumersResult(
        clients=clients,
        slow=slow,
        messages=messages,
        size=size,
        limit=limit,
        overflow=overflow,
        seconds=seconds,
        rss_before=rss_before,
        rss_peak=rss_peak,
        sent=sent,
        dropped=dropped,
        closed=closed,
        slow_dropped=[c.broadcast_dropped for c in slow_server_side],
        slow_close_codes=[
            None if c.protocol.close_sent is None else c.protocol.close_sent.code
            for c in slow_server_side
        ],
        slow_received=[numbers for numbers, _ in received],
        slow_codes_received=[code for _, code in received],
        fast_dropped=sum(c.broadcast_dropped for c in fast_server_side),
        fast_complete=sum(client.received == len(expected) for client in fast_clients),
        fast_mismatched=sum(client.mismatch for client in fast_clients),
    )


def _peer_port(connection: ServerConnection) -> int:
    address = connection.remote_address
    assert isinstance(address, tuple)
    return address[1]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Slow consumers of broadcast().")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--slow", type=int, default=10)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=64, help="bytes per message (default 64)")
    parser.add_argument(
        "--limit",
        default=str(BROADCAST_LIMIT),
        help=f"broadcast_limit in bytes, or 'none' (default {BROADCAST_LIMIT})",
    )
    parser.add_argument("--overflow", choices=["drop", "close"], default="close")
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    args = parser.parse_args(argv)
    limit = None if args.limit == "none" else int(args.limit)
    overflow: BroadcastOverflow = "drop" if args.overflow == "drop" else "close"
    raise_fd_limit(2 * args.clients + 1024)
    result = asyncio.run(
        run_slow_consumers(
            args.clients, args.slow, args.messages, size=args.size, limit=limit, overflow=overflow
        )
    )
    print(json.dumps(asdict(result)) if args.json else result.report())
    result.check()


if __name__ == "__main__":
    main()

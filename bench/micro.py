"""Per-operation costs of the sans-I/O layers, ours and websockets', in one process.

Usage, from the repository's root::

    python bench/micro.py [--callgrind]

It measures what every message pays before any I/O: building a ``Frame``,
parsing frames (``receive_data()`` then ``events_received()``) and
serializing them (``send_binary()`` then ``data_to_send()``), and what every
connection of S4 pays: a server protocol built, fed the load generator's
request, its 101 sent, the client's Close answered, the end of the stream
received. Figures are
the best of several repetitions, in nanoseconds per operation; with
``--callgrind``, the script runs itself under valgrind and counts
instructions instead, which other loads on the machine don't disturb.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import websockets.frames
import websockets.http11
import websockets.protocol
import websockets.server
from procs import Instructions
from wire import CLIENT_CLOSE_FRAME, OP_BINARY, encode_frame, handshake_request

import websockets_typed.datastructures
import websockets_typed.frames
import websockets_typed.http11
import websockets_typed.protocol
import websockets_typed.server

BATCH = 100
"""Operations per call of a measured function."""

HANDSHAKES = 10
"""Connections per call of a measured function of S4."""

AnyServerProtocol = websockets_typed.server.ServerProtocol | websockets.server.ServerProtocol

MASKED_64 = encode_frame(OP_BINARY, bytes(64), mask=True) * BATCH
PAYLOAD_64 = bytes(64)
SERVER_LINE = websockets_typed.datastructures.serialized_line("Server", "bench") or b""
REQUEST = handshake_request(8765).replace(b"GET / ", b"GET /idle ", 1)


def frame_ours() -> None:
    frame, opcode, payload = websockets_typed.frames.Frame, websockets_typed.frames.OP_BINARY, b""
    for _ in range(BATCH):
        frame(opcode, payload, True, False, False, False)


def frame_theirs() -> None:
    frame, opcode, payload = websockets.frames.Frame, websockets.frames.Opcode.BINARY, b""
    for _ in range(BATCH):
        frame(opcode, payload, True, False, False, False)


def parse(protocol: AnyServerProtocol) -> Callable[[], None]:
    def run() -> None:
        protocol.receive_data(MASKED_64)
        assert len(protocol.events_received()) == BATCH

    return run


def serialize(protocol: AnyServerProtocol) -> Callable[[], None]:
    def run() -> None:
        for _ in range(BATCH):
            protocol.send_binary(PAYLOAD_64)
            protocol.data_to_send()

    return run


def handshake_ours() -> None:
    # As the asyncio server does: a logger adapter per connection, the
    # Server header added to the 101 as a line serialized once.
    logger = logging.getLogger("websockets_typed.server")
    for _ in range(HANDSHAKES):
        protocol = websockets_typed.server.ServerProtocol(
            logger=logging.LoggerAdapter(logger), max_size=2**20
        )
        protocol.receive_data(REQUEST)
        (request,) = protocol.events_received()
        assert isinstance(request, websockets_typed.http11.Request)
        response = protocol.accept(request)
        websockets_typed.datastructures.add_serialized(
            response.headers, "Server", "server", "bench", SERVER_LINE
        )
        protocol.send_response(response)
        close(protocol)
        assert protocol.closed_ok


def handshake_theirs() -> None:
    logger = logging.getLogger("websockets.server")
    for _ in range(HANDSHAKES):
        protocol = websockets.server.ServerProtocol(
            logger=logging.LoggerAdapter(logger), max_size=2**20
        )
        protocol.receive_data(REQUEST)
        (request,) = protocol.events_received()
        assert isinstance(request, websockets.http11.Request)
        response = protocol.accept(request)
        response.headers["Server"] = "bench"
        protocol.send_response(response)
        close(protocol)
        assert protocol.close_exc is not None


def close(protocol: AnyServerProtocol) -> None:
    """Write the 101, answer the client's Close, receive the end of the stream."""
    protocol.data_to_send()
    protocol.receive_data(CLIENT_CLOSE_FRAME)
    protocol.events_received()
    protocol.data_to_send()
    protocol.receive_eof()
    protocol.data_to_send()


def measurements() -> list[tuple[str, Callable[[], None], Callable[[], None], int]]:
    """(operation, ours, websockets', operations per call)."""
    ours = websockets_typed.server.ServerProtocol(state=websockets_typed.protocol.OPEN)
    theirs = websockets.server.ServerProtocol(state=websockets.protocol.OPEN)
    return [
        ("build a Frame", frame_ours, frame_theirs, BATCH),
        ("parse a masked 64-byte frame", parse(ours), parse(theirs), BATCH),
        ("serialize a 64-byte frame", serialize(ours), serialize(theirs), BATCH),
        ("S4: one connection's handshakes", handshake_ours, handshake_theirs, HANDSHAKES),
    ]


def timed(run: Callable[[], None], ops: int) -> float:
    """Best time per operation, in nanoseconds."""
    run()
    return min(timeit.repeat(run, number=200, repeat=9)) / 200 / ops * 1e9


def counted(run: Callable[[], None], ops: int, callgrind_out: Path) -> float:
    """Instructions per operation; this process must run under callgrind."""
    run()
    with Instructions(os.getpid(), callgrind_out) as instructions:
        for _ in range(20):
            run()
    return instructions.count / 20 / ops


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--callgrind", action="store_true", help="count instructions instead")
    args = parser.parse_args()
    callgrind_out = os.environ.get("BENCH_CALLGRIND_OUT")
    if args.callgrind and callgrind_out is None:
        if shutil.which("valgrind") is None:
            parser.error("valgrind isn't installed")
        out = Path(tempfile.mkdtemp(prefix="websockets-typed-micro-")) / "micro.callgrind"
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
        command += [f"--callgrind-out-file={out}", sys.executable, *sys.argv]
        environment = {**os.environ, "BENCH_CALLGRIND_OUT": str(out)}
        result = subprocess.run(command, env=environment, stderr=subprocess.DEVNULL, check=False)
        sys.exit(result.returncode)

    unit = "instructions" if callgrind_out else "ns"
    print(f"| Operation | websockets_typed ({unit}) | websockets ({unit}) | websockets / ours |")
    print("|---|---|---|---|")
    for name, ours, theirs, ops in measurements():
        if callgrind_out:
            cost_ours, cost_theirs = (
                counted(ours, ops, Path(callgrind_out)),
                counted(theirs, ops, Path(callgrind_out)),
            )
        else:
            cost_ours, cost_theirs = timed(ours, ops), timed(theirs, ops)
        print(f"| {name} | {cost_ours:,.0f} | {cost_theirs:,.0f} | {cost_theirs / cost_ours:.2f} |")


if __name__ == "__main__":
    main()

"""Memory per idle connection, measured, against the figures of docs/howto/memory.md.

The package's end of the connections runs in this process under
:mod:`tracemalloc`; the other end, ``websockets``, runs in a subprocess, so
that only one side is counted. Each connection exchanges one message, so
that compression state exists, then idles.
"""

from __future__ import annotations

import asyncio
import gc
import re
import sys
import tracemalloc
import zlib
from pathlib import Path
from typing import Literal

import pytest

from websockets_typed.asyncio.client import ClientConnection, connect
from websockets_typed.asyncio.connection import Connection
from websockets_typed.asyncio.server import ServerConnection, serve
from websockets_typed.extensions import permessage_deflate
from websockets_typed.extensions.permessage_deflate import PerMessageDeflate

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def stdlib_zlib(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's formulas are zlib's: measure with it where zlib-ng is installed too.

    (tests/sansio/test_zlib_backend.py checks what the page says of zlib-ng.)
    """
    monkeypatch.setattr(permessage_deflate, "_backend", zlib)


PAGE = Path(__file__).parent.parent.parent / "docs" / "howto" / "memory.md"
KiB = 1024
CONNECTIONS = 50

_PEER_CLIENTS = """
import asyncio, sys
from websockets.asyncio.client import connect

async def main(uri, count, compression):
    connections = [
        await connect(uri, compression=compression, ping_interval=None) for _ in range(count)
    ]
    for connection in connections:
        await connection.send("hello")
        await connection.recv()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for connection in connections:
        await connection.close()

asyncio.run(main(sys.argv[1], int(sys.argv[2]), None if sys.argv[3] == "none" else "deflate"))
"""

_PEER_SERVER = """
import asyncio, sys
from websockets.asyncio.server import serve

async def echo(connection):
    async for message in connection:
        await connection.send(message)

async def main(compression):
    async with serve(echo, "127.0.0.1", 0, compression=compression, ping_interval=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main(None if sys.argv[1] == "none" else "deflate"))
"""


async def echo(connection: ServerConnection) -> None:
    async for message in connection:
        await connection.send(message)


def page_formula(part: str) -> str:
    """The formula of the page for ``part``, a Python expression."""
    match = re.search(rf"^\| {part} \| `([^`]+)` \|$", PAGE.read_text(), re.MULTILINE)
    assert match is not None, f"no formula for the {part} in {PAGE}"
    return match.group(1)


def evaluate(formula: str, **variables: int) -> int:
    """Evaluate a formula of the page: integers, names, + * ** and parentheses only."""
    assert re.fullmatch(r"[\w\s()+*]+", formula), formula
    value = eval(formula, {"__builtins__": {}}, {"KiB": KiB, **variables})
    assert isinstance(value, int)
    return value


def compression_state(connection: Connection) -> int:
    """What the formulas of the page give for this connection's idle compression state."""
    total = 0
    for extension in connection.protocol.extensions:
        assert isinstance(extension, PerMessageDeflate)
        if not extension.local_no_context_takeover:
            total += evaluate(
                page_formula("compressor"),
                window_bits=extension.local_max_window_bits,
                mem_level=extension.compress_settings.get("memLevel", 8),
            )
        if not extension.remote_no_context_takeover:
            # We decompress with at least 9 bits (permessage_deflate's docstring).
            total += evaluate(
                page_formula("decompressor"),
                window_bits=max(extension.remote_max_window_bits, 9),
            )
    return total


def documented_base(side: Literal["server", "client"]) -> int:
    """The base size of a connection that the page states, in bytes."""
    match = re.search(rf"^\| base objects, {side} \| about (\d+) KiB \|$", PAGE.read_text(), re.M)
    assert match is not None, f"no base figure for the {side} in {PAGE}"
    return int(match.group(1)) * KiB


def documented_measure(side: Literal["server", "client"], compression: bool) -> float:
    """The measured size of a connection that the page states, in bytes."""
    what = "deflate, against [^|]+" if compression else "no compression"
    match = re.search(rf"^\| {side}, {what} \| ([\d.]+) KiB \|", PAGE.read_text(), re.M)
    assert match is not None, f"no measure for the {side} ({what}) in {PAGE}"
    return float(match.group(1)) * KiB


async def measure_server(compression: bool) -> tuple[float, list[Connection]]:
    """Bytes per idle connection on the package's server, and the connections."""
    connections: list[Connection] = []

    async def handler(connection: ServerConnection) -> None:
        connections.append(connection)
        await echo(connection)

    async with serve(
        handler,
        "127.0.0.1",
        0,
        ping_interval=None,
        compression="deflate" if compression else None,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            peer = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _PEER_CLIENTS,
                f"ws://127.0.0.1:{port}/",
                str(CONNECTIONS),
                "deflate" if compression else "none",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            assert peer.stdin is not None
            assert peer.stdout is not None
            try:
                assert await peer.stdout.readline() == b"ready\n"
                gc.collect()
                after = tracemalloc.get_traced_memory()[0]
            finally:
                peer.stdin.close()
                await peer.wait()
        finally:
            tracemalloc.stop()
    assert len(connections) == CONNECTIONS
    return (after - before) / CONNECTIONS, connections


async def measure_client(compression: bool) -> tuple[float, list[Connection]]:
    """Bytes per idle connection on the package's client, and the connections."""
    peer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _PEER_SERVER,
        "deflate" if compression else "none",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert peer.stdin is not None
    assert peer.stdout is not None
    connections: list[ClientConnection] = []
    try:
        port = int(await peer.stdout.readline())
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(CONNECTIONS):
                connection = await connect(
                    f"ws://127.0.0.1:{port}/",
                    ping_interval=None,
                    compression="deflate" if compression else None,
                )
                connections.append(connection)
                await connection.send("hello")
                await connection.recv()
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        for connection in connections:
            await connection.close()
    finally:
        peer.stdin.close()
        await peer.wait()
    return (after - before) / CONNECTIONS, list(connections)


@pytest.mark.parametrize("side", ["server", "client"])
@pytest.mark.parametrize("compression", [False, True], ids=["no-compression", "deflate"])
async def test_memory_per_idle_connection(
    side: Literal["server", "client"], compression: bool
) -> None:
    """Measured: the base of the page, plus the compression formulas for the
    parameters negotiated, within 25% (the base) and 4 KiB."""
    if side == "server":
        measured, connections = await measure_server(compression)
    else:
        measured, connections = await measure_client(compression)
    base = documented_base(side)
    states = {compression_state(connection) for connection in connections}
    assert len(states) == 1, "every connection negotiated the same parameters"
    [state] = states
    assert (state > 0) is compression
    expected = base + state
    documented = documented_measure(side, compression)
    tolerance = base / 4 + 4 * KiB
    assert abs(measured - expected) <= tolerance, (
        f"measured {measured / KiB:.1f} KiB per connection; the page says "
        f"{base / KiB:.0f} KiB + {state / KiB:.1f} KiB of compression state"
    )
    assert abs(measured - documented) <= tolerance, (
        f"measured {measured / KiB:.1f} KiB per connection; the page says "
        f"{documented / KiB:.1f} KiB"
    )

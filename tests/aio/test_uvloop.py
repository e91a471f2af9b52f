"""Our server and client on uvloop, the event loop written in C.

uvloop's transports implement the asyncio interfaces without deriving from
asyncio's classes, and pause, resume, buffer and close on their own code
paths. Rather than a few tests of their own, the tests of the asyncio layer
(test_asyncio_connection.py, test_asyncio_server.py, test_asyncio_client.py,
test_asyncio_interop.py) and this module's run twice, on asyncio's event loop
and on uvloop's: conftest.py asks pytest-asyncio for both. This module checks
that they do, and runs a conversation with ``uvloop.run()``, as applications do.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import uvloop
from conftest import UVLOOP_MODULES

from websockets_typed import connect, serve
from websockets_typed.asyncio.server import ServerConnection


def test_modules_that_run_on_uvloop_exist() -> None:
    # A renamed module would silently lose its run on uvloop.
    for name in UVLOOP_MODULES:
        assert (Path(__file__).parent / name).is_file(), name
    assert Path(__file__).name in UVLOOP_MODULES


async def test_runs_on_the_loop_its_id_says(request: pytest.FixtureRequest) -> None:
    # Without the parametrization by conftest.py there is no callspec.
    loop_name = request.node.callspec.id
    assert loop_name in {"asyncio", "uvloop"}
    assert isinstance(asyncio.get_running_loop(), uvloop.Loop) is (loop_name == "uvloop")


def test_echo_with_uvloop_run() -> None:
    async def echo(connection: ServerConnection) -> None:
        async for message in connection:
            await connection.send(message)

    async def main() -> list[str | bytes]:
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
        async with asyncio.timeout(10), serve(echo, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}/") as client:
                received: list[str | bytes] = []
                messages: list[str | bytes] = ["hello", b"\x00" * 100_000]
                for message in messages:
                    await client.send(message)
                    received.append(await client.recv())
                return received

    assert uvloop.run(main()) == ["hello", b"\x00" * 100_000]


async def test_latency_below_a_millisecond_is_measured() -> None:
    # uvloop's loop.time() counts whole milliseconds: a loopback round trip,
    # well under one, read as 0.0 when latency was measured with it.
    async def wait(connection: ServerConnection) -> None:
        await connection.wait_closed()

    async with (
        serve(wait, "127.0.0.1", 0, ping_interval=None) as server,
        connect(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}") as client,
    ):
        latencies = [await (await client.ping()) for _ in range(5)]
    assert all(latency > 0 for latency in latencies), latencies
    assert client.latency == latencies[-1]

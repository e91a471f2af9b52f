"""broadcast()'s per-connection limit, and send() to a peer that stops reading.

The last tests run tests/scale_broadcast.py's scenario with small numbers:
a real server, fast clients, slow clients with a small receive buffer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest
from scale_broadcast import run_slow_consumers

from websockets_typed import (
    BroadcastLimitExceeded,
    ClientConnection,
    CloseCode,
    ConnectionClosedError,
    ServerConnection,
    broadcast,
    connect,
    serve,
)
from websockets_typed._defaults import BROADCAST_LIMIT
from websockets_typed.asyncio.connection import (
    BroadcastOverflow,
    BroadcastStats,
    Connection,
)
from websockets_typed.asyncio.server import ServeOptions

KiB = 1024
MESSAGE = b"x" * (4 * KiB)


@asynccontextmanager
async def connected(
    **options: Any,
) -> AsyncGenerator[tuple[ServerConnection, ClientConnection]]:
    """A server connection and its client, without keepalive or compression."""
    accepted: asyncio.Queue[ServerConnection] = asyncio.Queue()

    async def handler(connection: ServerConnection) -> None:
        accepted.put_nowait(connection)
        await connection.wait_closed()

    server_options: ServeOptions = {"compression": None, "ping_interval": None, "close_timeout": 1}
    server_options.update(cast(ServeOptions, options))
    async with asyncio.timeout(10), serve(handler, "127.0.0.1", 0, **server_options) as server:
        port: int = server.sockets[0].getsockname()[1]
        client = await connect(
            f"ws://127.0.0.1:{port}", compression=None, ping_interval=None, close_timeout=1
        )
        try:
            yield await accepted.get(), client
        finally:
            client.transport.abort()


def fill(
    connection: Connection, limit: int | None = None, overflow: BroadcastOverflow | None = None
) -> list[BroadcastStats]:
    """Broadcast to a connection whose peer doesn't read until it is over its limit."""
    results: list[BroadcastStats] = []
    # The kernel's buffers take some megabytes first.
    for _ in range(10_000):
        results.append(broadcast([connection], MESSAGE, limit=limit, overflow=overflow))
        if results[-1].sent == 0:
            return results
    raise AssertionError("the limit was never reached")


def received_messages(results: list[BroadcastStats]) -> int:
    return sum(result.sent for result in results)


async def receive(client: ClientConnection, count: int) -> None:
    async with asyncio.timeout(10):
        for _ in range(count):
            assert await client.recv() == MESSAGE


# Options.


async def test_defaults() -> None:
    async with connected() as (server, _):
        assert server.broadcast_limit == BROADCAST_LIMIT == 2 * 2**20
        assert server.broadcast_overflow == "close"
        assert server.broadcast_dropped == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"broadcast_overflow": "wait"}, "must be 'drop' or 'close', not 'wait'"),
        ({"broadcast_limit": -1}, "broadcast_limit must be a positive int or None, not -1"),
        ({"broadcast_limit": "1 MiB"}, "not '1 MiB'"),
        ({"broadcast_limit": True}, "not True"),
    ],
)
async def test_invalid_options_fail_when_serving(options: dict[str, Any], message: str) -> None:
    async def handler(connection: ServerConnection) -> None:
        raise AssertionError("no connection expected")

    with pytest.raises(ValueError, match=message):
        await serve(handler, "127.0.0.1", 0, **options)


async def test_invalid_options_fail_in_connection() -> None:
    async with connected() as (server, _):
        with pytest.raises(ValueError, match="broadcast_overflow"):
            ServerConnection(
                server.protocol,
                server.server,
                broadcast_overflow=cast(BroadcastOverflow, "never"),
            )


async def test_invalid_arguments_fail_before_sending() -> None:
    async with connected() as (server, client):
        with pytest.raises(ValueError, match="broadcast_limit"):
            broadcast([server], "news", limit=-5)
        with pytest.raises(ValueError, match="broadcast_overflow"):
            broadcast([server], "news", overflow=cast(BroadcastOverflow, "block"))
        broadcast([server], "sent")
        async with asyncio.timeout(5):
            assert await client.recv() == "sent"


# The policies.


async def test_fast_path_counts_every_connection_sent() -> None:
    async with connected() as (server, client):
        assert broadcast([server, server], "twice") == BroadcastStats(sent=2, dropped=0, closed=0)
        async with asyncio.timeout(5):
            assert await client.recv() == "twice"
            assert await client.recv() == "twice"


async def test_drop_skips_messages_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="websockets_typed.server")
    async with connected(broadcast_limit=64 * KiB, broadcast_overflow="drop") as (server, client):
        client.transport.pause_reading()
        results = fill(server)
        assert results[-1] == BroadcastStats(sent=0, dropped=1, closed=0)
        # The write buffer stays under the limit.
        assert server.transport.get_write_buffer_size() <= 64 * KiB
        for _ in range(9):
            assert broadcast([server], MESSAGE).dropped == 1
        assert server.broadcast_dropped == 10
        drops = [m for m in caplog.messages if m.startswith("dropping broadcast messages")]
        assert len(drops) == 1
        assert "over the broadcast limit of 65536 bytes: dropped the message" in drops[0]
        # Once the peer reads, the connection is usable and gets what was sent.
        client.transport.resume_reading()
        await receive(client, received_messages(results))
        broadcast([server], "after")
        async with asyncio.timeout(5):
            assert await client.recv() == "after"
        assert server.broadcast_dropped == 10


async def test_close_closes_with_1013(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="websockets_typed.server")
    async with connected(broadcast_limit=64 * KiB) as (server, client):
        client.transport.pause_reading()
        results = fill(server)
        assert results[-1] == BroadcastStats(sent=0, dropped=0, closed=1)
        assert server.broadcast_dropped == 0
        # Closed connections are skipped.
        assert broadcast([server], MESSAGE) == BroadcastStats(sent=0, dropped=0, closed=0)
        closing = [m for m in caplog.messages if m.startswith("closing connection: ")]
        assert len(closing) == 1
        assert "closed the connection" in closing[0]
        # The peer reads everything, then the Close frame.
        client.transport.resume_reading()
        await receive(client, received_messages(results))
        with pytest.raises(ConnectionClosedError):
            async with asyncio.timeout(5):
                await client.recv()
        assert client.close_code == CloseCode.TRY_AGAIN_LATER
        assert client.close_reason == "too slow: broadcast buffer full"


async def test_close_of_a_peer_that_never_reads_aborts_after_close_timeout() -> None:
    async with connected(broadcast_limit=64 * KiB) as (server, client):
        client.transport.pause_reading()
        fill(server)
        async with asyncio.timeout(5):
            await server.wait_closed()
        assert server.protocol.close_sent is not None
        assert server.protocol.close_sent.code == CloseCode.TRY_AGAIN_LATER


async def test_arguments_replace_the_connection_options() -> None:
    async with connected() as (server, client):
        client.transport.pause_reading()
        # Under the connection's 2 MiB, over 64 KiB: dropped for this call.
        results = fill(server, limit=64 * KiB)
        assert server.transport.get_write_buffer_size() < BROADCAST_LIMIT
        assert results[-1].closed == 1  # the connection's policy
        client.transport.resume_reading()
        await receive(client, received_messages(results))


async def test_overflow_argument_replaces_the_policy() -> None:
    async with connected(broadcast_limit=64 * KiB) as (server, client):
        client.transport.pause_reading()
        results = fill(server, overflow="drop")
        assert results[-1].dropped == 1
        assert server.broadcast_dropped == 1
        assert server.broadcast_overflow == "close"
        client.transport.resume_reading()
        await receive(client, received_messages(results))


async def test_no_limit() -> None:
    async with connected(broadcast_limit=None) as (server, client):
        client.transport.pause_reading()
        for _ in range(2000):  # 8 MiB
            assert broadcast([server], MESSAGE).sent == 1
        assert server.transport.get_write_buffer_size() > BROADCAST_LIMIT
        client.transport.resume_reading()
        await receive(client, 2000)


async def test_below_write_limit_messages_always_go() -> None:
    # The limit applies above write_limit only, where send() would wait.
    async with connected(broadcast_limit=0, write_limit=64 * KiB) as (server, client):
        client.transport.pause_reading()
        results = fill(server)
        assert server.transport.get_write_buffer_size() > 64 * KiB
        assert results[-1].closed == 1
        client.transport.resume_reading()
        await receive(client, received_messages(results))


@pytest.mark.parametrize("overflow", ["drop", "close"])
async def test_raise_exceptions_reports_connections_over_the_limit(
    overflow: BroadcastOverflow,
) -> None:
    async with (
        connected(broadcast_limit=64 * KiB, broadcast_overflow=overflow) as (slow, slow_client),
        connected() as (fast, fast_client),
    ):
        slow_client.transport.pause_reading()
        fill(slow, overflow="drop")
        with pytest.raises(ExceptionGroup) as caught:
            broadcast([slow, fast], MESSAGE, raise_exceptions=True)
        (exc,) = caught.value.exceptions
        assert isinstance(exc, BroadcastLimitExceeded)
        assert exc.limit == 64 * KiB
        assert exc.buffered + len(MESSAGE) > exc.limit
        assert exc.closed is (overflow == "close")
        # The other connection got the message.
        async with asyncio.timeout(5):
            assert await fast_client.recv() == MESSAGE


async def test_limit_exceeded_message() -> None:
    assert str(BroadcastLimitExceeded(70000, 65536, closed=True)) == (
        "70000 bytes waiting to be sent, over the broadcast limit of 65536 bytes: "
        "closed the connection"
    )


# send() to a peer that stops reading.


async def send_forever(
    connection: Connection, sent: list[None] | None = None, timeout: float = 10
) -> None:
    """Send until send() fails or times out; record each message sent."""
    async with asyncio.timeout(timeout):
        while True:
            await connection.send(MESSAGE)
            if sent is not None:
                sent.append(None)


async def test_send_waits_until_keepalive_closes_the_connection() -> None:
    # The peer stops reading: send() waits for the buffer to drain. The
    # keepalive Ping waits behind the message, no Pong comes, the
    # connection fails with 1011, and close_timeout aborts it: send() waits
    # at most ping_interval + ping_timeout + close_timeout.
    async with connected(ping_interval=0.2, ping_timeout=0.2, close_timeout=0.2) as (
        server,
        client,
    ):
        client.transport.pause_reading()
        started = time.monotonic()
        with pytest.raises(ConnectionClosedError):
            await send_forever(server)
        assert time.monotonic() - started < 0.6 + 0.5  # plus scheduling slack
        assert server.protocol.close_sent is not None
        assert server.protocol.close_sent.code == CloseCode.INTERNAL_ERROR


async def test_send_bounded_with_asyncio_timeout_leaves_the_connection_usable() -> None:
    async with connected() as (server, client):
        client.transport.pause_reading()
        sent: list[None] = []
        with pytest.raises(TimeoutError):
            await send_forever(server, sent, timeout=0.5)
        # The cancelled send() had written its message whole: it arrives.
        client.transport.resume_reading()
        await receive(client, len(sent) + 1)
        await server.send("next")
        async with asyncio.timeout(5):
            assert await client.recv() == "next"


async def test_cancelled_fragmented_send_closes_the_connection_cleanly() -> None:
    released = asyncio.Event()

    async def fragments() -> AsyncIterator[bytes]:
        yield MESSAGE
        await released.wait()
        yield MESSAGE

    async with connected() as (server, client):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await server.send(fragments())
        # Half a message was sent: the connection fails with 1011, and the
        # peer reads well-formed frames up to the Close frame (a corrupt
        # stream would make it fail with 1002 instead).
        with pytest.raises(ConnectionClosedError):
            async with asyncio.timeout(5):
                await client.recv()
        assert client.close_code == CloseCode.INTERNAL_ERROR
        assert client.close_reason == "error in fragmented message"


# Many clients, some slow: tests/scale_broadcast.py with small numbers.


@pytest.mark.parametrize("overflow", ["drop", "close"])
async def test_slow_consumers(overflow: BroadcastOverflow) -> None:
    # 6 MiB per slow client: more than the kernel's buffers hold (up to
    # 4 MiB with Linux's default tcp_wmem) plus the limit.
    result = await run_slow_consumers(
        50, 3, 3000, size=2048, limit=256 * KiB, overflow=overflow, burst=20
    )
    result.check()
    assert result.dropped + result.closed > 0
    assert "fast clients: 47 of 47 got every message in order" in result.report()

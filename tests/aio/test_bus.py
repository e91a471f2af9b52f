"""The Redis broadcast bus, against a real redis-server started on a free port.

Two :class:`RedisBroadcast` objects in this process stand for two server
processes: each has its own connections to Redis, so a message goes
through Redis between them. tests/tools/test_scale_out.py runs real processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
from collections.abc import AsyncGenerator, AsyncIterator

import pytest
from process_helpers import free_port
from redis import asyncio as redis_asyncio
from redis.exceptions import ConnectionError as RedisConnectionError
from services import RedisServer

from websockets_typed import ClientConnection, ServerConnection, broadcast, connect, serve
from websockets_typed.asyncio.bus import RedisBroadcast, decode_message, encode_message


class Records(logging.Handler):
    """Collect the bus's log records; wake up whoever waits for one."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.changed.set()

    def messages(self, level: int) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno == level]

    async def wait_for(self, level: int, text: str) -> None:
        while not any(text in message for message in self.messages(level)):
            self.changed.clear()
            await self.changed.wait()


@pytest.fixture
def records() -> Records:
    return Records()


def bus_logger(records: Records, name: str = "bus") -> logging.Logger:
    logger = logging.getLogger(f"tests.bus.{name}.{id(records)}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(records)
    return logger


@contextlib.asynccontextmanager
async def room_server(
    buses: dict[str, RedisBroadcast], channel: str = "room"
) -> AsyncGenerator[int]:
    """A server whose path names the bus a connection subscribes with (``/a``, ``/b``)."""

    async def handler(websocket: ServerConnection) -> None:
        bus = buses[websocket.path.strip("/")]
        async with bus.subscription(channel, websocket):
            await websocket.send("subscribed")
            await websocket.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        yield server.sockets[0].getsockname()[1]


async def subscribed_client(port: int, path: str) -> ClientConnection:
    client = await connect(f"ws://127.0.0.1:{port}/{path}")
    assert await client.recv() == "subscribed"
    return client


async def test_a_message_published_anywhere_reaches_every_subscriber(
    redis_server: RedisServer,
) -> None:
    async with (
        RedisBroadcast(redis_server.url) as bus_a,
        RedisBroadcast(redis_server.url) as bus_b,
        room_server({"a": bus_a, "b": bus_b}) as port,
    ):
        assert bus_a.connected
        clients = [await subscribed_client(port, path) for path in ("a", "a", "b")]
        assert bus_a.publish("room", "from a")
        assert bus_b.publish("room", b"\x00from b")
        # Text stays text, bytes stay bytes; each publisher's order is kept.
        for client in clients:
            received = {await client.recv(), await client.recv()}
            assert received == {"from a", b"\x00from b"}
        # Other channels don't reach the room.
        bus_a.publish("elsewhere", "nobody listens")
        bus_a.publish("room", bytearray(b"last"))
        for client in clients:
            assert await client.recv() == b"last"
            await client.close()


async def test_order_is_kept_per_publisher(redis_server: RedisServer) -> None:
    async with (
        RedisBroadcast(redis_server.url, max_queue=2000) as bus_a,
        RedisBroadcast(redis_server.url, max_queue=2000) as bus_b,
        room_server({"a": bus_a}) as port,
    ):
        client = await subscribed_client(port, "a")
        for index in range(500):
            bus_a.publish("room", f"a {index}")
            bus_b.publish("room", f"b {index}".encode())
            if index % 100 == 0:
                await asyncio.sleep(0)  # let the writers send a batch
        expected = {"a": 0, "b": 0}
        for _ in range(1000):
            message = await client.recv()
            text = message if isinstance(message, str) else message.decode()
            publisher, number = text.split()
            assert isinstance(message, str) == (publisher == "a")
            assert int(number) == expected[publisher]
            expected[publisher] += 1
        await client.close()


async def test_join_makes_a_room(redis_server: RedisServer) -> None:
    async with RedisBroadcast(redis_server.url) as bus:

        async def handler(websocket: ServerConnection) -> None:
            await bus.join("chat", websocket)

        async with serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            alice = await connect(f"ws://127.0.0.1:{port}/")
            bob = await connect(f"ws://127.0.0.1:{port}/")
            # Joining is over once a message published after it comes back.
            for client, name in ((alice, "alice"), (bob, "bob")):
                await client.send(f"{name} joined")
                while await client.recv() != f"{name} joined":
                    pass
            assert await alice.recv() == "bob joined"
            await alice.send(b"hello")
            assert await alice.recv() == b"hello"
            assert await bob.recv() == b"hello"
            await alice.close()
            await bob.close()


async def test_unsubscribing_stops_delivery_and_leaves_the_channel(
    redis_server: RedisServer,
) -> None:
    redis = redis_asyncio.Redis.from_url(redis_server.url)  # pyright: ignore[reportUnknownMemberType]

    async def subscribers() -> int:
        counts = await redis.pubsub_numsub("room")  # pyright: ignore[reportUnknownMemberType]
        return int(counts[0][1])

    try:
        async with RedisBroadcast(redis_server.url) as bus, room_server({"a": bus}) as port:
            first = await subscribed_client(port, "a")
            second = await subscribed_client(port, "a")
            # One subscription on Redis per process, however many connections.
            assert await subscribers() == 1
            await first.close()
            bus.publish("room", "still here")
            assert await second.recv() == "still here"
            assert await subscribers() == 1
            await second.close()
            # The last local subscriber left: the process leaves the channel.
            while await subscribers():
                await asyncio.sleep(0.01)  # polling Redis: there's no event for this
            assert bus.publish("room", "nobody")
            # Unsubscribing twice, or from a channel never joined, is harmless.
            await bus.unsubscribe("room", first)
            await bus.unsubscribe("never", first)
    finally:
        await redis.aclose()


async def test_redis_restart(redis_server: RedisServer, records: Records) -> None:
    logger = bus_logger(records)
    async with (
        RedisBroadcast(redis_server.url, logger=logger) as bus,
        RedisBroadcast(redis_server.url, logger=logger) as publisher,
        room_server({"a": bus, "b": publisher}) as port,
    ):
        client = await subscribed_client(port, "a")
        leaving = await subscribed_client(port, "b")
        publisher.publish("room", "before")
        assert await client.recv() == "before"
        assert await leaving.recv() == "before"

        await redis_server.stop()
        await records.wait_for(logging.WARNING, "lost the connection to Redis")
        while publisher.connected or bus.connected:
            await records.changed.wait()
            records.changed.clear()
        # Published while Redis is down: lost, counted and logged.
        assert not publisher.publish("room", "lost")
        assert not publisher.publish("room", "lost too")
        assert publisher.dropped == 2
        assert "dropping published messages: Redis is unreachable" in records.messages(logging.INFO)
        # Connections keep coming and going meanwhile: subscribed once reconnected.
        await leaving.close()
        late = await subscribed_client(port, "a")
        await records.wait_for(logging.INFO, "can't reconnect to Redis")

        await redis_server.start()
        await bus.wait_connected()
        await publisher.wait_connected()
        assert "dropped 2 published messages" in records.messages(logging.INFO)
        assert publisher.publish("room", "after")
        assert await client.recv() == "after"
        assert await late.recv() == "after"
        await client.close()
        await late.close()


async def test_slow_redis_bounds_the_queue(redis_server: RedisServer, records: Records) -> None:
    logger = bus_logger(records)
    async with (
        RedisBroadcast(redis_server.url) as bus,
        RedisBroadcast(redis_server.url, max_queue=10, logger=logger) as publisher,
        room_server({"a": bus}) as port,
    ):
        client = await subscribed_client(port, "a")
        redis_server.pause()
        publisher.publish("room", "0")
        await asyncio.sleep(0)  # the writer takes it and waits for Redis
        results = [publisher.publish("room", str(index)) for index in range(1, 16)]
        # One message on its way and nine queued; the others are dropped.
        assert results == [True] * 9 + [False] * 6
        assert publisher.dropped == 6
        assert records.messages(logging.INFO) == [
            "dropping published messages: 10 messages wait for Redis already"
        ]
        redis_server.resume()
        for index in range(10):
            assert await client.recv() == str(index)
        # Room again: the next message goes through, and the drops are summed up.
        await records.wait_for(logging.INFO, "")
        while not publisher.publish("room", "next"):  # pragma: no cover - racy
            await asyncio.sleep(0.01)
        assert await client.recv() == "next"
        assert "dropped 6 published messages" in records.messages(logging.INFO)
        await client.close()


async def test_a_lost_connection_drops_what_is_queued(
    redis_server: RedisServer, records: Records
) -> None:
    logger = bus_logger(records)
    async with RedisBroadcast(redis_server.url, logger=logger) as publisher:
        redis_server.pause()
        publisher.publish("room", "on its way")
        await asyncio.sleep(0)  # the writer takes it and waits for Redis
        publisher.publish("room", "queued")
        await redis_server.kill()
        await records.wait_for(logging.INFO, "dropping published messages")
        assert records.messages(logging.INFO) == [
            "dropping published messages: lost the connection to Redis"
        ]
        assert publisher.dropped == 2
        # Closing while Redis is down doesn't wait for it.
        await publisher.close()
        assert not publisher.connected


async def test_close_sends_what_is_queued(redis_server: RedisServer) -> None:
    async with RedisBroadcast(redis_server.url) as bus, room_server({"a": bus}) as port:
        client = await subscribed_client(port, "a")
        async with RedisBroadcast(redis_server.url) as publisher:
            for index in range(100):
                publisher.publish("room", str(index))
        assert not publisher.connected
        for index in range(100):
            assert await client.recv() == str(index)
        await client.close()
        # Closing again does nothing.
        await publisher.close()


async def test_foreign_payloads_are_ignored(redis_server: RedisServer, records: Records) -> None:
    redis = redis_asyncio.Redis.from_url(redis_server.url)  # pyright: ignore[reportUnknownMemberType]
    logger = bus_logger(records)
    try:
        async with (
            RedisBroadcast(redis_server.url, logger=logger) as bus,
            room_server({"a": bus}) as port,
        ):
            client = await subscribed_client(port, "a")
            # As redis-cli would: the marker decides the type.
            await redis.publish("room", "Thello")  # pyright: ignore[reportUnknownMemberType]
            await redis.publish("room", "no marker")  # pyright: ignore[reportUnknownMemberType]
            await redis.publish("room", b"T\xff")  # pyright: ignore[reportUnknownMemberType]
            await redis.publish("room", b"B\xff")  # pyright: ignore[reportUnknownMemberType]
            assert await client.recv() == "hello"
            assert await client.recv() == b"\xff"
            warnings = records.messages(logging.WARNING)
            assert warnings[0] == "ignored a message on channel room: unknown marker b'n'"
            assert warnings[1].startswith("ignored a message on channel room: 'utf-8' codec")
            await client.close()
    finally:
        await redis.aclose()


async def test_connections_that_cannot_take_the_message_are_skipped(
    redis_server: RedisServer, records: Records
) -> None:
    logger = bus_logger(records)
    release = asyncio.Event()

    async def fragments() -> AsyncIterator[str]:
        yield "first fragment, "
        await release.wait()
        yield "last fragment"

    async def handler(websocket: ServerConnection) -> None:
        async with bus.subscription("room", websocket):
            await websocket.send("subscribed")
            if websocket.path == "/busy":
                # broadcast() can't interleave a message with a fragmented one.
                await websocket.send(fragments())
            await websocket.wait_closed()

    async with (
        RedisBroadcast(redis_server.url, logger=logger) as bus,
        serve(handler, "127.0.0.1", 0) as server,
    ):
        port = server.sockets[0].getsockname()[1]
        busy = await subscribed_client(port, "busy")
        idle = await subscribed_client(port, "idle")
        bus.publish("room", "news")
        assert await idle.recv() == "news"
        assert records.messages(logging.WARNING) == [
            "skipped a message on channel room: sending a fragmented message"
        ]
        release.set()
        assert await busy.recv() == "first fragment, last fragment"
        await busy.close()
        await idle.close()


async def test_a_slow_connection_drops_messages_past_its_broadcast_limit(
    redis_server: RedisServer, records: Records
) -> None:
    logger = bus_logger(records)
    accepted: asyncio.Queue[ServerConnection] = asyncio.Queue()

    async def handler(websocket: ServerConnection) -> None:
        async with bus.subscription("room", websocket):
            accepted.put_nowait(websocket)
            await websocket.send("subscribed")
            await websocket.wait_closed()

    async with (
        RedisBroadcast(redis_server.url, logger=logger) as bus,
        serve(
            handler,
            "127.0.0.1",
            0,
            compression=None,
            broadcast_limit=2**16,
            broadcast_overflow="drop",
        ) as server,
    ):
        port = server.sockets[0].getsockname()[1]
        slow = await subscribed_client(port, "slow")
        slow_connection = await accepted.get()
        idle = await subscribed_client(port, "idle")
        try:
            # The slow client stops reading: fill its buffers until one
            # message goes over its limit (the kernel's take megabytes first).
            slow.transport.pause_reading()
            for _ in range(10_000):  # pragma: no branch - the limit is reached
                if broadcast([slow_connection], b"x" * 4096).dropped:
                    break
            assert slow_connection.broadcast_dropped == 1
            # The kernel may take more meanwhile: publish until the bus's
            # delivery drops one too (the idle client gets each message).
            news = b"n" * 2**15
            for _ in range(1_000):  # pragma: no branch - it drops one
                bus.publish("room", news)
                assert await idle.recv() == news
                if slow_connection.broadcast_dropped > 1:
                    break
            assert slow_connection.broadcast_dropped == 2
            # The slow connection logged it once, at the first drop; the
            # bus doesn't log it again.
            assert records.messages(logging.WARNING) == []
            await idle.close()
        finally:
            slow.transport.abort()


async def test_errors() -> None:
    with pytest.raises(ValueError, match="max_queue must be at least 1"):
        RedisBroadcast(max_queue=0)
    bus = RedisBroadcast(f"redis://127.0.0.1:{free_port()}")
    with pytest.raises(RuntimeError, match="the bus isn't open"):
        bus.publish("room", "hello")
    with pytest.raises(TypeError, match="message must be str or bytes"):
        bus.publish("room", 42)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    # Nothing listens there: opening fails at once.
    with pytest.raises(RedisConnectionError):
        async with bus:
            pass  # pragma: no cover
    assert not bus.connected
    await bus.close()


async def test_open_once(redis_server: RedisServer) -> None:
    async with RedisBroadcast(redis_server.url) as bus:
        with pytest.raises(RuntimeError, match="already open"):
            await bus.__aenter__()


def test_payloads() -> None:
    assert encode_message("é") == b"T\xc3\xa9"
    assert encode_message(memoryview(b"\x01")) == b"B\x01"
    assert decode_message(b"T\xc3\xa9") == "é"
    assert decode_message(b"B") == b""
    with pytest.raises(ValueError, match="unknown marker b''"):
        decode_message(b"")


def test_without_redis_py_the_error_names_the_extra() -> None:
    # A fresh interpreter where redis-py can't be imported.
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "try:\n"
        "    import websockets_typed.asyncio.bus\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "pip install 'websockets_typed[redis]'" in result.stdout

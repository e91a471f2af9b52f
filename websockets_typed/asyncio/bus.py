"""A broadcast bus across processes and machines, on Redis pub/sub.

:func:`~websockets_typed.asyncio.connection.broadcast` reaches the
connections of one process. Once an application runs several processes
(on one machine or many), a message must reach the clients of every
process: each process opens one :class:`RedisBroadcast`, attaches its
local connections to channels, and publishes; the bus relays every
message through Redis to each process, which delivers it with
``broadcast()`` to its own subscribers.

It needs the ``redis`` extra (``pip install 'websockets_typed[redis]'``),
which installs redis-py; this module is not imported by
``websockets_typed`` itself.

Messages keep their type end to end: a ``str`` arrives as a Text message,
bytes as a Binary message. The payload published to Redis is the message
after a one-byte marker, ``T`` for text (UTF-8) or ``B`` for binary, so
``redis-cli PUBLISH chat Thello`` sends the text ``hello``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import AsyncGenerator, Awaitable
from types import TracebackType
from typing import Final, Protocol, Self, cast

try:
    from redis import asyncio as redis_asyncio
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError
except ImportError as _missing:  # pragma: no cover - tests/aio/test_bus.py tests it
    raise ImportError(
        "websockets_typed.asyncio.bus needs redis-py: "
        "install it with pip install 'websockets_typed[redis]'"
    ) from _missing

from ..exceptions import BroadcastLimitExceeded, ConnectionClosed
from ..typing import BytesLike, Data, LoggerLike
from .connection import Connection, broadcast

__all__ = ["RedisBroadcast"]

# The one-byte marker before each payload on Redis: the message's type.
TEXT_MARKER: Final = b"T"
BINARY_MARKER: Final = b"B"


def encode_message(message: Data | BytesLike) -> bytes:
    """Turn a message into the payload published on Redis: a marker, then the data."""
    if isinstance(message, str):
        return TEXT_MARKER + message.encode()
    if isinstance(message, bytes | bytearray | memoryview):  # pyright: ignore[reportUnnecessaryIsInstance]
        return BINARY_MARKER + bytes(message)
    raise TypeError("message must be str or bytes")


def decode_message(payload: bytes) -> Data:
    """Turn a payload read from Redis back into the message that was published.

    Raises:
        ValueError: If the payload has no known marker, or if a text
            payload isn't valid UTF-8 (``UnicodeDecodeError``).
    """
    marker, data = payload[:1], payload[1:]
    if marker == TEXT_MARKER:
        return data.decode()
    if marker == BINARY_MARKER:
        return data
    raise ValueError(f"unknown marker {marker!r}")


# The part of redis-py's asyncio client used here, typed: redis-py leaves
# some of it unannotated.


class _PubSub(Protocol):
    async def connect(self) -> None: ...
    async def subscribe(self, *channels: str) -> None: ...
    def unsubscribe(self, *channels: str) -> Awaitable[object]: ...
    async def get_message(
        self, ignore_subscribe_messages: bool = False, timeout: float | None = 0.0
    ) -> dict[str, object] | None: ...
    async def aclose(self) -> None: ...


class _Pipeline(Protocol):
    def publish(self, channel: str, message: bytes) -> object: ...
    async def execute(self) -> list[object]: ...


class _Client(Protocol):
    def pubsub(self) -> _PubSub: ...
    def ping(self) -> Awaitable[object]: ...
    def pipeline(self, transaction: bool = True) -> _Pipeline: ...
    async def aclose(self) -> None: ...


# What tells that the connection to Redis is lost (or that Redis is too slow).
_CONNECTION_ERRORS: Final = (RedisError, OSError)


class RedisBroadcast:
    """A broadcast bus between processes, on Redis pub/sub.

    Open one per process, for as long as the server runs::

        async with RedisBroadcast("redis://localhost:6379") as bus:
            async with serve(handler, "", 8765, reuse_port=True) as server:
                await server.serve_forever()

    and attach connections to channels in the handler::

        async def handler(websocket):
            async with bus.subscription("chat", websocket):
                async for message in websocket:
                    bus.publish("chat", message)

    (or simply ``await bus.join("chat", websocket)``, which does just that).

    A message published in any process, to a channel, reaches every
    connection subscribed to that channel in every process, with the
    semantics of :func:`~websockets_typed.asyncio.connection.broadcast`:
    no backpressure, connections that aren't open are skipped, and a
    connection whose write buffer is over its ``broadcast_limit`` drops
    the message or is closed, as its ``broadcast_overflow`` says, rather
    than slowing down the others. Messages from one publisher arrive in the
    order it published them.

    Delivery is at most once. :meth:`publish` never waits: it queues the
    message for a task that sends queued messages to Redis. At most
    ``max_queue`` messages wait there; beyond that, while Redis is slow,
    messages are dropped. When the connection to Redis is lost (Redis
    restarted, for instance), the bus reconnects with exponential backoff
    and subscribes again; messages published in the meantime, by this
    process or by others, are lost. Drops are counted in :attr:`dropped`
    and logged at INFO; lost connections are logged at WARNING.

    Entering the context connects to Redis and fails if it can't: an error
    in the URL or a Redis that isn't running shows at once. Reconnections
    happen after that, in the background.

    Args:
        url: Where Redis listens, e.g. ``redis://localhost:6379/0``,
            ``rediss://`` for TLS, ``unix:///run/redis.sock``.
        max_queue: How many messages may wait to be sent to Redis.
        reconnect_delay: Seconds to wait before the first attempt to
            reconnect; the delay doubles after each failed attempt.
        max_reconnect_delay: The longest delay between two attempts.
        logger: Where to log; the ``websockets_typed.bus`` logger by default.
    """

    def __init__(
        self,
        url: str = "redis://localhost:6379",
        *,
        max_queue: int = 1024,
        reconnect_delay: float = 0.1,
        max_reconnect_delay: float = 10.0,
        logger: LoggerLike | None = None,
    ) -> None:
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        self.url = url
        self.max_queue = max_queue
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self.logger: LoggerLike = logger or logging.getLogger("websockets_typed.bus")
        self.dropped: int = 0
        """How many published messages were dropped since the bus was created."""

        self._channels: dict[str, set[Connection]] = {}
        self._queue: deque[tuple[str, bytes]] = deque()
        self._sending = 0  # messages taken off the queue, on their way to Redis
        self._queued = asyncio.Event()
        self._flushed = asyncio.Event()
        self._flushed.set()
        self._connected = asyncio.Event()
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._dropping = 0  # drops since the last log line about them
        self._client: _Client | None = None
        self._pubsub: _PubSub | None = None
        self._task: asyncio.Task[None] | None = None

    # Opening and closing.

    async def __aenter__(self) -> Self:
        if self._task is not None:
            raise RuntimeError("this RedisBroadcast is already open")
        await self._connect()
        self._task = asyncio.create_task(self._run(), name="RedisBroadcast")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Send the messages still queued, then disconnect from Redis."""
        if self._task is None:
            return
        if self._connected.is_set():
            # Bounded: a Redis that doesn't answer times out, which drops the queue.
            await self._flushed.wait()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        await self._disconnect()

    @property
    def connected(self) -> bool:
        """Whether the bus is connected to Redis right now."""
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        """Wait until the bus is connected to Redis, e.g. after Redis restarted.

        Once connected, the bus is subscribed to every channel that has
        local subscribers: messages published from then on reach them.
        """
        await self._connected.wait()

    # Publishing.

    def publish(self, channel: str, message: Data | BytesLike) -> bool:
        """Publish a message to every subscriber of ``channel``, in every process.

        It doesn't wait, like ``broadcast()``: the message is queued and
        sent to Redis in the background.

        Args:
            channel: The channel, a Redis pub/sub channel name.
            message: ``str`` is delivered as a Text message, bytes-like
                objects as a Binary message.

        Returns:
            ``True`` if the message was queued, ``False`` if it was dropped
            (queue full, or Redis unreachable). Drops are logged at INFO.

        Raises:
            TypeError: If ``message`` has an unsupported type.
            RuntimeError: If the bus isn't open.
        """
        payload = encode_message(message)
        if self._task is None:
            raise RuntimeError("the bus isn't open: use async with RedisBroadcast(...)")
        if not self._connected.is_set():
            self._drop(1, "Redis is unreachable")
            return False
        if len(self._queue) + self._sending >= self.max_queue:
            self._drop(1, f"{self.max_queue} messages wait for Redis already")
            return False
        self._queue.append((channel, payload))
        self._queued.set()
        self._flushed.clear()
        if self._dropping:
            self._log_drops()
        return True

    def _drop(self, count: int, reason: str) -> None:
        """Count dropped messages; log when drops start (then once per episode)."""
        if not self._dropping:
            self.logger.info("dropping published messages: %s", reason)
        self.dropped += count
        self._dropping += count

    def _log_drops(self) -> None:
        self.logger.info("dropped %d published messages", self._dropping)
        self._dropping = 0

    # Subscribing.

    async def subscribe(self, channel: str, connection: Connection) -> None:
        """Deliver the messages published to ``channel`` to ``connection``.

        When it returns, the process is subscribed to the channel on Redis
        (unless the bus is reconnecting: then it will be once reconnected).
        """
        members = self._channels.setdefault(channel, set())
        members.add(connection)
        confirmation = self._confirmations.get(channel)
        if confirmation is None and len(members) == 1 and self._connected.is_set():
            # The first local subscriber: subscribe this process on Redis.
            assert self._pubsub is not None
            confirmation = self._expect_confirmation(channel)
            try:
                await self._pubsub.subscribe(channel)
            except _CONNECTION_ERRORS:  # pragma: no cover - racy to test
                return  # the reader sees the lost connection; resubscribed on reconnection
        if confirmation is not None:
            # Redis confirms in order: messages published after this reach us.
            await asyncio.shield(confirmation)

    async def unsubscribe(self, channel: str, connection: Connection) -> None:
        """Stop delivering the messages of ``channel`` to ``connection``."""
        members = self._channels.get(channel)
        if members is None:
            return
        members.discard(connection)
        if members:
            return
        del self._channels[channel]
        if self._connected.is_set():
            assert self._pubsub is not None
            # If the connection is lost, the reconnection won't subscribe again.
            with contextlib.suppress(*_CONNECTION_ERRORS):
                await self._pubsub.unsubscribe(channel)

    @contextlib.asynccontextmanager
    async def subscription(self, channel: str, connection: Connection) -> AsyncGenerator[None]:
        """Subscribe ``connection`` to ``channel`` for the duration of the block."""
        await self.subscribe(channel, connection)
        try:
            yield
        finally:
            await self.unsubscribe(channel, connection)

    async def join(self, channel: str, connection: Connection) -> None:
        """Make ``connection`` a member of the room ``channel`` until it closes.

        It receives every message published to the channel, and every
        message it sends is published to the channel (so it receives its
        own messages too, as everyone else does).
        """
        async with self.subscription(channel, connection):
            with contextlib.suppress(ConnectionClosed):
                async for message in connection:
                    self.publish(channel, message)

    def _expect_confirmation(self, channel: str) -> asyncio.Future[None]:
        confirmation = asyncio.get_running_loop().create_future()
        self._confirmations[channel] = confirmation
        return confirmation

    # The connection to Redis.

    async def _connect(self) -> None:
        """Connect to Redis and subscribe to the channels that have subscribers."""
        # No retries inside redis-py: a lost connection surfaces here, once.
        client = cast(
            "_Client",
            redis_asyncio.Redis.from_url(  # pyright: ignore[reportUnknownMemberType]
                self.url, retry=Retry(NoBackoff(), 0)
            ),
        )
        self._client, self._pubsub = client, client.pubsub()
        try:
            await client.ping()
            await self._pubsub.connect()
            subscribed: set[str] = set()
            # Subscribers may come and go while this waits for Redis.
            while missing := set(self._channels) - subscribed:
                for channel in missing:
                    self._expect_confirmation(channel)
                await self._pubsub.subscribe(*missing)
                while any(channel in self._confirmations for channel in missing):
                    await self._receive()
                subscribed |= missing
            if gone := subscribed - set(self._channels):  # pragma: no cover - racy to test
                await self._pubsub.unsubscribe(*gone)
        except BaseException:
            await self._disconnect()
            raise
        self._connected.set()

    async def _disconnect(self) -> None:
        """Forget the connection to Redis, and what was waiting for it."""
        self._connected.clear()
        # Subscribers waiting for Redis to confirm: subscribed again on reconnection.
        for confirmation in self._confirmations.values():
            confirmation.set_result(None)
        self._confirmations.clear()
        if self._queue or self._sending:
            self._drop(len(self._queue) + self._sending, "lost the connection to Redis")
            self._queue.clear()
            self._sending = 0
        self._flushed.set()
        pubsub, client = self._pubsub, self._client
        self._pubsub = self._client = None
        with contextlib.suppress(*_CONNECTION_ERRORS):
            if pubsub is not None:
                await pubsub.aclose()
            if client is not None:
                await client.aclose()

    async def _run(self) -> None:
        """Relay messages both ways; reconnect when the connection is lost."""
        while True:
            try:
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(self._read())
                    tasks.create_task(self._write())
            except* _CONNECTION_ERRORS as group:
                self.logger.warning(
                    "lost the connection to Redis at %s: %s", self.url, group.exceptions[0]
                )
            except* Exception:  # pragma: no cover - a bug: say so, and go on
                self.logger.error("bus failed; reconnecting to Redis", exc_info=True)
            await self._disconnect()
            await self._reconnect()

    async def _reconnect(self) -> None:
        delay = self.reconnect_delay
        while True:
            # Jitter: processes that lost Redis at once don't all come back at once.
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            try:
                await self._connect()
            except _CONNECTION_ERRORS as exc:
                delay = min(delay * 2, self.max_reconnect_delay)
                self.logger.info("can't reconnect to Redis at %s yet: %s", self.url, exc)
            else:
                self.logger.info("reconnected to Redis at %s", self.url)
                if self._dropping:
                    self._log_drops()
                return

    async def _read(self) -> None:
        while True:
            await self._receive()
            # Reading what redis-py has buffered already doesn't suspend:
            # without this, a burst of messages (each broadcast to every
            # subscriber) would hold the event loop until the buffer is
            # empty, starving the connections and the writer for seconds.
            await asyncio.sleep(0)

    async def _receive(self) -> None:
        """Read one message from Redis and act on it."""
        assert self._pubsub is not None
        message = await self._pubsub.get_message(timeout=None)
        if message is None:  # pragma: no cover - not without a timeout or a handler
            return
        kind, name = message["type"], message["channel"]
        if not isinstance(name, bytes):  # pragma: no cover - pongs, which we don't ask for
            return
        channel = name.decode()
        if kind == "message":
            self._deliver(channel, cast("bytes", message["data"]))
        elif kind == "subscribe" and (confirmation := self._confirmations.pop(channel, None)):
            confirmation.set_result(None)

    def _deliver(self, channel: str, payload: bytes) -> None:
        members = self._channels.get(channel)
        if not members:  # pragma: no cover - the last one left as the message came: racy
            return
        try:
            message = decode_message(payload)
        except ValueError as exc:
            self.logger.warning("ignored a message on channel %s: %s", channel, exc)
            return
        try:
            broadcast(members, message, raise_exceptions=True)
        except ExceptionGroup as group:
            for error in group.exceptions:
                # A slow connection logs that itself, once.
                if not isinstance(error, BroadcastLimitExceeded):
                    self.logger.warning("skipped a message on channel %s: %s", channel, error)

    async def _write(self) -> None:
        """Send queued messages to Redis, as many as are waiting in one round trip."""
        assert self._client is not None
        while True:
            await self._queued.wait()
            batch = list(self._queue)
            self._queue.clear()
            self._queued.clear()
            self._sending = len(batch)
            pipeline = self._client.pipeline(transaction=False)
            for channel, payload in batch:
                pipeline.publish(channel, payload)
            await pipeline.execute()
            self._sending = 0
            if not self._queue:
                self._flushed.set()

"""The asyncio connection shared by clients and servers.

:class:`Connection` is an :class:`asyncio.BufferedProtocol`: the transport
reads into buffers that the sans-I/O parser provides (the payload of a large
frame straight into the message's own buffer), and what the parser produces
goes straight to the transport. Coroutines (:meth:`recv`,
:meth:`send`, :meth:`ping`, :meth:`close`) only wait for what they need.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from types import TracebackType
from typing import (
    ClassVar,
    Final,
    Literal,
    NamedTuple,
    Self,
    TypeAlias,
    get_args,
    overload,
)

from .._defaults import (
    BROADCAST_LIMIT,
    CLOSE_TIMEOUT,
    MAX_QUEUE,
    PING_INTERVAL,
    PING_TIMEOUT,
    WRITE_LIMIT,
)
from .._receivebuffer import READ_BUFFERS, head_bytes, new_read_buffer
from ..datastructures import Headers
from ..exceptions import (
    BroadcastLimitExceeded,
    ConcurrencyError,
    ConnectionClosed,
    InvalidState,
    ProtocolError,
)
from ..frames import (
    MASKED_BY_CALLER,
    OP_BINARY,
    OP_CLOSE,
    OP_PONG,
    OP_TEXT,
    SLICED_FRAME,
    CloseCode,
    Frame,
    mask_frame,
    serialize_payload,
)
from ..http11 import Request, Response
from ..protocol import CLOSED, CLOSING, OPEN, Event, Protocol, SharedSend, State
from ..typing import BytesLike, Data, LoggerLike, SequenceNotStr, SocketAddress, Subprotocol
from ._bytesreads import BYTES_TRANSPORTS, BytesReads, reads_bytes
from ._rcvlowat import RCVLOWAT_MAX, lowat_socket
from ._rcvlowat import SUPPORTED as RCVLOWAT_SUPPORTED
from ._sendbuffer import COPYING_TRANSPORT, write_masked
from ._slices import SlicedFrame
from ._timers import Bucket, Timers
from ._waiter import Waiter, wake_future
from .messages import Assembler

__all__ = [
    "BroadcastOverflow",
    "BroadcastStats",
    "Connection",
    "broadcast",
]

# At most this many frames wait in send()'s cork (see Connection.send).
_CORK_FRAMES = 64

# From this size on, a chunk is written as a memoryview: when the socket
# takes only part of it, asyncio's transport (before Python 3.12) slices the
# rest before buffering it, which copies a bytes object once more, but not a
# memoryview (bench/run.py, C2: one allocation and copy less per message).
_WRITE_VIEW = 65536

# What send() sends as one binary frame. A tuple, not written out in the
# call: ``bytes | bytearray | memoryview`` builds a union object on every
# call, some 100 ns per message.
_BYTES_LIKE: Final = (bytes, bytearray, memoryview)

# Below this size, a read is copied out of the shared read buffer and parsed
# as bytes; from it on, it is parsed in place (see buffer_updated).
_READ_COPY = 4096

# The close timer of a connection whose end is certain without one (see
# _write_chunks): empty, it never fires, and cancelling in it does nothing.
_NO_TIMER: Final[Bucket] = {}

BroadcastOverflow: TypeAlias = Literal["drop", "close"]
"""What :func:`broadcast` does for a connection over its limit: drop the
message for that connection, or close the connection with 1013."""


_BROADCAST_OVERFLOWS: Final = get_args(BroadcastOverflow)


def check_broadcast_options(limit: int | None, overflow: str) -> None:
    """Raise :exc:`ValueError` for an invalid ``broadcast_limit`` or ``broadcast_overflow``."""
    if overflow not in _BROADCAST_OVERFLOWS:
        raise ValueError(f"broadcast_overflow must be 'drop' or 'close', not {overflow!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ValueError(f"broadcast_limit must be a positive int or None, not {limit!r}")


class Connection(asyncio.BufferedProtocol):
    """An open WebSocket connection, on top of a sans-I/O :class:`Protocol`.

    :class:`~websockets_typed.asyncio.server.ServerConnection` and
    :class:`~websockets_typed.asyncio.client.ClientConnection` derive from
    it; they add the opening handshake. Iterate over a connection to receive
    messages until it closes normally::

        async for message in connection:
            ...

    Args:
        protocol: The sans-I/O protocol.
        ping_interval: Seconds between keepalive pings; ``None`` disables them.
        ping_timeout: Seconds to wait for a keepalive pong before closing the
            connection with 1011; ``None`` disables the timeout.
        close_timeout: Seconds to wait for the closing handshake and the TCP
            connection to end before aborting it; ``None`` waits forever.
        max_queue: High-water mark of the queue of received frames; reading
            from the network pauses when it is reached and resumes at the
            low-water mark (a quarter of it unless given as a tuple).
            ``None`` disables flow control.
        write_limit: High-water mark of the write buffer; :meth:`send` waits
            while the buffer is above it, until it drains to the low-water
            mark (a quarter of it unless given as a tuple).
        broadcast_limit: Bytes that may wait in the write buffer for
            :func:`broadcast` to add a message, once the buffer is over
            ``write_limit`` (below it, :func:`broadcast` always writes);
            ``None`` disables the limit.
        broadcast_overflow: What :func:`broadcast` does when a message would
            exceed ``broadcast_limit``: ``"close"`` (default) closes the
            connection with 1013 (try again later), ``"drop"`` skips the
            message for this connection.

    Attributes:
        protocol: The sans-I/O protocol.
        response: The opening handshake response.
        latency: Round-trip time of the last ping answered by a pong, keepalive
            or not, in seconds; 0 until then.
        broadcast_dropped: Messages that :func:`broadcast` dropped for this
            connection because of ``broadcast_limit``.
    """

    # A class attribute until the first drop: most connections never drop a
    # message, and an attribute costs memory per connection (bench/run.py, S5).
    broadcast_dropped: int = 0
    # True while data_received() or _resume_reading() call buffer_updated(),
    # maybe from a task; a class attribute, for the memory of connections.
    _feeding: bool = False
    # Class attributes until first set, for the same reason: most connections
    # never have a task waiting for the end while it is open, and a close
    # timer only at the end. CPython 3.11 shares the keys of instance
    # dictionaries up to 30 names only; one more and every connection gets a
    # dictionary of its own, 1.5 KiB (bench/run.py, S5).
    _lost_waiters: list[Waiter | asyncio.Future[None]] | None = None
    _close_timer: Bucket | None = None
    # The large frame being written in slices, if any (see _send_sliced).
    _sliced: SlicedFrame | None = None
    # Resolved when the handshake response arrives, or when it never will:
    # the client's handshake() waits for it. A server answers the request
    # in the step that receives it, with no waiter (bench/run.py, S4).
    _waits_for_handshake: ClassVar[bool] = True
    # Whether the subclass's __init__ set ``loop`` before this one runs: a
    # server connection takes its server's, where asyncio.get_running_loop()
    # costs a getpid() system call, about 0.2 µs per connection.
    _loop_given: ClassVar[bool] = False
    loop: asyncio.AbstractEventLoop
    _handshake_waiter: asyncio.Future[None] | Waiter | None = None

    def __init__(
        self,
        protocol: Protocol,
        *,
        ping_interval: float | None = PING_INTERVAL,
        ping_timeout: float | None = PING_TIMEOUT,
        close_timeout: float | None = CLOSE_TIMEOUT,
        max_queue: int | tuple[int | None, int | None] | None = MAX_QUEUE,
        write_limit: int | tuple[int, int | None] = WRITE_LIMIT,
        broadcast_limit: int | None = BROADCAST_LIMIT,
        broadcast_overflow: BroadcastOverflow = "close",
    ) -> None:
        if broadcast_limit is not BROADCAST_LIMIT or broadcast_overflow != "close":
            # The defaults need no check: a call less per connection
            # (bench/run.py --callgrind, S4).
            check_broadcast_options(broadcast_limit, broadcast_overflow)
        self.protocol = protocol
        # A bad frame fails the connection once the messages before it were
        # received (see _fail_deferred).
        protocol.defer_failures = True
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        # A value is a high-water mark, a tuple high and low ones (_limits,
        # inlined: two calls less per connection).
        self.max_queue: tuple[int | None, int | None] = (
            max_queue if isinstance(max_queue, tuple) else (max_queue, None)
        )
        high, low = write_limit if isinstance(write_limit, tuple) else (write_limit, None)
        self.write_limit: tuple[int, int | None] = (high or 0, low)
        self._request: Request | None = None
        self.response: Response | None = None
        self.latency: float = 0.0
        self.broadcast_limit = broadcast_limit
        self.broadcast_overflow: BroadcastOverflow = broadcast_overflow

        if not self._loop_given:
            self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport
        # A task waiting for a message wakes in the step that received it,
        # on every loop (see Assembler): the handler's answer is written
        # before the read's callback returns, as a raw protocol's would. The
        # handshake and the end of the connection wait so on asyncio's own
        # loops only (see Waiter): uvloop runs a woken task before its next
        # poll anyway, and its Futures cost fewer instructions there.
        in_step = isinstance(self.loop, asyncio.BaseEventLoop)
        # Positional arguments: no dict of keywords per connection
        # (bench/run.py --callgrind, S4).
        queue_high, queue_low = self.max_queue
        self.recv_messages: Assembler = Assembler(
            queue_high, queue_low, self._pause_reading, self._resume_reading, True
        )
        # The queue's frames, read on every send and read (not len(), a call).
        self._recv_frames = self.recv_messages.frames
        # The exception that ended the connection, if any, e.g. a reset.
        self.recv_exc: BaseException | None = None
        self.connection_lost_waiter: asyncio.Future[None] = self.loop.create_future()
        if self._waits_for_handshake:
            self._handshake_waiter = Waiter(self.loop) if in_step else self.loop.create_future()

        # Set while a fragmented message is being sent: other sends wait.
        self._fragmented_send_waiter: asyncio.Future[None] | None = None
        # Pings waiting for their pong: payload -> (future, time sent).
        self._pending_pings: dict[bytes, tuple[asyncio.Future[float], float]] = {}
        # The bucket of the keepalive's next step (see _timers).
        self._keepalive_timer: Bucket | None = None
        self._writing_paused = False
        # A list: a deque takes 760 bytes even when empty (bench/run.py, S5).
        self._drain_waiters: list[asyncio.Future[None]] = []
        # Small frames that send() holds back while answering a burst.
        self._corked: list[bytes] | None = None
        # The shared read buffer that get_buffer() lent, until buffer_updated().
        self._lent: memoryview | None = None
        self._reading_paused = False

    # Identity and state.

    @property
    def id(self) -> uuid.UUID:
        """Unique identifier of the connection, useful in logs."""
        return self.protocol.id

    @property
    def logger(self) -> LoggerLike:
        """Logger for this connection."""
        return self.protocol.logger

    @property
    def state(self) -> State:
        """State of the WebSocket connection."""
        return self.protocol.state

    @property
    def local_address(self) -> SocketAddress:
        """Local address: ``(host, port)`` for IPv4, ``(host, port, flowinfo,
        scope_id)`` for IPv6, a path for Unix sockets."""
        address: SocketAddress = self.transport.get_extra_info("sockname")
        return address

    @property
    def remote_address(self) -> SocketAddress:
        """Remote address: ``(host, port)`` for IPv4, ``(host, port, flowinfo,
        scope_id)`` for IPv6, usually an empty string for Unix sockets."""
        address: SocketAddress = self.transport.get_extra_info("peername")
        return address

    @property
    def host(self) -> str | None:
        """Host of the connection: here, the local address it was accepted on;
        on a client, the URI's host. ``None`` on a Unix socket."""
        address = self.local_address
        return address[0] if isinstance(address, tuple) else None

    @property
    def port(self) -> int | None:
        """Port of the connection: here, the local port it was accepted on; on
        a client, the URI's port. ``None`` on a Unix socket."""
        address = self.local_address
        return address[1] if isinstance(address, tuple) else None

    @property
    def secure(self) -> bool:
        """Whether the connection runs over TLS (``wss://``)."""
        return self.transport.get_extra_info("sslcontext") is not None

    @property
    def subprotocol(self) -> Subprotocol | None:
        """The negotiated subprotocol, if any."""
        return self.protocol.subprotocol

    @property
    def close_code(self) -> int | None:
        """Close code received, once the connection is closed."""
        return self.protocol.close_code

    @property
    def close_reason(self) -> str | None:
        """Close reason received, once the connection is closed."""
        return self.protocol.close_reason

    @property
    def open(self) -> bool:
        """Whether the connection is usable (legacy API; prefer catching ConnectionClosed)."""
        return self.protocol.state is OPEN

    @property
    def closed(self) -> bool:
        """Whether the connection is closed (legacy API)."""
        return self.protocol.state is CLOSED

    # Context manager and iteration.

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # An error in the body is an internal error; leaving normally, or
        # because of a cancellation or an interrupt, is a normal closure.
        if exc_type is not None and issubclass(exc_type, Exception):
            await self.close(CloseCode.INTERNAL_ERROR)
        else:
            await self.close()

    async def __aiter__(self) -> AsyncIterator[Data]:
        """Yield messages until the connection closes.

        Iteration ends when the connection closes normally (1000 or 1001)
        and raises :exc:`ConnectionClosedError` otherwise.
        """
        # recv() without a coroutine of its own per message (bench/run.py
        # --callgrind, S1).
        messages = self.recv_messages
        get = messages.get
        frames = messages.frames
        protocol = self.protocol
        loop = self.loop
        while True:
            if protocol.deferred_failure is not None and not frames:
                self._fail_deferred()
            # Assembler.get() written out for a message in one frame, the
            # usual case: without a coroutine per message, about 1,000
            # instructions fewer (bench/run.py --callgrind, S1). Anything
            # else (fragments, the end, another coroutine receiving) goes
            # through get().
            if not messages._get_in_progress:
                if not frames and not messages._closed:
                    messages._get_in_progress = True
                    waiter = messages._waiter = loop.create_future()
                    try:
                        await waiter
                    finally:
                        messages._waiter = None
                        messages._get_in_progress = False
                if frames and frames[0].fin:
                    frame = frames.popleft()
                    if messages._paused:
                        messages._resume_if_low()
                    data = frame.data
                    yield data.decode() if frame.opcode is OP_TEXT else data
                    continue
            try:
                # None at the end rather than EOFError: an exception per
                # connection less (bench/run.py --callgrind, S4).
                message = await get(None, True)
            except EOFError:
                break  # in the middle of a fragmented message
            except ConcurrencyError:
                # Another coroutine is receiving: recv() raises the error
                # that says so.
                message = await self.recv()
            if message is None:
                break
            yield message
        # The end of the messages, the usual way out: what recv() would
        # raise, without calling it, nor building the exception when the
        # closure is normal (bench/run.py --callgrind, S4). A deferred
        # failure was handled at the top of the loop, once the queue was empty.
        if not self.connection_lost_waiter.done():
            await self._wait_lost()
        if not protocol.closed_ok:
            raise await self._closed_exception()

    # Receiving.

    @overload
    async def recv(self, decode: Literal[True]) -> str: ...

    @overload
    async def recv(self, decode: Literal[False]) -> bytes: ...

    @overload
    async def recv(self, decode: bool | None = None) -> Data: ...

    async def recv(self, decode: bool | None = None) -> Data:
        """Receive the next message.

        A text message is returned as ``str`` and a binary message as
        ``bytes``. ``decode=True`` decodes binary messages as UTF-8 too;
        ``decode=False`` returns text messages as ``bytes`` without decoding.

        Cancelling :meth:`recv` is safe: the next call returns the message.
        Wrap it in :func:`asyncio.timeout` to wait for a limited time.

        Raises:
            ConnectionClosed: When the connection is closed.
            ConcurrencyError: If two coroutines call :meth:`recv` or
                :meth:`recv_streaming` at the same time.
        """
        messages = self.recv_messages
        frames = messages.frames
        if self.protocol.deferred_failure is not None and not frames:
            self._fail_deferred()
        try:
            # Assembler.get() written out for a message in one frame, as in
            # __aiter__: about 1,500 instructions fewer (bench/run.py
            # --callgrind, C1).
            if not messages._get_in_progress:
                if not frames and not messages._closed:
                    messages._get_in_progress = True
                    waiter = messages._waiter = self.loop.create_future()
                    try:
                        await waiter
                    finally:
                        messages._waiter = None
                        messages._get_in_progress = False
                if frames and frames[0].fin:
                    frame = frames.popleft()
                    if messages._paused:
                        messages._resume_if_low()
                    data = frame.data
                    if decode is None:
                        return data.decode() if frame.opcode is OP_TEXT else data
                    return data.decode() if decode else data
            # None at the end, as in __aiter__.
            message = await messages.get(decode, True)
        except EOFError:
            pass
        except ConcurrencyError:
            raise ConcurrencyError(
                "cannot call recv while another coroutine is already running recv or recv_streaming"
            ) from None
        except UnicodeDecodeError as exc:
            self._fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
        else:
            if message is not None:
                return message
        raise await self._closed_exception()

    @overload
    def recv_streaming(self, decode: Literal[True]) -> AsyncIterator[str]: ...

    @overload
    def recv_streaming(self, decode: Literal[False]) -> AsyncIterator[bytes]: ...

    @overload
    def recv_streaming(self, decode: bool | None = None) -> AsyncIterator[Data]: ...

    async def recv_streaming(self, decode: bool | None = None) -> AsyncIterator[Data]:
        """Receive the next message frame by frame.

        Yield each fragment as it arrives; ``decode`` works as in
        :meth:`recv`. Useful for large messages that should not be held in
        memory at once.

        Cancelling before the first fragment is safe; after it, the rest of
        the message cannot be received any more: close the connection.

        Raises:
            ConnectionClosed: When the connection is closed.
            ConcurrencyError: If two coroutines receive at the same time.
        """
        if self.protocol.deferred_failure is not None and not self.recv_messages:
            self._fail_deferred()
        try:
            async for fragment in self.recv_messages.get_iter(decode):
                yield fragment
            return
        except EOFError:
            pass
        except ConcurrencyError:
            raise ConcurrencyError(
                "cannot call recv_streaming while another coroutine "
                "is already running recv or recv_streaming"
            ) from None
        except UnicodeDecodeError as exc:
            self._fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
        raise await self._closed_exception()

    @property
    def request(self) -> Request | None:
        """The opening handshake request; ``None`` until it is sent or received."""
        return self._request

    # Sending.

    async def send(
        self,
        message: Data
        | BytesLike
        | SequenceNotStr[str]
        | SequenceNotStr[BytesLike]
        | Iterator[str]
        | Iterator[BytesLike]
        | AsyncIterable[str]
        | AsyncIterable[BytesLike],
        text: bool | None = None,
    ) -> None:
        """Send a message.

        ``str`` is sent as a Text frame, bytes-like objects as a Binary frame;
        ``text`` overrides that (``text=True`` sends bytes as text without
        re-encoding, ``text=False`` sends a ``str`` as binary).

        A sequence (list, tuple...), an iterator (e.g. a generator) or an
        async iterable is sent as a fragmented message, one frame per item;
        its items must all be text or all be bytes-like. Type checkers
        enforce that, and reject a ``dict``, whose iteration would send its
        keys. At run time, mixed items raise :exc:`TypeError` and close the
        connection with 1011, since a half-sent message leaves it unusable.

        :meth:`send` waits while the write buffer is above ``write_limit``
        (backpressure). Sends are serialized: a fragmented message is never
        interleaved with another message.

        If the peer stops reading, :meth:`send` waits until keepalive closes
        the connection: at most ``ping_interval + ping_timeout +
        close_timeout``, forever without keepalive. Wrap it in
        :func:`asyncio.timeout` to wait less. Cancelling it is safe: a
        message in one frame is already written whole, or, from
        :data:`~websockets_typed.frames.SLICED_FRAME` bytes on, written in
        slices as the buffer drains and completed in the background; a
        fragmented message cut short fails the connection with 1011.

        Raises:
            ConnectionClosed: When the connection is closed.
            TypeError: If ``message`` has an unsupported type.
        """
        if isinstance(message, str):
            is_text = text is not False
            data: BytesLike = message.encode()
        elif isinstance(message, _BYTES_LIKE):
            is_text = bool(text)
            # Not cast(): a call per message. pyright infers memoryview[BytesLike]
            # (a memoryview is also a sequence of bytes-like objects).
            data = message  # pyright: ignore[reportAssignmentType]
        elif isinstance(message, Mapping):
            # Iterating a dict would send its keys: surely not what was meant.
            raise TypeError("data is a dict-like object")
        elif isinstance(message, Iterable):
            await self._send_fragments(_aiter(message), text)
            return
        elif isinstance(message, AsyncIterable):  # pyright: ignore[reportUnnecessaryIsInstance]
            await self._send_fragments(aiter(message), text)
            return
        else:
            # Only reachable from untyped code.
            raise TypeError("data must be str, bytes, iterable, or async iterable")

        # A message in one frame: the hot path, inlined here rather than in a
        # coroutine of its own (bench/run.py --callgrind, S1 and S2). It awaits
        # nothing before writing unless a fragmented message is being sent.
        if self._fragmented_send_waiter is not None:
            await self._wait_for_fragmented_send()
        protocol = self.protocol
        # The frame in one bytes object, when nothing else waits to be sent
        # or has to be done for it (see Protocol.message_bytes).
        chunk = protocol.message_bytes(is_text, data)
        if chunk is not None and not self._recv_frames and self._corked is None:
            # The usual answer: written now, in one system call.
            self.transport.write(chunk if len(chunk) < _WRITE_VIEW else memoryview(chunk))
            if self._writing_paused:
                await self._drain()
            return
        writes: Sequence[bytes]
        if chunk is None:
            if protocol.state is not OPEN:
                raise await self._closed_exception()
            # On every loop: whole, the frame would be masked into fresh
            # memory and wait in the transport's buffer, at some 40% more
            # CPU time per megabyte on asyncio's loop too (see _slices).
            if len(data) >= SLICED_FRAME:
                head = protocol.frame_head(is_text, len(data))
                if head is not None:
                    await self._send_sliced(head[0], head[1], data)
                    return
            elif len(data) >= MASKED_BY_CALLER:
                # Maybe a client's frame, which message_bytes() leaves to us:
                # masked into a buffer that the process reuses where the
                # transport copies what it keeps (see _sendbuffer).
                data = data if type(data) is bytes else bytes(data)
                head = protocol.frame_head(is_text, len(data))
                if head is not None and head[1] is not None:
                    if type(self.transport) is not COPYING_TRANSPORT:
                        chunk = mask_frame(head[0], data, head[1])
                    else:
                        if self._corked is not None:
                            self._uncork()
                        write_masked(self.transport, head[0], head[1], data)
                        if self._writing_paused:
                            await self._drain()
                        return
            if chunk is None:
                if is_text:
                    protocol.send_text(data)
                else:
                    protocol.send_binary(data)
                writes = protocol.data_to_send()
                if len(writes) == 1:
                    chunk = writes[0]
            else:
                writes = ()
        else:
            writes = ()
        corked = self._corked
        if chunk is not None and self._recv_frames:
            # More received messages wait in the queue: the application is
            # likely to answer them at once. Small frames sent meanwhile go
            # out in one write with the last, rather than in a system call
            # each (bench/run.py, S2 and S7).
            if corked is None:
                corked = self._corked = []
                self.loop.call_soon(self._uncork)
            corked.append(chunk)
            if len(corked) >= _CORK_FRAMES:
                self._uncork()
        else:
            if corked is not None:
                self._uncork()
            # _write_pending() without its checks: a data frame sent while OPEN
            # is never followed by the end of the stream nor makes a close expected.
            transport = self.transport
            if chunk is not None:
                transport.write(chunk if len(chunk) < _WRITE_VIEW else memoryview(chunk))
            else:
                for part in writes:
                    transport.write(part if len(part) < _WRITE_VIEW else memoryview(part))
        if self._writing_paused:
            await self._drain()

    async def _send_sliced(self, head: bytes, key: bytes | None, data: BytesLike) -> None:
        """Send a message in one large frame, written in slices as the transport drains.

        Other sends wait for the frame like for a fragmented message, and
        what the connection writes meanwhile (Pongs, Pings, a Close frame,
        broadcasts) waits behind it: nothing goes into the middle of the
        frame. Cancelling this doesn't stop the frame: it is written to the
        end, from resume_writing(), so that the wire stays valid.
        """
        if self._corked is not None:
            self._uncork()
        # The transport may keep views of the payload after this returns:
        # they must not change (send_binary() copies a non-bytes payload too).
        payload = memoryview(data if type(data) is bytes else bytes(data))
        sliced = self._sliced = SlicedFrame(head, payload, key, self.loop)
        # Other sends wait for it (see _wait_for_fragmented_send).
        self._fragmented_send_waiter = sliced.done
        self._write_slices()
        await asyncio.shield(sliced.done)
        if not sliced.written:
            raise await self._closed_exception()
        # Like any send: wait while the write buffer is over write_limit.
        await self._drain()

    def _write_slices(self) -> None:
        """Write slices of the frame being sliced until the transport pauses us.

        Once the last slice is written, write what waited behind the frame.
        """
        sliced = self._sliced
        assert sliced is not None
        transport = self.transport
        # A transport that is closing ignores writes: stop, connection_lost()
        # comes next and abandons the frame.
        while not self._writing_paused and not transport.is_closing():
            part = sliced.next_slice()
            if part is None:
                self._sliced = None
                self._fragmented_send_waiter = None
                self._write_chunks(sliced.queued)
                sliced.finish()
                return
            transport.write(part)
            # Not alive while the next slice is masked: its buffer is free
            # again unless the transport keeps it (see _sendbuffer.masked).
            del part

    def _abandon_slices(self) -> None:
        """The connection is lost: the frame being sliced will never be written."""
        sliced = self._sliced
        if sliced is not None:
            self._sliced = None
            self._fragmented_send_waiter = None
            sliced.finish()

    async def _send_fragments(
        self, fragments: AsyncIterator[Data | BytesLike], text: bool | None
    ) -> None:
        await self._wait_for_fragmented_send()
        try:
            first = await anext(fragments)
        except StopAsyncIteration:
            return
        is_text = isinstance(first, str)
        if not is_text and not isinstance(first, bytes | bytearray | memoryview):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError("iterable must contain bytes or str")
        opcode = OP_TEXT if (is_text if text is None else text) else OP_BINARY
        # Another send may have started a fragmented message while this one
        # waited for its first fragment: let it finish (no interleaving).
        await self._wait_for_fragmented_send()
        await self._check_can_send()
        self._fragmented_send_waiter = self.loop.create_future()
        try:
            if opcode is OP_TEXT:
                self.protocol.send_text(_encode(first), fin=False)
            else:
                self.protocol.send_binary(_encode(first), fin=False)
            self._write_pending()
            async for fragment in fragments:
                if isinstance(fragment, str) is not is_text or not isinstance(
                    fragment,
                    str | bytes | bytearray | memoryview,  # pyright: ignore[reportUnnecessaryIsInstance]
                ):
                    raise TypeError("iterable must contain uniform types")
                if self._writing_paused:
                    await self._drain()
                await self._check_can_send()
                self.protocol.send_continuation(_encode(fragment), fin=False)
                self._write_pending()
            await self._check_can_send()
            self.protocol.send_continuation(b"", fin=True)
            self._write_pending()
        except ConnectionClosed:
            raise
        except BaseException:
            # Half a message was sent: the connection is unusable.
            self._fail(CloseCode.INTERNAL_ERROR, "error in fragmented message")
            raise
        finally:
            self._fragmented_send_waiter.set_result(None)
            self._fragmented_send_waiter = None
        if self._writing_paused:
            await self._drain()

    async def _wait_for_fragmented_send(self) -> None:
        """Wait until no fragmented message is being sent."""
        while self._fragmented_send_waiter is not None:
            await asyncio.shield(self._fragmented_send_waiter)

    async def _check_can_send(self) -> None:
        """Raise the right exception if the connection cannot send data frames."""
        if self.protocol.state is not OPEN:
            raise await self._closed_exception()

    async def _closed_exception(self) -> ConnectionClosed:
        """Wait for the connection to close and return the exception describing it."""
        if not self.connection_lost_waiter.done():
            await self._wait_lost()
        exc = self.protocol.close_exc
        # The transport's error (e.g. a reset) says more than the protocol's
        # generic EOFError for a stream that ended without a closing handshake.
        if self.recv_exc is not None and (
            exc.__cause__ is None or isinstance(exc.__cause__, EOFError)
        ):
            exc.__cause__ = self.recv_exc
        return exc

    async def ping(self, data: Data | BytesLike | None = None) -> Awaitable[float]:
        """Send a Ping frame and return an awaitable resolved by its Pong.

        The awaitable resolves to the round-trip time in seconds. A Pong
        acknowledges its Ping and every Ping sent before it. Await it to
        know that the peer received everything sent so far::

            pong_waiter = await connection.ping()
            latency = await pong_waiter

        Args:
            data: Payload of the ping; ``str`` is encoded to UTF-8. Four
                random bytes by default.

        Raises:
            ConnectionClosed: When the connection is closed.
            ConcurrencyError: If a ping with the same payload is waiting for
                its pong.
        """
        if isinstance(data, str):
            payload = data.encode()
        elif data is None:
            payload = self._ping_payload()
        else:
            payload = bytes(data)
        if payload in self._pending_pings:
            raise ConcurrencyError("already waiting for a pong with the same data")
        if self.protocol.state is not OPEN and self.protocol.state is not CLOSING:
            raise await self._closed_exception()
        try:
            return self._send_ping(payload)
        except InvalidState:
            raise await self._closed_exception() from None

    def _ping_payload(self) -> bytes:
        """Four random bytes that no ping waiting for its pong carries."""
        payload = os.urandom(4)
        while payload in self._pending_pings:
            payload = os.urandom(4)
        return payload

    def _send_ping(self, payload: bytes) -> asyncio.Future[float]:
        """Send a Ping frame and return the future that its pong resolves.

        Raises:
            InvalidState: If the connection can't send a Ping frame any more.
        """
        self.protocol.send_ping(payload)
        pong_waiter: asyncio.Future[float] = self.loop.create_future()
        # time.monotonic(), not loop.time(): uvloop's clock counts whole
        # milliseconds, and a loopback round trip takes less.
        self._pending_pings[payload] = (pong_waiter, time.monotonic())
        self._write_pending()
        return pong_waiter

    async def pong(self, data: Data | BytesLike = b"") -> None:
        """Send an unsolicited Pong frame: a one-way heartbeat.

        Args:
            data: Payload of the pong; ``str`` is encoded to UTF-8.

        Raises:
            ConnectionClosed: When the connection is closed.
        """
        payload = data.encode() if isinstance(data, str) else bytes(data)
        try:
            self.protocol.send_pong(payload)
        except InvalidState:
            raise await self._closed_exception() from None
        self._write_pending()

    # Closing.

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Perform the closing handshake and wait for the TCP connection to close.

        Idempotent: once the connection is closed, it does nothing. It takes
        at most about ``close_timeout`` seconds, then the connection is
        aborted. While another coroutine is sending a fragmented message,
        the message can't be completed: the connection fails with 1011
        instead, whatever ``code`` and ``reason`` say.

        Args:
            code: Close code.
            reason: Close reason, at most 123 bytes once encoded.

        Raises:
            ProtocolError: If the code is not allowed or the reason too long.
        """
        if self.protocol.state is OPEN:
            # A frame in slices is completed: the Close frame waits behind it.
            if self._fragmented_send_waiter is not None and self._sliced is None:
                # Closing in the middle of a fragmented message: it cannot
                # be completed, so the connection fails.
                self._fail(CloseCode.INTERNAL_ERROR, "close during fragmented message")
            else:
                self.protocol.send_close(code, reason)
                self._write_pending()
        # Often closed already, e.g. when the peer closed first: then
        # shield() would cost a call and a coroutine step for nothing.
        if not self.connection_lost_waiter.done():
            await asyncio.shield(self.connection_lost_waiter)

    async def wait_closed(self) -> None:
        """Wait until the connection is closed, whatever the cause."""
        await asyncio.shield(self.connection_lost_waiter)

    def _wait_lost(self) -> Awaitable[None]:
        """Return what waits for :meth:`connection_lost`, like ``shield(connection_lost_waiter)``.

        For recv() and send() on a closed connection. On asyncio's own
        loops, the task wakes in connection_lost()'s step rather than two
        iterations of the event loop later, through the shield and the
        task's wake-up: one step and a few objects less at the end of most
        connections (bench/run.py, S4). On other loops (uvloop), a future of
        its own, whose wake-up takes one step, where shield() takes two and
        six calls of Python code (bench/run.py --uvloop --callgrind, S4).
        Cancelling the task cancels its own waiter only. close() and
        wait_closed() keep the shield: code that awaits them expects the
        peer's side of a connection in the same process to be closed too by
        then. Not a coroutine: the caller awaits the waiter itself, one
        coroutine less.
        """
        loop = self.loop
        waiter = Waiter(loop) if isinstance(loop, asyncio.BaseEventLoop) else loop.create_future()
        if self._lost_waiters is None:
            self._lost_waiters = [waiter]
        else:
            self._lost_waiters.append(waiter)
        return waiter

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection and write what that produces."""
        if self.protocol.state is OPEN or self.protocol.state is CLOSING:
            self.protocol.fail(code, reason)
            self._write_pending()

    # Keepalive.

    def _timers(self) -> Timers:
        """The timers of the connection's event loop (see _timers)."""
        return Timers.of(self.loop)

    def start_keepalive(self) -> None:
        """Start sending keepalive pings, if ``ping_interval`` is set."""
        if self.ping_interval is not None:
            self._keepalive_timer = self._timers().call_later(
                self.ping_interval, self._keepalive_ping
            )

    # Keepalive runs on timers, not in a task: an idle connection holds a
    # timer rather than a task, its coroutine and a future, and opening and
    # closing connections takes fewer steps (bench/run.py, S4, S5). The
    # timers are coarse: a ping or its timeout comes at most a sixteenth of
    # the delay late (see _timers).

    def _keepalive_ping(self) -> None:
        """Send a keepalive ping, then wait ``ping_timeout`` for its pong."""
        assert self.ping_interval is not None
        try:
            pong_waiter = self._send_ping(self._ping_payload())
        except InvalidState:
            return  # the connection is closing
        if self.ping_timeout is None:
            self._keepalive_timer = self._timers().call_later(
                self.ping_interval, self._keepalive_ping
            )
        else:
            self._keepalive_timer = self._timers().call_later(
                self.ping_timeout, self._keepalive_timed_out
            )
            pong_waiter.add_done_callback(self._keepalive_pong)

    def _keepalive_pong(self, pong_waiter: asyncio.Future[float]) -> None:
        """The pong came: the next ping is due in ``ping_interval``."""
        assert self.ping_interval is not None
        assert self._keepalive_timer is not None  # waiting for ping_timeout
        if (
            pong_waiter.cancelled()
            or pong_waiter.exception() is not None
            or self.protocol.state is not OPEN
        ):
            return  # closed, or closing: the close timeout takes over
        self._keepalive_timer.pop(self._keepalive_timed_out, None)
        self._keepalive_timer = self._timers().call_later(self.ping_interval, self._keepalive_ping)

    def _keepalive_timed_out(self) -> None:
        self.logger.info("keepalive ping timeout; closing connection")
        self._fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")

    def _acknowledge_pings(self, data: bytes) -> None:
        """Resolve the ping with this payload and every earlier one."""
        if data not in self._pending_pings:
            return  # unsolicited pong
        now = time.monotonic()
        for payload in list(self._pending_pings):
            pong_waiter, sent_at = self._pending_pings.pop(payload)
            if not pong_waiter.done():
                pong_waiter.set_result(now - sent_at)
            if payload == data:
                self.latency = now - sent_at
                break

    def _abort_pings(self) -> None:
        """Fail the pings still waiting: their pongs will never come."""
        exc = self.protocol.close_exc
        for pong_waiter, _ in self._pending_pings.values():
            if not pong_waiter.done():
                pong_waiter.set_exception(exc)
                # Nobody may be waiting for it; don't warn about that.
                pong_waiter.exception()
        self._pending_pings.clear()

    # Writing and flow control.

    def _uncork(self) -> None:
        """Write the frames that send() held back, if any."""
        corked, self._corked = self._corked, None
        if corked:
            # Never while a frame is written in slices: sends wait for it,
            # and _send_sliced() uncorks before it starts.
            self.transport.writelines(corked)

    def _write_shared(self, chunks: list[bytes]) -> None:
        """Write a frame that the protocol let :func:`broadcast` write itself."""
        if self._corked is not None:
            self._uncork()
        if self._sliced is not None:
            self._sliced.queued += chunks
            return
        transport = self.transport
        for chunk in chunks:
            transport.write(chunk)

    def _broadcast_overflow(
        self, size: int, limit: int | None, overflow: BroadcastOverflow | None
    ) -> BroadcastLimitExceeded | None:
        """Apply the broadcast limit before writing a message of ``size`` bytes.

        ``size`` is the payload's: the frame header adds at most 14 bytes.

        Return ``None`` if the message fits: the caller writes it. Otherwise
        drop it or close the connection, as ``overflow`` (or the connection's
        policy) says, log that once per connection, and return what happened.
        ``limit`` replaces the connection's own limit unless it is ``None``.

        :func:`broadcast` calls this only while writing is paused, i.e. the
        write buffer is over ``write_limit``. Code that writes to connections
        without backpressure on behalf of other processes (a broadcast bus's
        local delivery) should go through :func:`broadcast`, or call this the
        same way, so that one limit bounds what a slow client costs.
        """
        if limit is None:
            limit = self.broadcast_limit
            if limit is None:
                return None
        # Writing is paused: the buffer is over write_limit.
        buffered = self.transport.get_write_buffer_size()
        if self._sliced is not None:
            # What waits to be written counts, whoever holds it.
            buffered += self._sliced.pending()
        if buffered + size <= limit:
            return None
        closed = (overflow or self.broadcast_overflow) == "close"
        exc = BroadcastLimitExceeded(buffered, limit, closed)
        if closed:
            self.logger.info("closing connection: %s", exc)
            # The Close frame waits behind the buffer; close_timeout then
            # aborts the connection if the peer still doesn't read.
            self.protocol.send_close(CloseCode.TRY_AGAIN_LATER, "too slow: broadcast buffer full")
            self._write_pending()
        else:
            if not self.broadcast_dropped:
                self.logger.info("dropping broadcast messages for this connection: %s", exc)
            self.broadcast_dropped += 1
        return exc

    def _write_pending(self) -> None:
        """Write what the protocol has to send; half-close on SEND_EOF."""
        writes = self.protocol.data_to_send()
        if not writes:
            # Nothing new: corked frames wait for their own flush.
            if self._close_timer is None and self.protocol.close_expected():
                self._arm_close_timer()
            return
        if self._corked is not None:
            self._uncork()
        if self._sliced is not None:
            # Not into the middle of a frame: after it (see _write_slices).
            self._sliced.queued += writes
        else:
            self._write_chunks(writes)
        if self._close_timer is None and self.protocol.close_expected():
            self._arm_close_timer()

    def _write_chunks(self, writes: Iterable[bytes]) -> None:
        """Write chunks from the protocol; an empty one ends the stream."""
        transport = self.transport
        for data in writes:
            if data:
                transport.write(data if len(data) < _WRITE_VIEW else memoryview(data))
                continue
            # The end of the stream. Half-close: the FIN goes out in this
            # step, where close() would send it one loop step later, and the
            # client waits for it. TLS cannot half-close.
            half_closed = transport.can_write_eof()
            if half_closed:
                transport.write_eof()
            # Then close at once (the transport flushes its buffer first),
            # once the client's Close frame arrived: the client sends nothing
            # after it (RFC 6455, 5.5.1, which asks a server to close the TCP
            # connection at once). A server failing the connection only
            # half-closes, so that what the client still sends doesn't reset
            # the connection before the client read the Close frame.
            if not half_closed or self.protocol.close_rcvd is not None:
                transport.close()
                if half_closed and not transport.get_write_buffer_size():
                    # Nothing left to flush on a plain TCP transport:
                    # connection_lost() comes in the next step, no need for
                    # close_timeout's timer (bench/run.py --callgrind, S4),
                    # nor for one armed earlier (a client's, when it sent
                    # its Close frame). TLS may wait for the peer's
                    # close_notify: it keeps its timer.
                    timer = self._close_timer
                    if timer is not None:
                        timer.pop(self._close_timed_out, None)
                    self._close_timer = _NO_TIMER

    def _arm_close_timer(self) -> None:
        """Abort the connection if the peer doesn't finish closing it in time."""
        if self.close_timeout is not None and not self.connection_lost_waiter.done():
            self._close_timer = self._timers().call_later(self.close_timeout, self._close_timed_out)

    def _close_timed_out(self) -> None:
        if self.protocol.state is not CLOSED:
            self.logger.info("closing handshake timed out; aborting connection")
        self.transport.abort()

    async def _drain(self) -> None:
        """Wait until the write buffer drains below its low-water mark."""
        while self._writing_paused and not self.connection_lost_waiter.done():
            waiter = self.loop.create_future()
            self._drain_waiters.append(waiter)
            await waiter
        if self.connection_lost_waiter.done():
            raise await self._closed_exception()

    def _pause_reading(self) -> None:
        self._reading_paused = True
        self.transport.pause_reading()

    def _resume_reading(self) -> None:
        self._reading_paused = False
        if self.protocol.holds_frames:
            # Parse the frames held back before reading more. This runs in
            # recv(), once it took its frame: the new ones go after it.
            self._feeding = True
            try:
                self.buffer_updated(0)
            finally:
                self._feeding = False
            if self._reading_paused or self.protocol.holds_frames:
                return
        if not self.transport.is_closing():
            self.transport.resume_reading()

    def _defer_failure(self) -> None:
        """A bad frame arrived: fail once the messages before it are received.

        RFC 6455, 7.1.7 forbids processing data after a bad frame, not
        delivering what came before it: recv() returns those messages, and
        what the application sends in answer goes out, before the Close
        frame. Unless the application receives them within close_timeout.
        """
        if not self.recv_messages:
            self.protocol.fail_deferred()
        elif self.close_timeout is not None:
            self.loop.call_later(self.close_timeout, self._fail_deferred)

    def _fail_deferred(self) -> None:
        """Fail the connection as the bad frame received earlier called for."""
        if self.protocol.deferred_failure is not None:
            self.protocol.fail_deferred()
            self._write_pending()

    # The socket's receive low-water mark, while a large frame arrives (see
    # _follow_payload): -1 until the first one, 0 where it doesn't apply. A
    # class attribute until then: nothing per idle connection (bench/run.py, S5).
    _rcvlowat: int = -1 if RCVLOWAT_SUPPORTED else 0
    _setsockopt: Callable[[int, int, int], None]

    # Whether the transport reads on within one callback (see
    # _let_consumer_take): assumed until the first large frame tells.
    _reads_on: bool = True

    # asyncio.Protocol callbacks.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Store the transport and set its write buffer limits."""
        # Not isinstance(): uvloop's transports implement asyncio.Transport
        # without deriving from it. Nor cast(), a call at run time
        # (bench/run.py --callgrind, S4).
        self.transport = transport  # type: ignore[assignment]
        high, low = self.write_limit
        transport.set_write_buffer_limits(high, low)  # type: ignore[attr-defined]
        # One call per read rather than two (see _bytesreads); uvloop starts
        # reading once this returns. The module first: a call less for other
        # transports (bench/run.py --callgrind, S4).
        if type(transport).__module__ == "uvloop.loop" and reads_bytes(transport):
            transport.set_protocol(BytesReads(self))

    def get_buffer(self, sizehint: int) -> memoryview:
        """Return the buffer where the transport writes the bytes it reads next.

        The rest of a large frame's payload goes straight into the frame's
        data, allocated once at its final size (bench/run.py, S3); other
        bytes into a read buffer shared by the connections of the process
        (see _receivebuffer). ``sizehint`` doesn't matter.
        """
        view = self.protocol.payload_buffer
        if view is None:
            view = self._lent = READ_BUFFERS.pop() if READ_BUFFERS else new_read_buffer()
        return view

    def buffer_updated(self, nbytes: int) -> None:
        """Feed the bytes just read into :meth:`get_buffer`'s buffer to the protocol.

        Then act on the events. A handshake message that can't be parsed
        fails the handshake without waiting for the peer to close the
        connection, which it may never do.
        """
        protocol = self.protocol
        high = self.max_queue[0]
        if high is not None:
            # max_queue holds within a read, however many frames it brings:
            # the protocol parses only what the queue has room for, and
            # keeps the rest until recv() makes room (_resume_reading).
            room = high - len(self._recv_frames)
            protocol.frame_budget = room if room > 0 else 0
        lent = self._lent
        end = 0
        if lent is not None:
            self._lent = None
            # The rest of _take_messages(), written out: a call less per
            # read on asyncio's loops, where every read comes here
            # (bench/run.py --callgrind, S1 and S4). Only a read that
            # starts with a whole Text or Binary frame's first byte can
            # start with whole messages: not a handshake nor a Close frame,
            # two reads of every connection that would only cost the call.
            if (lent[0] == 0x81 or lent[0] == 0x82) and not self.recv_messages._closed:
                end = protocol.receive_messages(lent, nbytes, self._recv_frames.append)
                if end and protocol.frame_budget == 0:
                    self.recv_messages.pause_if_full()
            if 0 < end == nbytes:
                READ_BUFFERS.append(lent)
                if type(self.transport) in BYTES_TRANSPORTS:
                    # No large frame any more (see _bytesreads).
                    self.transport.set_protocol(BytesReads(self))
                # Nothing else to do: the protocol is quiet and has no events
                # (see Protocol.receive_messages). The consumer wakes now, in
                # this step (see Assembler.release); the transport calls this
                # outside any task, unlike data_received() and
                # _resume_reading(), which say so.
                waiter = self.recv_messages._waiter
                if waiter is not None:
                    wake_future(waiter, not self._feeding)
                return
        messages = self.recv_messages
        # The consumer wakes once, at the end, and in this step: see
        # Assembler.release. hold(), without its call.
        messages.holding = True
        if lent is None:
            # Into the large frame's payload; or nothing, to parse the
            # frames held back (_resume_reading).
            protocol.payload_received(nbytes)
            if self._rcvlowat:
                self._follow_payload()
            if nbytes and protocol.payload_buffer is None and self._reads_on:
                # The large frame is complete.
                self._let_consumer_take()
        elif nbytes - end < _READ_COPY:
            # The rest of the read, if any: a few small frames are parsed
            # from a bytes object of their size, cheaper than through a
            # memoryview (bench/run.py --callgrind, S1).
            data = head_bytes(lent, nbytes) if end == 0 else bytes(lent[end:nbytes])
            READ_BUFFERS.append(lent)
            protocol.receive_data(data)
        else:
            # Many frames, or the start of a large one, copied into its own
            # buffer from here: parsed in place (bench/run.py, S2 and S3).
            protocol.receive_view(lent[end:nbytes])
            READ_BUFFERS.append(lent)
            if protocol.payload_buffer is not None and self._rcvlowat:
                self._follow_payload()
        if (
            lent is not None
            and protocol.payload_buffer is None
            and type(self.transport) in BYTES_TRANSPORTS
        ):
            # No large frame any more (see _bytesreads).
            self.transport.set_protocol(BytesReads(self))
        self._after_read(protocol, messages)

    def _bytes_received(self, data: bytes) -> None:
        """Feed the bytes of a read to the protocol, then act on the events.

        What uvloop's plain transports call rather than :meth:`get_buffer`
        and :meth:`buffer_updated`, through a :class:`BytesReads`, between
        large frames (see _bytesreads).
        """
        nbytes = len(data)
        end = self._take_messages(data, nbytes)
        if 0 < end == nbytes:
            # As in buffer_updated().
            waiter = self.recv_messages._waiter
            if waiter is not None:
                wake_future(waiter, True)
            return
        protocol = self.protocol
        messages = self.recv_messages
        messages.holding = True
        protocol.receive_data(data[end:] if end else data)
        if protocol.payload_buffer is not None:
            # A large frame: its payload is read in place, through
            # get_buffer() and buffer_updated(), until it is complete.
            self.transport.set_protocol(self)
            if self._rcvlowat:
                self._follow_payload()
        self._after_read(protocol, messages)

    def _take_messages(self, buffer: BytesLike, nbytes: int) -> int:
        """Queue the whole messages at the start of a read; return where they end.

        In one call (see Protocol.receive_messages; bench/run.py, S1 and
        S2). A read of whole messages only, the usual one, needs nothing
        else but waking the consumer.
        """
        protocol = self.protocol
        messages = self.recv_messages
        # The frame budget and the first byte, as in buffer_updated().
        high = self.max_queue[0]
        if high is not None:
            room = high - len(self._recv_frames)
            protocol.frame_budget = room if room > 0 else 0
        if nbytes == 0 or not (buffer[0] == 0x81 or buffer[0] == 0x82) or messages._closed:
            return 0
        end = protocol.receive_messages(buffer, nbytes, self._recv_frames.append)
        if end and protocol.frame_budget == 0:
            messages.pause_if_full()
        return end

    def _after_read(self, protocol: Protocol, messages: Assembler) -> None:
        """Act on the events of a read, then wake the consumer (see Assembler.release)."""
        # _process_events(), written out: a call less per read
        # (bench/run.py --callgrind, S2).
        put = messages.put
        for event in protocol.events_received():
            if isinstance(event, Frame):
                if event.opcode < 8:
                    put(event)
                else:
                    self._process_frame(event)
            else:
                self._process_handshake_event(event)
        if protocol.deferred_failure is not None:
            self._defer_failure()
        # Data frames received while OPEN, the usual case, leave nothing to
        # write nor to wait for: three calls less (bench/run.py --callgrind, S1).
        if not protocol.quiet():
            self._write_pending()
        if protocol.handshake_exc is not None:
            self._wake_handshake()
        # The transport calls this outside any task, unlike data_received()
        # and _resume_reading(), which say so.
        messages.release(not self._feeding)

    def _follow_payload(self) -> None:
        """Have the socket report readable once the large frame's rest is there.

        Its receive low-water mark follows what the frame still misses, up
        to RCVLOWAT_MAX, and goes back to 1 once the frame is complete (see
        _rcvlowat): a few reads per large message rather than one per TCP
        segment (bench/run.py, S3).
        """
        view = self.protocol.payload_buffer
        mark = 1 if view is None else min(len(view), RCVLOWAT_MAX)
        current = self._rcvlowat
        if mark == current or (mark == 1 and current < 0):
            return
        if current < 0:
            sock = lowat_socket(self.transport)
            if sock is None:
                # TLS, or not TCP: never again for this connection.
                self._rcvlowat = 0
                return
            # Kept: two marks per large frame, each a call less.
            self._setsockopt = sock.setsockopt
        try:
            self._setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, mark)
        except (OSError, ValueError):
            # Refused, or the socket is closed (uvloop's raise ValueError):
            # read as before.
            self._rcvlowat = 0
            return
        self._rcvlowat = mark

    def _let_consumer_take(self) -> None:
        """A large frame is complete: read on once the consumer had its turn.

        uvloop's transports read again at once when a read fills its buffer,
        as the read of a large frame's last bytes does: the next large
        frame's buffer was allocated before the consumer took this one, so
        that three messages were alive rather than two, and glibc trimmed
        its heap and grew it again every few messages, faulting fresh pages
        in (8 to 13 page faults per 1 MiB message). Reading pauses until the
        next loop iteration instead: no page faults, and S3 1 MiB at 4.1 to
        5.3 GB/s rather than 2.8 to 3.9 on uvloop (alternating runs outside
        the bench, see docs/performance.md). asyncio's transports read once
        per iteration already.
        """
        transport = self.transport
        if not type(transport).__module__.startswith("uvloop"):
            self._reads_on = False
            return
        if not self._reading_paused:
            transport.pause_reading()
            self.loop.call_soon(self._read_on)

    def _read_on(self) -> None:
        """Resume reading after :meth:`_let_consumer_take`, unless flow control paused it since."""
        if not self._reading_paused:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        """Feed bytes to the protocol as a transport would: through :meth:`get_buffer`.

        Transports call :meth:`get_buffer` and :meth:`buffer_updated`
        instead: this is for bytes received by other means.
        """
        view = memoryview(data)
        # Maybe from a task: buffer_updated() checks before waking another.
        self._feeding = True
        try:
            while True:
                buffer = self.get_buffer(len(view))
                size = min(len(buffer), len(view))
                buffer[:size] = view[:size]
                self.buffer_updated(size)
                view = view[size:]
                if not view:
                    return
        finally:
            self._feeding = False

    def _give_back_read_buffer(self) -> None:
        """Return the read buffer lent for a read that brought no bytes.

        The transport asks for a buffer before every read, including the
        one that finds the end of the stream or fails; without this, every
        connection would take a buffer out of the pool for good and the
        next one would allocate and zero a new one (bench/run.py, S4).
        """
        lent = self._lent
        if lent is not None:
            self._lent = None
            READ_BUFFERS.append(lent)

    def eof_received(self) -> None:
        """Feed the end of the stream to the protocol; the transport then closes."""
        self._give_back_read_buffer()
        self.protocol.receive_eof()
        events = self.protocol.events_received()
        if events:
            self._process_events(events)
        self._write_pending()
        # connection_lost() follows, and wakes the reader (see _process_frame).
        self.recv_messages.close(wake=False)

    def connection_lost(self, exc: Exception | None) -> None:
        """Mark the connection closed and wake everything waiting on it."""
        if exc is not None:
            self.recv_exc = exc
        if self._lent is not None:
            self._give_back_read_buffer()
        self._corked = None
        if self._sliced is not None:
            self._abandon_slices()
        if self.protocol.state is not CLOSED:
            # The TCP connection ended without an EOF: reset, or aborted.
            self.protocol.receive_eof()
            self.protocol.data_to_send()
        if self._pending_pings:
            self._abort_pings()
        # Cancel the timers: each holds the connection until it fires.
        keepalive_timer = self._keepalive_timer
        # One of the two at most: the ping arms the timeout, the pong the
        # next ping (a bucket holds None for each callback).
        if keepalive_timer is not None and keepalive_timer.pop(self._keepalive_ping, 0) is not None:
            keepalive_timer.pop(self._keepalive_timed_out, None)
        if self._close_timer is not None:
            self._close_timer.pop(self._close_timed_out, None)
        if not self.connection_lost_waiter.done():
            self.connection_lost_waiter.set_result(None)
        self._wake_handshake()
        if self._drain_waiters:
            waiters, self._drain_waiters = self._drain_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        logger = self.protocol.logger
        if self.protocol.handshake_exc is None:
            # Every connection that opened, however it ended: the code is
            # 1006 when no Close frame came (e.g. after a keepalive timeout).
            # Checked first: building close_exc costs more than the check
            # (bench/run.py, S4).
            if logger.isEnabledFor(logging.INFO):
                logger.info(
                    "connection closed with code %s: %s",
                    self.protocol.close_code,
                    self.protocol.close_exc,
                )
        elif logger.isEnabledFor(logging.DEBUG):
            logger.debug("connection closed: %s", self.protocol.close_exc)
        # Last: the tasks they wake may run now, in this step. Transports
        # call connection_lost() from a callback of the event loop, outside
        # any task: no need to ask asyncio (see Waiter.wake).
        lost_waiters = self._lost_waiters
        if lost_waiters is not None:
            self._lost_waiters = None
            for lost_waiter in lost_waiters:
                if isinstance(lost_waiter, Waiter):
                    lost_waiter.wake(outside_task=True)
                elif not lost_waiter.done():  # unless cancelled
                    lost_waiter.set_result(None)
        # No more frames; nothing to pause or resume any more, and the
        # connection's methods they are would keep it alive until the
        # garbage collector runs; released in case data_received() raised
        # while holding the queue. The reader waiting for a message wakes
        # here, not at the Close frame (see _process_frame).
        self.recv_messages.end(outside_task=True)

    def pause_writing(self) -> None:
        """The write buffer is above its high-water mark: make send() wait.

        Pings are then answered only once the buffer drains, with a single
        Pong for the latest one, so that a Ping flood can't grow the buffer.
        """
        self._writing_paused = True
        self.protocol.pause_pongs()

    def resume_writing(self) -> None:
        """The write buffer drained below its low-water mark: wake send()."""
        self._writing_paused = False
        self.protocol.resume_pongs()
        if self._sliced is not None:
            self._write_slices()
        self._write_pending()
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _process_events(self, events: list[Event]) -> None:
        put = self.recv_messages.put
        for event in events:
            if isinstance(event, Frame):
                # Data frames, the hot path, skip a call (bench/run.py --callgrind, S2).
                if event.opcode < 8:
                    put(event)
                else:
                    self._process_frame(event)
            else:
                self._process_handshake_event(event)

    def _process_frame(self, frame: Frame) -> None:
        """Act on a control frame."""
        opcode = frame.opcode
        # The module's aliases: in 3.11, Opcode.X goes through
        # EnumType.__getattr__, ~900 instructions a read (bench/run.py, S4).
        if opcode is OP_PONG:
            self._acknowledge_pings(frame.data)
        elif opcode is OP_CLOSE:
            # No data frames follow a Close frame. A reader waiting for one
            # would wait for connection_lost() next: it wakes there, once
            # (see Assembler.close).
            self.recv_messages.close(wake=False)

    def _process_handshake_event(self, event: Request | Response) -> None:
        """Handle a handshake event; subclasses implement their side."""
        raise ProtocolError(f"unexpected event: {event!r}")

    def _wake_handshake(self) -> None:
        """Wake the opening handshake: its message arrived, or never will."""
        waiter = self._handshake_waiter
        if waiter is not None and not waiter.done():
            # At the end of data_received, in its step (see Assembler.release).
            self.recv_messages.wake(waiter)

    # The names of the legacy API.

    @property
    def request_headers(self) -> Headers:
        """Headers of the request (legacy API; prefer ``request.headers``)."""
        assert self.request is not None, "the opening handshake isn't done"
        return self.request.headers

    @property
    def response_headers(self) -> Headers:
        """Headers of the response (legacy API; prefer ``response.headers``)."""
        assert self.response is not None, "the opening handshake isn't done"
        return self.response.headers


def _encode(fragment: Data | BytesLike) -> BytesLike:
    return fragment.encode() if isinstance(fragment, str) else fragment


async def _aiter(iterable: Iterable[Data | BytesLike]) -> AsyncIterator[Data | BytesLike]:
    """Adapt a synchronous iterable so that fragments go through one code path."""
    for item in iterable:
        yield item


class BroadcastStats(NamedTuple):
    """What :func:`broadcast` did with a message.

    A named tuple: it costs less to build than a class, once per call.
    """

    sent: int
    """Connections that got the message."""
    dropped: int
    """Connections over their limit that skipped the message."""
    closed: int
    """Connections over their limit that were closed with 1013."""


def _write_failed(connection: Connection, exc: Exception, errors: list[Exception] | None) -> None:
    """Collect the error of a connection that :func:`broadcast` couldn't write to, or log it."""
    if errors is not None:
        errors.append(exc)
    else:
        connection.logger.warning("skipped broadcast: failed to write message", exc_info=exc)


def broadcast(
    websockets: Iterable[Connection],
    message: Data | BytesLike,
    raise_exceptions: bool = False,
    *,
    limit: int | None = None,
    overflow: BroadcastOverflow | None = None,
) -> BroadcastStats:
    """Send a message to several connections, without waiting.

    ``str`` is sent as a Text frame, bytes-like objects as a Binary frame.
    There is no backpressure: the message goes to every write buffer at
    once. Instead, a connection whose write buffer would exceed its
    ``broadcast_limit`` (2 MiB by default) doesn't take it: the message is
    dropped for that connection, or the connection is closed with 1013, as
    its ``broadcast_overflow`` says. This is logged at INFO once per
    connection and counted in the result. Connections that are not open are
    skipped silently.

    Fragmented messages are not supported: fragmentation avoids buffering a
    large message, while broadcast buffers one copy per connection.

    Args:
        websockets: The connections where to send the message (the seeds'
            parameter name, so that ``broadcast(websockets=...)`` works).
        message: The message.
        raise_exceptions: Raise an :exc:`ExceptionGroup` of the errors met,
            instead of logging them and going on; it includes a
            :exc:`~websockets_typed.exceptions.BroadcastLimitExceeded` per
            connection over its limit.
        limit: Replaces each connection's ``broadcast_limit`` for this
            message.
        overflow: Replaces each connection's ``broadcast_overflow`` for
            this message: ``"drop"`` or ``"close"``.

    Returns:
        How many connections got the message, dropped it, or were closed.

    Raises:
        TypeError: If ``message`` has an unsupported type.
        ConcurrencyError: If a connection is sending a fragmented message;
            nothing is sent then. With ``raise_exceptions``, the message goes
            to the other connections and the error is collected.
        ExceptionGroup: With ``raise_exceptions``, the errors met.
        ValueError: If ``limit`` or ``overflow`` is invalid.
    """
    if isinstance(message, str):
        is_text, data = True, message.encode()
    elif isinstance(message, bytes | bytearray | memoryview):  # pyright: ignore[reportUnnecessaryIsInstance]
        is_text, data = False, bytes(message)
    else:
        raise TypeError("data must be str or bytes")

    if limit is not None or overflow is not None:
        check_broadcast_options(limit, overflow or "close")
    opcode = OP_TEXT if is_text else OP_BINARY
    # Unmasked and uncompressed, the frame is the same for every connection:
    # serialize it once rather than once per connection (bench/run.py, S6).
    wire = serialize_payload(opcode | 0x80, data, False)
    # One pass over the protocols says how to send (see Protocol.shared_send).
    targets = list(websockets)
    routes = Protocol.shared_sends([connection.protocol for connection in targets])
    exceptions: list[Exception] = []
    failed = 0
    # list.count() compares by identity first: counting the common route
    # costs little, counting the others would cost a comparison each.
    if routes.count(SharedSend.WRITE) == len(routes):
        # Every connection is open, below write_limit, and nothing waits
        # before the frame: write it, without a test per connection, in
        # one piece (_write_shared, inlined). A connection writing a frame
        # in slices is never here: it stops only once paused, which pauses
        # its Pongs too, so shared_sends() says FULL; or once its transport
        # is closing, which drops writes (see _write_slices).
        frame = wire[0] if len(wire) == 1 else b"".join(wire)
        for connection in targets:
            try:
                if connection._corked is not None:
                    connection._uncork()
                connection.transport.write(frame)
            except Exception as exc:
                failed += 1
                _write_failed(connection, exc, exceptions if raise_exceptions else None)
        if exceptions:
            raise ExceptionGroup("skipped broadcast", exceptions)
        return BroadcastStats(len(targets) - failed, 0, 0)

    skip, busy, queue, full = SharedSend.SKIP, SharedSend.BUSY, SharedSend.QUEUE, SharedSend.FULL
    busy_count = routes.count(busy)
    if busy_count:
        if not raise_exceptions:
            # Check before sending anything, so that an error doesn't leave
            # the message delivered to some connections only.
            raise ConcurrencyError("a connection is sending a fragmented message")
        exceptions += [ConcurrencyError("sending a fragmented message") for _ in range(busy_count)]
    over: list[BroadcastLimitExceeded] = []
    skipped = 0
    for connection, route in zip(targets, routes, strict=True):
        if route is skip or route is busy:
            skipped += 1
            continue
        # The limit applies above write_limit, where writing is paused and
        # send() would wait; below it, buffers aren't measured.
        if route is full or (route is queue and connection._writing_paused):
            exceeded = connection._broadcast_overflow(len(data), limit, overflow)
            if exceeded is not None:
                over.append(exceeded)
                continue
        try:
            if route is queue:
                if is_text:
                    connection.protocol.send_text(data)
                else:
                    connection.protocol.send_binary(data)
                connection._write_pending()
            else:
                connection._write_shared(wire)
        except Exception as exc:
            failed += 1
            _write_failed(connection, exc, exceptions if raise_exceptions else None)
    closed = sum(exceeded.closed for exceeded in over) if over else 0
    if raise_exceptions:
        exceptions += over
    if exceptions:
        raise ExceptionGroup("skipped broadcast", exceptions)
    sent = len(targets) - skipped - len(over) - failed
    return BroadcastStats(sent, len(over) - closed, closed)

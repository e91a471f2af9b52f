"""The threading connection shared by clients and servers.

A :class:`Connection` owns a blocking socket and a background thread that
reads it: bytes go to the sans-I/O protocol, data frames to an
:class:`~websockets_typed.sync.messages.Assembler` that :meth:`Connection.recv`
takes messages from. Any thread may send.

Three locks keep the protocol consistent: ``_protocol_lock`` guards every
call into the sans-I/O protocol and is never held while doing I/O;
``_write_lock`` is held from the moment a thread asks the protocol for a
frame until the frame is written, so that frames reach the wire in the
order the protocol built them (which compression with context takeover
requires); ``_send_lock`` is held by :meth:`Connection.send` for a whole
message, so that several threads can send safely.

A TLS socket is used in non-blocking mode, and every call into it holds
``_tls_lock``: OpenSSL doesn't support using one connection from two threads
at once (see :meth:`Connection._recv_tls`). A ``wss://`` connection through
an ``https://`` proxy runs on a ``TLSInTLSSocket``, which behaves the same
way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import ssl as ssl_module
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Literal, Self, cast, overload

from .._defaults import CLOSE_TIMEOUT, MAX_QUEUE, PING_INTERVAL, PING_TIMEOUT
from ..exceptions import ConcurrencyError, ConnectionClosed, ConnectionClosedOK, InvalidState
from ..frames import CloseCode, Frame, Opcode
from ..http11 import Request, Response
from ..protocol import CLOSED, CLOSING, OPEN, Event, Protocol, State
from ..typing import BytesLike, Data, LoggerLike, SocketAddress, Subprotocol
from ._tls_in_tls import TLSInTLSSocket
from .messages import Assembler

__all__ = ["Connection"]

# Bytes read from the socket at once.
_RECV_BUFSIZE = 65536


class Connection:
    """An open WebSocket connection over a blocking socket.

    :class:`~websockets_typed.sync.server.ServerConnection` and
    :class:`~websockets_typed.sync.client.ClientConnection` derive from it;
    they add the opening handshake. Iterate over a connection to receive
    messages until it closes normally::

        for message in connection:
            ...

    Args:
        socket: The connected socket (TLS already set up, if any).
        protocol: The sans-I/O protocol.
        ping_interval: Seconds between keepalive pings; ``None`` disables them.
        ping_timeout: Seconds to wait for a keepalive pong before closing the
            connection with 1011; ``None`` disables the timeout.
        close_timeout: Seconds to wait for the closing handshake and the TCP
            connection to end before aborting it; ``None`` waits forever.
        max_queue: High-water mark of the queue of received frames; reading
            from the network stops when it is reached and resumes at the
            low-water mark (a quarter of it unless given as a tuple).
            ``None`` disables flow control.

    Attributes:
        socket: The socket.
        protocol: The sans-I/O protocol.
        request: The opening handshake request.
        response: The opening handshake response.
        latency: Round-trip time of the last ping answered by a pong, in
            seconds; 0 until then.
    """

    def __init__(
        self,
        socket: socket.socket,
        protocol: Protocol,
        *,
        ping_interval: float | None = PING_INTERVAL,
        ping_timeout: float | None = PING_TIMEOUT,
        close_timeout: float | None = CLOSE_TIMEOUT,
        max_queue: int | tuple[int | None, int | None] | None = MAX_QUEUE,
    ) -> None:
        self.socket = socket
        self.protocol = protocol
        # Read once: they are still known, e.g. to log, after the socket closes.
        self._local_address: SocketAddress = socket.getsockname()
        self._remote_address: SocketAddress = socket.getpeername()
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        high, low = max_queue if isinstance(max_queue, tuple) else (max_queue, None)
        self.request: Request | None = None
        self.response: Response | None = None
        self.latency: float = 0.0

        self.recv_messages: Assembler = Assembler(high, low)
        # The exception that ended the connection, if any, e.g. a reset.
        self.recv_exc: BaseException | None = None
        self._protocol_lock = threading.Lock()
        self._write_lock = threading.Lock()
        # Held for a whole message by send(), so that fragments of a message
        # aren't interleaved with other messages; pings, pongs and the
        # closing handshake don't need it (RFC 6455, 5.4).
        self._send_lock = threading.Lock()
        # Set when the opening handshake event arrives, or never will.
        self._handshake_event = threading.Event()
        # Set when the TCP connection is closed.
        self._closed_event = threading.Event()
        # Pings waiting for their pong: payload -> (event, time sent).
        self._pending_pings: dict[bytes, tuple[threading.Event, float]] = {}
        self._fragmenting = False
        # TLS: calls into OpenSSL hold this lock and never block; waiting for
        # the socket happens outside it, with poll (see _recv_tls, _send_tls).
        self._tls = socket if isinstance(socket, ssl_module.SSLSocket | TLSInTLSSocket) else None
        self._tls_lock = threading.Lock()
        # How long the reading thread waits for data on a TLS socket.
        self._recv_timeout: float | None = None
        # The reading thread waits on the first, writers on the second.
        self._recv_poller = select.poll()
        self._send_poller = select.poll()
        if self._tls is not None:
            socket.setblocking(False)
            self._recv_poller.register(socket, select.POLLIN)
            self._send_poller.register(socket, select.POLLOUT)
        self._recv_thread = threading.Thread(target=self._recv_events, daemon=True)
        self._recv_thread.start()
        self._keepalive_thread: threading.Thread | None = None

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
        return self._local_address

    @property
    def remote_address(self) -> SocketAddress:
        """Remote address: ``(host, port)`` for IPv4, ``(host, port, flowinfo,
        scope_id)`` for IPv6, usually an empty string for Unix sockets."""
        return self._remote_address

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

    # Context manager and iteration.

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # An error in the body is an internal error; leaving normally, or
        # because of an interrupt, is a normal closure.
        if exc_type is not None and issubclass(exc_type, Exception):
            self.close(CloseCode.INTERNAL_ERROR)
        else:
            self.close()

    def __iter__(self) -> Iterator[Data]:
        """Yield messages until the connection closes.

        Iteration ends when the connection closes normally (1000 or 1001)
        and raises :exc:`ConnectionClosedError` otherwise.
        """
        try:
            while True:
                yield self.recv()
        except ConnectionClosedOK:
            return

    # Receiving.

    @overload
    def recv(self, timeout: float | None = None, *, decode: Literal[True]) -> str: ...

    @overload
    def recv(self, timeout: float | None = None, *, decode: Literal[False]) -> bytes: ...

    @overload
    def recv(self, timeout: float | None = None, decode: bool | None = None) -> Data: ...

    def recv(self, timeout: float | None = None, decode: bool | None = None) -> Data:
        """Receive the next message, waiting for it at most ``timeout`` seconds.

        A text message is returned as ``str`` and a binary message as
        ``bytes``. ``decode=True`` decodes binary messages as UTF-8 too;
        ``decode=False`` returns text messages as ``bytes`` without decoding.

        Raises:
            ConnectionClosed: When the connection is closed.
            TimeoutError: If no message arrived in time; the next call gets it.
            ConcurrencyError: If two threads call :meth:`recv` or
                :meth:`recv_streaming` at the same time.
        """
        try:
            return self.recv_messages.get(timeout, decode)
        except EOFError:
            pass
        except ConcurrencyError:
            raise ConcurrencyError(
                "cannot call recv while another thread is already running recv or recv_streaming"
            ) from None
        except UnicodeDecodeError as exc:
            self._fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
        raise self._closed_exception()

    @overload
    def recv_streaming(self, decode: Literal[True]) -> Iterator[str]: ...

    @overload
    def recv_streaming(self, decode: Literal[False]) -> Iterator[bytes]: ...

    @overload
    def recv_streaming(self, decode: bool | None = None) -> Iterator[Data]: ...

    def recv_streaming(self, decode: bool | None = None) -> Iterator[Data]:
        """Receive the next message frame by frame, yielding each fragment.

        ``decode`` works as in :meth:`recv`. Useful for large messages that
        should not be held in memory at once.

        Raises:
            ConnectionClosed: When the connection is closed.
            ConcurrencyError: If two threads receive at the same time.
        """
        try:
            yield from self.recv_messages.get_iter(decode)
            return
        except EOFError:
            pass
        except ConcurrencyError:
            raise ConcurrencyError(
                "cannot call recv_streaming while another thread "
                "is already running recv or recv_streaming"
            ) from None
        except UnicodeDecodeError as exc:
            self._fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
        raise self._closed_exception()

    # Sending.

    def send(
        self,
        message: Data | BytesLike | Iterable[Data | BytesLike],
        text: bool | None = None,
    ) -> None:
        """Send a message; safe to call from several threads.

        ``str`` is sent as a Text frame, bytes-like objects as a Binary frame;
        ``text`` overrides that. An iterable is sent as a fragmented message,
        one frame per item; its items must all be text or all be bytes-like,
        else :exc:`TypeError` is raised and the connection is closed with
        1011, since a half-sent message leaves it unusable. Other threads'
        messages wait until a fragmented message is complete.

        :meth:`send` blocks while the socket's buffer is full (backpressure).
        Once it returns, the message is in the kernel's buffer.

        Raises:
            ConnectionClosed: When the connection is closed.
            TypeError: If ``message`` has an unsupported type.
        """
        if isinstance(message, str):
            is_text = text is not False
            data: BytesLike = message.encode()
        elif isinstance(message, bytes | bytearray | memoryview):
            is_text = bool(text)
            data = cast(BytesLike, message)  # pyright infers memoryview[Data]
        elif isinstance(message, Mapping):
            # Iterating a dict would send its keys: surely not what was meant.
            raise TypeError("data is a dict-like object")
        elif isinstance(message, Iterable):  # pyright: ignore[reportUnnecessaryIsInstance]
            try:
                self._send_fragments(iter(message), text)
            except _NotOpen:
                raise self._closed_exception() from None
            return
        else:
            raise TypeError("data must be str, bytes or iterable")
        protocol = self.protocol
        try:
            with self._send_lock, self._write_lock:
                with self._protocol_lock:
                    if protocol.state is not OPEN:
                        raise _NotOpen
                    if is_text:
                        protocol.send_text(data)
                    else:
                        protocol.send_binary(data)
                    writes = protocol.data_to_send()
                self._send_data(writes)
        except _NotOpen:
            raise self._closed_exception() from None

    def _send_fragments(self, fragments: Iterator[Data | BytesLike], text: bool | None) -> None:
        # Holding the send lock for the whole message keeps other threads'
        # messages out of it: no interleaving. The write lock is only held
        # while writing a frame, not while the iterable makes the next one,
        # which may take any time or even receive messages.
        with self._send_lock:
            try:
                first = next(fragments)
            except StopIteration:
                return
            is_text = isinstance(first, str)
            if not is_text and not isinstance(first, bytes | bytearray | memoryview):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise TypeError("iterable must contain bytes or str")
            opcode = Opcode.TEXT if (is_text if text is None else text) else Opcode.BINARY
            self._fragmenting = True
            try:
                self._send_frame(opcode, _encode(first), fin=False)
                for fragment in fragments:
                    if isinstance(fragment, str) is not is_text or not isinstance(
                        fragment,
                        str | bytes | bytearray | memoryview,  # pyright: ignore[reportUnnecessaryIsInstance]
                    ):
                        raise TypeError("iterable must contain uniform types")
                    self._send_frame(Opcode.CONT, _encode(fragment), fin=False)
                self._send_frame(Opcode.CONT, b"", fin=True)
            except _NotOpen:
                raise
            except BaseException:
                # Half a message was sent: the connection is unusable.
                self._fail(CloseCode.INTERNAL_ERROR, "error in fragmented message")
                raise
            finally:
                self._fragmenting = False

    def _send_frame(self, opcode: Opcode, data: BytesLike, *, fin: bool) -> None:
        """Send one frame of a fragmented message; the send lock is held."""
        protocol = self.protocol
        with self._write_lock:
            with self._protocol_lock:
                if protocol.state is not OPEN:
                    raise _NotOpen
                if opcode is Opcode.TEXT:
                    protocol.send_text(data, fin=fin)
                elif opcode is Opcode.BINARY:
                    protocol.send_binary(data, fin=fin)
                else:
                    protocol.send_continuation(data, fin=fin)
                writes = protocol.data_to_send()
            self._send_data(writes)

    def _flush(self) -> bool:
        """Write what the protocol has to send; the write lock is held.

        Returns:
            Whether the protocol expects the peer to end the TCP connection.
        """
        with self._protocol_lock:
            writes = self.protocol.data_to_send()
            close_expected = self.protocol.close_expected()
        with contextlib.suppress(_NotOpen):
            self._send_data(writes)
        return close_expected

    def ping(self, data: Data | BytesLike | None = None) -> threading.Event:
        """Send a Ping frame and return an event set when its Pong arrives.

        A Pong acknowledges its Ping and every Ping sent before it. Wait for
        the event to know that the peer received everything sent so far::

            pong_received = connection.ping()
            pong_received.wait(timeout=10)

        The event is also set when the connection closes, since no Pong
        will come any more: check :attr:`state` if that matters.

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
            payload = os.urandom(4)
            while payload in self._pending_pings:
                payload = os.urandom(4)
        else:
            payload = bytes(data)
        try:
            with self._write_lock:
                with self._protocol_lock:
                    if payload in self._pending_pings:
                        raise ConcurrencyError("already waiting for a pong with the same data")
                    try:
                        self.protocol.send_ping(payload)
                    except InvalidState:
                        raise _NotOpen from None
                    pong_received = threading.Event()
                    self._pending_pings[payload] = (pong_received, time.monotonic())
                    writes = self.protocol.data_to_send()
                self._send_data(writes)
        except _NotOpen:
            raise self._closed_exception() from None
        return pong_received

    def pong(self, data: Data | BytesLike = b"") -> None:
        """Send an unsolicited Pong frame: a one-way heartbeat.

        Args:
            data: Payload of the pong; ``str`` is encoded to UTF-8.

        Raises:
            ConnectionClosed: When the connection is closed.
        """
        payload = data.encode() if isinstance(data, str) else bytes(data)
        try:
            with self._write_lock:
                with self._protocol_lock:
                    try:
                        self.protocol.send_pong(payload)
                    except InvalidState:
                        raise _NotOpen from None
                    writes = self.protocol.data_to_send()
                self._send_data(writes)
        except _NotOpen:
            raise self._closed_exception() from None

    # Closing.

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Perform the closing handshake and wait for the TCP connection to close.

        Safe to call from any thread, and idempotent; it unblocks
        :meth:`recv` in other threads. It takes at most about
        ``close_timeout`` seconds, then the connection is aborted, even if a
        :meth:`send` is blocked because the peer stopped reading. While
        another thread is sending a fragmented message, the message can't be
        completed: the connection fails with 1011 instead.

        Args:
            code: Close code.
            reason: Close reason, at most 123 bytes once encoded.

        Raises:
            ProtocolError: If the code is not allowed or the reason too long.
        """
        deadline = None if self.close_timeout is None else time.monotonic() + self.close_timeout
        with self._protocol_lock:
            if self.protocol.state is OPEN:
                if self._fragmenting:
                    self.protocol.fail(CloseCode.INTERNAL_ERROR, "close during fragmented message")
                else:
                    self.protocol.send_close(code, reason)
        self._write_or_abort()
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        self._wait_closed_or_abort(remaining)

    def _wait_closed_or_abort(self, timeout: float | None) -> None:
        """Wait for the TCP connection to end; abort it after ``timeout`` seconds."""
        # Read the peer's Close frame even if the application stopped reading.
        self.recv_messages.stop_pausing()
        if not self._closed_event.wait(timeout):
            self.logger.info("closing handshake timed out; aborting connection")
            self._abort()
            self._closed_event.wait()

    def _write_or_abort(self) -> None:
        """Write what the protocol has to send, unless a blocked send holds the socket.

        A send blocked on a full socket buffer, because the peer stopped
        reading, holds the write lock: after ``close_timeout``, abort.
        """
        timeout = -1 if self.close_timeout is None else self.close_timeout
        if not self._write_lock.acquire(timeout=timeout):
            self._abort()
            return
        try:
            close_expected = self._flush()
        finally:
            self._write_lock.release()
        if close_expected:
            # The peer may never end the TCP connection: stop waiting then.
            self._set_recv_timeout()

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection and write what that produces."""
        with self._protocol_lock:
            if self.protocol.state is OPEN or self.protocol.state is CLOSING:
                self.protocol.fail(code, reason)
        self._write_or_abort()
        self._wait_closed_or_abort(self.close_timeout)

    def _closed_exception(self) -> ConnectionClosed:
        """Wait for the connection to close and return the exception describing it."""
        if threading.current_thread() is not self._recv_thread:
            self._closed_event.wait()
        exc = self.protocol.close_exc
        # The socket's error (e.g. a reset) says more than the protocol's
        # generic EOFError for a stream that ended without a closing handshake.
        if self.recv_exc is not None and (
            exc.__cause__ is None or isinstance(exc.__cause__, EOFError)
        ):
            exc.__cause__ = self.recv_exc
        return exc

    def _abort(self) -> None:
        """End the TCP connection at once; blocked reads and writes fail."""
        with contextlib.suppress(OSError):  # already disconnected
            # On a TLS socket, shut down TCP only: SSLSocket.shutdown() would
            # also unwrap TLS, under the feet of a thread using it.
            socket.socket.shutdown(self.socket, socket.SHUT_RDWR)

    # Keepalive.

    def start_keepalive(self) -> None:
        """Start sending keepalive pings from a background thread, if ``ping_interval`` is set."""
        if self.ping_interval is not None:
            self._keepalive_thread = threading.Thread(target=self._keepalive, daemon=True)
            self._keepalive_thread.start()

    def _keepalive(self) -> None:
        """Send a ping every ``ping_interval``; close with 1011 if no pong in ``ping_timeout``."""
        assert self.ping_interval is not None
        while not self._closed_event.wait(self.ping_interval):
            try:
                pong_received = self.ping()
            except ConnectionClosed:
                return
            if self.ping_timeout is not None and not pong_received.wait(self.ping_timeout):
                if self.protocol.state is OPEN:
                    self.logger.info("keepalive ping timeout; closing connection")
                    self._fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
                return

    def _acknowledge_pings(self, data: bytes) -> None:
        """Set the event of the ping with this payload and of every earlier one."""
        with self._protocol_lock:
            if data not in self._pending_pings:
                return  # unsolicited pong
            now = time.monotonic()
            for payload in list(self._pending_pings):
                pong_received, sent_at = self._pending_pings.pop(payload)
                pong_received.set()
                if payload == data:
                    self.latency = now - sent_at
                    break

    # I/O.

    def _send_data(self, writes: list[bytes]) -> None:
        """Write what the protocol produced; half-close on the end of the stream."""
        for data in writes:
            if data:
                try:
                    if self._tls is None:
                        self.socket.sendall(data)
                    else:
                        self._send_tls(self._tls, data)
                except OSError as exc:
                    # The connection broke, or close() aborted it: the
                    # protocol can't send anything any more.
                    self.recv_exc = self.recv_exc or exc
                    self._abort()
                    raise _NotOpen from None
            else:
                # Half-close. On a TLS socket, this shuts down writing on TCP
                # without a close_notify alert: TLS has no half-close, and the
                # peer must see the end of the stream (RFC 6455, 7.1.1) rather
                # than wait for close_timeout; reading TLS goes on.
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(self.socket, socket.SHUT_WR)

    def _send_tls(self, tls: ssl_module.SSLSocket | TLSInTLSSocket, data: bytes) -> None:
        """Write ``data`` to a TLS socket; the write lock is held.

        OpenSSL is only called under the TLS lock and never blocks; while the
        socket's buffer is full, wait outside the lock until it is writable,
        then retry with the same bytes, as OpenSSL requires.
        """
        view = memoryview(data)
        while view:
            with self._tls_lock:
                try:
                    sent = tls.send(view)
                except ssl_module.SSLWantWriteError:
                    sent = 0
            if sent:
                view = view[sent:]
            else:
                # The write lock is held: only one thread polls this object.
                self._send_poller.poll()

    def _set_recv_timeout(self) -> None:
        """Bound the wait for the peer to end the TCP connection."""
        if self.close_timeout is not None:
            if self._tls is not None:
                # A timeout on the socket would make OpenSSL block.
                self._recv_timeout = self.close_timeout
                return
            with contextlib.suppress(OSError):
                self.socket.settimeout(self.close_timeout)

    def _recv_tls(self, tls: ssl_module.SSLSocket | TLSInTLSSocket) -> bytes:
        """Read decrypted bytes from a TLS socket; ``b""`` at the end of the stream.

        OpenSSL doesn't support reading and writing one TLS connection from
        two threads at once: a read blocked in OpenSSL, e.g. after a TLS 1.3
        session ticket or half a record arrived, while another thread writes,
        may report a spurious end of stream or lose the bytes written. So
        OpenSSL is only called under the TLS lock, on a non-blocking socket.

        This can't wait forever for bytes that already arrived: OpenSSL asks
        for more (:exc:`~ssl.SSLWantReadError`) only after reading the socket
        until it was empty, keeping what it read, e.g. part of a record, for
        the next call. Waiting for the socket to become readable then waits
        for new bytes only.

        Raises:
            TimeoutError: If nothing arrives within ``_recv_timeout``.
        """
        while True:
            with self._tls_lock:
                try:
                    return tls.recv(_RECV_BUFSIZE)
                except ssl_module.SSLWantReadError:
                    pass
            timeout = self._recv_timeout
            if not self._recv_poller.poll(None if timeout is None else timeout * 1000):
                raise TimeoutError("timed out")

    def _recv_events(self) -> None:
        """Read the socket until the connection ends: the reading thread."""
        sock = self.socket
        protocol = self.protocol
        tls = self._tls
        data = b""
        try:
            while True:
                # The rest of a large frame's payload goes straight into the
                # frame's data, allocated once at its final size: no bytes
                # object per read, one copy less (as the asyncio layer reads).
                # Only this thread feeds the protocol: if another one fails
                # the connection meanwhile, payload_received() discards it.
                # TLS reads go through _recv_tls(), under the TLS lock. No
                # SO_RCVLOWAT here, unlike asyncio's reads (see
                # asyncio/_rcvlowat): a blocking read takes what arrives while
                # it waits, and Linux wakes it only when what remains queued
                # reaches the mark, which may then never happen (tried: the
                # reading thread hung with the frame's last bytes queued).
                payload = protocol.payload_buffer if tls is None else None
                try:
                    if payload is not None:
                        nbytes = sock.recv_into(payload)
                    else:
                        data = sock.recv(_RECV_BUFSIZE) if tls is None else self._recv_tls(tls)
                        nbytes = len(data)
                except (OSError, ValueError) as exc:
                    # Reset, aborted, timed out or closed.
                    if not isinstance(exc, TimeoutError):
                        self.recv_exc = exc
                    else:
                        self.logger.info("closing handshake timed out; aborting connection")
                    nbytes = 0
                with self._protocol_lock:
                    if not nbytes:
                        protocol.receive_eof()
                    elif payload is not None:
                        protocol.payload_received(nbytes)
                    else:
                        protocol.receive_data(data)
                    events = protocol.events_received()
                    writes = protocol.data_to_send()
                    close_expected = protocol.close_expected()
                self._process_events(events)
                if writes:
                    with self._write_lock:
                        try:
                            self._send_data(writes)
                        except _NotOpen:
                            break
                if protocol.handshake_exc is not None:
                    # The handshake failed without an event, e.g. malformed.
                    self._handshake_event.set()
                if close_expected:
                    self._set_recv_timeout()
                if not nbytes:
                    break
                self.recv_messages.wait_for_room()
        finally:
            self._connection_lost()

    def _connection_lost(self) -> None:
        """Mark the connection closed and wake every thread waiting on it."""
        with self._protocol_lock:
            if self.protocol.state is not CLOSED:
                self.protocol.receive_eof()
                self.protocol.data_to_send()
            pings = [event for event, _ in self._pending_pings.values()]
            self._pending_pings.clear()
        try:
            with self._tls_lock:  # not while another thread is in OpenSSL
                self.socket.close()
        finally:
            self.recv_messages.close()
            self._handshake_event.set()
            self._closed_event.set()
            # Nobody waits for pongs that will never come: wake waiters, the
            # connection's state tells them why.
            for event in pings:
                event.set()
            if self.logger.isEnabledFor(logging.DEBUG):
                self.logger.debug("connection closed: %s", self.protocol.close_exc)

    def _process_events(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Frame):
                opcode = event.opcode
                if opcode < 8:
                    self.recv_messages.put(event)
                elif opcode is Opcode.PONG:
                    self._acknowledge_pings(event.data)
                elif opcode is Opcode.CLOSE:
                    # No data frames follow a Close frame.
                    self.recv_messages.close()
            else:
                self._process_handshake_event(event)

    def _process_handshake_event(self, event: Request | Response) -> None:
        """Handle a handshake event; subclasses implement their side."""
        raise NotImplementedError

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait until the TCP connection is closed; return whether it is."""
        return self._closed_event.wait(timeout)


class _NotOpen(Exception):
    """The connection can't send: raised under the locks, turned into
    :exc:`ConnectionClosed` once they are released."""


def _encode(fragment: Data | BytesLike) -> BytesLike:
    return fragment.encode() if isinstance(fragment, str) else fragment

"""The fixed, cheap peers: a load generator for servers and a server for clients.

Run by ``run.py`` as a worker (see ``procs.py``); never imports a WebSocket
library. Whatever library is under test, these peers do the same, small
amount of work, so that differences in the figures are the library's.

The load generator opens sessions (sets of connections to one path of the
server under test) and runs timed phases on them; the orchestrator reads the
server's CPU time around each phase. Each phase is callback-driven: the next
frame is written from ``data_received()``, with no task switch in between.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent))

from procs import Handler, Message, run_worker
from wire import (
    ACK_FRAME,
    CLIENT_CLOSE_FRAME,
    DEFLATE_OFFER,
    OP_BINARY,
    OP_TEXT,
    SERVER_CLOSE_FRAME,
    FrameCounter,
    FrameRing,
    binary_payload,
    deflate_message,
    encode_frame,
    handshake_request,
    handshake_response,
    json_payloads,
    negotiated_deflate,
    text_payload,
)

# What a browser offers (Chrome, Firefox): the server may keep its context
# both ways, which is what costs memory in idle connections (S5).
BROWSER_DEFLATE_OFFER = "permessage-deflate; client_max_window_bits"

# Large frames are written in slices of this size (see write_large).
_SLICE = 2**18

# The payload of latency scenarios (S1, C1): 16 bytes of text.
LATENCY_TEXT = text_payload(16)


class LoadConnection(asyncio.Protocol):
    """One connection of the load generator.

    It sends the handshake request, waits for the response head, then counts
    incoming messages with a :class:`FrameCounter` and hands the counts to
    :attr:`on_messages`, which decides what to send next.
    """

    def __init__(self, request: bytes) -> None:
        loop = asyncio.get_running_loop()
        self.request = request
        self.counter = FrameCounter()
        self.opened: asyncio.Future[bytes] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.on_messages: Callable[[int], None] | None = None
        self.transport: asyncio.Transport
        self._head: bytearray | None = bytearray()
        self._close_sent = False
        self._writable = asyncio.Event()
        self._writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without deriving from it.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self._head is not None:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            response, data = bytes(self._head[:end]), bytes(self._head[end + 4 :])
            self._head = None
            if not response.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(ConnectionError(response.split(b"\r\n")[0].decode()))
                self.transport.close()
                return
            self.opened.set_result(response)
            if not data:
                return
        count = self.counter.feed(data)
        if count and self.on_messages is not None:
            self.on_messages(count)
        if self.counter.closed:
            # The server's answer to our Close frame, or its own: answer it
            # (RFC 6455, 5.5.1) and let the server close the TCP connection.
            self.close()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    async def write_large(self, data: bytes) -> None:
        """Write ``data`` in slices, each when the transport's buffer has room.

        Writing it at once would copy most of it into the transport's
        buffer; slices mostly go straight to the kernel.
        """
        view = memoryview(data)
        for start in range(0, len(view), _SLICE):
            await self._writable.wait()
            self.transport.write(view[start : start + _SLICE])

    def close(self) -> None:
        """Start (or answer) the closing handshake."""
        if not self._close_sent:
            self._close_sent = True
            self.transport.write(CLIENT_CLOSE_FRAME)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("connection lost during the handshake"))
        self.lost.set_result(None)


def open_request(port: int, path: str, extensions: str | None) -> bytes:
    """The handshake request for ``path`` on the server under test."""
    return handshake_request(port, extensions).replace(b"GET / ", f"GET {path} ".encode(), 1)


async def open_connection(port: int, path: str, extensions: str | None) -> LoadConnection:
    """Open a connection to the server under test and complete the handshake."""
    loop = asyncio.get_running_loop()
    request = open_request(port, path, extensions)
    _, connection = await loop.create_connection(lambda: LoadConnection(request), "127.0.0.1", port)
    # A server that never answers fails the request instead of hanging it.
    await asyncio.wait_for(connection.opened, 30)
    return connection


class Handshake:
    """One connection of S4: open it, upgrade it, close it; then call ``finished``.

    It sends the request, reads the response head, sends a Close frame and
    reads until the server, having answered with its own Close frame, closes
    the TCP connection. It does that with a socket and the loop's reader
    callbacks, not a transport and futures as :class:`LoadConnection` does:
    55 to 70 µs of CPU time per connection here, where LoadConnection took
    about 150, more than any server under test, so that the load generator
    was 95-99% busy in S4 x16 and its own cost set the rate.

    ``finished`` gets None, or the :exc:`ConnectionError` or :exc:`OSError`
    that ended the connection (a response other than 101, a connection
    closed without a Close frame).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        port: int,
        request: bytes,
        finished: Callable[[Exception | None], None],
    ) -> None:
        self._loop = loop
        self._finished = finished
        self._head: bytes | None = b""
        self._rest = b""
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setblocking(False)
        try:
            # A loopback connection is established once connect() returns,
            # and the request fits in an empty send buffer.
            self._sock.connect_ex(("127.0.0.1", port))
            if self._sock.send(request) != len(request):
                raise ConnectionError("the request was sent in part")
        except OSError as exc:
            self._end(exc, reading=False)
            return
        loop.add_reader(self._sock.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            data = self._sock.recv(65536)
            if data:
                self._rest += data if self._head is None else self._on_head(data)
                return
            if self._head is not None:
                raise ConnectionError("connection lost during the handshake")
            if not self._rest.startswith(b"\x88"):
                raise ConnectionError("the server closed the connection without a Close frame")
        except OSError as exc:  # ConnectionError included
            self._end(exc)
        else:
            self._end(None)

    def _on_head(self, data: bytes) -> bytes:
        """Add ``data`` to the response head; once it's whole, answer it; return what follows."""
        assert self._head is not None
        head = self._head = self._head + data
        end = head.find(b"\r\n\r\n")
        if end < 0:
            return b""
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.split(b"\r\n")[0].decode())
        self._head = None
        self._sock.send(CLIENT_CLOSE_FRAME)
        return head[end + 4 :]

    def _end(self, error: Exception | None, *, reading: bool = True) -> None:
        if reading:
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self._finished(error)


class LoadGenerator:
    """The load generator's requests: sessions, timed phases, handshakes."""

    def __init__(self) -> None:
        self._sessions: dict[int, list[LoadConnection]] = {}
        self._ids = itertools.count()
        self._frames: dict[tuple[str, int], bytes] = {}

    def handlers(self) -> dict[str, Handler]:
        return {
            "open": self.open,
            "close": self.close,
            "latency": self.unless_lost(self.latency),
            "pipeline": self.unless_lost(self.pipeline),
            "large": self.unless_lost(self.large),
            "room": self.unless_lost(self.room),
            "handshakes": self.handshakes,
            "exit": self.exit,
        }

    def unless_lost(self, run: Handler) -> Handler:
        """``run``, failing if the server closes a connection of its session first.

        A timed run waits for the server's answers: a server that closed the
        connection (failing it, say) would otherwise leave it waiting forever.

        Raises:
            ConnectionError: If a connection of the session is lost first.
        """

        async def guarded(request: Message) -> Message:
            task = asyncio.ensure_future(run(request))
            losses = [connection.lost for connection in self._sessions[request["session"]]]
            awaited: set[asyncio.Future[Any]] = {task, *losses}
            await asyncio.wait(awaited, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                raise ConnectionError("the server closed the connection during the run")
            return task.result()

        return guarded

    def _frame(self, kind: str, size: int) -> bytes:
        """A masked data frame, computed once per process."""
        key = (kind, size)
        if key not in self._frames:
            if kind == "text":
                self._frames[key] = encode_frame(OP_TEXT, text_payload(size), mask=True)
            else:
                self._frames[key] = encode_frame(OP_BINARY, binary_payload(size), mask=True)
        return self._frames[key]

    async def open(self, request: Message) -> Message:
        """Open ``count`` connections to ``path``, a few at a time."""
        port, path, count = request["port"], request["path"], request["count"]
        extensions = {None: None, "deflate": DEFLATE_OFFER, "browser": BROWSER_DEFLATE_OFFER}[
            request.get("deflate")
        ]
        connections: list[LoadConnection] = []
        # A burst of thousands of connections would overflow the server's
        # listen backlog; 50 at a time stays well below asyncio's 100.
        for start in range(0, count, 50):
            batch = range(start, min(start + 50, count))
            connections += await asyncio.gather(
                *(open_connection(port, path, extensions) for _ in batch)
            )
        response = await connections[0].opened
        session = next(self._ids)
        self._sessions[session] = connections
        return {"session": session, "deflate": negotiated_deflate(response)}

    async def close(self, request: Message) -> Message:
        """Close every connection of a session and wait until they are closed."""
        connections = self._sessions.pop(request["session"])
        for connection in connections:
            connection.close()
        await asyncio.wait_for(asyncio.gather(*(connection.lost for connection in connections)), 60)
        return {}

    async def latency(self, request: Message) -> Message:
        """S1: ``count`` round trips of a 16-byte text message, one at a time."""
        (connection,) = self._sessions[request["session"]]
        count = request["count"]
        frame = encode_frame(OP_TEXT, LATENCY_TEXT, mask=True)
        done = asyncio.get_running_loop().create_future()
        remaining = count

        def on_messages(received: int) -> None:
            nonlocal remaining
            remaining -= received
            if remaining > 0:
                connection.transport.write(frame)
            elif not done.done():
                done.set_result(None)

        connection.on_messages = on_messages
        start = time.perf_counter()
        connection.transport.write(frame)
        await done
        return {"seconds": time.perf_counter() - start, "ops": count}

    async def pipeline(self, request: Message) -> Message:
        """S2 and S7: ``count`` messages, up to ``window`` unanswered at a time.

        With ``json``, the messages are 1 KiB JSON documents, compressed
        without context takeover, as negotiated by the ``deflate`` offer.
        """
        (connection,) = self._sessions[request["session"]]
        count, window = request["count"], request["window"]
        if request.get("json"):
            documents = json_payloads(100, request["size"])
            frames = [
                encode_frame(OP_TEXT, deflate_message(document), mask=True, rsv1=True)
                for document in documents
            ]
        else:
            frames = [self._frame("binary", request["size"])]
        ring = FrameRing(frames * (window // len(frames) + 1))
        done = asyncio.get_running_loop().create_future()
        sent = received = 0

        def send(number: int) -> None:
            nonlocal sent
            connection.transport.writelines(ring.take(number))
            sent += number

        def on_messages(number: int) -> None:
            nonlocal received
            received += number
            if sent < count:
                send(min(number, count - sent))
            elif received >= count and not done.done():
                done.set_result(None)

        connection.on_messages = on_messages
        start = time.perf_counter()
        send(min(window, count))
        await done
        return {"seconds": time.perf_counter() - start, "ops": count}

    async def large(self, request: Message) -> Message:
        """S3: ``count`` binary messages of ``size`` bytes, each acknowledged by the server.

        Up to two messages are unacknowledged, so that the server always has
        one to read.
        """
        (connection,) = self._sessions[request["session"]]
        count, size = request["count"], request["size"]
        frame = self._frame("binary", size)
        window = asyncio.Semaphore(2)
        done = asyncio.get_running_loop().create_future()
        received = 0

        def on_messages(number: int) -> None:
            nonlocal received
            received += number
            for _ in range(number):
                window.release()
            if received >= count and not done.done():
                done.set_result(None)

        connection.on_messages = on_messages
        start = time.perf_counter()
        for _ in range(count):
            await window.acquire()
            await connection.write_large(frame)
        await done
        return {"seconds": time.perf_counter() - start, "ops": count * size}

    async def room(self, request: Message) -> Message:
        """S6: ask the server to broadcast ``count`` messages of ``size`` bytes
        to the session's connections, and wait until each received them all."""
        connections = self._sessions[request["session"]]
        count, size = request["count"], request["size"]
        done = asyncio.get_running_loop().create_future()
        remaining = count * len(connections)

        def on_messages(number: int) -> None:
            nonlocal remaining
            remaining -= number
            if remaining <= 0 and not done.done():
                done.set_result(None)

        for connection in connections:
            connection.on_messages = on_messages
        trigger = encode_frame(OP_TEXT, f"{count} {size}".encode(), mask=True)
        start = time.perf_counter()
        connections[0].transport.write(trigger)
        await done
        return {"seconds": time.perf_counter() - start, "ops": count * len(connections)}

    async def handshakes(self, request: Message) -> Message:
        """S4: ``count`` connections opened and closed, ``concurrency`` at a time.

        Each is a :class:`Handshake`, not a :class:`LoadConnection`: the
        load generator's work per connection must stay well below the
        server's, or its own cost sets the rate (see Handshake).
        """
        port, count, concurrency = request["port"], request["count"], request["concurrency"]
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        handshake_request = open_request(port, "/idle", None)
        left, running = count, 0

        def finished(error: Exception | None) -> None:
            nonlocal running
            running -= 1
            if done.done():
                return
            if error is not None:
                done.set_exception(error)
            elif left > 0:
                start_one()
            elif running == 0:
                done.set_result(None)

        def start_one() -> None:
            nonlocal left, running
            left -= 1
            running += 1
            Handshake(loop, port, handshake_request, finished)

        start = time.perf_counter()
        for _ in range(min(concurrency, count)):
            start_one()
        # A server that stops answering fails the run instead of hanging it.
        await asyncio.wait_for(done, 30 + count / 100)
        return {"seconds": time.perf_counter() - start, "ops": count}

    async def exit(self, request: Message) -> Message:
        for session in list(self._sessions):
            await self.close({"session": session})
        return {}


class FixedServerConnection(asyncio.BufferedProtocol):
    """One connection of the fixed server.

    It answers the handshake without validating it, then answers every
    message with one precomputed frame: on ``/echo``, the latency text (the
    only message clients send there), on ``/ack``, a 2-byte acknowledgment.
    Payloads are never unmasked: only frame headers are read.

    It reads through :class:`asyncio.BufferedProtocol` into one buffer that
    it reuses for every read (uvloop supports that too), rather than
    receiving a new ``bytes`` per read: for large messages (C2), allocating
    and faulting in fresh memory for every read was slower than any client
    could write, so every library measured the server's reads alike.
    """

    BUFFER_SIZE = 2**18
    """The most bytes one read takes: as much as asyncio reads by default."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport
        self.counter = FrameCounter()
        self.reply = b""
        self._head: bytearray | None = bytearray()
        self._buffer = memoryview(bytearray(self.BUFFER_SIZE))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without deriving from it.
        self.transport = cast(asyncio.Transport, transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        # The counter copies what it keeps of the buffer (a cut header): the
        # next read overwrites it.
        data = self._buffer[:nbytes]
        if self._head is not None:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            request, data = bytes(self._head[:end]), memoryview(self._head[end + 4 :])
            self._head = None
            path = request.split(b" ", 2)[1]
            self.reply = _ECHO_FRAME if path == b"/echo" else ACK_FRAME
            self.transport.write(handshake_response(request))
        count = self.counter.feed(data)
        if count:
            self.transport.write(self.reply * count)
        if self.counter.closed:
            self.transport.write(SERVER_CLOSE_FRAME)
            self.transport.close()


_ECHO_FRAME = encode_frame(OP_TEXT, LATENCY_TEXT, mask=False)


class FixedServer:
    """The fixed server's requests: start and stop."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None

    def handlers(self) -> dict[str, Handler]:
        return {"start": self.start, "stop": self.stop, "exit": self.stop}

    async def start(self, request: Message) -> Message:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(FixedServerConnection, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return {"port": port}

    async def stop(self, request: Message) -> Message:
        if self._server is not None:
            self._server.close()
            self._server = None
        return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["load", "server"])
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    peer = LoadGenerator() if args.role == "load" else FixedServer()
    run_worker(peer.handlers(), uvloop=args.uvloop)


if __name__ == "__main__":
    main()

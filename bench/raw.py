"""Raw asyncio: the limit of anything built on asyncio's event loop.

A server with no WebSocket library: plain :class:`asyncio.Protocol`
callbacks doing the least the fixed load generator (``fixed.py``) accepts.
It answers the opening handshake with a 101 (computing
``Sec-WebSocket-Accept``), then, by path:

- ``/echo`` writes back every chunk it receives, as received: the client's
  frames, masked, which a WebSocket server must not send (RFC 6455, section
  5.1) but the load generator counts all the same, since it reads headers
  only. No frame is parsed; the Close frame, which the load generator sends
  last and always with the same bytes, is spotted at the end of the stream.
- ``/ack`` walks frame headers (:class:`wire.FrameCounter`) and answers each
  complete message with a precomputed 2-byte acknowledgment; payloads are
  never unmasked nor joined.
- ``/room`` unmasks the trigger ``"COUNT SIZE"`` (a small frame), then
  writes one precomputed frame to every member's transport, COUNT times,
  one round per event loop iteration.
- ``/idle`` (and any other path) only answers the closing handshake.

There is no permessage-deflate. The raw client is in ``libs.py``: the load
generator's own connection (:class:`fixed.LoadConnection`).
"""

from __future__ import annotations

import asyncio
from typing import cast

from wire import (
    ACK_FRAME,
    CLIENT_CLOSE_FRAME,
    OP_BINARY,
    OP_CLOSE,
    OP_TEXT,
    SERVER_CLOSE_FRAME,
    FrameCounter,
    apply_mask,
    encode_frame,
    handshake_response,
)

__all__ = ["RawServer", "RawServerConnection", "room_triggers"]

_CLOSE_SIZE = len(CLIENT_CLOSE_FRAME)


def room_triggers(buffer: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Split the complete frames off ``buffer``: ``(opcode, unmasked payload)`` each.

    Only what the load generator sends on ``/room``: masked frames of fewer
    than 126 bytes (RFC 6455, section 5.2). Returns the frames and the bytes
    of an incomplete one.

    Raises:
        ValueError: On an unmasked or longer frame.
    """
    frames: list[tuple[int, bytes]] = []
    while len(buffer) >= 2:
        second = buffer[1]
        if second & 0x80 == 0 or second & 0x7F >= 126:
            raise ValueError("/room takes small masked frames only")
        end = 6 + (second & 0x7F)
        if len(buffer) < end:
            break
        frames.append((buffer[0] & 0x0F, apply_mask(buffer[6:end], buffer[2:6])))
        buffer = buffer[end:]
    return frames, buffer


class RawServerConnection(asyncio.Protocol):
    """One connection of the raw server: see the module's description."""

    def __init__(self, server: RawServer) -> None:
        self.server = server
        self.transport: asyncio.Transport
        self.path = b""
        self._head: bytearray | None = bytearray()
        self._counter = FrameCounter()
        # /echo: the last bytes received, to spot a Close frame cut in two.
        self._tail = b""
        # /room: the start of a frame cut by the end of a read.
        self._pending = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without deriving from it.
        self.transport = cast(asyncio.Transport, transport)
        self.server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self._head is not None:
            data = self._handshake(data)
            if not data:
                return
        path = self.path
        if path == b"/echo":
            self.transport.write(data)
            self._tail = (self._tail + data[-_CLOSE_SIZE:])[-_CLOSE_SIZE:]
            if self._tail == CLIENT_CLOSE_FRAME:
                # The Close frame went back with the rest: the closing handshake's answer.
                self.transport.close()
        elif path == b"/room":
            frames, self._pending = room_triggers(self._pending + data)
            for opcode, payload in frames:
                if opcode == OP_CLOSE:
                    self._close()
                elif opcode == OP_TEXT:
                    count, size = map(int, payload.split())
                    self.server.broadcast(count, encode_frame(OP_BINARY, bytes(size), mask=False))
        else:
            count = self._counter.feed(data)
            if count and path == b"/ack":
                self.transport.write(ACK_FRAME * count)
            if self._counter.closed:
                self._close()

    def _handshake(self, data: bytes) -> bytes:
        """Answer the request once its head is complete; return the bytes after it."""
        assert self._head is not None
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            return b""
        request, rest = bytes(self._head[:end]), bytes(self._head[end + 4 :])
        self._head = None
        self.path = request.split(b" ", 2)[1]
        self.transport.write(handshake_response(request))
        if self.path == b"/room":
            self.server.room.add(self)
        return rest

    def _close(self) -> None:
        """Answer the client's Close frame (RFC 6455, section 5.5.1) and close TCP."""
        self.transport.write(SERVER_CLOSE_FRAME)
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.server.room.discard(self)


class RawServer:
    """The raw server: listens on 127.0.0.1, broadcasts to its ``/room``."""

    def __init__(self) -> None:
        self.connections: set[RawServerConnection] = set()
        self.room: set[RawServerConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Start listening on a free port and return it."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: RawServerConnection(self), "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        for connection in list(self.connections):
            connection.transport.close()
        await self._server.wait_closed()

    def broadcast(self, count: int, frame: bytes) -> None:
        """Write ``frame`` to every member of the room, ``count`` times, in a task."""
        task = asyncio.create_task(self._broadcast(count, frame))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _broadcast(self, count: int, frame: bytes) -> None:
        for _ in range(count):
            for member in self.room:
                member.transport.write(frame)
            # One round per event loop iteration, as the libraries do it.
            await asyncio.sleep(0)

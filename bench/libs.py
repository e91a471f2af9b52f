"""The libraries under test, each as a server and as a client.

Run by ``run.py`` as a worker (see ``procs.py``): ``python libs.py NAME``.
Every library runs the same application, written in its usual style:

- server paths: ``/echo`` sends every message back, ``/ack`` answers every
  message with ``b"ok"``, ``/room`` joins a room where a text message
  ``"COUNT SIZE"`` makes the server broadcast COUNT binary messages of SIZE
  bytes to every member, one broadcast per event loop iteration, and
  ``/idle`` receives and ignores messages;
- client runs: ``latency`` sends a 16-byte text message and waits for its
  echo, ``large`` sends binary messages while another task receives their
  acknowledgments.

Settings are the libraries' defaults, except compression (off unless the
scenario wants it) and the largest message (32 MiB, for S3).

``raw-asyncio`` is no library: plain asyncio protocols that do the least the
fixed peers accept (``raw.py``), the limit of anything built on the event
loop.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import gc
import os
import socket
import sys
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixed import LoadConnection, open_connection
from procs import Handler, Instructions, Message, Unsupported, rss_bytes, run_worker
from raw import RawServer
from wire import OP_BINARY, OP_TEXT, encode_frame

if TYPE_CHECKING:
    import aiohttp
    import picows
    import websockets.asyncio.server
    from aiohttp import web

    import websockets_typed

MAX_SIZE = 2**25
LATENCY_TEXT = "abcdefghijklmnop"


class Client(abc.ABC):
    """An open client connection of one library."""

    @abc.abstractmethod
    async def latency(self, count: int) -> None:
        """Send a 16-byte text message and await its echo, ``count`` times."""

    @abc.abstractmethod
    async def large(self, payload: bytes, count: int) -> None:
        """Send ``payload`` ``count`` times and await as many acknowledgments."""


class Library(abc.ABC):
    """A WebSocket library: start a server, open a client connection."""

    name: ClassVar[str]
    deflate: ClassVar[bool] = True
    """Whether it supports permessage-deflate."""
    like_aiohttp = False
    """Compress as aiohttp does by default, if the library can be told to
    (S7 same): level 1, ``memLevel=8``, 15-bit windows both ways."""

    @abc.abstractmethod
    async def start_server(self, compression: bool) -> int:
        """Serve the application on a free port of 127.0.0.1 and return the port."""

    @abc.abstractmethod
    async def stop_server(self) -> None:
        """Stop the server and close its connections."""

    @abc.abstractmethod
    def client(self, port: int, path: str) -> AbstractAsyncContextManager[Client]:
        """Connect to ``ws://127.0.0.1:port/path``, compression off."""


# websockets_typed and websockets share their API: they run the same code.


class _Connection(Protocol):
    """What the application uses of a websockets-style connection."""

    async def send(self, message: str | bytes) -> None: ...

    async def recv(self) -> str | bytes: ...

    def __aiter__(self) -> AsyncIterator[str | bytes]: ...


C = TypeVar("C", bound=_Connection)


async def _application(
    connection: C, path: str, room: set[C], broadcast: Callable[[set[C], bytes], object]
) -> None:
    """The server's application, for websockets-style libraries."""
    if path == "/echo":
        async for message in connection:
            await connection.send(message)
    elif path == "/ack":
        async for _ in connection:
            await connection.send(b"ok")
    elif path == "/room":
        room.add(connection)
        try:
            async for message in connection:
                count, size = map(int, message.split())
                payload = bytes(size)
                for _ in range(count):
                    broadcast(room, payload)
                    await asyncio.sleep(0)
        finally:
            room.discard(connection)
    else:
        async for _ in connection:
            pass


class _StyleClient(Client):
    def __init__(self, connection: _Connection) -> None:
        self.connection = connection

    async def latency(self, count: int) -> None:
        connection = self.connection
        for _ in range(count):
            await connection.send(LATENCY_TEXT)
            await connection.recv()

    async def large(self, payload: bytes, count: int) -> None:
        connection = self.connection

        async def receive() -> None:
            for _ in range(count):
                await connection.recv()

        receiver = asyncio.create_task(receive())
        for _ in range(count):
            await connection.send(payload)
        await receiver


class WebsocketsTyped(Library):
    name = "websockets_typed"

    def __init__(self) -> None:
        import websockets_typed  # noqa: PLC0415 - a worker imports one library only

        self.module = websockets_typed
        self.server: websockets_typed.Server | None = None

    async def start_server(self, compression: bool) -> int:
        module = self.module
        room: set[websockets_typed.ServerConnection] = set()

        async def handler(connection: websockets_typed.ServerConnection) -> None:
            await _application(connection, connection.path, room, module.broadcast)

        extensions = None
        if compression and self.like_aiohttp:
            from websockets_typed.extensions.permessage_deflate import (  # noqa: PLC0415
                ServerPerMessageDeflateFactory,
            )

            extensions = [
                ServerPerMessageDeflateFactory(compress_settings={"level": 1, "memLevel": 8})
            ]
        self.server = await module.serve(
            handler,
            "127.0.0.1",
            0,
            compression="deflate" if compression and extensions is None else None,
            extensions=extensions,
            max_size=MAX_SIZE,
        )
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def stop_server(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @asynccontextmanager
    async def client(self, port: int, path: str) -> AsyncGenerator[Client, None]:
        uri = f"ws://127.0.0.1:{port}{path}"
        async with self.module.connect(uri, compression=None, max_size=MAX_SIZE) as connection:
            yield _StyleClient(connection)


class Websockets(Library):
    name = "websockets"

    def __init__(self) -> None:
        import websockets.asyncio.client  # noqa: PLC0415
        import websockets.asyncio.server  # noqa: PLC0415

        self.client_module = websockets.asyncio.client
        self.server_module = websockets.asyncio.server
        self.server: websockets.asyncio.server.Server | None = None

    async def start_server(self, compression: bool) -> int:
        module = self.server_module
        room: set[websockets.asyncio.server.ServerConnection] = set()

        def broadcast(
            connections: set[websockets.asyncio.server.ServerConnection], message: bytes
        ) -> None:
            module.broadcast(connections, message)

        async def handler(connection: websockets.asyncio.server.ServerConnection) -> None:
            await _application(connection, connection.request.path, room, broadcast)  # type: ignore[union-attr]

        extensions = None
        if compression and self.like_aiohttp:
            from websockets.extensions.permessage_deflate import (  # noqa: PLC0415
                ServerPerMessageDeflateFactory,
            )

            extensions = [
                ServerPerMessageDeflateFactory(compress_settings={"level": 1, "memLevel": 8})
            ]
        self.server = await module.serve(
            handler,
            "127.0.0.1",
            0,
            compression="deflate" if compression and extensions is None else None,
            extensions=extensions,
            max_size=MAX_SIZE,
        )
        port: int = next(iter(self.server.sockets)).getsockname()[1]
        return port

    async def stop_server(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @asynccontextmanager
    async def client(self, port: int, path: str) -> AsyncGenerator[Client, None]:
        uri = f"ws://127.0.0.1:{port}{path}"
        async with self.client_module.connect(
            uri, compression=None, max_size=MAX_SIZE
        ) as connection:
            yield _StyleClient(connection)


class Aiohttp(Library):
    name = "aiohttp"

    def __init__(self) -> None:
        import aiohttp  # noqa: PLC0415
        from aiohttp import web  # noqa: PLC0415

        self.aiohttp = aiohttp
        self.web = web
        self.runner: web.AppRunner | None = None

    async def start_server(self, compression: bool) -> int:
        from aiohttp import WSMsgType, web  # noqa: PLC0415

        room: set[web.WebSocketResponse] = set()

        async def handler(request: web.Request) -> web.WebSocketResponse:
            connection = web.WebSocketResponse(compress=compression, max_msg_size=MAX_SIZE)
            await connection.prepare(request)
            path = request.path
            if path == "/echo":
                async for message in connection:
                    if message.type is WSMsgType.TEXT:
                        await connection.send_str(message.data)
                    elif message.type is WSMsgType.BINARY:
                        await connection.send_bytes(message.data)
            elif path == "/ack":
                async for _ in connection:
                    await connection.send_bytes(b"ok")
            elif path == "/room":
                room.add(connection)
                try:
                    async for message in connection:
                        count, size = map(int, message.data.split())
                        payload = bytes(size)
                        for _ in range(count):
                            # aiohttp has no broadcast(): send to each in turn.
                            for member in list(room):
                                await member.send_bytes(payload)
                            await asyncio.sleep(0)
                finally:
                    room.discard(connection)
            else:
                async for _ in connection:
                    pass
            return connection

        application = web.Application()
        application.router.add_get("/{path:.*}", handler)
        self.runner = web.AppRunner(application, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port: int = self.runner.addresses[0][1]
        return port

    async def stop_server(self) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    @asynccontextmanager
    async def client(self, port: int, path: str) -> AsyncGenerator[Client, None]:
        url = f"http://127.0.0.1:{port}{path}"
        async with (
            self.aiohttp.ClientSession() as session,
            session.ws_connect(url, compress=0, max_msg_size=MAX_SIZE) as connection,
        ):
            yield _AiohttpClient(connection)


class _AiohttpClient(Client):
    def __init__(self, connection: aiohttp.ClientWebSocketResponse) -> None:
        self.connection = connection

    async def latency(self, count: int) -> None:
        connection = self.connection
        for _ in range(count):
            await connection.send_str(LATENCY_TEXT)
            await connection.receive()

    async def large(self, payload: bytes, count: int) -> None:
        connection = self.connection

        async def receive() -> None:
            for _ in range(count):
                await connection.receive()

        receiver = asyncio.create_task(receive())
        for _ in range(count):
            await connection.send_bytes(payload)
        await receiver


class Picows(Library):
    """picows: frames and callbacks rather than messages and coroutines.

    Its application works frame by frame (no peer here fragments messages),
    and copies payloads to bytes where the others hand bytes to the
    application (/ack), so that S3 measures the same work.
    """

    name = "picows"
    deflate = False

    def __init__(self) -> None:
        import picows  # noqa: PLC0415

        self.picows = picows
        self.server: asyncio.Server | None = None

    async def start_server(self, compression: bool) -> int:
        if compression:
            raise Unsupported("picows has no permessage-deflate")
        import picows  # noqa: PLC0415

        types = picows.WSMsgType
        room: set[picows.WSTransport] = set()
        tasks: set[asyncio.Task[None]] = set()

        async def broadcast(count: int, payload: bytes) -> None:
            for _ in range(count):
                for member in list(room):
                    member.send(types.BINARY, payload)
                await asyncio.sleep(0)

        class Listener(picows.WSListener):
            def __init__(self, path: bytes) -> None:
                self.path = path

            def on_ws_connected(self, transport: picows.WSTransport) -> None:
                if self.path == b"/room":
                    room.add(transport)

            def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
                kind = frame.msg_type
                if kind is types.CLOSE:
                    transport.send_close(frame.get_close_code(), frame.get_close_message())
                    transport.disconnect()
                elif kind is not types.TEXT and kind is not types.BINARY:
                    pass
                elif self.path == b"/echo":
                    transport.send(kind, frame.get_payload_as_memoryview())
                elif self.path == b"/ack":
                    frame.get_payload_as_bytes()
                    transport.send(types.BINARY, b"ok")
                elif self.path == b"/room":
                    count, size = map(int, frame.get_payload_as_bytes().split())
                    task = asyncio.create_task(broadcast(count, bytes(size)))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)

            def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
                room.discard(transport)

        # picows leaves host, port and **kwargs unannotated.
        self.server = await picows.ws_create_server(  # pyright: ignore[reportUnknownMemberType]
            lambda request: Listener(request.path),
            "127.0.0.1",
            0,
            max_frame_size=MAX_SIZE,
        )
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def stop_server(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @asynccontextmanager
    async def client(self, port: int, path: str) -> AsyncGenerator[Client, None]:
        client = _PicowsClient()
        transport, _ = await self.picows.ws_connect(  # pyright: ignore[reportUnknownMemberType]
            lambda: client.listener, f"ws://127.0.0.1:{port}{path}", max_frame_size=MAX_SIZE
        )
        try:
            yield client
        finally:
            transport.send_close(self.picows.WSCloseCode.OK)
            await transport.wait_disconnected()


class _Arrivals:
    """Messages counted by a callback, awaited by a coroutine (callback-style clients)."""

    def __init__(self) -> None:
        self._received = 0
        self._target = 0
        self._waiter: asyncio.Future[None] | None = None

    def arrived(self, count: int) -> None:
        """Account for ``count`` messages received."""
        self._received += count
        waiter = self._waiter
        if waiter is not None and self._received >= self._target:
            self._waiter = None
            waiter.set_result(None)

    def wait_for(self, count: int) -> asyncio.Future[None]:
        """A future resolved once ``count`` more messages arrived."""
        waiter = asyncio.get_running_loop().create_future()
        self._target = self._received + count
        self._waiter = waiter
        return waiter


class _PicowsClient(Client):
    def __init__(self) -> None:
        import picows  # noqa: PLC0415

        self.types = picows.WSMsgType
        self.transport: picows.WSTransport | None = None
        self.arrivals = _Arrivals()
        self._writable = asyncio.Event()
        self._writable.set()
        client = self

        class Listener(picows.WSListener):
            def on_ws_connected(self, transport: picows.WSTransport) -> None:
                client.transport = transport

            def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
                if frame.msg_type is client.types.TEXT or frame.msg_type is client.types.BINARY:
                    client.arrivals.arrived(1)

            def pause_writing(self) -> None:
                client._writable.clear()

            def resume_writing(self) -> None:
                client._writable.set()

        self.listener = Listener()

    async def latency(self, count: int) -> None:
        transport = self.transport
        assert transport is not None
        text, kind = LATENCY_TEXT.encode(), self.types.TEXT
        for _ in range(count):
            waiter = self.arrivals.wait_for(1)
            transport.send(kind, text)
            await waiter

    async def large(self, payload: bytes, count: int) -> None:
        transport = self.transport
        assert transport is not None
        waiter = self.arrivals.wait_for(count)
        for _ in range(count):
            # Honour backpressure, as the others' send() does.
            await self._writable.wait()
            transport.send(self.types.BINARY, payload)
        await waiter


class RawAsyncio(Library):
    """No WebSocket library: plain asyncio protocols, the limit of the event loop.

    The server is ``raw.py``'s. The client is the load generator's connection
    (``fixed.py``): it writes frames masked once, before the clock starts, and
    counts the answers by their headers.
    """

    name = "raw-asyncio"
    deflate = False

    def __init__(self) -> None:
        self.server: RawServer | None = None

    async def start_server(self, compression: bool) -> int:
        self.server = RawServer()
        return await self.server.start()

    async def stop_server(self) -> None:
        assert self.server is not None
        await self.server.stop()

    @asynccontextmanager
    async def client(self, port: int, path: str) -> AsyncGenerator[Client, None]:
        connection = await open_connection(port, path, None)
        try:
            yield _RawClient(connection)
        finally:
            connection.close()
            await connection.lost


class _RawClient(Client):
    def __init__(self, connection: LoadConnection) -> None:
        self.connection = connection
        self.arrivals = _Arrivals()
        connection.on_messages = self.arrivals.arrived
        self._frames: dict[bytes, bytes] = {}

    def _frame(self, opcode: int, payload: bytes) -> bytes:
        """The masked frame of ``payload``, computed at its first use (the warm-up)."""
        frame = self._frames.get(payload)
        if frame is None:
            frame = self._frames[payload] = encode_frame(opcode, payload, mask=True)
        return frame

    async def latency(self, count: int) -> None:
        write = self.connection.transport.write
        frame = self._frame(OP_TEXT, LATENCY_TEXT.encode())
        for _ in range(count):
            waiter = self.arrivals.wait_for(1)
            write(frame)
            await waiter

    async def large(self, payload: bytes, count: int) -> None:
        frame = self._frame(OP_BINARY, payload)
        waiter = self.arrivals.wait_for(count)
        for _ in range(count):
            # In slices, each when the transport has room: backpressure.
            await self.connection.write_large(frame)
        await waiter


# Threading libraries: blocking calls, a thread per connection on the server
# side. The worker's event loop only dispatches requests; the timed work
# runs in the library's threads (servers) or blocks the loop (clients).


class _SyncConnection(Protocol):
    """What the application uses of a websockets.sync-style connection."""

    def send(self, message: str | bytes) -> None: ...

    def recv(self) -> str | bytes: ...


def _sync_application(connection: _SyncConnection, path: str) -> None:
    """The server's application for threading libraries: ``/echo`` and ``/ack``."""
    if path == "/echo":
        while True:
            connection.send(connection.recv())
    elif path == "/ack":
        while True:
            connection.recv()
            connection.send(b"ok")
    else:
        while True:
            connection.recv()


class _SyncClient(Client):
    def __init__(self, connection: _SyncConnection) -> None:
        self.connection = connection

    async def latency(self, count: int) -> None:
        send, recv = self.connection.send, self.connection.recv
        for _ in range(count):
            send(LATENCY_TEXT)
            recv()

    async def large(self, payload: bytes, count: int) -> None:
        connection = self.connection

        def receive() -> None:
            for _ in range(count):
                connection.recv()

        receiver = threading.Thread(target=receive)
        receiver.start()
        for _ in range(count):
            connection.send(payload)
        receiver.join()


class _SyncServer(Protocol):
    socket: socket.socket

    def serve_forever(self) -> None: ...

    def shutdown(self) -> None: ...


class _SyncLibrary(Library):
    """A threading library whose server runs in a thread of the worker."""

    server: _SyncServer | None = None

    def _serve(self, server: _SyncServer) -> int:
        self.server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port: int = server.socket.getsockname()[1]
        return port

    async def stop_server(self) -> None:
        assert self.server is not None
        await asyncio.to_thread(self.server.shutdown)


class WebsocketsTypedSync(_SyncLibrary):
    name = "websockets_typed.sync"

    async def start_server(self, compression: bool) -> int:
        from websockets_typed.sync.server import ServerConnection, serve  # noqa: PLC0415

        def handler(connection: ServerConnection) -> None:
            assert connection.request is not None
            _sync_application(connection, connection.request.path)

        return self._serve(
            serve(
                handler,
                "127.0.0.1",
                0,
                compression="deflate" if compression else None,
                max_size=MAX_SIZE,
            )
        )

    @asynccontextmanager
    async def client(self, port: int, path: str) -> AsyncGenerator[Client, None]:
        from websockets_typed.sync.client import connect  # noqa: PLC0415

        uri = f"ws://127.0.0.1:{port}{path}"
        with connect(uri, compression=None, max_size=MAX_SIZE) as connection:
            yield _SyncClient(connection)


class WebsocketsSync(_SyncLibrary):
    name = "websockets.sync"

    async def start_server(self, compression: bool) -> int:
        from websockets.sync.server import ServerConnection, serve  # noqa: PLC0415

        def handler(connection: ServerConnection) -> None:
            assert connection.request is not None
            _sync_application(connection, connection.request.path)

        return self._serve(
            serve(
                handler,
                "127.0.0.1",
                0,
                compression="deflate" if compression else None,
                max_size=MAX_SIZE,
            )
        )

    @asynccontextmanager
    async def client(self, port: int, path: str) -> AsyncGenerator[Client, None]:
        from websockets.sync.client import connect  # noqa: PLC0415

        uri = f"ws://127.0.0.1:{port}{path}"
        with connect(uri, compression=None, max_size=MAX_SIZE) as connection:
            yield _SyncClient(connection)


class WebsocketClient(Library):
    """The ``websocket-client`` distribution: a client only."""

    name = "websocket-client"
    deflate = False

    async def start_server(self, compression: bool) -> int:
        raise Unsupported("websocket-client has no server")

    async def stop_server(self) -> None:
        pass

    @asynccontextmanager
    async def client(self, port: int, path: str) -> AsyncGenerator[Client, None]:
        import websocket  # noqa: PLC0415

        connection = websocket.create_connection(f"ws://127.0.0.1:{port}{path}")

        class Adapter:
            # send() returns the number of bytes sent: not what _SyncClient expects.
            def send(self, message: str | bytes) -> None:
                connection.send(message)

            recv = connection.recv

        try:
            yield _SyncClient(Adapter())
        finally:
            connection.close()


LIBRARIES: dict[str, type[Library]] = {
    library.name: library
    for library in (
        WebsocketsTyped,
        Websockets,
        Aiohttp,
        Picows,
        RawAsyncio,
        WebsocketsTypedSync,
        WebsocketsSync,
        WebsocketClient,
    )
}


class LibraryWorker:
    """A library's requests: servers, memory, client runs."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.serving = False

    def handlers(self) -> dict[str, Handler]:
        return {
            "start": self.start,
            "stop": self.stop,
            "memory": self.memory,
            "client": self.client,
            "exit": self.stop,
        }

    async def start(self, request: Message) -> Message:
        if request.get("compression") and not self.library.deflate:
            raise Unsupported(f"{self.library.name} has no permessage-deflate")
        self.library.like_aiohttp = bool(request.get("like_aiohttp"))
        port = await self.library.start_server(bool(request.get("compression")))
        self.serving = True
        return {"port": port}

    async def stop(self, request: Message) -> Message:
        if self.serving:
            self.serving = False
            await self.library.stop_server()
        return {}

    async def memory(self, request: Message) -> Message:
        """Our resident set size, once garbage is collected and the loop is idle."""
        await asyncio.sleep(0.2)
        gc.collect()
        return {"rss": rss_bytes(os.getpid())}

    async def client(self, request: Message) -> Message:
        """C1 (``latency``) and C2 (``large``): timed client runs after a warm-up.

        The CPU time is this process's, during the timed part only.
        """
        kind, port, count, warmup = (
            request["kind"],
            request["port"],
            request["count"],
            request["warmup"],
        )
        payload = os.urandom(request["size"])
        path, ops = ("/echo", count) if kind == "latency" else ("/ack", count * len(payload))

        def run(client: Client, number: int) -> Awaitable[None]:
            if kind == "latency":
                return client.latency(number)
            return client.large(payload, number)

        async with self.library.client(port, path) as client:
            await run(client, warmup)
            if request.get("callgrind"):
                with Instructions(os.getpid(), Path(os.environ["BENCH_CALLGRIND_OUT"])) as counted:
                    await run(client, count)
                return {"instructions": counted.count, "ops": ops}
            start, cpu = time.perf_counter(), time.process_time()
            await run(client, count)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        return {"seconds": seconds, "cpu": cpu, "ops": ops}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("library", choices=sorted(LIBRARIES))
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    library = LIBRARIES[args.library]()
    run_worker(LibraryWorker(library).handlers(), uvloop=args.uvloop)


if __name__ == "__main__":
    main()

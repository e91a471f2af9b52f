"""Values that a server connection computes only when asked, checked when asked.

The handshake path skips building what most connections never read (see
Connection.__aiter__, bench/run.py S4): these tests fail if what it builds
later, or decides without building, comes out wrong.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref

import pytest
from raw_peer import OP_CLOSE, build_frame

from websockets_typed.asyncio.client import connect
from websockets_typed.asyncio.server import Server, ServerConnection, _ConnectionLogger, serve
from websockets_typed.datastructures import (
    Headers,
    add_serialized,
    headers_from_parts,
    serialized_line,
)
from websockets_typed.exceptions import ConnectionClosedError, ConnectionClosedOK
from websockets_typed.protocol import CLOSED, OPEN
from websockets_typed.server import ServerProtocol


@pytest.mark.parametrize(
    ("code", "ends_normally"),
    [(1000, True), (1001, True), (1011, False), (4000, False)],
)
async def test_async_for_ends_or_raises_as_the_closure_says(code: int, ends_normally: bool) -> None:
    outcome: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

    async def handler(connection: ServerConnection) -> None:
        try:
            async for _ in connection:
                pass
        except BaseException as exc:
            outcome.set_result(exc)
            raise
        outcome.set_result(None)

    async with serve(handler, "127.0.0.1", 0, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with asyncio.timeout(5):
            client = await connect(f"ws://127.0.0.1:{port}/")
            await client.close(code)
            exc = await outcome
    if ends_normally:
        assert exc is None
    else:
        assert isinstance(exc, ConnectionClosedError)
        assert exc.rcvd is not None
        assert exc.rcvd.code == code
        assert exc.sent is not None
        assert exc.sent.code == code
        assert exc.rcvd_then_sent is True


@pytest.mark.parametrize(
    ("payload", "ok"),
    [
        (b"", True),  # no code: 1005 received, 1000 sent back
        (b"\x03\xe8", True),
        (b"\x03\xe9bye", True),
        (b"\x0f\xa0", False),
    ],
)
def test_closed_ok_agrees_with_close_exc(payload: bytes, ok: bool) -> None:
    protocol = ServerProtocol(state=OPEN)
    protocol.receive_data(build_frame(OP_CLOSE, payload, mask_key=b"abcd"))
    protocol.receive_eof()
    assert protocol.state is CLOSED
    assert protocol.closed_ok is ok
    assert isinstance(protocol.close_exc, ConnectionClosedOK) is ok


async def test_a_server_connection_is_freed_without_the_garbage_collector() -> None:
    # Its end breaks the reference cycles it had (the queue's pause/resume
    # callbacks, the logger's back reference; on uvloop, the transport drops
    # the BytesReads that reads for it, see _bytesreads): reference counting
    # frees it, large frames or not.
    refs: list[weakref.ref[ServerConnection]] = []

    async def handler(connection: ServerConnection) -> None:
        refs.append(weakref.ref(connection))
        async for _ in connection:
            pass

    gc.collect()
    gc.disable()
    try:
        server = await serve(handler, "127.0.0.1", 0, ping_interval=None)
        port = server.sockets[0].getsockname()[1]
        async with asyncio.timeout(5):
            async with connect(f"ws://127.0.0.1:{port}/") as client:
                await client.send("hello")
                await client.send(bytes(2**17))
                await client.send("bye")
            server.close()
            await server.wait_closed()
        (ref,) = refs
        assert ref() is None
    finally:
        gc.enable()


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def connection_of(adapter: _ConnectionLogger) -> object:
    """Read it anew: type checkers narrow a property to what was just assigned."""
    return adapter.connection


async def test_connection_logger_fields_while_the_connection_lives_and_after() -> None:
    records = Records()
    base = logging.getLogger("tests.lazy_connection_values")
    base.addHandler(records)
    base.setLevel(logging.INFO)
    base.propagate = False

    async def handler(connection: ServerConnection) -> None:
        connection.logger.info("in handler")
        await connection.close()

    try:
        async with serve(handler, "127.0.0.1", 0, logger=base, ping_interval=None) as server:
            port = server.sockets[0].getsockname()[1]
            async with asyncio.timeout(5), connect(f"ws://127.0.0.1:{port}/") as client:
                await client.wait_closed()
                local = client.local_address
            adapter = _ConnectionLogger(base)
            adapter.info("before a connection")
            connection = ServerConnection(ServerProtocol(logger=adapter), server)
            adapter.connection = connection
            assert adapter.connection is connection
            adapter.info("before connection_made")
            # Another, never logged while it lived: no record holds it.
            other = _ConnectionLogger(base)
            other.connection = ServerConnection(ServerProtocol(logger=other), server)
            gc.collect()
            assert connection_of(other) is None
            other.info("after the connection")
    finally:
        base.removeHandler(records)
    fields = {record.getMessage(): vars(record) for record in records.records}
    in_handler = fields["in handler"]
    assert isinstance(in_handler["websocket"], ServerConnection)
    assert in_handler["connection_id"] == str(in_handler["websocket"].id)
    assert in_handler["remote_address"] == local
    assert "connection_id" not in fields["before a connection"]
    before = fields["before connection_made"]
    assert before["websocket"] is connection
    assert before["remote_address"] is None
    after = fields["after the connection"]
    assert (after["websocket"], after["connection_id"], after["remote_address"]) == (None,) * 3


_REQUEST = (
    "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{}\r\n"
)


async def response_head(port: int, extra_lines: str = "") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(_REQUEST.format(extra_lines).encode())
        return await reader.readuntil(b"\r\n\r\n")
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.mark.parametrize("deflate", [False, True])
async def test_server_header_line_checked_once_per_server(deflate: bool) -> None:
    # The line is encoded once per server; the headers, and their order,
    # are what setting the header on each response gives.
    async def handler(connection: ServerConnection) -> None:
        await connection.wait_closed()

    offer = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else ""
    async with serve(handler, "127.0.0.1", 0, server_header="Mine/1.0 (été)") as server:
        port = server.sockets[0].getsockname()[1]
        async with asyncio.timeout(5):
            head = await response_head(port, offer)
            server.server_header = "Other/2.0"
            changed = await response_head(port, offer)
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 101 Switching Protocols"
    assert lines[-3:] == [b"Server: Mine/1.0 (\xc3\xa9t\xc3\xa9)", b"", b""]
    assert head.count(b"Server:") == 1
    assert (b"Sec-WebSocket-Extensions: permessage-deflate" in head) is deflate
    assert changed.split(b"\r\n")[-3:] == [b"Server: Other/2.0", b"", b""]
    assert changed.count(b"Server:") == 1


async def test_server_header_already_set_by_extra_headers() -> None:
    async def handler(connection: ServerConnection) -> None:
        await connection.wait_closed()

    async with serve(
        handler, "127.0.0.1", 0, server_header="Mine/1.0", extra_headers={"Server": "Extra/1.0"}
    ) as server:
        port = server.sockets[0].getsockname()[1]
        async with asyncio.timeout(5):
            head = await response_head(port)
    assert head.endswith(b"Server: Extra/1.0\r\nServer: Mine/1.0\r\n\r\n")


def test_add_serialized_matches_setting_the_header() -> None:
    line = serialized_line("Server", "Mine/1.0")
    assert line == b"Server: Mine/1.0\r\n"
    assert serialized_line("Server", "bad\r\nInjected: yes") is None
    fast = headers_from_parts({"date": "today"}, ["Date", "today"], b"Date: today\r\n")
    add_serialized(fast, "Server", "server", "Mine/1.0", line)
    slow = Headers()
    slow["Date"] = "today"
    slow["Server"] = "Mine/1.0"
    assert list(fast.raw_items()) == list(slow.raw_items())
    assert fast["server"] == "Mine/1.0"
    assert fast.serialize() == slow.serialize() == b"Date: today\r\nServer: Mine/1.0\r\n\r\n"


def test_server_connection_runs_on_its_servers_loop() -> None:
    # It takes its server's loop rather than asking asyncio for the running
    # one (a getpid() system call per connection).
    async def handler(connection: ServerConnection) -> None:
        pass

    async def new_server() -> Server:
        return Server(handler)

    async def new_connection(server: Server) -> ServerConnection:
        return ServerConnection(ServerProtocol(), server)

    loop = asyncio.new_event_loop()
    other = asyncio.new_event_loop()
    try:
        server = loop.run_until_complete(new_server())
        connection = other.run_until_complete(new_connection(server))
        assert connection.loop is loop
        assert connection.connection_lost_waiter.get_loop() is loop
    finally:
        loop.close()
        other.close()

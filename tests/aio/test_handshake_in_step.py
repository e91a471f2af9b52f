"""The server answers the opening handshake in the step that receives the request.

No task runs before the handler: a connection waiting for its request is
tracked by the server with its ``connection_lost_waiter``; hooks that return
awaitables get a task of their own, which then runs the handler.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from collections.abc import Awaitable

import pytest
from raw_peer import build_frame, handshake_request, parse_response, raw_stream

from websockets_typed.asyncio.client import connect
from websockets_typed.asyncio.server import Server, ServerConnection, serve
from websockets_typed.exceptions import AbortHandshake, InvalidStatus
from websockets_typed.http11 import Request, Response

TEXT = 0x1


def port_of(server: Server) -> int:
    port: int = server.sockets[0].getsockname()[1]
    return port


def records_with(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if text in record.getMessage()]


class Tracked(ServerConnection):
    """Reports the connections it makes and loses, with whether a task ran them."""

    made: asyncio.Queue[tuple[Tracked, bool]]
    lost: asyncio.Queue[Tracked]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        without_task = self.server._handlers[self] is self.connection_lost_waiter
        Tracked.made.put_nowait((self, without_task))

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        Tracked.lost.put_nowait(self)


@pytest.fixture(autouse=True)
def info_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="websockets_typed")


@pytest.fixture
def tracked() -> type[Tracked]:
    Tracked.made = asyncio.Queue()
    Tracked.lost = asyncio.Queue()
    return Tracked


async def echo(connection: ServerConnection) -> None:
    async for message in connection:
        await connection.send(message)


async def test_no_task_until_the_request(tracked: type[Tracked]) -> None:
    tasks = len(asyncio.all_tasks())
    async with (
        asyncio.timeout(5),
        serve(echo, "127.0.0.1", 0, create_connection=tracked) as server,
        raw_stream(port_of(server)) as (reader, writer),
    ):
        connection, without_task = await tracked.made.get()
        assert without_task
        assert len(asyncio.all_tasks()) == tasks
        writer.write(handshake_request())
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 ")
        # The handler runs in a task of its own.
        assert isinstance(server._handlers[connection], asyncio.Task)


async def test_frames_behind_the_request_are_received() -> None:
    # A client may not send frames before the response (RFC 6455, 4.1),
    # but they are received if it does, in the step that answers.
    async with (
        asyncio.timeout(5),
        serve(echo, "127.0.0.1", 0, compression=None) as server,
        raw_stream(port_of(server)) as (reader, writer),
    ):
        writer.write(handshake_request() + build_frame(TEXT, b"early", mask_key=b"abcd"))
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 ")
        expected = build_frame(TEXT, b"early")
        assert await reader.readexactly(len(expected)) == expected


async def test_close_during_a_handshake_without_task_answers_503_and_waits(
    tracked: type[Tracked],
) -> None:
    async with asyncio.timeout(5):
        server = await serve(echo, "127.0.0.1", 0, create_connection=tracked)
        async with raw_stream(port_of(server)) as (reader, writer):
            await tracked.made.get()
            server.close()
            closed = asyncio.create_task(server.wait_closed())
            writer.write(handshake_request())
            response = parse_response(await reader.read())
            assert response.status == 503
            # The client hasn't closed its side: the server waits for it.
            assert not closed.done()
        await closed
        assert server._handlers == {}


@pytest.mark.parametrize("awaited", [False, True], ids=["sync", "async"])
async def test_sync_and_async_hooks_answer_alike(awaited: bool) -> None:
    async def later(value: Response | None) -> Response | None:
        await asyncio.sleep(0)
        return value

    def answer(value: Response | None) -> Response | Awaitable[Response | None] | None:
        return later(value) if awaited else value

    def process_request(
        connection: ServerConnection, request: Request
    ) -> Response | Awaitable[Response | None] | None:
        if request.path == "/missing":
            return answer(connection.respond(404, "Not here.\n"))
        return answer(None)

    def process_response(
        connection: ServerConnection, request: Request, response: Response
    ) -> Response | Awaitable[Response | None] | None:
        response.headers["X-Hook"] = "seen"
        return answer(None)

    async with (
        asyncio.timeout(5),
        serve(
            echo,
            "127.0.0.1",
            0,
            process_request=process_request,
            process_response=process_response,
        ) as server,
    ):
        uri = f"ws://127.0.0.1:{port_of(server)}"
        async with connect(uri) as websocket:
            assert websocket.response is not None
            assert websocket.response.headers["X-Hook"] == "seen"
            await websocket.send("hello")
            assert await websocket.recv() == "hello"
        with pytest.raises(InvalidStatus) as raised:
            await connect(f"{uri}/missing")
        assert raised.value.response.status_code == 404
        assert raised.value.response.headers["X-Hook"] == "seen"


@pytest.mark.parametrize("hook", ["process_request", "process_response"])
async def test_awaited_hook_that_raises_answers_500_and_logs_once(
    hook: str, caplog: pytest.LogCaptureFixture
) -> None:

    async def broken(*args: object) -> Response | None:
        await asyncio.sleep(0)
        raise RuntimeError("broken hook")

    async with asyncio.timeout(5), serve(echo, "127.0.0.1", 0, **{hook: broken}) as server:  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
        with pytest.raises(InvalidStatus) as raised:
            await connect(f"ws://127.0.0.1:{port_of(server)}")
    assert raised.value.response.status_code == 500
    failures = records_with(caplog, f"{hook} failed")
    assert [record.levelno for record in failures] == [logging.ERROR]


async def test_awaited_hook_that_aborts_answers_its_status() -> None:
    async def process_request(connection: ServerConnection, request: Request) -> None:
        await asyncio.sleep(0)
        raise AbortHandshake(403, [], b"No.\n")

    async with (
        asyncio.timeout(5),
        serve(echo, "127.0.0.1", 0, process_request=process_request) as server,
    ):
        with pytest.raises(InvalidStatus) as raised:
            await connect(f"ws://127.0.0.1:{port_of(server)}")
    assert raised.value.response.status_code == 403
    assert raised.value.response.body == b"No.\n"


async def test_client_gone_before_the_request_is_logged_once(
    tracked: type[Tracked], caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        asyncio.timeout(5),
        serve(echo, "127.0.0.1", 0, create_connection=tracked) as server,
    ):
        async with raw_stream(port_of(server)):
            connection, _ = await tracked.made.get()
        assert await tracked.lost.get() is connection
        assert connection not in server._handlers
    assert len(records_with(caplog, "opening handshake failed")) == 1


async def test_open_timeout_without_task_aborts_and_logs_once(
    tracked: type[Tracked], caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        asyncio.timeout(5),
        serve(echo, "127.0.0.1", 0, open_timeout=0.1, create_connection=tracked) as server,
        raw_stream(port_of(server)) as (reader, _),
    ):
        connection, without_task = await tracked.made.get()
        assert without_task
        assert await reader.read() == b""
        assert await tracked.lost.get() is connection
        assert connection not in server._handlers
    assert len(records_with(caplog, "opening handshake timed out")) == 1
    assert records_with(caplog, "opening handshake failed") == []


# The end: no timer holds a connection that closed.


async def test_closed_connections_are_freed_at_once(caplog: pytest.LogCaptureFixture) -> None:
    # Both sides close the TCP connection with nothing left to flush: no
    # close_timeout timer stays armed, holding them for 10 seconds. (Log
    # records captured at INFO would hold them: the level is WARNING here.)
    caplog.set_level(logging.WARNING, logger="websockets_typed")
    served: list[weakref.ref[ServerConnection]] = []

    async def handler(connection: ServerConnection) -> None:
        served.append(weakref.ref(connection))
        await echo(connection)

    async with asyncio.timeout(5), serve(handler, "127.0.0.1", 0) as server:
        client = await connect(f"ws://127.0.0.1:{port_of(server)}")
        await client.close()
        while server._handlers:
            await asyncio.sleep(0)
        freed = weakref.ref(client)
        del client
        gc.collect()
        assert freed() is None
        assert [ref() for ref in served] == [None]

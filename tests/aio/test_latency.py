"""Tests of the round trip's critical path (bench/run.py, S1, C1 and S4).

A task waiting in recv() wakes in the step that received the message, not
one iteration of the event loop later: the protocol callback steps it (see
:func:`wake_future`), on every loop. A task waiting for the opening
handshake or for the end of the connection does so through a
:class:`Waiter` on asyncio's own event loops; on uvloop, which runs it
before its next poll anyway, it waits on a Future. These tests check when
the waiting task runs, on real connections and both loops, and the Waiter's
contract with asyncio's tasks (cancellation, errors in callbacks).
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, NoReturn

import pytest

from websockets_typed import server as sansio_server
from websockets_typed.asyncio._waiter import Waiter, wake_future
from websockets_typed.asyncio.client import ClientConnection, connect
from websockets_typed.asyncio.messages import Assembler
from websockets_typed.asyncio.server import ServerConnection, serve
from websockets_typed.exceptions import ConnectionClosedOK
from websockets_typed.frames import Frame, Opcode, serialize_frame
from websockets_typed.http11 import Request, Response

# Helpers.


class Steps:
    """Records whether a task was done right after each read (buffer_updated() call).

    Only for reads that start once the task exists: the handshake's read
    steps the test itself, which may create the task during that read.
    """

    def __init__(self) -> None:
        self.task: asyncio.Task[Any] | None = None
        self.done_after_read: list[bool] = []

    def read(self, receive: Callable[[], None]) -> None:
        task = self.task
        receive()
        if task is not None:
            self.done_after_read.append(task.done())


async def started(task: asyncio.Task[Any]) -> None:
    """Let a new task run until it waits."""
    for _ in range(3):
        await asyncio.sleep(0)
    assert not task.done()


def text_frame(data: bytes) -> Frame:
    return Frame(Opcode.TEXT, data)


def watched(steps: Steps) -> type[ServerConnection]:
    """A server connection whose reads ``steps`` records."""

    class Watched(ServerConnection):
        def buffer_updated(self, nbytes: int) -> None:
            steps.read(lambda: super(Watched, self).buffer_updated(nbytes))

        def _bytes_received(self, data: bytes) -> None:
            # How uvloop's plain transports deliver reads (see _bytesreads).
            steps.read(lambda: super(Watched, self)._bytes_received(data))

    return Watched


@asynccontextmanager
async def serving(
    create_connection: type[ServerConnection],
) -> AsyncGenerator[tuple[int, asyncio.Queue[ServerConnection]]]:
    """Run a server that hands each connection to the test; yield its port."""
    accepted: asyncio.Queue[ServerConnection] = asyncio.Queue()

    async def handler(connection: ServerConnection) -> None:
        accepted.put_nowait(connection)
        await connection.wait_closed()

    async with serve(
        handler, "127.0.0.1", 0, create_connection=create_connection, compression=None
    ) as server:
        yield server.sockets[0].getsockname()[1], accepted


# recv(): the message reaches the waiting task in the step that received it.


@pytest.mark.parametrize("side", ["server", "client"])
async def test_recv_returns_in_the_step_that_received_the_message(side: str) -> None:
    steps = Steps()

    class WatchedClient(ClientConnection):
        def buffer_updated(self, nbytes: int) -> None:
            steps.read(lambda: super(WatchedClient, self).buffer_updated(nbytes))

        def _bytes_received(self, data: bytes) -> None:
            steps.read(lambda: super(WatchedClient, self)._bytes_received(data))

    server_class = watched(steps) if side == "server" else ServerConnection
    client_class = WatchedClient if side == "client" else ClientConnection
    async with (
        asyncio.timeout(5),
        serving(server_class) as (port, accepted),
        connect(
            f"ws://127.0.0.1:{port}", create_connection=client_class, compression=None
        ) as client,
    ):
        connection = await accepted.get()
        receiver, sender = (connection, client) if side == "server" else (client, connection)
        steps.task = asyncio.create_task(receiver.recv())
        await started(steps.task)
        await sender.send("hello")
        assert await steps.task == "hello"
    assert steps.done_after_read[0]


async def test_data_received_inside_a_task_wakes_recv_through_the_loop() -> None:
    # Stepping a task from inside another one is impossible: recv() then
    # wakes in a later step, as with a Future.
    async def handler(connection: ServerConnection) -> None:
        await connection.wait_closed()

    async with asyncio.timeout(5):
        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            port = server.sockets[0].getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}", compression=None) as client:
                recv = asyncio.create_task(client.recv())
                await started(recv)
                # A server's frame, unmasked, fed by hand from this task.
                client.data_received(b"".join(serialize_frame(text_frame(b"hi"), mask=False)))
                assert not recv.done()
                assert await recv == "hi"


async def test_echo_handler_answers_in_the_step_that_received_the_message() -> None:
    # The handler's send() runs, and writes, before the read's callback returns.
    sent: list[object] = []
    answered: list[bool] = []

    class Watched(ServerConnection):
        def buffer_updated(self, nbytes: int) -> None:
            before = len(sent)
            super().buffer_updated(nbytes)
            answered.append(len(sent) > before)

        def _bytes_received(self, data: bytes) -> None:
            # How uvloop's plain transports deliver reads (see _bytesreads).
            before = len(sent)
            super()._bytes_received(data)
            answered.append(len(sent) > before)

    async def echo(connection: ServerConnection) -> None:
        async for message in connection:
            await connection.send(message)
            sent.append(message)

    async with asyncio.timeout(5):
        async with serve(
            echo, "127.0.0.1", 0, create_connection=Watched, compression=None
        ) as server:
            port = server.sockets[0].getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}", compression=None) as client:
                for message in ("one", "two", "three"):
                    await client.send(message)
                    assert await client.recv() == message
    # The handshake's read, three messages, the Close frame.
    assert answered == [False, True, True, True, False]


# The opening handshake.


@pytest.mark.parametrize("awaited", [False, True])
async def test_handshake_pauses_reading_only_while_a_hook_is_awaited(awaited: bool) -> None:
    # Answered in the step that received the request, on every event loop,
    # the handshake doesn't pause reading; an awaited hook pauses it until
    # the response is sent.
    reading: list[bool] = []

    async def record(connection: ServerConnection) -> Response | None:
        await asyncio.sleep(0)
        reading.append(connection.transport.is_reading())
        return None

    def process_request(
        connection: ServerConnection, request: Request
    ) -> Awaitable[Response | None] | None:
        if awaited:
            return record(connection)
        reading.append(connection.transport.is_reading())
        return None

    def process_response(
        connection: ServerConnection, request: Request, response: Response
    ) -> Awaitable[Response | None] | None:
        return process_request(connection, request)

    async def handler(connection: ServerConnection) -> None:
        reading.append(connection.transport.is_reading())

    async with (
        asyncio.timeout(5),
        serve(
            handler,
            "127.0.0.1",
            0,
            process_request=process_request,
            process_response=process_response,
            compression=None,
        ) as server,
        connect(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}") as client,
    ):
        await client.wait_closed()
    assert reading == [not awaited, not awaited, True]


async def test_request_that_comes_first_is_answered_at_once() -> None:
    # The request arrives in the step that made the connection: it is
    # answered there, before any task runs, and reading never pauses.
    reading: list[bool] = []
    answered: list[bool] = []

    class Early(ServerConnection):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            # Deliver a whole request at once.
            request = (
                b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n"
            )
            self.data_received(request)
            answered.append(self.response is not None)

    async def handler(connection: ServerConnection) -> None:
        reading.append(connection.transport.is_reading())

    async with asyncio.timeout(5):
        async with serve(handler, "127.0.0.1", 0, create_connection=Early) as server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            response = await reader.readuntil(b"\r\n\r\n")
            assert response.startswith(b"HTTP/1.1 101 ")
            writer.close()
            await writer.wait_closed()
    assert answered == [True]
    assert reading == [True]


async def test_close_frame_wakes_recv_in_the_same_step() -> None:
    steps = Steps()

    async def iterate(connection: ServerConnection) -> list[object]:
        return [message async for message in connection]

    async with asyncio.timeout(5):
        async with serving(watched(steps)) as (port, accepted):
            client = await connect(f"ws://127.0.0.1:{port}", compression=None)
            connection = await accepted.get()
            steps.task = asyncio.create_task(iterate(connection))
            await started(steps.task)
            await client.close()
            assert await steps.task == []
    # The Close frame woke the iteration in its step; it then waited for the
    # TCP connection to close, and ended in a later step.
    assert steps.done_after_read[-1] is False
    with pytest.raises(ConnectionClosedOK):
        await connection.recv()


# Assembler: hold() and release().


async def waiting_consumer() -> tuple[Assembler, asyncio.Task[object]]:
    """An assembler that wakes its consumer in step, and a task waiting in its get()."""
    messages = Assembler(wake_in_step=True)
    consumer: asyncio.Task[object] = asyncio.create_task(messages.get())
    await started(consumer)
    return messages, consumer


@pytest.mark.parametrize("end", [False, True])
async def test_release_steps_the_waiting_consumer_at_once(end: bool) -> None:
    messages, consumer = await waiting_consumer()
    seen: list[bool] = []

    def deliver() -> None:
        messages.hold()
        if end:
            messages.close()
        else:
            messages.put(text_frame(b"hi"))
        seen.append(consumer.done())
        messages.release()
        seen.append(consumer.done())

    asyncio.get_running_loop().call_soon(deliver)
    if end:
        with pytest.raises(EOFError):
            await consumer
    else:
        assert await consumer == "hi"
    assert seen == [False, True]


@pytest.mark.parametrize("wake_in_step", [False, True])
async def test_put_without_holding_wakes_through_the_loop(wake_in_step: bool) -> None:
    # Without wake_in_step, hold() does nothing: the consumer waits on a Future.
    messages = Assembler(wake_in_step=wake_in_step)
    consumer: asyncio.Task[object] = asyncio.create_task(messages.get())
    await started(consumer)
    seen: list[bool] = []

    def deliver() -> None:
        if not wake_in_step:
            messages.hold()
        messages.put(text_frame(b"hi"))
        seen.append(consumer.done())
        messages.release()
        seen.append(consumer.done())

    asyncio.get_running_loop().call_soon(deliver)
    assert await consumer == "hi"
    assert seen == [False, False]


async def test_wake_another_waiter_now_or_at_release() -> None:
    loop = asyncio.get_running_loop()
    messages = Assembler(wake_in_step=True)
    first, second = Waiter(loop), Waiter(loop)
    waiting = [asyncio.create_task(wait(first)), asyncio.create_task(wait(second))]
    for task in waiting:
        await started(task)
    seen: list[bool] = []

    def wake() -> None:
        messages.wake(first)
        seen.append(waiting[0].done())
        messages.hold()
        messages.wake(second)
        seen.append(waiting[1].done())
        messages.release()
        seen.append(waiting[1].done())

    loop.call_soon(wake)
    await asyncio.gather(*waiting)
    assert seen == [True, False, True]


@pytest.mark.parametrize("wake_in_step", [False, True])
async def test_wake_a_future_through_the_loop(wake_in_step: bool) -> None:
    # Without wake_in_step, the handshake waits on a Future.
    loop = asyncio.get_running_loop()
    messages = Assembler(wake_in_step=wake_in_step)
    future: asyncio.Future[None] = loop.create_future()
    seen: list[bool] = []

    def wake() -> None:
        messages.hold()
        messages.wake(future)
        messages.wake(future)  # done already: nothing more
        messages.release()
        seen.append(future.done())

    loop.call_soon(wake)
    await future
    assert seen == [True]


# Waiter: what asyncio's tasks expect of a future.


async def wait(waiter: Waiter) -> None:
    await waiter


async def test_waiter_is_a_future_for_asyncio() -> None:
    waiter = Waiter(asyncio.get_running_loop())
    is_future: bool = asyncio.isfuture(waiter)
    assert is_future
    assert not waiter.done()
    with pytest.raises(asyncio.InvalidStateError):
        waiter.result()
    task = asyncio.create_task(wait(waiter))
    await started(task)
    awaited = [waiter.awaited]
    waiter.set_result()
    awaited.append(waiter.awaited)
    assert awaited == [True, False]
    assert waiter.done()
    await task


async def test_waiter_already_done_does_not_suspend() -> None:
    waiter = Waiter(asyncio.get_running_loop())
    waiter.set_result()  # nobody waits: nothing to schedule
    await waiter
    waiter.reset()
    assert not waiter.done()


@pytest.mark.parametrize("message", [None, "stop"])
async def test_cancelling_the_task_cancels_the_waiter(message: str | None) -> None:
    waiter = Waiter(asyncio.get_running_loop())
    task = asyncio.create_task(wait(waiter))
    await started(task)
    task.cancel(message)
    with pytest.raises(asyncio.CancelledError) as raised:
        await task
    assert raised.value.args == (() if message is None else (message,))
    # Done: neither cancelling nor waking it again does anything.
    assert not waiter.cancel()
    waiter.wake()
    waiter.set_result()
    with pytest.raises(asyncio.CancelledError):
        waiter.result()


async def test_awaiting_a_cancelled_waiter_raises() -> None:
    waiter = Waiter(asyncio.get_running_loop())
    assert waiter.cancel("gone")
    with pytest.raises(asyncio.CancelledError, match="gone"):
        await waiter


async def test_wake_runs_the_callback_at_once_outside_tasks() -> None:
    loop = asyncio.get_running_loop()
    waiter = Waiter(loop)
    calls: list[tuple[Waiter, str]] = []
    variable: contextvars.ContextVar[str] = contextvars.ContextVar("variable", default="")

    def callback(woken: Waiter) -> None:
        calls.append((woken, variable.get()))

    context = contextvars.copy_context()
    context.run(variable.set, "in context")
    waiter.add_done_callback(callback, context=context)
    done = loop.create_future()

    def wake() -> None:
        waiter.wake()
        done.set_result(list(calls))

    loop.call_soon(wake)
    assert await done == [(waiter, "in context")]


async def test_wake_runs_a_callback_without_context() -> None:
    loop = asyncio.get_running_loop()
    waiter = Waiter(loop)
    calls: list[Waiter] = []
    waiter.add_done_callback(calls.append)
    done = loop.create_future()

    def wake() -> None:
        waiter.wake()
        done.set_result(list(calls))

    loop.call_soon(wake)
    assert await done == [waiter]


async def test_wake_inside_a_task_schedules_the_callback() -> None:
    waiter = Waiter(asyncio.get_running_loop())
    calls: list[Waiter] = []
    waiter.add_done_callback(calls.append)
    waiter.wake()
    assert calls == []
    await asyncio.sleep(0)
    assert calls == [waiter]


async def test_wake_reports_a_failing_callback_to_the_loop() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reported.append(context))
    try:
        waiter = Waiter(loop)

        def fail(_: Waiter) -> None:
            raise ValueError("broken callback")

        waiter.add_done_callback(fail)
        done = loop.create_future()

        def wake() -> None:
            waiter.wake()
            done.set_result(None)

        loop.call_soon(wake)
        await done
    finally:
        loop.set_exception_handler(previous)
    assert len(reported) == 1
    assert isinstance(reported[0]["exception"], ValueError)
    assert "fail" in reported[0]["message"]


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit])
async def test_wake_lets_interrupts_through(error: Callable[[], BaseException]) -> None:
    loop = asyncio.get_running_loop()
    waiter = Waiter(loop)

    def interrupt(_: Waiter) -> None:
        raise error()

    waiter.add_done_callback(interrupt)
    done = loop.create_future()

    def wake() -> None:
        try:
            waiter.wake()
        except BaseException as exc:
            done.set_result(type(exc))

    loop.call_soon(wake)
    assert await done is error


# wake_future(): a Future's task, stepped in this step.


async def wait_future(future: asyncio.Future[None]) -> str:
    await future
    return variable_of_wait.get()


variable_of_wait: contextvars.ContextVar[str] = contextvars.ContextVar("wait", default="")


async def test_wake_future_steps_its_task_at_once_outside_tasks() -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()
    context = contextvars.copy_context()
    context.run(variable_of_wait.set, "in the task's context")
    task = loop.create_task(wait_future(future), context=context)
    await started(task)
    seen: list[bool] = []

    def wake() -> None:
        wake_future(future, outside_task=True)
        seen.append(task.done())
        wake_future(future, outside_task=True)  # done already: nothing more

    loop.call_soon(wake)
    assert await task == "in the task's context"
    assert seen == [True]
    assert future.result() is None


@pytest.mark.parametrize("outside_task", [False, True])
async def test_wake_future_asks_whether_a_task_runs_unless_told(outside_task: bool) -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()
    task = asyncio.create_task(wait_future(future))
    await started(task)
    seen: list[bool] = []

    def wake() -> None:
        wake_future(future, outside_task)
        seen.append(task.done())

    loop.call_soon(wake)
    await task
    assert seen == [True]


async def test_wake_future_inside_a_task_goes_through_the_loop() -> None:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(wait_future(future))
    await started(task)
    wake_future(future)
    assert future.done()
    assert not task.done()
    await task


@pytest.mark.parametrize("callbacks", [0, 2])
async def test_wake_future_with_other_callbacks_goes_through_the_loop(callbacks: int) -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()
    calls: list[asyncio.Future[None]] = []
    for _ in range(callbacks):
        future.add_done_callback(calls.append)
    done = loop.create_future()

    def wake() -> None:
        wake_future(future, outside_task=True)
        done.set_result(list(calls))

    loop.call_soon(wake)
    assert await done == []
    await asyncio.sleep(0)
    assert calls == [future] * callbacks
    assert future.done()


class FutureWithoutCallbacks(asyncio.Future[None]):
    """A Future whose private ``_callbacks`` doesn't exist, as on another Python."""

    @property
    def _callbacks(self) -> NoReturn:
        raise AttributeError("_callbacks")


async def test_wake_future_without_its_private_callbacks_goes_through_the_loop() -> None:
    future = FutureWithoutCallbacks(loop=asyncio.get_running_loop())
    calls: list[asyncio.Future[None]] = []
    future.add_done_callback(calls.append)
    wake_future(future, outside_task=True)
    assert future.done()
    assert calls == []  # not run in this step: scheduled
    await asyncio.sleep(0)
    assert calls == [future]


async def test_wake_future_leaves_a_cancelled_future_alone() -> None:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.cancel()
    wake_future(future, outside_task=True)
    assert future.cancelled()


async def test_wake_future_reports_a_failing_callback_to_the_loop() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reported.append(context))
    try:
        future: asyncio.Future[None] = loop.create_future()

        def fail(_: asyncio.Future[None]) -> None:
            raise ValueError("broken callback")

        future.add_done_callback(fail)
        done = loop.create_future()

        def wake() -> None:
            wake_future(future, outside_task=True)
            done.set_result(None)

        loop.call_soon(wake)
        await done
    finally:
        loop.set_exception_handler(previous)
    assert len(reported) == 1
    assert isinstance(reported[0]["exception"], ValueError)
    assert "fail" in reported[0]["message"]


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit])
async def test_wake_future_lets_interrupts_through(error: Callable[[], BaseException]) -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()

    def interrupt(_: asyncio.Future[None]) -> None:
        raise error()

    future.add_done_callback(interrupt)
    done = loop.create_future()

    def wake() -> None:
        try:
            wake_future(future, outside_task=True)
        except BaseException as exc:
            done.set_result(type(exc))

    loop.call_soon(wake)
    assert await done is error


# The Date header of handshake responses.


def test_date_header_is_the_current_date() -> None:
    for _ in range(3):
        before = email.utils.formatdate(usegmt=True)
        value = sansio_server._http_date()  # pyright: ignore[reportPrivateUsage]
        after = email.utils.formatdate(usegmt=True)
        if before == after:
            assert value == before
            return
    pytest.fail("the clock kept crossing seconds")  # pragma: no cover


def test_date_header_is_built_once_per_second(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_700_000_000.25]
    monkeypatch.setattr(time, "time", lambda: now[0])
    first = sansio_server._http_date()  # pyright: ignore[reportPrivateUsage]
    assert first == email.utils.formatdate(1_700_000_000, usegmt=True)
    now[0] += 0.5
    assert sansio_server._http_date() is first  # pyright: ignore[reportPrivateUsage]
    now[0] += 1
    assert sansio_server._http_date() == email.utils.formatdate(  # pyright: ignore[reportPrivateUsage]
        1_700_000_001, usegmt=True
    )

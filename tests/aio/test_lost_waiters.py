"""Tasks that wait for the end of a connection after its closing handshake.

recv() and send() on a connection whose Close frames were exchanged wait
for the TCP connection to end before raising (a client waits for the
server to close it; a server closes it at once); on asyncio's own loops they
wake in connection_lost()'s step, on uvloop through a future each
(Connection._wait_lost).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from raw_peer import OP_CLOSE, RawServer, close_payload, open_raw_client

from websockets_typed.asyncio.client import connect
from websockets_typed.asyncio.server import ServerConnection, serve
from websockets_typed.exceptions import ConnectionClosedOK
from websockets_typed.frames import CloseCode
from websockets_typed.protocol import CLOSED, CLOSING


async def until(condition: Callable[[], bool]) -> None:
    """Poll for a state that no event signals: tasks parked on a waiter."""
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.005)


async def test_recv_and_send_wait_for_the_end_then_raise() -> None:
    # A client waits for the server to close the TCP connection after the
    # closing handshake (RFC 6455, 7.1.1): the window where tasks wait.
    async with RawServer() as server:
        connecting = asyncio.ensure_future(
            connect(server.uri, compression=None, ping_interval=None)
        )
        peer = await server.accept()
        connection = await connecting
        async with asyncio.timeout(5):
            await peer.send_frame(OP_CLOSE, close_payload(CloseCode.NORMAL_CLOSURE))
            await peer.expect_close(CloseCode.NORMAL_CLOSURE)
            await until(lambda: connection.state is CLOSING)

        receiving = asyncio.create_task(connection.recv())
        sending = asyncio.create_task(connection.send("late"))
        cancelled = asyncio.create_task(connection.send("later"))
        await until(lambda: len(connection._lost_waiters or ()) == 3)
        # Cancelling one wait leaves the others and the connection alone.
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert not connection.connection_lost_waiter.done()

        peer.writer.close()
        async with asyncio.timeout(5):
            with pytest.raises(ConnectionClosedOK):
                await receiving
            with pytest.raises(ConnectionClosedOK):
                await sending
        assert connection.closed
        assert connection._lost_waiters is None


async def test_server_closes_the_tcp_connection_once_it_answered_a_close() -> None:
    # RFC 6455, 5.5.1: the server closes the TCP connection at once; it
    # doesn't wait for the client's end, which the client doesn't send here.
    accepted: asyncio.Queue[ServerConnection] = asyncio.Queue()

    async def handler(connection: ServerConnection) -> None:
        accepted.put_nowait(connection)
        await connection.wait_closed()

    async with serve(handler, "127.0.0.1", 0, compression=None, ping_interval=None) as server:
        peer = await open_raw_client(server.sockets[0].getsockname()[1])
        async with asyncio.timeout(5):
            connection = await accepted.get()
            await peer.send_frame(OP_CLOSE, close_payload(CloseCode.NORMAL_CLOSURE))
            frames = await peer.read_until_eof()
            await connection.wait_closed()
        assert [frame.opcode for frame in frames] == [OP_CLOSE]
        assert connection.state is CLOSED
        assert not peer.writer.is_closing()
        with pytest.raises(ConnectionClosedOK):
            await connection.recv()
        peer.writer.close()


@pytest.mark.parametrize("how", ["iterate", "recv"])
async def test_a_reader_waiting_at_the_close_frame_wakes_once_at_the_end(how: str) -> None:
    # The client closes while the handler waits for a message: the handler
    # wakes in connection_lost()'s step, not at the Close frame and again at
    # the end; so it never waits for the end on a waiter of its own.
    lost_waits: list[ServerConnection] = []
    accepted: asyncio.Queue[ServerConnection] = asyncio.Queue()
    ended: asyncio.Queue[tuple[bool, BaseException | None]] = asyncio.Queue()

    class Counting(ServerConnection):
        def _wait_lost(self) -> Awaitable[None]:
            lost_waits.append(self)
            return super()._wait_lost()

    async def handler(connection: Counting) -> None:
        accepted.put_nowait(connection)
        error: BaseException | None = None
        try:
            if how == "iterate":
                async for _ in connection:
                    pass
            else:
                await connection.recv()
        except ConnectionClosedOK as exc:
            error = exc
        ended.put_nowait((connection.closed, error))

    async with serve(
        handler, "127.0.0.1", 0, create_connection=Counting, compression=None, ping_interval=None
    ) as server:
        peer = await open_raw_client(server.sockets[0].getsockname()[1])
        async with asyncio.timeout(5):
            connection = await accepted.get()
            await until(lambda: connection.recv_messages._waiter is not None)
            await peer.send_frame(OP_CLOSE, close_payload(CloseCode.NORMAL_CLOSURE))
            await peer.read_until_eof()
            closed, error = await ended.get()
        peer.writer.close()
    # Closed by then, as before: the reader saw the end of the connection.
    assert closed
    assert (error is None) is (how == "iterate")
    assert lost_waits == []

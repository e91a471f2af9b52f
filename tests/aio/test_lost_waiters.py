"""Tasks that wait for the end of a connection after its closing handshake.

recv() and send() on a connection whose Close frames were exchanged wait
for the TCP connection to end before raising; on asyncio's own loops they
wake in connection_lost()'s step, on uvloop through a future each
(Connection._wait_lost).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from raw_peer import OP_CLOSE, close_payload, open_raw_client

from websockets_typed.asyncio.server import ServerConnection, serve
from websockets_typed.exceptions import ConnectionClosedOK
from websockets_typed.frames import CloseCode
from websockets_typed.protocol import CLOSING


async def until(condition: Callable[[], bool]) -> None:
    """Poll for a state that no event signals: tasks parked on a waiter."""
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.005)


async def test_recv_and_send_wait_for_the_end_then_raise() -> None:
    accepted: asyncio.Queue[ServerConnection] = asyncio.Queue()

    async def handler(connection: ServerConnection) -> None:
        accepted.put_nowait(connection)
        await connection.wait_closed()

    async with serve(handler, "127.0.0.1", 0, compression=None, ping_interval=None) as server:
        peer = await open_raw_client(server.sockets[0].getsockname()[1])
        async with asyncio.timeout(5):
            connection = await accepted.get()
            await peer.send_frame(OP_CLOSE, close_payload(CloseCode.NORMAL_CLOSURE))
            # The server answers and half-closes: then it waits for the peer.
            frames = await peer.read_until_eof()
        assert [frame.opcode for frame in frames] == [OP_CLOSE]
        assert connection.state is CLOSING

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

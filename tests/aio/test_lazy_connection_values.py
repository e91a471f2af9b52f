"""Values that a server connection computes only when asked, checked when asked.

The handshake path skips building what most connections never read (see
Connection.__aiter__, bench/run.py S4): these tests fail if what it builds
later, or decides without building, comes out wrong.
"""

from __future__ import annotations

import asyncio

import pytest
from raw_peer import OP_CLOSE, build_frame

from websockets_typed.asyncio.client import connect
from websockets_typed.asyncio.server import ServerConnection, serve
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

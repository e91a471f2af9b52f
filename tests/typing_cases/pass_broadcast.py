"""broadcast() returns its counts; the limit's options are typed."""

from __future__ import annotations

from typing import assert_type

from websockets_typed import BroadcastStats, Server, ServerConnection, broadcast, serve


def fan_out(server: Server, connection: ServerConnection) -> None:
    stats = broadcast(server.connections, "news", limit=2**16, overflow="drop")
    assert_type(stats, BroadcastStats)
    sent, dropped, closed = stats
    assert_type(sent + dropped + closed, int)
    assert_type(connection.broadcast_dropped, int)
    assert_type(connection.broadcast_limit, int | None)


async def handler(connection: ServerConnection) -> None:
    await connection.wait_closed()


async def main() -> None:
    async with serve(handler, broadcast_limit=None, broadcast_overflow="close"):
        pass

"""serve() and unix_serve() accept both forms of connection handler."""

from __future__ import annotations

from typing import assert_type

from websockets_typed import Server, ServerConnection, serve, unix_serve


async def handler(connection: ServerConnection) -> None:
    await connection.send("hello")


async def legacy_handler(connection: ServerConnection, path: str) -> None:
    await connection.send(path)


async def handler_returning_a_value(connection: ServerConnection) -> int:
    return len(await connection.recv(decode=False))


async def main() -> None:
    async with serve(handler, "localhost", 8765) as server:
        assert_type(server, Server)
    async with serve(legacy_handler, "localhost", 8765):
        pass
    async with serve(handler_returning_a_value, "localhost", 8765):
        pass
    async with unix_serve(handler, "/tmp/ws.sock"):
        pass
    async with unix_serve(legacy_handler, "/tmp/ws.sock"):
        pass
    assert_type(await serve(handler, port=8765, ping_interval=None, max_queue=None), Server)

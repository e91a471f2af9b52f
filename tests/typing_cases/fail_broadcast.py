"""The overflow policy is one of two literals."""

from __future__ import annotations

from websockets_typed import Server, ServerConnection, broadcast, serve


def fan_out(server: Server) -> None:
    # expect: mypy[arg-type] pyright[reportArgumentType]
    broadcast(server.connections, "news", overflow="wait")


async def handler(connection: ServerConnection) -> None:
    await connection.wait_closed()


async def main() -> None:
    # expect: mypy[arg-type] pyright[reportArgumentType]
    async with serve(handler, broadcast_overflow="block"):
        pass

"""route() and Route reject handlers that can't take a connection, or aren't coroutines."""

from __future__ import annotations

from websockets_typed import ClientConnection, Route, ServerConnection, route


def not_async(connection: ServerConnection, room: str) -> None: ...


async def client_side(connection: ClientConnection, room: str) -> None: ...


async def no_connection() -> None: ...


async def chat(connection: ServerConnection, room: str) -> int:
    # expect: mypy[operator, no-any-return] pyright[reportOperatorIssue, reportUnknownVariableType]
    return room + 1


async def main() -> None:
    # expect: mypy[arg-type] pyright[reportArgumentType]
    Route("/{room}", not_async)
    # expect: mypy[arg-type] pyright[reportArgumentType]
    Route("/{room}", client_side)
    # expect: mypy[arg-type] pyright[reportArgumentType]
    Route("/", no_connection)
    # expect: mypy[dict-item] pyright[reportCallIssue, reportArgumentType]
    await route({"/{room}": not_async}, "localhost", 8765)
    # expect: mypy[call-overload] pyright[reportCallIssue]
    await route({"/{room}": chat}, "localhost", 8765, proxy=None)

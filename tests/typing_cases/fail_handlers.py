"""serve() rejects handlers with a wrong signature."""

from __future__ import annotations

from websockets_typed import ClientConnection, ServerConnection, serve


async def wrong_path_type(connection: ServerConnection, path: int) -> None: ...


def not_async(connection: ServerConnection) -> None: ...


async def client_side(connection: ClientConnection) -> None: ...


async def too_many(connection: ServerConnection, path: str, extra: str) -> None: ...


async def main() -> None:
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await serve(wrong_path_type, "localhost", 8765)
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await serve(not_async, "localhost", 8765)
    # expect: mypy[type-var] pyright[reportArgumentType]
    await serve(client_side, "localhost", 8765)
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await serve(too_many, "localhost", 8765)

"""route() and Route take handlers that receive the connection, then typed parameters."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import assert_type

from websockets_typed import (
    Headers,
    Request,
    Route,
    Router,
    Server,
    ServerConnection,
    route,
    unix_route,
)
from websockets_typed.asyncio.router import RouteHandler


async def chat(connection: ServerConnection, room: str) -> None:
    await connection.send(room.upper())


async def user(connection: ServerConnection, id: int) -> None:
    await connection.send(str(id + 1))


async def document(connection: ServerConnection, key: uuid.UUID) -> None:
    await connection.send(key.hex)


async def home(connection: ServerConnection) -> int:
    return len(await connection.recv(decode=False))


URL_MAP: Mapping[str, RouteHandler] = {"/": home, "/chat/{room}": chat}


async def main() -> None:
    async with route({"/chat/{room}": chat, "/user/{id:int}": user}, "localhost", 8765) as server:
        assert_type(server, Server)
    async with route(URL_MAP, "localhost", 8765, ping_interval=None):
        pass
    routes = [Route("/doc/{key:uuid}", document), Route("/", home, host="example.com")]
    assert_type(await route(routes, port=8765), Server)
    async with unix_route(routes, "/tmp/ws.sock"):
        pass
    router = Router(routes)
    assert_type(router.routes, tuple[Route, ...])
    found = router.match(Request("/doc/x", Headers()))
    if found is not None:
        matched, parameters = found
        assert_type(matched, Route)
        assert_type(parameters, dict[str, object])

"""What the type holes closed by issue 11 still accept.

A handler of a ServerConnection subclass, with ``create_connection``; the
request in a handler, without ``assert``; fragments of one type, from a
list, a tuple, a generator or an async generator; subprotocols as a list.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import assert_type

from websockets_typed import (
    ClientConnection,
    Request,
    ServerConnection,
    Subprotocol,
    connect,
    serve,
    unix_serve,
)
from websockets_typed.asyncio.server import serve as serve_class


class UserConnection(ServerConnection):
    user = "alice"


async def user_handler(connection: UserConnection) -> None:
    # No isinstance: the server creates UserConnection, and says so.
    await connection.send(connection.user)


async def legacy_user_handler(connection: UserConnection, path: str) -> None:
    await connection.send(f"{connection.user} on {path}")


async def handler(connection: ServerConnection) -> None:
    # No assert: in a handler, the request has arrived.
    assert_type(connection.request, Request)
    await connection.send(connection.request.path)


async def words() -> AsyncIterator[str]:
    yield "a"
    yield "b"


async def fragments(connection: ClientConnection) -> None:
    await connection.send(["frag", "ments"])
    await connection.send((b"frag", bytearray(b"ments")))
    await connection.send(part for part in ("gen", "erator"))
    await connection.send(words())
    assert_type(connection.request, Request | None)


async def main() -> None:
    assert_type(
        serve(user_handler, "localhost", 8765, create_connection=UserConnection),
        serve_class[UserConnection],
    )
    assert_type(
        serve(legacy_user_handler, "localhost", 8765, create_connection=UserConnection),
        serve_class[UserConnection],
    )
    assert_type(serve(handler, "localhost", 8765), serve_class[ServerConnection])
    assert_type(
        unix_serve(user_handler, "/tmp/ws.sock", create_connection=UserConnection),
        serve_class[UserConnection],
    )
    async with connect("ws://localhost:8765", subprotocols=["chat", Subprotocol("v2")]):
        pass
    async with serve(handler, "localhost", 8765, subprotocols=("chat",)):
        pass

"""Mistakes with serve(), connect() and send() that type checkers report, naming them."""

from __future__ import annotations

from websockets_typed import ClientConnection, ServerConnection, connect, serve


class UserConnection(ServerConnection):
    user = "alice"


async def handler(connection: ServerConnection) -> None: ...


async def user_handler(connection: UserConnection) -> None: ...


async def main(websocket: ClientConnection) -> None:
    # expect: mypy[call-arg] pyright[reportCallIssue]
    await serve(handler, "localhost", 8765, ping_intervall=5)
    # expect: mypy[call-arg] pyright[reportCallIssue]
    await connect("ws://localhost:8765", ping_intervall=5)
    # A str is a sequence of one-letter subprotocols.
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await connect("ws://localhost:8765", subprotocols="chat")
    # A dict would send its keys as fragments.
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await websocket.send({"a": 1})
    # Fragments of one message are all text or all bytes.
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await websocket.send(["a", b"b"])
    # The handler expects a subclass that the server wouldn't create (mypy
    # can't see it).
    # expect: mypy[] pyright[reportArgumentType]
    await serve(user_handler, "localhost", 8765)

"""The legacy API's overloads refuse what would fail at run time."""

from __future__ import annotations

from websockets_typed.client import connect
from websockets_typed.server import WebSocketServerProtocol, serve


class TokenProtocol(WebSocketServerProtocol):
    token = "secret"


async def token_handler(websocket: TokenProtocol, path: str) -> None:
    await websocket.send(websocket.token)


async def main() -> None:
    # The handler needs a TokenProtocol: create_protocol must say so.
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await serve(token_handler, "localhost", 8765)
    # expect: mypy[call-overload] pyright[reportCallIssue]
    await serve(token_handler, "localhost", 8765, create_protocol=TokenProtocol, ping_intreval=5)
    # expect: mypy[call-overload] pyright[reportCallIssue]
    await connect("ws://localhost", ping_intreval=5)

"""Seed 001's legacy API: create_protocol decides what the handler and connect() get."""

from __future__ import annotations

import http
from collections.abc import Sequence
from typing import assert_type

from websockets_typed.client import WebSocketClientProtocol, connect
from websockets_typed.datastructures import Headers
from websockets_typed.server import WebSocketServer, WebSocketServerProtocol, serve, unix_serve
from websockets_typed.typing import Subprotocol


class TokenProtocol(WebSocketServerProtocol):
    token = "secret"


class MyClient(WebSocketClientProtocol):
    pass


async def handler(websocket: WebSocketServerProtocol, path: str) -> None:
    await websocket.send(path)


async def token_handler(websocket: TokenProtocol, path: str) -> None:
    await websocket.send(websocket.token)


async def one_argument(websocket: WebSocketServerProtocol) -> None:
    await websocket.send("hi")


def process_request(path: str, request_headers: Headers) -> tuple[int, Headers, bytes] | None:
    if path == "/health":
        return http.HTTPStatus.OK, Headers(), b"OK\n"
    return None


def select(client: Sequence[Subprotocol], server: Sequence[Subprotocol]) -> str | None:
    return None


async def main() -> None:
    async with serve(handler, "localhost", 8765) as server:
        assert_type(server, WebSocketServer)
    async with serve(token_handler, "localhost", 8765, create_protocol=TokenProtocol):
        pass
    async with serve(one_argument, "localhost", 8765, process_request=process_request):
        pass
    async with serve(handler, "localhost", 8765, select_subprotocol=select, max_queue=0):
        pass
    async with unix_serve(token_handler, "/tmp/ws.sock", create_protocol=TokenProtocol):
        pass
    assert_type(await serve(handler, port=8765, loop=None, read_limit=2**10), WebSocketServer)
    async with connect("ws://localhost:8765") as websocket:
        assert_type(websocket, WebSocketClientProtocol)
    assert_type(await connect("ws://localhost", create_protocol=MyClient), MyClient)

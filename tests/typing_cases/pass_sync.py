"""The threading layer: recv() and recv_streaming() typed by ``decode``, handlers, options."""

from __future__ import annotations

from typing import assert_type

from websockets_typed.sync.client import ClientConnection, connect
from websockets_typed.sync.server import Server, ServerConnection, serve
from websockets_typed.typing import Data


def receive(connection: ClientConnection, flag: bool) -> None:
    assert_type(connection.recv(), Data)
    assert_type(connection.recv(timeout=1.5), Data)
    assert_type(connection.recv(decode=True), str)
    assert_type(connection.recv(1, decode=False), bytes)
    assert_type(connection.recv(decode=flag), Data)
    for text in connection.recv_streaming(decode=True):
        assert_type(text, str)
    for message in connection:
        assert_type(message, Data)


def handler(connection: ServerConnection) -> None:
    connection.send(connection.recv())


def start() -> Server:
    with connect("ws://localhost:8765", open_timeout=1, compression=None) as connection:
        assert_type(connection, ClientConnection)
    return serve(handler, "localhost", 0, ping_interval=None, max_queue=(8, 2))

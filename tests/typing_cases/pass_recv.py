"""recv() and recv_streaming() return str or bytes according to ``decode``."""

from __future__ import annotations

from typing import assert_type, reveal_type

from websockets_typed import ClientConnection, Data, ServerConnection


async def receive(connection: ClientConnection) -> None:
    assert_type(await connection.recv(), Data)
    assert_type(await connection.recv(), str | bytes)
    assert_type(await connection.recv(None), Data)
    assert_type(await connection.recv(decode=True), str)
    assert_type(await connection.recv(decode=False), bytes)
    reveal_type(await connection.recv(decode=True))  # reveal: str
    text: str = await connection.recv(decode=True)
    binary: bytes = await connection.recv(decode=False)
    print(text.upper(), binary.hex())


async def receive_streaming(connection: ServerConnection, flag: bool) -> None:
    async for fragment in connection.recv_streaming():
        assert_type(fragment, Data)
    async for text in connection.recv_streaming(decode=True):
        assert_type(text, str)
    async for binary in connection.recv_streaming(decode=False):
        assert_type(binary, bytes)
    # A bool that isn't a literal gives the union.
    assert_type(await connection.recv(decode=flag), Data)


async def iterate(connection: ClientConnection) -> None:
    async for message in connection:
        assert_type(message, Data)

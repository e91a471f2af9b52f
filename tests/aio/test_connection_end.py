"""The end of a connection: the events that the end of the stream completes,
and the end of ``async for`` (see Connection.eof_received, Connection.__aiter__)."""

from __future__ import annotations

import asyncio

import pytest

from websockets_typed.asyncio.client import ClientConnection, connect
from websockets_typed.asyncio.server import ServerConnection, serve
from websockets_typed.exceptions import ConcurrencyError, InvalidStatus


async def test_response_whose_body_ends_with_the_stream_reaches_the_client() -> None:
    # Without Content-Length, a response's body ends with the TCP connection
    # (RFC 9112, 6.3): the end of the stream completes the Response event,
    # which the connection processes as any other.
    connections: list[ClientConnection] = []

    class Recorded(ClientConnection):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            connections.append(self)
            super().connection_made(transport)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nGo away.\n")
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with asyncio.timeout(5):
            with pytest.raises(InvalidStatus) as exc_info:
                await connect(
                    f"ws://127.0.0.1:{port}/", open_timeout=None, create_connection=Recorded
                )
    finally:
        server.close()
        await server.wait_closed()
    response = exc_info.value.response
    assert response.status_code == 403
    assert response.body == b"Go away.\n"
    (connection,) = connections
    assert connection.response is response


async def test_iterating_while_another_coroutine_receives_raises() -> None:
    async def echo(connection: ServerConnection) -> None:
        async for message in connection:
            await connection.send(message)

    async with serve(echo, "127.0.0.1", 0, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with asyncio.timeout(5), connect(f"ws://127.0.0.1:{port}/") as client:
            receiving = asyncio.create_task(client.recv())
            await asyncio.sleep(0)  # let it start waiting
            with pytest.raises(ConcurrencyError, match="another coroutine"):
                async for _ in client:
                    pass
            await client.send("for the first")
            assert await receiving == "for the first"

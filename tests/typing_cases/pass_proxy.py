"""connect() takes a proxy URL, True (from the environment) or None."""

from __future__ import annotations

import ssl

from websockets_typed import ClientConnection, InvalidProxyStatus, Response, connect


async def main() -> None:
    async with connect("ws://example.com", proxy="socks5h://proxy:1080") as websocket:
        assert isinstance(websocket, ClientConnection)
    await connect("ws://example.com", proxy=True)
    await connect("ws://example.com", proxy=None)
    context = ssl.create_default_context()
    await connect(
        "wss://example.com",
        proxy="https://proxy:3128",
        proxy_ssl=context,
        proxy_server_hostname="proxy.internal",
    )
    try:
        await connect("ws://example.com", proxy="http://proxy:3128")
    except InvalidProxyStatus as exc:
        response: Response = exc.response
        assert response.status_code == 407

"""A WebSocket client that sends your name and prints the greeting.

Start ``python examples/hello_server.py`` first, then::

    python examples/hello_client.py

It connects to localhost, port 8765 or the ``PORT`` environment variable.
"""

import asyncio
import os

from websockets_typed import connect

PORT = int(os.environ.get("PORT", "8765"))


async def hello() -> None:
    """Send a name, print the greeting; ``async with`` closes the connection."""
    async with connect(f"ws://localhost:{PORT}") as websocket:
        name = input("What's your name? ")
        await websocket.send(name)
        print(f"> {name}")
        greeting = await websocket.recv(decode=True)
        print(f"< {greeting}")


if __name__ == "__main__":
    asyncio.run(hello())

"""A client that sends a message to the echo server and prints the answer.

Start ``python examples/echo_server.py`` (or ``sansio_server.py``) first, then::

    python examples/echo_client.py

It connects to localhost, port 8765 or the ``PORT`` environment variable.
"""

import asyncio
import os

from websockets_typed import connect

PORT = int(os.environ.get("PORT", "8765"))


async def hello() -> None:
    """Send a message and print what comes back."""
    async with connect(f"ws://localhost:{PORT}") as websocket:
        await websocket.send("Hello world!")
        message = await websocket.recv()
        print(message)


if __name__ == "__main__":
    asyncio.run(hello())

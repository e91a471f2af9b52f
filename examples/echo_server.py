"""An echo server: it sends every message back to the client that sent it.

Run it, then ``python examples/echo_client.py`` in another terminal::

    python examples/echo_server.py

It listens on localhost, port 8765 or the ``PORT`` environment variable.
Ctrl-C stops it.
"""

import asyncio
import os
import signal

from websockets_typed import ServerConnection, serve

PORT = int(os.environ.get("PORT", "8765"))


async def echo(websocket: ServerConnection) -> None:
    """Send each message back; the loop ends when the client disconnects."""
    async for message in websocket:
        await websocket.send(message)


async def main() -> None:
    """Serve until Ctrl-C or SIGTERM."""
    async with serve(echo, "localhost", PORT) as server:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, server.close)
        loop.add_signal_handler(signal.SIGTERM, server.close)
        await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())

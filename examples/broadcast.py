"""Broadcast: every message a client sends goes to every client connected.

Run it, then connect two interactive clients and type in either::

    python examples/broadcast.py
    python -m websockets_typed ws://localhost:8765/

The port is 8765 or the ``PORT`` environment variable. Ctrl-C stops it.
"""

import asyncio
import os
import signal

from websockets_typed import ServerConnection, broadcast, serve

PORT = int(os.environ.get("PORT", "8765"))

CLIENTS: set[ServerConnection] = set()


async def relay(websocket: ServerConnection) -> None:
    """Send each message of this client to all clients, the sender included."""
    CLIENTS.add(websocket)
    try:
        async for message in websocket:
            # broadcast() doesn't wait: a slow client cannot hold the others up.
            broadcast(CLIENTS, message)
    finally:
        CLIENTS.remove(websocket)


async def main() -> None:
    """Serve until Ctrl-C or SIGTERM."""
    async with serve(relay, "localhost", PORT) as server:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, server.close)
        loop.add_signal_handler(signal.SIGTERM, server.close)
        await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())

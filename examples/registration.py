"""The registration pattern: keep track of the clients connected right now.

Run it, then connect several clients: each newcomer is announced to all::

    python examples/registration.py
    python -m websockets_typed ws://localhost:8765/

The port is 8765 or the ``PORT`` environment variable. Ctrl-C stops it.
"""

import asyncio
import os
import signal

from websockets_typed import ServerConnection, broadcast, serve

PORT = int(os.environ.get("PORT", "8765"))

# In memory: this works as long as the server runs as a single process.
CONNECTED: set[ServerConnection] = set()


async def handler(websocket: ServerConnection) -> None:
    """Register the client for as long as it stays connected."""
    CONNECTED.add(websocket)
    try:
        broadcast(CONNECTED, f"Hello! {len(CONNECTED)} connected.")
        await websocket.wait_closed()
    finally:
        CONNECTED.remove(websocket)


async def main() -> None:
    """Serve until Ctrl-C or SIGTERM."""
    async with serve(handler, "localhost", PORT) as server:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, server.close)
        loop.add_signal_handler(signal.SIGTERM, server.close)
        await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())

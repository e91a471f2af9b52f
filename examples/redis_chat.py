"""A chat room across processes: a Redis bus relays messages between them.

Start Redis, then as many copies as you like, on one port (they share it)::

    python examples/redis_chat.py &
    python examples/redis_chat.py &
    python -m websockets_typed ws://localhost:8765/

Clients connected to any copy are in the same room. The port is 8765 or the
``PORT`` environment variable, Redis is at ``REDIS_URL``
(redis://localhost:6379 by default). It needs the ``redis`` extra:
``pip install 'websockets_typed[redis]'``. Ctrl-C stops it.
"""

import asyncio
import os
import signal

from websockets_typed import ServerConnection, serve
from websockets_typed.asyncio.bus import RedisBroadcast

PORT = int(os.environ.get("PORT", "8765"))
REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379")


async def main() -> None:
    """Serve until Ctrl-C or SIGTERM."""
    async with RedisBroadcast(REDIS_URL) as bus:

        async def chat(websocket: ServerConnection) -> None:
            # Every message published to "chat", by any process, reaches this
            # client; every message it sends is published to "chat".
            await bus.join("chat", websocket)

        # reuse_port: several copies of this program listen on one port,
        # and the kernel spreads the connections over them.
        async with serve(chat, "localhost", PORT, reuse_port=True) as server:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGINT, server.close)
            loop.add_signal_handler(signal.SIGTERM, server.close)
            await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())

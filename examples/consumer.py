"""The consumer pattern: a server that processes every message a client sends.

Run it, then send messages, e.g. with the interactive client::

    python examples/consumer.py
    python -m websockets_typed ws://localhost:8765/

The port is 8765 or the ``PORT`` environment variable. Ctrl-C stops it.
"""

import asyncio
import os
import signal

from websockets_typed import Data, ServerConnection, serve

PORT = int(os.environ.get("PORT", "8765"))


async def consumer(message: Data) -> None:
    """Your business logic; here, print the message."""
    print(f"< {message!r}")


async def consumer_handler(websocket: ServerConnection) -> None:
    """Hand each message to the consumer; the loop ends when the client disconnects."""
    async for message in websocket:
        await consumer(message)


async def main() -> None:
    """Serve until Ctrl-C or SIGTERM."""
    async with serve(consumer_handler, "localhost", PORT) as server:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, server.close)
        loop.add_signal_handler(signal.SIGTERM, server.close)
        await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())

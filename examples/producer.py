"""The producer pattern: a server that sends messages as they are produced.

Run it, then watch the messages arrive, e.g. with the interactive client::

    python examples/producer.py
    python -m websockets_typed ws://localhost:8765/

The port is 8765 or the ``PORT`` environment variable. Ctrl-C stops it.
"""

import asyncio
import datetime
import os
import signal

from websockets_typed import ServerConnection, serve

PORT = int(os.environ.get("PORT", "8765"))


async def producer() -> str:
    """Your business logic; here, the time, once a second."""
    await asyncio.sleep(1)
    return f"It is {datetime.datetime.now(datetime.UTC):%H:%M:%S} UTC."


async def producer_handler(websocket: ServerConnection) -> None:
    """Send what the producer makes; send() raises ConnectionClosed when the client leaves."""
    while True:
        message = await producer()
        await websocket.send(message)


async def main() -> None:
    """Serve until Ctrl-C or SIGTERM."""
    async with serve(producer_handler, "localhost", PORT) as server:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, server.close)
        loop.add_signal_handler(signal.SIGTERM, server.close)
        await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())

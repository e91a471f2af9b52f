"""Both patterns on one connection: receive and send at the same time.

Run it, then talk to it, e.g. with the interactive client::

    python examples/consumer_producer.py
    python -m websockets_typed ws://localhost:8765/

The port is 8765 or the ``PORT`` environment variable. Ctrl-C stops it.
"""

import asyncio
import datetime
import os
import signal

from websockets_typed import Data, ServerConnection, serve

PORT = int(os.environ.get("PORT", "8765"))


async def consumer(message: Data) -> None:
    """Business logic for received messages; here, print them."""
    print(f"< {message!r}")


async def producer() -> str:
    """Business logic making messages to send; here, the time, once a second."""
    await asyncio.sleep(1)
    return f"It is {datetime.datetime.now(datetime.UTC):%H:%M:%S} UTC."


async def consumer_handler(websocket: ServerConnection) -> None:
    """Hand each message to the consumer until the client disconnects."""
    async for message in websocket:
        await consumer(message)


async def producer_handler(websocket: ServerConnection) -> None:
    """Send what the producer makes until the client disconnects."""
    while True:
        message = await producer()
        await websocket.send(message)


async def handler(websocket: ServerConnection) -> None:
    """Run the consumer and the producer side by side until either one ends."""
    consumer_task = asyncio.create_task(consumer_handler(websocket))
    producer_task = asyncio.create_task(producer_handler(websocket))
    done, pending = await asyncio.wait(
        [consumer_task, producer_task],
        return_when=asyncio.FIRST_COMPLETED,
    )
    for task in pending:
        task.cancel()
    for task in done:
        # Re-raise what ended it, if anything, for the server to handle.
        task.result()


async def main() -> None:
    """Serve until Ctrl-C or SIGTERM."""
    async with serve(handler, "localhost", PORT) as server:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, server.close)
        loop.add_signal_handler(signal.SIGTERM, server.close)
        await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())

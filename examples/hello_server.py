"""A WebSocket server that reads a name and answers with a greeting.

Run it, then ``python examples/hello_client.py`` in another terminal::

    python examples/hello_server.py

It listens on localhost, port 8765 or the ``PORT`` environment variable.
Ctrl-C stops it.
"""

import asyncio
import os
import signal

from websockets_typed import ServerConnection, serve

PORT = int(os.environ.get("PORT", "8765"))


async def hello(websocket: ServerConnection) -> None:
    """Greet the client by the name it sends; returning closes the connection."""
    name = await websocket.recv(decode=True)
    print(f"< {name}")
    greeting = f"Hello {name}!"
    await websocket.send(greeting)
    print(f"> {greeting}")


async def main() -> None:
    """Serve until Ctrl-C or SIGTERM, then close connections with 1001."""
    async with serve(hello, "localhost", PORT) as server:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, server.close)
        loop.add_signal_handler(signal.SIGTERM, server.close)
        await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())

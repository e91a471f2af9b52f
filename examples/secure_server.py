"""The hello server over TLS (``wss://``), with a self-signed certificate.

Make the certificate once, run the server, then ``secure_client.py``::

    python examples/make_certificate.py
    python examples/secure_server.py

It listens on localhost, port 8765 or the ``PORT`` environment variable.
Ctrl-C stops it.
"""

import asyncio
import os
import pathlib
import signal
import ssl

from websockets_typed import ServerConnection, serve

PORT = int(os.environ.get("PORT", "8765"))


async def hello(websocket: ServerConnection) -> None:
    """Greet the client by the name it sends."""
    name = await websocket.recv(decode=True)
    print(f"< {name}")
    greeting = f"Hello {name}!"
    await websocket.send(greeting)
    print(f"> {greeting}")


async def main() -> None:
    """Serve until Ctrl-C or SIGTERM."""
    # See the ssl module's documentation to configure a context securely.
    ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    localhost_pem = pathlib.Path(__file__).with_name("localhost.pem")
    ssl_context.load_cert_chain(localhost_pem)

    async with serve(hello, "localhost", PORT, ssl=ssl_context) as server:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, server.close)
        loop.add_signal_handler(signal.SIGTERM, server.close)
        await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())

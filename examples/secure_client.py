"""The hello client over TLS (``wss://``), trusting a self-signed certificate.

Start ``python examples/secure_server.py`` first, then::

    python examples/secure_client.py

With a certificate signed by an authority your system trusts, you would
not need a context: ``connect("wss://...")`` verifies it by default.
"""

import asyncio
import os
import pathlib
import ssl

from websockets_typed import connect

PORT = int(os.environ.get("PORT", "8765"))


async def hello() -> None:
    """Send a name over TLS, print the greeting."""
    # Trust the certificate that make_certificate.py wrote, and only it.
    ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    localhost_pem = pathlib.Path(__file__).with_name("localhost.pem")
    ssl_context.load_verify_locations(localhost_pem)

    async with connect(f"wss://localhost:{PORT}", ssl=ssl_context) as websocket:
        name = input("What's your name? ")
        await websocket.send(name)
        print(f"> {name}")
        greeting = await websocket.recv(decode=True)
        print(f"< {greeting}")


if __name__ == "__main__":
    asyncio.run(hello())

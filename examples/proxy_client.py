"""A client that reaches the echo server through an HTTP or SOCKS proxy.

Start ``python examples/echo_server.py`` and a proxy first, for example
``pproxy -l http+socks5://127.0.0.1:8080`` (``pip install pproxy``), then::

    python examples/proxy_client.py http://127.0.0.1:8080
    python examples/proxy_client.py socks5h://127.0.0.1:8080

SOCKS proxies need ``pip install 'websockets_typed[socks]'``. Without an
argument, the proxy comes from the environment (``http_proxy``,
``all_proxy``, ``no_proxy``), as for curl. It connects to localhost, port
8765 or the ``PORT`` environment variable.
"""

import asyncio
import os
import sys
from typing import Literal

from websockets_typed import ProxyError, connect

PORT = int(os.environ.get("PORT", "8765"))


async def hello(proxy: str | Literal[True]) -> None:
    """Send a message through the proxy and print what comes back."""
    try:
        async with connect(f"ws://localhost:{PORT}", proxy=proxy) as websocket:
            await websocket.send("Hello through the proxy!")
            print(await websocket.recv())
    except ProxyError as exc:
        # E.g. 407 if the proxy wants credentials: http://user:password@host:port
        sys.exit(f"the proxy refused: {exc}")


if __name__ == "__main__":
    asyncio.run(hello(sys.argv[1] if len(sys.argv) > 1 else True))

"""A server process behind nginx, for tests/tools/test_reverse_proxy.py.

``python tests/proxy_worker.py PATH`` listens on the Unix socket PATH, as in
docs/howto/reverse-proxy.md, prints ``ready`` and serves until SIGTERM.
Each connection first gets a JSON line saying which process serves it and
what the proxy forwarded, then every message is echoed. The server sends no
keepalive pings: the tests choose whether the client does.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

from websockets_typed import ServerConnection, unix_serve


async def handler(websocket: ServerConnection) -> None:
    assert websocket.request is not None
    await websocket.send(
        json.dumps(
            {
                "pid": os.getpid(),
                "path": websocket.request.path,
                "forwarded_for": websocket.request.headers.get("X-Forwarded-For"),
            }
        )
    )
    async for message in websocket:
        await websocket.send(message)


async def main(path: str) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with unix_serve(handler, path, ping_interval=None):
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))

"""A server that sends the UTC time at random intervals, and a page to show it.

Run it, then open http://127.0.0.1:5678/ in a browser::

    python examples/show_time.py

Plain HTTP requests get ``show_time.html``; the page opens a WebSocket
connection back to this server. The port is 5678 or the ``PORT``
environment variable. Ctrl-C stops it.
"""

import asyncio
import datetime
import http
import os
import pathlib
import random
import signal

from websockets_typed import Request, Response, ServerConnection, serve

PORT = int(os.environ.get("PORT", "5678"))
PAGE = pathlib.Path(__file__).with_name("show_time.html")


async def show_time(websocket: ServerConnection) -> None:
    """Send the time until the client goes away: then send() raises and ends this."""
    while True:
        now = datetime.datetime.now(datetime.UTC)
        await websocket.send(now.isoformat(timespec="milliseconds").replace("+00:00", "Z"))
        await asyncio.sleep(random.random() * 3)


def serve_page(connection: ServerConnection, request: Request) -> Response | None:
    """Answer a browser opening the URL with the page; let WebSocket handshakes through."""
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return None
    response = connection.respond(http.HTTPStatus.OK, PAGE.read_text())
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    return response


async def main() -> None:
    """Serve until Ctrl-C or SIGTERM."""
    async with serve(show_time, "127.0.0.1", PORT, process_request=serve_page) as server:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, server.close)
        loop.add_signal_handler(signal.SIGTERM, server.close)
        await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())

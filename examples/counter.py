"""A counter that every client can increment or decrement, kept in sync for all.

Run it, then open http://localhost:6789/ in several browser windows::

    python examples/counter.py

Plain HTTP requests get ``counter.html``. Clients send
``{"action": "plus"}`` or ``{"action": "minus"}``; the server sends
``{"type": "state", "value": ...}`` and ``{"type": "users", "count": ...}``
to everyone. The port is 6789 or the ``PORT`` environment variable.
"""

import asyncio
import http
import json
import logging
import os
import pathlib
import signal

from websockets_typed import Request, Response, ServerConnection, broadcast, serve

PORT = int(os.environ.get("PORT", "6789"))
PAGE = pathlib.Path(__file__).with_name("counter.html")

logging.basicConfig()

# The application state. asyncio runs one handler at a time between two
# awaits, so updates never interleave.
STATE = {"value": 0}
USERS: set[ServerConnection] = set()


def state_event() -> str:
    """The counter's value, as a JSON message."""
    return json.dumps({"type": "state", **STATE})


def users_event() -> str:
    """How many clients are connected, as a JSON message."""
    return json.dumps({"type": "users", "count": len(USERS)})


async def counter(websocket: ServerConnection) -> None:
    """Register the client, apply its actions, tell everyone about changes."""
    USERS.add(websocket)
    try:
        broadcast(USERS, users_event())
        await websocket.send(state_event())
        async for message in websocket:
            event = json.loads(message)
            if event["action"] == "minus":
                STATE["value"] -= 1
                broadcast(USERS, state_event())
            elif event["action"] == "plus":
                STATE["value"] += 1
                broadcast(USERS, state_event())
            else:
                logging.error("unsupported event: %s", event)
    finally:
        USERS.remove(websocket)
        broadcast(USERS, users_event())


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
    async with serve(counter, "localhost", PORT, process_request=serve_page) as server:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, server.close)
        loop.add_signal_handler(signal.SIGTERM, server.close)
        await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())

"""A server with several endpoints: chat rooms, user pages and a clock.

Run it with::

    python examples/router.py

then connect to ``ws://localhost:8765/chat/lobby``, ``ws://localhost:8765/user/42``
or ``ws://localhost:8765/clock``, e.g. with ``python -m websockets_typed
ws://localhost:8765/chat/lobby``. Other paths get 404. It listens on port
8765 or the ``PORT`` environment variable.
"""

import asyncio
import datetime
import os
import signal

from websockets_typed import Route, ServerConnection, broadcast, route

PORT = int(os.environ.get("PORT", "8765"))

ROOMS: dict[str, set[ServerConnection]] = {}


async def chat(connection: ServerConnection, room: str) -> None:
    """Relay every message to everyone in the same room."""
    members = ROOMS.setdefault(room, set())
    members.add(connection)
    try:
        await connection.send(f"Welcome to {room}!")
        async for message in connection:
            broadcast(members, message)
    finally:
        members.discard(connection)


async def user(connection: ServerConnection, id: int) -> None:
    """Greet a user by number: ``id`` is already an int."""
    await connection.send(f"Hello, user #{id}; next is #{id + 1}.")


async def clock(connection: ServerConnection) -> None:
    """Send the time once."""
    now = datetime.datetime.now(datetime.UTC)
    await connection.send(f"It is {now:%H:%M:%S} UTC.")


URL_MAP = [
    Route("/chat/{room}", chat),
    Route("/user/{id:int}", user),
    Route("/clock", clock),
]


async def main() -> None:
    """Serve until Ctrl-C or SIGTERM."""
    async with route(URL_MAP, "localhost", PORT) as server:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, server.close)
        loop.add_signal_handler(signal.SIGTERM, server.close)
        await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())

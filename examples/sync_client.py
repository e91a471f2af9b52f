"""A blocking client, without asyncio: send a message, print the answer.

Start ``python examples/sync_echo_server.py`` (or ``echo_server.py``) first, then::

    python examples/sync_client.py
"""

import os

from websockets_typed.sync.client import connect

with connect(f"ws://localhost:{os.environ.get('PORT', '8765')}") as websocket:
    websocket.send("Hello world!")
    print(websocket.recv())

"""An echo server with threads, without asyncio: a thread per connection.

Run it, then ``python examples/sync_client.py`` in another terminal::

    python examples/sync_echo_server.py

It listens on localhost, port 8765 or the ``PORT`` environment variable.
Ctrl-C or SIGTERM stops it: open connections are closed with 1001.
"""

import os
import signal
import threading

from websockets_typed.sync.server import ServerConnection, serve

PORT = int(os.environ.get("PORT", "8765"))


def echo(websocket: ServerConnection) -> None:
    """Send each message back; the loop ends when the client disconnects."""
    for message in websocket:
        websocket.send(message)


def main() -> None:
    """Serve until Ctrl-C or SIGTERM."""
    # Blocked here, the signals stay blocked in the threads started below:
    # they wait for sigwait() rather than interrupt a random thread.
    signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    with serve(echo, "localhost", PORT) as server:
        threading.Thread(target=server.serve_forever).start()
        signal.sigwait(signals)
    # Leaving the block shut the server down: connections closed with 1001.


if __name__ == "__main__":
    main()

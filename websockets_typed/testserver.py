"""The test server of ``python -m websockets_typed serve``.

One process, four things to try:

* ``ws://host:port/echo`` (and ``ws://host:port/``): sends back every message;
* ``ws://host:port/chat``: a room; every message goes to everyone connected;
* ``http://host:port/healthz``: plain HTTP 200, for health checks;
* ``http://host:port/``: an HTML page that connects back to the two
  endpoints above, to try them in a browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import signal
from typing import TYPE_CHECKING, Final

from .asyncio.connection import broadcast
from .asyncio.server import ServerConnection, serve
from .exceptions import ConnectionClosed
from .http11 import Request, Response

if TYPE_CHECKING:
    from .asyncio.bus import RedisBroadcast

__all__ = ["INDEX_HTML", "create_test_server", "run_test_server"]


async def echo(connection: ServerConnection) -> None:
    """Send every message back to the client, unchanged."""
    async for message in connection:
        await connection.send(message)


class ChatRoom:
    """Everyone connected to ``/chat``; every message is broadcast to all."""

    def __init__(self) -> None:
        self.members: set[ServerConnection] = set()

    async def join(self, connection: ServerConnection) -> None:
        """Relay the member's messages to the room until it leaves."""
        self.members.add(connection)
        broadcast(self.members, f"* {len(self.members)} connected")
        try:
            async for message in connection:
                broadcast(self.members, message)
        except ConnectionClosed:
            pass
        finally:
            self.members.discard(connection)
            broadcast(self.members, f"* {len(self.members)} connected")


def process_request(connection: ServerConnection, request: Request) -> Response | None:
    """Answer plain HTTP requests; let WebSocket handshakes through."""
    path = request.path.partition("?")[0]
    if path == "/healthz":
        return connection.respond(http.HTTPStatus.OK, "OK\n")
    is_upgrade = "websocket" in request.headers.get("Upgrade", "").lower()
    if path == "/" and not is_upgrade:
        response = connection.respond(http.HTTPStatus.OK, INDEX_HTML)
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "text/html; charset=utf-8"
        return response
    if path not in ("/", "/echo", "/chat"):
        return connection.respond(http.HTTPStatus.NOT_FOUND, f"No such endpoint: {path}\n")
    return None


def create_test_server(
    host: str, port: int, *, reuse_port: bool = False, bus: RedisBroadcast | None = None
) -> serve:
    """Build the test server; await it or use it with ``async with``.

    Args:
        host: Interface to listen on.
        port: TCP port; 0 picks a free one.
        reuse_port: Share the port with other processes (worker processes).
        bus: Relay ``/chat`` through this bus: one room across every
            process that uses the same Redis.
    """
    room = ChatRoom()

    async def handler(connection: ServerConnection) -> None:
        if connection.path.partition("?")[0] == "/chat":
            if bus is None:
                await room.join(connection)
            else:
                await bus.join("websockets_typed:testserver:chat", connection)
        else:
            await echo(connection)

    return serve(handler, host, port, process_request=process_request, reuse_port=reuse_port)


def _url_host(address: str) -> str:
    """Write the address a server listens on as the host part of a URL to open."""
    if address in ("0.0.0.0", "::"):
        # Listening on every interface: this machine is reachable as localhost.
        return "localhost"
    # RFC 3986, 3.2.2: an IPv6 address is written between brackets.
    return f"[{address}]" if ":" in address else address


async def run_test_server(
    host: str, port: int, *, reuse_port: bool = False, redis_url: str | None = None
) -> None:
    """Run the test server until SIGINT or SIGTERM, then close it cleanly.

    Clients get a Close frame with 1001 (going away) on shutdown. With
    ``redis_url``, ``/chat`` is one room across every test server using
    that Redis (it needs the ``redis`` extra).
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        bus = None
        if redis_url is not None:
            from .asyncio.bus import RedisBroadcast  # noqa: PLC0415 - the optional extra

            bus = await stack.enter_async_context(RedisBroadcast(redis_url))
        server = await stack.enter_async_context(
            create_test_server(host, port, reuse_port=reuse_port, bus=bus)
        )
        bound_host, bound_port = server.sockets[0].getsockname()[:2]
        base = f"{_url_host(bound_host)}:{bound_port}"
        print(f"Test server running: open http://{base}/ in a browser", flush=True)
        print(f"WebSocket endpoints: ws://{base}/echo and ws://{base}/chat", flush=True)
        await stop.wait()
        print("Shutting down...", flush=True)
    print("Server stopped.", flush=True)


INDEX_HTML: Final = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>websockets_typed test server</title>
<link rel="icon" href="data:,">
<style>
  body { font-family: system-ui, sans-serif; max-width: 48rem; margin: 2rem auto; padding: 0 1rem; }
  section { border: 1px solid #ccc; border-radius: 6px; padding: 1rem; margin-bottom: 1.5rem; }
  ul { list-style: none; padding: 0; font-family: monospace; max-height: 14rem; overflow-y: auto; }
  .status { color: #666; font-size: 0.9rem; }
</style>
</head>
<body>
<h1>websockets_typed test server</h1>
<section id="echo">
  <h2>Echo</h2>
  <p class="status">connecting...</p>
  <form><input name="message" autocomplete="off" placeholder="Say something">
  <button type="submit">Send</button></form>
  <ul></ul>
</section>
<section id="chat">
  <h2>Chat room</h2>
  <p class="status">connecting...</p>
  <form><input name="message" autocomplete="off" placeholder="Talk to everyone connected">
  <button type="submit">Send</button></form>
  <ul></ul>
</section>
<script>
  function connect(name) {
    const section = document.getElementById(name);
    const status = section.querySelector(".status");
    const log = section.querySelector("ul");
    const input = section.querySelector("input");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const websocket = new WebSocket(`${scheme}//${location.host}/${name}`);
    function show(text) {
      const item = document.createElement("li");
      item.textContent = text;
      log.appendChild(item);
      log.scrollTop = log.scrollHeight;
    }
    websocket.onopen = () => { status.textContent = "connected"; };
    websocket.onclose = (event) => {
      status.textContent = `closed: ${event.code} ${event.reason}`;
    };
    websocket.onmessage = (event) => show(`< ${event.data}`);
    section.querySelector("form").onsubmit = (event) => {
      event.preventDefault();
      if (input.value) {
        websocket.send(input.value);
        show(`> ${input.value}`);
        input.value = "";
      }
    };
  }
  connect("echo");
  connect("chat");
</script>
</body>
</html>
"""
"""The page served at ``/``: try the echo and chat endpoints from a browser."""

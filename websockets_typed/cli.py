"""The command line: an interactive client and the test server.

::

    python -m websockets_typed ws://localhost:8765/echo
    python -m websockets_typed serve --host 127.0.0.1 --port 8765
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import threading
from collections.abc import Sequence
from typing import Final, TextIO

from .asyncio.client import ClientConnection, connect
from .exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from .frames import Close

__all__ = ["main"]

DESCRIPTION: Final = """\
Interactive WebSocket client, and test server.

  python -m websockets_typed URI
      Connect to URI (ws:// or wss://). Each line you type is sent as a text
      message; messages received are printed as they arrive, after "< ".
      Ctrl-D closes the connection. The exit status is 0 after a normal
      closure (1000 or 1001), 1 otherwise.

  python -m websockets_typed serve [--host HOST] [--port PORT]
      Run the test server: an echo endpoint (/echo, also /), a chat room
      (/chat), a health check (/healthz) and, at http://HOST:PORT/, a page to
      try them in a browser. Ctrl-C stops it, closing connections with 1001.
"""


def _client_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m websockets_typed",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("uri", metavar="URI", help="ws:// or wss:// URI to connect to")
    return parser


def _server_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m websockets_typed serve",
        description="Run the test server.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="TCP port (8765)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["serve"]:
        options = _server_parser().parse_args(args[1:])
        # Imported here: the client doesn't need the server's modules.
        from .testserver import run_test_server  # noqa: PLC0415

        asyncio.run(run_test_server(options.host, options.port))
        return 0
    uri = _client_parser().parse_args(args).uri
    try:
        return asyncio.run(_interactive_client(uri, sys.stdout))
    except KeyboardInterrupt:
        return 1


async def _interactive_client(uri: str, out: TextIO) -> int:
    """Connect to ``uri``, send stdin lines, print messages; return the exit status."""
    try:
        connection = await connect(uri)
    except (InvalidURI, ValueError) as exc:
        print(f"Invalid URI {uri}: {exc}.", file=sys.stderr)
        return 2
    except InvalidStatus as exc:
        status = exc.response.status_code
        phrase = exc.response.reason_phrase
        print(f"Failed to connect to {uri}: HTTP {status} {phrase}.", file=sys.stderr)
        return 1
    except (OSError, TimeoutError, InvalidHandshake) as exc:
        print(f"Failed to connect to {uri}: {exc or type(exc).__name__}.", file=sys.stderr)
        return 1

    interactive = out.isatty() and sys.stdin.isatty()
    console = _Console(out, interactive)
    console.print(f"Connected to {uri}.")
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    _read_lines(lines)
    receiving = asyncio.create_task(_print_messages(connection, console))
    sending = asyncio.create_task(_send_lines(connection, lines))
    await asyncio.wait([receiving, sending], return_when=asyncio.FIRST_COMPLETED)
    sending.cancel()
    await connection.close()
    with contextlib.suppress(asyncio.CancelledError):
        await sending
    await receiving
    close = connection.protocol.close_rcvd
    code = connection.close_code
    reason = str(close) if close is not None else str(Close(code or 1006, ""))
    console.print(f"Connection closed: {reason}.")
    return 0 if code in (1000, 1001) else 1


class _Console:
    """Prints received messages without mangling the line being typed."""

    def __init__(self, out: TextIO, interactive: bool) -> None:
        self.out = out
        self.interactive = interactive

    def print(self, text: str) -> None:
        if self.interactive:
            # Erase the prompt, print, then show the prompt again.
            self.out.write(f"\r\x1b[K{text}\n> ")
        else:
            self.out.write(f"{text}\n")
        self.out.flush()


async def _print_messages(connection: ClientConnection, console: _Console) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for message in connection:
            if isinstance(message, str):
                console.print(f"< {message}")
            else:
                console.print(f"< (binary) {message.hex(' ')}")


async def _send_lines(connection: ClientConnection, lines: asyncio.Queue[str | None]) -> None:
    with contextlib.suppress(ConnectionClosed):
        while (line := await lines.get()) is not None:
            await connection.send(line)


def _read_lines(lines: asyncio.Queue[str | None]) -> None:
    """Feed the lines of stdin to ``lines``, then ``None`` at the end of input.

    A daemon thread reads, so that a blocking read never keeps the process
    alive once the connection is closed.
    """
    loop = asyncio.get_running_loop()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line.rstrip("\r\n"))
        with contextlib.suppress(RuntimeError):  # the loop may be closed already
            loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=read, daemon=True, name="stdin").start()

"""The command line: an interactive client and the test server.

::

    python -m websockets_typed ws://localhost:8765/echo
    python -m websockets_typed serve --host 127.0.0.1 --port 8765

Errors are reported on one line of standard error, with a non-zero exit
status: 1 when the connection fails or ends abnormally, 2 for a usage error
(an invalid URI, for instance).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
import threading
from collections.abc import Sequence
from typing import Final, TextIO

from .asyncio.client import ClientConnection, connect
from .exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from .frames import Close, CloseCode

__all__ = ["main"]

DESCRIPTION: Final = """\
Interactive WebSocket client, and test server.

  python -m websockets_typed URI
      Connect to URI (ws:// or wss://). Each line you type is sent as a text
      message; messages received are printed as they arrive, after "< ",
      with control characters escaped. Ctrl-D (end of input) or Ctrl-C
      closes the connection; replies the server had not sent by then are
      lost. The exit status is 0 after a normal closure (1000 or 1001), 1
      otherwise or when the connection fails, 2 for an invalid URI.

  python -m websockets_typed serve [--host HOST] [--port PORT]
      Run the test server: an echo endpoint (/echo, also /), a chat room
      (/chat), a health check (/healthz) and, at http://HOST:PORT/, a page to
      try them in a browser. Ctrl-C or SIGTERM stops it, closing connections
      with 1001 (going away). See: python -m websockets_typed serve --help
"""

# Normal closures: the exit status is 0 after them.
_NORMAL_CLOSURES: Final = frozenset({CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY})

# Received text is printed to a terminal: control characters (C0, DEL and
# C1) could move the cursor, change colors or worse, so they are shown as
# escapes instead.
_ESCAPES: Final = str.maketrans(
    {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}
    | {ord("\t"): "\\t", ord("\n"): "\\n", ord("\r"): "\\r"}
)


def _client_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m websockets_typed",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("uri", metavar="URI", help="ws:// or wss:// URI to connect to")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status.

    Args:
        argv: The arguments, without the program name; ``sys.argv[1:]`` by
            default.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["serve"]:
        # Imported here: the client doesn't need the server's modules.
        from .testserver import main as serve  # noqa: PLC0415

        return serve(args[1:])
    uri = _client_parser().parse_args(args).uri
    try:
        return asyncio.run(_interactive_client(uri, sys.stdout))
    except KeyboardInterrupt:  # pragma: no cover - a second Ctrl-C, while closing: racy to test
        return 1


def _describe(exc: BaseException) -> str:
    """Say in a few words why connecting failed."""
    if isinstance(exc, InvalidStatus):
        response = exc.response
        text = f"server answered HTTP {response.status_code} {response.reason_phrase}".rstrip()
        # A rejection usually explains itself in the first line of its body.
        body = (response.body or b"").decode(errors="replace").strip().partition("\n")[0]
        if body and len(body) <= 100:
            text = f"{text}: {body.translate(_ESCAPES)}"
        return text
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror) and exc.strerror:
        return f"cannot resolve host: {exc.strerror}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


async def _interactive_client(uri: str, out: TextIO) -> int:
    """Connect to ``uri``, send stdin lines, print messages; return the exit status."""
    try:
        connection = await connect(uri)
    except InvalidURI as exc:
        print(f"Invalid URI {uri}: {exc.msg}.", file=sys.stderr)
        return 2
    except (OSError, TimeoutError, InvalidHandshake) as exc:
        print(f"Failed to connect to {uri}: {_describe(exc)}.", file=sys.stderr)
        return 1

    console = _Console(out, interactive=out.isatty() and sys.stdin.isatty())
    console.print(f"Connected to {uri}.")
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    _read_lines(lines)
    receiving = asyncio.create_task(_print_messages(connection, console))
    sending = asyncio.create_task(_send_lines(connection, lines, console))
    try:
        # Until the server closes the connection or the input ends.
        await asyncio.wait([receiving, sending], return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        # Ctrl-C: asyncio.run() cancels this task. Close as for Ctrl-D, and
        # don't let asyncio.run() turn it into KeyboardInterrupt.
        task = asyncio.current_task()
        assert task is not None
        task.uncancel()
    sending.cancel()
    await connection.close()
    with contextlib.suppress(asyncio.CancelledError):
        await sending
    await receiving
    # The code and reason the server sent, or 1006 if none arrived.
    close = connection.protocol.close_rcvd or Close(CloseCode.ABNORMAL_CLOSURE, "")
    console.print(f"Connection closed: {str(close).translate(_ESCAPES)}.", prompt=False)
    return 0 if close.code in _NORMAL_CLOSURES else 1


class _Console:
    """Prints lines, and keeps a prompt at the bottom on a terminal.

    On a terminal, each line replaces the prompt, which is shown again
    below it; text being typed stays in the terminal's line buffer even if
    its echo is erased. Otherwise (pipes, files), lines are printed plainly.
    """

    def __init__(self, out: TextIO, interactive: bool) -> None:
        self.out = out
        self.interactive = interactive

    def print(self, text: str, prompt: bool = True) -> None:
        if self.interactive:
            # Carriage return and erase the line (ANSI EL), where the prompt is.
            self.out.write(f"\r\x1b[K{text}\n")
            if prompt:
                self.out.write("> ")
        else:
            self.out.write(f"{text}\n")
        self.out.flush()

    def prompt(self) -> None:
        """Show the prompt again after a line was entered."""
        if self.interactive:
            self.out.write("> ")
            self.out.flush()


async def _print_messages(connection: ClientConnection, console: _Console) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for message in connection:
            if isinstance(message, str):
                console.print(f"< {message.translate(_ESCAPES)}")
            else:
                console.print(f"< (binary) {message.hex(' ')}")


async def _send_lines(
    connection: ClientConnection, lines: asyncio.Queue[str | None], console: _Console
) -> None:
    with contextlib.suppress(ConnectionClosed):
        while (line := await lines.get()) is not None:
            await connection.send(line)
            console.prompt()


def _read_lines(lines: asyncio.Queue[str | None]) -> None:
    """Feed the lines of stdin to ``lines``, then ``None`` at the end of input.

    A daemon thread reads: reading a terminal or a pipe without blocking
    the event loop isn't portable, and a daemon thread blocked in a read
    doesn't keep the process alive once the connection is closed.
    """
    loop = asyncio.get_running_loop()

    def put(line: str | None) -> None:
        # The loop is closed if the connection ended while reading.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(lines.put_nowait, line)

    def read() -> None:
        for line in sys.stdin:
            put(line.rstrip("\r\n"))
        put(None)

    threading.Thread(target=read, daemon=True, name="stdin").start()

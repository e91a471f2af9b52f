"""Reading an HTTP/1.1 handshake from a stream, under the legacy API's module name.

Seed 001 documents ``websockets.http``: :class:`Headers`,
:exc:`MultipleValuesError`, and two coroutines that read the head of a
request or a response from an :class:`asyncio.StreamReader`. They parse with
:mod:`websockets_typed.http11`'s parsers, with the same limits (line length,
number of headers), and read one line at a time, so that whatever follows
the head (a body, WebSocket frames) stays in the stream for the caller.

Like the rest of the legacy API's utilities, these names are not exported by
the package ``websockets_typed``: import them from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from .datastructures import Headers, MultipleValuesError
from .exceptions import InvalidMessage, SecurityError
from .http11 import RequestParser, ResponseParser

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

__all__ = ["Headers", "MultipleValuesError", "read_request", "read_response"]

_T = TypeVar("_T")


async def read_request(stream: asyncio.StreamReader) -> tuple[str, Headers]:
    """Read the head of an HTTP/1.1 ``GET`` request from ``stream``.

    The path is returned as sent: neither URL-decoded nor validated beyond
    the request line's grammar. Header values decode bytes 0x80-0xFF to lone
    surrogates (``surrogateescape``). A body, if the headers announce one, is
    not read: it stays in ``stream``.

    Returns:
        ``(path, headers)``.

    Raises:
        InvalidMessage: If the request is malformed, is not a ``GET``, or
            the stream ends before the end of the headers.
        SecurityError: If a line is too long or there are too many headers.
    """
    parser = RequestParser()
    parser.head_only = True
    request = await _read_head(stream, parser.parse, parser.parse_eof)
    # The parser also accepts HEAD and POST, for process_request; a WebSocket
    # handshake is a GET (RFC 6455, section 4.1).
    if request.method != "GET":
        raise InvalidMessage(f"unsupported HTTP method: {request.method}")
    return request.path, request.headers


async def read_response(stream: asyncio.StreamReader) -> tuple[int, Headers]:
    """Read the head of an HTTP/1.1 response from ``stream``.

    Header values decode bytes 0x80-0xFF to lone surrogates
    (``surrogateescape``). The body, if any, is not read: it stays in
    ``stream``.

    Returns:
        ``(status_code, headers)``.

    Raises:
        InvalidMessage: If the response is malformed, or the stream ends
            before the end of the headers.
        SecurityError: If a line is too long or there are too many headers.
    """
    parser = ResponseParser()
    parser.head_only = True
    response = await _read_head(stream, parser.parse, parser.parse_eof)
    return response.status_code, response.headers


async def _read_head(
    stream: asyncio.StreamReader,
    parse: Callable[[bytearray], _T | None],
    parse_eof: Callable[[bytearray], _T],
) -> _T:
    """Feed ``stream`` to a parser line by line until it returns a message.

    Reading line by line never takes a byte past the head out of the
    stream; the parser enforces the line length and header count limits.
    """
    buffer = bytearray()
    while True:
        try:
            line = await stream.readline()
        except ValueError:  # a line longer than the stream's own limit
            raise SecurityError("HTTP line exceeds the stream's limit") from None
        buffer += line
        if not line.endswith(b"\n"):  # the end of the stream
            return parse_eof(buffer)
        message = parse(buffer)
        if message is not None:
            return message

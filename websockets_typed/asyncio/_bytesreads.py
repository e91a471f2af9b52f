"""One call of Python code per read on uvloop's plain transports: ``data_received()``.

uvloop's transports call a buffered protocol twice per read, ``get_buffer()``
before the system call and ``buffer_updated()`` after it, and a plain one
once, ``data_received()`` with the bytes read. A connection is a buffered
protocol, so that the payload of a large frame lands where it stays (see
``_receivebuffer``). Between large frames, on uvloop's plain TCP and Unix
transports, it hands the transport a :class:`BytesReads` instead, which
passes each read to ``Connection._bytes_received()``: on the round trip of a
small message (bench/run.py, S1), the server writes its answer about 0.8 µs
sooner (10.0-10.7 to 9.2-9.8 µs from ``epoll_wait()`` to ``write()``, perf
trace).
The connection hands the transport itself back for the payload of a large
frame, and this again at the first read after it that starts no large frame:
large messages in a row are read as they were (bench/run.py, S3), where bytes
would cost uvloop a copy of up to 256 KiB, its read size, per message.

asyncio's own transports read a plain protocol's bytes into a new object of
256 KiB per read (``sock.recv(max_size)``), and TLS transports decrypt into
buffers of their own: both keep the connection.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["BYTES_TRANSPORTS", "BytesReads", "reads_bytes"]


BYTES_TRANSPORTS: set[type] = set()
"""The classes of transports that :func:`reads_bytes` accepted so far: a set
that a read checks cheaply (uvloop is imported only by whoever uses it)."""


def reads_bytes(transport: object) -> bool:
    """Whether ``transport`` is one of uvloop's plain TCP or Unix transports."""
    cls = type(transport)
    if cls in BYTES_TRANSPORTS:
        return True
    if cls.__module__ == "uvloop.loop" and cls.__name__ in ("TCPTransport", "UnixTransport"):
        BYTES_TRANSPORTS.add(cls)
        return True
    return False


class BytesReads(asyncio.Protocol):
    """A connection, as a plain protocol for its transport: each read is one call.

    ``data_received`` is the connection's own bound method, which uvloop
    calls without a call of Python code in between; the other callbacks go
    to the connection.
    """

    __slots__ = ("connection", "data_received")

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        # A slot where asyncio.Protocol has a method: uvloop looks it up
        # once, when the transport takes this protocol.
        self.data_received = connection._bytes_received  # type: ignore[method-assign]  # pyright: ignore[reportAttributeAccessIssue, reportPrivateUsage]

    def eof_received(self) -> None:
        self.connection.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.connection.connection_lost(exc)

    def pause_writing(self) -> None:
        self.connection.pause_writing()

    def resume_writing(self) -> None:
        self.connection.resume_writing()

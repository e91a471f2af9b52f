"""Data framing (RFC 6455, section 5) under the legacy API's module name.

Seed 001 documents ``websockets.framing``: the :class:`Frame` class, read
from a stream with :meth:`Frame.read` and written with :meth:`Frame.write`,
and a few helpers. Everything here is :mod:`websockets_typed.frames`, which
implements it; this module only gives it its old address::

    from websockets_typed.framing import OP_TEXT, Frame

    frame = await Frame.read(reader.readexactly, mask=True, max_size=2**20)
    Frame(OP_TEXT, b"hello").write(writer.write, mask=False)

Note that fields come in the order of :class:`Frame` (``opcode``, ``data``,
``fin``, ...), not in the order of old versions (``fin`` first); building
a frame with the old order raises :exc:`TypeError`.
"""

from __future__ import annotations

from .frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Frame,
    encode_data,
    parse_close,
    serialize_close,
)

__all__ = [
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "Frame",
    "encode_data",
    "parse_close",
    "serialize_close",
]

"""A large masked frame sent from a reused buffer, straight to the socket.

A client sending a message of :data:`DIRECT_SEND` bytes or more (and less
than :data:`~websockets_typed.frames.SLICED_FRAME`, written in slices) on
asyncio's plain TCP transport, before Python 3.12, when nothing waits in the
transport's buffer: the C accelerator masks the frame into a buffer that
the process reuses and sends it with one ``send(2)``, and only what the
socket didn't take goes through ``transport.write()``. That transport sends
what the socket takes and copies the rest into its own buffer before
returning (Python 3.11's ``_SelectorSocketTransport.write``), so the buffer
is free again as soon as the call returns; from Python 3.12 on, it keeps a
view of the caller's data instead, and this path is off. Other transports
(TLS, uvloop's) never take it.

It saves allocating a new ``bytes`` object as large as the frame for every
message, and the transport's Python-level ``write()`` when the socket takes
the whole frame, which it usually does. The bytes on the wire are the same.

One buffer per process (per thread sending at that moment, at most): it is
taken from :data:`_BUFFERS` and put back before the caller returns, never
kept by a connection, so idle connections cost nothing. It keeps the size of
the largest frame sent through it, less than ``SLICED_FRAME`` plus a header.
"""

from __future__ import annotations

import asyncio.selector_events
import sys
from collections.abc import Callable
from typing import Final

from ..frames import SLICED_FRAME, SPEEDUPS
from ..protocol import Protocol
from ..typing import BytesLike

__all__ = ["DIRECT_SEND", "PLAIN_TRANSPORT", "send_masked"]

DIRECT_SEND: Final = 2**16
"""From this payload size on, a masked frame may be sent from the reused buffer."""


def _load() -> tuple[type | None, Callable[[int, bytes, bytes, bytes, bytearray], int] | None]:
    """The transport class whose ``write()`` copies what it doesn't send, and ``mask_send``."""
    if not SPEEDUPS or sys.version_info >= (3, 12):
        return None, None
    from .. import _speedups  # noqa: PLC0415 - only with the accelerator

    mask_send = getattr(_speedups, "mask_send", None)  # not on Windows
    if mask_send is None:
        return None, None
    transport: type | None = getattr(asyncio.selector_events, "_SelectorSocketTransport", None)
    return transport, mask_send


PLAIN_TRANSPORT, _mask_send = _load()
"""``type(transport) is PLAIN_TRANSPORT`` when :func:`send_masked` may be used; ``None`` if never."""

# The reused buffers: one unless threads send at the same time.
_BUFFERS: list[bytearray] = []


def send_masked(transport: asyncio.Transport, protocol: Protocol, text: bool, data: BytesLike) -> bool:
    """Send a message in one masked frame straight to the socket; false if it can't be.

    ``transport`` must be of type :data:`PLAIN_TRANSPORT`. It can't when
    the frame can't be written now as one piece (see
    :meth:`~websockets_typed.protocol.Protocol.frame_head`), when it isn't
    masked (a server), when it would be written in slices, or when the
    transport is closing or has bytes in its buffer, which must go first:
    the caller then sends it as usual.
    """
    mask_send = _mask_send
    assert mask_send is not None  # PLAIN_TRANSPORT is None without it
    if transport.get_write_buffer_size() or transport.is_closing():
        return False
    payload = data if type(data) is bytes else bytes(data)
    length = len(payload)
    if length >= SLICED_FRAME:
        return False
    head = protocol.frame_head(text, length)
    if head is None or head[1] is None:
        return False
    header, key = head
    total = len(header) + length
    buffer = _BUFFERS.pop() if _BUFFERS else bytearray()
    fd = transport.get_extra_info("socket").fileno()
    sent = mask_send(fd, header, payload, key, buffer)
    if sent < total:
        # The socket took part of it or failed: the transport sends the rest
        # again, or reports the error, and copies what is left into its own
        # buffer (see the module's docstring). If it raises, the buffer isn't
        # reused: a view of it may outlive the call in the traceback.
        transport.write(memoryview(buffer)[max(sent, 0) : total])
    _BUFFERS.append(buffer)
    return True

"""A client's large frame masked into a buffer that the process reuses.

A masked frame of :data:`REUSED` bytes or more (and less than
:data:`~websockets_typed.frames.SLICED_FRAME`, which is written in slices)
would be a new ``bytes`` object as large as the message, allocated and
freed for every message; while it waits for the write buffer to drain, the
transport's buffer holds what the socket didn't take, and freeing both
leaves the top of the heap free beyond glibc's trimming threshold (twice the
largest block it has mapped and freed, about 2 MiB here): the heap shrinks,
and grows again for the next message, each page faulted in afresh. Masked
into one reused buffer instead, a client sending 1 MiB messages faults no
page after its first messages (bench/run.py, C2 1 MiB; docs/performance.md).

Only where that is safe: on asyncio's plain TCP transport before Python
3.12, whose ``write()`` sends what the socket takes and copies the rest into
its own buffer before it returns, so that the buffer is free again when
:func:`write_masked` returns. From Python 3.12 on, that transport keeps a
view of the caller's data instead; TLS and uvloop's transports keep the
data too: the usual path then allocates the frame.

The buffer belongs to the process, not to a connection: it is taken from
:data:`_BUFFERS` and put back before :func:`write_masked` returns (several
only if threads write at once), so idle connections hold none. It keeps the
size of the largest frame written through it: less than ``SLICED_FRAME``
plus a header, 4 MiB.
"""

from __future__ import annotations

import asyncio.selector_events
import sys
from collections.abc import Callable
from typing import Final

from ..frames import SLICED_FRAME, SPEEDUPS
from ..protocol import Protocol
from ..typing import BytesLike

__all__ = ["COPYING_TRANSPORT", "REUSED", "write_masked"]

REUSED: Final = 2**16
"""From this payload size on, a masked frame goes through the reused buffer."""

_MaskInto = Callable[[bytearray, bytes, bytes, bytes], int]


def _load() -> tuple[type | None, _MaskInto | None]:
    """The transport class whose ``write()`` copies what it doesn't send, and ``mask_into``."""
    if not SPEEDUPS or sys.version_info >= (3, 12):
        return None, None
    from .._speedups import mask_into  # noqa: PLC0415 - only with the accelerator

    transport: type | None = getattr(asyncio.selector_events, "_SelectorSocketTransport", None)
    return transport, mask_into


COPYING_TRANSPORT, _mask_into = _load()
"""Where :func:`write_masked` applies: ``type(transport) is COPYING_TRANSPORT``."""

# The reused buffers: one, unless threads write at once.
_BUFFERS: list[bytearray] = []


def write_masked(
    transport: asyncio.WriteTransport, protocol: Protocol, text: bool, data: BytesLike
) -> bool:
    """Write a message in one masked frame through the reused buffer; false if it can't be.

    ``transport`` must be of type :data:`COPYING_TRANSPORT`. False when the
    frame can't be written now as one piece (see
    :meth:`~websockets_typed.protocol.Protocol.frame_head`), isn't masked
    (a server), or would be written in slices: the caller then sends the
    message as usual.
    """
    mask_into = _mask_into
    assert mask_into is not None  # COPYING_TRANSPORT is None without it
    payload = data if type(data) is bytes else bytes(data)
    length = len(payload)
    if length >= SLICED_FRAME:
        return False
    head = protocol.frame_head(text, length)
    if head is None:
        return False
    header, key = head
    if key is None:
        return False
    buffer = _BUFFERS.pop() if _BUFFERS else bytearray()
    size = mask_into(buffer, header, payload, key)
    if size < 0:
        # A view of it survived (say, in a traceback): never write under
        # it; leave it to the garbage collector.
        buffer = bytearray()
        size = mask_into(buffer, header, payload, key)
    # The transport copies what the socket doesn't take (see above); the
    # views die with the call. If it raises, the buffer isn't put back.
    transport.write(memoryview(buffer)[:size])
    _BUFFERS.append(buffer)
    return True

"""A client's large frame masked into a buffer that the process reuses.

A masked frame of :data:`~websockets_typed.frames.MASKED_BY_CALLER` bytes
or more (and less than :data:`~websockets_typed.frames.SLICED_FRAME`, which
is written in slices) would be a new ``bytes`` object as large as the
message, allocated and freed for every message; while it waits for the write buffer to drain, the
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

from ..frames import SPEEDUPS

__all__ = ["COPYING_TRANSPORT", "write_masked"]

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


def write_masked(transport: asyncio.WriteTransport, header: bytes, key: bytes, data: bytes) -> None:
    """Write a frame through the reused buffer: ``header``, then ``data`` masked with ``key``.

    ``transport`` must be of type :data:`COPYING_TRANSPORT`.
    """
    mask_into = _mask_into
    assert mask_into is not None  # COPYING_TRANSPORT is None without it
    buffer = _BUFFERS.pop() if _BUFFERS else bytearray()
    size = mask_into(buffer, header, data, key)
    if size < 0:
        # A view of it survived (say, in a traceback): never write under
        # it; leave it to the garbage collector.
        buffer = bytearray()
        size = mask_into(buffer, header, data, key)
    # The transport copies what the socket doesn't take (see above); the
    # views die with the call. If it raises, the buffer isn't put back.
    transport.write(memoryview(buffer)[:size])
    _BUFFERS.append(buffer)

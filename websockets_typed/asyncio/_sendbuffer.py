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

The buffers belong to the process, not to a connection (:data:`_BUFFERS`),
so idle connections hold none. :func:`masked` also masks each slice of a
larger frame (see _slices) into one, on every transport: a buffer is reused
only once no view of it remains, which a transport that keeps the data it
didn't send holds (uvloop's, TLS, asyncio's from Python 3.12). A fresh
process writing 16 MiB messages in slices of new ``bytes`` objects made the
heap grow and shrink by 4 MiB per message (about 60 page faults per
megabyte, bench/run.py, C2 16 MiB fresh): a buffer kept by the process
faults no page after the first slice. The process keeps at most
:data:`_KEPT` buffers, each as large as the largest frame or slice masked
into it: at most a slice (4 MiB) and its header.
"""

from __future__ import annotations

import asyncio.selector_events
import sys
from collections.abc import Callable
from typing import Final

from ..frames import SPEEDUPS
from ..typing import BytesLike

__all__ = ["COPYING_TRANSPORT", "masked", "write_masked"]

_MaskInto = Callable[[bytearray, bytes, BytesLike, bytes], int]


def _load() -> tuple[type | None, _MaskInto | None]:
    """The transport class whose ``write()`` copies what it doesn't send, and ``mask_into``."""
    if not SPEEDUPS:
        return None, None
    from .._speedups import mask_into  # noqa: PLC0415 - only with the accelerator

    if sys.version_info >= (3, 12):
        return None, mask_into
    transport: type | None = getattr(asyncio.selector_events, "_SelectorSocketTransport", None)
    return transport, mask_into


COPYING_TRANSPORT, _mask_into = _load()
"""Where :func:`write_masked` applies: ``type(transport) is COPYING_TRANSPORT``."""

MASK_INTO: Final = _mask_into is not None
"""Whether :func:`masked` is available (with the C accelerator)."""

_KEPT: Final = 2
"""Buffers the process keeps: one while every transport copies or sends
what it is given at once; two while one is still viewed by a transport
(the tail of the previous slice, when the next one is written)."""

# The reused buffers, free or still viewed; the last one was used last.
_BUFFERS: list[bytearray] = []


def masked(header: bytes, data: BytesLike, key: bytes) -> memoryview:
    """``header``, then ``data`` masked with ``key``, in a buffer that the process reuses.

    The buffer is written over only once the view returned, and any view
    of it, is gone: keep it as long as needed. Requires :data:`MASK_INTO`.
    """
    mask_into = _mask_into
    assert mask_into is not None
    buffers = _BUFFERS
    viewed: list[bytearray] = []
    while True:
        # Popped, not read in place: another thread can't take the same one.
        buffer = buffers.pop() if buffers else bytearray()
        size = mask_into(buffer, header, data, key)
        if size >= 0:
            break
        # A view of it survives (a transport keeps it): try another.
        viewed.append(buffer)
    view = memoryview(buffer)[:size]
    buffers += viewed
    buffers.append(buffer)
    # Beyond _KEPT, drop the oldest: the garbage collector frees each
    # once its views are gone.
    del buffers[:-_KEPT]
    return view


def write_masked(transport: asyncio.WriteTransport, header: bytes, key: bytes, data: bytes) -> None:
    """Write a frame through the reused buffer: ``header``, then ``data`` masked with ``key``.

    ``transport`` must be of type :data:`COPYING_TRANSPORT`: it copies what
    the socket doesn't take (see above), and the view dies with the call.
    """
    transport.write(masked(header, data, key))

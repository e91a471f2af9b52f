"""A large frame written in slices, as the transport drains.

A frame of :data:`~websockets_typed.frames.SLICED_FRAME` bytes or more is
not handed to the transport at once: what the socket doesn't take at once
would wait in the transport's buffer (uvloop's keeps the whole frame,
asyncio's copies the rest), and a masked frame would first be masked whole.
Both are fresh memory as large as the message, and paging it in costs more
than the copies. The connection writes a :class:`SlicedFrame` one slice at
a time instead, the next ones each time the transport drains
(``resume_writing()``), and masks each slice as it writes it, into a
buffer that the process reuses (see _sendbuffer). It does so on every
event loop: even on asyncio's own, whose transport copies what the socket
didn't take, a client sending 16 MiB messages spends about 400 µs of CPU
time per megabyte in slices against 560 whole, with no page faults against
about 25 per megabyte (bench/run.py, C2 16 MiB, against a fixed server that
reads faster than clients write; docs/performance.md). Masked into a new
``bytes`` object each, slices still cost a fresh process some 60 page
faults per megabyte (its heap grew and shrank by 4 MiB per message) and
370 µs per megabyte against 240 in the reused buffer: ours / picows 0.82
against 1.24 (C2 16 MiB fresh, asyncio's loop, 5 alternating runs each).

Nothing may be written into the middle of a frame (RFC 6455, 5.4: control
frames go between frames, never inside one): while a sliced frame is being
written, the connection keeps everything else in :attr:`SlicedFrame.queued`
and writes it, in order, once the frame's last slice is written.
"""

from __future__ import annotations

import asyncio
from typing import Final

from ..frames import mask_frame
from ._sendbuffer import MASK_INTO, masked

__all__ = ["SLICE", "SlicedFrame"]

SLICE: Final = 2**22
"""Bytes of payload per slice: a multiple of 4, so that every slice starts
with the masking key's first byte and is masked with the key as it is.

Smaller slices take more writes and wake-ups per message, larger ones more
copies in asyncio's transport and more memory per connection. 512 KiB took
the fewest instructions per megabyte, but each slice waits for the buffer
to drain, and against a server that reads as fast as the client writes
(bench/fixed.py) the socket then runs dry between slices: 2 MiB sent 16
MiB messages at 2.3-3.1 GB/s against 2.1-2.2 with 512 KiB, on both event
loops (bench/run.py, C2 16 MiB, alternating runs). Masked into the reused
buffer, 4 MiB does better than 2 on uvloop (ours / picows, medians of 14
runs each: fresh 1.26 against 1.16, long-lived 1.15 against 1.09), the
same on asyncio's loop (1.20 both ways); 1 MiB did worse on both (asyncio
fresh 1.13 against 1.22, long-lived 1.01 against 1.13)."""


class SlicedFrame:
    """A frame being written slice by slice: its header, then its payload.

    Args:
        head: The frame's header, including the masking key if any.
        payload: The payload, not masked.
        key: The masking key, or ``None`` if the payload goes unmasked.
        loop: The event loop, for :attr:`done`.

    Attributes:
        queued: What the connection has to write after the frame, in order;
            ``b""`` stands for the end of the stream (see
            ``Connection._write_chunks``).
        done: Resolved once the last slice is written, or the connection
            is lost first (then :attr:`written` is false).
        written: Whether every slice was handed to the transport.
    """

    __slots__ = ("_head", "_key", "_offset", "_payload", "done", "queued", "written")

    def __init__(
        self,
        head: bytes,
        payload: memoryview,
        key: bytes | None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._head = head
        self._payload = payload
        self._key = key
        self._offset = 0
        self.queued: list[bytes] = []
        self.done: asyncio.Future[None] = loop.create_future()
        self.written = False

    def next_slice(self) -> bytes | memoryview | None:
        """Return the next bytes to write, or ``None`` once all were returned.

        A masked slice is a view of a buffer that the process reuses (see
        _sendbuffer), or of a new ``bytes`` object without the C
        accelerator, the first with the header in front; an unmasked one is
        a view of the payload, after the header on its own. Either way, the
        transport may keep it as long as it needs: nothing writes over its
        memory while a view of it exists.
        """
        offset = self._offset
        payload = self._payload
        if offset >= len(payload):
            return None
        head = self._head
        key = self._key
        if head and key is None:
            self._head = b""
            return head
        end = offset + SLICE
        self._offset = end
        if key is None:
            return payload[offset:end]
        if head:
            self._head = b""
        if MASK_INTO:
            return masked(head, payload[offset:end], key)
        # A view: asyncio's transport (before Python 3.12) slices what the
        # socket doesn't take, which copies bytes but not a view (see
        # _WRITE_VIEW in connection.py).
        return memoryview(mask_frame(head, payload[offset:end], key))

    def pending(self) -> int:
        """Bytes not handed to the transport yet: the rest of the payload and what is queued."""
        return len(self._payload) - self._offset + sum(map(len, self.queued))

    def finish(self) -> None:
        """Mark the frame written, or abandoned if slices remain, and resolve :attr:`done`.

        Called once: when the last slice is written, or when the connection
        is lost before.
        """
        self.written = self._offset >= len(self._payload)
        self.done.set_result(None)

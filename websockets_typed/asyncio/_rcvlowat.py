"""One wake-up per large frame rather than one per TCP segment: ``SO_RCVLOWAT``.

While the payload of a large frame arrives, a reader that wakes as soon as
the socket holds a byte reads it piece by piece, as fast as the peer sends
it: a 1 MiB message took some 12 reads, each an event loop iteration, a
system call and a window update that woke the sender in turn. With the
socket's receive low-water mark set to what the frame still misses, the
kernel reports the socket readable once that much has arrived: 2 reads per
message (its header, then the rest), and on asyncio's loop 125 µs of CPU
time per 1 MiB message in the server instead of 200, at 5.8 GB/s instead of
3.3 (bench/run.py, S3; docs/performance.md).

The mark never exceeds what the frame still misses, so the frame's last
byte always wakes the reader, whatever the peer does next; it goes back to
1 once the frame is complete. The end of the stream and errors wake the
reader whatever the mark. Linux caps the mark at half the largest receive
buffer and grows the buffer to hold it; kernels before 5.8 could stall when
the bytes queued took more memory than the buffer allowed, so they keep the
default. Neither TLS (the mark would count encrypted bytes, while the TLS
layer may already hold part of the frame) nor other systems take part.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    import asyncio

__all__ = ["RCVLOWAT_MAX", "SUPPORTED", "kernel_supports", "lowat_socket"]

RCVLOWAT_MAX: Final = 2**20
"""The highest mark set: the rest of a larger frame arrives in reads of this size at least."""


class SocketOptions(Protocol):
    """What a transport's ``socket`` extra offers here (asyncio's, uvloop's pseudo-sockets)."""

    @property
    def family(self) -> int: ...

    def setsockopt(self, level: int, option: int, value: int, /) -> None: ...


def kernel_supports(system: str, release: str) -> bool:
    """Tell whether ``SO_RCVLOWAT`` is used on this system: Linux 5.8 or later."""
    if system != "linux":
        return False
    match = re.match(r"(\d+)\.(\d+)", release)
    return match is not None and (int(match[1]), int(match[2])) >= (5, 8)


SUPPORTED: Final = sys.platform == "linux" and kernel_supports(sys.platform, os.uname().release)
"""Whether connections set ``SO_RCVLOWAT`` on this machine."""


def lowat_socket(transport: asyncio.BaseTransport) -> SocketOptions | None:
    """Return the transport's socket if a low-water mark applies to it: TCP, no TLS."""
    if transport.get_extra_info("sslcontext") is not None:
        return None
    sock: SocketOptions | None = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    return sock

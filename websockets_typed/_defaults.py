"""The default values of the options, written once for every layer.

The sans-I/O protocols, the asyncio layer (and the legacy and sync layers)
take their defaults from here, so that a default changes in one place and
the documentation's figures can be checked against it (tests/docs/test_limits_page.py).
"""

from __future__ import annotations

import sys
from typing import Final

from .version import version as _version

__all__ = [
    "BYTES_PER_FRAGMENT",
    "CLOSE_TIMEOUT",
    "LEGACY_MAX_QUEUE",
    "LEGACY_READ_LIMIT",
    "LEGACY_WRITE_LIMIT",
    "MAX_FRAGMENTS",
    "MAX_QUEUE",
    "MAX_SIZE",
    "OPEN_TIMEOUT",
    "PING_INTERVAL",
    "PING_TIMEOUT",
    "USER_AGENT",
    "WRITE_LIMIT",
    "ScaledLimit",
]


class ScaledLimit(int):
    """A default limit that grows with ``max_size``; an explicit ``int`` doesn't."""

    __slots__ = ()


MAX_SIZE: Final = 2**20
"""Largest incoming message, in bytes: 1 MiB."""

BYTES_PER_FRAGMENT: Final = 16
"""One fragment per this many bytes of ``max_size``: the default fragment limit, if above 65,536."""

MAX_FRAGMENTS: Final = ScaledLimit(2**16)
"""Largest number of frames in an incoming message: 65,536, or one per
:data:`BYTES_PER_FRAGMENT` bytes of ``max_size`` if that is more. A flood of
tiny fragments is refused, while a large ``max_size`` allows as many
fragments as a legitimate sender of that much data may use."""

MAX_QUEUE: Final = 16
"""High-water mark of the queue of received frames."""

WRITE_LIMIT: Final = 2**15
"""High-water mark of the write buffer, in bytes: 32 KiB."""

OPEN_TIMEOUT: Final = 10
"""Seconds allowed for the opening handshake."""

CLOSE_TIMEOUT: Final = 10
"""Seconds allowed for the closing handshake."""

PING_INTERVAL: Final = 20
"""Seconds between keepalive Pings."""

PING_TIMEOUT: Final = 20
"""Seconds to wait for the Pong of a keepalive Ping."""

BROADCAST_LIMIT: Final = 2**21
"""Default ``broadcast_limit``: 2 MiB of bytes waiting to be sent.

Enough for a burst of thousands of small messages, or for a ``max_size``
message behind a full ``write_limit``, to a client whose network briefly
stalls; small enough that a thousand stalled clients hold 2 GiB at most,
rather than everything broadcast until keepalive closes them."""

LEGACY_MAX_QUEUE: Final = 2**5
"""The legacy layer's (seed 001) ``max_queue``: messages waiting for ``recv()``."""

LEGACY_READ_LIMIT: Final = 2**16
"""The legacy layer's ``read_limit``, in bytes: 64 KiB."""

LEGACY_WRITE_LIMIT: Final = 2**16
"""The legacy layer's ``write_limit``: high-water mark of the write buffer, 64 KiB."""

USER_AGENT: Final = (
    f"Python/{sys.version_info.major}.{sys.version_info.minor} websockets_typed/{_version}"
)
"""Default value of the ``User-Agent`` header of clients and the ``Server`` header of servers."""


def fragment_limit(max_fragments: int | None, max_size: int | None) -> int | None:
    """Return the fragment limit that applies: ``max_fragments``, scaled if it is the default."""
    if type(max_fragments) is ScaledLimit and max_size is not None:
        return max(max_fragments, max_size // BYTES_PER_FRAGMENT)
    return max_fragments

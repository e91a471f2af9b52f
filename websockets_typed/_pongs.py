"""Pongs held back while the write buffer is full (RFC 6455, 5.5.3).

A peer sending Pings faster than the network carries Pongs could otherwise
grow the write buffer without bound. RFC 6455, 5.5.3: an endpoint "MAY
elect to send a Pong frame for only the most recently processed Ping frame".
"""

from __future__ import annotations

__all__ = ["PausedPongs"]


class PausedPongs:
    """Whether Pongs are paused, and the payload of the latest Ping to answer.

    Attributes:
        paused: Whether Pings are answered later rather than at once.
    """

    __slots__ = ("_pending", "paused")

    def __init__(self) -> None:
        self.paused = False
        self._pending: bytes | None = None

    def hold(self, data: bytes) -> bool:
        """Keep the payload of a Ping if Pongs are paused; tell whether it was kept.

        Only the latest Ping received while paused is answered.
        """
        if self.paused:
            self._pending = data
        return self.paused

    def take(self) -> bytes | None:
        """Return the payload of the Ping to answer now, if any, and forget it."""
        data, self._pending = self._pending, None
        return data

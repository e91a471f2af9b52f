"""Glue of the threading client and server: deadlines.

Unknown options are refused by the asyncio layer's
:func:`~websockets_typed.asyncio._options.check_options`, shared by both.
"""

from __future__ import annotations

import time

__all__ = ["remaining"]


def remaining(deadline: float | None) -> float | None:
    """Seconds left until ``deadline`` (a :func:`time.monotonic` time), at least 0."""
    if deadline is None:
        return None
    return max(0.0, deadline - time.monotonic())

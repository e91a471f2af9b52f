"""Glue shared by the threading client and server: option checks and deadlines."""

from __future__ import annotations

import time
from collections.abc import Mapping

__all__ = ["check_options", "remaining"]


def check_options(function: str, options: Mapping[str, object], allowed: type) -> None:
    """Refuse options that ``function`` doesn't know, naming them.

    ``allowed`` is the :class:`~typing.TypedDict` of its options. Without
    this check, a misspelt option would be ignored silently.

    Raises:
        TypeError: If ``options`` has a key that ``allowed`` doesn't declare.
    """
    keys: frozenset[str] = getattr(allowed, "__optional_keys__", frozenset())
    unknown = sorted(set(options) - keys)
    if unknown:
        names = ", ".join(unknown)
        raise TypeError(f"{function}() got unexpected keyword arguments: {names}")


def remaining(deadline: float | None) -> float | None:
    """Seconds left until ``deadline`` (a :func:`time.monotonic` time), at least 0."""
    if deadline is None:
        return None
    return max(0.0, deadline - time.monotonic())

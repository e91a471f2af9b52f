"""The version of websockets_typed."""

from __future__ import annotations

from typing import Final

__all__ = ["version"]

version: Final = "0.1.0"
"""The version of this package, as in its metadata."""

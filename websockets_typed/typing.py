"""Type aliases and distinct string types shared by the whole library.

The ``NewType`` names say what a string *means* (an origin, a subprotocol,
an extension name). Public functions accept plain ``str`` wherever a caller
would naturally write a literal, and return the ``NewType`` where it adds
meaning to the caller's code.
"""

from __future__ import annotations

import http
import logging
from typing import NewType, TypeAlias

__all__ = [
    "BytesLike",
    "ConnectionOption",
    "Data",
    "ExtensionHeader",
    "ExtensionName",
    "ExtensionParameter",
    "LoggerLike",
    "Origin",
    "SocketAddress",
    "StatusLike",
    "Subprotocol",
    "UpgradeProtocol",
]

Data: TypeAlias = str | bytes
"""A WebSocket message: ``str`` for a Text frame, ``bytes`` for a Binary frame."""

BytesLike: TypeAlias = bytes | bytearray | memoryview
"""Binary data accepted wherever the library sends bytes."""

LoggerLike: TypeAlias = "logging.Logger | logging.LoggerAdapter[logging.Logger]"
"""A logger, or a logger adapter that adds context to records."""

SocketAddress: TypeAlias = tuple[str, int] | tuple[str, int, int, int] | str
"""A socket address: ``(host, port)`` for IPv4, ``(host, port, flowinfo,
scope_id)`` for IPv6, a path for Unix sockets."""

StatusLike: TypeAlias = http.HTTPStatus | int
"""An HTTP status code, as an :class:`http.HTTPStatus` or a plain ``int``."""

Origin = NewType("Origin", str)
"""Value of an ``Origin`` header, e.g. ``"https://example.com"``."""

Subprotocol = NewType("Subprotocol", str)
"""A subprotocol token, as negotiated in ``Sec-WebSocket-Protocol``."""

ExtensionName = NewType("ExtensionName", str)
"""An extension token, as negotiated in ``Sec-WebSocket-Extensions``."""

ExtensionParameter: TypeAlias = tuple[str, str | None]
"""An extension parameter: its name and its value (``None`` when it has none)."""

ExtensionHeader: TypeAlias = tuple[ExtensionName, list[ExtensionParameter]]
"""One extension offered or accepted in ``Sec-WebSocket-Extensions``."""

ConnectionOption = NewType("ConnectionOption", str)
"""A connection option, as listed in a ``Connection`` header."""

UpgradeProtocol = NewType("UpgradeProtocol", str)
"""A protocol name, as listed in an ``Upgrade`` header."""

"""Type aliases and distinct string types shared by the whole library.

The ``NewType`` names say what a string *means* (an origin, a subprotocol,
an extension name). Public functions accept plain ``str`` wherever a caller
would naturally write a literal, and return the ``NewType`` where it adds
meaning to the caller's code.
"""

from __future__ import annotations

import http
import logging
from collections.abc import Iterator, Sequence
from typing import NewType, Protocol, TypeAlias, TypeVar, overload

__all__ = [
    "BytesLike",
    "ConnectionOption",
    "Data",
    "ExtensionHeader",
    "ExtensionName",
    "ExtensionParameter",
    "LoggerLike",
    "Origin",
    "SequenceNotStr",
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


_T_co = TypeVar("_T_co", covariant=True)


class SequenceNotStr(Protocol[_T_co]):
    """A sequence that isn't a ``str``: a list or a tuple of strings, for example.

    ``str`` is a ``Sequence[str]``, so a parameter typed ``Sequence[str]``
    accepts ``"chat"`` where ``["chat"]`` was meant, and the string is then
    read one letter at a time. ``str`` doesn't match this protocol: its
    ``__contains__`` accepts only strings, where a sequence's accepts any
    object. Lists, tuples and other sequences match it.
    """

    @overload
    def __getitem__(self, index: int, /) -> _T_co: ...
    @overload
    def __getitem__(self, index: slice, /) -> Sequence[_T_co]: ...
    def __getitem__(self, index: int | slice, /) -> _T_co | Sequence[_T_co]:
        """Return an item, or a slice."""
        ...

    def __contains__(self, value: object, /) -> bool:
        """Tell whether ``value`` is an item; any object may be asked about."""
        ...

    def __len__(self) -> int:
        """Return the number of items."""
        ...

    def __iter__(self) -> Iterator[_T_co]:
        """Iterate over the items."""
        ...

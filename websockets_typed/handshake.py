"""Headers of the opening handshake (RFC 6455, section 4): build them, check them.

These are the low-level helpers the sans-I/O client and server build on, and
that an application embedding WebSocket in its own HTTP server can use:

* a client adds headers with :func:`build_request`, sends a ``GET``, and
  checks the 101 response with :func:`check_response`;
* a server checks the request with :func:`check_request` and answers 101
  with the headers from :func:`build_response`.

``headers`` may be a :class:`~websockets_typed.datastructures.Headers` or,
as seed 001 allows, any object with ``get()`` and ``__setitem__``, such as
a ``dict``. With :class:`~websockets_typed.datastructures.Headers`, a header
given twice is seen and refused where it must appear once.

They only deal with the headers that make the upgrade. Checking the method,
the HTTP version, the status code, ``Host`` and ``Origin`` is the caller's
job, as is negotiating extensions and subprotocols.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from typing import TYPE_CHECKING, Final, Protocol, TypeVar

from .datastructures import Headers
from .exceptions import InvalidHeader, InvalidHeaderValue, InvalidUpgrade
from .headers import parse_connection, parse_upgrade

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "GUID",
    "SupportsGetSetItem",
    "accept_key",
    "build_request",
    "build_response",
    "check_request",
    "check_response",
    "generate_key",
]

_T = TypeVar("_T")


class SupportsGetSetItem(Protocol):
    """What the helpers need from ``headers``: ``get()`` and ``__setitem__``, as a ``dict`` has."""

    def get(self, key: str, /) -> str | None:
        """Return the value of a header, or ``None``."""
        ...

    def __setitem__(self, key: str, value: str, /) -> None:
        """Add a header."""
        ...


GUID: Final = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
"""The string RFC 6455 (section 1.3) appends to the key to compute the accept value."""

# RFC 6455, 4.2.1, point 5: 16 bytes, base64-encoded (RFC 4648, 4), are 21
# characters of the alphabet, one that holds the last 2 bits followed by 4
# zero bits (canonical encoding), and "==". Decoding then re-encoding
# accepts exactly these, at several times the cost (bench/run.py, S4).
_KEY: Final = re.compile(r"[A-Za-z0-9+/]{21}[AQgw]==")


def generate_key() -> str:
    """Return a new ``Sec-WebSocket-Key``: 16 random bytes, base64-encoded (RFC 6455, 4.1).

    The RFC asks for a nonce "randomly selected" for each connection, so
    that caches and proxies cannot replay an old response.
    """
    return base64.b64encode(os.urandom(16)).decode("ascii")


def accept_key(key: str) -> str:
    """Return the ``Sec-WebSocket-Accept`` value that answers ``key`` (RFC 6455, 4.2.2).

    It proves that the server understood the WebSocket handshake: base64 of
    the SHA-1 of the key followed by :data:`GUID`.
    """
    # SHA-1 serves as a checksum here, not for security; saying so keeps it
    # available on FIPS-restricted builds.
    digest = hashlib.sha1((key + GUID).encode("ascii"), usedforsecurity=False).digest()
    return binascii.b2a_base64(digest, newline=False).decode("ascii")


def build_request(headers: SupportsGetSetItem, *, key: str | None = None) -> str:
    """Add the headers of a handshake request to ``headers`` (RFC 6455, 4.1).

    Sets ``Upgrade``, ``Connection``, ``Sec-WebSocket-Key`` and
    ``Sec-WebSocket-Version``.

    Args:
        headers: The request headers.
        key: The ``Sec-WebSocket-Key`` to send; by default, a new one from
            :func:`generate_key`.

    Returns:
        The key, for :func:`check_response`.
    """
    if key is None:
        key = generate_key()
    headers["Upgrade"] = "websocket"
    headers["Connection"] = "Upgrade"
    headers["Sec-WebSocket-Key"] = key
    headers["Sec-WebSocket-Version"] = "13"
    return key


def check_request(headers: SupportsGetSetItem) -> str:
    """Check the headers of a handshake request (RFC 6455, 4.2.1).

    Returns:
        The key, for :func:`build_response`.

    Raises:
        InvalidUpgrade: If ``Connection`` does not list ``Upgrade`` or
            ``Upgrade`` does not list ``websocket``, or either is missing.
        InvalidHeaderFormat: If ``Connection`` or ``Upgrade`` can't be parsed.
        InvalidHeader: If ``Sec-WebSocket-Key`` or ``Sec-WebSocket-Version``
            is missing or given more than once.
        InvalidHeaderValue: If the key is not 16 base64-encoded bytes, or
            the version is not 13; a server answers the latter with
            426 Upgrade Required (RFC 6455, 4.4).
    """
    key = _usual_key(headers)
    if key is not None:
        return key

    _check_connection(headers)

    # RFC 6455, 4.2.1, point 3: an Upgrade header "including the value
    # 'websocket'"; other protocols may be offered alongside.
    if not _is_only(headers, "Upgrade", "websocket"):
        upgrade = _get_list(headers, "Upgrade", parse_upgrade)
        if not any(protocol.lower() == "websocket" for protocol in upgrade):
            raise InvalidUpgrade("Upgrade", ", ".join(_get_all(headers, "Upgrade")))

    # RFC 6455, 4.2.1, point 5: the key is "a base64-encoded value that,
    # when decoded, is 16 bytes in length", in the canonical encoding.
    key = _get_single(headers, "Sec-WebSocket-Key")
    if _KEY.fullmatch(key) is None:
        raise InvalidHeaderValue("Sec-WebSocket-Key", key)

    # RFC 6455, 4.2.1, point 6: the version "MUST be 13".
    version = _get_single(headers, "Sec-WebSocket-Version")
    if version != "13":
        raise InvalidHeaderValue("Sec-WebSocket-Version", version)

    return key


# The values of Connection and Upgrade that clients usually send, each a
# valid list that holds the option or the protocol that check_request wants.
_USUAL_CONNECTION: Final = frozenset({"Upgrade", "upgrade", "keep-alive, Upgrade"})
_USUAL_UPGRADE: Final = frozenset({"websocket", "WebSocket"})


def _usual_key(headers: SupportsGetSetItem) -> str | None:
    """Return the key of a request that passes :func:`check_request` as usual, else ``None``.

    Each header once, with a usual value: four lookups and one pattern,
    rather than parsing lists (bench/run.py, S4). ``None`` leaves every
    decision, and every error, to the full checks.
    """
    if type(headers) is not Headers:
        return None
    # The values by lower-cased name, read where Headers keeps them: a call
    # to read them costs half of these checks (bench/run.py --callgrind, S4).
    fields = headers._dict
    connection = fields.get("connection")
    upgrade = fields.get("upgrade")
    key = fields.get("sec-websocket-key")
    version = fields.get("sec-websocket-version")
    if (
        type(connection) is str
        and connection in _USUAL_CONNECTION
        and type(upgrade) is str
        and upgrade in _USUAL_UPGRADE
        and version == "13"
        and type(key) is str
        and _KEY.fullmatch(key) is not None
    ):
        return key
    return None


def build_response(headers: SupportsGetSetItem, key: str) -> None:
    """Add the headers of a 101 handshake response to ``headers`` (RFC 6455, 4.2.2).

    Sets ``Upgrade``, ``Connection`` and ``Sec-WebSocket-Accept``.

    Args:
        headers: The response headers.
        key: The key returned by :func:`check_request`.
    """
    headers["Upgrade"] = "websocket"
    headers["Connection"] = "Upgrade"
    headers["Sec-WebSocket-Accept"] = accept_key(key)


def check_response(headers: SupportsGetSetItem, key: str) -> None:
    """Check the headers of a 101 handshake response (RFC 6455, 4.1).

    Args:
        headers: The response headers.
        key: The key returned by :func:`build_request`.

    Raises:
        InvalidUpgrade: If ``Connection`` does not list ``Upgrade``, or
            ``Upgrade`` is not exactly ``websocket``, or either is missing.
        InvalidHeaderFormat: If ``Connection`` or ``Upgrade`` can't be parsed.
        InvalidHeader: If ``Sec-WebSocket-Accept`` is missing or given more
            than once.
        InvalidHeaderValue: If ``Sec-WebSocket-Accept`` doesn't match ``key``.
    """
    _check_connection(headers)

    # RFC 6455, 4.1, client requirement 3: the Upgrade value must be
    # "websocket", compared case-insensitively; the server picks one protocol.
    if not _is_only(headers, "Upgrade", "websocket"):
        upgrade = _get_list(headers, "Upgrade", parse_upgrade)
        if len(upgrade) != 1 or upgrade[0].lower() != "websocket":
            raise InvalidUpgrade("Upgrade", ", ".join(_get_all(headers, "Upgrade")))

    # RFC 6455, 4.1, client requirement 4: the accept value must match.
    accept = _get_single(headers, "Sec-WebSocket-Accept")
    if accept != accept_key(key):
        raise InvalidHeaderValue("Sec-WebSocket-Accept", accept)


def _check_connection(headers: SupportsGetSetItem) -> None:
    """Check that ``Connection`` lists the ``upgrade`` option (RFC 6455, 4.1 and 4.2.1)."""
    if _is_only(headers, "Connection", "upgrade"):
        return
    connection = _get_list(headers, "Connection", parse_connection)
    if not any(option.lower() == "upgrade" for option in connection):
        raise InvalidUpgrade("Connection", ", ".join(_get_all(headers, "Connection")))


def _is_only(headers: SupportsGetSetItem, name: str, token: str) -> bool:
    """Tell whether a list header holds one value: ``token``, in any case.

    The usual handshake: a valid list of that one element, which the caller
    then needn't parse (bench/run.py, S4).
    """
    values = _get_all(headers, name)
    # isascii(): str.lower() turns a few other characters into ASCII letters.
    return len(values) == 1 and values[0].isascii() and values[0].lower() == token


def _get_all(headers: SupportsGetSetItem, name: str) -> list[str]:
    """Return every value of a header: all of them from :class:`Headers`, else the one."""
    if isinstance(headers, Headers):
        return headers.get_all(name)
    value = headers.get(name)
    return [] if value is None else [value]


def _get_list(headers: SupportsGetSetItem, name: str, parse: Callable[[str], list[_T]]) -> list[_T]:
    """Parse every value of a list header and join the lists (RFC 7230, 3.2.2)."""
    values = _get_all(headers, name)
    if not values:
        raise InvalidUpgrade(name)
    return [item for value in values for item in parse(value)]


def _get_single(headers: SupportsGetSetItem, name: str) -> str:
    """Return the value of a header that must appear exactly once."""
    values = _get_all(headers, name)
    if not values:
        raise InvalidHeader(name)
    if len(values) > 1:
        raise InvalidHeader(name, "multiple values")
    return values[0]

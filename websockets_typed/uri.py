"""WebSocket URIs (RFC 6455, section 3): ``ws://`` and ``wss://``.

:func:`parse_uri` splits a URI into the parts a client needs to connect and
to write its handshake request, normalizing them on the way: the host is
lower-cased and converted to ASCII, the port is always set, and the path and
query are made safe to put in an HTTP request line.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Iterator
from typing import Final, Literal, TypeAlias, overload

import attrs

from ._validators import typed
from .exceptions import InvalidURI

__all__ = ["LegacyURIField", "WebSocketURI", "parse_uri"]

LegacyURIField: TypeAlias = bool | str | int | tuple[str, str] | None
"""The type of an item of :class:`WebSocketURI` used as seed 001's named tuple."""


@attrs.frozen
class WebSocketURI:
    """A parsed ``ws://`` or ``wss://`` URI.

    Building one with a field of the wrong type raises :exc:`TypeError`.

    Attributes:
        secure: ``True`` for ``wss``, ``False`` for ``ws``.
        host: The host, lower case and ASCII (internationalized names are
            converted with IDNA); an IPv6 literal without its brackets.
        port: The port, set to the scheme's default (80 or 443) when the
            URI gives none.
        path: The path, ``"/"`` when the URI has none; characters that may
            not appear in a request line are percent-encoded.
        query: The query without its ``?``; empty when there is none.
        username: The user name from the user information, percent-decoded;
            ``None`` when the URI has no user information.
        password: The password from the user information, percent-decoded;
            ``None`` when the URI has no user information. The ``repr`` of
            the URI shows ``'***'`` instead, so that logging it doesn't
            leak the password.

    Seed 001 documents this class as a named tuple of five fields,
    ``(secure, host, port, resource_name, user_info)``; indexing, unpacking
    and ``len()`` work that way, e.g. ``secure, host, port, resource_name,
    user_info = parse_uri(uri)``. Prefer the attributes, which type checkers
    type precisely.
    """

    secure: bool = attrs.field(validator=typed(bool))
    host: str = attrs.field(validator=typed(str))
    port: int = attrs.field(validator=typed(int))
    path: str = attrs.field(validator=typed(str))
    query: str = attrs.field(validator=typed(str))
    username: str | None = attrs.field(default=None, validator=typed(str, type(None)))
    password: str | None = attrs.field(
        default=None,
        validator=typed(str, type(None)),
        repr=lambda value: repr(value and "***"),
    )

    @property
    def resource_name(self) -> str:
        """The request-target of the handshake: the path, then ``?query`` if any."""
        # RFC 6455, 3: "/" when the path is empty; the query follows a "?".
        path = self.path or "/"
        return f"{path}?{self.query}" if self.query else path

    @property
    def user_info(self) -> tuple[str, str] | None:
        """``(username, password)`` for HTTP Basic authentication, or ``None``."""
        if self.username is None or self.password is None:
            return None
        return (self.username, self.password)

    def _legacy_fields(self) -> tuple[bool, str, int, str, tuple[str, str] | None]:
        return (self.secure, self.host, self.port, self.resource_name, self.user_info)

    @overload
    def __getitem__(self, index: Literal[0]) -> bool: ...
    @overload
    def __getitem__(self, index: Literal[1, 3]) -> str: ...
    @overload
    def __getitem__(self, index: Literal[2]) -> int: ...
    @overload
    def __getitem__(self, index: Literal[4]) -> tuple[str, str] | None: ...
    @overload
    def __getitem__(self, index: int) -> LegacyURIField: ...

    def __getitem__(self, index: int) -> LegacyURIField:
        """Return field number ``index`` of seed 001's named tuple."""
        return self._legacy_fields()[index]

    def __iter__(self) -> Iterator[LegacyURIField]:
        """Iterate over the fields of seed 001's named tuple."""
        return iter(self._legacy_fields())

    def __len__(self) -> int:
        """Return 5, the number of fields of seed 001's named tuple."""
        return 5


_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
"""RFC 3986, 3.1: ``scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )``."""

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
"""Characters that no URI may contain, not even percent-encoded by us."""

_REG_NAME: Final = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=%]+")
"""RFC 3986, 3.2.2: ``reg-name = *( unreserved / pct-encoded / sub-delims )``."""

_PORT: Final = re.compile(r"[0-9]{1,5}")
"""RFC 3986, 3.2.3: ``port = *DIGIT``; five digits are enough for 65535."""

# RFC 3986, 2.2 and 2.3: what may stay as is in a path or a query. Everything
# else (spaces, non-ASCII characters, ...) is percent-encoded as UTF-8, as
# RFC 3987, 3.1 says to map an IRI to a URI. "%" stays so that existing
# escapes are not encoded twice.
_SAFE: Final = ":/?#[]@!$&'()*+,;=%"


def parse_uri(uri: str) -> WebSocketURI:
    """Parse and validate a WebSocket URI.

    Args:
        uri: A ``ws://`` or ``wss://`` URI; IRIs (with non-ASCII characters)
            are accepted and converted.

    Returns:
        The parsed URI.

    Raises:
        InvalidURI: If ``uri`` is not a valid WebSocket URI.
    """
    if _CONTROL.search(uri) is not None:
        raise InvalidURI(uri, "control characters aren't allowed")

    # RFC 6455, 3: the scheme is "ws" or "wss", compared case-insensitively
    # as every URI scheme (RFC 3986, 3.1).
    scheme, colon, rest = uri.partition(":")
    if not colon or _SCHEME.fullmatch(scheme) is None:
        raise InvalidURI(uri, "scheme is missing")
    scheme = scheme.lower()
    if scheme not in ("ws", "wss"):
        raise InvalidURI(uri, "scheme isn't ws or wss")
    secure = scheme == "wss"

    # RFC 6455, 3: "Fragment identifiers are meaningless [...] and MUST NOT be
    # used"; a literal "#" has to be written %23.
    if "#" in rest:
        raise InvalidURI(uri, "fragment identifiers aren't allowed")

    if not rest.startswith("//"):
        raise InvalidURI(uri, "host is missing")
    rest = rest[2:]
    end = len(rest)
    for delimiter in "/?":
        index = rest.find(delimiter)
        if index != -1 and index < end:
            end = index
    authority, rest = rest[:end], rest[end:]
    path, _, query = rest.partition("?")

    username: str | None = None
    password: str | None = None
    userinfo, at, hostport = authority.rpartition("@")
    if at:
        username, colon, password = userinfo.partition(":")
        # Credentials are for HTTP Basic authentication, which needs both.
        if not colon:
            raise InvalidURI(uri, "username provided without password")
        try:
            username = urllib.parse.unquote(username, errors="strict")
            password = urllib.parse.unquote(password, errors="strict")
        except UnicodeDecodeError:
            raise InvalidURI(uri, "user information isn't valid UTF-8") from None

    host, port = _parse_host_port(uri, hostport)
    if port is None:
        port = 443 if secure else 80

    try:
        path = urllib.parse.quote(path, safe=_SAFE)
        query = urllib.parse.quote(query, safe=_SAFE)
    except UnicodeEncodeError:
        # Lone surrogates have no UTF-8 encoding.
        raise InvalidURI(uri, "path or query can't be encoded") from None

    return WebSocketURI(
        secure=secure,
        host=host,
        port=port,
        path=path or "/",
        query=query,
        username=username,
        password=password,
    )


def _parse_host_port(uri: str, hostport: str) -> tuple[str, int | None]:
    """Split and validate ``host[:port]``; the port is ``None`` when absent."""
    if hostport.startswith("["):
        # RFC 3986, 3.2.2: an IPv6 literal is enclosed in brackets.
        host, bracket, port_text = hostport[1:].partition("]")
        if not bracket:
            raise InvalidURI(uri, "IPv6 address isn't closed by ]")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidURI(uri, "invalid IPv6 address") from None
        if port_text and not port_text.startswith(":"):
            raise InvalidURI(uri, "unexpected characters after IPv6 address")
        port_text = port_text[1:]
        host = host.lower()
    else:
        host, _, port_text = hostport.partition(":")
        if not host:
            raise InvalidURI(uri, "host is missing")
        if not host.isascii():
            # RFC 3987, 3.1: an internationalized host name becomes its
            # ASCII-compatible encoding.
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError:
                raise InvalidURI(uri, "host can't be encoded with IDNA") from None
        if _REG_NAME.fullmatch(host) is None:
            raise InvalidURI(uri, "invalid host")
        host = host.lower()

    # RFC 3986, 3.2.3: an empty port means the default port.
    if not port_text:
        return host, None
    if _PORT.fullmatch(port_text) is None:
        raise InvalidURI(uri, "port isn't a number")
    port = int(port_text)
    if not 0 < port < 65536:
        raise InvalidURI(uri, "port is out of range")
    return host, port

"""Parsers and builders for the header values used by the opening handshake.

Grammars implemented: the ``#rule`` lists of RFC 7230, section 7, with
tokens and quoted strings (RFC 7230, 3.2.6); ``Connection`` (RFC 7230, 6.1);
``Upgrade`` (RFC 7230, 6.7); ``Sec-WebSocket-Extensions`` and
``Sec-WebSocket-Protocol`` (RFC 6455, 9.1 and 11.3, RFC 7692, 7); HTTP Basic
authentication (RFC 7617).

Parsers walk the header value by position, each step an anchored match of
a small pattern that cannot backtrack, so that parsing takes linear time
whatever the input. They raise :exc:`~websockets_typed.exceptions.InvalidHeaderFormat`
with the position where the value stops making sense.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Sequence
from typing import Final, TypeVar, cast

from .exceptions import InvalidHeaderFormat, InvalidHeaderValue
from .typing import (
    ConnectionOption,
    ExtensionHeader,
    ExtensionName,
    ExtensionParameter,
    SequenceNotStr,
    Subprotocol,
    UpgradeProtocol,
)

__all__ = [
    "build_authorization_basic",
    "build_extension",
    "build_extension_list",
    "build_host",
    "build_subprotocol",
    "build_subprotocol_list",
    "build_www_authenticate_basic",
    "parse_authorization_basic",
    "parse_connection",
    "parse_extension",
    "parse_extension_list",
    "parse_subprotocol",
    "parse_subprotocol_list",
    "parse_upgrade",
    "validate_subprotocols",
]

_T = TypeVar("_T")

# RFC 7230, 3.2.3: OWS = *( SP / HTAB ).
_OWS: Final = re.compile(r"[\t ]*")

# RFC 7230, 7: between list elements, any run of commas and whitespace is
# one separator followed by empty elements, which recipients must accept.
_SEPARATORS: Final = re.compile(r"[\t ,]*")

# RFC 7230, 3.2.6: token = 1*tchar.
_TOKEN: Final = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")

# RFC 7230, 3.2.6: quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE.
# The two alternatives start with different characters (qdtext excludes the
# backslash), so the pattern never backtracks. obs-text is 0x80-0xFF, which
# HTTP parsing decodes to lone surrogates (surrogateescape); both forms pass.
_QUOTED_STRING: Final = re.compile(
    r'"(?:[\t !#-\[\]-~\x80-\xff\udc80-\udcff]|\\[\t -~\x80-\xff\udc80-\udcff])*"'
)
_QUOTED_PAIR: Final = re.compile(r"\\(.)", re.DOTALL)

# RFC 7230, 6.7: protocol = protocol-name ["/" protocol-version], both tokens.
_PROTOCOL: Final = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+(?:/[-!#$%&'*+.^_`|~0-9A-Za-z]+)?")

# RFC 7235, 2.1: token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
_TOKEN68: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*")

_SPACES: Final = re.compile(" +")

# Characters that may not appear in a header value, even inside quotes.
_CONTROL: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _parse_token(header: str, pos: int, name: str) -> tuple[str, int]:
    """Match a token at ``pos``; return it and the position after it."""
    match = _TOKEN.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(name, "expected token", header, pos)
    return match.group(), match.end()


def _parse_quoted_string(header: str, pos: int, name: str) -> tuple[str, int]:
    """Match a quoted string at ``pos``; return its unquoted content and the position after it."""
    match = _QUOTED_STRING.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(name, "expected quoted string", header, pos)
    return _QUOTED_PAIR.sub(r"\1", match.group()[1:-1]), match.end()


def _skip_ows(header: str, pos: int) -> int:
    """Return the position after optional whitespace at ``pos``."""
    match = _OWS.match(header, pos)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _skip_separators(header: str, pos: int) -> int:
    """Return the position after commas and whitespace at ``pos``."""
    match = _SEPARATORS.match(header, pos)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _parse_list(
    parse_item: Callable[[str, int, str], tuple[_T, int]],
    header: str,
    name: str,
) -> list[_T]:
    """Parse a ``1#element`` list (RFC 7230, 7): one element or more.

    Empty elements and whitespace around commas are accepted, as the RFC
    requires of recipients; a list with no element at all is an error.
    """
    # 1#element => *( "," OWS ) element *( OWS "," [ OWS element ] )
    pos = _skip_separators(header, 0)
    if pos == len(header):
        raise InvalidHeaderFormat(name, "expected at least one element", header, pos)
    items: list[_T] = []
    while True:
        item, pos = parse_item(header, pos, name)
        items.append(item)
        pos = _skip_ows(header, pos)
        if pos == len(header):
            return items
        if header[pos] != ",":
            raise InvalidHeaderFormat(name, "expected comma", header, pos)
        pos = _skip_separators(header, pos)
        if pos == len(header):
            return items


def _parse_connection_option(header: str, pos: int, name: str) -> tuple[ConnectionOption, int]:
    token, pos = _parse_token(header, pos, name)
    return ConnectionOption(token), pos


def parse_connection(header: str) -> list[ConnectionOption]:
    """Parse a ``Connection`` header (RFC 7230, 6.1: ``1#token``).

    Returns:
        The connection options, as written (compare them case-insensitively).

    Raises:
        InvalidHeaderFormat: If ``header`` is not a valid list of tokens.
    """
    return _parse_list(_parse_connection_option, header, "Connection")


def _parse_upgrade_protocol(header: str, pos: int, name: str) -> tuple[UpgradeProtocol, int]:
    match = _PROTOCOL.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(name, "expected protocol", header, pos)
    return UpgradeProtocol(match.group()), match.end()


def parse_upgrade(header: str) -> list[UpgradeProtocol]:
    """Parse an ``Upgrade`` header (RFC 7230, 6.7: ``1#protocol``).

    A protocol is a name and an optional version, ``name/version``.

    Returns:
        The protocols, as written (compare names case-insensitively).

    Raises:
        InvalidHeaderFormat: If ``header`` is not a valid list of protocols.
    """
    return _parse_list(_parse_upgrade_protocol, header, "Upgrade")


def _parse_extension_param(header: str, pos: int, name: str) -> tuple[ExtensionParameter, int]:
    """Parse ``token [ "=" ( token / quoted-string ) ]`` at ``pos``."""
    param_name, pos = _parse_token(header, pos, name)
    pos = _skip_ows(header, pos)
    if header[pos : pos + 1] != "=":
        return (param_name, None), pos
    pos = _skip_ows(header, pos + 1)
    if header[pos : pos + 1] == '"':
        start = pos
        value, pos = _parse_quoted_string(header, pos, name)
        # RFC 7692, 7: "the value [...] MUST conform to the 'token' ABNF"
        # once a quoted-string is unquoted.
        if _TOKEN.fullmatch(value) is None:
            raise InvalidHeaderFormat(name, "invalid quoted header content", header, start)
    else:
        value, pos = _parse_token(header, pos, name)
    return (param_name, value), pos


def _parse_extension_item(header: str, pos: int, name: str) -> tuple[ExtensionHeader, int]:
    """Parse ``extension-token *( ";" extension-param )`` (RFC 6455, 9.1)."""
    extension_name, pos = _parse_token(header, pos, name)
    params: list[ExtensionParameter] = []
    pos = _skip_ows(header, pos)
    while header[pos : pos + 1] == ";":
        pos = _skip_ows(header, pos + 1)
        param, pos = _parse_extension_param(header, pos, name)
        params.append(param)
        pos = _skip_ows(header, pos)
    return (ExtensionName(extension_name), params), pos


def parse_extension(header: str) -> list[ExtensionHeader]:
    """Parse a ``Sec-WebSocket-Extensions`` header (RFC 6455, 9.1).

    Returns:
        A list of ``(name, [(param_name, param_value), ...])``, in order;
        a parameter's value is ``None`` when it has none. Values given as
        quoted strings are unquoted.

    Raises:
        InvalidHeaderFormat: If ``header`` does not follow the grammar, or a
            quoted parameter value is not a token once unquoted (RFC 7692, 7).
    """
    return _parse_list(_parse_extension_item, header, "Sec-WebSocket-Extensions")


def build_extension(extensions: Sequence[ExtensionHeader]) -> str:
    """Build a ``Sec-WebSocket-Extensions`` header; the reverse of :func:`parse_extension`.

    Raises:
        ValueError: If a name or a parameter value is not a token: it could
            not be parsed back (RFC 7692, 7 requires tokens).
    """
    items: list[str] = []
    for name, params in extensions:
        parts = [_check_token(name, "extension name")]
        for param_name, param_value in params:
            _check_token(param_name, "extension parameter name")
            if param_value is None:
                parts.append(param_name)
            else:
                _check_token(param_value, "extension parameter value")
                parts.append(f"{param_name}={param_value}")
        items.append("; ".join(parts))
    return ", ".join(items)


def _check_token(value: str, what: str) -> str:
    if _TOKEN.fullmatch(value) is None:
        raise ValueError(f"invalid {what}: {value!r}")
    return value


def _parse_subprotocol_item(header: str, pos: int, name: str) -> tuple[Subprotocol, int]:
    token, pos = _parse_token(header, pos, name)
    return Subprotocol(token), pos


def parse_subprotocol(header: str) -> list[Subprotocol]:
    """Parse a ``Sec-WebSocket-Protocol`` header (RFC 6455, 11.3.4: ``1#token``).

    Raises:
        InvalidHeaderFormat: If ``header`` is not a valid list of tokens.
    """
    return _parse_list(_parse_subprotocol_item, header, "Sec-WebSocket-Protocol")


def build_subprotocol(subprotocols: Sequence[str]) -> str:
    """Build a ``Sec-WebSocket-Protocol`` header; the reverse of :func:`parse_subprotocol`.

    Raises:
        ValueError: If a subprotocol is not a token.
    """
    return ", ".join(_check_token(subprotocol, "subprotocol") for subprotocol in subprotocols)


def validate_subprotocols(subprotocols: SequenceNotStr[str]) -> None:
    """Check a list of subprotocols given by the application, before using it.

    Raises:
        TypeError: If ``subprotocols`` is a ``str`` (a common mistake for
            ``[str]``), is not a sequence, or holds something else than
            strings.
        ValueError: If a subprotocol is not a token (RFC 6455, 4.1).
    """
    value = cast("object", subprotocols)
    if isinstance(value, str):
        raise TypeError("subprotocols must be a list of str, not a str")
    if not isinstance(value, Sequence):
        raise TypeError(f"subprotocols must be a list of str, not {type(value).__name__}")
    for subprotocol in cast("Sequence[object]", value):
        if not isinstance(subprotocol, str):
            raise TypeError(f"subprotocol must be a str, not {type(subprotocol).__name__}")
        _check_token(subprotocol, "subprotocol")


def build_host(host: str, port: int, secure: bool, *, always_include_port: bool = False) -> str:
    """Build a ``Host`` header (RFC 7230, 5.4) from a host and a port.

    Args:
        host: A host name or an IP address; IPv6 addresses are enclosed in
            brackets (RFC 3986, 3.2.2).
        port: The port.
        secure: Whether the scheme is ``wss`` (default port 443) rather
            than ``ws`` (default port 80).
        always_include_port: Include the port even when it is the default.
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if address.version == 6:
            host = f"[{host}]"
    if always_include_port or port != (443 if secure else 80):
        host = f"{host}:{port}"
    return host


def build_authorization_basic(username: str, password: str) -> str:
    """Build an ``Authorization`` header for HTTP Basic authentication (RFC 7617).

    Credentials are encoded with UTF-8 (RFC 7617, 2.1).

    Raises:
        ValueError: If ``username`` contains a colon, which would make the
            credentials ambiguous (RFC 7617, 2).
    """
    if ":" in username:
        raise ValueError("username may not contain a colon")
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {credentials}"


def parse_authorization_basic(header: str) -> tuple[str, str]:
    """Parse an ``Authorization`` header for HTTP Basic authentication (RFC 7617).

    Returns:
        ``(username, password)``.

    Raises:
        InvalidHeaderFormat: If ``header`` is not ``scheme SP token68``.
        InvalidHeaderValue: If the scheme is not ``Basic``, or the
            credentials are not base64-encoded UTF-8 ``username:password``.
    """
    name = "Authorization"
    # RFC 7235, 2.1: credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ].
    scheme, pos = _parse_token(header, 0, name)
    # RFC 7235, 2.1: auth schemes are case-insensitive.
    if scheme.lower() != "basic":
        raise InvalidHeaderValue(name, f"unsupported scheme: {scheme}")
    match = _SPACES.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(name, "expected space after scheme", header, pos)
    pos = match.end()
    match = _TOKEN68.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(name, "expected token68", header, pos)
    if match.end() != len(header):
        raise InvalidHeaderFormat(name, "trailing data", header, match.end())
    try:
        user_pass = base64.b64decode(match.group(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidHeaderValue(name, "expected base64-encoded UTF-8 credentials") from None
    username, colon, password = user_pass.partition(":")
    if not colon:
        raise InvalidHeaderValue(name, "expected username:password credentials")
    return username, password


def build_www_authenticate_basic(realm: str) -> str:
    """Build a ``WWW-Authenticate`` header asking for Basic authentication (RFC 7617, 2).

    Raises:
        ValueError: If ``realm`` contains control characters.
    """
    if _CONTROL.search(realm) is not None:
        raise ValueError(f"invalid realm: {realm!r}")
    # RFC 7230, 3.2.6: inside a quoted-string, only " and \ need escaping.
    quoted = realm.replace("\\", "\\\\").replace('"', '\\"')
    # RFC 7617, 2.1: "UTF-8" is the only charset a server may announce.
    return f'Basic realm="{quoted}", charset="UTF-8"'


parse_extension_list = parse_extension
"""The legacy name of :func:`parse_extension`."""

build_extension_list = build_extension
"""The legacy name of :func:`build_extension`."""

parse_subprotocol_list = parse_subprotocol
"""The legacy name of :func:`parse_subprotocol`."""

build_subprotocol_list = build_subprotocol
"""The legacy name of :func:`build_subprotocol`."""

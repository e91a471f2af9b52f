"""HTTP headers: a case-insensitive multimap that remembers what it was given."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import Final, Protocol, TypeAlias, TypeVar, cast, overload

__all__ = ["Headers", "HeadersLike", "MultipleValuesError", "SupportsKeysAndGetItem"]

# What may be sent (internal API, shared with http11). RFC 7230, 3.2.6:
# header names are tokens, token = 1*tchar. RFC 7230, 3.2: field-value =
# *( field-content / obs-fold ), where field content is VCHAR, obs-text
# (0x80-0xFF), SP and HTAB; the reason phrase (3.1.2) allows the same
# characters. INVALID_VALUE_RE finds the others, CR and LF among them.
TOKEN_RE: Final = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
INVALID_VALUE_RE: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


_T = TypeVar("_T")


class MultipleValuesError(LookupError):
    """Raised by ``headers[name]`` when the header has more than one value."""

    def __str__(self) -> str:
        # LookupError renders a single argument with repr(), like KeyError.
        if len(self.args) == 1:
            return repr(self.args[0])
        return super().__str__()


class SupportsKeysAndGetItem(Protocol):
    """Any object with ``keys()`` and ``__getitem__``, like ``dict.update`` takes."""

    def keys(self) -> Iterable[str]:
        """Return the header names."""
        ...

    def __getitem__(self, key: str) -> str:
        """Return the value of a header."""
        ...


class Headers(MutableMapping[str, str]):
    """HTTP headers: case-insensitive names, any number of values per name.

    Lookups are by lower-cased name in a dict of values; the original
    names, values and order are kept in a list, so that serialization writes
    exactly what was given.

    The mapping interface follows the most common case, one value per name:

    * ``headers[name]`` returns the value; it raises :exc:`KeyError` when
      there is none and :exc:`MultipleValuesError` when there are several;
    * ``headers[name] = value`` *appends* a value, it never replaces;
    * ``del headers[name]`` removes every value of that name.

    :meth:`get_all` and :meth:`raw_items` handle several values explicitly.
    Iteration yields each lower-cased name once.
    """

    __slots__ = ("_dict", "_list", "_serialized")

    # Connections keep their handshake's headers: each costs as few objects
    # as possible (bench/run.py, S5). A name with one value maps to the
    # value, a list only holds two values or more; the list alternates
    # names and values, rather than holding a tuple per header.
    _dict: dict[str, str | list[str]]
    _list: list[str]
    # The serialized form of the first items, if headers_from_parts() was
    # given it: how many items, and their lines.
    _serialized: tuple[int, bytes] | None

    def __init__(self, *args: HeadersLike, **kwargs: str) -> None:
        self._dict = {}
        self._list = []
        self._serialized = None
        if args or kwargs:
            self.update(*args, **kwargs)

    def __str__(self) -> str:
        return "".join(f"{name}: {value}\r\n" for name, value in self.raw_items()) + "\r\n"

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({list(self.raw_items())!r})"

    def copy(self) -> Headers:
        """Return an independent copy of these headers."""
        copy = self.__class__()
        copy._dict = {
            name: values if isinstance(values, str) else values.copy()
            for name, values in self._dict.items()
        }
        copy._list = self._list.copy()
        return copy

    def serialize(self) -> bytes:
        """Return the headers as an HTTP header block, ending with an empty line.

        Every message this library sends writes its headers with this one
        serializer, which refuses what could break the message: no header
        injection. Values are encoded with UTF-8, and lone surrogates from
        ``surrogateescape`` decoding become the original bytes again.

        Raises:
            ValueError: If a name isn't a token (RFC 7230, 3.2.6), or a value
                holds CR, LF or another control character other than HTAB.
        """
        serialized = self._serialized
        if serialized is None:
            return _serialize_items(self._list)
        # Used once: connections keep their handshake's headers, not this.
        self._serialized = None
        count, lines = serialized
        if count == len(self._list):
            return lines + b"\r\n"
        return lines + _serialize_items(self._list[count:])

    # Mapping interface.

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._dict

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __getitem__(self, key: str) -> str:
        values = self._dict[key.lower()]
        if isinstance(values, str):
            return values
        raise MultipleValuesError(key)

    @overload
    def get(self, key: str, /) -> str | None: ...

    @overload
    def get(self, key: str, /, default: str | _T) -> str | _T: ...

    def get(self, key: str, /, default: str | _T | None = None) -> str | _T | None:
        """Return the value of a header, or ``default`` if there is none.

        Like ``Mapping.get``, it raises :exc:`MultipleValuesError` when the
        header has several values; without raising and catching
        :exc:`KeyError` for a missing header, which costs more than the
        lookup (bench/run.py, S4: ``Origin``).
        """
        values = self._dict.get(key.lower())
        if values is None:
            return default
        if isinstance(values, str):
            return values
        raise MultipleValuesError(key)

    def __setitem__(self, key: str, value: str) -> None:
        # Common names and values share one string, as given and
        # lower-cased, rather than a copy per message (bench/run.py, S5).
        value = _COMMON_VALUES.get(value, value)
        common = _COMMON_NAMES.get(key)
        if common is not None:
            key, lower = common
        else:
            lower = key.lower()
            common = _COMMON_NAMES.get(lower)
            if common is not None:
                lower = common[1]
        values = self._dict.get(lower)
        if values is None:
            self._dict[lower] = value
        elif isinstance(values, str):
            self._dict[lower] = [values, value]
        else:
            values.append(value)
        self._list += (key, value)

    def __delitem__(self, key: str) -> None:
        lower = key.lower()
        del self._dict[lower]
        self._serialized = None
        # Rebuilding the list is linear; deleting headers is rare.
        self._list = [
            item
            for name, value in self.raw_items()
            if name.lower() != lower
            for item in (name, value)
        ]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._dict == other._dict

    __hash__ = None  # type: ignore[assignment]  # mutable, like dict

    def clear(self) -> None:
        """Remove every header."""
        self._dict = {}
        self._list = []
        self._serialized = None

    def update(self, *args: HeadersLike, **kwargs: str) -> None:  # pyright: ignore[reportIncompatibleMethodOverride]
        """Append headers from mappings, iterables of pairs, or keywords.

        Unlike ``dict.update``, existing values are kept: every given value
        is appended.
        """
        for arg in args:
            pairs: Iterable[tuple[str, str]]
            if isinstance(arg, Headers):
                pairs = arg.raw_items()
            elif isinstance(arg, Mapping):
                pairs = cast("Mapping[str, str]", arg).items()
            elif hasattr(arg, "keys"):
                mapping = cast(SupportsKeysAndGetItem, arg)
                pairs = [(key, mapping[key]) for key in mapping.keys()]  # noqa: SIM118
            else:
                # pyright cannot narrow by hasattr(); mypy can.
                pairs = cast("Iterable[tuple[str, str]]", arg)  # type: ignore[redundant-cast]
            for key, value in pairs:
                self[key] = value
        for key, value in kwargs.items():
            self[key] = value

    # Multiple values.

    def get_all(self, key: str) -> list[str]:
        """Return every value of a header, in order; an empty list if absent."""
        values = self._dict.get(key.lower())
        if values is None:
            return []
        if isinstance(values, str):
            return [values]
        return values.copy()

    def raw_items(self) -> Iterator[tuple[str, str]]:
        """Return every ``(name, value)`` pair, with names as given, in order."""
        items = iter(self._list)
        return zip(items, items, strict=True)


def _serialize_items(items: list[str]) -> bytes:
    """Serialize alternating names and values; see :meth:`Headers.serialize`."""
    if not items:
        return b"\r\n"
    # One check of all the names and one of all the values, rather than
    # two patterns per header (bench/run.py, S4): usually, the names are
    # the common ones, and the values printable ASCII.
    values = "".join(items[1::2])
    if not (_COMMON_NAME_SET.issuperset(items[::2]) and values.isascii() and values.isprintable()):
        for name, value in zip(items[::2], items[1::2], strict=True):
            if TOKEN_RE.fullmatch(name) is None:
                raise ValueError(f"invalid header name: {name!r}")
            if INVALID_VALUE_RE.search(value) is not None:
                raise ValueError(f"invalid value for header {name}: {value!r}")
    # One format for all the lines: half the cost of joining each pair.
    text = "%s: %s\r\n" * (len(items) >> 1) % tuple(items)
    return (text + "\r\n").encode("utf-8", "surrogateescape")


def headers_from_fields(lines: Iterable[str]) -> Headers:
    """Build headers from field lines already checked: ``name:value`` each.

    Internal API, shared with http11: its parser checks a whole head at
    once, then builds the headers here. Whitespace around values is
    dropped (RFC 7230, 3.2.4).
    """
    headers = Headers()
    add = headers.__setitem__
    for line in lines:
        name, _, value = line.partition(":")
        add(name, value.strip(" \t"))
    return headers


def py_usual_fields(  # noqa: PLR0917 - the signature of the C accelerator's version
    head: str,
    start: int,
    max_line_length: int,
    max_num_headers: int,
    names: dict[str, tuple[str, str]],
    values: dict[str, str],
) -> tuple[dict[str, str | list[str]], list[str]] | None:
    """Split the field lines of a usual request head; ``None`` unless they are usual.

    This is ``http11.usual_fields`` without the C accelerator. From ``start``
    on, ``head`` must hold lines separated by CRLF, each ``name:value``
    whose name is a token (RFC 7230, 3.2.6), given once whatever its case,
    in printable ASCII, at most ``max_line_length`` characters long, at most
    ``max_num_headers`` of them. Returns what :class:`Headers` holds: values
    by lower-cased name and names and values in turn, with the shared
    strings of ``names`` (which maps a name to itself and its lower-cased
    form) and ``values`` (which maps a value to itself), as
    ``headers[name] = value`` would.
    """
    if start == len(head):
        return {}, []
    lines = head[start:].split("\r\n")
    if len(lines) > max_num_headers:
        return None
    fields: dict[str, str | list[str]] = {}
    items: list[str] = []
    for line in lines:
        if len(line) > max_line_length or not (line.isascii() and line.isprintable()):
            return None
        name, colon, value = line.partition(":")
        common = names.get(name)
        if common is not None:
            name, lower = common
        elif TOKEN_RE.fullmatch(name) is None:
            return None
        else:
            lower = name.lower()
            common = names.get(lower)
            if common is not None:
                lower = common[1]
        if not colon or lower in fields:
            return None
        value = value.strip(" ")
        value = values.get(value, value)
        fields[lower] = value
        items += (name, value)
    return fields, items


UsualFields: TypeAlias = Callable[
    [str, int, int, int, dict[str, tuple[str, str]], dict[str, str]],
    tuple[dict[str, str | list[str]], list[str]] | None,
]


def usual_headers(
    head: str,
    start: int,
    max_line_length: int,
    max_num_headers: int,
    split: UsualFields = py_usual_fields,
) -> Headers | None:
    """Build the headers of a usual request head; ``None`` unless it is usual.

    Internal API, shared with http11, which passes the C accelerator's
    ``split`` when available: see :func:`py_usual_fields`, with the common
    names and values. Usual fields are valid (RFC 7230, 3.2).
    """
    fields = split(head, start, max_line_length, max_num_headers, _COMMON_NAMES, _COMMON_VALUES)
    return None if fields is None else headers_from_parts(*fields)


def headers_from_parts(
    values: dict[str, str | list[str]], items: list[str], serialized: bytes | None = None
) -> Headers:
    """Build headers from what they hold: values by lower-cased name, names and values in turn.

    Internal API, for headers built from constants and checked values,
    which must agree with each other as ``headers[name] = value`` would
    make them: cheaper than a call per header (bench/run.py, S4).
    ``serialized``, if given, is what :meth:`Headers.serialize` returns for
    these items without the final empty line: the first serialization uses
    it, then serializes only the headers added since.
    """
    headers = _new_object(Headers)
    headers._dict = values
    headers._list = items
    headers._serialized = None if serialized is None else (len(items), serialized)
    return headers


_new_object: Final = object.__new__


def serialized_line(name: str, value: str) -> bytes | None:
    """Return the line that :meth:`Headers.serialize` writes for a header, ``None`` if invalid.

    Internal API: see :func:`add_serialized`.
    """
    try:
        return _serialize_items([name, value])[:-2]
    except (ValueError, TypeError):
        return None


def add_serialized(headers: Headers, name: str, lower: str, value: str, line: bytes) -> None:
    """Add a header as ``headers[name] = value`` does, given ``name.lower()`` and its line.

    Internal API, for a header added to every response, e.g. ``Server``:
    its ``line``, from :func:`serialized_line`, is checked and encoded once
    rather than once per response (bench/run.py, S4), when the headers'
    serialization is known up to them (see :func:`headers_from_parts`).
    """
    serialized = headers._serialized
    if serialized is None or serialized[0] != len(headers._list) or lower in headers._dict:
        headers[name] = value
        return
    headers._dict[lower] = value
    headers._list += (name, value)
    headers._serialized = (serialized[0] + 2, serialized[1] + line)


def _shared_names(names: list[str]) -> dict[str, tuple[str, str]]:
    """Map each name, as given and lower-cased, to itself and its lower-cased form."""
    table: dict[str, tuple[str, str]] = {}
    for name in names:
        lower = name.lower()
        table[name] = (name, lower)
        table[lower] = (lower, lower)
    return table


# The names of the headers of handshakes: strings shared by all Headers.
_COMMON_NAMES: Final = _shared_names(
    [
        "Authorization",
        "Connection",
        "Content-Length",
        "Content-Type",
        "Cookie",
        "Date",
        "Host",
        "Origin",
        "Sec-WebSocket-Accept",
        "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Protocol",
        "Sec-WebSocket-Version",
        "Server",
        "Upgrade",
        "User-Agent",
    ]
)

_COMMON_NAME_SET: Final = frozenset(_COMMON_NAMES)

# The values of the headers of handshakes that browsers and libraries send
# the same way each time.
_COMMON_VALUES: Final = {
    value: value
    for value in [
        "13",
        "Upgrade",
        "keep-alive, Upgrade",
        "permessage-deflate; client_max_window_bits",
        "upgrade",
        "websocket",
    ]
}

HeadersLike: TypeAlias = (
    Headers | Mapping[str, str] | Iterable[tuple[str, str]] | SupportsKeysAndGetItem
)
"""Anything :class:`Headers` can be built from."""

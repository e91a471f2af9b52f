"""Path and host patterns with typed parameters, without I/O.

A pattern is a sequence of segments separated by ``/`` (paths) or ``.``
(hosts). Each segment is either literal text or a whole-segment parameter
``{name}`` or ``{name:converter}``:

========== ================= ===============================================
converter  handler receives  matches
========== ================= ===============================================
``str``    :class:`str`      one non-empty segment (the default)
``int``    :class:`int`      one segment of ASCII digits, at most 18
``uuid``   :class:`uuid.UUID` one segment in the canonical 8-4-4-4-12 form
``path``   :class:`str`      the rest, separators included; last segment only
========== ================= ===============================================

Segments are percent-decoded after splitting, so ``%2F`` stays inside a
``str`` parameter. Matching walks the segments once and uses no regular
expressions: its cost is linear in the length of the path, whatever the
patterns (no ReDoS).

:class:`~websockets_typed.asyncio.router.Route` and
:func:`~websockets_typed.asyncio.router.route` build on this module.
"""

from __future__ import annotations

import re
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from typing import Final

import attrs

__all__ = ["CONVERTERS", "Converter", "Pattern"]


@attrs.frozen
class Converter:
    """How a parameter's text becomes the value the handler receives.

    Attributes:
        name: Name in patterns, as in ``{id:int}``.
        type: Type of the values, checked against handlers' annotations.
        parse: Converts a segment; raises :exc:`ValueError` if it doesn't match.
        greedy: Matches the rest of the value, separators included.
    """

    name: str
    type: type
    parse: Callable[[str], object]
    greedy: bool = False


_DIGITS: Final = re.compile(r"[0-9]{1,18}")
_UUID: Final = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _parse_str(text: str) -> str:
    if not text:
        raise ValueError("empty segment")
    return text


def _parse_int(text: str) -> int:
    if _DIGITS.fullmatch(text) is None:
        raise ValueError(f"not a number: {text!r}")
    return int(text)


def _parse_uuid(text: str) -> uuid.UUID:
    if _UUID.fullmatch(text) is None:
        raise ValueError(f"not a UUID: {text!r}")
    return uuid.UUID(text)


CONVERTERS: Final[Mapping[str, Converter]] = {
    converter.name: converter
    for converter in (
        Converter("str", str, _parse_str),
        Converter("int", int, _parse_int),
        Converter("uuid", uuid.UUID, _parse_uuid),
        Converter("path", str, _parse_str, greedy=True),
    )
}
"""The converters that patterns may name, by name."""


@attrs.frozen
class _Parameter:
    name: str
    converter: Converter


class Pattern:
    """A compiled path pattern (``/user/{id:int}``) or host pattern (``{tenant}.example.com``).

    Args:
        pattern: The pattern; a path pattern starts with ``/``.
        separator: ``"/"`` for paths, ``"."`` for hosts.

    Raises:
        ValueError: If the pattern is malformed, names an unknown converter,
            repeats a parameter, or has a ``path`` parameter before the end;
            the message quotes the pattern.
    """

    def __init__(self, pattern: str, *, separator: str = "/") -> None:
        self.pattern = pattern
        self.separator = separator
        self.segments: tuple[str | _Parameter, ...] = tuple(
            self._compile_segment(text) for text in pattern.split(separator)
        )
        parameters = [segment for segment in self.segments if isinstance(segment, _Parameter)]
        self.parameters: dict[str, Converter] = {}
        for parameter in parameters:
            if parameter.name in self.parameters:
                raise ValueError(f"{pattern!r}: parameter {parameter.name!r} appears twice")
            self.parameters[parameter.name] = parameter.converter
        if any(parameter.converter.greedy for parameter in parameters) and not (
            isinstance(self.segments[-1], _Parameter) and self.segments[-1].converter.greedy
        ):
            raise ValueError(f"{pattern!r}: a path parameter must be the last segment")

    def _compile_segment(self, text: str) -> str | _Parameter:
        if not text.startswith("{"):
            if "{" in text or "}" in text:
                raise ValueError(f"{self.pattern!r}: a parameter must be a whole segment: {text!r}")
            return text
        if not text.endswith("}"):
            raise ValueError(f"{self.pattern!r}: a parameter must be a whole segment: {text!r}")
        name, _, converter_name = text[1:-1].partition(":")
        if _NAME.fullmatch(name) is None:
            raise ValueError(f"{self.pattern!r}: invalid parameter name {name!r}")
        converter = CONVERTERS.get(converter_name or "str")
        if converter is None:
            raise ValueError(
                f"{self.pattern!r}: unknown converter {converter_name!r} "
                f"(known: {', '.join(CONVERTERS)})"
            )
        return _Parameter(name, converter)

    def match(self, value: str) -> dict[str, object] | None:
        """Return the parameters if ``value`` matches the pattern, else ``None``.

        ``value`` is a path without its query, or a host name without its
        port, as sent on the wire (percent-encoded).
        """
        try:
            parts = [_unquote(part) for part in value.split(self.separator)]
        except ValueError:  # invalid UTF-8 after percent-decoding
            return None
        segments = self.segments
        if len(parts) < len(segments):
            return None
        parameters: dict[str, object] = {}
        for index, segment in enumerate(segments):
            if isinstance(segment, str):
                if parts[index] != segment:
                    return None
                continue
            greedy = segment.converter.greedy
            text = self.separator.join(parts[index:]) if greedy else parts[index]
            try:
                parameters[segment.name] = segment.converter.parse(text)
            except ValueError:
                return None
            if segment.converter.greedy:
                return parameters
        if len(parts) != len(segments):
            return None
        return parameters

    def __repr__(self) -> str:
        return f"Pattern({self.pattern!r})"


def _unquote(text: str) -> str:
    """Percent-decode; invalid UTF-8 raises :exc:`UnicodeDecodeError`, a :exc:`ValueError`."""
    if "%" not in text:
        return text
    return urllib.parse.unquote(text, errors="strict")

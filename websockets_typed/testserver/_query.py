"""Typed parsing of the query strings of the test server's endpoints.

Each endpoint reads its parameters through a :class:`Query`, which checks
each value and its bounds and raises :exc:`BadRequest` with a sentence
that says what is wrong; the server answers it with 400 before the
upgrade. Parameters that no endpoint reads are an error too, so that a
misspelt name (``?cuont=5``) doesn't silently fall back to a default.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from typing import TypeVar

__all__ = ["BadRequest", "Query"]

_Choice = TypeVar("_Choice", bound=str)


class BadRequest(Exception):
    """A request the test server answers with 400 Bad Request, saying why."""


class Query:
    """The parameters of a query string, read one by one with their types.

    Call :meth:`done` after reading every parameter the endpoint accepts:
    it rejects the others.
    """

    def __init__(self, query: str) -> None:
        try:
            pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, errors="strict")
        except UnicodeDecodeError as exc:
            raise BadRequest(f"invalid query string: {exc}") from None
        self._values: dict[str, str] = {}
        for name, value in pairs:
            if name in self._values:
                raise BadRequest(f"parameter {name} is given more than once")
            self._values[name] = value
        self._read: set[str] = set()

    def _get(self, name: str) -> str | None:
        self._read.add(name)
        return self._values.get(name)

    def integer(self, name: str, default: int, minimum: int, maximum: int, limit: str = "") -> int:
        """Read an integer between ``minimum`` and ``maximum``.

        ``limit`` names what sets ``maximum`` (an option of the server), for
        the error message.
        """
        text = self._get(name)
        if text is None:
            return default
        # int() would accept " 5", "5_000" and "+5": only plain digits are clear.
        if not text.isascii() or not text.lstrip("-").isdigit():
            raise BadRequest(f"{name} must be an integer, not {text!r}")
        value = int(text)
        if value < minimum:
            raise BadRequest(f"{name}={value} is below the minimum of {minimum}")
        if value > maximum:
            where = f" ({limit})" if limit else ""
            raise BadRequest(f"{name}={value} is above the server's limit of {maximum}{where}")
        return value

    def text(self, name: str, default: str, max_bytes: int) -> str:
        """Read a string of at most ``max_bytes`` bytes once encoded to UTF-8."""
        value = self._get(name)
        if value is None:
            return default
        if len(value.encode()) > max_bytes:
            raise BadRequest(f"{name} is longer than {max_bytes} bytes")
        return value

    def choice(self, name: str, default: _Choice, choices: Sequence[_Choice]) -> _Choice:
        """Read one of ``choices``."""
        value = self._get(name)
        if value is None:
            return default
        for choice in choices:
            if value == choice:
                return choice
        raise BadRequest(f"{name} must be one of {', '.join(choices)}, not {value!r}")

    def rest(self) -> dict[str, str]:
        """Read every parameter not read yet, whatever its name."""
        rest = {name: value for name, value in self._values.items() if name not in self._read}
        self._read.update(rest)
        return rest

    def done(self) -> None:
        """Reject parameters that weren't read: the endpoint doesn't know them."""
        unknown = sorted(self._values.keys() - self._read)
        if unknown:
            raise BadRequest(f"unknown parameter: {', '.join(unknown)}")

"""Type checks for the fields of the public event classes.

Events built by the application are checked, so that a value of the wrong
type (often the argument order of an old version) fails at once with a
:exc:`TypeError` naming the field, rather than far away, or never. Events
built by the parsers skip the checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

__all__ = ["type_error", "typed"]


def type_error(owner: type, name: str, value: object, kinds: tuple[type, ...]) -> TypeError:
    """Return the :exc:`TypeError` for field ``name`` of class ``owner`` given ``value``."""
    expected = " or ".join("None" if kind is type(None) else kind.__name__ for kind in kinds)
    return TypeError(f"{owner.__name__}.{name} must be {expected}, not {type(value).__name__}")


def typed(*kinds: type) -> Callable[[object, attrs.Attribute[Any], object], None]:
    """Return an attrs validator that accepts instances of ``kinds`` only."""

    def validate(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, kinds):
            raise type_error(type(instance), attribute.name, value, kinds)

    return validate

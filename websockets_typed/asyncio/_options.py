"""Checks shared by :func:`serve`, :func:`connect` and their Unix variants."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def check_options(function: str, options: Mapping[str, object], known: Iterable[str]) -> None:
    """Refuse keyword arguments that ``function`` doesn't know.

    Options are forwarded selectively; without this check, a misspelt one
    (``ping_intreval=5``) would be dropped without a word.

    Raises:
        TypeError: Naming the unknown arguments, as Python does for a function.
    """
    unknown = sorted(set(options).difference(known))
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        plural = "s" if len(unknown) > 1 else ""
        raise TypeError(f"{function}() got unexpected keyword argument{plural} {names}")

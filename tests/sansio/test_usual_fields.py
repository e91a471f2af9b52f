"""The split of a usual request head's fields: the C accelerator's and the pure-Python one agree.

Both return the fields of a usual head and ``None`` for anything else, which
the parser then reads with its pattern (RFC 7230, 3.2); tests/sansio/
test_http11.py checks that whole heads and heads read line by line give the
same requests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from websockets_typed.datastructures import (
    _COMMON_NAMES,  # pyright: ignore[reportPrivateUsage]
    _COMMON_VALUES,  # pyright: ignore[reportPrivateUsage]
    Headers,
    UsualFields,
    py_usual_fields,
)
from websockets_typed.frames import SPEEDUPS
from websockets_typed.http11 import usual_fields

# The C accelerator's split, when in use, and the pure-Python one.
SPLITS = [usual_fields, py_usual_fields] if SPEEDUPS else [py_usual_fields]

REQUEST_LINE = "GET / HTTP/1.1\r\n"


def split(function: UsualFields, fields: str, *, line: int = 64, count: int = 4) -> object:
    """What ``function`` returns for a head with ``fields`` after its request line."""
    head = REQUEST_LINE + fields
    return function(head, len(REQUEST_LINE), line, count, _COMMON_NAMES, _COMMON_VALUES)


@pytest.mark.parametrize("function", SPLITS)
def test_usual_fields(function: UsualFields) -> None:
    result = split(function, "Host: a:1\r\nupgrade:  websocket  \r\nConnection:")
    assert isinstance(result, tuple)
    fields, items = cast("tuple[dict[str, str], list[str]]", result)
    assert fields == {"host": "a:1", "upgrade": "websocket", "connection": ""}
    assert items == ["Host", "a:1", "upgrade", "websocket", "Connection", ""]
    # Names and common values are the shared strings.
    assert items[0] is _COMMON_NAMES["Host"][0]
    assert items[3] is _COMMON_VALUES["websocket"]


@pytest.mark.parametrize("function", SPLITS)
def test_other_names(function: UsualFields) -> None:
    # Other tokens, as browsers send them, are kept as given, and found by
    # their lower-cased form, shared for a common name written otherwise, as
    # headers[name] = value would.
    result = split(function, "Accept-Language: en;q=0.9\r\nCONNECTION: x\r\nX-1!#$%&'*+.^_`|~: y")
    assert isinstance(result, tuple)
    fields, items = cast("tuple[dict[str, str], list[str]]", result)
    assert fields == {"accept-language": "en;q=0.9", "connection": "x", "x-1!#$%&'*+.^_`|~": "y"}
    assert items == ["Accept-Language", "en;q=0.9", "CONNECTION", "x", "X-1!#$%&'*+.^_`|~", "y"]
    assert next(name for name in fields if name == "connection") is _COMMON_NAMES["Connection"][1]
    headers = Headers()
    for name, value in zip(items[::2], items[1::2], strict=True):
        headers[name] = value
    assert (headers._dict, headers._list) == (fields, items)  # pyright: ignore[reportPrivateUsage]


@pytest.mark.parametrize("function", SPLITS)
def test_no_fields(function: UsualFields) -> None:
    head = "GET / HTTP/1.1"
    assert function(head, len(head), 64, 4, _COMMON_NAMES, _COMMON_VALUES) == ({}, [])


@pytest.mark.parametrize("function", SPLITS)
@pytest.mark.parametrize(
    "fields",
    [
        "X Custom: 1",  # not a token
        "X@: 1",
        '"X": 1',
        ": 1",
        "Host: a\r\nHOST: b",
        "Host : a",  # whitespace before the colon
        " Host: a",  # obs-fold
        "Host",  # no colon
        "Host: a\r\nhost: b",  # a name given twice, in any case
        "Host: a\tb",  # HTAB: valid, but for the pattern to decide
        "Host: caf\u00e9",  # obs-text, decoded with surrogateescape elsewhere
        "Host: \udcff",
        "Host: a\x00",
        "Host: a\x7f",
        "Host: a\rb",  # CR without LF
        "Host: a\r",
        "Host: a\nb",  # LF without CR
        "Host: a\r\n",  # an empty line at the end
        "Host: a\r\n\r\nOrigin: b",  # an empty line in the middle
        "Host: " + "a" * 59,  # 65 characters: one too many
        "Host: a\r\nOrigin: b\r\nCookie: c\r\nDate: d\r\nServer: e",  # 5 lines: one too many
    ],
)
def test_unusual_fields(function: UsualFields, fields: str) -> None:
    assert split(function, fields) is None


@pytest.mark.parametrize("function", SPLITS)
def test_limits_are_inclusive(function: UsualFields) -> None:
    assert split(function, "Host: " + "a" * 58) is not None
    assert split(function, "Host: a\r\nOrigin: b\r\nCookie: c\r\nDate: d") is not None


PIECES = [
    "Host",
    "Origin",
    "upgrade",
    "X-A",
    ":",
    " ",
    "\t",
    "\r",
    "\n",
    "\r\n",
    "a",
    "\u00e9",
    "\x7f",
]


@pytest.mark.skipif(not SPEEDUPS, reason="the C accelerator is disabled")
@given(st.lists(st.sampled_from(PIECES), max_size=16), st.integers(0, 8), st.integers(0, 4))
def test_c_accelerator_agrees_with_python(pieces: list[str], line: int, count: int) -> None:
    fields = "".join(pieces)
    assert split(usual_fields, fields, line=line, count=count) == split(
        py_usual_fields, fields, line=line, count=count
    )


@pytest.mark.skipif(not SPEEDUPS, reason="the C accelerator is disabled")
def test_c_accelerator_refuses_wrong_arguments() -> None:
    function = cast("Callable[..., object]", usual_fields)
    with pytest.raises(TypeError, match="takes 6 arguments"):
        function("", 0)
    with pytest.raises(TypeError, match="a str and two dicts"):
        function(b"", 0, 1, 1, {}, {})
    with pytest.raises(ValueError, match="start out of range"):
        function("", 1, 1, 1, {}, {})
    with pytest.raises(TypeError, match="names must map to pairs"):
        function("A: b", 0, 8, 8, {"A": "a"}, {})

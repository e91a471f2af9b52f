"""Headers: the case-insensitive multimap of seed 004."""

from __future__ import annotations

import gc
import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from websockets_typed.datastructures import Headers, MultipleValuesError


class KeysAndGetItem:
    """Not a Mapping, but has what dict.update needs."""

    def keys(self) -> list[str]:
        return ["X-A"]

    def __getitem__(self, key: str) -> str:
        return "from " + key


def test_construction_from_every_kind_of_source() -> None:
    headers = Headers(
        Headers([("A", "1")]),
        {"B": "2"},
        [("C", "3")],
        KeysAndGetItem(),
        D="4",
    )
    assert list(headers.raw_items()) == [
        ("A", "1"),
        ("B", "2"),
        ("C", "3"),
        ("X-A", "from X-A"),
        ("D", "4"),
    ]


def test_lookup_is_case_insensitive() -> None:
    headers = Headers(Upgrade="websocket")
    assert headers["upgrade"] == headers["UPGRADE"] == "websocket"
    assert "uPgRaDe" in headers
    assert 42 not in headers  # type: ignore[comparison-overlap]
    assert list(headers) == ["upgrade"]


def test_missing_header() -> None:
    headers = Headers()
    with pytest.raises(KeyError):
        headers["Missing"]
    assert headers.get("Missing") is None
    assert headers.get_all("Missing") == []


def test_setting_appends() -> None:
    headers = Headers()
    headers["Set-Cookie"] = "a=1"
    headers["set-cookie"] = "b=2"
    assert len(headers) == 1
    assert headers.get_all("SET-COOKIE") == ["a=1", "b=2"]
    assert list(headers.raw_items()) == [("Set-Cookie", "a=1"), ("set-cookie", "b=2")]


def test_multiple_values_error() -> None:
    headers = Headers([("X", "1"), ("x", "2")])
    with pytest.raises(MultipleValuesError) as raised:
        headers["X"]
    assert str(raised.value) == "'X'"
    assert isinstance(raised.value, LookupError)
    assert str(MultipleValuesError("a", "b")) == "('a', 'b')"


def test_delete_removes_every_value() -> None:
    headers = Headers([("X", "1"), ("Y", "2"), ("x", "3")])
    del headers["X"]
    assert list(headers.raw_items()) == [("Y", "2")]
    with pytest.raises(KeyError):
        del headers["X"]


def test_get_all_returns_a_copy() -> None:
    headers = Headers(X="1")
    headers.get_all("X").append("2")
    assert headers["X"] == "1"


def test_serialization() -> None:
    headers = Headers([("Host", "example.com"), ("X", "1")])
    assert str(headers) == "Host: example.com\r\nX: 1\r\n\r\n"
    assert headers.serialize() == b"Host: example.com\r\nX: 1\r\n\r\n"
    assert repr(headers) == "Headers([('Host', 'example.com'), ('X', '1')])"


def test_copy_is_independent() -> None:
    headers = Headers(X="1")
    copy = headers.copy()
    copy["X"] = "2"
    assert headers.get_all("X") == ["1"]
    assert copy.get_all("X") == ["1", "2"]


def test_clear() -> None:
    headers = Headers(X="1")
    headers.clear()
    assert len(headers) == 0
    assert list(headers.raw_items()) == []


def test_equality() -> None:
    assert Headers(X="1") == Headers(x="1")
    assert Headers(X="1") != Headers(X="2")
    assert Headers(X="1") != {"x": "1"}
    with pytest.raises(TypeError):
        hash(Headers())


def test_update_appends() -> None:
    headers = Headers(X="1")
    headers.update({"X": "2"}, Y="3")
    assert headers.get_all("x") == ["1", "2"]
    assert headers["y"] == "3"


@given(st.lists(st.tuples(st.sampled_from(["A", "a", "B", "Content-Type"]), st.text())))
def test_raw_items_round_trip(pairs: list[tuple[str, str]]) -> None:
    headers = Headers(pairs)
    assert list(headers.raw_items()) == pairs
    for name, _ in pairs:
        assert headers.get_all(name) == [v for n, v in pairs if n.lower() == name.lower()]


def test_handshake_headers_are_small() -> None:
    # Connections keep their handshake's headers (bench/run.py, S5): a
    # header costs its value, the names of handshakes are shared strings,
    # and there is no list or tuple per header.
    raw = [
        (b"Host", b"127.0.0.1:8765"),
        (b"Upgrade", b"websocket"),
        (b"Connection", b"Upgrade"),
        (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        (b"Sec-WebSocket-Version", b"13"),
        (b"User-Agent", b"Python/3.11 websockets/17.4"),
    ]

    def parsed() -> Headers:
        # Fresh strings, as the HTTP parser decodes them.
        return Headers([(name.decode(), value.decode()) for name, value in raw])

    count = 100
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [parsed() for _ in range(count)]
        gc.collect()
        size = (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()
    # About 700 bytes; 1,900 with a tuple, a list, a name and a value each.
    assert size < 1000, size
    assert kept[0] == kept[1]
    # The values that every handshake spells the same way are shared too.
    assert kept[0]["Upgrade"] is kept[1]["Upgrade"]
    assert kept[0]["Host"] is not kept[1]["Host"]
    assert kept[0].get_all("upgrade") == ["websocket"]


def test_values_of_a_header_added_one_by_one() -> None:
    headers = Headers()
    headers["Set-Cookie"] = "a=1"
    assert headers.get_all("set-cookie") == ["a=1"]
    headers["set-cookie"] = "b=2"
    headers["SET-COOKIE"] = "c=3"
    assert headers.get_all("Set-Cookie") == ["a=1", "b=2", "c=3"]
    copy = headers.copy()
    copy["Set-Cookie"] = "d=4"
    assert headers.get_all("Set-Cookie") == ["a=1", "b=2", "c=3"]
    assert copy.get_all("Set-Cookie") == ["a=1", "b=2", "c=3", "d=4"]
    with pytest.raises(MultipleValuesError):
        headers["Set-Cookie"]
    assert list(headers.raw_items()) == [
        ("Set-Cookie", "a=1"),
        ("set-cookie", "b=2"),
        ("SET-COOKIE", "c=3"),
    ]


def test_common_names_are_shared_whatever_their_case() -> None:
    [spelled] = Headers([("SEC-WEBSOCKET-KEY", "a")])
    [usual] = Headers([("Sec-WebSocket-Key", "b")])
    assert spelled is usual
    [other] = Headers([("X-SEC-WEBSOCKET-KEY", "c")])
    assert other == "x-sec-websocket-key"


def test_get() -> None:
    headers = Headers([("Origin", "https://a"), ("X", "1"), ("x", "2")])
    assert headers.get("origin") == "https://a"
    assert headers.get("Missing") is None
    assert headers.get("Missing", "default") == "default"
    assert headers.get("Origin", "default") == "https://a"
    # Several values: as headers["X"] does, and as Mapping.get does with it.
    with pytest.raises(MultipleValuesError):
        headers.get("X")
    with pytest.raises(MultipleValuesError):
        headers.get("X", "default")

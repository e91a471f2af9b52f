"""Tests of websockets_typed.routing: path and host patterns, without I/O."""

from __future__ import annotations

import uuid

import pytest

from websockets_typed.routing import CONVERTERS, Pattern

UUID = "12345678-1234-5678-1234-567812345678"


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        # Literal segments.
        ("/", "/", {}),
        ("/", "/chat", None),
        ("/chat", "/chat", {}),
        ("/chat", "/chat/", None),
        ("/chat", "/chats", None),
        ("/chat/", "/chat/", {}),
        ("/caf%C3%A9", "/caf%C3%A9", None),  # patterns are decoded text
        ("/café", "/caf%C3%A9", {}),
        # str (the default).
        ("/chat/{room}", "/chat/lobby", {"room": "lobby"}),
        ("/chat/{room:str}", "/chat/lobby", {"room": "lobby"}),
        ("/chat/{room}", "/chat/", None),
        ("/chat/{room}", "/chat", None),
        ("/chat/{room}", "/chat/a/b", None),
        ("/chat/{room}", "/chat/a%2Fb", {"room": "a/b"}),
        ("/chat/{room}", "/chat/%E2%82%AC", {"room": "€"}),
        ("/chat/{room}", "/chat/%FF", None),  # not UTF-8
        ("/{a}/{b}", "/x/y", {"a": "x", "b": "y"}),
        # int.
        ("/user/{id:int}", "/user/42", {"id": 42}),
        ("/user/{id:int}", "/user/007", {"id": 7}),
        ("/user/{id:int}", "/user/-1", None),
        ("/user/{id:int}", "/user/4.2", None),
        ("/user/{id:int}", "/user/٤٢", None),  # digits, but not ASCII
        ("/user/{id:int}", "/user/" + "9" * 19, None),
        ("/user/{id:int}", "/user/", None),
        # uuid.
        ("/doc/{key:uuid}", f"/doc/{UUID}", {"key": uuid.UUID(UUID)}),
        ("/doc/{key:uuid}", f"/doc/{UUID.upper()}", {"key": uuid.UUID(UUID)}),
        ("/doc/{key:uuid}", f"/doc/{UUID.replace('-', '')}", None),
        ("/doc/{key:uuid}", "/doc/{12345678-1234-5678-1234-567812345678}", None),
        # path.
        ("/files/{name:path}", "/files/a/b/c.txt", {"name": "a/b/c.txt"}),
        ("/files/{name:path}", "/files/a", {"name": "a"}),
        ("/files/{name:path}", "/files/", None),
        ("/files/{name:path}", "/files", None),
        ("/{name:path}", "/a/b", {"name": "a/b"}),
        ("/files/{name:path}", "/other/a", None),
    ],
)
def test_path_patterns(pattern: str, path: str, expected: dict[str, object] | None) -> None:
    assert Pattern(pattern).match(path) == expected


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("example.com", "example.com", {}),
        ("example.com", "api.example.com", None),
        ("{tenant}.example.com", "acme.example.com", {"tenant": "acme"}),
        ("{tenant}.example.com", "example.com", None),
        ("{tenant}.example.com", "a.b.example.com", None),
        ("{tenant}.{domain:path}", "acme.example.com", {"tenant": "acme", "domain": "example.com"}),
    ],
)
def test_host_patterns(pattern: str, host: str, expected: dict[str, object] | None) -> None:
    assert Pattern(pattern, separator=".").match(host) == expected


def test_host_path_parameter_is_last() -> None:
    with pytest.raises(ValueError, match="a path parameter must be the last segment"):
        Pattern("{sub:path}.example.com", separator=".")


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("/user/{id:number}", "unknown converter 'number' \\(known: str, int, uuid, path\\)"),
        ("/user/id{id}", "a parameter must be a whole segment: 'id{id}'"),
        ("/user/{id}.json", "a parameter must be a whole segment: '{id}.json'"),
        ("/user/{id", "a parameter must be a whole segment"),
        ("/user/{}", "invalid parameter name ''"),
        ("/user/{1st}", "invalid parameter name '1st'"),
        ("/{a}/{a}", "parameter 'a' appears twice"),
        ("/{rest:path}/edit", "a path parameter must be the last segment"),
    ],
)
def test_invalid_patterns(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        Pattern(pattern)
    assert repr(pattern) in str(raised.value)


def test_pattern_parameters_and_repr() -> None:
    pattern = Pattern("/user/{id:int}/{rest:path}")
    assert pattern.parameters == {"id": CONVERTERS["int"], "rest": CONVERTERS["path"]}
    assert repr(pattern) == "Pattern('/user/{id:int}/{rest:path}')"


def test_matching_is_linear() -> None:
    # Many segments against many parameters: no backtracking to blow up.
    pattern = Pattern("/" + "/".join(f"{{p{index}}}" for index in range(100)))
    assert pattern.match("/" + "/".join("x" * 100 for _ in range(100))) is not None
    assert pattern.match("/" + "/".join("x" for _ in range(99)) + "/") is None

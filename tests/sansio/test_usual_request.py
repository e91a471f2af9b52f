"""The usual handshake: the C accelerator, its pure-Python twin and the full checks agree.

usual_request() parses and checks a usual request and computes its accept
value, usual_response() builds the 101 (RFC 6455, 4.2.1 and 4.2.2). The C
versions and the pure-Python ones must give identical results, and the
server must answer every request as the full checks do, with the same
status, headers, body and handshake_exc: the shortcut decides nothing that
they wouldn't.
"""

from __future__ import annotations

import email.utils
import gc
import time
import tracemalloc
from collections.abc import Sequence
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from protocol_helpers import KEY

from websockets_typed._usual_handshake import (
    UsualRequest,
    py_usual_request,
    py_usual_response,
    usual_request,
    usual_response,
)
from websockets_typed.datastructures import Headers
from websockets_typed.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets_typed.frames import SPEEDUPS
from websockets_typed.handshake import accept_key, check_request
from websockets_typed.http11 import Request, Response, parse_whole_request
from websockets_typed.server import ServerProtocol
from websockets_typed.typing import Subprotocol

REQUESTS = [usual_request, py_usual_request] if SPEEDUPS else [py_usual_request]
RESPONSES = [usual_response, py_usual_response] if SPEEDUPS else [py_usual_response]

USUAL_LINES = [
    "Host: example.com",
    "Upgrade: websocket",
    "Connection: Upgrade",
    f"Sec-WebSocket-Key: {KEY}",
    "Sec-WebSocket-Version: 13",
]


def head(*lines: str, request_line: str = "GET /chat?room=1 HTTP/1.1") -> bytes:
    """A request head with these field lines."""
    return "\r\n".join([request_line, *lines, "", ""]).encode("utf-8", "surrogateescape")


def usual(
    *lines: str, remove: Sequence[str] = (), request_line: str = "GET /chat?room=1 HTTP/1.1"
) -> bytes:
    """The usual request without the lines that start with ``remove``, plus ``lines``."""
    kept = [line for line in USUAL_LINES if not line.startswith(tuple(remove))]
    return head(*kept, *lines, request_line=request_line)


class FullChecks(ServerProtocol):
    """A server whose requests all go through the full checks."""

    __slots__ = ()

    def process_request(self, request: Request) -> tuple[str, str | None, str | None]:
        return super().process_request(request)


def outcome(data: bytes, **kwargs: object) -> tuple[object, ...]:
    """What a server (``FullChecks`` if asked) does with ``data``, its Date aside."""
    server_class = cast(type[ServerProtocol], kwargs.pop("server_class", ServerProtocol))
    server = server_class(**kwargs)  # type: ignore[arg-type]
    server.receive_data(data)
    events = server.events_received()
    if events:
        (request,) = events
        assert isinstance(request, Request)
        response = server.accept(request)
        server.send_response(response)
        seen: object = (request.path, request.method, list(request.headers.raw_items()))
    else:
        seen = None
    sent = b"".join(server.data_to_send())
    exc = server.handshake_exc
    return (
        seen,
        sent,
        None if exc is None else (type(exc), str(exc)),
        server.state,
        server.origin,
        [repr(extension) for extension in server.extensions],
        server.subprotocol,
    )


@pytest.fixture(autouse=True)
def _frozen_time(monkeypatch: pytest.MonkeyPatch) -> None:  # pyright: ignore[reportUnusedFunction]
    """One second for every response, so that their Date headers agree."""
    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.5)


# Results of both versions.


@pytest.mark.parametrize("function", REQUESTS)
def test_usual_request(function: object) -> None:
    buffer = bytearray(usual("Origin: https://example.com") + b"\x81\x80")
    result = cast(UsualRequest, function(buffer, 8192, 128))  # type: ignore[operator]
    request, accept, origin, items, count = result
    assert (request.method, request.path) == ("GET", "/chat?room=1")
    assert request.headers["Sec-WebSocket-Key"] == KEY
    lines = [line.partition(": ") for line in [*USUAL_LINES, "Origin: https://example.com"]]
    assert request.headers == Headers((name, value) for name, _, value in lines)
    assert accept == accept_key(KEY)
    assert origin == "https://example.com"
    assert items is request.headers._list  # pyright: ignore[reportPrivateUsage]
    assert count == 12
    # The request is consumed, what follows it stays.
    assert buffer == bytearray(b"\x81\x80")


@pytest.mark.parametrize("function", REQUESTS)
@pytest.mark.parametrize(
    "data",
    [
        usual()[:-1],  # incomplete
        usual(request_line="HEAD / HTTP/1.1"),
        usual(request_line="POST / HTTP/1.1"),
        usual(request_line="GET / HTTP/1.0"),
        usual(request_line="GET  / HTTP/1.1"),
        usual(request_line="GET /\x7f HTTP/1.1"),
        head(request_line="GET / HTTP/1.1"),  # no fields
        usual("Host: example.org"),  # given twice
        usual("X Custom: 1"),  # not a token
        usual("HOST: example.org"),  # given twice, in another case
        usual("Cookie: a\tb"),  # HTAB
        usual("Cookie: caf\udce9"),  # obs-text
        usual("Content-Length: 0"),
        usual("Transfer-Encoding: chunked"),
        usual("transfer-encoding: identity"),
        usual("Connection: keep-alive", remove=["Connection"]),
        usual("Connection: Upgrade, keep-alive", remove=["Connection"]),
        usual(remove=["Connection"]),
        usual("Upgrade: h2c", remove=["Upgrade"]),
        usual("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==", remove=["Sec-WebSocket-Key"]),
        usual("Sec-WebSocket-Key: " + KEY[:-1], remove=["Sec-WebSocket-Key"]),
        usual(remove=["Sec-WebSocket-Key"]),
        usual("Sec-WebSocket-Version: 8", remove=["Sec-WebSocket-Version"]),
        usual(remove=["Sec-WebSocket-Version"]),
    ],
)
def test_unusual_request(function: object, data: bytes) -> None:
    buffer = bytearray(data)
    assert function(buffer, 8192, 128) is None  # type: ignore[operator]
    assert buffer == data  # left alone


@pytest.mark.parametrize("function", REQUESTS)
def test_extensions_offered(function: object) -> None:
    # Usual: the server negotiates them, if it has any.
    data = usual("Sec-WebSocket-Extensions: permessage-deflate")
    assert function(bytearray(data), 8192, 128) is not None  # type: ignore[operator]


@pytest.mark.parametrize("function", REQUESTS)
def test_limits(function: object) -> None:
    data = usual()
    longest = max(len(line) for line in data.split(b"\r\n"))
    assert function(bytearray(data), longest, 5) is not None  # type: ignore[operator]
    assert function(bytearray(data), longest - 1, 5) is None  # type: ignore[operator]
    assert function(bytearray(data), longest, 4) is None  # type: ignore[operator]
    assert function(bytearray(data), 0, 0) is None  # type: ignore[operator]
    with pytest.raises(ValueError, match="negative"):
        function(bytearray(data), -1, 5)  # type: ignore[operator]
    with pytest.raises(ValueError, match="negative"):
        function(bytearray(data), 100, -1)  # type: ignore[operator]


@pytest.mark.parametrize("function", RESPONSES)
def test_usual_response(function: object) -> None:
    date = email.utils.formatdate(1_800_000_000, usegmt=True)
    lines = f"Date: {date}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
    response = cast(Response, function(accept_key(KEY), date, lines.encode()))  # type: ignore[operator]
    expected = Headers()
    expected["Date"] = date
    expected["Upgrade"] = "websocket"
    expected["Connection"] = "Upgrade"
    expected["Sec-WebSocket-Accept"] = accept_key(KEY)
    assert response == Response(101, "Switching Protocols", expected)
    assert list(response.headers.raw_items()) == list(expected.raw_items())
    assert response.serialize() == Response(101, "Switching Protocols", expected).serialize()


# The C accelerator against the pure-Python twin.

FIELD_LINES = st.sampled_from(
    [
        *USUAL_LINES,
        "Host: a",
        "host:a",
        "Origin: https://example.com",
        "Origin: null",
        "Upgrade: WebSocket",
        "upgrade: websocket ",
        "Upgrade: h2c",
        "Connection: keep-alive, Upgrade",
        "Connection: upgrade",
        "Connection: close",
        "Sec-WebSocket-Key: " + KEY[:-2] + "=",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==",
        "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==",
        "sec-websocket-version: 13",
        "Sec-WebSocket-Version: 8",
        "Sec-WebSocket-Extensions: permessage-deflate",
        "Sec-WebSocket-Protocol: chat",
        "Content-Length: 0",
        "Transfer-Encoding: chunked",
        "TRANSFER-ENCODING: chunked",
        "Cookie: a=b",
        "User-Agent: test",
        "X-Other: 1",
        "X Other: 1",
        "HOST: a",
        "Accept-Language: en-US,en;q=0.9",
        "Cookie: a\tb",
        "Cookie: \x00",
        "Cookie: \udcff",
        "Cookie: \u00e9",
        "Cookie",
        " Cookie: a",
        "",
        "\r",
        "\n",
    ]
)
REQUEST_LINES = st.sampled_from(
    [
        "GET / HTTP/1.1",
        "GET /chat?room=1 HTTP/1.1",
        "HEAD / HTTP/1.1",
        "GET / HTTP/1.0",
        "GET /a b HTTP/1.1",
        "GET  HTTP/1.1",
        "get / HTTP/1.1",
        "GET /\udcff HTTP/1.1",
        "GET /\r HTTP/1.1",
    ]
)


@st.composite
def heads(draw: st.DrawFn) -> bytes:
    """Request heads, mostly usual ones with a change or two, sometimes cut short."""
    lines = list(USUAL_LINES)
    for _ in range(draw(st.integers(0, 3))):
        change = draw(st.sampled_from(["add", "remove", "replace"]))
        if change != "add" and lines:
            del lines[draw(st.integers(0, len(lines) - 1))]
        if change != "remove":
            lines.append(draw(FIELD_LINES))
    lines = draw(st.permutations(lines))
    request_line = draw(st.one_of(st.just("GET /chat HTTP/1.1"), REQUEST_LINES))
    data = head(*lines, request_line=request_line)
    cut = draw(st.sampled_from([0, 0, 0, 0, 1, 2, 4]))
    return data[: len(data) - cut] + draw(st.binary(max_size=4))


@pytest.mark.skipif(not SPEEDUPS, reason="the C accelerator is disabled")
@settings(max_examples=500)
@given(
    data=heads(),
    line=st.integers(0, 60),
    count=st.integers(0, 14),
)
def test_c_usual_request_agrees_with_python(data: bytes, line: int, count: int) -> None:
    def run(function: object) -> tuple[object, bytearray]:
        buffer = bytearray(data)
        result = cast(UsualRequest | None, function(buffer, line, count))  # type: ignore[operator]
        if result is None:
            return None, buffer
        request, *rest = result
        fields = request.headers._dict  # pyright: ignore[reportPrivateUsage]
        return (request, request.path, request.method, fields, *rest), buffer

    assert run(usual_request) == run(py_usual_request)


@pytest.mark.skipif(not SPEEDUPS, reason="the C accelerator is disabled")
@given(
    accept=st.text(st.characters(max_codepoint=127), max_size=30),
    date=st.text(max_size=30),
    lines=st.binary(max_size=30),
)
def test_c_usual_response_agrees_with_python(accept: str, date: str, lines: bytes) -> None:
    c_response = usual_response(accept, date, lines)
    py_response = py_usual_response(accept, date, lines)
    assert c_response == py_response
    assert list(c_response.headers.raw_items()) == list(py_response.headers.raw_items())
    assert c_response.headers._serialized == py_response.headers._serialized  # pyright: ignore[reportPrivateUsage]


@pytest.mark.skipif(not SPEEDUPS, reason="the C accelerator is disabled")
def test_c_accelerator_refuses_wrong_arguments() -> None:
    from websockets_typed import _speedups

    anything = cast(object, _speedups)
    with pytest.raises(TypeError, match="3 arguments"):
        _speedups.usual_request(bytearray(), 1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="bytearray"):
        _speedups.usual_request(b"", 1, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _speedups.usual_request(bytearray(), "1", 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="3 arguments"):
        _speedups.usual_response("a", "b")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="ASCII str"):
        _speedups.usual_response("\u00e9", "b", b"")
    with pytest.raises(TypeError, match="ASCII str"):
        _speedups.usual_response("a", "b", "c")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="8 arguments"):
        _speedups.handshake_types(Request)  # type: ignore[call-arg]
    assert anything is _speedups


@pytest.mark.skipif(not SPEEDUPS, reason="the C accelerator is disabled")
def test_c_accelerator_keeps_no_references() -> None:
    # Usual and unusual requests, many times: no memory kept.
    def run() -> None:
        for data in (
            usual(),
            usual("X-Other: 1"),
            usual("Connection: close", remove=["Connection"]),
        ):
            for _ in range(2_000):
                usual_request(bytearray(data), 8192, 128)
                usual_response(accept_key(KEY), "date", b"lines")

    run()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        run()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 10_000


# The server answers as the full checks do.


@settings(max_examples=300)
@given(data=heads())
def test_server_answers_as_the_full_checks(data: bytes) -> None:
    assert outcome(data) == outcome(data, server_class=FullChecks)


@given(data=heads())
def test_usual_request_is_valid(data: bytes) -> None:
    # What the shortcut accepts, parsing and checking it fully accepts too.
    result = usual_request(bytearray(data), 8192, 128)
    if result is not None:
        request = parse_whole_request(bytearray(data))
        assert request is not None
        assert (request.path, request.method) == (result[0].path, "GET")
        assert request.headers == result[0].headers
        assert accept_key(check_request(request.headers)) == result[1]


def select_none(protocol: ServerProtocol, offered: Sequence[Subprotocol]) -> None:
    """A select_subprotocol hook that selects no subprotocol."""


def select_wrong(protocol: ServerProtocol, offered: Sequence[Subprotocol]) -> str:
    """A select_subprotocol hook that selects a subprotocol the client didn't offer."""
    return "other"


def select_bug(protocol: ServerProtocol, offered: Sequence[Subprotocol]) -> str:
    """A select_subprotocol hook with a bug."""
    raise RuntimeError("bug")


OPTIONS: list[tuple[bytes, dict[str, object]]] = [
    (usual(), {}),
    (usual("Origin: https://example.com"), {"origins": ["https://example.com"]}),
    (usual("Origin: https://example.org"), {"origins": ["https://example.com"]}),
    (usual(), {"origins": [None]}),
    (usual(), {"hosts": ["example.com"]}),
    (usual(), {"hosts": ["example.org"]}),
    (usual("Sec-WebSocket-Extensions: permessage-deflate"), {}),
    (
        usual("Sec-WebSocket-Extensions: permessage-deflate"),
        {"extensions": [ServerPerMessageDeflateFactory()]},
    ),
    (usual(), {"extensions": [ServerPerMessageDeflateFactory()]}),
    (
        usual("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=99"),
        {"extensions": [ServerPerMessageDeflateFactory()]},
    ),
    (
        usual("Sec-WebSocket-Extensions: permessage-deflate; x"),
        {"extensions": [ServerPerMessageDeflateFactory()]},
    ),
    (usual("Sec-WebSocket-Extensions: ;;"), {"extensions": [ServerPerMessageDeflateFactory()]}),
    (usual("Sec-WebSocket-Protocol: chat"), {"subprotocols": ["chat"]}),
    (usual(), {"subprotocols": ["chat"]}),
    (usual(), {"select_subprotocol": select_none}),
    (usual("Sec-WebSocket-Protocol: chat"), {}),
    (usual("Sec-WebSocket-Protocol: ,,"), {}),
    (usual("Sec-WebSocket-Protocol: superchat"), {"subprotocols": ["chat"]}),
    (usual("Sec-WebSocket-Protocol: superchat, chat"), {"subprotocols": ["chat", "x"]}),
    (usual("Sec-WebSocket-Protocol: chat"), {"select_subprotocol": select_wrong}),
    (usual("Sec-WebSocket-Protocol: chat"), {"select_subprotocol": select_bug}),
    (
        usual("Sec-WebSocket-Protocol: chat", "Origin: https://example.org"),
        {"subprotocols": ["chat"], "origins": ["https://example.com"]},
    ),
    (usual(request_line="HEAD / HTTP/1.1"), {}),
    (usual("Content-Length: 0"), {}),
    (usual("Content-Length: 1"), {}),
    (usual("Transfer-Encoding: chunked"), {}),
    (usual("Sec-WebSocket-Version: 8", remove=["Sec-WebSocket-Version"]), {}),
    (usual("Connection: close", remove=["Connection"]), {}),
]


@pytest.mark.parametrize(("data", "options"), OPTIONS)
def test_server_with_options_answers_as_the_full_checks(
    data: bytes, options: dict[str, object]
) -> None:
    assert outcome(data, **options) == outcome(data, server_class=FullChecks, **options)


# What Chrome and Firefox send (with made-up values).
BROWSER_REQUESTS = [
    usual(
        "Pragma: no-cache",
        "Cache-Control: no-cache",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0 Safari/537.36",
        "Origin: https://example.com",
        "Accept-Encoding: gzip, deflate, br, zstd",
        "Accept-Language: en-US,en;q=0.9",
        "Cookie: a=b",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
    ),
    usual(
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Accept: */*",
        "Accept-Language: en-US,en;q=0.5",
        "Accept-Encoding: gzip, deflate, br, zstd",
        "Origin: https://example.com",
        "Sec-Fetch-Dest: empty",
        "Sec-Fetch-Mode: websocket",
        "Sec-Fetch-Site: same-origin",
        "Pragma: no-cache",
        "Cache-Control: no-cache",
        "Connection: keep-alive, Upgrade",
        remove=["Connection"],
    ),
]


@pytest.mark.parametrize("data", BROWSER_REQUESTS)
def test_browser_requests_take_the_shortcut(data: bytes) -> None:
    options: dict[str, object] = {
        "origins": ["https://example.com"],
        "extensions": [ServerPerMessageDeflateFactory()],
    }
    server = ServerProtocol(**options)  # type: ignore[arg-type]
    server.receive_data(data)
    assert server._usual is not None  # pyright: ignore[reportPrivateUsage]
    assert outcome(data, **options) == outcome(data, server_class=FullChecks, **options)


def test_hooks_run_once() -> None:
    # The shortcut runs the server's checks once, in the same order.
    calls: list[str] = []

    def select(protocol: ServerProtocol, offered: Sequence[Subprotocol]) -> str:
        calls.append("select")
        raise RuntimeError("bug")

    server = ServerProtocol(select_subprotocol=select)
    server.receive_data(usual("Sec-WebSocket-Protocol: chat"))
    assert server._usual is not None  # pyright: ignore[reportPrivateUsage]
    (request,) = server.events_received()
    assert isinstance(request, Request)
    assert server.accept(request).status_code == 500
    assert calls == ["select"]
    assert isinstance(server.handshake_exc, RuntimeError)


def test_server_takes_the_shortcut() -> None:
    server = ServerProtocol(origins=["https://example.com"])
    server.receive_data(usual("Origin: https://example.com"))
    found = server._usual  # pyright: ignore[reportPrivateUsage]
    (request,) = server.events_received()
    assert isinstance(request, Request)
    assert found is not None
    assert found[0] is request
    response = server.accept(request)
    assert server._usual is None  # pyright: ignore[reportPrivateUsage]
    assert response.headers["Sec-WebSocket-Accept"] == accept_key(KEY)
    assert server.origin == "https://example.com"


def test_request_changed_before_accept() -> None:
    # The application added a header, or removed one, or answers another
    # request: the full checks decide.
    def answer(change: str) -> tuple[int, str]:
        server = ServerProtocol()
        server.receive_data(usual())
        (request,) = server.events_received()
        assert isinstance(request, Request)
        if change == "added":
            request.headers["Sec-WebSocket-Key"] = KEY
        elif change == "removed":
            del request.headers["Sec-WebSocket-Key"]
        elif change == "replaced":
            request = Request(request.path, request.headers.copy())
        response = server.accept(request)
        return response.status_code, str(server.handshake_exc)

    assert answer("none") == (101, "None")
    assert answer("added") == (400, "invalid Sec-WebSocket-Key header: multiple values")
    assert answer("removed") == (400, "missing Sec-WebSocket-Key header")
    assert answer("replaced") == (101, "None")


def test_server_changed_before_accept() -> None:
    # Subprotocols set after the request arrived: the full checks decide.
    server = ServerProtocol()
    server.receive_data(usual())
    (request,) = server.events_received()
    assert isinstance(request, Request)
    server.available_subprotocols = [Subprotocol("chat")]
    response = server.accept(request)
    assert response.status_code == 400
    assert str(server.handshake_exc) == "missing subprotocol"


def test_subclass_that_decides_gets_every_request() -> None:
    calls: list[str] = []

    class Server(ServerProtocol):
        __slots__ = ()

        def process_origin(self, headers: Headers) -> str | None:  # type: ignore[override]
            calls.append("origin")
            return super().process_origin(headers)

    class Plain(ServerProtocol):
        __slots__ = ()

    assert not Server._usual_class  # pyright: ignore[reportPrivateUsage]
    assert Plain._usual_class  # pyright: ignore[reportPrivateUsage]
    server = Server()
    server.receive_data(usual())
    (request,) = server.events_received()
    assert isinstance(request, Request)
    assert server.accept(request).status_code == 101
    assert calls == ["origin"]

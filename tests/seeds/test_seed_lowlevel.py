"""Programs written from seed 001's (and 004's) low-level API, with ``websockets`` renamed.

Seed 001 documents ``websockets.framing``, ``websockets.http``,
``websockets.handshake``, ``websockets.uri``, ``websockets.headers``,
``websockets.compatibility`` and the exceptions' constructors; seed 004
documents ``broadcast(websockets, message)``. Each test here is a small
program that uses those names as the seeds describe them, over real
loopback sockets where the seed talks about streams, and asserts what the
seeds say happens.
"""

from __future__ import annotations

import asyncio
import http
import struct
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from raw_peer import open_stream

import websockets_typed
from websockets_typed import (
    ConnectionClosed,
    ConnectionClosedOK,
    broadcast,
    connect,
    exceptions,
    framing,
    handshake,
    serve,
)
from websockets_typed.asyncio.server import ServerConnection
from websockets_typed.compatibility import (
    BAD_REQUEST,
    FORBIDDEN,
    INTERNAL_SERVER_ERROR,
    OK,
    SERVICE_UNAVAILABLE,
    SWITCHING_PROTOCOLS,
    UNAUTHORIZED,
    UPGRADE_REQUIRED,
)
from websockets_typed.exceptions import (
    AbortHandshake,
    CancelHandshake,
    DuplicateParameter,
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderFormat,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidOrigin,
    InvalidParameterName,
    InvalidParameterValue,
    InvalidState,
    InvalidStatusCode,
    InvalidUpgrade,
    InvalidURI,
    NegotiationError,
    PayloadTooBig,
    SecurityError,
    WebSocketProtocolError,
)
from websockets_typed.extensions.permessage_deflate import PerMessageDeflate
from websockets_typed.frames import Close, Opcode
from websockets_typed.framing import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Frame,
    encode_data,
    parse_close,
    serialize_close,
)
from websockets_typed.handshake import (
    build_request,
    build_response,
    check_request,
    check_response,
)
from websockets_typed.headers import (
    build_extension_list,
    build_subprotocol_list,
    parse_connection,
    parse_extension_list,
    parse_subprotocol_list,
    parse_upgrade,
)
from websockets_typed.http import Headers, MultipleValuesError, read_request, read_response
from websockets_typed.http11 import Request, Response
from websockets_typed.uri import WebSocketURI, parse_uri

# Helpers: a raw TCP server whose handler gets asyncio streams.

StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def stream_server(handler: StreamHandler) -> AsyncGenerator[int]:
    """Run ``handler`` for each TCP connection on a loopback port; yield the port."""
    errors: list[BaseException] = []

    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except BaseException as exc:  # reported by the test, not lost in a callback
            errors.append(exc)
        finally:
            writer.close()

    server = await asyncio.start_server(guarded, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()
    if errors:
        raise errors[0]


@asynccontextmanager
async def stream_pair() -> AsyncGenerator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """Yield the server's reader and the client's writer of one loopback TCP connection."""
    accepted: asyncio.Queue[asyncio.StreamReader] = asyncio.Queue()
    done = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.put_nowait(reader)
        await done.wait()

    async with stream_server(handler) as port:
        _, writer = await open_stream(port)
        try:
            async with asyncio.timeout(5):
                yield await accepted.get(), writer
        finally:
            done.set()
            writer.close()
            await writer.wait_closed()


def head_bytes(start_line: str, headers: Headers) -> bytes:
    """Write an HTTP head as the seed's programs do: from ``raw_items()``."""
    lines = [start_line, *(f"{name}: {value}" for name, value in headers.raw_items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii", "surrogateescape")


# websockets.framing: Frame.read() over a StreamReader, Frame.write() to a writer.


async def test_frames_written_by_a_client_are_read_by_a_server() -> None:
    async with stream_pair() as (reader, writer):
        # Payload lengths on 7, 16 and 64 bits (RFC 6455, 5.2).
        sent = [
            Frame(OP_TEXT, "café".encode()),
            Frame(OP_BINARY, bytes(300), fin=False),
            Frame(OP_CONT, bytes(70_000)),
            Frame(OP_PING, b"ping"),
            Frame(OP_CLOSE, serialize_close(1000, "bye")),
        ]
        for frame in sent:
            frame.write(writer.write, mask=True)
        received = [await Frame.read(reader.readexactly, mask=True) for _ in sent]
        assert received == sent
        assert parse_close(received[-1].data) == (1000, "bye")


async def test_frame_read_checks_the_masking_side() -> None:
    async with stream_pair() as (reader, writer):
        Frame(OP_TEXT, b"unmasked").write(writer.write, mask=False)
        with pytest.raises(WebSocketProtocolError, match="incorrect masking"):
            await Frame.read(reader.readexactly, mask=True)


async def test_frame_read_max_size_refuses_the_frame_before_its_payload() -> None:
    async with stream_pair() as (reader, writer):
        Frame(OP_BINARY, bytes(1000)).write(writer.write, mask=False)
        writer.write(b"after")
        with pytest.raises(PayloadTooBig):
            await Frame.read(reader.readexactly, mask=False, max_size=999)
        # Only the 4 header bytes were read: the payload is still there.
        assert await reader.readexactly(1000) == bytes(1000)
        assert await reader.readexactly(5) == b"after"


async def test_frame_read_validates_the_frame() -> None:
    async with stream_pair() as (reader, writer):
        # RSV1 without an extension that defines it (RFC 6455, 5.2).
        writer.write(b"\xc1\x02hi")
        with pytest.raises(WebSocketProtocolError, match="reserved bits"):
            await Frame.read(reader.readexactly, mask=False)


async def test_frame_read_and_write_apply_extensions() -> None:
    # permessage-deflate, as both ends negotiated it: write() encodes in
    # order, read() decodes in reverse order.
    client_side = PerMessageDeflate(False, False, 15, 15)
    server_side = PerMessageDeflate(False, False, 15, 15)
    async with stream_pair() as (reader, writer):
        message = b"compressible " * 100
        Frame(OP_BINARY, message).write(writer.write, mask=True, extensions=[client_side])
        Frame(OP_PONG, b"").write(writer.write, mask=True, extensions=[client_side])
        head = await reader.readexactly(2)
        assert head[0] & 0x40  # RSV1: compressed on the wire
        assert head[1] & 0x7F < 126  # much smaller than the message
        length = head[1] & 0x7F
        rest = await reader.readexactly(4 + length)
        replay = asyncio.StreamReader()
        replay.feed_data(head + rest + await reader.readexactly(6))
        frame = await Frame.read(replay.readexactly, mask=True, extensions=[server_side])
        assert frame == Frame(OP_BINARY, message)
        pong = await Frame.read(replay.readexactly, mask=True, extensions=[server_side])
        assert pong == Frame(OP_PONG, b"")


async def test_frame_read_at_the_end_of_the_stream() -> None:
    async with stream_pair() as (reader, writer):
        writer.write(b"\x81\x05hel")
        writer.close()
        with pytest.raises(EOFError):
            await Frame.read(reader.readexactly, mask=False)


async def test_frame_read_with_a_reader_that_returns_less_at_the_end() -> None:
    # The seed's reader reads "exactly this number of bytes, unless the end
    # of file is reached": a short read is the end of the stream.
    data = bytearray(b"\x82\x7e\x01")

    async def reader(size: int) -> bytes:
        chunk = bytes(data[:size])
        del data[:size]
        return chunk

    with pytest.raises(EOFError, match="middle of a frame"):
        await Frame.read(reader, mask=False)


def test_frame_write_validates_the_frame() -> None:
    written: list[bytes] = []
    with pytest.raises(WebSocketProtocolError, match="control frame too long"):
        Frame(OP_PING, bytes(126)).write(written.append, mask=False)
    with pytest.raises(WebSocketProtocolError, match="fragmented control frame"):
        Frame(OP_PONG, b"", fin=False).write(written.append, mask=False)
    assert written == []
    Frame(OP_PONG, b"").write(written.append, mask=False)
    assert written == [b"\x8a\x00"]


def test_frame_check() -> None:
    Frame(OP_TEXT, b"x", fin=False).check()
    for frame in [
        Frame(OP_TEXT, b"x", rsv2=True),
        Frame(OP_CLOSE, bytes(126)),
        Frame(OP_PING, b"", fin=False),
    ]:
        with pytest.raises(WebSocketProtocolError):
            frame.check()


def test_framing_names() -> None:
    assert Frame is websockets_typed.frames.Frame
    assert [OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG] == [0, 1, 2, 8, 9, 10]
    assert encode_data("café") == "café".encode()
    assert encode_data(b"\xff") == b"\xff"
    assert encode_data(bytearray(b"ab")) == b"ab"
    with pytest.raises(TypeError):
        encode_data(42)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def test_parse_close_and_serialize_close() -> None:
    assert serialize_close(1001, "going") == b"\x03\xe9going"
    assert parse_close(b"\x03\xe9going") == (1001, "going")
    assert parse_close(b"") == (1005, "")
    with pytest.raises(WebSocketProtocolError):
        parse_close(b"\x03")
    with pytest.raises(WebSocketProtocolError):
        parse_close(b"\x03\xed")  # 1005 is never sent on the wire
    with pytest.raises(UnicodeDecodeError):
        parse_close(b"\x03\xe8\xff")


# Nothing fails silently: event constructors check their types.


@pytest.mark.parametrize(
    ("build", "message"),
    [
        # The argument order of old versions: Frame(fin, opcode, data).
        (lambda: Frame(True, Opcode.TEXT, b"x"), "Frame.opcode must be Opcode, not bool"),  # type: ignore[arg-type]
        (lambda: Frame(1, b"x"), "Frame.opcode must be Opcode, not int"),  # type: ignore[arg-type]
        (lambda: Frame(OP_TEXT, "x"), "Frame.data must be bytes, not str"),  # type: ignore[arg-type]
        (lambda: Frame(OP_TEXT, bytearray()), "Frame.data must be bytes, not bytearray"),  # type: ignore[arg-type]
        (lambda: Frame(OP_TEXT, b"", 1), "Frame.fin must be bool, not int"),  # type: ignore[arg-type]
        (lambda: Frame(OP_TEXT, b"", rsv1=None), "Frame.rsv1 must be bool, not NoneType"),  # type: ignore[arg-type]
        (lambda: Frame(OP_TEXT, b"", rsv2=0), "Frame.rsv2 must be bool, not int"),  # type: ignore[arg-type]
        (lambda: Frame(OP_TEXT, b"", rsv3="no"), "Frame.rsv3 must be bool, not str"),  # type: ignore[arg-type]
        (lambda: Close("1000", ""), "Close.code must be int, not str"),  # type: ignore[arg-type]
        (lambda: Close(1000, b"bye"), "Close.reason must be str, not bytes"),  # type: ignore[arg-type]
        (lambda: Request(b"/", Headers()), "Request.path must be str, not bytes"),  # type: ignore[arg-type]
        (lambda: Request("/", {}), "Request.headers must be Headers, not dict"),  # type: ignore[arg-type]
        (lambda: Response("200", "OK", Headers()), "Response.status_code must be int, not str"),  # type: ignore[arg-type]
        (lambda: Response(200, b"OK", Headers()), "Response.reason_phrase must be str, not bytes"),  # type: ignore[arg-type]
        (lambda: Response(200, "OK", [], b""), "Response.headers must be Headers, not list"),  # type: ignore[arg-type]
        (
            lambda: Response(200, "OK", Headers(), "body"),  # type: ignore[arg-type]
            "Response.body must be bytes or None, not str",
        ),
        (
            lambda: WebSocketURI("wss", "h", 443, "/", ""),  # type: ignore[arg-type]
            "WebSocketURI.secure must be bool, not str",
        ),
        (
            lambda: WebSocketURI(True, "h", "443", "/", ""),  # type: ignore[arg-type]
            "WebSocketURI.port must be int, not str",
        ),
        (
            lambda: WebSocketURI(True, "h", 443, "/", "", "user", b"pw"),  # type: ignore[arg-type]
            "WebSocketURI.password must be str or None, not bytes",
        ),
    ],
)
def test_event_constructors_refuse_wrong_types(build: Callable[[], object], message: str) -> None:
    with pytest.raises(TypeError) as raised:
        build()
    assert str(raised.value) == message


def test_event_constructors_accept_right_types() -> None:
    class Payload(bytes):
        pass

    # Subclasses pass the slow check after failing the fast one.
    frame = Frame(OP_BINARY, Payload(b"x"), True, False, False, False)
    assert frame.data == b"x"
    assert Close(websockets_typed.CloseCode.GOING_AWAY, "").code == 1001
    assert Response(http.HTTPStatus.OK, "OK", Headers(), None).status_code == 200
    uri = WebSocketURI(True, "h", 443, "/", "", None, None)
    assert uri.resource_name == "/"


# websockets.http: read_request() and read_response() over a StreamReader.


async def test_read_request_leaves_the_rest_of_the_stream() -> None:
    async with stream_pair() as (reader, writer):
        headers = Headers()
        headers["Host"] = "example.com"
        headers["X-Name"] = "caf\xe9".encode().decode("ascii", "surrogateescape")
        writer.write(head_bytes("GET /chat?room=1 HTTP/1.1", headers)[:-1])
        writer.write(b"\n\x81\x05hello")
        path, received = await read_request(reader)
        assert path == "/chat?room=1"
        assert isinstance(received, Headers)
        assert received["host"] == "example.com"
        # Non-ASCII bytes become surrogate escapes.
        assert received["X-Name"] == "caf\udcc3\udca9"
        # What follows the head is still in the stream.
        assert await reader.readexactly(7) == b"\x81\x05hello"


async def test_read_request_leaves_a_body_to_the_caller() -> None:
    async with stream_pair() as (reader, writer):
        writer.write(b"GET / HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody")
        path, headers = await read_request(reader)
        assert (path, headers["Content-Length"]) == ("/", "4")
        assert await reader.readexactly(4) == b"body"


async def test_read_response_leaves_the_body_to_the_caller() -> None:
    async with stream_pair() as (reader, writer):
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\nnot you")
        status_code, headers = await read_response(reader)
        assert status_code == 403
        assert headers.get_all("content-length") == ["6"]
        assert await reader.readexactly(7) == b"not you"


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        (b"POST / HTTP/1.1\r\n\r\n", InvalidMessage, "unsupported HTTP method"),
        (b"GET / HTTP/1.0\r\n\r\n", InvalidMessage, "unsupported HTTP version"),
        (b"GET / HTTP/1.1\r\nno colon\r\n\r\n", InvalidMessage, "without colon"),
        (b"GET / HTTP/1.1\r\nHost: a\r\n", InvalidMessage, "closed while reading HTTP headers"),
        (b"", InvalidMessage, "closed while reading HTTP request line"),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", SecurityError, "request line too long"),
        (b"GET / HTTP/1.1\r\n" + b"A: b\r\n" * 129 + b"\r\n", SecurityError, "too many"),
    ],
)
async def test_read_request_errors(data: bytes, error: type[Exception], match: str) -> None:
    async with stream_pair() as (reader, writer):
        writer.write(data)
        writer.write_eof()
        with pytest.raises(error, match=match):
            await read_request(reader)


async def test_read_response_errors() -> None:
    async with stream_pair() as (reader, writer):
        writer.write(b"HTTP/1.1 OK\r\n\r\n")
        with pytest.raises(InvalidMessage):
            await read_response(reader)


async def test_read_request_over_a_stream_with_a_small_limit() -> None:
    reader = asyncio.StreamReader(limit=64)
    reader.feed_data(b"GET /" + b"a" * 100 + b" HTTP/1.1\r\n\r\n")
    with pytest.raises(SecurityError, match="stream's limit"):
        await read_request(reader)


def test_http_headers() -> None:
    headers = Headers()
    headers["Set-Cookie"] = "a=1"
    headers["set-cookie"] = "b=2"
    headers["Server"] = "test"
    assert headers["server"] == "test"
    with pytest.raises(MultipleValuesError):
        headers["Set-Cookie"]
    with pytest.raises(KeyError):
        headers["missing"]
    assert headers.get_all("SET-COOKIE") == ["a=1", "b=2"]
    assert list(headers.raw_items()) == [
        ("Set-Cookie", "a=1"),
        ("set-cookie", "b=2"),
        ("Server", "test"),
    ]
    del headers["set-cookie"]
    assert dict(headers) == {"server": "test"}
    headers.clear()
    assert not headers


# websockets.handshake, with headers that only have get() and __setitem__.


def test_handshake_helpers_with_dicts() -> None:
    request_headers: dict[str, str] = {}
    key = build_request(request_headers)
    assert request_headers["Sec-WebSocket-Version"] == "13"
    assert check_request(request_headers) == key
    response_headers: dict[str, str] = {}
    build_response(response_headers, key)
    assert set(response_headers) == {"Upgrade", "Connection", "Sec-WebSocket-Accept"}
    check_response(response_headers, key)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"Upgrade": "h2c"}, InvalidUpgrade),
        ({"Connection": "close"}, InvalidUpgrade),
        ({"Connection": "up grade"}, InvalidHeaderFormat),
        ({"Sec-WebSocket-Key": "short"}, InvalidHeaderValue),
        ({"Sec-WebSocket-Version": "8"}, InvalidHeaderValue),
    ],
)
def test_check_request_with_a_dict_raises_invalid_handshake(
    change: dict[str, str], error: type[InvalidHandshake]
) -> None:
    headers: dict[str, str] = {}
    build_request(headers)
    headers.update(change)
    with pytest.raises(error):
        check_request(headers)


def test_check_request_with_a_dict_missing_a_header() -> None:
    headers: dict[str, str] = {}
    build_request(headers)
    del headers["Sec-WebSocket-Key"]
    with pytest.raises(InvalidHeader, match="missing Sec-WebSocket-Key header"):
        check_request(headers)


def test_check_response_with_a_dict_and_the_wrong_key() -> None:
    headers: dict[str, str] = {}
    build_response(headers, "dGhlIHNhbXBsZSBub25jZQ==")
    with pytest.raises(InvalidHeaderValue, match="Sec-WebSocket-Accept"):
        check_response(headers, build_request({}))


async def test_low_level_client_talks_to_a_server() -> None:
    """A client made of seed 001's low-level names, against ``serve()``."""

    async def echo(websocket: ServerConnection) -> None:
        async for message in websocket:
            await websocket.send(message)

    async with serve(echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await open_stream(port)
        try:
            headers = Headers()
            headers["Host"] = f"127.0.0.1:{port}"
            key = build_request(headers)
            writer.write(head_bytes("GET / HTTP/1.1", headers))
            status_code, response_headers = await read_response(reader)
            assert status_code == SWITCHING_PROTOCOLS
            check_response(response_headers, key)

            Frame(OP_TEXT, b"hello").write(writer.write, mask=True)
            assert await Frame.read(reader.readexactly, mask=False) == Frame(OP_TEXT, b"hello")

            Frame(OP_CLOSE, serialize_close(1000, "done")).write(writer.write, mask=True)
            close = await Frame.read(reader.readexactly, mask=False)
            assert parse_close(close.data) == (1000, "done")
            assert await reader.read() == b""  # the server closes TCP first
        finally:
            writer.close()
            await writer.wait_closed()


async def test_low_level_server_talks_to_a_client() -> None:
    """A server made of seed 001's low-level names, against ``connect()``."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        path, request_headers = await read_request(reader)
        assert path == "/echo"
        key = check_request(request_headers)
        response_headers = Headers()
        build_response(response_headers, key)
        writer.write(head_bytes("HTTP/1.1 101 Switching Protocols", response_headers))
        while True:
            frame = await Frame.read(reader.readexactly, mask=True, max_size=2**20)
            Frame(frame.opcode, frame.data, frame.fin).write(writer.write, mask=False)
            if frame.opcode == OP_CLOSE:
                break

    async with stream_server(handler) as port:
        async with asyncio.timeout(5):
            async with connect(f"ws://127.0.0.1:{port}/echo", ping_interval=None) as websocket:
                await websocket.send("hello")
                assert await websocket.recv() == "hello"
                await websocket.send([b"frag", b"ments"])
                assert await websocket.recv() == b"fragments"
        assert websocket.close_code == 1000


# websockets.uri and websockets.headers.


def test_parse_uri() -> None:
    uri = parse_uri("wss://user:secret@EXAMPLE.com/chat?room=1")
    assert isinstance(uri, WebSocketURI)
    assert (uri.secure, uri.host, uri.port) == (True, "example.com", 443)
    assert uri.resource_name == "/chat?room=1"
    assert uri.user_info == ("user", "secret")
    plain = parse_uri("ws://localhost")
    assert (plain.secure, plain.port, plain.resource_name, plain.user_info) == (
        False,
        80,
        "/",
        None,
    )
    with pytest.raises(InvalidURI):
        parse_uri("http://localhost/")


def test_websocket_uri_as_the_seeds_named_tuple() -> None:
    # Seed 001: secure is "field number 0", host 1, port 2, resource_name 3,
    # user_info 4.
    uri = parse_uri("ws://user:pw@localhost:8080/path?query")
    secure, host, port, resource_name, user_info = uri
    assert (secure, host, port, resource_name, user_info) == (
        False,
        "localhost",
        8080,
        "/path?query",
        ("user", "pw"),
    )
    assert (uri[0], uri[1], uri[2], uri[3], uri[4]) == tuple(uri)
    assert uri[-1] == ("user", "pw")
    assert len(uri) == 5


def test_headers_utilities() -> None:
    assert parse_connection("keep-alive, Upgrade") == ["keep-alive", "Upgrade"]
    assert parse_upgrade("websocket, h2c") == ["websocket", "h2c"]
    header = "permessage-deflate; client_max_window_bits; server_max_window_bits=10, x-foo"
    extensions = parse_extension_list(header)
    assert extensions == [
        (
            "permessage-deflate",
            [("client_max_window_bits", None), ("server_max_window_bits", "10")],
        ),
        ("x-foo", []),
    ]
    assert parse_extension_list(build_extension_list(extensions)) == extensions
    assert parse_subprotocol_list("chat, superchat") == ["chat", "superchat"]
    assert build_subprotocol_list(["chat", "superchat"]) == "chat, superchat"
    for parse, invalid in [
        (parse_connection, "a b"),
        (parse_upgrade, "websocket/"),
        (parse_extension_list, "x; ="),
        (parse_subprotocol_list, "chat;"),
    ]:
        with pytest.raises(InvalidHeaderFormat):
            parse(invalid)


# The exceptions, built as seed 001 documents them.


def test_connection_closed_from_code_and_reason() -> None:
    closed = ConnectionClosed(1001, "going away")
    assert (closed.code, closed.reason) == (1001, "going away")
    assert closed.rcvd == Close(1001, "going away")
    assert closed.sent is None
    ok = ConnectionClosedOK(1000, "")
    assert (ok.code, ok.reason) == (1000, "")
    # 1006 means that no close frame was received.
    abnormal = ConnectionClosed(1006, "")
    assert (abnormal.code, abnormal.reason, abnormal.rcvd) == (1006, "", None)
    # Today's form keeps working.
    modern = ConnectionClosed(Close(1000, "bye"), Close(1000, "bye"), True)
    assert (modern.code, modern.reason) == (1000, "bye")
    with pytest.raises(TypeError, match=r"or \(code: int, reason: str\)"):
        ConnectionClosed(None, "reason")  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
    with pytest.raises(TypeError, match=r"or \(code: int, reason: str\)"):
        ConnectionClosed(1000, None)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]


def test_exceptions_built_from_a_message() -> None:
    uri = InvalidURI("ws:// isn't a valid URI")
    assert str(uri) == "ws:// isn't a valid URI"
    assert (uri.uri, uri.msg) == ("", "ws:// isn't a valid URI")
    too_big = PayloadTooBig("payload length exceeds size limit (10 > 5 bytes)")
    assert str(too_big) == "payload length exceeds size limit (10 > 5 bytes)"
    assert (too_big.max_size, too_big.size) == (None, None)
    assert str(WebSocketProtocolError("invalid opcode")) == "invalid opcode"
    assert str(InvalidMessage("malformed HTTP message")) == "malformed HTTP message"
    assert str(InvalidMessage()) == ""
    # Today's forms keep working.
    assert str(InvalidURI("http://x", "scheme isn't ws or wss")).startswith("http://x isn't")
    assert PayloadTooBig(5, 10).max_size == 5


def test_exceptions_with_seed_signatures() -> None:
    abort = AbortHandshake(FORBIDDEN, {"X-Reason": "no"}, b"go away")
    assert (abort.status, abort.headers["X-Reason"], abort.body) == (403, "no", b"go away")
    assert AbortHandshake(UNAUTHORIZED, []).body == b""
    assert isinstance(CancelHandshake(), InvalidHandshake)
    assert DuplicateParameter("x").name == "x"
    assert InvalidHeader("Host").value is None
    assert str(InvalidHeader("Host", "a b")) == "invalid Host header: a b"
    header_format = InvalidHeaderFormat(name="Upgrade", error="expected token", string="a b", pos=1)
    assert str(header_format) == "invalid Upgrade header: expected token at 1 in a b"
    assert (
        str(InvalidHeaderValue("Sec-WebSocket-Version")) == "missing Sec-WebSocket-Version header"
    )
    assert InvalidOrigin("https://evil").origin == "https://evil"
    assert InvalidParameterName("x").name == "x"
    assert (InvalidParameterValue("bits", "99").name, InvalidParameterValue("b", "9").value) == (
        "bits",
        "9",
    )
    assert isinstance(InvalidState(), AssertionError)
    assert InvalidStatusCode(404).status_code == 404
    assert str(InvalidUpgrade("Upgrade", "h2c")) == "invalid Upgrade header: h2c"
    assert isinstance(NegotiationError(), InvalidHandshake)


def test_public_names_are_importable_from_the_package() -> None:
    # Seed 001: "public APIs can be imported directly from the websockets
    # package", except those of websockets.headers and websockets.http.
    for name in exceptions.__all__:
        assert getattr(websockets_typed, name) is getattr(exceptions, name)
    for name in ["build_request", "check_request", "build_response", "check_response"]:
        assert getattr(websockets_typed, name) is getattr(handshake, name)
    for name in ["encode_data", "parse_close", "serialize_close", "Frame"]:
        assert getattr(websockets_typed, name) is getattr(framing, name)
    assert websockets_typed.WebSocketURI is WebSocketURI
    assert websockets_typed.parse_uri is parse_uri


def test_compatibility_statuses() -> None:
    statuses = [
        SWITCHING_PROTOCOLS,
        OK,
        BAD_REQUEST,
        UNAUTHORIZED,
        FORBIDDEN,
        UPGRADE_REQUIRED,
        INTERNAL_SERVER_ERROR,
        SERVICE_UNAVAILABLE,
    ]
    assert all(isinstance(status, http.HTTPStatus) for status in statuses)
    assert [status.value for status in statuses] == [101, 200, 400, 401, 403, 426, 500, 503]
    assert SWITCHING_PROTOCOLS.phrase == "Switching Protocols"


# Seed 004: broadcast(websockets, message), by keyword too.


async def test_broadcast_by_keyword() -> None:
    accepted: asyncio.Queue[ServerConnection] = asyncio.Queue()

    async def handler(websocket: ServerConnection) -> None:
        accepted.put_nowait(websocket)
        await websocket.wait_closed()

    async with serve(handler, "127.0.0.1", 0, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with asyncio.timeout(5):
            async with (
                connect(f"ws://127.0.0.1:{port}/", ping_interval=None) as first,
                connect(f"ws://127.0.0.1:{port}/", ping_interval=None) as second,
            ):
                websockets = {await accepted.get(), await accepted.get()}
                broadcast(websockets=websockets, message="news")
                assert [await first.recv(), await second.recv()] == ["news", "news"]
                broadcast(websockets=websockets, message=b"\x00", raise_exceptions=True)
                assert [await first.recv(), await second.recv()] == [b"\x00", b"\x00"]


def test_frame_header_encoding_sanity() -> None:
    # The 64-bit length of Frame.write() is what Frame.read() decodes.
    written: list[bytes] = []
    Frame(OP_BINARY, bytes(65_536)).write(written.append, mask=False)
    assert written[0][:2] == b"\x82\x7f"
    assert struct.unpack("!Q", written[0][2:10]) == (65_536,)

"""Tests for websockets_typed.http11 (RFC 7230, as used by RFC 6455, section 4)."""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Protocol, TypeVar, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from websockets_typed.datastructures import Headers
from websockets_typed.exceptions import InvalidMessage, SecurityError
from websockets_typed.http11 import (
    MAX_BODY_SIZE,
    MAX_LINE_LENGTH,
    MAX_NUM_HEADERS,
    Request,
    RequestParser,
    Response,
    ResponseParser,
)

if TYPE_CHECKING:
    from collections.abc import Generator, Sequence

    from websockets.streams import StreamReader

_E_co = TypeVar("_E_co", covariant=True)
_E = TypeVar("_E")


class _AnyParser(Protocol[_E_co]):
    def parse(self, buffer: bytearray) -> _E_co | None: ...


def feed(
    parser: _AnyParser[_E], data: bytes, chunks: Sequence[int] = (1,)
) -> tuple[_E | None, bytearray]:
    """Feed ``data`` in chunks of the given sizes (cycled); stop at the first event.

    Bytes after the chunk that completed the event are appended to the
    buffer, as if they had arrived in the same read.
    """
    buffer = bytearray()
    pos = 0
    index = 0
    while pos < len(data):
        size = max(chunks[index % len(chunks)], 1)
        index += 1
        buffer += data[pos : pos + size]
        pos += size
        event = parser.parse(buffer)
        if event is not None:
            buffer += data[pos:]
            return event, buffer
    return None, buffer


def bytes_until_error(parser: _AnyParser[object], data: bytes) -> int:
    """Feed ``data`` byte by byte; return how many bytes made the parser raise."""
    buffer = bytearray()
    for count in range(1, len(data) + 1):
        buffer += data[count - 1 : count]
        try:
            parser.parse(buffer)
        except (InvalidMessage, SecurityError):
            return count
    pytest.fail("the parser didn't raise")


def parse_request(data: bytes, **limits: int) -> Request | None:
    return RequestParser(**limits).parse(bytearray(data))


def parse_response(data: bytes, **limits: int) -> Response | None:
    return ResponseParser(**limits).parse(bytearray(data))


REQUEST = (
    b"GET /chat?room=1 HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)

RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"\r\n"
)

FRAME = b"\x81\x05hello"


def test_defaults() -> None:
    assert MAX_LINE_LENGTH == 8192
    assert MAX_NUM_HEADERS == 128
    assert MAX_BODY_SIZE == 2**20
    request_parser = RequestParser()
    assert request_parser.max_line_length == MAX_LINE_LENGTH
    assert request_parser.max_num_headers == MAX_NUM_HEADERS
    response_parser = ResponseParser()
    assert response_parser.max_line_length == MAX_LINE_LENGTH
    assert response_parser.max_num_headers == MAX_NUM_HEADERS
    assert response_parser.max_body_size == MAX_BODY_SIZE


# Requests.


def test_parse_request() -> None:
    buffer = bytearray(REQUEST + FRAME)
    request = RequestParser().parse(buffer)
    assert request is not None
    assert request.path == "/chat?room=1"
    assert list(request.headers.raw_items()) == [
        ("Host", "server.example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ]
    # The frame that follows the request stays for the frame parser.
    assert buffer == FRAME


def test_parse_request_needs_more_data() -> None:
    parser = RequestParser()
    buffer = bytearray()
    assert parser.parse(buffer) is None
    buffer += REQUEST[:-1]
    assert parser.parse(buffer) is None
    buffer += REQUEST[-1:]
    assert parser.parse(buffer) is not None


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64])
def test_parse_request_in_chunks(step: int) -> None:
    request, buffer = feed(RequestParser(), REQUEST + FRAME, [step])
    assert request == RequestParser().parse(bytearray(REQUEST))
    assert buffer == FRAME


def test_parse_request_consumes_complete_lines_only() -> None:
    buffer = bytearray(REQUEST[:30])
    assert RequestParser().parse(buffer) is None
    # The request line was consumed; the start of the first header stays.
    assert buffer == REQUEST[27:30]


def test_parser_never_searches_a_byte_twice() -> None:
    # Byte-by-byte delivery must cost O(bytes), not O(bytes * line length):
    # every call resumes the search for LF where the previous one stopped.
    searched: list[int] = []

    class RecordingBuffer(bytearray):
        def find(self, *args: object) -> int:
            sub, start, end = args
            assert isinstance(sub, bytes)
            assert isinstance(start, int)
            assert isinstance(end, int)
            result = super().find(sub, start, end)
            stop = min(len(self), end) if result == -1 else result + 1
            searched.append(stop - start)
            return result

    parser = RequestParser()
    buffer = RecordingBuffer()
    data = REQUEST + FRAME
    request = None
    for byte in data:
        buffer.append(byte)
        request = parser.parse(buffer)
        if request is not None:
            break
    assert request is not None
    # Plus the first call's byte: a request's first call also looks for a
    # whole head, once (RequestParser._parse_whole_head).
    assert sum(searched) == len(REQUEST) + 1


def outcome(data: bytes, chunks: Sequence[int]) -> object:
    """What parsing ``data`` in chunks gives: the request and the rest, or the error."""
    try:
        return feed(RequestParser(max_line_length=64, max_num_headers=4), data, chunks)
    except (InvalidMessage, SecurityError) as exc:
        return type(exc), str(exc), getattr(exc, "status", None)


@pytest.mark.parametrize(
    "data",
    [
        REQUEST + FRAME,
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: " + b"x" * 61 + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: " + b"x" * 62 + b"\r\n\r\n",
        b"GET /" + b"x" * 64 + b" HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: 1\nB: 2\r\n\r\n",
        b"GET / HTTP/1.1\r\nA 1\r\nB: " + b"x" * 80 + b"\r\n\r\n",
        b"GET / HTTP/1.0\r\nA: 1\r\n\r\n",
        b"GET / HTTP/1.1\r\n A: 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        b"\r\n\r\n",
    ],
)
def test_whole_head_and_line_by_line_agree(data: bytes) -> None:
    # A head that arrives whole is parsed in one pass; in pieces, line by
    # line. Both give the same request, the same rest, the same error.
    assert outcome(data, [len(data)]) == outcome(data, [1]) == outcome(data, [7])


def outcome_default_limits(data: bytes, chunks: Sequence[int]) -> object:
    """Like :func:`outcome`, with the default limits: whole heads parse in one pass."""
    try:
        request, rest = feed(RequestParser(), data, chunks)
    except (InvalidMessage, SecurityError) as exc:
        return type(exc), str(exc), getattr(exc, "status", None)
    if request is None:
        return None, rest
    return request, list(request.headers.raw_items()), rest


@pytest.mark.parametrize(
    "data",
    [
        REQUEST + FRAME,
        b"GET / HTTP/1.1\r\n\r\n",
        b"HEAD /x HTTP/1.1\r\nA:1\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx",
        b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        # Whitespace around values, colons in values, empty values.
        b"GET / HTTP/1.1\r\nA: \t 1 \t\r\nB:x:y\r\nC:\r\nD: \r\n\r\n",
        # Repeated names, in any case; common names and values.
        b"GET / HTTP/1.1\r\nX-A: 1\r\nx-a: 2\r\nX-A: 3\r\nupgrade: websocket\r\n\r\n",
        # obs-text: bytes 0x80-0xFF in values.
        b"GET / HTTP/1.1\r\nA: caf\xc3\xa9 \xff\r\n\r\n",
        # What the pattern refuses, for reading line by line to report.
        b"GET / HTTP/1.1\r\nA : 1\r\n\r\n",
        b"GET / HTTP/1.1\r\n A: 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: 1\x00\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: 1\x7f\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: 1\nB: 2\r\n\r\n",
        b"GET / HTTP/1.1\r\n\xc3\xa9: 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nA\r\n\r\n",
        b"GET / HTTP/1.0\r\nA: 1\r\n\r\n",
        b"PUT / HTTP/1.1\r\nA: 1\r\n\r\n",
        b"get / HTTP/1.1\r\nA: 1\r\n\r\n",
        b"GET /\xc3\xa9 HTTP/1.1\r\nA: 1\r\n\r\n",
        b"GET  / HTTP/1.1\r\n\r\n",
        # Common names skip the check of names, printable ASCII values the
        # pattern: anything else in them must still be refused or kept.
        b"GET / HTTP/1.1\r\nHost: a\x01b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\nb\r\n\r\n",
        b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nHost\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: \tcaf\xc3\xa9\tb\t\r\n\r\n",
        b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nupgrade: websocket\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nSEC-WEBSOCKET-KEY: k\r\nX: 1\r\nHost: b\r\n\r\n",
        # Limits: 128 headers, 8192 bytes per line.
        b"GET / HTTP/1.1\r\n" + b"A: 1\r\n" * 128 + b"\r\n",
        b"GET / HTTP/1.1\r\n" + b"A: 1\r\n" * 129 + b"\r\n",
        b"GET / HTTP/1.1\r\nA: " + b"x" * 8189 + b"\r\nB: " + b"x" * 8189 + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: " + b"x" * 8190 + b"\r\n\r\n",
    ],
)
def test_whole_head_and_line_by_line_agree_with_default_limits(data: bytes) -> None:
    # The one-pass parser handles heads within the default limits; whatever
    # it refuses goes line by line, with the same result.
    assert (
        outcome_default_limits(data, [len(data)])
        == outcome_default_limits(data, [1])
        == outcome_default_limits(data, [7])
    )


def test_parse_two_requests_with_one_parser() -> None:
    parser = RequestParser()
    buffer = bytearray(REQUEST + REQUEST.replace(b"/chat?room=1", b"/other"))
    first = parser.parse(buffer)
    second = parser.parse(buffer)
    assert first is not None
    assert second is not None
    assert (first.path, second.path) == ("/chat?room=1", "/other")
    assert buffer == b""


def test_parse_request_without_headers() -> None:
    assert parse_request(b"GET / HTTP/1.1\r\n\r\n") == Request("/", Headers())


@pytest.mark.parametrize(
    "target",
    [b"/", b"*", b"/a/b?c=d&e", b"http://example.com/x", b"/%E2%82%AC", b"/!$&'()*+,;=:@~"],
)
def test_parse_request_target(target: bytes) -> None:
    request = parse_request(b"GET " + target + b" HTTP/1.1\r\n\r\n")
    assert request is not None
    assert request.path == target.decode()


@pytest.mark.parametrize(
    "request_line",
    [
        b"",
        b"GET",
        b"GET /",
        b"GET / HTTP/1.1 extra",
        b"GET  / HTTP/1.1",
        b"GET /  HTTP/1.1",
        b" GET / HTTP/1.1",
        b"GET / HTTP/1.1 ",
        b"GET\t/ HTTP/1.1",
        b"GET  HTTP/1.1",
        b"GET /\x00 HTTP/1.1",
        b"GET /\x1f HTTP/1.1",
        b"GET /\x7f HTTP/1.1",
        b"GET /\xe9 HTTP/1.1",
        b"GET /\r HTTP/1.1",
        b"G(T / HTTP/1.1",
        b"G\xc9T / HTTP/1.1",
    ],
)
def test_parse_malformed_request_line(request_line: bytes) -> None:
    with pytest.raises(InvalidMessage) as raised:
        parse_request(request_line + b"\r\n\r\n")
    assert raised.value.status == HTTPStatus.BAD_REQUEST


@pytest.mark.parametrize("method", [b"PUT", b"DELETE", b"get", b"CONNECT", b"PRI"])
def test_parse_request_method_not_get(method: bytes) -> None:
    with pytest.raises(InvalidMessage) as raised:
        parse_request(method + b" / HTTP/1.1\r\n\r\n")
    assert raised.value.status == HTTPStatus.METHOD_NOT_ALLOWED
    assert str(raised.value) == f"unsupported HTTP method: {method.decode()}"


@pytest.mark.parametrize("method", ["HEAD", "POST"])
def test_parse_request_head_and_post(method: str) -> None:
    """They reach process_request, which may answer them; a POST's body isn't read."""
    buffer = bytearray(f"{method} /healthz HTTP/1.1\r\nContent-Length: 2\r\n\r\n{{}}".encode())
    request = RequestParser().parse(buffer)
    assert request is not None
    assert (request.method, request.path) == (method, "/healthz")
    assert buffer == b"{}"


def test_request_method_defaults_to_get_and_is_serialized() -> None:
    assert Request("/", Headers()).method == "GET"
    assert Request("/", Headers(), "HEAD").serialize() == b"HEAD / HTTP/1.1\r\n\r\n"


@pytest.mark.parametrize("version", [b"HTTP/1.0", b"HTTP/2.0", b"HTTP/2", b"http/1.1", b"FOO"])
def test_parse_request_version_not_1_1(version: bytes) -> None:
    with pytest.raises(InvalidMessage) as raised:
        parse_request(b"GET / " + version + b"\r\n\r\n")
    assert raised.value.status == HTTPStatus.HTTP_VERSION_NOT_SUPPORTED


@pytest.mark.parametrize(
    "data",
    [
        b"\n",
        b"GET / HTTP/1.1\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\n",
    ],
)
def test_parse_request_rejects_bare_lf(data: bytes) -> None:
    with pytest.raises(InvalidMessage, match="doesn't end with CRLF"):
        parse_request(data)


def test_request_line_at_limit() -> None:
    line = b"GET /" + b"a" * 11 + b" HTTP/1.1"
    assert len(line) == 25
    assert parse_request(line + b"\r\n\r\n", max_line_length=25) is not None


def test_request_line_too_long() -> None:
    line = b"GET /" + b"a" * 12 + b" HTTP/1.1"
    with pytest.raises(SecurityError) as raised:
        parse_request(line + b"\r\n\r\n", max_line_length=25)
    assert raised.value.status == HTTPStatus.REQUEST_URI_TOO_LONG


def test_request_line_too_long_detected_before_its_end() -> None:
    # With a limit of 25 bytes, the 26th byte of the line, if it isn't CR,
    # is one too many: the parser doesn't wait for the line to end.
    parser = RequestParser(max_line_length=25)
    data = b"GET /" + b"a" * 1000
    assert bytes_until_error(parser, data) == 26


def test_request_line_too_long_detected_in_a_large_read() -> None:
    parser = RequestParser(max_line_length=25)
    with pytest.raises(SecurityError) as raised:
        parser.parse(bytearray(b"GET /" + b"a" * 100_000))
    assert raised.value.status == HTTPStatus.REQUEST_URI_TOO_LONG


def test_request_line_at_limit_waits_for_the_lf_after_cr() -> None:
    # 25 bytes then CR: still possibly a line of exactly 25 bytes.
    parser = RequestParser(max_line_length=25)
    line = b"GET /" + b"a" * 11 + b" HTTP/1.1"
    buffer = bytearray(line + b"\r")
    assert parser.parse(buffer) is None
    buffer += b"\n\r\n"
    assert parser.parse(buffer) is not None


def test_header_line_at_limit() -> None:
    header = b"X: " + b"v" * 13
    assert parse_request(b"GET / HTTP/1.1\r\n" + header + b"\r\n\r\n", max_line_length=16)


def test_header_line_too_long() -> None:
    header = b"X: " + b"v" * 14
    with pytest.raises(SecurityError) as raised:
        parse_request(b"GET / HTTP/1.1\r\n" + header + b"\r\n\r\n", max_line_length=16)
    assert raised.value.status == HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE


def test_header_line_too_long_detected_before_its_end() -> None:
    parser = RequestParser(max_line_length=16)
    data = b"GET / HTTP/1.1\r\n" + b"X: " + b"v" * 1000
    assert bytes_until_error(parser, data) == 16 + 17


def test_number_of_headers_at_limit() -> None:
    headers = b"".join(b"X-%d: %d\r\n" % (i, i) for i in range(5))
    request = parse_request(b"GET / HTTP/1.1\r\n" + headers + b"\r\n", max_num_headers=5)
    assert request is not None
    assert len(list(request.headers.raw_items())) == 5


def test_too_many_headers() -> None:
    headers = b"".join(b"X-%d: %d\r\n" % (i, i) for i in range(6))
    with pytest.raises(SecurityError) as raised:
        parse_request(b"GET / HTTP/1.1\r\n" + headers + b"\r\n", max_num_headers=5)
    assert raised.value.status == HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE


def test_too_many_headers_detected_at_the_first_byte_of_one_more() -> None:
    prefix = b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: %d\r\n" % (i, i) for i in range(5))
    parser = RequestParser(max_num_headers=5)
    assert bytes_until_error(parser, prefix + b"X-5: 5\r\n\r\n") == len(prefix) + 1


def test_too_many_headers_when_one_more_starts_with_cr() -> None:
    prefix = b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: %d\r\n" % (i, i) for i in range(5))
    with pytest.raises(SecurityError) as raised:
        parse_request(prefix + b"\rX-5: 5\r\n\r\n", max_num_headers=5)
    assert raised.value.status == HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE


@pytest.mark.parametrize(
    ("line", "name", "value"),
    [
        (b"Name: value", "Name", "value"),
        (b"name:value", "name", "value"),
        (b"NAME: \t value \t ", "NAME", "value"),
        (b"X-Empty:", "X-Empty", ""),
        (b"X-Empty:  \t ", "X-Empty", ""),
        (b"X: a  b\tc", "X", "a  b\tc"),
        (b"X: a:b:c", "X", "a:b:c"),
        (b"X: caf\xc3\xa9", "X", "caf\udcc3\udca9"),
        (b"X: \x80\xff", "X", "\udc80\udcff"),
        (b"!#$%&'*+-.^_`|~09AZaz: ok", "!#$%&'*+-.^_`|~09AZaz", "ok"),
    ],
)
def test_parse_header_line(line: bytes, name: str, value: str) -> None:
    request = parse_request(b"GET / HTTP/1.1\r\n" + line + b"\r\n\r\n")
    assert request is not None
    assert list(request.headers.raw_items()) == [(name, value)]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b" X: folded", "obsolete line folding"),
        (b"\tX: folded", "obsolete line folding"),
        (b"no colon", "without colon"),
        (b"X : space before colon", "invalid HTTP header name"),
        (b": no name", "invalid HTTP header name"),
        (b"X(: bad name", "invalid HTTP header name"),
        (b"X\xe9: non-ASCII name", "invalid HTTP header name"),
        (b"X: nul\x00", "invalid value for HTTP header X"),
        (b"X: cr\rinside", "invalid value for HTTP header X"),
        (b"X: \x1b[31m", "invalid value for HTTP header X"),
        (b"X: del\x7f", "invalid value for HTTP header X"),
    ],
)
def test_parse_invalid_header_line(line: bytes, message: str) -> None:
    with pytest.raises(InvalidMessage, match=message) as raised:
        parse_request(b"GET / HTTP/1.1\r\n" + line + b"\r\nOther: x\r\n\r\n")
    assert raised.value.status == HTTPStatus.BAD_REQUEST


def test_obs_fold_after_a_header() -> None:
    with pytest.raises(InvalidMessage, match="obsolete line folding"):
        parse_request(b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n")


@pytest.mark.parametrize(
    "headers",
    [
        b"Transfer-Encoding: chunked\r\n",
        b"transfer-encoding: identity\r\n",
        b"Content-Length: 5\r\n",
        b"Content-Length: 0\r\nContent-Length: 1\r\n",
        b"Content-Length: -0\r\n",
        b"Content-Length: zero\r\n",
        b"Content-Length:\r\n",
    ],
)
def test_parse_request_with_body(headers: bytes) -> None:
    with pytest.raises(InvalidMessage, match="has a body"):
        parse_request(b"GET / HTTP/1.1\r\n" + headers + b"\r\n")


@pytest.mark.parametrize("length", [b"0", b"000"])
def test_parse_request_with_empty_body(length: bytes) -> None:
    request = parse_request(b"GET / HTTP/1.1\r\nContent-Length: " + length + b"\r\n\r\n")
    assert request is not None


def test_parse_eof_of_request() -> None:
    with pytest.raises(InvalidMessage) as raised:
        RequestParser().parse_eof(bytearray())
    assert str(raised.value) == "connection closed while reading HTTP request line"


def test_parse_eof_in_request_line() -> None:
    with pytest.raises(InvalidMessage, match="while reading HTTP request line"):
        RequestParser().parse_eof(bytearray(b"GET / HT"))


def test_parse_eof_in_request_headers() -> None:
    parser = RequestParser()
    buffer = bytearray(b"GET / HTTP/1.1\r\nHost: a\r\n")
    assert parser.parse(buffer) is None
    with pytest.raises(InvalidMessage) as raised:
        parser.parse_eof(buffer)
    assert str(raised.value) == "connection closed while reading HTTP headers"


def test_parse_eof_with_a_complete_request_in_the_buffer() -> None:
    buffer = bytearray(REQUEST)
    request = RequestParser().parse_eof(buffer)
    assert request.path == "/chat?room=1"


def test_parse_eof_raises_parsing_errors() -> None:
    with pytest.raises(InvalidMessage, match="unsupported HTTP method"):
        RequestParser().parse_eof(bytearray(b"PUT / HTTP/1.1\r\n"))


# Responses.


def test_parse_response() -> None:
    buffer = bytearray(RESPONSE + FRAME)
    response = ResponseParser().parse(buffer)
    assert response is not None
    assert response.status_code == 101
    assert response.reason_phrase == "Switching Protocols"
    assert response.headers["Sec-WebSocket-Accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert response.body is None
    assert buffer == FRAME


@pytest.mark.parametrize("step", [1, 2, 5, 100])
def test_parse_response_in_chunks(step: int) -> None:
    response, buffer = feed(ResponseParser(), RESPONSE + FRAME, [step])
    assert response == ResponseParser().parse(bytearray(RESPONSE))
    assert buffer == FRAME


@pytest.mark.parametrize("status", [100, 101, 103, 199, 204, 304])
def test_parse_response_without_body(status: int) -> None:
    # RFC 7230, 3.3.3: these never have a body, whatever the headers say.
    buffer = bytearray(b"HTTP/1.1 %d X\r\nContent-Length: 5\r\n\r\nabcde" % status)
    response = ResponseParser().parse(buffer)
    assert response is not None
    assert response.body is None
    assert buffer == b"abcde"


@pytest.mark.parametrize(
    ("status_line", "status_code", "reason"),
    [
        (b"HTTP/1.1 200 OK", 200, "OK"),
        (b"HTTP/1.1 404 Not Found", 404, "Not Found"),
        (b"HTTP/1.1 500 ", 500, ""),
        (b"HTTP/1.1 599 a  b\tc", 599, "a  b\tc"),
        (b"HTTP/1.1 400 Caf\xe9", 400, "Caf\udce9"),
        (b"HTTP/1.1 418 I'm a teapot!", 418, "I'm a teapot!"),
    ],
)
def test_parse_status_line(status_line: bytes, status_code: int, reason: str) -> None:
    response = parse_response(status_line + b"\r\nContent-Length: 0\r\n\r\n")
    assert response is not None
    assert (response.status_code, response.reason_phrase) == (status_code, reason)


@pytest.mark.parametrize(
    ("status_line", "message"),
    [
        (b"", "invalid HTTP status line"),
        (b"HTTP/1.1 200", "invalid HTTP status line"),
        (b"HTTP/1.1", "invalid HTTP status line"),
        (b"HTTP/1.0 200 OK", "unsupported HTTP version"),
        (b"HTTP/2 200 OK", "unsupported HTTP version"),
        (b"http/1.1 200 OK", "unsupported HTTP version"),
        (b" HTTP/1.1 200 OK", "unsupported HTTP version"),
        (b"HTTP/1.1  200 OK", "invalid HTTP status code"),
        (b"HTTP/1.1 20 OK", "invalid HTTP status code"),
        (b"HTTP/1.1 2000 OK", "invalid HTTP status code"),
        (b"HTTP/1.1 2x0 OK", "invalid HTTP status code"),
        (b"HTTP/1.1 +20 OK", "invalid HTTP status code"),
        (b"HTTP/1.1 099 OK", "unsupported HTTP status code"),
        (b"HTTP/1.1 600 OK", "unsupported HTTP status code"),
        (b"HTTP/1.1 999 OK", "unsupported HTTP status code"),
        (b"HTTP/1.1 200 O\x00K", "invalid HTTP reason phrase"),
        (b"HTTP/1.1 200 O\rK", "invalid HTTP reason phrase"),
        (b"HTTP/1.1 200 O\x7fK", "invalid HTTP reason phrase"),
    ],
)
def test_parse_invalid_status_line(status_line: bytes, message: str) -> None:
    with pytest.raises(InvalidMessage, match=message):
        parse_response(status_line + b"\r\n\r\n")


def test_status_line_too_long() -> None:
    with pytest.raises(SecurityError) as raised:
        parse_response(b"HTTP/1.1 200 " + b"O" * 100 + b"\r\n\r\n", max_line_length=50)
    assert raised.value.status == HTTPStatus.BAD_REQUEST


def test_status_line_too_long_detected_before_its_end() -> None:
    parser = ResponseParser(max_line_length=50)
    assert bytes_until_error(parser, b"HTTP/1.1 200 " + b"O" * 100) == 51


def test_response_header_limits() -> None:
    with pytest.raises(SecurityError):
        parse_response(b"HTTP/1.1 101 OK\r\nX: " + b"v" * 100 + b"\r\n\r\n", max_line_length=50)
    headers = b"".join(b"X-%d: %d\r\n" % (i, i) for i in range(3))
    with pytest.raises(SecurityError):
        parse_response(b"HTTP/1.1 101 OK\r\n" + headers + b"\r\n", max_num_headers=2)


def test_parse_response_rejects_bare_lf() -> None:
    with pytest.raises(InvalidMessage, match="doesn't end with CRLF"):
        parse_response(b"HTTP/1.1 101 OK\n\n")


def test_parse_two_responses_with_one_parser() -> None:
    parser = ResponseParser()
    buffer = bytearray(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab" + RESPONSE)
    first = parser.parse(buffer)
    second = parser.parse(buffer)
    assert first is not None
    assert second is not None
    assert (first.status_code, first.body) == (200, b"ab")
    assert (second.status_code, second.body) == (101, None)


# Bodies delimited by Content-Length.


def test_body_with_content_length() -> None:
    buffer = bytearray(b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nhello" + FRAME)
    response = ResponseParser().parse(buffer)
    assert response is not None
    assert response.body == b"hello"
    assert buffer == FRAME


def test_body_with_content_length_in_chunks() -> None:
    data = b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nhello"
    for step in (1, 3, len(data)):
        response, buffer = feed(ResponseParser(), data + b"next", [step])
        assert response is not None
        assert response.body == b"hello"
        assert buffer == b"next"


@pytest.mark.parametrize(("length", "body"), [(b"0", b""), (b"0005", b"hello")])
def test_body_with_content_length_edge_cases(length: bytes, body: bytes) -> None:
    response = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: " + length + b"\r\n\r\nhello")
    assert response is not None
    assert response.body == body


def test_body_with_content_length_needs_more_data() -> None:
    parser = ResponseParser()
    buffer = bytearray(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel")
    assert parser.parse(buffer) is None
    assert buffer == b""
    buffer += b"lo"
    response = parser.parse(buffer)
    assert response is not None
    assert response.body == b"hello"


@pytest.mark.parametrize(
    "headers",
    [
        b"Content-Length: -1\r\n",
        b"Content-Length: +1\r\n",
        b"Content-Length: 1.0\r\n",
        b"Content-Length: 0x10\r\n",
        b"Content-Length: 1, 1\r\n",
        b"Content-Length: \r\n",
        b"Content-Length: \xd9\xa1\r\n",
        b"Content-Length: 1\r\nContent-Length: 1\r\n",
    ],
)
def test_invalid_content_length(headers: bytes) -> None:
    with pytest.raises(InvalidMessage, match="invalid Content-Length"):
        parse_response(b"HTTP/1.1 200 OK\r\n" + headers + b"\r\n")


def test_body_at_limit() -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n" + b"x" * 10
    response = parse_response(data, max_body_size=10)
    assert response is not None
    assert response.body == b"x" * 10


@pytest.mark.parametrize("length", [b"11", b"99999999999999999999999999999999", b"9" * 5000])
def test_body_too_large_detected_from_content_length(length: bytes) -> None:
    # Detected from the headers, before any byte of the body arrives.
    with pytest.raises(SecurityError, match="body exceeds 10 bytes"):
        parse_response(
            b"HTTP/1.1 200 OK\r\nContent-Length: " + length + b"\r\n\r\n", max_body_size=10
        )


# Chunked bodies.


def test_chunked_body() -> None:
    data = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n"
        b"1;name=value;other\r\n \r\n"
        b"A ; ext\r\n0123456789\r\n"
        b"0\r\n\r\n"
    )
    for step in (1, 2, 3, len(data)):
        response, buffer = feed(ResponseParser(), data + FRAME, [step])
        assert response is not None
        assert response.body == b"hello 0123456789"
        assert buffer == FRAME


def test_chunked_body_with_trailers() -> None:
    data = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\nX-Trailer: value\r\nOther: x\r\n\r\n"
    )
    response = parse_response(data)
    assert response is not None
    assert response.body == b"abc"
    # Trailers are checked then dropped.
    assert "X-Trailer" not in response.headers


@pytest.mark.parametrize(
    "encoding",
    [
        b"chunked",
        b"Chunked",
        b"CHUNKED",
        b" chunked ",
        b", chunked,",
        b"chunked\r\nTransfer-Encoding: ",
    ],
)
def test_chunked_encodings(encoding: bytes) -> None:
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: " + encoding + b"\r\n\r\n1\r\na\r\n0\r\n\r\n"
    response = parse_response(data)
    assert response is not None
    assert response.body == b"a"


def test_chunk_size_with_leading_zeros_and_upper_case() -> None:
    data = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n000B\r\n0123456789A\r\n000\r\n\r\n"
    )
    response = parse_response(data)
    assert response is not None
    assert response.body == b"0123456789A"


@pytest.mark.parametrize(
    "encoding",
    [b"gzip", b"gzip, chunked", b"chunked, gzip", b"chunked, chunked", b"identity", b"", b","],
)
def test_unsupported_transfer_encoding(encoding: bytes) -> None:
    with pytest.raises(InvalidMessage, match="unsupported Transfer-Encoding"):
        parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: " + encoding + b"\r\n\r\n")


def test_transfer_encoding_with_content_length() -> None:
    with pytest.raises(InvalidMessage, match="both Transfer-Encoding and Content-Length"):
        parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
        )


@pytest.mark.parametrize(
    ("chunks", "message"),
    [
        (b"\r\n", "invalid chunk size"),
        (b"x\r\n", "invalid chunk size"),
        (b"-1\r\n", "invalid chunk size"),
        (b" 1\r\n", "invalid chunk size"),
        (b"0x1\r\n", "invalid chunk size"),
        (b";ext\r\n", "invalid chunk size"),
        (b"1;\x00\r\n", "invalid chunk extension"),
        (b"1;a\rb\r\n", "invalid chunk extension"),
        (b"1\r\nab\r\n", "chunk doesn't end with CRLF"),
        (b"1\r\na\n\r\n", "chunk doesn't end with CRLF"),
        (b"1\r\na\r\r\n", "chunk doesn't end with CRLF"),
        (b"1\n", "doesn't end with CRLF"),
        (b"0\r\nbad trailer\r\n\r\n", "without colon"),
        (b"0\r\n trailer: folded\r\n\r\n", "obsolete line folding"),
    ],
)
def test_invalid_chunked_body(chunks: bytes, message: str) -> None:
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
    with pytest.raises(InvalidMessage, match=message):
        parse_response(data)


def test_missing_crlf_after_chunk_detected_at_first_byte() -> None:
    prefix = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na"
    assert bytes_until_error(ResponseParser(), prefix + b"xy") == len(prefix) + 1


def test_chunked_body_too_large() -> None:
    prefix = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    parser = ResponseParser(max_body_size=10)
    assert parser.parse(bytearray(prefix + b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n")) is not None
    # The chunk that would cross the limit is refused from its size line.
    buffer = bytearray(prefix + b"5\r\nhello\r\n6\r\n")
    with pytest.raises(SecurityError, match="body exceeds 10 bytes"):
        ResponseParser(max_body_size=10).parse(buffer)


def test_chunk_size_with_too_many_digits() -> None:
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 16 + b"\r\n"
    with pytest.raises(SecurityError, match="body exceeds"):
        parse_response(data)


def test_chunk_size_line_too_long() -> None:
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + b"e" * 100
    with pytest.raises(SecurityError, match="chunk size line too long"):
        parse_response(data, max_line_length=50)


def test_too_many_trailers() -> None:
    trailers = b"".join(b"X-%d: %d\r\n" % (i, i) for i in range(3))
    data = b"HTTP/1.1 200 OK\r\nX: 1\r\nY: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
    # Headers and trailers are counted separately.
    assert parse_response(data + trailers[:-8] + b"\r\n", max_num_headers=3) is not None
    with pytest.raises(SecurityError, match="too many HTTP headers"):
        parse_response(data + trailers + b"X-3: 3\r\n\r\n", max_num_headers=3)


# Bodies delimited by the end of the connection.


def test_body_until_eof() -> None:
    parser = ResponseParser()
    buffer = bytearray(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nno ")
    assert parser.parse(buffer) is None
    assert buffer == b""
    buffer += b"way"
    assert parser.parse(buffer) is None
    buffer += b"!"
    response = parser.parse_eof(buffer)
    assert response.status_code == 403
    assert response.body == b"no way!"


def test_empty_body_until_eof() -> None:
    response = ResponseParser().parse_eof(bytearray(b"HTTP/1.1 500 Oops\r\n\r\n"))
    assert response.body == b""


def test_body_until_eof_too_large() -> None:
    parser = ResponseParser(max_body_size=10)
    buffer = bytearray(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 10)
    assert parser.parse(buffer) is None
    buffer += b"y"
    with pytest.raises(SecurityError, match="body exceeds 10 bytes"):
        parser.parse(buffer)


def test_body_until_eof_too_large_in_parse_eof() -> None:
    with pytest.raises(SecurityError):
        ResponseParser(max_body_size=10).parse_eof(
            bytearray(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 11)
        )


# End of connection.


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"", "HTTP status line"),
        (b"HTTP/1.1 101 Swi", "HTTP status line"),
        (b"HTTP/1.1 101 Switching Protocols\r\n", "HTTP headers"),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n", "HTTP headers"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc", "HTTP body"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "HTTP body"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "HTTP body"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab", "HTTP body"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n", "HTTP body"),
    ],
)
def test_parse_eof_of_incomplete_response(data: bytes, what: str) -> None:
    parser = ResponseParser()
    buffer = bytearray(data)
    assert parser.parse(buffer) is None
    with pytest.raises(InvalidMessage) as raised:
        parser.parse_eof(buffer)
    assert str(raised.value) == f"connection closed while reading {what}"


def test_parse_eof_with_a_complete_response_in_the_buffer() -> None:
    response = ResponseParser().parse_eof(bytearray(RESPONSE))
    assert response.status_code == 101


# Serialization.


def test_serialize_request() -> None:
    headers = Headers([("Host", "example.com"), ("X-Mixed-Case", "a\tb"), ("host", "again")])
    assert Request("/path?q=1", headers).serialize() == (
        b"GET /path?q=1 HTTP/1.1\r\nHost: example.com\r\nX-Mixed-Case: a\tb\r\nhost: again\r\n\r\n"
    )


def test_serialize_response() -> None:
    headers = Headers([("Upgrade", "websocket"), ("Connection", "Upgrade")])
    assert Response(101, "Switching Protocols", headers).serialize() == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    )


@pytest.mark.parametrize("status", list(HTTPStatus))
def test_serialize_status_line(status: HTTPStatus) -> None:
    # Registered statuses and their phrases take lines made once; any other
    # phrase, or an HTTPStatus member as the code, makes the same lines.
    expected = f"HTTP/1.1 {status.value} {status.phrase}\r\n\r\n".encode()
    assert Response(status.value, status.phrase, Headers()).serialize() == expected
    assert Response(status, status.phrase, Headers()).serialize() == expected
    assert Response(status.value, "Other", Headers()).serialize() == (
        f"HTTP/1.1 {status.value} Other\r\n\r\n".encode()
    )


def test_serialize_response_with_body() -> None:
    headers = Headers([("Content-Length", "5")])
    assert Response(HTTPStatus.NOT_FOUND, "", headers, b"hello").serialize() == (
        b"HTTP/1.1 404 \r\nContent-Length: 5\r\n\r\nhello"
    )


def test_serialize_obs_text_round_trips() -> None:
    data = b"HTTP/1.1 400 Caf\xe9\r\nX: \x80\xffcaf\xc3\xa9\r\nContent-Length: 0\r\n\r\n"
    response = parse_response(data)
    assert response is not None
    assert response.serialize() == data


def test_serialize_non_ascii_text_as_utf8() -> None:
    headers = Headers([("X", "café")])
    assert Response(400, "Café", headers).serialize() == (
        b"HTTP/1.1 400 Caf\xc3\xa9\r\nX: caf\xc3\xa9\r\n\r\n"
    )


@pytest.mark.parametrize(
    "path",
    ["", " ", "/a b", "/\r\nX: y", "/\n", "/\x00", "/\x7f", "/é", "/\t"],
)
def test_serialize_invalid_path(path: str) -> None:
    with pytest.raises(ValueError, match="invalid request path"):
        Request(path, Headers()).serialize()


@pytest.mark.parametrize("name", ["", "Bad Name", "X:", "X\r\nY", "Café", "X\t", "(X)"])
def test_serialize_invalid_header_name(name: str) -> None:
    with pytest.raises(ValueError, match="invalid header name"):
        Request("/", Headers([(name, "v")])).serialize()
    with pytest.raises(ValueError, match="invalid header name"):
        Response(200, "OK", Headers([(name, "v")])).serialize()


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\rb", "a\nb", "\x00", "\x1f", "\x7f"])
def test_serialize_invalid_header_value(value: str) -> None:
    with pytest.raises(ValueError, match="invalid value for header X"):
        Request("/", Headers([("X", value)])).serialize()
    with pytest.raises(ValueError, match="invalid value for header X"):
        Response(200, "OK", Headers([("X", value)])).serialize()


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "\x00", "\x7f"])
def test_serialize_invalid_value_of_common_header(value: str) -> None:
    # Common names skip the name check: values are checked all the same.
    headers = Headers([("Host", "example.com"), ("Server", value)])
    with pytest.raises(ValueError, match="invalid value for header Server"):
        headers.serialize()


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([], b"\r\n"),
        ([("Server", "a")], b"Server: a\r\n\r\n"),
        ([("Server", "a\tb"), ("X-A", " c ")], b"Server: a\tb\r\nX-A:  c \r\n\r\n"),
        ([("X", "caf\udcc3\udca9"), ("Y", "é")], b"X: caf\xc3\xa9\r\nY: \xc3\xa9\r\n\r\n"),
        ([("host", ""), ("Host", "x")], b"host: \r\nHost: x\r\n\r\n"),
    ],
)
def test_serialize_headers(pairs: list[tuple[str, str]], expected: bytes) -> None:
    assert Headers(pairs).serialize() == expected


@pytest.mark.parametrize("code_point", [0xD800, 0xDC41])
def test_serialize_unencodable_header_value(code_point: int) -> None:
    # Only surrogates that surrogateescape produced (U+DC80-U+DCFF) encode.
    with pytest.raises(ValueError):
        Request("/", Headers([("X", chr(code_point))])).serialize()


@pytest.mark.parametrize("reason", ["O\r\nK", "\n", "\x00", "\x7f"])
def test_serialize_invalid_reason_phrase(reason: str) -> None:
    with pytest.raises(ValueError, match="invalid reason phrase"):
        Response(200, reason, Headers()).serialize()


@pytest.mark.parametrize("status_code", [0, 99, 600, 1000, -200])
def test_serialize_invalid_status_code(status_code: int) -> None:
    with pytest.raises(ValueError, match="invalid status code"):
        Response(status_code, "X", Headers()).serialize()


# Interoperability with websockets.


def test_parse_request_from_websockets() -> None:
    from websockets.client import ClientProtocol
    from websockets.uri import parse_uri

    client = ClientProtocol(parse_uri("ws://example.com/chat?x=1"))
    data = client.connect().serialize()
    request = parse_request(data)
    assert request is not None
    assert request.path == "/chat?x=1"
    assert request.headers["Host"] == "example.com"


def _run(parser: Generator[None, None, _E]) -> _E:
    """Run a websockets parser to completion."""
    try:
        next(parser)
    except StopIteration as stop:
        return cast("_E", stop.value)
    pytest.fail("websockets needs more data")


def _reader(data: bytes) -> StreamReader:
    from websockets.streams import StreamReader

    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


def test_websockets_parses_our_request() -> None:
    from websockets.http11 import Request as WsRequest

    headers = Headers([("Host", "example.com"), ("X-Obs", "\udce9t\udce9")])
    data = Request("/chat?x=1", headers).serialize()
    assert data.endswith(b"X-Obs: \xe9t\xe9\r\n\r\n")

    request = _run(WsRequest.parse(_reader(data).read_line))
    assert request.path == "/chat?x=1"
    # websockets decodes obs-text as ISO-8859-1 rather than with surrogateescape.
    assert list(request.headers.raw_items()) == [("Host", "example.com"), ("X-Obs", "été")]


def test_websockets_parses_our_response() -> None:
    from websockets.http11 import Response as WsResponse

    headers = Headers([("Content-Length", "5"), ("Content-Type", "text/plain")])
    data = Response(404, "Not Found", headers, b"hello").serialize()

    reader = _reader(data)
    response = _run(WsResponse.parse(reader.read_line, reader.read_exact, reader.read_to_eof))
    assert (response.status_code, response.reason_phrase, response.body) == (
        404,
        "Not Found",
        b"hello",
    )


# Properties.

_TOKEN = st.from_regex(r"[-!#$%&'*+.^_`|~0-9A-Za-z]{1,12}", fullmatch=True)
_VALUE_CHAR = st.sampled_from(
    [chr(c) for c in range(0x20, 0x7F)] + ["\t"] + [chr(0xDC00 + b) for b in range(0x80, 0x100)]
)
_VALUE = st.lists(_VALUE_CHAR, max_size=20).map("".join).map(lambda value: value.strip(" \t"))
_HEADER_LIST = st.lists(
    st.tuples(_TOKEN, _VALUE).filter(
        lambda header: header[0].lower() not in ("content-length", "transfer-encoding")
    ),
    max_size=12,
)
_PATH = st.from_regex(r"[\x21-\x7e]{1,40}", fullmatch=True)
_CHUNKS = st.lists(st.integers(1, 64), min_size=1, max_size=8)


@given(path=_PATH, header_list=_HEADER_LIST, chunks=_CHUNKS, trailing=st.binary(max_size=20))
def test_request_round_trip(
    *, path: str, header_list: list[tuple[str, str]], chunks: list[int], trailing: bytes
) -> None:
    request = Request(path, Headers(header_list))
    parsed, buffer = feed(RequestParser(), request.serialize() + trailing, chunks)
    assert parsed == request
    assert parsed is not None
    assert list(parsed.headers.raw_items()) == header_list
    assert buffer == trailing


@given(
    status_code=st.integers(200, 599).filter(lambda code: code not in (204, 304)),
    reason=_VALUE,
    header_list=_HEADER_LIST,
    body=st.binary(max_size=200),
    chunks=_CHUNKS,
    trailing=st.binary(max_size=20),
)
def test_response_round_trip(
    *,
    status_code: int,
    reason: str,
    header_list: list[tuple[str, str]],
    body: bytes,
    chunks: list[int],
    trailing: bytes,
) -> None:
    headers = Headers([*header_list, ("Content-Length", str(len(body)))])
    response = Response(status_code, reason, headers, body)
    parsed, buffer = feed(ResponseParser(), response.serialize() + trailing, chunks)
    assert parsed == response
    assert parsed is not None
    assert list(parsed.headers.raw_items()) == list(headers.raw_items())
    assert buffer == trailing


@given(
    status_code=st.sampled_from([100, 101, 102, 103, 150, 199, 204, 304]),
    reason=_VALUE,
    header_list=_HEADER_LIST,
    chunks=_CHUNKS,
    trailing=st.binary(max_size=20),
)
def test_response_without_body_round_trip(
    *,
    status_code: int,
    reason: str,
    header_list: list[tuple[str, str]],
    chunks: list[int],
    trailing: bytes,
) -> None:
    response = Response(status_code, reason, Headers(header_list))
    parsed, buffer = feed(ResponseParser(), response.serialize() + trailing, chunks)
    assert parsed == response
    assert buffer == trailing


@given(
    pieces=st.lists(st.binary(min_size=1, max_size=50), max_size=10),
    chunks=_CHUNKS,
    trailing=st.binary(max_size=20),
)
def test_chunked_body_round_trip(pieces: list[bytes], chunks: list[int], trailing: bytes) -> None:
    encoded = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + encoded
    parsed, buffer = feed(ResponseParser(), data + trailing, chunks)
    assert parsed is not None
    assert parsed.body == b"".join(pieces)
    assert buffer == trailing


@given(body=st.binary(max_size=200), chunks=_CHUNKS)
def test_body_until_eof_round_trip(body: bytes, chunks: list[int]) -> None:
    parser = ResponseParser()
    parsed, buffer = feed(parser, b"HTTP/1.1 200 OK\r\n\r\n" + body, chunks)
    assert parsed is None
    assert parser.parse_eof(buffer).body == body


_PREFIXES = st.sampled_from(
    [
        b"",
        b"GET / HTTP/1.1\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n",
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
    ]
)


@given(prefix=_PREFIXES, data=st.binary(max_size=300), chunks=_CHUNKS, eof=st.booleans())
def test_parsers_only_raise_protocol_errors(
    prefix: bytes, data: bytes, chunks: list[int], eof: bool
) -> None:
    small = {"max_line_length": 40, "max_num_headers": 4}
    for parser in (RequestParser(**small), ResponseParser(**small, max_body_size=50)):
        buffer = bytearray()
        payload = prefix + data
        pos = 0
        index = 0
        try:
            while pos < len(payload):
                size = chunks[index % len(chunks)]
                index += 1
                buffer += payload[pos : pos + size]
                pos += size
                event = parser.parse(buffer)
                assert event is None or isinstance(event, Request | Response)
            if eof:
                event = parser.parse_eof(buffer)
                assert isinstance(event, Request | Response)
        except (InvalidMessage, SecurityError):
            pass

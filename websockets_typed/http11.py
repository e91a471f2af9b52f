"""HTTP/1.1 messages of the opening handshake: events, parsing, serialization.

The opening handshake (RFC 6455, section 4) is an HTTP/1.1 ``GET`` request
and its response. This module implements just enough of HTTP/1.1 (RFC 7230)
for that, strictly, and with limits so that a peer cannot make us buffer
without bound:

* :class:`Request` and :class:`Response` are the events;
* :class:`RequestParser` and :class:`ResponseParser` parse them
  incrementally from a receive buffer, as bytes arrive;
* ``serialize()`` writes them, refusing anything that could inject a line
  break into the stream.

Header values are decoded as ASCII with ``surrogateescape``: bytes
0x80-0xFF (``obs-text``) become lone surrogates, and serializing encodes
them back to the same bytes.
"""

from __future__ import annotations

import enum
import re
from http import HTTPStatus
from itertools import islice
from types import MemberDescriptorType
from typing import Final, Literal, Protocol, TypeVar

import attrs

from ._validators import typed
from .datastructures import (
    INVALID_VALUE_RE,
    Headers,
    UsualFields,
    headers_from_fields,
    py_usual_fields,
    usual_headers,
)
from .exceptions import InvalidMessage, SecurityError
from .frames import SPEEDUPS

__all__ = [
    "MAX_BODY_SIZE",
    "MAX_LINE_LENGTH",
    "MAX_NUM_HEADERS",
    "ConnectResponseParser",
    "Request",
    "RequestParser",
    "Response",
    "ResponseParser",
]

MAX_LINE_LENGTH: Final = 8192
"""Default limit on the length of a line, CRLF excluded, in bytes."""

MAX_NUM_HEADERS: Final = 128
"""Default limit on the number of header lines in a message."""

MAX_BODY_SIZE: Final = 2**20
"""Default limit on the size of a response body, in bytes."""


# RFC 7230, 3.2.6: token = 1*tchar.
_TOKEN: Final = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+")

# RFC 7230, 3.2: field-value = *( field-content / obs-fold ), where field
# content is VCHAR, obs-text (0x80-0xFF), SP and HTAB. The reason phrase
# (RFC 7230, 3.1.2) allows the same characters. These find the others.
_INVALID_VALUE: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")

# RFC 7230, 5.3: the request-target is origin-form (or another form); all of
# them are printable ASCII without spaces.
_TARGET: Final = re.compile(rb"[\x21-\x7e]+")
_TARGET_STR: Final = re.compile(r"[\x21-\x7e]+")

_STATUS_CODE: Final = re.compile(rb"[0-9]{3}")
_DIGITS: Final = re.compile(r"[0-9]+")
_HEX_DIGITS: Final = re.compile(rb"[0-9A-Fa-f]+")

# A 2**63 byte body is not coming; longer numbers are refused before int()
# sees them (int() is quadratic on huge strings and refuses > 4300 digits).
_MAX_DECIMAL_DIGITS: Final = 18
_MAX_HEX_DIGITS: Final = 15

_CR: Final = 0x0D

_T = TypeVar("_T")


@attrs.frozen
class Request:
    """The handshake request: a ``GET`` request with its headers.

    Building one with a field of the wrong type raises :exc:`TypeError`.

    A server also parses ``HEAD`` and ``POST`` requests, so that
    ``process_request`` can answer them (e.g. a health check probed with
    ``HEAD``); their body, if any, isn't read. Only a ``GET`` can open a
    WebSocket connection: :meth:`ServerProtocol.accept
    <websockets_typed.server.ServerProtocol.accept>` answers the others
    with 405.

    Attributes:
        path: The request-target as sent, query included, e.g.
            ``"/chat?room=1"``.
        headers: The request headers.
        method: The request method: ``"GET"``, ``"HEAD"`` or ``"POST"``.
    """

    path: str = attrs.field(validator=typed(str))
    headers: Headers = attrs.field(validator=typed(Headers))
    method: Literal["GET", "HEAD", "POST"] = attrs.field(default="GET", validator=typed(str))

    def serialize(self) -> bytes:
        """Return the request as bytes to send.

        Raises:
            ValueError: If the path is empty or contains characters other
                than printable ASCII, or if a header name or value is
                invalid (see :class:`Response`'s ``serialize`` for the rules).
        """
        # RFC 7230, 3.1.1: request-line = method SP request-target SP HTTP-version CRLF.
        if _TARGET_STR.fullmatch(self.path) is None:
            raise ValueError(f"invalid request path: {self.path!r}")
        return b"%s %s HTTP/1.1\r\n%s" % (
            self.method.encode("ascii"),
            self.path.encode("ascii"),
            self.headers.serialize(),
        )


@attrs.frozen
class Response:
    """The handshake response: ``101 Switching Protocols`` or a rejection.

    Building one with a field of the wrong type raises :exc:`TypeError`.

    Attributes:
        status_code: The HTTP status code, e.g. 101.
        reason_phrase: The reason phrase, e.g. ``"Switching Protocols"``.
        headers: The response headers.
        body: The body; ``None`` when the response has none (1xx, 204 and
            304 responses never have one).
    """

    status_code: int = attrs.field(validator=typed(int))
    reason_phrase: str = attrs.field(validator=typed(str))
    headers: Headers = attrs.field(validator=typed(Headers))
    body: bytes | None = attrs.field(default=None, validator=typed(bytes, type(None)))

    def serialize(self) -> bytes:
        """Return the response as bytes to send.

        Header names must be tokens (RFC 7230, 3.2.6). Header values and the
        reason phrase may contain any character except control characters
        other than HTAB; they are encoded with UTF-8, and lone surrogates
        from ``surrogateescape`` decoding become the original bytes again.

        Raises:
            ValueError: If the status code is not between 100 and 599, or if
                the reason phrase or a header could break the message.
        """
        # RFC 7230, 3.1.2: status-line = HTTP-version SP status-code SP reason-phrase CRLF.
        status_line = _STATUS_LINES.get((self.status_code, self.reason_phrase))
        if status_line is None:
            status_code = int(self.status_code)
            if not 100 <= status_code < 600:
                raise ValueError(f"invalid status code: {status_code}")
            if INVALID_VALUE_RE.search(self.reason_phrase) is not None:
                raise ValueError(f"invalid reason phrase: {self.reason_phrase!r}")
            status_line = b"HTTP/1.1 %d %s\r\n" % (
                status_code,
                self.reason_phrase.encode("utf-8", "surrogateescape"),
            )
        data = status_line + self.headers.serialize()
        return data + self.body if self.body else data


# The status lines of the registered status codes with their reason
# phrases, valid, as printable ASCII: formatting and checking each costs a
# third of serializing a 101 response (bench/run.py --callgrind, S4).
_STATUS_LINES: Final = {
    (status.value, status.phrase): b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode())
    for status in HTTPStatus
}


class _Stage(enum.Enum):
    """Where a parser is in the message it is reading."""

    START_LINE = enum.auto()
    HEADERS = enum.auto()
    BODY_LENGTH = enum.auto()  # Content-Length bytes to read
    CHUNK_SIZE = enum.auto()  # chunked: the line with the next chunk's size
    CHUNK_DATA = enum.auto()
    CHUNK_END = enum.auto()  # chunked: the CRLF after a chunk's data
    TRAILERS = enum.auto()  # chunked: trailer fields after the last chunk
    BODY_EOF = enum.auto()  # everything until the connection closes


class _Parser:
    """Line reading and header parsing shared by both parsers.

    The parser consumes complete lines from the front of the caller's buffer
    and remembers how far it has searched the incomplete line that remains,
    so that every byte is searched once however the data is split.
    """

    __slots__ = (
        "_headers",
        "_num_headers",
        "_scanned",
        "_stage",
        "max_line_length",
        "max_num_headers",
    )

    def __init__(self, max_line_length: int, max_num_headers: int) -> None:
        self.max_line_length: int = max_line_length
        self.max_num_headers: int = max_num_headers
        self._reset()

    def _reset(self) -> None:
        self._stage = _Stage.START_LINE
        self._scanned = 0
        self._headers = Headers()
        self._num_headers = 0

    def _read_line(self, buffer: bytearray, what: str, status: HTTPStatus) -> bytes | None:
        """Remove and return the first line of ``buffer``, without its CRLF.

        Return ``None`` if the line is incomplete. Raise ``SecurityError``
        with ``status`` as soon as the line is known to exceed the limit.
        """
        limit = self.max_line_length
        # Never look further than the longest line allowed, CRLF included.
        end = buffer.find(b"\n", self._scanned, limit + 2)
        if end == -1:
            size = len(buffer)
            # At limit + 1 bytes the line is too long unless the last one is
            # the CR of the final CRLF.
            if size > limit + 1 or (size == limit + 1 and buffer[-1] != _CR):
                raise SecurityError(f"{what} too long", status)
            self._scanned = size
            return None
        # RFC 7230, 3.5 lets a recipient accept a bare LF; being strict here
        # is safer: lenient line parsing is how requests get smuggled.
        if end == 0 or buffer[end - 1] != _CR:
            raise InvalidMessage(f"{what} doesn't end with CRLF")
        line = bytes(buffer[: end - 1])
        del buffer[: end + 1]
        self._scanned = 0
        return line

    def _read_fields(self, buffer: bytearray, headers: Headers | None) -> bool:
        """Read header lines into ``headers`` until the empty line.

        Return ``True`` once the empty line is read, ``False`` if more data
        is needed. With ``headers=None``, validate the fields and drop them
        (trailers).
        """
        limit = self.max_num_headers
        too_large = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
        while True:
            # Past the limit, anything but the CR of the empty line is one
            # header too many: fail now rather than wait for the line's end.
            if self._num_headers >= limit and buffer and buffer[0] != _CR:
                raise SecurityError("too many HTTP headers", too_large)
            line = self._read_line(buffer, "HTTP header line", too_large)
            if line is None:
                return False
            if not line:
                return True
            if self._num_headers >= limit:
                raise SecurityError("too many HTTP headers", too_large)
            name, value = _parse_field_line(line)
            if headers is not None:
                headers[name] = value
            self._num_headers += 1


def _parse_field_line(line: bytes) -> tuple[str, str]:
    """Parse ``name: value`` (RFC 7230, 3.2) into decoded strings."""
    # RFC 7230, 3.2.4: obs-fold is deprecated; a server may reject it and so
    # do we, on both sides.
    if line[:1] in (b" ", b"\t"):
        raise InvalidMessage("obsolete line folding in HTTP headers")
    raw_name, colon, raw_value = line.partition(b":")
    if not colon:
        raise InvalidMessage(f"HTTP header line without colon: {line[:80]!r}")
    # RFC 7230, 3.2.4: no whitespace between the name and the colon.
    if _TOKEN.fullmatch(raw_name) is None:
        raise InvalidMessage(f"invalid HTTP header name: {raw_name[:80]!r}")
    raw_value = raw_value.strip(b" \t")
    if _INVALID_VALUE.search(raw_value) is not None:
        raise InvalidMessage(f"invalid value for HTTP header {raw_name.decode('ascii')}")
    return raw_name.decode("ascii"), raw_value.decode("ascii", "surrogateescape")


class RequestParser(_Parser):
    """Incremental parser of handshake requests (server side).

    Call :meth:`parse` whenever bytes are appended to the receive buffer and
    :meth:`parse_eof` when the connection closes. Between calls, the buffer
    may only grow at its end: the parser remembers how much it has searched.

    After returning a request, the parser is ready for another one. After
    raising an exception, it must not be used again.

    Args:
        max_line_length: Longest request line or header line allowed,
            CRLF excluded.
        max_num_headers: Largest number of headers allowed.

    Attributes:
        head_only: Set it to return the request after its headers even if
            they announce a body, and leave the body in the buffer (for
            :func:`websockets_typed.http.read_request`); by default, a
            request with a body is refused.
    """

    __slots__ = ("_method", "_path", "head_only")

    def __init__(
        self,
        *,
        max_line_length: int = MAX_LINE_LENGTH,
        max_num_headers: int = MAX_NUM_HEADERS,
    ) -> None:
        super().__init__(max_line_length, max_num_headers)
        self._method: Literal["GET", "HEAD", "POST"] = "GET"
        self._path = ""
        self.head_only: bool = False

    def parse(self, buffer: bytearray) -> Request | None:
        """Consume bytes from the front of ``buffer``; return the request once complete.

        Bytes after the request (WebSocket frames) stay in ``buffer``.

        Returns:
            The request, or ``None`` if more data is needed.

        Raises:
            InvalidMessage: If the request is malformed. Its ``status`` is
                405 for a method other than ``GET``, ``HEAD`` and ``POST``,
                505 for a version other than HTTP/1.1, 400 otherwise.
            SecurityError: If the request line is too long (``status`` 414),
                or a header line is too long or there are too many headers
                (``status`` 431).
        """
        if self._stage is _Stage.START_LINE:
            if not self._scanned:
                request = parse_whole_request(
                    buffer, self.max_line_length, self.max_num_headers, self.head_only
                )
                if request is not None:
                    return request
            line = self._read_line(buffer, "HTTP request line", HTTPStatus.REQUEST_URI_TOO_LONG)
            if line is None:
                return None
            self._method, self._path = _parse_request_line(line)
            self._stage = _Stage.HEADERS
        if not self._read_fields(buffer, self._headers):
            return None
        request = Request(self._path, self._headers, self._method)
        if self._method == "GET" and not self.head_only:
            _check_no_body(request.headers)
        self._reset()
        return request

    def parse_eof(self, buffer: bytearray) -> Request:
        """Handle the end of the connection.

        A request never ends with the connection, so unless ``buffer`` still
        holds the end of a request that :meth:`parse` hasn't seen yet, the
        connection closed too early.

        Raises:
            InvalidMessage: Saying what was being read when the connection
                closed; or any error :meth:`parse` raises.
        """
        request = self.parse(buffer)
        if request is not None:
            return request
        what = "HTTP request line" if self._stage is _Stage.START_LINE else "HTTP headers"
        raise InvalidMessage(f"connection closed while reading {what}")


def _select_usual_fields() -> UsualFields:
    """Use the C accelerator if :func:`~websockets_typed.frames.apply_mask` does."""
    if SPEEDUPS:
        from ._speedups import usual_fields as c_usual_fields  # noqa: PLC0415

        return c_usual_fields
    return py_usual_fields


usual_fields: Final = _select_usual_fields()
"""Split the field lines of a usual request head: see :func:`py_usual_fields`.

Internal API. The C accelerator when available: a few calls per line in
Python cost a tenth of a handshake (bench/run.py --callgrind, S4).
"""


def py_new_instance(cls: type[_T], slots: tuple[object, ...], /, *values: object) -> _T:
    """Build an instance of ``cls`` whose ``slots`` hold ``values``, in order, without ``__init__``.

    This is :func:`new_instance` without the C accelerator. ``slots`` are
    member descriptors of ``cls``, e.g. ``Request.__dict__["path"]``.

    Raises:
        TypeError: If ``slots`` is not a tuple of as many member descriptors
            of ``cls`` as there are values.
    """
    if not isinstance(slots, tuple) or len(slots) != len(values):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError("slots must be a tuple of as many member descriptors as values")
    descriptors: list[MemberDescriptorType] = []
    for slot in slots:
        if not isinstance(slot, MemberDescriptorType) or not issubclass(cls, slot.__objclass__):
            raise TypeError("slots must be member descriptors of cls")
        descriptors.append(slot)
    instance = _new_object(cls)
    for descriptor, value in zip(descriptors, values, strict=True):
        descriptor.__set__(instance, value)
    return instance


class _NewInstance(Protocol):
    def __call__(self, cls: type[_T], slots: tuple[object, ...], /, *values: object) -> _T: ...


def _select_new_instance() -> _NewInstance:
    """Use the C accelerator if :func:`~websockets_typed.frames.apply_mask` does."""
    if SPEEDUPS:
        from ._speedups import new_instance as c_new_instance  # noqa: PLC0415

        return c_new_instance
    return py_new_instance


new_instance: Final = _select_new_instance()
"""Build an instance of a slotted class without ``__init__``: see :func:`py_new_instance`.

Internal API, for a :class:`Request` or a :class:`Response` whose fields are
known to have the right types. The C accelerator when available: a call per
slot costs about 3,000 instructions per message (bench/run.py --callgrind, S4).
"""


def split_whole_head(
    buffer: bytearray, max_line_length: int, max_num_headers: int
) -> tuple[int, str, re.Match[str], int] | None:
    """Find a whole request head at the start of ``buffer`` and check its request line.

    Internal API, the first step of :func:`parse_whole_request` and of the
    usual handshake (see _usual_handshake.py). Returns where the head ends
    (its final CRLF CRLF excluded), the head decoded, the match of its
    request line, and where its fields start; ``None`` if the head is
    incomplete, or if its request line isn't valid within the limits.
    """
    # No need to look further than the longest head within the limits.
    end = buffer.find(b"\r\n\r\n", 0, (max_line_length + 2) * (max_num_headers + 1) + 2)
    if end == -1:
        return None
    # As sent: bytes 0x80-0xFF become lone surrogates (see the module).
    head = buffer[:end].decode("ascii", "surrogateescape")
    line_end = head.find("\r\n")
    if line_end == -1:
        line_end = start = len(head)
    else:
        start = line_end + 2
    match = _REQUEST_LINE.fullmatch(head, 0, line_end)
    if match is None or line_end > max_line_length:
        return None
    return end, head, match, start


def parse_whole_request(
    buffer: bytearray,
    max_line_length: int = MAX_LINE_LENGTH,
    max_num_headers: int = MAX_NUM_HEADERS,
    head_only: bool = False,
) -> Request | None:
    """Parse a request whose head is all in ``buffer``, in one pass.

    The usual case: a handshake request arrives in one read. One pattern
    checks the whole head, then splitting it gives the fields, which
    costs less than reading it line by line, copying each line and
    shifting the buffer after it, or checking each line with patterns
    of its own (bench/run.py, S4).

    Return ``None``, consuming nothing, if the head is incomplete, or if
    anything in it would make reading it line by line raise an error or
    stop at a limit: then :meth:`RequestParser.parse` reads it line by line
    and raises the errors it always does. Internal API, shared with the
    server, which needs no parser when this succeeds (bench/run.py, S4).
    """
    limit = max_line_length
    whole = split_whole_head(buffer, limit, max_num_headers)
    if whole is None:
        return None
    end, head, match, start = whole
    # Usual fields, common names with printable ASCII values within the
    # limits, are valid: one call checks and splits them, where the pattern
    # and a few calls per line cost a fifth of a handshake (bench/run.py,
    # S4). The pattern decides for the others.
    headers = usual_headers(head, start, limit, max_num_headers, usual_fields)
    if headers is None:
        lines = head.split("\r\n")
        if len(lines) - 1 > max_num_headers or (end > limit and max(map(len, lines)) > limit):
            return None
        if _REQUEST_HEAD.fullmatch(head) is None:
            return None
        headers = headers_from_fields(islice(lines, 1, None))
    method = _METHODS_STR[match[1]]
    request = new_instance(Request, _REQUEST_SLOTS, match[2], headers, method)
    if method == "GET" and not head_only:
        _check_no_body(headers)
    del buffer[: end + 4]
    return request


def _parse_request_line(line: bytes) -> tuple[Literal["GET", "HEAD", "POST"], str]:
    """Check ``METHOD SP request-target SP HTTP/1.1``; return the method and the target."""
    parts = line.split(b" ")
    if len(parts) != 3:
        raise InvalidMessage(f"invalid HTTP request line: {line[:80]!r}")
    method, target, version = parts
    if _TOKEN.fullmatch(method) is None:
        raise InvalidMessage(f"invalid HTTP method: {method[:80]!r}")
    # RFC 6455, 4.1: "The method of the request MUST be GET". HEAD and POST
    # are parsed too, for process_request to answer with plain HTTP (health
    # checks, probes); accept() refuses them.
    if method not in _METHODS:
        raise InvalidMessage(
            f"unsupported HTTP method: {method.decode('ascii')}",
            HTTPStatus.METHOD_NOT_ALLOWED,
        )
    if _TARGET.fullmatch(target) is None:
        raise InvalidMessage(f"invalid request target: {target[:80]!r}")
    # RFC 6455, 4.1: "the HTTP version MUST be at least 1.1"; 1.1 is the
    # only version whose Upgrade mechanism exists.
    if version != b"HTTP/1.1":
        raise InvalidMessage(
            f"unsupported HTTP version: {version[:80]!r}",
            HTTPStatus.HTTP_VERSION_NOT_SUPPORTED,
        )
    return _METHODS[method], target.decode("ascii")


_METHODS: Final[dict[bytes, Literal["GET", "HEAD", "POST"]]] = {
    b"GET": "GET",
    b"HEAD": "HEAD",
    b"POST": "POST",
}
_METHODS_STR: Final[dict[str, Literal["GET", "HEAD", "POST"]]] = {
    method.decode(): value for method, value in _METHODS.items()
}

# RFC 7230, 3.1.1: the request line that _parse_request_line accepts.
_REQUEST_LINE: Final = re.compile(r"(GET|HEAD|POST) ([\x21-\x7e]+) HTTP/1\.1")

# A request head without its final CRLF CRLF that reading it line by line
# accepts, limits aside (see _parse_request_line and _parse_field_line): a
# request line, then fields whose name is a token, right before the colon,
# and whose value has no control character other than HTAB.
_REQUEST_HEAD: Final = re.compile(
    r"(GET|HEAD|POST) ([\x21-\x7e]+) HTTP/1\.1"
    r"(?:\r\n[-!#$%&'*+.^_`|~0-9A-Za-z]+:[^\x00-\x08\x0a-\x1f\x7f]*)*"
)


# The parser builds requests whose fields have the right types by
# construction; skipping the checks saves a fifth of parsing a handshake
# request (bench/run.py, S4). The slots of Request, in the order of its fields.
_REQUEST_SLOTS: Final = tuple(Request.__dict__[field.name] for field in attrs.fields(Request))


def checked_response(status_code: int, reason_phrase: str, headers: Headers) -> Response:
    """Build a response without a body whose fields have the right types, without the type checks.

    Internal API, for the server's 101 response, which its code builds:
    the checks cost a sixth of building it (bench/run.py, S4).
    """
    return new_instance(Response, _RESPONSE_SLOTS, status_code, reason_phrase, headers, None)


# The slots of Response, in the order of its fields.
_RESPONSE_SLOTS: Final = tuple(Response.__dict__[field.name] for field in attrs.fields(Response))
_new_object: Final = object.__new__


# The lower-cased names of the headers that announce a body.
_BODY_HEADERS: Final = frozenset({"content-length", "transfer-encoding"})


def _check_no_body(headers: Headers) -> None:
    """Reject a request that announces a body (RFC 7230, 3.3.3)."""
    # A handshake request has no body, and reading past the headers would
    # swallow WebSocket frames; a body that we skip could be a smuggled
    # request, so refuse it outright.
    # Over the lower-cased names themselves: iterating over the headers
    # goes through a Python __iter__ (bench/run.py --callgrind, S4).
    if _BODY_HEADERS.isdisjoint(headers._dict):
        return
    if "Transfer-Encoding" in headers:
        raise InvalidMessage("handshake request has a body (Transfer-Encoding)")
    for value in headers.get_all("Content-Length"):
        if _DIGITS.fullmatch(value) is None or value.strip("0"):
            raise InvalidMessage("handshake request has a body (Content-Length)")


class ResponseParser(_Parser):
    """Incremental parser of handshake responses (client side).

    It reads the body of responses that have one (a rejection may explain
    itself), delimited by ``Content-Length``, by chunked transfer coding, or
    by the end of the connection. Use it as :class:`RequestParser`.

    Args:
        max_line_length: Longest status line, header line or chunk size
            line allowed, CRLF excluded.
        max_num_headers: Largest number of headers (and of trailers) allowed.
        max_body_size: Largest body allowed, in bytes.

    Attributes:
        head_only: Set it to return the response after its headers, with
            ``body`` set to ``None``, and leave any body in the buffer (for
            :func:`websockets_typed.http.read_response`).
    """

    __slots__ = (
        "_body",
        "_reason_phrase",
        "_remaining",
        "_status_code",
        "head_only",
        "max_body_size",
    )

    # Set by ConnectResponseParser.
    _for_connect: bool = False

    def __init__(
        self,
        *,
        max_line_length: int = MAX_LINE_LENGTH,
        max_num_headers: int = MAX_NUM_HEADERS,
        max_body_size: int = MAX_BODY_SIZE,
    ) -> None:
        super().__init__(max_line_length, max_num_headers)
        self.max_body_size: int = max_body_size
        self.head_only: bool = False
        self._status_code = 0
        self._reason_phrase = ""
        self._body = bytearray()
        self._remaining = 0

    def _reset(self) -> None:
        super()._reset()
        self._body = bytearray()
        self._remaining = 0

    def parse(self, buffer: bytearray) -> Response | None:
        """Consume bytes from the front of ``buffer``; return the response once complete.

        Bytes after the response (WebSocket frames after a 101) stay in
        ``buffer``. A body delimited by the end of the connection is only
        complete in :meth:`parse_eof`.

        Returns:
            The response, or ``None`` if more data is needed.

        Raises:
            InvalidMessage: If the response is malformed.
            SecurityError: If a line is too long, or there are too many
                headers, or the body is too large.
        """
        while True:
            stage = self._stage
            if stage is _Stage.START_LINE:
                line = self._read_line(buffer, "HTTP status line", HTTPStatus.BAD_REQUEST)
                if line is None:
                    return None
                self._status_code, self._reason_phrase = _parse_status_line(line, self._for_connect)
                self._stage = _Stage.HEADERS
            elif stage is _Stage.HEADERS:
                if not self._read_fields(buffer, self._headers):
                    return None
                if self.head_only or not self._start_body():
                    return self._finish(None)
            elif stage is _Stage.BODY_LENGTH or stage is _Stage.CHUNK_DATA:
                if not self._read_data(buffer):
                    return None
                if stage is _Stage.BODY_LENGTH:
                    return self._finish(bytes(self._body))
                self._stage = _Stage.CHUNK_END
            elif stage is _Stage.CHUNK_SIZE:
                line = self._read_line(buffer, "chunk size line", HTTPStatus.BAD_REQUEST)
                if line is None:
                    return None
                self._start_chunk(line)
            elif stage is _Stage.CHUNK_END:
                if len(buffer) < 2:
                    if buffer and buffer[0] != _CR:
                        raise InvalidMessage("chunk doesn't end with CRLF")
                    return None
                if not buffer.startswith(b"\r\n"):
                    raise InvalidMessage("chunk doesn't end with CRLF")
                del buffer[:2]
                self._stage = _Stage.CHUNK_SIZE
            elif stage is _Stage.TRAILERS:
                if not self._read_fields(buffer, None):
                    return None
                return self._finish(bytes(self._body))
            else:  # _Stage.BODY_EOF
                if len(self._body) + len(buffer) > self.max_body_size:
                    raise SecurityError(f"body exceeds {self.max_body_size} bytes")
                self._body += buffer
                buffer.clear()
                return None

    def parse_eof(self, buffer: bytearray) -> Response:
        """Handle the end of the connection.

        Returns:
            The response, if the end of the connection completes it: its
            body was delimited by the end of the connection, or ``buffer``
            held the rest of it.

        Raises:
            InvalidMessage: If the connection closed before the end of the
                response, saying what was being read; or any error
                :meth:`parse` raises.
        """
        response = self.parse(buffer)
        if response is not None:
            return response
        stage = self._stage
        if stage is _Stage.BODY_EOF:
            return self._finish(bytes(self._body))
        if stage is _Stage.START_LINE:
            what = "HTTP status line"
        elif stage is _Stage.HEADERS:
            what = "HTTP headers"
        else:
            what = "HTTP body"
        # The cause tells a cut connection from a malformed response.
        raise InvalidMessage(f"connection closed while reading {what}") from EOFError(
            "connection closed"
        )

    def _finish(self, body: bytes | None) -> Response:
        response = Response(self._status_code, self._reason_phrase, self._headers, body)
        self._reset()
        return response

    def _start_body(self) -> bool:
        """Decide how the body is delimited (RFC 7230, 3.3.3); ``False`` if there is none."""
        status_code = self._status_code
        # RFC 7230, 3.3.3, point 1: these responses never have a body,
        # whatever their headers say.
        if status_code < 200 or status_code in (204, 304):
            return False
        # RFC 7231, 4.3.6: a 2xx answer to CONNECT has no body, whatever its
        # headers say; the bytes after it belong to the tunnel.
        if self._for_connect and status_code < 300:
            return False
        headers = self._headers
        transfer_encodings = headers.get_all("Transfer-Encoding")
        content_lengths = headers.get_all("Content-Length")
        if transfer_encodings:
            # RFC 7230, 3.3.3, point 3: both headers is a sign of smuggling.
            if content_lengths:
                raise InvalidMessage("both Transfer-Encoding and Content-Length")
            codings = [
                coding.strip(" \t").lower()
                for value in transfer_encodings
                for coding in value.split(",")
            ]
            # Only chunked is implemented: compressed codings are for
            # content, which a handshake response hardly has.
            if [coding for coding in codings if coding] != ["chunked"]:
                raise InvalidMessage(
                    f"unsupported Transfer-Encoding: {', '.join(transfer_encodings)}"
                )
            self._stage = _Stage.CHUNK_SIZE
        elif content_lengths:
            # RFC 7230, 3.3.2: Content-Length = 1*DIGIT. A list of identical
            # values is tolerated by the RFC; we refuse any ambiguity.
            if len(content_lengths) > 1 or _DIGITS.fullmatch(content_lengths[0]) is None:
                raise InvalidMessage(f"invalid Content-Length: {', '.join(content_lengths)}")
            digits = content_lengths[0].lstrip("0")
            if len(digits) > _MAX_DECIMAL_DIGITS or int(digits or "0") > self.max_body_size:
                raise SecurityError(f"body exceeds {self.max_body_size} bytes")
            self._remaining = int(digits or "0")
            self._stage = _Stage.BODY_LENGTH
        else:
            # RFC 7230, 3.3.3, point 7: the body lasts until the connection closes.
            self._stage = _Stage.BODY_EOF
        return True

    def _start_chunk(self, line: bytes) -> None:
        """Parse ``chunk-size [chunk-ext]`` (RFC 7230, 4.1) and prepare to read the chunk."""
        size_text, _, extensions = line.partition(b";")
        # RFC 7230, 4.1.1: chunk extensions are ignored, but they are still
        # part of a line, so no control characters. BWS may precede ";".
        if _INVALID_VALUE.search(extensions) is not None:
            raise InvalidMessage("invalid chunk extension")
        size_text = size_text.rstrip(b" \t")
        if _HEX_DIGITS.fullmatch(size_text) is None:
            raise InvalidMessage(f"invalid chunk size: {size_text[:80]!r}")
        size_text = size_text.lstrip(b"0")
        if len(size_text) > _MAX_HEX_DIGITS:
            raise SecurityError(f"body exceeds {self.max_body_size} bytes")
        size = int(size_text or b"0", 16)
        if size == 0:
            # RFC 7230, 4.1.2: the last chunk is followed by trailer fields.
            self._num_headers = 0
            self._stage = _Stage.TRAILERS
            return
        if len(self._body) + size > self.max_body_size:
            raise SecurityError(f"body exceeds {self.max_body_size} bytes")
        self._remaining = size
        self._stage = _Stage.CHUNK_DATA

    def _read_data(self, buffer: bytearray) -> bool:
        """Move up to the remaining number of body bytes; ``True`` when all are read."""
        size = min(len(buffer), self._remaining)
        if size:
            self._body += buffer[:size]
            del buffer[:size]
            self._remaining -= size
        return not self._remaining


class ConnectResponseParser(ResponseParser):
    """Incremental parser of a proxy's answer to a ``CONNECT`` request.

    Like :class:`ResponseParser`, except that ``HTTP/1.0`` is accepted (some
    proxies answer with it) and that a 2xx response ends with its headers:
    the tunnel begins right after them (RFC 7231, 4.3.6).
    """

    __slots__ = ()

    _for_connect = True


def _parse_status_line(line: bytes, allow_http10: bool = False) -> tuple[int, str]:
    """Check ``HTTP/1.1 SP 3DIGIT SP reason-phrase``; return the code and reason.

    ``allow_http10`` also accepts ``HTTP/1.0``, which some proxies (e.g.
    tinyproxy) answer ``CONNECT`` with.
    """
    parts = line.split(b" ", 2)
    if len(parts) != 3:
        raise InvalidMessage(f"invalid HTTP status line: {line[:80]!r}")
    version, raw_status_code, raw_reason = parts
    if version != b"HTTP/1.1" and not (allow_http10 and version == b"HTTP/1.0"):
        raise InvalidMessage(f"unsupported HTTP version: {version[:80]!r}")
    if _STATUS_CODE.fullmatch(raw_status_code) is None:
        raise InvalidMessage(f"invalid HTTP status code: {raw_status_code[:80]!r}")
    # RFC 7231, 6: status codes range from 100 to 599.
    status_code = int(raw_status_code)
    if not 100 <= status_code < 600:
        raise InvalidMessage(f"unsupported HTTP status code: {status_code}")
    if _INVALID_VALUE.search(raw_reason) is not None:
        raise InvalidMessage("invalid HTTP reason phrase")
    return status_code, raw_reason.decode("ascii", "surrogateescape")


# Headers that carry secrets (credentials, session cookies): debug logs
# show their names, never their values.
_SECRET_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})


def redact_header(name: str, value: str) -> str:
    """Return what a debug log may show of a header's value: credentials are redacted.

    Internal API, for the protocols' debug logs.
    """
    return "[redacted]" if name.lower() in _SECRET_HEADERS else value

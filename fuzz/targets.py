"""Fuzz targets: one function per parser, taking the fuzzer's bytes.

Each target feeds arbitrary bytes to a parser the network reaches and checks
two things: the parser only raises the exceptions it documents, and what it
accepts survives a round trip (serialize, then parse again). Anything else
is a bug: the fuzzer reports it as a crash.

The targets don't import atheris, so that the test suite replays the seed
corpora and every past crash through them (``tests/tools/test_fuzz.py``);
``fuzz/run.py`` instruments and runs them under atheris.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Final

from websockets_typed.client import ClientProtocol
from websockets_typed.datastructures import Headers
from websockets_typed.exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderFormat,
    InvalidHeaderValue,
    InvalidMessage,
    PayloadTooBig,
    ProtocolError,
    SecurityError,
)
from websockets_typed.extensions.permessage_deflate import (
    PerMessageDeflate,
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)
from websockets_typed.frames import Frame, Opcode, parse_frame, serialize_frame
from websockets_typed.headers import (
    build_extension,
    build_subprotocol,
    parse_authorization_basic,
    parse_connection,
    parse_extension,
    parse_subprotocol,
    parse_upgrade,
)
from websockets_typed.http11 import Request, RequestParser, Response, ResponseParser
from websockets_typed.protocol import CLIENT, SEND_EOF, SERVER, Protocol, State
from websockets_typed.server import ServerProtocol
from websockets_typed.uri import parse_uri

__all__ = ["TARGETS", "fuzz_deflate", "fuzz_frames", "fuzz_headers", "fuzz_http"]


def _chunks(data: bytes, seed: int) -> Iterator[bytes]:
    """Split ``data`` into pieces whose sizes cycle with ``seed``: 1 byte to all at once."""
    if seed == 0:
        yield data
        return
    pos = 0
    size = seed
    while pos < len(data):
        yield data[pos : pos + size]
        pos += size
        size = size * 5 % 257 or 1


def _max_size(byte: int) -> int | None:
    """A message size limit from one byte: none, tiny, or moderate."""
    if byte < 64:
        return None
    return (byte - 64) * 37


def _check_frame_round_trip(frame: Frame, mask: bool) -> None:
    wire = bytearray(b"".join(serialize_frame(frame, mask=mask)))
    again = parse_frame(wire, mask=mask)
    assert again == frame, (frame, again)
    assert not wire


def fuzz_frames(data: bytes) -> None:
    """The frame parser, alone and inside the sans-I/O connection.

    Byte 0 picks the side (bit 0), whether permessage-deflate is active
    (bit 1) and the size limit (bits 2-7); byte 1 how the rest is chunked.
    """
    if len(data) < 2:
        return
    side = CLIENT if data[0] & 1 else SERVER
    max_size = _max_size(data[0] & 0xFC)
    payload = data[2:]

    # 1. parse_frame: only ProtocolError and PayloadTooBig, and round trips.
    mask = side is SERVER
    buffer = bytearray(payload)
    while True:
        size = len(buffer)
        try:
            frame = parse_frame(buffer, mask=mask, max_size=max_size)
        except (ProtocolError, PayloadTooBig):
            break
        if frame is None:
            assert len(buffer) == size  # untouched until a frame is complete
            break
        assert len(buffer) < size
        _check_frame_round_trip(frame, mask)

    # 2. The connection: receive_data never raises, whatever the bytes.
    protocol = Protocol(side, state=State.OPEN, max_size=max_size)
    if data[0] & 2:
        protocol.extensions = [PerMessageDeflate(False, False, 15, 15)]
    eof_sent = False
    for chunk in _chunks(payload, data[1]):
        protocol.receive_data(chunk)
        for event in protocol.events_received():
            assert isinstance(event, Frame)
            if max_size is not None and event.opcode < 8:
                assert len(event.data) <= max_size
        for write in protocol.data_to_send():
            assert not eof_sent, "bytes after the end of the stream"
            eof_sent = write == SEND_EOF
    protocol.receive_eof()
    for write in protocol.data_to_send():
        assert not eof_sent, "bytes after the end of the stream"
        eof_sent = write == SEND_EOF
    assert eof_sent
    assert protocol.state is State.CLOSED
    assert protocol.close_code is not None
    protocol.close_exc  # noqa: B018 (must not raise once CLOSED)


def fuzz_http(data: bytes) -> None:
    """The HTTP/1.1 request and response parsers, and both sides' handshakes.

    Byte 0 picks the parser (bit 0) and small limits (bit 1); byte 1 how
    the rest is chunked. The handshakes negotiate permessage-deflate and
    subprotocols, so that what a peer offers or selects reaches them.
    """
    if len(data) < 2:
        return
    small = bool(data[0] & 2)
    limits = {"max_line_length": 64, "max_num_headers": 4} if small else {}
    payload = data[2:]
    if data[0] & 1:
        _fuzz_response(payload, data[1], small)
        return

    parser = RequestParser(**limits)
    buffer = bytearray()
    try:
        for chunk in _chunks(payload, data[1]):
            buffer += chunk
            request = parser.parse(buffer)
            if request is not None:
                # What the parser accepts serializes and parses back the same.
                again = RequestParser(**limits).parse(bytearray(request.serialize()))
                assert again is not None
                assert again.path == request.path
                assert list(again.headers.raw_items()) == list(request.headers.raw_items())
                break
        else:
            parser.parse_eof(buffer)
    except (InvalidMessage, SecurityError):
        pass

    # The server's opening handshake answers anything with a response, and
    # never with 500, which means an unexpected exception.
    server = ServerProtocol(
        extensions=enable_server_permessage_deflate(None), subprotocols=["chat", "superchat"]
    )
    for chunk in _chunks(payload, data[1]):
        server.receive_data(chunk)
        for event in server.events_received():
            if isinstance(event, Request):
                response = server.accept(event)
                assert 100 <= response.status_code < 500, server.handshake_exc
                server.send_response(response)
            else:
                assert isinstance(event, Frame)
    server.data_to_send()
    server.receive_eof()
    assert server.state is State.CLOSED

    # A server that may take the usual handshake's shortcut answers as one
    # that runs the full checks (see _usual_handshake).
    assert _handshake_answer(ServerProtocol(), payload) == _handshake_answer(_FullChecks(), payload)


class _FullChecks(ServerProtocol):
    """A server whose requests all go through the full checks."""

    __slots__ = ()

    def process_request(self, request: Request) -> tuple[str, str | None, str | None]:
        return super().process_request(request)


def _handshake_answer(server: ServerProtocol, data: bytes) -> tuple[object, ...]:
    """The request a server reads in ``data``, its response's status and headers but Date."""
    server.receive_data(data)
    for event in server.events_received():
        if isinstance(event, Request):
            response = server.accept(event)
            headers = [item for item in response.headers.raw_items() if item[0] != "Date"]
            handshake_exc = server.handshake_exc
            return (
                event.path,
                list(event.headers.raw_items()),
                response.status_code,
                headers,
                response.body,
                None if handshake_exc is None else (type(handshake_exc), str(handshake_exc)),
            )
    return (server.handshake_exc is None,)


def _fuzz_response(payload: bytes, seed: int, small: bool) -> None:
    _fuzz_client_handshake(payload, seed)
    parser = (
        ResponseParser(max_line_length=64, max_num_headers=4, max_body_size=256)
        if small
        else ResponseParser()
    )
    buffer = bytearray()
    response: Response | None = None
    try:
        for chunk in _chunks(payload, seed):
            buffer += chunk
            response = parser.parse(buffer)
            if response is not None:
                break
        else:
            response = parser.parse_eof(buffer)
    except (InvalidMessage, SecurityError):
        return
    assert response is not None
    if small:
        assert response.body is None or len(response.body) <= 256
    # The reason phrase and the headers serialize and parse back the same;
    # as a 101, which has no body whatever the headers say.
    head = Response(101, response.reason_phrase, response.headers)
    again = ResponseParser().parse(bytearray(head.serialize()))
    assert again is not None
    assert again.reason_phrase == head.reason_phrase
    assert list(again.headers.raw_items()) == list(head.headers.raw_items())


# RFC 6455, 1.3: the key of the example handshake, and its accept value.
_KEY: Final = "dGhlIHNhbXBsZSBub25jZQ=="


def _fuzz_client_handshake(payload: bytes, seed: int) -> None:
    """The client's handshake: receive_data() never raises, whatever the server answers."""
    client = ClientProtocol(
        parse_uri("ws://example.com/"),
        extensions=enable_client_permessage_deflate(None),
        subprotocols=["chat", "superchat"],
    )
    # A known key lets the fuzzer find a valid Sec-WebSocket-Accept.
    client.key = _KEY
    client.send_request(client.connect())
    client.data_to_send()
    for chunk in _chunks(payload, seed):
        client.receive_data(chunk)
        for event in client.events_received():
            assert isinstance(event, Response | Frame)
    # handshake_exc is None if and only if the handshake succeeded or isn't over.
    if client.handshake_exc is not None:
        assert isinstance(client.handshake_exc, InvalidHandshake), client.handshake_exc
        assert client.state is State.CONNECTING
    client.receive_eof()
    assert client.state is State.CLOSED


_HEADER_PARSERS: Final[tuple[Callable[[str], object], ...]] = (
    parse_connection,
    parse_upgrade,
    parse_extension,
    parse_subprotocol,
    parse_authorization_basic,
)


def fuzz_headers(data: bytes) -> None:
    """The header grammars: Connection, Upgrade, extensions, subprotocols, Basic auth.

    The bytes are decoded as HTTP parsing decodes header values (ASCII with
    ``surrogateescape``). Each parser raises only :exc:`InvalidHeader`
    subclasses, and extension and subprotocol lists round trip.
    """
    value = data.decode("ascii", "surrogateescape")
    for parse in _HEADER_PARSERS:
        with contextlib.suppress(InvalidHeaderFormat, InvalidHeaderValue):
            parse(value)
    try:
        extensions = parse_extension(value)
    except InvalidHeader:
        pass
    else:
        try:
            built = build_extension(extensions)
        except ValueError:
            # A quoted parameter value that isn't a token cannot be rebuilt
            # without quotes; build_extension refuses rather than corrupt it.
            pass
        else:
            assert parse_extension(built) == extensions
    try:
        subprotocols = parse_subprotocol(value)
    except InvalidHeader:
        pass
    else:
        assert parse_subprotocol(build_subprotocol(subprotocols)) == subprotocols
    # Headers from the parser never hold CR or LF: the grammar is the only guard.
    headers = Headers()
    headers["X"] = value
    assert headers["x"] == value


def fuzz_deflate(data: bytes) -> None:
    """permessage-deflate: inflating arbitrary data, and deflating then inflating.

    Byte 0: no context takeover (bit 0), window bits (bits 1-3, 8 to 15),
    whether the limit is small (bit 4). The rest is a sequence of frames,
    each a flags byte (bit 0 fin, bit 1 RSV1, bit 2 continuation), a length
    byte and the payload.
    """
    if not data:
        return
    no_takeover = bool(data[0] & 1)
    window_bits = 8 + (data[0] >> 1 & 7)
    max_size = 1024 if data[0] & 16 else 2**20

    # 1. Inflating what the peer sent: only ProtocolError and PayloadTooBig,
    # and never more output than the limit allows.
    decoder = PerMessageDeflate(no_takeover, False, window_bits, 15)
    frames = list(_frames(data[1:]))
    received = 0
    try:
        for frame in frames:
            decoded = decoder.decode(frame, max_size=max_size - received)
            assert not decoded.rsv1 or decoded is frame
            if decoded.opcode < 8 and decoded is not frame:
                received += len(decoded.data)
                assert received <= max_size
            if decoded.fin:
                received = 0
    except (ProtocolError, PayloadTooBig):
        pass

    # 2. What we compress, the peer decompresses intact, frame by frame.
    local_bits = max(window_bits, 9)
    encoder = PerMessageDeflate(False, no_takeover, 15, local_bits)
    peer = PerMessageDeflate(no_takeover, False, local_bits, 15)
    in_message = False
    for frame in frames:
        if frame.opcode >= 8:
            continue
        opcode = Opcode.CONT if in_message else Opcode.BINARY
        plain = Frame(opcode, frame.data, fin=frame.fin)
        decoded = peer.decode(encoder.encode(plain))
        assert decoded == plain, (decoded, plain)
        in_message = not frame.fin


def _frames(data: bytes) -> Iterator[Frame]:
    pos = 0
    while pos + 2 <= len(data):
        flags, length = data[pos], data[pos + 1]
        payload = data[pos + 2 : pos + 2 + length]
        pos += 2 + length
        opcode = Opcode.CONT if flags & 4 else Opcode.PING if flags & 8 else Opcode.BINARY
        fin = bool(flags & 1) or opcode is Opcode.PING
        yield Frame(opcode, payload, fin=fin, rsv1=bool(flags & 2))
    if pos < len(data):
        yield Frame(Opcode.TEXT, data[pos:], fin=True, rsv1=True)


TARGETS: Final[dict[str, Callable[[bytes], None]]] = {
    "deflate": fuzz_deflate,
    "frames": fuzz_frames,
    "headers": fuzz_headers,
    "http": fuzz_http,
}
"""Every fuzz target, by the name ``scripts/fuzz`` takes."""

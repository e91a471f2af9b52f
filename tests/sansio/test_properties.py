"""Properties of the sans-I/O connection, checked with hypothesis.

(a) Whatever bytes arrive, in whatever chunks, the connection never raises,
    never leaves the state machine, always ends CLOSED, and never writes
    after the end of the stream.
(b) Valid messages sent through permessage-deflate arrive intact, frame by
    frame.
"""

from __future__ import annotations

import itertools
import zlib
from typing import Literal, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protocol_helpers import KEY, handshake_request, handshake_response

from websockets_typed.client import ClientProtocol
from websockets_typed.datastructures import Headers
from websockets_typed.exceptions import ConnectionClosed
from websockets_typed.extensions.base import ClientExtensionFactory, ServerExtensionFactory
from websockets_typed.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets_typed.frames import Frame, Opcode, apply_mask
from websockets_typed.http11 import Request, Response
from websockets_typed.protocol import SEND_EOF, Protocol, State
from websockets_typed.server import ServerProtocol
from websockets_typed.uri import parse_uri

URI = parse_uri("ws://example.com/")

# (a) Robustness against arbitrary input.

Kind = Literal["server-connecting", "server-open", "client-connecting", "client-open"]
KINDS: list[Kind] = ["server-connecting", "server-open", "client-connecting", "client-open"]

# Every defined opcode, and reserved ones (RFC 6455, 5.2).
OPCODES = [0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xA, 0xB, 0xF]
CLOSE_CODES = [1000, 1001, 1002, 1004, 1005, 1006, 1011, 1015, 999, 2999, 4000, 5000]


def deflate(data: bytes) -> bytes:
    """Compress ``data`` as one permessage-deflate message (RFC 7692, 7.2.1)."""
    compressor = zlib.compressobj(wbits=-15)
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


@st.composite
def frames(draw: st.DrawFn, *, mask: bool) -> bytes:
    """The bytes of a frame, valid or not: any opcode, bits, payload and masking."""
    opcode = draw(st.sampled_from(OPCODES))
    fin, rsv1, rsv2, rsv3 = (draw(st.booleans()) for _ in range(4))
    payload_kind = draw(st.sampled_from(["binary", "text", "compressed", "close"]))
    if payload_kind == "binary":
        payload = draw(st.binary(max_size=300))
    elif payload_kind == "text":
        payload = draw(st.text(max_size=40)).encode()
    elif payload_kind == "compressed":
        payload = deflate(draw(st.binary(max_size=200) | st.text(max_size=40).map(str.encode)))
    else:
        code = draw(st.sampled_from(CLOSE_CODES))
        payload = code.to_bytes(2, "big") + draw(st.binary(max_size=10))
    head1 = fin << 7 | rsv1 << 6 | rsv2 << 5 | rsv3 << 4 | opcode
    length = len(payload)
    # Masked the wrong way once in a while (RFC 6455, 5.1).
    masked = mask if draw(st.integers(0, 9)) else not mask
    mask_bit = 0x80 if masked else 0
    if length < 126:
        header = bytes([head1, mask_bit | length])
    else:  # The payloads drawn here are shorter than 65536 bytes.
        header = bytes([head1, mask_bit | 126]) + length.to_bytes(2, "big")
    if draw(st.integers(0, 19)) == 0:
        # A header announcing a huge payload, that never comes (RFC 6455,
        # 5.2: 64-bit lengths, most significant bit 0, or not).
        huge = draw(st.integers(0, 2**64 - 1)).to_bytes(8, "big")
        return bytes([head1, mask_bit | 127]) + huge
    if masked:
        key = draw(st.binary(min_size=4, max_size=4))
        return header + key + apply_mask(payload, key)
    return header + payload


SERVER_HEADERS = [
    "Host",
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Extensions",
    "Sec-WebSocket-Protocol",
    "Origin",
    "Content-Length",
]
CLIENT_HEADERS = [
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Accept",
    "Sec-WebSocket-Extensions",
    "Sec-WebSocket-Protocol",
    "Content-Length",
    "Transfer-Encoding",
]
HEADER_VALUES = [
    "websocket",
    "Upgrade",
    "13",
    "dGhlIHNhbXBsZSBub25jZQ==",
    "permessage-deflate",
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; server_max_window_bits=8",
    "chat",
    "chat, superchat",
    "https://example.com",
    "chunked",
    "5",
    "",
]


def header_values(values: list[str]) -> st.SearchStrategy[bytes]:
    """Header values, plausible or not: any byte but CR and LF."""
    return st.sampled_from(values).map(str.encode) | st.binary(max_size=30).map(
        lambda data: data.replace(b"\r", b"").replace(b"\n", b"")
    )


@st.composite
def header_lines(draw: st.DrawFn, base: Headers, names: list[str], values: list[str]) -> bytes:
    """The header lines of ``base``, with a few dropped, changed or added."""
    lines = [(name.encode(), value.encode()) for name, value in base.raw_items()]
    for _ in range(draw(st.integers(0, 3))):
        operation = draw(st.sampled_from(["drop", "change", "add"]))
        if operation == "add" or not lines:
            name = draw(st.sampled_from(names)).encode()
            lines.insert(draw(st.integers(0, len(lines))), (name, draw(header_values(values))))
        elif operation == "drop":
            del lines[draw(st.integers(0, len(lines) - 1))]
        else:
            index = draw(st.integers(0, len(lines) - 1))
            lines[index] = (lines[index][0], draw(header_values(values)))
    return b"".join(name + b": " + value + b"\r\n" for name, value in lines) + b"\r\n"


class Target(NamedTuple):
    """A connection under test, and the bytes that bring it to an interesting state."""

    protocol: Protocol
    prefix: bytes


@st.composite
def targets(draw: st.DrawFn, kind: Kind, with_deflate: bool) -> Target:
    """A connection of ``kind``, with permessage-deflate negotiated or not."""
    max_size = draw(st.sampled_from([None, 2**20, 100]))
    prefix = b""
    protocol: Protocol
    if kind == "server-connecting":
        server_extensions: list[ServerExtensionFactory] = (
            [ServerPerMessageDeflateFactory()] if with_deflate else []
        )
        subprotocols = draw(st.sampled_from([None, ["chat"]]))
        protocol = ServerProtocol(
            extensions=server_extensions, subprotocols=subprotocols, max_size=max_size
        )
        extra = [("Sec-WebSocket-Extensions", "permessage-deflate")] if with_deflate else []
        extra += [("Sec-WebSocket-Protocol", "chat")]
        request = handshake_request(*extra)
        prefix = draw(
            st.sampled_from([b"", request.serialize()])
            | header_lines(request.headers, SERVER_HEADERS, HEADER_VALUES).map(
                lambda lines: b"GET / HTTP/1.1\r\n" + lines
            )
        )
    elif kind == "client-connecting":
        client_extensions: list[ClientExtensionFactory] = (
            [ClientPerMessageDeflateFactory()] if with_deflate else []
        )
        client = ClientProtocol(
            URI, extensions=client_extensions, subprotocols=["chat"], max_size=max_size
        )
        # A fixed key keeps the examples reproducible.
        client.key = KEY
        client.send_request(client.connect())
        client.data_to_send()
        protocol = client
        extra = [("Sec-WebSocket-Extensions", "permessage-deflate")] if with_deflate else []
        extra += [("Sec-WebSocket-Protocol", "chat")]
        response = handshake_response(*extra, key=client.key)
        status = draw(st.sampled_from([b"101", b"200", b"403", b"302", b"500"]))
        prefix = draw(
            st.sampled_from([b"", response.serialize()])
            | header_lines(response.headers, CLIENT_HEADERS, HEADER_VALUES).map(
                lambda lines: b"HTTP/1.1 " + status + b" Reason\r\n" + lines
            )
        )
    else:
        if kind == "server-open":
            protocol = ServerProtocol(state=State.OPEN, max_size=max_size)
        else:
            protocol = ClientProtocol(URI, state=State.OPEN, max_size=max_size)
        if with_deflate:
            protocol.extensions = [
                PerMessageDeflate(
                    draw(st.booleans()),
                    draw(st.booleans()),
                    draw(st.integers(8, 15)),
                    draw(st.integers(9, 15)),
                )
            ]
    return Target(protocol, prefix)


def stopped_reading(protocol: Protocol) -> bool:
    """Whether ``protocol`` must ignore whatever it receives from now on."""
    return (
        protocol.handshake_exc is not None
        or protocol.parser_exc is not None
        or protocol.close_rcvd is not None
    )


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """Split ``data`` at the positions in ``cuts``."""
    bounds = [0, *sorted(cuts), len(data)]
    return [data[start:end] for start, end in itertools.pairwise(bounds)]


def process_events(protocol: Protocol) -> list[object]:
    """Return the events received, answering a handshake request as a server application does."""
    events: list[object] = []
    while batch := protocol.events_received():
        for event in batch:
            assert isinstance(event, Request | Response | Frame)
            if isinstance(event, Request):
                # accept() rejects what it must. Frames that arrived with the
                # request are parsed once the response is sent: fetch them.
                assert isinstance(protocol, ServerProtocol)
                protocol.send_response(protocol.accept(event))
        events += batch
    return events


def feed(protocol: Protocol, chunks: list[bytes]) -> list[bytes]:
    """Feed ``chunks`` then the end of the stream, checking invariants; return the writes."""
    writes: list[bytes] = []
    for chunk in chunks:
        stopped = stopped_reading(protocol)
        # No exception: receive_data() only raises after receive_eof().
        protocol.receive_data(chunk)
        events = process_events(protocol)
        new_writes = protocol.data_to_send()
        if stopped:
            # After failing or receiving a Close frame: nothing at all.
            assert events == []
            assert new_writes == []
        assert isinstance(protocol.state, State)
        writes += new_writes

    protocol.receive_eof()
    for event in protocol.events_received():
        # A response whose body ended with the stream.
        assert isinstance(event, Response)
    writes += protocol.data_to_send()
    assert protocol.state is State.CLOSED
    assert isinstance(protocol.close_code, int)
    assert isinstance(protocol.close_reason, str)
    assert isinstance(protocol.close_exc, ConnectionClosed)
    return writes


def check_robustness(target: Target, stream: bytes, cuts: list[int]) -> None:
    protocol = target.protocol
    writes = feed(protocol, split(target.prefix + stream, cuts))
    # The end of the stream is written exactly once, last.
    assert all(isinstance(data, bytes) for data in writes)
    assert writes.count(SEND_EOF) == 1
    assert writes[-1] == SEND_EOF
    # Everything is documented: receiving after the end raises EOFError.
    try:
        protocol.receive_data(b"x")
    except EOFError:
        pass
    else:  # pragma: no cover - would be a bug
        raise AssertionError("receive_data() after receive_eof() must raise EOFError")
    assert protocol.data_to_send() == []


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), with_deflate=st.booleans())
@pytest.mark.parametrize("kind", KINDS)
def test_arbitrary_input(data: st.DataObject, kind: Kind, with_deflate: bool) -> None:
    target = data.draw(targets(kind, with_deflate))
    mask = kind.startswith("server")
    pieces = data.draw(st.lists(st.binary(max_size=40) | frames(mask=mask), max_size=8))
    stream = b"".join(pieces)
    total = len(target.prefix) + len(stream)
    cuts = data.draw(st.lists(st.integers(0, total), max_size=10))
    check_robustness(target, stream, cuts)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), with_deflate=st.booleans(), stream=st.binary(max_size=500))
@pytest.mark.parametrize("kind", KINDS)
def test_random_bytes(data: st.DataObject, kind: Kind, with_deflate: bool, stream: bytes) -> None:
    target = data.draw(targets(kind, with_deflate))
    total = len(target.prefix) + len(stream)
    cuts = data.draw(st.lists(st.integers(0, total), max_size=10))
    check_robustness(target, stream, cuts)


# (b) Valid messages through permessage-deflate, between our client and server.


class Sent(NamedTuple):
    """A frame to send: what ``send_*()`` gets, and what the peer must receive."""

    opcode: Opcode
    data: bytes
    fin: bool


@st.composite
def message_frames(draw: st.DrawFn) -> list[Sent]:
    """Messages, some fragmented, with pings between and inside them."""
    frames: list[Sent] = []
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.booleans()):
            opcode = Opcode.TEXT
            # Splitting at any byte: fragments may cut characters in two.
            payload = draw(st.text(max_size=200)).encode()
        else:
            opcode = Opcode.BINARY
            payload = draw(
                st.binary(max_size=300) | st.binary(max_size=5).map(lambda data: data * 200)
            )
        cuts = draw(st.lists(st.integers(0, len(payload)), max_size=4))
        fragments = split(payload, cuts)
        for index, fragment in enumerate(fragments):
            fin = index == len(fragments) - 1
            frames.append(Sent(opcode if index == 0 else Opcode.CONT, fragment, fin))
            if draw(st.integers(0, 3)) == 0:
                frames.append(Sent(Opcode.PING, draw(st.binary(max_size=125)), True))
    return frames


DEFLATE_OPTIONS: list[tuple[ClientPerMessageDeflateFactory, ServerPerMessageDeflateFactory]] = [
    (ClientPerMessageDeflateFactory(), ServerPerMessageDeflateFactory()),
    (
        ClientPerMessageDeflateFactory(client_no_context_takeover=True),
        ServerPerMessageDeflateFactory(server_no_context_takeover=True),
    ),
    (
        ClientPerMessageDeflateFactory(server_max_window_bits=9, client_max_window_bits=9),
        ServerPerMessageDeflateFactory(),
    ),
    (
        ClientPerMessageDeflateFactory(compress_settings={"level": 9, "memLevel": 1}),
        ServerPerMessageDeflateFactory(client_max_window_bits=10, compress_settings={"level": 0}),
    ),
]


def pump(client: Protocol, server: Protocol) -> tuple[list[Frame], list[Frame]]:
    """Move bytes both ways until both are quiet; return the frames each side received."""
    received: tuple[list[Frame], list[Frame]] = ([], [])
    moved = True
    while moved:
        moved = False
        for source, target, frames in (
            (client, server, received[1]),
            (server, client, received[0]),
        ):
            for data in source.data_to_send():
                moved = True
                assert data != SEND_EOF
                target.receive_data(data)
            for event in process_events(target):
                if isinstance(event, Frame):
                    frames.append(event)
    return received


def send(protocol: Protocol, frame: Sent) -> None:
    """Send ``frame`` with the matching ``send_*()`` method."""
    if frame.opcode is Opcode.TEXT:
        protocol.send_text(frame.data, frame.fin)
    elif frame.opcode is Opcode.BINARY:
        protocol.send_binary(frame.data, frame.fin)
    elif frame.opcode is Opcode.CONT:
        protocol.send_continuation(frame.data, frame.fin)
    else:
        protocol.send_ping(frame.data)


@settings(max_examples=150, deadline=None)
@given(
    frames=message_frames(),
    factories=st.sampled_from(DEFLATE_OPTIONS),
)
def test_messages_arrive_intact(
    frames: list[Sent],
    factories: tuple[ClientPerMessageDeflateFactory, ServerPerMessageDeflateFactory],
) -> None:
    client = ClientProtocol(URI, extensions=[factories[0]], max_size=None)
    server = ServerProtocol(extensions=[factories[1]], max_size=None)
    client.send_request(client.connect())
    pump(client, server)
    assert client.state is server.state is State.OPEN
    assert [type(extension) for extension in client.extensions] == [PerMessageDeflate]
    assert [type(extension) for extension in server.extensions] == [PerMessageDeflate]

    expected = [Frame(frame.opcode, frame.data, frame.fin) for frame in frames]
    pings = [frame.data for frame in frames if frame.opcode is Opcode.PING]
    for sender, receiver_index in ((client, 1), (server, 0)):
        for frame in frames:
            send(sender, frame)
        received = pump(client, server)
        # Each frame arrives as it was sent, decompressed, RSV1 cleared.
        assert received[receiver_index] == expected
        # Each ping gets its pong, in order (RFC 6455, 5.5.2).
        assert received[1 - receiver_index] == [Frame(Opcode.PONG, data) for data in pings]

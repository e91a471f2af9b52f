"""The raw peer of the test suite: WebSocket and HTTP by hand, independent of websockets_typed.

Every test that speaks WebSocket or HTTP over a socket without the package
does it with this module: :func:`open_raw_client` and :class:`RawServer` for
handshakes and frames, :func:`http_exchange` and :func:`parse_response` for
plain HTTP, :func:`open_stream` for bytes that no helper builds.

The misbehaving peer must not share code with the implementation it tests:
a bug in the package's frame writer or parser would otherwise hide the same
bug in its receiver. So frames are built and parsed here with :mod:`struct`
and an integer XOR, the opening handshake is written and read by hand with a
fixed key, and permessage-deflate is done with :mod:`zlib` directly.

:class:`RawPeer` is one end of a connection: a client when the package's
server is under test (it masks what it sends, RFC 6455, 5.3), a server when
the package's client is under test (it masks nothing). Its ``expect_*``
methods read what the implementation under test sends and assert it.
:func:`open_peer` connects one to an echo endpoint of the package, either
side, so that most tests run unchanged against the server and the client.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import socket
import struct
import zlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from websockets_typed.asyncio.client import connect
from websockets_typed.asyncio.connection import Connection
from websockets_typed.asyncio.server import ServerConnection, serve
from websockets_typed.exceptions import ConnectionClosed
from websockets_typed.extensions.base import ClientExtensionFactory, ServerExtensionFactory

__all__ = [
    "INVALID_CLOSE_CODES",
    "INVALID_UTF8",
    "LINGER",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "SIDES",
    "TIMEOUT",
    "VALID_CLOSE_CODES",
    "VALID_UTF8",
    "Deflate256",
    "RawDeflate",
    "RawFrame",
    "RawPeer",
    "RawResponse",
    "RawServer",
    "Respond",
    "Side",
    "blocking_http_exchange",
    "build_frame",
    "close_payload",
    "close_stream",
    "far_repeats",
    "first_invalid_utf8_byte",
    "handshake_request",
    "http_exchange",
    "http_request",
    "open_peer",
    "open_raw_client",
    "open_stream",
    "parse_deflate_response",
    "parse_response",
    "raw_stream",
]

# Opcodes (RFC 6455, 5.2), as plain integers: the raw peer also sends the
# reserved ones, which the package's Opcode enum cannot represent.
OP_CONT: Final = 0x0
"""Continuation frame."""
OP_TEXT: Final = 0x1
"""Text frame."""
OP_BINARY: Final = 0x2
"""Binary frame."""
OP_CLOSE: Final = 0x8
"""Close frame."""
OP_PING: Final = 0x9
"""Ping frame."""
OP_PONG: Final = 0xA
"""Pong frame."""

TIMEOUT: Final = 2.0
"""Seconds to wait for anything the implementation under test must send."""

LINGER: Final = 0.05
"""Seconds during which a client must *not* close the TCP connection: the
server closes it first (RFC 6455, 7.1.1). Far below the clients' close_timeout."""

_CLIENT_KEY: Final = "dGhlIHNhbXBsZSBub25jZQ=="
"""The Sec-WebSocket-Key of the example handshake (RFC 6455, 1.3)."""
_CLIENT_ACCEPT: Final = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
"""The Sec-WebSocket-Accept answering :data:`_CLIENT_KEY`, as printed in RFC 6455, 1.3."""

_GUID: Final = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_SYNC_TAIL: Final = b"\x00\x00\xff\xff"
# Output per call when inflating: smaller than the margin of far_repeats().
_INFLATE_STEP: Final = 256


def _accept_for(key: str) -> str:
    """Compute Sec-WebSocket-Accept for ``key`` (RFC 6455, 4.2.2, step 5.4)."""
    return base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()


# Frames.


def _xor_mask(data: bytes, key: bytes) -> bytes:
    """Mask or unmask ``data`` with the 4-byte ``key`` (RFC 6455, 5.3), as one big-integer XOR."""
    size = len(data)
    if size == 0:
        return b""
    repeated = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(size, "big")


def build_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask_key: bytes | None = None,
    length_bytes: Literal[0, 2, 8] | None = None,
    length_field: int | None = None,
) -> bytes:
    """Build a frame on the wire, valid or not (RFC 6455, 5.2).

    Args:
        opcode: Any value from 0 to 15, reserved ones included.
        payload: The payload, unmasked.
        fin: The FIN bit.
        rsv1: The RSV1 bit.
        rsv2: The RSV2 bit.
        rsv3: The RSV3 bit.
        mask_key: Mask the payload with these 4 bytes; ``None`` sends it unmasked.
        length_bytes: Size of the extended length (0, 2 or 8 bytes); ``None``
            picks the minimal one. Larger than needed makes a non-minimal encoding.
        length_field: Value written in the length field instead of the real
            length, to lie about it.
    """
    length = len(payload) if length_field is None else length_field
    if length_bytes is None:
        length_bytes = 0 if length < 126 else 2 if length < 65536 else 8
    head1 = (fin << 7) | (rsv1 << 6) | (rsv2 << 5) | (rsv3 << 4) | opcode
    mask_bit = 0x80 if mask_key is not None else 0
    if length_bytes == 0:
        header = struct.pack("!BB", head1, mask_bit | length)
    elif length_bytes == 2:
        header = struct.pack("!BBH", head1, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", head1, mask_bit | 127, length)
    if mask_key is None:
        return header + payload
    return header + mask_key + _xor_mask(payload, mask_key)


@dataclass(frozen=True)
class RawFrame:
    """A frame as read from the wire, unmasked."""

    opcode: int
    payload: bytes
    fin: bool
    rsv1: bool
    rsv2: bool
    rsv3: bool
    masked: bool


async def _read_frame(reader: asyncio.StreamReader) -> RawFrame:
    """Read one frame; raise :exc:`asyncio.IncompleteReadError` at EOF."""
    head1, head2 = struct.unpack("!BB", await reader.readexactly(2))
    length = head2 & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
    masked = bool(head2 & 0x80)
    key = await reader.readexactly(4) if masked else b""
    payload = await reader.readexactly(length)
    if masked:
        payload = _xor_mask(payload, key)
    return RawFrame(
        opcode=head1 & 0x0F,
        payload=payload,
        fin=bool(head1 & 0x80),
        rsv1=bool(head1 & 0x40),
        rsv2=bool(head1 & 0x20),
        rsv3=bool(head1 & 0x10),
        masked=masked,
    )


def close_payload(code: int, reason: bytes = b"") -> bytes:
    """The payload of a Close frame: a 2-byte code and a reason (RFC 6455, 5.5.1)."""
    return struct.pack("!H", code) + reason


# Close codes (RFC 6455, 7.4 and the IANA registry).

VALID_CLOSE_CODES: Final = (*range(1000, 1004), *range(1007, 1015), 3000, 3999, 4000, 4999)
"""Codes that may be sent on the wire; a peer receiving one echoes it."""

INVALID_CLOSE_CODES: Final = (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535)
"""Codes never sent on the wire (reserved, internal, undefined): receiving one fails with 1002."""


# UTF-8 (RFC 3629, section 4; The Unicode Standard, Table 3-7).

VALID_UTF8: Final[Sequence[tuple[str, bytes]]] = (
    ("greek", "κόσμε".encode()),
    ("mixed", "Hello-µ@ßöäüàá-UTF-8!!".encode()),
    ("first-1-byte", b"\x00"),
    ("first-2-byte", b"\xc2\x80"),
    ("first-3-byte", b"\xe0\xa0\x80"),
    ("first-4-byte", b"\xf0\x90\x80\x80"),
    ("last-1-byte", b"\x7f"),
    ("last-2-byte", b"\xdf\xbf"),
    ("last-3-byte", b"\xef\xbf\xbf"),
    ("last-4-byte", b"\xf4\x8f\xbf\xbf"),
    ("before-surrogates", b"\xed\x9f\xbf"),
    ("after-surrogates", b"\xee\x80\x80"),
    ("replacement-character", b"\xef\xbf\xbd"),
    ("noncharacter-fffe", b"\xef\xbf\xbe"),
    ("noncharacter-fdd0", b"\xef\xb7\x90"),
    ("noncharacter-fdef", b"\xef\xb7\xaf"),
    ("noncharacter-1fffe", b"\xf0\x9f\xbf\xbe"),
    ("noncharacter-10fffe", b"\xf4\x8f\xbf\xbe"),
    ("emoji", "a😀b".encode()),
    ("cjk", "漢字テキスト".encode()),
)
"""Valid UTF-8 texts, with a name for test ids. Noncharacters are valid UTF-8."""

INVALID_UTF8: Final[Sequence[tuple[str, bytes]]] = (
    ("lone-continuation-80", b"\x80"),
    ("lone-continuation-bf", b"\xbf"),
    ("continuations", b"a\x80\xbf\x80b"),
    ("lonely-start-c2", b"\xc2 "),
    ("lonely-start-e0", b"\xe0 "),
    ("truncated-2-byte", b"ab\xc2"),
    ("truncated-3-byte", b"ab\xe0\xa0"),
    ("truncated-4-byte", b"ab\xf0\x90\x80"),
    ("overlong-slash-2", b"\xc0\xaf"),
    ("overlong-slash-3", b"\xe0\x80\xaf"),
    ("overlong-slash-4", b"\xf0\x80\x80\xaf"),
    ("overlong-max-2", b"\xc1\xbf"),
    ("overlong-max-3", b"\xe0\x9f\xbf"),
    ("overlong-max-4", b"\xf0\x8f\xbf\xbf"),
    ("five-byte", b"\xf8\x88\x80\x80\x80"),
    ("six-byte", b"\xfc\x84\x80\x80\x80\x80"),
    ("surrogate-d800", b"\xed\xa0\x80"),
    ("surrogate-db7f", b"\xed\xad\xbf"),
    ("surrogate-dc00", b"\xed\xb0\x80"),
    ("surrogate-dfff", b"\xed\xbf\xbf"),
    ("surrogate-pair", b"\xed\xa0\x80\xed\xb0\x80"),
    ("above-10ffff", b"\xf4\x90\x80\x80"),
    ("start-f5", b"\xf5\x80\x80\x80"),
    ("start-f7", b"\xf7\xbf\xbf\xbf"),
    ("byte-fe", b"\xfe"),
    ("byte-ff", b"\xff"),
    ("kosme-then-surrogate", "κόσμε".encode() + b"\xed\xa0\x80edited"),
)
"""Invalid UTF-8 byte sequences, with a name for test ids."""


def first_invalid_utf8_byte(data: bytes) -> int | None:
    """Return the index of the first byte that makes ``data`` invalid UTF-8.

    That is the first byte that no continuation can make valid, so a
    "fail fast" receiver must fail as soon as it has it. ``None`` means that
    ``data`` is valid or a truncated prefix of valid UTF-8. Written from the
    table of well-formed sequences, not with Python's codec.
    """
    index = 0
    size = len(data)
    while index < size:
        lead = data[index]
        if lead < 0x80:
            index += 1
            continue
        # The allowed range of the second byte and the number of continuation bytes.
        if 0xC2 <= lead <= 0xDF:
            second, count = (0x80, 0xBF), 1
        elif lead == 0xE0:
            second, count = (0xA0, 0xBF), 2
        elif lead == 0xED:
            second, count = (0x80, 0x9F), 2
        elif 0xE1 <= lead <= 0xEF:
            second, count = (0x80, 0xBF), 2
        elif lead == 0xF0:
            second, count = (0x90, 0xBF), 3
        elif 0xF1 <= lead <= 0xF3:
            second, count = (0x80, 0xBF), 3
        elif lead == 0xF4:
            second, count = (0x80, 0x8F), 3
        else:
            return index
        for offset in range(1, count + 1):
            position = index + offset
            if position >= size:
                return None
            low, high = second if offset == 1 else (0x80, 0xBF)
            if not low <= data[position] <= high:
                return position
        index += count + 1
    return None


def far_repeats(window_bits: int) -> bytes:
    """Data whose only redundancy lies further back than a ``window_bits`` window.

    A compressor limited to that window cannot shorten it; one that uses a
    larger window references the second copy to the first, and a
    decompressor limited to the window then fails ("invalid distance too far
    back"). Decompressing with exactly the negotiated window therefore checks
    that the peer respected it (RFC 7692, 7.1.2).
    """
    # Pseudo-random, hence incompressible on its own, and longer than the window.
    chunk = hashlib.shake_256(b"far repeats %d" % window_bits).digest((1 << window_bits) + 500)
    return chunk + chunk


# permessage-deflate (RFC 7692).


@dataclass(frozen=True)
class _DeflateParams:
    """Parameters of a permessage-deflate response (RFC 7692, 7.1)."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | None = None

    def header(self) -> str:
        """The value of a Sec-WebSocket-Extensions header with these parameters."""
        parts = ["permessage-deflate"]
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        if self.server_max_window_bits is not None:
            parts.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.client_max_window_bits is not None:
            parts.append(f"client_max_window_bits={self.client_max_window_bits}")
        return "; ".join(parts)


def parse_deflate_response(value: str) -> _DeflateParams:
    """Parse a Sec-WebSocket-Extensions header holding one permessage-deflate response.

    Raises:
        AssertionError: If it holds something else.
    """
    name, *params = (part.strip() for part in value.split(";"))
    assert name == "permessage-deflate", value
    found: dict[str, str | None] = {}
    for param in params:
        key, _, bits = param.partition("=")
        assert key not in found, value
        found[key] = bits or None
    assert set(found) <= {
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
    }, value
    server_bits = found.get("server_max_window_bits")
    client_bits = found.get("client_max_window_bits")
    return _DeflateParams(
        server_no_context_takeover="server_no_context_takeover" in found,
        client_no_context_takeover="client_no_context_takeover" in found,
        server_max_window_bits=None if server_bits is None else int(server_bits),
        client_max_window_bits=None if client_bits is None else int(client_bits),
    )


# Deflate with a 256-byte window (RFC 1951), which zlib cannot compress with.

# Length codes 257 to 285: (first length, extra bits); RFC 1951, 3.2.5.
_LENGTH_CODES: Final = (
    *((3 + index, 0) for index in range(8)),
    *((11 + 2 * index, 1) for index in range(4)),
    *((19 + 4 * index, 2) for index in range(4)),
    *((35 + 8 * index, 3) for index in range(4)),
    *((67 + 16 * index, 4) for index in range(4)),
    *((131 + 32 * index, 5) for index in range(4)),
    (258, 0),
)
# Distance codes 0 to 15, enough for distances up to 256.
_DISTANCE_CODES: Final = (
    (1, 0), (2, 0), (3, 0), (4, 0), (5, 1), (7, 1), (9, 2), (13, 2),
    (17, 3), (25, 3), (33, 4), (49, 4), (65, 5), (97, 5), (129, 6), (193, 6),
)  # fmt: skip


class _Bits:
    """A deflate bit stream: bits fill each byte from its least significant bit."""

    def __init__(self) -> None:
        self.value = 0
        self.size = 0

    def add(self, value: int, size: int) -> None:
        """Append ``size`` bits of ``value``, least significant first (fields, extra bits)."""
        self.value |= value << self.size
        self.size += size

    def add_code(self, code: int, size: int) -> None:
        """Append a Huffman code, most significant bit first (RFC 1951, 3.1.1)."""
        self.add(int(f"{code:0{size}b}"[::-1], 2), size)

    def to_bytes(self) -> bytes:
        """The stream so far, padded with zero bits to a whole byte."""
        return self.value.to_bytes((self.size + 7) // 8, "little")


def _add_symbol(bits: _Bits, symbol: int) -> None:
    """Append a literal/length symbol with the fixed Huffman codes (RFC 1951, 3.2.6)."""
    if symbol < 144:
        bits.add_code(0x30 + symbol, 8)
    elif symbol < 256:
        bits.add_code(0x190 + symbol - 144, 9)
    elif symbol < 280:
        bits.add_code(symbol - 256, 7)
    else:
        bits.add_code(0xC0 + symbol - 280, 8)


def _add_match(bits: _Bits, length: int, distance: int) -> None:
    for index in range(len(_LENGTH_CODES) - 1, -1, -1):
        base, extra = _LENGTH_CODES[index]
        if base <= length:
            _add_symbol(bits, 257 + index)
            bits.add(length - base, extra)
            break
    for index in range(len(_DISTANCE_CODES) - 1, -1, -1):
        base, extra = _DISTANCE_CODES[index]
        if base <= distance:
            bits.add_code(index, 5)
            bits.add(distance - base, extra)
            break


class Deflate256:
    """A raw deflate compressor with a 256-byte window: RFC 7692's 8 window bits.

    zlib refuses to compress with fewer than 9 bits, so this writes fixed
    Huffman blocks by hand, with a greedy search for the longest match at a
    distance of at most 256 bytes, across messages unless ``no_context``.
    Distances reach exactly 256, the limit that an 8-bit window allows.
    """

    WINDOW: Final = 256

    def __init__(self) -> None:
        self._history = b""

    def reset(self) -> None:
        """Forget the window: the next message starts with an empty one."""
        self._history = b""

    def compress_sync(self, data: bytes) -> bytes:
        """Compress ``data`` into a fixed block followed by a sync flush (an empty stored block)."""
        bits = _Bits()
        bits.add(0, 1)  # BFINAL
        bits.add(1, 2)  # BTYPE 01: fixed Huffman codes
        stream = self._history + data
        position = len(self._history)
        while position < len(stream):
            length, distance = self._longest_match(stream, position)
            if length >= 3:
                _add_match(bits, length, distance)
                position += length
            else:
                _add_symbol(bits, stream[position])
                position += 1
        _add_symbol(bits, 256)  # end of block
        bits.add(0, 3)  # BFINAL 0, BTYPE 00: stored, then LEN and NLEN, byte-aligned
        self._history = stream[-self.WINDOW :]
        return bits.to_bytes() + _SYNC_TAIL

    def _longest_match(self, stream: bytes, position: int) -> tuple[int, int]:
        best_length, best_distance = 0, 0
        limit = min(258, len(stream) - position)
        for distance in range(1, min(self.WINDOW, position) + 1):
            start = position - distance
            length = 0
            while length < limit and stream[start + length] == stream[position + length]:
                length += 1
            if length > best_length:
                best_length, best_distance = length, distance
                if length == limit:
                    break
        return best_length, best_distance


class RawDeflate:
    """permessage-deflate as the raw peer does it, with zlib (RFC 7692, 7.2).

    Args:
        compress_bits: Window of our compressor, 8 to 15; 8 uses
            :class:`Deflate256`, since zlib cannot.
        compress_no_context: Start each outgoing message with an empty window.
        decompress_bits: Window of our decompressor, 8 to 15: exactly what the
            peer may use, so that a peer using more fails decompression.
        decompress_no_context: The peer starts each message with an empty window.
    """

    def __init__(
        self,
        *,
        compress_bits: int = 15,
        compress_no_context: bool = False,
        decompress_bits: int = 15,
        decompress_no_context: bool = False,
    ) -> None:
        self.compress_bits = compress_bits
        self.compress_no_context = compress_no_context
        self.decompress_bits = decompress_bits
        self.decompress_no_context = decompress_no_context
        self._deflate256 = Deflate256()
        self._compressor = self._new_compressor()
        self._decompressor = zlib.decompressobj(wbits=-decompress_bits)

    def _new_compressor(self) -> zlib._Compress | None:
        if self.compress_bits == 8:
            self._deflate256.reset()
            return None
        return zlib.compressobj(wbits=-self.compress_bits)

    def _compress_sync(self, data: bytes) -> bytes:
        if self._compressor is None:
            return self._deflate256.compress_sync(data)
        return self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)

    def compress(self, fragments: Sequence[bytes]) -> list[bytes]:
        """Compress a message given as fragments into one payload per frame.

        Each fragment ends with a sync flush, so that the peer can inflate
        it as it arrives; the last one loses the 0x00 0x00 0xff 0xff tail
        (RFC 7692, 7.2.1).
        """
        if self.compress_no_context:
            self._compressor = self._new_compressor()
        payloads: list[bytes] = []
        for fragment in fragments:
            data = self._compress_sync(fragment)
            assert data.endswith(_SYNC_TAIL)
            payloads.append(data)
        payloads[-1] = payloads[-1][: -len(_SYNC_TAIL)]
        return payloads

    def compress_final(self, data: bytes) -> bytes:
        """Compress a message with a new compressor, ending with BFINAL (RFC 7692, 7.2.3.4)."""
        compressor = zlib.compressobj(wbits=-self.compress_bits)
        return compressor.compress(data) + compressor.flush(zlib.Z_FINISH)

    def decompress(self, payloads: Sequence[bytes]) -> bytes:
        """Decompress the payloads of the frames of a message (RFC 7692, 7.2.2).

        Raises:
            zlib.error: If the data is invalid, e.g. uses a larger window.
        """
        if self.decompress_no_context:
            self._decompressor = zlib.decompressobj(wbits=-self.decompress_bits)
        decompressor = self._decompressor
        data = b"".join(payloads) + _SYNC_TAIL
        # zlib resolves a distance from its window or from the output of the
        # current call: a few bytes per call make the window the only source,
        # so that a distance beyond it fails, as the RFC requires.
        output: list[bytes] = []
        while True:
            chunk = decompressor.decompress(data, _INFLATE_STEP)
            output.append(chunk)
            data = decompressor.unconsumed_tail
            if not data and not chunk:
                return b"".join(output)


# The raw peer.


class RawPeer:
    """One end of a WebSocket connection, driven by hand.

    Args:
        reader: The stream to read from.
        writer: The stream to write to.
        is_client: Whether this end is the client: it masks what it sends and
            expects unmasked frames (RFC 6455, 5.1).
        deflate: permessage-deflate state, if negotiated.
        headers: Headers of the handshake received (request or response),
            lower-cased names.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        is_client: bool,
        deflate: RawDeflate | None,
        headers: dict[str, str],
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.is_client = is_client
        self.deflate = deflate
        self.headers = headers

    ours: Connection
    """The package's end of the connection, when :func:`open_peer` made it."""

    # Sending.

    def frame(
        self,
        opcode: int,
        payload: bytes = b"",
        *,
        fin: bool = True,
        rsv1: bool = False,
        rsv2: bool = False,
        rsv3: bool = False,
        masked: bool | None = None,
        length_bytes: Literal[0, 2, 8] | None = None,
        length_field: int | None = None,
    ) -> bytes:
        """Build a frame, masked if this end is the client unless ``masked`` says otherwise."""
        if masked is None:
            masked = self.is_client
        return build_frame(
            opcode,
            payload,
            fin=fin,
            rsv1=rsv1,
            rsv2=rsv2,
            rsv3=rsv3,
            mask_key=os.urandom(4) if masked else None,
            length_bytes=length_bytes,
            length_field=length_field,
        )

    def message(
        self, opcode: int, fragments: Sequence[bytes], *, compress: bool | None = None
    ) -> bytes:
        """Build the frames of a message, one per fragment.

        Compressed, with RSV1 on the first frame only (RFC 7692, 6.1), when
        permessage-deflate is negotiated, unless ``compress`` is ``False``.
        """
        if compress is None:
            compress = self.deflate is not None
        payloads = list(fragments)
        if compress:
            assert self.deflate is not None, "permessage-deflate isn't negotiated"
            payloads = self.deflate.compress(payloads)
        last = len(payloads) - 1
        return b"".join(
            self.frame(
                opcode if index == 0 else OP_CONT,
                payload,
                fin=index == last,
                rsv1=compress and index == 0,
            )
            for index, payload in enumerate(payloads)
        )

    async def send(self, data: bytes) -> None:
        """Write bytes and wait until they are flushed to the socket buffer."""
        self.writer.write(data)
        await self.writer.drain()

    async def send_in_chunks(self, data: bytes, size: int) -> None:
        """Write bytes ``size`` at a time, letting the receiver read each chunk apart."""
        for start in range(0, len(data), size):
            self.writer.write(data[start : start + size])
            await self.writer.drain()
            # Both ends share the event loop: yield so that the other end
            # reads this chunk before the next one is written. The selector
            # reports it readable in the next iteration of the loop, whose
            # callbacks run after this task's: yield twice.
            await asyncio.sleep(0)
            await asyncio.sleep(0)

    async def send_frame(
        self,
        opcode: int,
        payload: bytes = b"",
        *,
        fin: bool = True,
        rsv1: bool = False,
        rsv2: bool = False,
        rsv3: bool = False,
        masked: bool | None = None,
        length_bytes: Literal[0, 2, 8] | None = None,
        length_field: int | None = None,
    ) -> None:
        """Build a frame with :meth:`frame` and send it."""
        await self.send(
            self.frame(
                opcode,
                payload,
                fin=fin,
                rsv1=rsv1,
                rsv2=rsv2,
                rsv3=rsv3,
                masked=masked,
                length_bytes=length_bytes,
                length_field=length_field,
            )
        )

    async def send_message(
        self, opcode: int, fragments: Sequence[bytes], *, compress: bool | None = None
    ) -> None:
        """Build a message with :meth:`message` and send it."""
        await self.send(self.message(opcode, fragments, compress=compress))

    # Receiving.

    async def read_frame(self) -> RawFrame:
        """Read the next frame, within :data:`TIMEOUT`.

        Raises:
            AssertionError: If the frame is masked although it comes from a
                server, or unmasked although it comes from a client (RFC
                6455, 5.1), or if the connection ends first.
        """
        async with asyncio.timeout(TIMEOUT):
            try:
                frame = await _read_frame(self.reader)
            except asyncio.IncompleteReadError as exc:
                raise AssertionError(
                    f"connection ended instead of a frame: {exc.partial!r}"
                ) from exc
        assert frame.masked is not self.is_client, f"wrong masking: {frame}"
        return frame

    async def read_until_eof(self) -> list[RawFrame]:
        """Read frames until the connection ends, within :data:`TIMEOUT`.

        Raises:
            AssertionError: If the connection ends in the middle of a frame,
                or if a frame is masked the wrong way (RFC 6455, 5.1).
        """
        frames: list[RawFrame] = []
        async with asyncio.timeout(TIMEOUT):
            while True:
                try:
                    frame = await _read_frame(self.reader)
                except asyncio.IncompleteReadError as exc:
                    if exc.partial:
                        message = f"connection ended in a frame: {exc.partial!r}"
                        raise AssertionError(message) from exc
                    return frames
                assert frame.masked is not self.is_client, f"wrong masking: {frame}"
                frames.append(frame)

    async def read_message(self) -> tuple[int, bytes, list[RawFrame]]:
        """Read the frames of the next data message; decompress it if RSV1 says so.

        Returns:
            The opcode, the payload and the frames as received.

        Raises:
            AssertionError: If a control frame arrives in between, or if the
                frames break a rule of RFC 6455, 5.4 or RFC 7692, 6.1.
        """
        frames = [await self.read_frame()]
        assert frames[0].opcode in (OP_TEXT, OP_BINARY), f"expected a message: {frames[0]}"
        while not frames[-1].fin:
            frame = await self.read_frame()
            assert frame.opcode == OP_CONT, f"expected a continuation: {frame}"
            assert not frame.rsv1, "RSV1 on a continuation frame"
            frames.append(frame)
        for frame in frames:
            assert not frame.rsv2, f"RSV2 set: {frame}"
            assert not frame.rsv3, f"RSV3 set: {frame}"
        payloads = [frame.payload for frame in frames]
        if frames[0].rsv1:
            assert self.deflate is not None, "RSV1 set without permessage-deflate"
            data = self.deflate.decompress(payloads)
        else:
            data = b"".join(payloads)
        return frames[0].opcode, data, frames

    async def expect_message(self, opcode: int, data: bytes) -> list[RawFrame]:
        """Read the next message, check that it is ``data`` with ``opcode``, return its frames."""
        received_opcode, received, frames = await self.read_message()
        assert received_opcode == opcode, f"opcode {received_opcode} instead of {opcode}"
        assert len(received) == len(data), f"{len(received)} bytes instead of {len(data)}"
        assert received == data, f"{received[:50]!r} instead of {data[:50]!r}"
        return frames

    async def expect_pong(self, payload: bytes) -> None:
        """Read the next frame and check that it is a Pong with ``payload`` (RFC 6455, 5.5.3)."""
        frame = await self.read_frame()
        assert frame.opcode == OP_PONG, f"expected a pong: {frame}"
        assert frame.fin, "fragmented pong"
        assert (frame.rsv1, frame.rsv2, frame.rsv3) == (False, False, False), "reserved bit set"
        assert frame.payload == payload, f"pong payload {frame.payload!r} instead of {payload!r}"

    async def expect_close(self, code: int | None, reason: bytes | None = None) -> None:
        """Read the next frame and check that it is a Close frame with ``code``.

        Args:
            code: The expected code; ``None`` expects an empty payload.
            reason: The expected reason; ``None`` accepts any valid UTF-8.
        """
        frame = await self.read_frame()
        assert frame.opcode == OP_CLOSE, f"expected a close frame: {frame}"
        assert frame.fin, "fragmented close frame"
        assert (frame.rsv1, frame.rsv2, frame.rsv3) == (False, False, False), "reserved bit set"
        if code is None:
            assert frame.payload == b"", f"expected an empty close frame: {frame.payload!r}"
            return
        assert len(frame.payload) >= 2, f"expected a close code: {frame.payload!r}"
        (received_code,) = struct.unpack("!H", frame.payload[:2])
        assert received_code == code, f"close code {received_code} instead of {code}"
        received_reason = frame.payload[2:]
        received_reason.decode()  # a close reason is always UTF-8 (RFC 6455, 5.5.1)
        if reason is not None:
            assert received_reason == reason, f"reason {received_reason!r} instead of {reason!r}"

    async def expect_eof(self) -> None:
        """Check that the peer closes the TCP connection, sending nothing more."""
        async with asyncio.timeout(TIMEOUT):
            try:
                rest = await self.reader.read()
            except ConnectionResetError:
                rest = b""
        assert rest == b"", f"data after the end: {rest[:50]!r}"

    async def expect_no_eof(self) -> None:
        """Check that the peer keeps the TCP connection open and silent for :data:`LINGER`."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LINGER):
                data = await self.reader.read(1)
                raise AssertionError(f"expected nothing, got {data!r}")

    async def expect_closing(
        self, code: int | None, reason: bytes | None = None, *, linger: bool = False
    ) -> None:
        """Check the end of a connection: a Close frame, then the TCP closing order.

        The server closes the TCP connection first (RFC 6455, 7.1.1): the
        package's server must end it right after its Close frame, the
        package's client must leave it to this raw server, which then closes.
        Proving that the client leaves it takes :data:`LINGER` seconds:
        ``linger=False`` only checks that the end didn't come with the frame.
        """
        await self.expect_close(code, reason)
        if self.is_client:
            await self.expect_eof()
            await self.close()
            return
        if linger:
            await self.expect_no_eof()
        else:
            assert not self.reader.at_eof(), "the client closed the TCP connection first"
        await self.close()

    # The TCP connection.

    def stop_reading(self) -> None:
        """Stop reading: what the other end sends piles up in the socket buffers."""
        transport = self.writer.transport
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()

    def half_close(self) -> None:
        """Send EOF (TCP half-close) and keep reading."""
        self.writer.write_eof()

    def reset(self) -> None:
        """End the TCP connection with a RST instead of a FIN, as a crashed peer would."""
        sock: socket.socket = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def close(self) -> None:
        """Close the TCP connection, ignoring a reset by the peer."""
        await close_stream(self.writer)


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, dict[str, str]]:
    """Read an HTTP head up to the empty line; return its first line and its headers."""
    async with asyncio.timeout(TIMEOUT):
        head = await reader.readuntil(b"\r\n\r\n")
    return _parse_head(head[:-4])


# Raw TCP and HTTP, for tests that speak HTTP by hand or send bytes of their own.


async def open_stream(
    port: int, *, rcvbuf: int | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a TCP connection to 127.0.0.1 and send nothing yet.

    Args:
        port: The server's port.
        rcvbuf: Size of the socket's receive buffer, to make a slow reader;
            set before connecting, when the TCP window is negotiated.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


async def close_stream(writer: asyncio.StreamWriter) -> None:
    """Close a TCP connection, ignoring a reset by the peer."""
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


@contextlib.asynccontextmanager
async def raw_stream(
    port: int, *, rcvbuf: int | None = None
) -> AsyncGenerator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """:func:`open_stream`, closed at the end of the ``async with`` block."""
    reader, writer = await open_stream(port, rcvbuf=rcvbuf)
    try:
        yield reader, writer
    finally:
        await close_stream(writer)


def http_request(
    method: str = "GET",
    path: str = "/",
    headers: Sequence[tuple[str, str]] = (("Host", "localhost"),),
    body: bytes = b"",
) -> bytes:
    """An HTTP/1.1 request on the wire (RFC 9112, 3 and 5), headers as given, in order."""
    lines = [f"{method} {path} HTTP/1.1", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def handshake_request(
    *,
    port: int | None = None,
    path: str = "/",
    offer: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
    host: bool = True,
) -> bytes:
    """A valid opening handshake request with the fixed key (RFC 6455, 4.1).

    Args:
        port: Written in the Host header, if given.
        path: The request target.
        offer: The value of a Sec-WebSocket-Extensions header, if any.
        headers: More header lines, after the handshake's.
        host: Whether to send a Host header for 127.0.0.1; ``False`` leaves
            it out, e.g. for ``headers`` to bring their own.
    """
    address = "127.0.0.1" if port is None else f"127.0.0.1:{port}"
    return http_request(
        "GET",
        path,
        [
            *([("Host", address)] if host else []),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", _CLIENT_KEY),
            ("Sec-WebSocket-Version", "13"),
            *([] if offer is None else [("Sec-WebSocket-Extensions", offer)]),
            *headers,
        ],
    )


async def http_exchange(
    port: int, request: bytes, *, half_close: bool = False, timeout: float = TIMEOUT
) -> bytes:
    """Send raw bytes and return everything received until the server closes.

    Args:
        port: The server's port on 127.0.0.1.
        request: The bytes to send, valid HTTP or not.
        half_close: Send EOF after the request (TCP half-close).
        timeout: How long the server may take to close.
    """
    async with raw_stream(port) as (reader, writer):
        writer.write(request)
        if half_close:
            writer.write_eof()
        async with asyncio.timeout(timeout):
            return await reader.read()


def blocking_http_exchange(port: int, request: bytes, *, timeout: float = TIMEOUT) -> bytes:
    """:func:`http_exchange` with a blocking socket, for tests without an event loop."""
    with socket.create_connection(("127.0.0.1", port), timeout) as sock:
        sock.sendall(request)
        chunks: list[bytes] = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


@dataclass(frozen=True)
class RawResponse:
    """An HTTP response as received: header names lower-cased, repeats joined."""

    status_line: str
    headers: dict[str, str]
    body: bytes

    @property
    def status(self) -> int:
        """The status code."""
        return int(self.status_line.split(" ")[1])


def parse_response(data: bytes) -> RawResponse:
    """Split a response received by :func:`http_exchange` into its parts."""
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, headers = _parse_head(head)
    return RawResponse(status_line, headers, body)


def _parse_head(head: bytes) -> tuple[str, dict[str, str]]:
    """Return the first line and the headers of an HTTP head without its empty line."""
    first, *lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        # Joining repeated headers with a comma keeps them all (RFC 9110, 5.3).
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return first, headers


async def open_raw_client(
    port: int,
    *,
    offer: str | None = None,
    path: str = "/",
    rcvbuf: int | None = None,
    then: bytes = b"",
) -> RawPeer:
    """Connect to a server and perform the opening handshake by hand (RFC 6455, 4.1).

    Args:
        port: The server's port on 127.0.0.1.
        offer: The value of a Sec-WebSocket-Extensions header to send, if any.
        path: The request target.
        rcvbuf: Size of the socket's receive buffer, to make a slow reader.
        then: Bytes written with the request, e.g. frames sent too early.

    Raises:
        AssertionError: If the server does not accept the handshake.
    """
    reader, writer = await open_stream(port, rcvbuf=rcvbuf)
    writer.write(handshake_request(port=port, path=path, offer=offer) + then)
    try:
        status, headers = await _read_head(reader)
        assert status.startswith("HTTP/1.1 101 "), status
        assert headers["upgrade"].lower() == "websocket", headers
        assert "upgrade" in headers["connection"].lower(), headers
        assert headers["sec-websocket-accept"] == _CLIENT_ACCEPT, headers
    except BaseException:
        writer.close()
        await writer.wait_closed()
        raise
    deflate = None
    extensions = headers.get("sec-websocket-extensions")
    if extensions is not None:
        params = parse_deflate_response(extensions)
        deflate = RawDeflate(
            compress_bits=params.client_max_window_bits or 15,
            compress_no_context=params.client_no_context_takeover,
            decompress_bits=params.server_max_window_bits or 15,
            decompress_no_context=params.server_no_context_takeover,
        )
    return RawPeer(reader, writer, is_client=True, deflate=deflate, headers=headers)


Respond = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
"""A :class:`RawServer` callback that answers one connection by hand."""


class RawServer:
    """A listening socket that performs the server side of handshakes by hand.

    Connections wait for :meth:`accept` or :meth:`respond`, unless
    ``respond`` is given: it then answers each connection as it comes, which
    is closed when it returns. Use it started and closed by ``async with``
    or by :meth:`start` and :meth:`close`.

    Args:
        rcvbuf: Size of the accepted sockets' receive buffers, to make a slow reader.
        respond: A callback that answers every connection.
    """

    def __init__(self, *, rcvbuf: int | None = None, respond: Respond | None = None) -> None:
        self._rcvbuf = rcvbuf
        self._respond = respond
        self._accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._responding: set[asyncio.Task[object]] = set()
        self.connections = 0
        """How many connections were accepted so far."""
        self.counted: asyncio.Queue[int] = asyncio.Queue()
        """The value of :attr:`connections` after each connection, as they come."""

    async def __aenter__(self) -> RawServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Start listening on 127.0.0.1, on a free port."""

        async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._writers.append(writer)
            self.connections += 1
            self.counted.put_nowait(self.connections)
            if self._respond is None:
                await self._accepted.put((reader, writer))
                return
            task = asyncio.current_task()
            assert task is not None
            self._responding.add(task)
            try:
                await self._respond(reader, writer)
            finally:
                await close_stream(writer)

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if self._rcvbuf is not None:
            # Accepted sockets inherit it, before the TCP window is negotiated.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._rcvbuf)
        sock.bind(("127.0.0.1", 0))
        self._server = await asyncio.start_server(on_connection, sock=sock)

    @property
    def port(self) -> int:
        """The listening port."""
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def uri(self) -> str:
        """A ws:// URI for this server."""
        return f"ws://127.0.0.1:{self.port}/"

    async def accept(
        self, *, extensions: str | None = None, parse: bool = True, then: bytes = b""
    ) -> RawPeer:
        """Take the next connection and answer its handshake with a 101 (RFC 6455, 4.2.2).

        Args:
            extensions: The value of a Sec-WebSocket-Extensions header to
                answer with, if any: a permessage-deflate response.
            parse: Whether to set up permessage-deflate from ``extensions``;
                ``False`` sends any header, valid or not, as it is.
            then: Bytes written with the response, e.g. frames.
        """
        async with asyncio.timeout(TIMEOUT):
            reader, writer = await self._accepted.get()
        request, headers = await _read_head(reader)
        assert request.startswith("GET "), request
        assert request.endswith(" HTTP/1.1"), request
        lines = [
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Accept: {_accept_for(headers['sec-websocket-key'])}",
        ]
        deflate = None
        if extensions is not None:
            lines.append(f"Sec-WebSocket-Extensions: {extensions}")
        if extensions is not None and parse:
            params = parse_deflate_response(extensions)
            deflate = RawDeflate(
                compress_bits=params.server_max_window_bits or 15,
                compress_no_context=params.server_no_context_takeover,
                decompress_bits=params.client_max_window_bits or 15,
                decompress_no_context=params.client_no_context_takeover,
            )
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + then)
        await writer.drain()
        return RawPeer(reader, writer, is_client=False, deflate=deflate, headers=headers)

    async def respond(self, response: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Take the next connection, read its request head and answer with raw bytes.

        For responses that :meth:`accept` doesn't write: invalid or refusing
        ones. The connection stays open until :meth:`close`.
        """
        async with asyncio.timeout(TIMEOUT):
            reader, writer = await self._accepted.get()
        await _read_head(reader)
        writer.write(response)
        await writer.drain()
        return reader, writer

    async def close(self) -> None:
        """Stop listening and close every connection accepted."""
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._responding:
            await asyncio.wait(self._responding)


# The implementation under test, at the other end of a raw peer.

Side = Literal["server", "client"]
"""Which end of the package is under test: its server or its client."""

SIDES: Final[tuple[Side, ...]] = ("server", "client")
"""Both ends, for ``pytest.mark.parametrize("side", SIDES)``."""


async def echo(connection: Connection) -> None:
    """Send back every message received, text as text and binary as binary.

    The one echo handler of the test suite, for servers and clients alike.
    """
    with contextlib.suppress(ConnectionClosed):
        async for message in connection:
            await connection.send(message)


@contextlib.asynccontextmanager
async def open_peer(
    side: Side,
    *,
    offer: str | None = None,
    response: str | None = None,
    server_extensions: Sequence[ServerExtensionFactory] | None = None,
    client_extensions: Sequence[ClientExtensionFactory] | None = None,
    max_size: int | None = 2**20,
    max_fragments: int | None = 2**16,
    rcvbuf: int | None = None,
) -> AsyncGenerator[RawPeer]:
    """Connect a raw peer to an echo endpoint of the package.

    With ``side="server"``, the package's server runs an echo handler and
    the raw peer is its client; with ``side="client"``, the raw peer is a
    server and the package's client echoes what it receives. Either way the
    test drives the raw peer and reads the package's answers from it; the
    package's connection is :attr:`RawPeer.ours`.

    Compression is off unless ``offer`` (the raw client's
    Sec-WebSocket-Extensions, to test the server) or ``response`` (the raw
    server's answer, to test the client, whose offer comes from
    ``client_extensions``) negotiates it. ``rcvbuf`` sets the raw peer's
    socket receive buffer, to make it a slow reader.
    """
    if side == "server":
        connections: asyncio.Queue[ServerConnection] = asyncio.Queue()

        async def handler(connection: ServerConnection) -> None:
            connections.put_nowait(connection)
            await echo(connection)

        async with serve(
            handler,
            "127.0.0.1",
            0,
            extensions=server_extensions,
            compression="deflate" if server_extensions is None else None,
            ping_interval=None,
            close_timeout=TIMEOUT,
            max_size=max_size,
            max_fragments=max_fragments,
        ) as server:
            port: int = server.sockets[0].getsockname()[1]
            peer = await open_raw_client(port, offer=offer, rcvbuf=rcvbuf)
            try:
                async with asyncio.timeout(TIMEOUT):
                    peer.ours = await connections.get()
                yield peer
            finally:
                await peer.close()
    else:
        raw_server = RawServer(rcvbuf=rcvbuf)
        await raw_server.start()
        try:
            async with asyncio.timeout(TIMEOUT):
                connecting = asyncio.ensure_future(
                    connect(
                        raw_server.uri,
                        extensions=client_extensions,
                        compression=None if client_extensions is not None else "deflate",
                        ping_interval=None,
                        close_timeout=TIMEOUT,
                        max_size=max_size,
                        max_fragments=max_fragments,
                    )
                )
                peer = await raw_server.accept(extensions=response)
                connection = await connecting
            peer.ours = connection
            echoing = asyncio.create_task(echo(connection))
            try:
                yield peer
            finally:
                await peer.close()
                async with asyncio.timeout(TIMEOUT):
                    await echoing
                    await connection.wait_closed()
        finally:
            await raw_server.close()

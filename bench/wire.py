"""Bytes on the wire for the fixed load generator and the fixed server.

Both are meant to cost as little as possible, so that the library under test
dominates the measurement. Frames they send are built once, before the clock
starts; frames they receive are counted by reading headers only (RFC 6455,
section 5.2), never by looking at payloads, and never byte by byte.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import zlib
from collections.abc import Sequence

__all__ = [
    "ACK_FRAME",
    "CLIENT_CLOSE_FRAME",
    "CLIENT_KEY",
    "DEFLATE_OFFER",
    "MASK_KEY",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_TEXT",
    "SERVER_CLOSE_FRAME",
    "FrameCounter",
    "FrameRing",
    "apply_mask",
    "binary_payload",
    "deflate_message",
    "encode_frame",
    "handshake_request",
    "handshake_response",
    "json_payloads",
    "negotiated_deflate",
    "text_payload",
]

OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8

# A fixed nonce and mask: the load generator doesn't need the protection they
# give a browser (RFC 6455, section 10.3), it needs frames computed in advance.
CLIENT_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
MASK_KEY = b"\x37\xfa\x21\x3d"

_ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3

# Offered by the load generator when a scenario wants permessage-deflate. It
# promises not to use context takeover (RFC 7692, section 7.1.1.2), which lets
# it compress every message once, before the run, whatever the server answers.
DEFLATE_OFFER = "permessage-deflate; client_no_context_takeover"


def apply_mask(data: bytes, key: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``key`` repeated (RFC 6455, section 5.3).

    One big-integer XOR does the whole payload: no per-byte Python loop.
    """
    size = len(data)
    if size == 0:
        return b""
    stream = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(size, "big")


def encode_frame(opcode: int, payload: bytes, *, mask: bool, rsv1: bool = False) -> bytes:
    """Serialize one final frame (RFC 6455, section 5.2).

    Args:
        opcode: The frame's opcode.
        payload: The payload, unmasked.
        mask: Whether to mask it with :data:`MASK_KEY`, as a client must.
        rsv1: Set RSV1, which marks a compressed message (RFC 7692, section 6).
    """
    first = 0x80 | (0x40 if rsv1 else 0) | opcode
    mask_bit = 0x80 if mask else 0
    size = len(payload)
    if size < 126:
        header = bytes([first, mask_bit | size])
    elif size < 1 << 16:
        header = bytes([first, mask_bit | 126]) + size.to_bytes(2, "big")
    else:
        header = bytes([first, mask_bit | 127]) + size.to_bytes(8, "big")
    if mask:
        return header + MASK_KEY + apply_mask(payload, MASK_KEY)
    return header + payload


CLIENT_CLOSE_FRAME = encode_frame(OP_CLOSE, (1000).to_bytes(2, "big"), mask=True)
SERVER_CLOSE_FRAME = encode_frame(OP_CLOSE, (1000).to_bytes(2, "big"), mask=False)
ACK_FRAME = encode_frame(OP_BINARY, b"ok", mask=False)


def handshake_request(port: int, extensions: str | None = None) -> bytes:
    """The opening handshake request of the load generator (RFC 6455, section 4.1)."""
    lines = [
        "GET / HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {CLIENT_KEY}",
        "Sec-WebSocket-Version: 13",
    ]
    if extensions is not None:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def handshake_response(request: bytes) -> bytes:
    """The fixed server's answer to a request head (without its final CRLF CRLF).

    Only ``Sec-WebSocket-Key`` is read: clients check the accept value derived
    from it (RFC 6455, section 4.2.2); nothing else is validated.

    Raises:
        ValueError: If the request has no ``Sec-WebSocket-Key``.
    """
    # Find the header name case-insensitively but slice the value from the
    # original bytes: base64 is case-sensitive.
    marker = b"\r\nsec-websocket-key:"
    start = request.lower().find(marker)
    if start < 0:
        raise ValueError("no Sec-WebSocket-Key in the request")
    start += len(marker)
    end = request.find(b"\r\n", start)
    key = request[start : len(request) if end < 0 else end].strip()
    accept = base64.b64encode(hashlib.sha1(key + _ACCEPT_GUID).digest())
    return (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


def negotiated_deflate(response: bytes) -> bool:
    """Tell whether a handshake response head accepts permessage-deflate."""
    return b"permessage-deflate" in response.lower()


def text_payload(size: int) -> bytes:
    """ASCII text of ``size`` bytes, so valid UTF-8 whatever the size."""
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789"
    return (alphabet * (size // len(alphabet) + 1))[:size]


def binary_payload(size: int) -> bytes:
    """Pseudo-random bytes, the same for a given size in every process."""
    return random.Random(size).randbytes(size)


_WORDS = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
    "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
    "sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu",
]  # fmt: skip


def json_payloads(count: int, size: int) -> list[bytes]:
    """``count`` different JSON documents of exactly ``size`` bytes each.

    They look like application events (ids, names, numbers, prose), so they
    compress the way real traffic does rather than to almost nothing.
    """
    rng = random.Random(count * 1_000_003 + size)
    documents: list[bytes] = []
    for index in range(count):
        record: dict[str, object] = {
            "id": index,
            "type": rng.choice(["update", "insert", "delete", "notify"]),
            "user": f"user{rng.randrange(100_000)}",
            "timestamp": 1_700_000_000 + rng.randrange(10**7),
            "scores": [rng.randrange(1000) for _ in range(8)],
            "tags": rng.sample(_WORDS, 4),
            "text": "",
        }
        room = size - len(json.dumps(record))
        if room < 0:
            raise ValueError(f"JSON documents need at least {size - room} bytes")
        words = " ".join(rng.choice(_WORDS) for _ in range(room // 3 + 1))
        record["text"] = words[:room]
        document = json.dumps(record).encode()
        assert len(document) == size
        documents.append(document)
    return documents


def deflate_message(payload: bytes) -> bytes:
    """Compress one message without context takeover (RFC 7692, section 7.2.1).

    The result is the frame payload: deflate with a sync flush, minus the
    trailing ``00 00 ff ff`` that the receiver appends back.
    """
    compressor = zlib.compressobj(wbits=-15)
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]


class FrameCounter:
    """Count complete messages in a stream of frames, reading headers only.

    :meth:`feed` takes bytes as they arrive and returns how many final data
    frames (messages, since no peer here fragments them) it completed. The
    only work per frame is decoding its length (RFC 6455, section 5.2); a
    frame split across reads is carried over by the number of bytes it still
    misses, and a split header by its first bytes.
    """

    __slots__ = ("_first", "_head", "_missing", "closed")

    def __init__(self) -> None:
        self._head: bytes = b""  # a copy of the start of a header cut by the end of a read
        self._missing: int = 0  # bytes of the current frame not received yet
        self._first: int = 0  # first byte of the current frame: FIN, RSV, opcode
        self.closed: bool = False
        """A Close frame was received entirely."""

    def _completed(self, first: int) -> int:
        opcode = first & 0x0F
        if opcode == OP_CLOSE:
            self.closed = True
        return 1 if first & 0x80 and opcode < OP_CLOSE else 0

    def feed(self, data: bytes | memoryview) -> int:
        """Account for ``data`` and return the number of messages it completed.

        ``data`` may be a view of a buffer that the caller reuses: what the
        counter keeps of it (the start of a cut header) is copied.
        """
        if self._head:
            data = self._head + data
            self._head = b""
        end = len(data)
        count = 0
        pos = 0
        if self._missing:
            if self._missing > end:
                self._missing -= end
                return 0
            pos = self._missing
            self._missing = 0
            count = self._completed(self._first)
        while pos < end:
            if end - pos < 2:
                self._head = bytes(data[pos:])
                break
            first = data[pos]
            second = data[pos + 1]
            length = second & 0x7F
            header = 6 if second & 0x80 else 2
            if length == 126:
                header += 2
                if end - pos < 4:
                    self._head = bytes(data[pos:])
                    break
                length = int.from_bytes(data[pos + 2 : pos + 4], "big")
            elif length == 127:
                header += 8
                if end - pos < 10:
                    self._head = bytes(data[pos:])
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
            pos += header + length
            if pos > end:
                self._missing = pos - end
                self._first = first
                break
            # Inlined _completed(): this loop runs once per received frame.
            opcode = first & 0x0F
            if opcode < OP_CLOSE:
                count += first >> 7
            elif opcode == OP_CLOSE:
                self.closed = True
        return count


class FrameRing:
    """Hand out runs of precomputed frames, cycling through them, without copying.

    The frames are laid out twice in one buffer so that any run of up to
    ``len(frames)`` consecutive frames, wrapping around or not, is one slice.
    """

    def __init__(self, frames: Sequence[bytes]) -> None:
        if not frames:
            raise ValueError("no frames")
        self._count = len(frames)
        doubled = [*frames, *frames]
        self._block = memoryview(b"".join(doubled))
        self._offsets = [0]
        for frame in doubled:
            self._offsets.append(self._offsets[-1] + len(frame))
        self._next = 0

    def take(self, count: int) -> list[memoryview]:
        """The next ``count`` frames, as few contiguous slices as possible."""
        chunks: list[memoryview] = []
        while count > 0:
            run = min(count, self._count)
            start = self._next
            chunks.append(self._block[self._offsets[start] : self._offsets[start + run]])
            self._next = (start + run) % self._count
            count -= run
        return chunks

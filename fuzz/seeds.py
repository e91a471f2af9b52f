"""Write the seed corpora of fuzz/corpus/: ``python -m fuzz.seeds``.

Seeds are small valid inputs, in the layout each target of
``fuzz/targets.py`` reads, so that the fuzzer starts from the interesting
parts of each grammar instead of discovering them byte by byte.
"""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

from websockets_typed.frames import Close, Frame, Opcode, serialize_frame

CORPUS = Path(__file__).parent / "corpus"


def _frames(*frames: Frame, mask: bool) -> bytes:
    """Serialize frames; masked ones with a zero key, so that seeds are reproducible."""
    wire = b"".join(part for frame in frames for part in serialize_frame(frame, mask=False))
    if not mask:
        return wire
    # Set the MASK bit and insert a zero key after each header: XOR with
    # zeros leaves the payload as is.
    buffer, masked = bytearray(wire), bytearray()
    while buffer:
        length = buffer[1] & 0x7F
        offset = 2 + {126: 2, 127: 8}.get(length, 0)
        size = length if length < 126 else int.from_bytes(buffer[2:offset], "big")
        masked += bytes([buffer[0], buffer[1] | 0x80]) + buffer[2:offset] + bytes(4)
        masked += buffer[offset : offset + size]
        del buffer[: offset + size]
    return bytes(masked)


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-15)
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


def seeds() -> dict[str, list[bytes]]:
    """The seeds of every target, by target name."""
    close = Frame(Opcode.CLOSE, Close(1000, "bye").serialize())
    messages = [
        Frame(Opcode.TEXT, b"Hello"),
        Frame(Opcode.TEXT, "caf\u00e9".encode()[:4], fin=False),
        Frame(Opcode.PING, b"ping"),
        Frame(Opcode.CONT, "caf\u00e9".encode()[4:]),
        Frame(Opcode.BINARY, bytes(200)),
    ]
    # A 64-bit length that would fit in 7 bits: legal on the wire, rare.
    long_length = b"\x82\xff" + (5).to_bytes(8, "big") + b"\x00\x00\x00\x00" + b"12345"
    compressed = Frame(Opcode.TEXT, _deflate(b"Hello, Hello, Hello"), rsv1=True)
    frames = [
        # Byte 0: side and limits; byte 1: chunking (see fuzz_frames).
        b"\x00\x00" + _frames(*messages, close, mask=True),
        b"\x01\x03" + _frames(*messages, close, mask=False),
        b"\x42\x01" + _frames(compressed, Frame(Opcode.PONG, b""), mask=True),
        b"\xfc\x07" + _frames(Frame(Opcode.CLOSE, b"\x03\xe8\xff"), mask=True),
        b"\x00\x00" + long_length,
    ]

    request = (
        b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\nOrigin: https://example.com\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        b"Sec-WebSocket-Protocol: chat, superchat\r\n\r\n"
    )
    http = [
        b"\x00\x00" + request,
        b"\x00\x05" + request + _frames(Frame(Opcode.TEXT, b"hi"), mask=True),
        b"\x01\x00HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
        b"\x01\x02HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nnope!",
        b"\x03\x01HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;ext=1\r\nboom\r\n0\r\nTrailer: x\r\n\r\n",
        b"\x01\x00HTTP/1.1 403 Forbidden\r\n\r\nuntil the end",
        b"\x01\x03HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12; "
        b"client_max_window_bits=10\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
        + _frames(compressed, close, mask=False),
    ]

    headers = [
        b"Upgrade, keep-alive",
        b"websocket, h2c/1",
        b"permessage-deflate; client_max_window_bits=10; server_no_context_takeover, "
        b'x-custom; quoted="a\\"b", permessage-deflate',
        b"chat, , superchat",
        b"Basic YWxpY2U6c2VjcmV0",
    ]

    deflate = [
        # Byte 0: settings; then frames: flags, length, payload.
        b"\x0e\x03" + bytes([len(_deflate(b"Hello"))]) + _deflate(b"Hello"),
        b"\x1f\x02\x03" + _deflate(b"abcabc")[:3] + b"\x04\x00\x05" + b"\x01\x00",
        b"\x0e\x03\x05\x01\x00\x00\xff\xff\x09\x04ping",
        b"\x10\x03\x10" + zlib.compress(bytes(4096), wbits=-15)[:16],
    ]
    return {"deflate": deflate, "frames": frames, "headers": headers, "http": http}


def main() -> None:
    """Write each seed to fuzz/corpus/TARGET/, named by its hash as libFuzzer does."""
    for target, inputs in seeds().items():
        folder = CORPUS / target
        folder.mkdir(parents=True, exist_ok=True)
        for data in inputs:
            (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


if __name__ == "__main__":
    main()

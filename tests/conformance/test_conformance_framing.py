"""Conformance of single frames (RFC 6455, 5.1 to 5.3, 5.5, 5.6, 5.8) from a raw peer.

Every test runs against the package's server and against its client: the raw
peer builds its frames with :mod:`struct`, never with the package's writer.
Autobahn's cases 1.x (payload lengths), 2.x (pings and pongs), 3.x (reserved
bits) and 4.x (reserved opcodes) check the same rules.
"""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest
from raw_peer import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    SIDES,
    TIMEOUT,
    RawServer,
    Side,
    build_frame,
    close_payload,
    echo,
    open_peer,
    open_raw_client,
)

from websockets_typed.asyncio.client import connect
from websockets_typed.asyncio.server import serve

pytestmark = pytest.mark.timeout(10)

PROTOCOL_ERROR = 1002


# RFC 6455, 5.2: payload lengths on 7, 7+16 and 7+64 bits, at their boundaries.

LENGTHS = [0, 1, 124, 125, 126, 127, 128, 65534, 65535, 65536, 65537, 2**20]


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
async def test_payload_lengths_at_encoding_boundaries(side: Side, opcode: int) -> None:
    async with open_peer(side) as peer:
        for length in LENGTHS:
            payload = b"*" * length if opcode == OP_TEXT else bytes(range(256)) * (length // 256)
            payload += b"x" * (length - len(payload))
            await peer.send_frame(opcode, payload)
            frames = await peer.expect_message(opcode, payload)
            # The answer uses the minimal encoding of its length too.
            assert len(frames) == 1


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("chop", [1, 2, 3, 7, 64, 1000])
async def test_frames_arriving_in_chops(side: Side, chop: int) -> None:
    """A frame split anywhere, header included, is parsed once complete."""
    async with open_peer(side) as peer:
        for length in (0, 125, 126, 300, 65536) if chop >= 64 else (0, 125, 126, 300):
            payload = bytes(range(256)) * (length // 256) + b"x" * (length % 256)
            await peer.send_in_chunks(peer.frame(OP_BINARY, payload), chop)
            await peer.expect_message(OP_BINARY, payload)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize(
    ("length", "length_bytes"),
    [(0, 2), (125, 2), (0, 8), (125, 8), (126, 8), (65535, 8)],
    ids=[
        "0-in-16-bits",
        "125-in-16-bits",
        "0-in-64-bits",
        "125-in-64-bits",
        "126-in-64-bits",
        "65535-in-64-bits",
    ],
)
async def test_non_minimal_length_is_a_protocol_error(
    side: Side, length: int, length_bytes: Literal[2, 8]
) -> None:
    """RFC 6455, 5.2: "the minimal number of bytes MUST be used to encode the length".

    A frame that breaks this MUST isn't a valid frame: it fails the
    connection, as wsproto does. The header alone decides, so the payload
    need not arrive.
    """
    async with open_peer(side) as peer:
        header = peer.frame(OP_BINARY, b"x" * length, length_bytes=length_bytes)
        await peer.send(header[: 2 + length_bytes + (4 if peer.is_client else 0)])
        await peer.expect_closing(PROTOCOL_ERROR)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("length", [2**63, 2**64 - 1], ids=["2**63", "2**64-1"])
async def test_64_bit_length_with_the_most_significant_bit_set(side: Side, length: int) -> None:
    """RFC 6455, 5.2: "the most significant bit MUST be 0"."""
    async with open_peer(side, max_size=None) as peer:
        await peer.send_frame(OP_BINARY, length_bytes=8, length_field=length)
        await peer.expect_closing(PROTOCOL_ERROR)


# Frames right after the opening handshake (RFC 6455, 4.1 and 4.2.2).


async def test_frames_sent_with_the_request_wait_for_the_response() -> None:
    """RFC 6455, 4.1: a client must wait for the response before sending
    frames; if it doesn't, the server parses them once it has answered."""
    async with serve(echo, "127.0.0.1", 0, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        early = build_frame(OP_TEXT, b"too early", mask_key=b"\x01\x02\x03\x04")
        peer = await open_raw_client(port, then=early)
        try:
            await peer.expect_message(OP_TEXT, b"too early")
        finally:
            await peer.close()


async def test_frames_sent_with_the_response() -> None:
    """The server may send frames at once after its 101, in the same segment."""
    raw_server = RawServer()
    await raw_server.start()
    try:
        async with asyncio.timeout(TIMEOUT):
            connecting = asyncio.ensure_future(connect(raw_server.uri, ping_interval=None))
            frames = build_frame(OP_TEXT, b"right away") + build_frame(OP_PING, b"and a ping")
            peer = await raw_server.accept(then=frames)
            connection = await connecting
            assert await connection.recv() == "right away"
            await peer.expect_pong(b"and a ping")
            closing = asyncio.ensure_future(connection.close())
            await peer.expect_close(1000)
            await peer.send_frame(OP_CLOSE, close_payload(1000))
            await peer.close()
            await closing
    finally:
        await raw_server.close()


# RFC 6455, 5.1 and 5.3: masking by side.


async def test_unmasked_frame_to_a_server() -> None:
    """RFC 6455, 5.1: "The server MUST close the connection upon receiving a
    frame that is not masked"."""
    async with open_peer("server") as peer:
        await peer.send_frame(OP_TEXT, b"hello", masked=False)
        await peer.expect_closing(PROTOCOL_ERROR)


async def test_masked_frame_to_a_client() -> None:
    """RFC 6455, 5.1: "A client MUST close a connection if it detects a masked frame"."""
    async with open_peer("client") as peer:
        await peer.send_frame(OP_TEXT, b"hello", masked=True)
        await peer.expect_closing(PROTOCOL_ERROR)


@pytest.mark.parametrize("side", SIDES)
async def test_unmasked_empty_control_frame_to_a_server_or_masked_to_a_client(
    side: Side,
) -> None:
    """Masking applies to every frame, control frames and empty payloads included."""
    async with open_peer(side) as peer:
        await peer.send_frame(OP_PING, masked=not peer.is_client)
        await peer.expect_closing(PROTOCOL_ERROR)


async def test_server_frames_are_unmasked_and_client_frames_masked() -> None:
    """RFC 6455, 5.1; :meth:`RawPeer.read_frame` checks the MASK bit of every frame."""
    for side in SIDES:
        async with open_peer(side) as peer:
            await peer.send_frame(OP_TEXT, b"mask me")
            [frame] = await peer.expect_message(OP_TEXT, b"mask me")
            assert frame.masked is (side == "client")


# RFC 6455, 5.2: reserved bits.


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("rsv", ["rsv1", "rsv2", "rsv3", "all"])
@pytest.mark.parametrize(
    "opcode", [OP_TEXT, OP_BINARY, OP_PING, OP_PONG, OP_CLOSE], ids=lambda op: f"opcode-{op}"
)
async def test_reserved_bits_without_extension(side: Side, rsv: str, opcode: int) -> None:
    """RFC 6455, 5.2: RSV1-3 "MUST be 0 unless an extension is negotiated that
    defines meanings for non-zero values"; Autobahn 3.1 to 3.7."""
    async with open_peer(side) as peer:
        # A valid message first: the connection works until the bad frame.
        await peer.send_frame(OP_TEXT, b"before")
        await peer.expect_message(OP_TEXT, b"before")
        payload = close_payload(1000) if opcode == OP_CLOSE else b"bits"
        await peer.send_frame(
            opcode,
            payload,
            rsv1=rsv in ("rsv1", "all"),
            rsv2=rsv in ("rsv2", "all"),
            rsv3=rsv in ("rsv3", "all"),
        )
        # Nothing after the bad frame is processed: no pong for this ping.
        await peer.send_frame(OP_PING, b"after")
        await peer.expect_closing(PROTOCOL_ERROR)


# RFC 6455, 5.2: reserved opcodes.


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF], ids=hex)
@pytest.mark.parametrize("payload", [b"", b"reserved"], ids=["empty", "payload"])
async def test_reserved_opcodes(side: Side, opcode: int, payload: bytes) -> None:
    """RFC 6455, 5.2: "If an unknown opcode is received, the receiving
    endpoint MUST _Fail the WebSocket Connection_"; Autobahn 4.1 and 4.2."""
    async with open_peer(side) as peer:
        await peer.send_frame(opcode, payload)
        await peer.send_frame(OP_PING, b"after")
        await peer.expect_closing(PROTOCOL_ERROR)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("opcode", [3, 0xB], ids=hex)
async def test_reserved_opcode_inside_a_fragmented_message(side: Side, opcode: int) -> None:
    async with open_peer(side) as peer:
        await peer.send_frame(OP_TEXT, b"frag", fin=False)
        await peer.send_frame(opcode, b"", fin=False)
        await peer.expect_closing(PROTOCOL_ERROR)


# RFC 6455, 5.5.2 and 5.5.3: pings and pongs.


@pytest.mark.parametrize("side", SIDES)
async def test_pong_echoes_every_ping_payload_from_0_to_125_bytes(side: Side) -> None:
    """RFC 6455, 5.5.3: the Pong has "identical Application data"; Autobahn 2.1 to 2.4."""
    async with open_peer(side) as peer:
        for length in range(126):
            payload = bytes((length + index) % 256 for index in range(length))
            await peer.send_frame(OP_PING, payload)
            await peer.expect_pong(payload)


@pytest.mark.parametrize("side", SIDES)
async def test_binary_ping_payload(side: Side) -> None:
    """Ping payloads are arbitrary bytes, not text; Autobahn 2.3."""
    async with open_peer(side) as peer:
        for start in range(0, 256, 125):
            payload = bytes(range(start, min(start + 125, 256)))
            await peer.send_frame(OP_PING, payload)
            await peer.expect_pong(payload)


@pytest.mark.parametrize("side", SIDES)
async def test_ping_in_chops(side: Side) -> None:
    """Autobahn 2.6: a 125-byte ping written one byte at a time."""
    async with open_peer(side) as peer:
        payload = b"\xfe" * 125
        await peer.send_in_chunks(peer.frame(OP_PING, payload), 1)
        await peer.expect_pong(payload)


@pytest.mark.parametrize("side", SIDES)
async def test_many_pings_get_a_pong_each_in_order(side: Side) -> None:
    """Autobahn 2.10 and 2.11: ten pings in a row, each answered."""
    async with open_peer(side) as peer:
        await peer.send(b"".join(peer.frame(OP_PING, b"payload-%d" % index) for index in range(10)))
        for index in range(10):
            await peer.expect_pong(b"payload-%d" % index)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("length", [126, 127, 65535, 65536], ids=lambda n: f"{n}-bytes")
async def test_control_frame_over_125_bytes(side: Side, length: int) -> None:
    """RFC 6455, 5.5: "All control frames MUST have a payload length of 125
    bytes or less"; Autobahn 2.5. Rejected from the header alone."""
    async with open_peer(side) as peer:
        for opcode in (OP_PING,):
            frame = peer.frame(opcode, b"x" * length)
            header_size = (4 if length < 65536 else 10) + (4 if peer.is_client else 0)
            await peer.send(frame[:header_size])
        await peer.expect_closing(PROTOCOL_ERROR)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("opcode", [OP_PONG, OP_CLOSE], ids=["pong", "close"])
async def test_other_control_frames_over_125_bytes(side: Side, opcode: int) -> None:
    async with open_peer(side) as peer:
        await peer.send_frame(opcode, close_payload(1000, b"x" * 124))
        await peer.expect_closing(PROTOCOL_ERROR)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG, OP_CLOSE], ids=["ping", "pong", "close"])
async def test_fragmented_control_frame(side: Side, opcode: int) -> None:
    """RFC 6455, 5.5: control frames "MUST NOT be fragmented"; Autobahn 5.1 and 5.2."""
    async with open_peer(side) as peer:
        payload = close_payload(1000) if opcode == OP_CLOSE else b"frag"
        await peer.send_frame(opcode, payload, fin=False)
        await peer.expect_closing(PROTOCOL_ERROR)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("length", [0, 10, 125], ids=lambda n: f"{n}-bytes")
async def test_unsolicited_pongs_are_ignored(side: Side, length: int) -> None:
    """RFC 6455, 5.5.3: "A response to an unsolicited Pong frame is not
    expected"; Autobahn 2.7 and 2.8."""
    async with open_peer(side) as peer:
        await peer.send_frame(OP_PONG, b"p" * length)
        await peer.send_frame(OP_PONG, bytes(range(length)))
        await peer.send_frame(OP_TEXT, b"after the pongs")
        # The next frame is the echo, not an answer to the pongs.
        await peer.expect_message(OP_TEXT, b"after the pongs")


@pytest.mark.parametrize("side", SIDES)
async def test_pong_with_a_payload_nobody_pinged_does_not_break_keepalive(side: Side) -> None:
    """An unsolicited pong doesn't acknowledge the package's own pings."""
    async with open_peer(side) as peer:
        waiter = asyncio.ensure_future(await peer.ours.ping(b"ours"))
        frame = await peer.read_frame()
        assert (frame.opcode, frame.payload) == (OP_PING, b"ours")
        await peer.send_frame(OP_PONG, b"not ours")
        await peer.send_frame(OP_TEXT, b"sync")
        await peer.expect_message(OP_TEXT, b"sync")
        assert not waiter.done()
        await peer.send_frame(OP_PONG, b"ours")
        await peer.send_frame(OP_TEXT, b"sync")
        await peer.expect_message(OP_TEXT, b"sync")
        assert waiter.done()


# Large messages in one frame and in many (RFC 6455, 5.2 and 5.4); Autobahn 9.1, 9.2, 9.4.

MiB = 2**20


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize(
    ("size", "fragment_size"),
    [
        (16 * MiB, None),
        (16 * MiB, MiB),
        (16 * MiB, 65536),
        (4 * MiB, 4096),
        (MiB, 256),
    ],
    ids=["16MiB-whole", "16MiB-by-1MiB", "16MiB-by-64KiB", "4MiB-by-4KiB", "1MiB-by-256B"],
)
async def test_large_binary_messages(side: Side, size: int, fragment_size: int | None) -> None:
    data = bytes(range(256)) * (size // 256)
    fragments = (
        [data]
        if fragment_size is None
        else [data[start : start + fragment_size] for start in range(0, size, fragment_size)]
    )
    async with open_peer(side, max_size=16 * MiB) as peer:
        await peer.send_message(OP_BINARY, fragments)
        await peer.expect_message(OP_BINARY, data)


@pytest.mark.parametrize("side", SIDES)
async def test_large_text_message(side: Side) -> None:
    unit = "Hello-µ@ßöäüàá-UTF-8!! κόσμε 😀".encode()
    data = unit * (16 * MiB // len(unit))
    async with open_peer(side, max_size=16 * MiB) as peer:
        await peer.send_message(OP_TEXT, [data[: len(data) // 3], data[len(data) // 3 :]])
        await peer.expect_message(OP_TEXT, data)


# RFC 6455, 10.4: limits on message size; the close code is 1009 (7.4.1).


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("fragments", [1, 2, 5])
async def test_message_of_max_size_is_accepted_and_one_byte_more_is_not(
    side: Side, fragments: int
) -> None:
    async with open_peer(side, max_size=1000) as peer:
        data = b"m" * 1000
        size = 1000 // fragments
        await peer.send_message(
            OP_BINARY, [data[start : start + size] for start in range(0, 1000, size)]
        )
        await peer.expect_message(OP_BINARY, data)
        await peer.send_message(OP_BINARY, [b"m" * size] * fragments + [b"!"])
        await peer.expect_closing(1009)


@pytest.mark.parametrize("side", SIDES)
async def test_oversized_frame_fails_before_its_payload(side: Side) -> None:
    """The header announcing too much is enough: nothing waits for 1 GiB."""
    async with open_peer(side, max_size=1000) as peer:
        frame = peer.frame(OP_BINARY, b"", length_field=2**30)
        await peer.send(frame)
        await peer.expect_closing(1009)

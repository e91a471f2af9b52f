"""Conformance of text validation (RFC 6455, 5.6 and 8.1) from a raw peer.

A text message must be valid UTF-8 (RFC 3629); an endpoint that receives
invalid UTF-8 fails the connection with 1007 (RFC 6455, 8.1 and 7.4.1).
Autobahn's cases 6.x check it, including "fail fast": the connection fails
as soon as the first byte that no continuation can make valid arrives, even
in the middle of a frame, without waiting for the rest of the message.
"""

from __future__ import annotations

import pytest
from raw_peer import (
    INVALID_UTF8,
    OP_BINARY,
    OP_CONT,
    OP_PING,
    OP_TEXT,
    SIDES,
    VALID_UTF8,
    Side,
    first_invalid_utf8_byte,
    open_peer,
)

pytestmark = pytest.mark.timeout(20)

INVALID_DATA = 1007

VALID = pytest.mark.parametrize(("name", "data"), VALID_UTF8, ids=[name for name, _ in VALID_UTF8])
INVALID = pytest.mark.parametrize(
    ("name", "data"), INVALID_UTF8, ids=[name for name, _ in INVALID_UTF8]
)
# Truncated characters are only invalid once the message ends.
FAIL_FAST_UTF8 = [
    (name, data) for name, data in INVALID_UTF8 if first_invalid_utf8_byte(data) is not None
]


def test_invalid_texts_are_invalid_and_valid_texts_valid() -> None:
    """The tables of this module agree with Python's codec and with the helper."""
    for _, data in VALID_UTF8:
        data.decode()
        assert first_invalid_utf8_byte(data) is None
    for _, data in INVALID_UTF8:
        with pytest.raises(UnicodeDecodeError):
            data.decode()


@pytest.mark.parametrize("side", SIDES)
@VALID
async def test_valid_text(side: Side, name: str, data: bytes) -> None:
    """Autobahn 6.1 and 6.2 (and 6.5 to 6.23 for the valid sequences)."""
    async with open_peer(side) as peer:
        # In one frame, then in one byte per TCP segment: partial frames are
        # validated as they arrive, and a valid prefix must not fail.
        await peer.send_frame(OP_TEXT, data)
        await peer.expect_message(OP_TEXT, data)
        await peer.send_in_chunks(peer.frame(OP_TEXT, data), 1)
        await peer.expect_message(OP_TEXT, data)


@pytest.mark.parametrize("side", SIDES)
@VALID
async def test_valid_text_split_at_every_byte(side: Side, name: str, data: bytes) -> None:
    """RFC 6455, 5.6: a character may span fragments; Autobahn 6.2.3 and 6.2.4."""
    async with open_peer(side) as peer:
        for split in range(len(data) + 1):
            await peer.send_message(OP_TEXT, [data[:split], data[split:]])
            await peer.expect_message(OP_TEXT, data)
        # And one byte per fragment.
        await peer.send_message(OP_TEXT, [data[index : index + 1] for index in range(len(data))])
        await peer.expect_message(OP_TEXT, data)


@pytest.mark.parametrize("side", SIDES)
@INVALID
async def test_invalid_text(side: Side, name: str, data: bytes) -> None:
    """Autobahn 6.3 and 6.5 to 6.23 for the invalid sequences."""
    async with open_peer(side) as peer:
        await peer.send_frame(OP_TEXT, data)
        await peer.expect_closing(INVALID_DATA)


@pytest.mark.parametrize("side", SIDES)
@INVALID
async def test_invalid_text_split_at_every_byte_fails_fast(
    side: Side, name: str, data: bytes
) -> None:
    """The connection fails on the fragment holding the first invalid byte.

    The message is never finished: a receiver that waits for its end to
    validate it never fails. A ping after a valid first fragment checks that
    a valid prefix, even one ending inside a character, doesn't fail.
    """
    first_invalid = first_invalid_utf8_byte(data)
    for split in range(1, len(data)):
        async with open_peer(side) as peer:
            await peer.send_frame(OP_TEXT, data[:split], fin=False)
            if first_invalid is None or first_invalid >= split:
                await peer.send_frame(OP_PING, b"still open")
                await peer.expect_pong(b"still open")
                # Truncated sequences only fail when the message ends.
                await peer.send_frame(OP_CONT, data[split:], fin=first_invalid is None)
            await peer.expect_closing(INVALID_DATA)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize(("name", "data"), FAIL_FAST_UTF8, ids=[name for name, _ in FAIL_FAST_UTF8])
async def test_invalid_text_fails_fast_inside_a_frame(side: Side, name: str, data: bytes) -> None:
    """The connection fails as soon as the first invalid byte arrives, even if
    the frame holding it never ends; Autobahn 6.4.3 and 6.4.4 (strict)."""
    first_invalid = first_invalid_utf8_byte(data)
    assert first_invalid is not None
    payload = data + b"never sent" * 10
    async with open_peer(side) as peer:
        frame = peer.frame(OP_TEXT, payload)
        header = len(frame) - len(payload)
        await peer.send_in_chunks(frame[: header + first_invalid + 1], 1)
        await peer.expect_closing(INVALID_DATA)


@pytest.mark.parametrize("side", SIDES)
async def test_invalid_continuation_fails_fast_inside_a_frame(side: Side) -> None:
    """Same as above, in a continuation frame whose valid start is in the previous one."""
    async with open_peer(side) as peer:
        await peer.send_frame(OP_TEXT, "κόσμε".encode() + b"\xed", fin=False)
        await peer.send_frame(OP_PING, b"still open")
        await peer.expect_pong(b"still open")
        frame = peer.frame(OP_CONT, b"\xa0\x80 and more", fin=False)
        header = len(frame) - len(b"\xa0\x80 and more")
        await peer.send(frame[: header + 1])
        await peer.expect_closing(INVALID_DATA)


# The four cases of Autobahn 6.4, with their payloads: the second part holds
# the first invalid byte, the third part never matters.

KOSME = bytes.fromhex("cebae1bdb9cf83cebcceb5")


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize(
    "parts",
    [
        (KOSME, bytes.fromhex("f4908080"), bytes.fromhex("656469746564")),
        (KOSME + b"\xf4", b"\x90", bytes.fromhex("8080656469746564")),
    ],
    ids=["6.4.1-and-6.4.3", "6.4.2-and-6.4.4"],
)
@pytest.mark.parametrize("chops", [False, True], ids=["frames", "chops"])
async def test_autobahn_6_4(side: Side, parts: tuple[bytes, bytes, bytes], chops: bool) -> None:
    part1, part2, part3 = parts
    async with open_peer(side) as peer:
        if chops:
            # One frame, written in three parts; the third is never sent.
            payload = part1 + part2 + part3
            frame = peer.frame(OP_TEXT, payload)
            header = len(frame) - len(payload)
            await peer.send(frame[: header + len(part1)])
            await peer.expect_no_eof()
            await peer.send(frame[header + len(part1) : header + len(part1) + len(part2)])
        else:
            await peer.send_frame(OP_TEXT, part1, fin=False)
            await peer.expect_no_eof()
            await peer.send_frame(OP_CONT, part2, fin=False)
        await peer.expect_closing(INVALID_DATA)


@pytest.mark.parametrize("side", SIDES)
@INVALID
async def test_binary_messages_are_not_validated(side: Side, name: str, data: bytes) -> None:
    async with open_peer(side) as peer:
        await peer.send_message(OP_BINARY, [data[:1], data[1:]])
        await peer.expect_message(OP_BINARY, data)


@pytest.mark.parametrize("side", SIDES)
async def test_invalid_text_in_a_large_frame_arriving_in_pieces(side: Side) -> None:
    """A large text frame in many pieces: validated as it arrives, invalid at its very end."""
    data = "κόσμε".encode() * 50_000
    async with open_peer(side) as peer:
        await peer.send_in_chunks(peer.frame(OP_TEXT, data), 4096)
        await peer.expect_message(OP_TEXT, data)
        await peer.send_in_chunks(peer.frame(OP_TEXT, data + b"\xff"), 4096)
        await peer.expect_closing(INVALID_DATA)

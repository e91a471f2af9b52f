"""Conformance of fragmented messages (RFC 6455, 5.4) from a raw peer.

Autobahn's cases 5.x check the same rules: control frames may be injected
between the fragments of a message, a continuation needs a message to
continue, and a new message cannot start before the current one ends.
"""

from __future__ import annotations

import pytest
from raw_peer import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    SIDES,
    Side,
    close_payload,
    open_peer,
)

pytestmark = pytest.mark.timeout(10)

PROTOCOL_ERROR = 1002


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
@pytest.mark.parametrize(
    "fragments",
    [
        [b"frag", b"mented"],
        [b"f", b"r", b"a", b"g"],
        [b"", b"empty first"],
        [b"empty last", b""],
        [b"empty", b"", b"", b"middles"],
        [b"", b""],
        [b"", b"", b"", b""],
        [b"x" * 65536, b"y" * 126, b"z" * 125],
    ],
    ids=[
        "two",
        "four",
        "empty-first",
        "empty-last",
        "empty-middles",
        "all-empty-two",
        "all-empty-four",
        "mixed-lengths",
    ],
)
async def test_fragmented_message_is_reassembled(
    side: Side, opcode: int, fragments: list[bytes]
) -> None:
    """RFC 6455, 5.4: fragments, empty ones included, make one message; Autobahn 5.3 to 5.5."""
    async with open_peer(side) as peer:
        await peer.send_message(opcode, fragments)
        await peer.expect_message(opcode, b"".join(fragments))


@pytest.mark.parametrize("side", SIDES)
async def test_message_of_one_byte_fragments(side: Side) -> None:
    data = bytes(range(256)) * 4
    async with open_peer(side) as peer:
        await peer.send_message(OP_BINARY, [data[index : index + 1] for index in range(len(data))])
        await peer.expect_message(OP_BINARY, data)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("position", [1, 2, 3], ids=["after-first", "middle", "before-last"])
@pytest.mark.parametrize("payload", [b"", b"ping", b"p" * 125], ids=["empty", "short", "125"])
async def test_ping_between_fragments_is_answered_at_once(
    side: Side, position: int, payload: bytes
) -> None:
    """RFC 6455, 5.4: "Control frames MAY be injected in the middle of a
    fragmented message"; 5.5.2: the Pong is sent "as soon as is practical",
    before the message completes; Autobahn 5.6 to 5.9."""
    fragments = [b"one ", b"two ", b"three ", b"four"]
    async with open_peer(side) as peer:
        all_frames = [
            peer.frame(OP_TEXT, fragments[0], fin=False),
            *(peer.frame(OP_CONT, fragment, fin=False) for fragment in fragments[1:-1]),
            peer.frame(OP_CONT, fragments[-1]),
        ]
        await peer.send(b"".join(all_frames[:position]))
        await peer.send_frame(OP_PING, payload)
        # The pong comes first, without waiting for the rest of the message.
        await peer.expect_pong(payload)
        await peer.send(b"".join(all_frames[position:]))
        await peer.expect_message(OP_TEXT, b"one two three four")


@pytest.mark.parametrize("side", SIDES)
async def test_many_pings_and_pongs_between_fragments(side: Side) -> None:
    """Autobahn 5.8 and 5.9 with several control frames in a row, written one byte at a time."""
    async with open_peer(side) as peer:
        data = b"".join(
            [
                peer.frame(OP_TEXT, b"frag", fin=False),
                peer.frame(OP_PING, b"1"),
                peer.frame(OP_PONG, b"unsolicited"),
                peer.frame(OP_PING, b"2"),
                peer.frame(OP_CONT, b"men", fin=False),
                peer.frame(OP_PING, b"3"),
                peer.frame(OP_CONT, b"ted"),
            ]
        )
        await peer.send_in_chunks(data, 1)
        for payload in (b"1", b"2", b"3"):
            await peer.expect_pong(payload)
        await peer.expect_message(OP_TEXT, b"fragmented")


@pytest.mark.parametrize("side", SIDES)
async def test_close_between_fragments_abandons_the_message(side: Side) -> None:
    """RFC 6455, 5.4 allows a Close frame inside a message; 1.4: once it is
    received, "a peer discards any further data"."""
    async with open_peer(side) as peer:
        await peer.send_frame(OP_TEXT, b"never ", fin=False)
        await peer.send_frame(OP_CLOSE, close_payload(1000))
        await peer.send_frame(OP_CONT, b"finished")
        await peer.expect_closing(1000)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("fin", [True, False], ids=["fin", "not-fin"])
@pytest.mark.parametrize("payload", [b"", b"continued"], ids=["empty", "payload"])
async def test_continuation_without_a_message(side: Side, fin: bool, payload: bytes) -> None:
    """RFC 6455, 5.4: a continuation frame continues a message; Autobahn 5.9 to 5.14."""
    async with open_peer(side) as peer:
        await peer.send_frame(OP_CONT, payload, fin=fin)
        await peer.expect_closing(PROTOCOL_ERROR)


@pytest.mark.parametrize("side", SIDES)
async def test_continuation_after_a_complete_message(side: Side) -> None:
    """Autobahn 5.15: the message ended with FIN, so the continuation has nothing to continue."""
    async with open_peer(side) as peer:
        await peer.send_message(OP_TEXT, [b"frag", b"ment1"])
        await peer.expect_message(OP_TEXT, b"fragment1")
        await peer.send_frame(OP_CONT, b"ment2")
        await peer.expect_closing(PROTOCOL_ERROR)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("first", [OP_TEXT, OP_BINARY], ids=["in-text", "in-binary"])
@pytest.mark.parametrize("second", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
@pytest.mark.parametrize("fin", [True, False], ids=["fin", "not-fin"])
async def test_new_message_inside_a_fragmented_message(
    side: Side, first: int, second: int, fin: bool
) -> None:
    """RFC 6455, 5.4: "the fragments of one message MUST NOT be interleaved
    between the fragments of another message"; Autobahn 5.17 and 5.18."""
    async with open_peer(side) as peer:
        await peer.send_frame(first, b"first", fin=False)
        await peer.send_frame(second, b"second", fin=fin)
        await peer.expect_closing(PROTOCOL_ERROR)


@pytest.mark.parametrize("side", SIDES)
async def test_messages_after_a_fragmented_message(side: Side) -> None:
    """State is reset between messages: the next one can be of the other type."""
    async with open_peer(side) as peer:
        await peer.send_message(OP_TEXT, [b"text ", b"first"])
        await peer.send_message(OP_BINARY, [b"\xff", b"\x00"])
        await peer.send_message(OP_TEXT, [b"whole"])
        await peer.expect_message(OP_TEXT, b"text first")
        await peer.expect_message(OP_BINARY, b"\xff\x00")
        await peer.expect_message(OP_TEXT, b"whole")

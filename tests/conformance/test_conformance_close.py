"""Conformance of the closing handshake (RFC 6455, 5.5.1 and 7) from a raw peer.

Autobahn's cases 7.x check the same rules: which codes a Close frame may
carry, what its payload may be, and that nothing is processed after it.
"""

from __future__ import annotations

import asyncio

import pytest
from raw_peer import (
    INVALID_CLOSE_CODES,
    INVALID_UTF8,
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_TEXT,
    SIDES,
    VALID_CLOSE_CODES,
    Side,
    close_payload,
    open_peer,
)

from websockets_typed.exceptions import ProtocolError
from websockets_typed.frames import Close

pytestmark = pytest.mark.timeout(10)

PROTOCOL_ERROR = 1002
INVALID_DATA = 1007

# Every code a Close frame may carry (RFC 6455, 7.4.1 and 7.4.2, and the IANA
# registry for 1012 to 1014), with a sample of 3000-4999.
WIRE_CODES = sorted({*VALID_CLOSE_CODES, 3001, 3500, 4001, 4500})
# Every code it may not carry: 0-999, 1004 (reserved), 1005, 1006 and 1015
# (internal), 1016-2999 (unassigned), 5000 and above; a sample of each range.
NOT_WIRE_CODES = sorted({*INVALID_CLOSE_CODES, 1, 500, 1016, 1500, 2500, 5000, 5001, 32768})


def test_code_tables() -> None:
    """The samples cover the boundaries of every range, and no code is on both sides."""
    assert not set(WIRE_CODES) & set(NOT_WIRE_CODES)
    assert {1000, 1003, 1007, 1014, 3000, 4999} <= set(WIRE_CODES)
    assert {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535} <= set(NOT_WIRE_CODES)


def test_every_close_code_of_a_received_close_frame() -> None:
    """All 65536 codes through the package's parser: valid exactly on the
    wire codes of RFC 6455, 7.4.1 and 7.4.2 plus 1012-1014 (IANA) and
    3000-4999; the samples below go over real connections."""
    valid = {*range(1000, 1004), *range(1007, 1015), *range(3000, 5000)}
    for code in range(2**16):
        try:
            close = Close.parse(close_payload(code, b"reason"))
        except ProtocolError:
            assert code not in valid, code
        else:
            assert code in valid, code
            assert (close.code, close.reason) == (code, "reason")


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("code", WIRE_CODES)
async def test_valid_close_code_is_echoed(side: Side, code: int) -> None:
    """RFC 6455, 5.5.1: the answer to a Close frame is a Close frame,
    "typically echoing the status code it received"; Autobahn 7.7.x."""
    async with open_peer(side) as peer:
        await peer.send_frame(OP_CLOSE, close_payload(code))
        await peer.expect_closing(code, b"")
    assert peer.ours.close_code == code
    assert peer.ours.close_reason == ""


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("code", NOT_WIRE_CODES)
async def test_invalid_close_code_is_a_protocol_error(side: Side, code: int) -> None:
    """RFC 6455, 7.4: codes reserved, internal or unassigned are not sent on
    the wire; receiving one fails the connection; Autobahn 7.9.x and 7.13.x."""
    async with open_peer(side) as peer:
        await peer.send_frame(OP_CLOSE, close_payload(code, b"bad code"))
        await peer.expect_closing(PROTOCOL_ERROR)


@pytest.mark.parametrize("side", SIDES)
async def test_empty_close_frame(side: Side) -> None:
    """RFC 6455, 5.5.1: the body is optional; Autobahn 7.3.1. Our side
    answers with an empty Close frame and reports 1005 (7.1.5)."""
    async with open_peer(side) as peer:
        await peer.send_frame(OP_CLOSE, b"")
        await peer.expect_closing(None)
    assert peer.ours.close_code == 1005


@pytest.mark.parametrize("side", SIDES)
async def test_one_byte_close_payload(side: Side) -> None:
    """RFC 6455, 5.5.1: a body starts with a 2-byte code; Autobahn 7.3.2."""
    async with open_peer(side) as peer:
        await peer.send_frame(OP_CLOSE, b"\x03")
        await peer.expect_closing(PROTOCOL_ERROR)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize(
    "reason",
    [b"", b"bye", "κόσμε".encode(), b"\x00 nul is valid", b"r" * 123, "é".encode() * 61 + b"x"],
    ids=["empty", "ascii", "greek", "nul", "123-bytes", "123-bytes-utf8"],
)
async def test_close_reason_is_echoed(side: Side, reason: bytes) -> None:
    """RFC 6455, 5.5.1: the reason is UTF-8, up to 123 bytes; Autobahn 7.3.3 to 7.3.5."""
    async with open_peer(side) as peer:
        await peer.send_frame(OP_CLOSE, close_payload(1000, reason))
        await peer.expect_closing(1000, reason)
    assert peer.ours.close_reason == reason.decode()


@pytest.mark.parametrize("side", SIDES)
async def test_close_reason_over_123_bytes(side: Side) -> None:
    """A 124-byte reason makes a 126-byte control frame; Autobahn 7.3.6."""
    async with open_peer(side) as peer:
        await peer.send_frame(OP_CLOSE, close_payload(1000, b"r" * 124))
        await peer.expect_closing(PROTOCOL_ERROR)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize(("name", "reason"), INVALID_UTF8, ids=[name for name, _ in INVALID_UTF8])
async def test_invalid_utf8_close_reason(side: Side, name: str, reason: bytes) -> None:
    """RFC 6455, 7.1.6: the reason is UTF-8; invalid data fails with 1007
    (7.4.1); Autobahn 7.5.1."""
    async with open_peer(side) as peer:
        await peer.send_frame(OP_CLOSE, close_payload(1000, reason))
        await peer.expect_closing(INVALID_DATA)


@pytest.mark.parametrize("side", SIDES)
async def test_message_then_close(side: Side) -> None:
    """Autobahn 7.1.1: the message is echoed, then the closing handshake completes."""
    async with open_peer(side) as peer:
        await peer.send_frame(OP_TEXT, b"Hello World!")
        await peer.expect_message(OP_TEXT, b"Hello World!")
        await peer.send_frame(OP_CLOSE, close_payload(1000))
        await peer.expect_closing(1000)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize(
    "after",
    [
        (OP_CLOSE, close_payload(1000)),
        (OP_CLOSE, close_payload(1002, b"other code")),
        (OP_CLOSE, b"\x03"),
        (OP_PING, b"ping"),
        (OP_TEXT, b"text"),
        (OP_TEXT, b"\xff invalid"),
        (OP_BINARY, b"binary"),
        (OP_CONT, b"cont"),
        (0x3, b"reserved opcode"),
    ],
    ids=[
        "close",
        "close-other-code",
        "invalid-close",
        "ping",
        "text",
        "invalid-text",
        "binary",
        "continuation",
        "reserved-opcode",
    ],
)
async def test_nothing_is_processed_after_a_close_frame(
    side: Side, after: tuple[int, bytes]
) -> None:
    """RFC 6455, 1.4: after a Close frame, "a peer discards any further data
    received"; 5.5.2: no Pong after a Close frame; Autobahn 7.1.2 to 7.1.4.
    Even invalid frames are discarded: the answer is the echo of the first Close."""
    opcode, payload = after
    async with open_peer(side) as peer:
        await peer.send(
            peer.frame(OP_CLOSE, close_payload(1000, b"first")) + peer.frame(opcode, payload)
        )
        await peer.expect_closing(1000, b"first")


@pytest.mark.parametrize("side", SIDES)
async def test_fragment_then_close(side: Side) -> None:
    """Autobahn 7.1.5: the unfinished message is dropped, the close completes."""
    async with open_peer(side) as peer:
        await peer.send_frame(OP_TEXT, b"fragment", fin=False)
        await peer.send_frame(OP_CLOSE, close_payload(1000))
        await peer.send_frame(OP_CONT, b"never delivered")
        await peer.expect_closing(1000)


# RFC 6455, 7.1.1: the server closes the TCP connection first.


@pytest.mark.parametrize("side", SIDES)
async def test_tcp_closing_order_when_the_peer_closes(side: Side) -> None:
    """Our server closes the TCP connection after its Close frame; our
    client leaves that to the server, which is the raw peer here."""
    async with open_peer(side) as peer:
        await peer.send_frame(OP_CLOSE, close_payload(1000))
        await peer.expect_closing(1000, linger=True)
    assert peer.ours.close_code == 1000


@pytest.mark.parametrize("side", SIDES)
async def test_tcp_closing_order_when_failing(side: Side) -> None:
    async with open_peer(side) as peer:
        await peer.send_frame(0x3)
        await peer.expect_closing(PROTOCOL_ERROR, linger=True)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("code", [1000, 1001, 3000, 4999])
async def test_closing_handshake_started_by_our_side(side: Side, code: int) -> None:
    """RFC 6455, 7.1.2: our side sends a Close frame, the peer answers,
    and the TCP connection closes in the order of 7.1.1."""
    async with open_peer(side) as peer:
        await peer.ours.send("last message")
        await peer.expect_message(OP_TEXT, b"last message")
        waiter = asyncio.ensure_future(peer.ours.close(code, "going"))
        await peer.expect_close(code, b"going")
        await peer.send_frame(OP_CLOSE, close_payload(code))
        if peer.is_client:
            await peer.expect_eof()
        else:
            await peer.expect_no_eof()
        await peer.close()
        async with asyncio.timeout(1):
            await waiter
    assert peer.ours.close_code == code


@pytest.mark.parametrize("side", SIDES)
async def test_frames_crossing_our_close_frame(side: Side) -> None:
    """RFC 6455, 7.1.2 and 7.1.3: until the peer's Close frame arrives, the
    peer may still send frames (it hadn't seen ours yet). A Ping still gets
    its Pong (5.5.2); a message gets no echo, since we may not send data
    after our Close frame (5.5.1)."""
    async with open_peer(side) as peer:
        waiter = asyncio.ensure_future(peer.ours.close(1000))
        await peer.expect_close(1000)
        await peer.send_frame(OP_TEXT, b"crossing the close")
        await peer.send_frame(OP_PING, b"crossing ping")
        await peer.expect_pong(b"crossing ping")
        await peer.send_frame(OP_CLOSE, close_payload(1000))
        if peer.is_client:
            await peer.expect_eof()
        await peer.close()
        async with asyncio.timeout(1):
            await waiter
    assert peer.ours.close_code == 1000

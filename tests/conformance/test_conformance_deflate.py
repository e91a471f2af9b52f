"""Conformance of permessage-deflate (RFC 7692) from a raw peer.

The raw peer negotiates by hand and compresses with :mod:`zlib`, or with
:class:`~raw_peer.Deflate256` for 8-bit windows, which zlib cannot
compress with. It decompresses what the package sends with exactly the
negotiated window, so a package that used a larger one fails the test.
Autobahn's cases 12.x and 13.x exchange compressed messages with each set of
parameters; its cases 6.x, 9.x and 10.x don't negotiate compression.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import zlib
from collections.abc import AsyncGenerator

import pytest
from raw_peer import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    SIDES,
    TIMEOUT,
    Deflate256,
    RawPeer,
    RawServer,
    Side,
    close_payload,
    far_repeats,
    open_peer,
    parse_deflate_response,
)

from websockets_typed.asyncio.client import connect
from websockets_typed.exceptions import InvalidHandshake, NegotiationError
from websockets_typed.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)

# Every test runs with zlib and with zlib-ng on the package's side.
pytest_plugins = ["zlib_backends"]
pytestmark = [pytest.mark.timeout(20), pytest.mark.usefixtures("zlib_backend")]

PROTOCOL_ERROR = 1002
INVALID_DATA = 1007
MESSAGE_TOO_BIG = 1009


def negotiated(peer: RawPeer) -> PerMessageDeflate:
    """The package's side of the negotiated extension."""
    [extension] = peer.ours.protocol.extensions
    assert isinstance(extension, PerMessageDeflate)
    return extension


@contextlib.asynccontextmanager
async def deflate_peer(side: Side, *, max_size: int | None = 2**20) -> AsyncGenerator[RawPeer]:
    """A raw peer with permessage-deflate negotiated with the default settings of each side."""
    async with open_peer(
        side,
        offer="permessage-deflate; client_max_window_bits",
        response="permessage-deflate",
        max_size=max_size,
    ) as peer:
        assert peer.deflate is not None
        yield peer


def sample_messages(window_bits: int) -> list[bytes]:
    """Messages that exercise a window: far repeats, near repeats, text, nothing."""
    near = os.urandom(200)
    # Repeated just beyond the window: a compressor using a larger one would
    # reach it, even zlib's 9 bits for an 8-bit window without its 250-byte
    # limit on distances (see permessage_deflate's docstring).
    just_beyond = os.urandom((1 << window_bits) + 4)
    return [
        far_repeats(window_bits),
        just_beyond * 2,
        near + near + near[:100],
        "κόσμε, Hello-µ@ßöäüàá-UTF-8!! ".encode() * 40,
        b"",
        bytes(5000),
    ]


def test_deflate256_reaches_the_limit_of_an_8_bit_window() -> None:
    """The hand-made compressor uses distances of 256 and inflates with an 8-bit window."""
    compressor = Deflate256()
    decompressor = zlib.decompressobj(wbits=-8)
    block = os.urandom(256)
    for data in (block * 2, b"abc" * 200, b"", os.urandom(1000), block):
        compressed = compressor.compress_sync(data)
        assert decompressor.decompress(compressed) == data
    # block * 2 compresses to its first half plus a match at distance 256.
    assert len(Deflate256().compress_sync(block * 2)) < 300
    # The last message matched the first one's history across messages.
    assert len(compressor.compress_sync(block)) < 20


# Negotiation, server side (RFC 7692, 7.1).


@pytest.mark.parametrize(
    ("offer", "response"),
    [
        ("permessage-deflate", "permessage-deflate; server_max_window_bits=12"),
        (
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; server_max_window_bits=12",
        ),
        (
            "permessage-deflate; client_max_window_bits=10",
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=10",
        ),
        (
            "permessage-deflate; server_max_window_bits=9",
            "permessage-deflate; server_max_window_bits=9",
        ),
        (
            "permessage-deflate; server_max_window_bits=15",
            "permessage-deflate; server_max_window_bits=12",
        ),
        (
            "permessage-deflate; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=12",
        ),
        (
            "permessage-deflate; client_no_context_takeover",
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=12",
        ),
        (
            "permessage-deflate; server_max_window_bits=8, permessage-deflate",
            "permessage-deflate; server_max_window_bits=8",
        ),
        (
            "permessage-deflate; unknown_parameter, permessage-deflate; server_max_window_bits=10",
            "permessage-deflate; server_max_window_bits=10",
        ),
    ],
    ids=[
        "plain",
        "client-bits-offered",
        "client-bits-10",
        "server-bits-9",
        "server-bits-15-limited-to-12",
        "server-no-context",
        "client-no-context",
        "server-bits-8",
        "invalid-then-valid",
    ],
)
async def test_server_answers_offer(offer: str, response: str) -> None:
    """The default server factory limits its window to 12 bits; RFC 7692,
    7.1.2.1 lets it answer with a smaller value than offered."""
    async with open_peer("server", offer=offer) as peer:
        assert peer.headers["sec-websocket-extensions"] == response
        for data in sample_messages(9):
            await peer.send_message(OP_BINARY, [data])
            await peer.expect_message(OP_BINARY, data)


@pytest.mark.parametrize(
    "offer",
    [
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=08",
        "permessage-deflate; server_no_context_takeover=yes",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; mystery",
        "x-webkit-deflate-frame",
    ],
    ids=["16-bits", "leading-zero", "value-on-flag", "duplicate", "unknown", "other"],
)
async def test_server_declines_offer_it_cannot_accept(offer: str) -> None:
    """RFC 7692, 7: an offer the server can't accept is declined, not failed;
    the connection goes on without compression."""
    async with open_peer("server", offer=offer) as peer:
        assert "sec-websocket-extensions" not in peer.headers
        assert peer.deflate is None
        await peer.send_frame(OP_TEXT, b"uncompressed")
        [frame] = await peer.expect_message(OP_TEXT, b"uncompressed")
        assert not frame.rsv1


# Negotiation, client side.


@pytest.mark.parametrize(
    "response",
    [
        "permessage-deflate",
        "permessage-deflate; server_max_window_bits=8",
        "permessage-deflate; client_max_window_bits=9",
        "permessage-deflate; client_max_window_bits=8",
        "permessage-deflate; server_no_context_takeover",
        "permessage-deflate; client_no_context_takeover",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=10; client_max_window_bits=11",
    ],
    ids=[
        "plain",
        "server-bits-8",
        "client-bits-9",
        "client-bits-8",
        "server-no-context",
        "client-no-context",
        "everything",
    ],
)
async def test_client_accepts_response(response: str) -> None:
    """The default client offer, ``permessage-deflate; client_max_window_bits``,
    lets the server pick any parameter (RFC 7692, 7.1)."""
    async with open_peer("client", response=response) as peer:
        params = parse_deflate_response(response)
        extension = negotiated(peer)
        assert extension.remote_no_context_takeover is params.server_no_context_takeover
        assert extension.local_no_context_takeover is params.client_no_context_takeover
        assert extension.remote_max_window_bits == (params.server_max_window_bits or 15)
        assert extension.local_max_window_bits == (params.client_max_window_bits or 15)
        for data in sample_messages(9):
            await peer.send_message(OP_BINARY, [data])
            await peer.expect_message(OP_BINARY, data)


@pytest.mark.parametrize(
    "response",
    [
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; mystery",
        "permessage-deflate, permessage-deflate",
        "x-webkit-deflate-frame",
    ],
    ids=["16-bits", "no-value", "unknown", "twice", "not-offered"],
)
async def test_client_fails_on_response_it_cannot_accept(response: str) -> None:
    """RFC 7692, 7: a client that can't accept the response fails the connection."""
    server = RawServer()
    await server.start()
    try:
        async with asyncio.timeout(TIMEOUT):
            connecting = asyncio.ensure_future(connect(server.uri, ping_interval=None))
            peer = await server.accept(extensions=response, parse=False)
            with pytest.raises(InvalidHandshake) as exc_info:
                await connecting
            await peer.expect_eof()
    finally:
        await server.close()
    assert isinstance(exc_info.value, NegotiationError)


# Window sizes (RFC 7692, 7.1.2): every value the peer may compress with,
# every value we may compress with.


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("bits", range(8, 16))
async def test_peer_compresses_with_window_bits(side: Side, bits: int) -> None:
    """We decompress whatever window the peer negotiated, 8 bits included."""
    async with open_peer(
        side,
        offer=f"permessage-deflate; client_max_window_bits={bits}",
        response=f"permessage-deflate; server_max_window_bits={bits}",
        server_extensions=[ServerPerMessageDeflateFactory()],
    ) as peer:
        assert peer.deflate is not None
        assert peer.deflate.compress_bits == bits
        assert negotiated(peer).remote_max_window_bits == bits
        for data in sample_messages(bits):
            await peer.send_message(OP_BINARY, [data])
            await peer.expect_message(OP_BINARY, data)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("bits", range(8, 16))
async def test_we_compress_within_window_bits(side: Side, bits: int) -> None:
    """The raw peer decompresses with exactly the negotiated window: data
    whose repeats lie just beyond it fails if we used a larger one."""
    async with open_peer(
        side,
        offer=f"permessage-deflate; server_max_window_bits={bits}",
        response=f"permessage-deflate; client_max_window_bits={bits}",
        server_extensions=[ServerPerMessageDeflateFactory()],
    ) as peer:
        assert peer.deflate is not None
        assert peer.deflate.decompress_bits == bits
        assert negotiated(peer).local_max_window_bits == bits
        for data in sample_messages(bits):
            await peer.send_message(OP_BINARY, [data])
            [frame] = await peer.expect_message(OP_BINARY, data)
            assert frame.rsv1


async def test_server_configured_with_8_bits_announces_8() -> None:
    """Our configuration may ask for 8 bits when the client leaves the choice
    to the server (RFC 7692, 7.1.2.1); the raw peer inflates with exactly 8."""
    async with open_peer(
        "server",
        offer="permessage-deflate",
        server_extensions=[ServerPerMessageDeflateFactory(server_max_window_bits=8)],
    ) as peer:
        assert peer.headers["sec-websocket-extensions"] == (
            "permessage-deflate; server_max_window_bits=8"
        )
        assert peer.deflate is not None
        assert peer.deflate.decompress_bits == 8
        for data in sample_messages(8):
            await peer.send_message(OP_BINARY, [data])
            [frame] = await peer.expect_message(OP_BINARY, data)
            assert frame.rsv1


# Context takeover (RFC 7692, 7.1.1).


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("peer_resets", [False, True], ids=["peer-keeps", "peer-resets"])
@pytest.mark.parametrize("we_reset", [False, True], ids=["we-keep", "we-reset"])
async def test_context_takeover(side: Side, peer_resets: bool, we_reset: bool) -> None:
    """Without no_context_takeover, a message may refer to earlier ones; with
    it, each message starts with an empty window. The raw peer decompresses
    our messages with a fresh window each time when we promised to reset."""
    ours, theirs = ("server", "client") if side == "server" else ("client", "server")
    params = [
        f"{theirs}_no_context_takeover" if peer_resets else "",
        f"{ours}_no_context_takeover" if we_reset else "",
    ]
    header = "; ".join(["permessage-deflate", *filter(None, params)])
    async with open_peer(side, offer=header, response=header) as peer:
        assert peer.deflate is not None
        assert peer.deflate.compress_no_context is peer_resets
        assert peer.deflate.decompress_no_context is we_reset
        extension = negotiated(peer)
        assert extension.local_no_context_takeover is we_reset
        assert extension.remote_no_context_takeover is peer_resets
        data = os.urandom(1000)
        sizes: list[int] = []
        for _ in range(3):
            await peer.send_message(OP_BINARY, [data])
            [frame] = await peer.expect_message(OP_BINARY, data)
            sizes.append(len(frame.payload))
        # Taking over context, the second message refers to the first one.
        assert (sizes[1] > 1000) is we_reset


# Frames (RFC 7692, 6.1 and 7.2).


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize(
    "fragments",
    [[b"frag", b"mented"], [b"", b"empty", b"", b"fragments", b""], [b"x" * 70_000, b"y"]],
    ids=["two", "empty-ones", "large"],
)
async def test_fragmented_compressed_message(side: Side, fragments: list[bytes]) -> None:
    """RFC 7692, 6.1: RSV1 on the first frame compresses the whole message."""
    async with deflate_peer(side) as peer:
        await peer.send_message(OP_TEXT, fragments)
        await peer.expect_message(OP_TEXT, b"".join(fragments))


@pytest.mark.parametrize("side", SIDES)
async def test_compressed_and_uncompressed_messages_mixed(side: Side) -> None:
    """RFC 7692, 6.1: a message without RSV1 isn't compressed, even once negotiated."""
    async with deflate_peer(side) as peer:
        for index in range(6):
            data = b"message %d " % index * 50
            compressed = index % 2 == 0
            await peer.send_message(OP_BINARY, [data[:100], data[100:]], compress=compressed)
            [frame] = await peer.expect_message(OP_BINARY, data)
            # We compress every message we send.
            assert frame.rsv1


@pytest.mark.parametrize("side", SIDES)
async def test_empty_compressed_message(side: Side) -> None:
    """RFC 7692, 7.2.3.6: an empty message may be sent as a single 0x00 byte."""
    async with deflate_peer(side) as peer:
        await peer.send_message(OP_TEXT, [b""])
        await peer.expect_message(OP_TEXT, b"")
        await peer.send_frame(OP_TEXT, b"\x00", rsv1=True)
        await peer.expect_message(OP_TEXT, b"")
        await peer.send_frame(OP_TEXT, b"\x02\x00", rsv1=True)  # an empty fixed block
        await peer.expect_message(OP_TEXT, b"")


@pytest.mark.parametrize("side", SIDES)
async def test_message_ending_the_deflate_stream(side: Side) -> None:
    """RFC 7692, 7.2.3.4: a message may end with a BFINAL block; the next
    message starts a new stream."""
    async with deflate_peer(side) as peer:
        assert peer.deflate is not None
        for data in (b"final block" * 10, b"", b"another one"):
            await peer.send_frame(OP_BINARY, peer.deflate.compress_final(data), rsv1=True)
            await peer.expect_message(OP_BINARY, data)


@pytest.mark.parametrize("side", SIDES)
async def test_rsv1_on_continuation_frame(side: Side) -> None:
    """RFC 7692, 6.1: RSV1 is set on the first frame of a message only."""
    async with deflate_peer(side) as peer:
        assert peer.deflate is not None
        first, second = peer.deflate.compress([b"frag", b"ment"])
        await peer.send_frame(OP_TEXT, first, fin=False, rsv1=True)
        await peer.send_frame(OP_CONT, second, rsv1=True)
        await peer.expect_closing(PROTOCOL_ERROR)


@pytest.mark.parametrize("side", SIDES)
async def test_rsv1_on_continuation_of_uncompressed_message(side: Side) -> None:
    async with deflate_peer(side) as peer:
        await peer.send_frame(OP_TEXT, b"plain", fin=False)
        await peer.send_frame(OP_CONT, b"\x00", rsv1=True)
        await peer.expect_closing(PROTOCOL_ERROR)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG, OP_CLOSE], ids=["ping", "pong", "close"])
async def test_compressed_control_frame(side: Side, opcode: int) -> None:
    """RFC 7692, 6.1: "An endpoint MUST NOT set the RSV1 bit on control frames"."""
    async with deflate_peer(side) as peer:
        payload = close_payload(1000) if opcode == OP_CLOSE else b"\x00"
        await peer.send_frame(opcode, payload, rsv1=True)
        await peer.expect_closing(PROTOCOL_ERROR)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("rsv", ["rsv2", "rsv3"])
async def test_other_reserved_bits_on_compressed_message(side: Side, rsv: str) -> None:
    """permessage-deflate defines RSV1 only (RFC 7692, 6)."""
    async with deflate_peer(side) as peer:
        assert peer.deflate is not None
        [payload] = peer.deflate.compress([b"data"])
        await peer.send_frame(OP_TEXT, payload, rsv1=True, rsv2=rsv == "rsv2", rsv3=rsv == "rsv3")
        await peer.expect_closing(PROTOCOL_ERROR)


@pytest.mark.parametrize("side", SIDES)
async def test_our_control_frames_are_never_compressed(side: Side) -> None:
    async with deflate_peer(side) as peer:
        await peer.send_frame(OP_PING, b"ping")
        await peer.expect_pong(b"ping")  # checks RSV1 clear
        await peer.ours.ping(b"our ping")
        frame = await peer.read_frame()
        assert (frame.opcode, frame.payload, frame.rsv1) == (OP_PING, b"our ping", False)
        await peer.send_frame(OP_CLOSE, close_payload(1000, b"bye"))
        await peer.expect_closing(1000, b"bye")  # checks RSV1 clear


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize(
    "payload",
    [b"\xff\xff\xff\xff", b"\x07", zlib.compress(b"zlib header, not raw deflate")],
    ids=["garbage", "reserved-block-type", "zlib-wrapper"],
)
async def test_invalid_compressed_data(side: Side, payload: bytes) -> None:
    """RFC 7692, 7.2.2: data that fails to decompress fails the connection."""
    async with deflate_peer(side) as peer:
        await peer.send_frame(OP_BINARY, payload, rsv1=True)
        await peer.expect_closing(PROTOCOL_ERROR)


@pytest.mark.parametrize("side", SIDES)
async def test_data_after_the_end_of_the_deflate_stream(side: Side) -> None:
    """After a BFINAL block only the empty stored block may follow (RFC 7692, 7.2.3.4)."""
    async with deflate_peer(side) as peer:
        assert peer.deflate is not None
        payload = peer.deflate.compress_final(b"done") + b"trailing garbage"
        await peer.send_frame(OP_BINARY, payload, rsv1=True)
        await peer.expect_closing(PROTOCOL_ERROR)


# Text is validated once inflated (RFC 6455, 8.1).


@pytest.mark.parametrize("side", SIDES)
async def test_invalid_utf8_in_compressed_text(side: Side) -> None:
    async with deflate_peer(side) as peer:
        await peer.send_message(OP_TEXT, ["κόσμε".encode() + b"\xed\xa0\x80"])
        await peer.expect_closing(INVALID_DATA)


@pytest.mark.parametrize("side", SIDES)
async def test_invalid_utf8_in_compressed_fragment_fails_fast(side: Side) -> None:
    """The fragment holding the first invalid byte fails the connection; the
    rest of the message never comes."""
    async with deflate_peer(side) as peer:
        assert peer.deflate is not None
        first, second, _ = peer.deflate.compress([b"valid ", b"\xf4\x90", b"never sent"])
        await peer.send_frame(OP_TEXT, first, fin=False, rsv1=True)
        await peer.send_frame(OP_PING, b"still open")
        await peer.expect_pong(b"still open")
        await peer.send_frame(OP_CONT, second, fin=False)
        await peer.expect_closing(INVALID_DATA)


# max_size applies to the inflated message: no decompression bombs.


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("fragments", [1, 4], ids=["one-frame", "four-frames"])
async def test_decompression_bomb(side: Side, fragments: int) -> None:
    """16 MiB of zeros compress to 16 KiB; inflating stops at max_size (1009)."""
    async with deflate_peer(side, max_size=2**20) as peer:
        assert peer.deflate is not None
        size = 2**24 // fragments
        payloads = peer.deflate.compress([bytes(size)] * fragments)
        assert sum(map(len, payloads)) < 2**15
        frames = b"".join(
            peer.frame(
                OP_BINARY if index == 0 else OP_CONT,
                payload,
                fin=index == fragments - 1,
                rsv1=index == 0,
            )
            for index, payload in enumerate(payloads)
        )
        await peer.send(frames)
        await peer.expect_closing(MESSAGE_TOO_BIG, b"message exceeds the limit of 1048576 bytes")


@pytest.mark.parametrize("side", SIDES)
async def test_compressed_message_of_max_size(side: Side) -> None:
    """The limit is inclusive, and applies after inflating."""
    async with deflate_peer(side, max_size=100_000) as peer:
        await peer.send_message(OP_BINARY, [bytes(50_000), bytes(50_000)])
        await peer.expect_message(OP_BINARY, bytes(100_000))
        await peer.send_message(OP_BINARY, [bytes(50_000), bytes(50_001)])
        # The second frame was inflated with a budget of 50 000 bytes; the
        # reason speaks of the message's limit.
        await peer.expect_closing(MESSAGE_TOO_BIG, b"message exceeds the limit of 100000 bytes")

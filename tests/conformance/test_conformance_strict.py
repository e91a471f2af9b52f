"""Strict conformance: what RFC 6455 allows or requires at the edges of the limits."""

from __future__ import annotations

import asyncio
import sys

import pytest
from protocol_helpers import (
    EOF,
    assert_failing,
    assert_received,
    assert_state,
    open_client,
    open_server,
    sent,
    wire,
)
from raw_peer import OP_BINARY, OP_TEXT, SIDES, TIMEOUT, Side, open_peer, open_raw_client

import websockets_typed._receivebuffer
import websockets_typed.frames
from websockets_typed._defaults import MAX_FRAGMENTS, MAX_SIZE
from websockets_typed.asyncio.server import ServerConnection, serve
from websockets_typed.exceptions import TooManyFragments
from websockets_typed.frames import Close, CloseCode, Frame, Opcode
from websockets_typed.protocol import State
from websockets_typed.typing import BytesLike, Data


@pytest.fixture
def unmasked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of every payload the protocol unmasks."""
    sizes: list[int] = []
    apply_mask = websockets_typed.frames.apply_mask
    mask_in_place = websockets_typed._receivebuffer.mask_in_place

    def counting_apply_mask(data: BytesLike, mask: BytesLike) -> bytes:
        sizes.append(len(data))
        return apply_mask(data, mask)

    def counting_mask_in_place(data: bytearray | memoryview, mask: BytesLike) -> None:
        sizes.append(len(data))
        mask_in_place(data, mask)

    # Every module of the package that unmasks, either way.
    for name, module in list(sys.modules.items()):
        if not name.startswith("websockets_typed"):
            continue
        if getattr(module, "apply_mask", None) is apply_mask:
            monkeypatch.setattr(module, "apply_mask", counting_apply_mask)
        if getattr(module, "mask_in_place", None) is mask_in_place:
            monkeypatch.setattr(module, "mask_in_place", counting_mask_in_place)
    return sizes


@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY])
def test_large_frame_arriving_in_pieces_is_unmasked_once(
    opcode: Opcode, unmasked: list[int]
) -> None:
    server = open_server(max_size=None)
    frame = Frame(opcode, "é".encode() * 2**19)  # 1 MiB
    data = wire(server, frame)
    unmasked.clear()  # masking it for the test
    for index in range(0, len(data), 65_536):
        server.receive_data(data[index : index + 65_536])
    assert_received(server, frame)
    assert sum(unmasked) == len(frame.data)


def fragments(size: int, count: int, *, final_empty: bool = False) -> bytes:
    """A binary message of ``count`` fragments of ``size`` bytes, unmasked, as a server sends it."""
    assert size < 126
    first = bytes([Opcode.BINARY, size]) + bytes(size)
    middle = bytes([Opcode.CONT, size]) + bytes(size)
    last = bytes([0x80 | Opcode.CONT, size]) + bytes(size)
    if final_empty:
        return first + middle * (count - 1) + bytes([0x80 | Opcode.CONT, 0])
    return first + middle * (count - 2) + last


@pytest.mark.parametrize(
    ("max_size", "message", "final_empty"),
    [
        # Autobahn 9.3.1 and 9.4.1 send 4 MiB in 64-byte fragments; here
        # with an empty frame to end the message, as some senders do.
        pytest.param(2**23, 2**22, True, id="4 MiB in 65,537 frames"),
        pytest.param(2**23, 2**23, False, id="8 MiB in 131,072 frames"),
    ],
)
def test_fragment_limit_scales_with_max_size(
    max_size: int, message: int, final_empty: bool
) -> None:
    client = open_client(max_size=max_size, max_fragments=MAX_FRAGMENTS)
    client.receive_data(fragments(64, message // 64, final_empty=final_empty))
    events = client.events_received()
    assert sum(len(event.data) for event in events if isinstance(event, Frame)) == message
    last = events[-1]
    assert isinstance(last, Frame)
    assert last.fin
    assert client.data_to_send() == []
    assert_state(client, State.OPEN)


def test_flood_of_tiny_fragments_under_the_default_max_size_fails_with_1009() -> None:
    client = open_client(max_size=MAX_SIZE, max_fragments=MAX_FRAGMENTS)
    client.receive_data(fragments(0, 70_000))
    assert_failing(client, CloseCode.MESSAGE_TOO_BIG)
    assert isinstance(client.parser_exc, TooManyFragments)
    assert client.parser_exc.max_fragments == 2**16


def test_an_explicit_fragment_limit_does_not_scale() -> None:
    client = open_client(max_size=2**23, max_fragments=2**16)
    client.receive_data(fragments(64, 2**17))
    assert_failing(client, CloseCode.MESSAGE_TOO_BIG)
    assert isinstance(client.parser_exc, TooManyFragments)
    assert client.parser_exc.max_fragments == 2**16


def test_frame_budget_holds_back_the_frames_beyond_it() -> None:
    server = open_server()
    data = b"".join(wire(server, Frame(Opcode.BINARY, b"x")) for _ in range(100))
    server.frame_budget = 16
    server.receive_data(data)
    assert len(server.events_received()) == 16
    assert server.frame_budget == 0
    assert server.holds_frames
    # Nothing more is parsed until the budget allows.
    server.receive_data(b"")
    assert server.events_received() == []
    server.frame_budget = None
    server.receive_data(b"")
    assert len(server.events_received()) == 84
    assert not server.holds_frames


def test_frame_budget_counts_data_frames_only() -> None:
    server = open_server()
    ping = wire(server, Frame(Opcode.PING, b""))
    data = wire(server, Frame(Opcode.BINARY, b"x"))
    server.frame_budget = 2
    server.receive_data(ping + data + ping + data + data)
    assert [event.opcode for event in server.events_received() if isinstance(event, Frame)] == [
        Opcode.PING,
        Opcode.BINARY,
        Opcode.PING,
        Opcode.BINARY,
    ]


def test_frames_held_back_are_parsed_before_the_end_of_the_stream() -> None:
    server = open_server()
    data = b"".join(wire(server, Frame(Opcode.BINARY, b"x")) for _ in range(3))
    close = wire(server, Frame(Opcode.CLOSE, b"\x03\xe8"))
    server.frame_budget = 1
    server.receive_data(data + close)
    assert len(server.events_received()) == 1
    server.receive_eof()
    events = server.events_received()
    assert [event.opcode for event in events if isinstance(event, Frame)] == [
        Opcode.BINARY,
        Opcode.BINARY,
        Opcode.CLOSE,
    ]
    assert server.close_code == 1000


class _Watched(ServerConnection):
    """A server connection that tells when it pauses reading, and its longest queue."""

    paused: asyncio.Event
    longest = 0

    def buffer_updated(self, nbytes: int) -> None:
        super().buffer_updated(nbytes)
        self.longest = max(self.longest, len(self.recv_messages))

    def _bytes_received(self, data: bytes) -> None:
        # How uvloop's plain transports deliver reads (see _bytesreads).
        super()._bytes_received(data)
        self.longest = max(self.longest, len(self.recv_messages))

    def _pause_reading(self) -> None:
        super()._pause_reading()
        # Not the pause during the opening handshake: a full queue.
        if len(self.recv_messages) > 0:
            self.paused.set()


async def test_max_queue_holds_within_a_single_read() -> None:
    count = 256 * 1024 // 7  # tiny masked frames: 6 bytes of header, 1 of payload
    release, done = asyncio.Event(), asyncio.Event()
    received: list[Data] = []
    connections: list[_Watched] = []

    async def handler(connection: ServerConnection) -> None:
        assert isinstance(connection, _Watched)
        connections.append(connection)
        await release.wait()
        for _ in range(count):
            received.append(await connection.recv())
        done.set()

    _Watched.paused = asyncio.Event()
    async with (
        asyncio.timeout(TIMEOUT),
        serve(handler, "127.0.0.1", 0, max_queue=16, create_connection=_Watched) as server,
    ):
        port: int = server.sockets[0].getsockname()[1]
        peer = await open_raw_client(port)
        try:
            # The server reads up to 256 KiB at once.
            await peer.send(peer.frame(OP_BINARY, b"x") * count)
            await _Watched.paused.wait()
            [connection] = connections
            assert len(connection.recv_messages) == 16
            # Every frame gets through, 16 at most in the queue at a time.
            release.set()
            await done.wait()
        finally:
            await peer.close()
    assert received == [b"x"] * count
    assert connection.longest <= 16


def test_failure_deferred_until_the_application_handled_what_came_before() -> None:
    server = open_server()
    server.defer_failures = True
    bad = wire(server, Frame(Opcode.BINARY, b"bad", rsv2=True))
    server.receive_data(wire(server, Frame(Opcode.TEXT, b"hello")) + bad)
    assert_received(server, Frame(Opcode.TEXT, b"hello"))
    assert server.data_to_send() == []
    assert server.deferred_failure == Close(CloseCode.PROTOCOL_ERROR, "reserved bits must be 0")
    # Nothing more is read, but the answer goes out before the Close frame.
    server.receive_data(wire(server, Frame(Opcode.TEXT, b"ignored")))
    assert server.events_received() == []
    server.send_text(b"hello")
    server.fail_deferred()
    assert sent(server) == [
        Frame(Opcode.TEXT, b"hello"),
        Frame(Opcode.CLOSE, Close(1002, "reserved bits must be 0").serialize()),
        EOF,
    ]
    server.fail_deferred()  # once only
    assert server.data_to_send() == []


def test_failure_deferred_is_sent_at_the_end_of_the_stream() -> None:
    client = open_client()
    client.defer_failures = True
    client.receive_data(wire(client, Frame(Opcode.TEXT, b"\xff")))
    assert client.data_to_send() == []
    client.receive_eof()
    assert sent(client) == [
        Frame(Opcode.CLOSE, Close(1007, "invalid start byte at position 0").serialize()),
        EOF,
    ]


def test_failure_inside_a_fragmented_message_is_not_deferred() -> None:
    server = open_server(max_fragments=2)
    server.defer_failures = True
    fragment = wire(server, Frame(Opcode.BINARY, b"x", fin=False))
    server.receive_data(fragment + wire(server, Frame(Opcode.CONT, b"x", fin=False)) * 2)
    assert server.deferred_failure is None
    assert_failing(server, CloseCode.MESSAGE_TOO_BIG)


@pytest.mark.parametrize("side", SIDES)
async def test_message_before_a_bad_frame_is_delivered_and_answered(side: Side) -> None:
    async with open_peer(side) as peer:
        await peer.send(peer.frame(OP_TEXT, b"hello") + peer.frame(OP_BINARY, b"bad", rsv3=True))
        # The echo goes out before the Close frame.
        await peer.expect_message(OP_TEXT, b"hello")
        await peer.expect_closing(CloseCode.PROTOCOL_ERROR, b"reserved bits must be 0")


async def test_failure_deferred_for_a_message_never_received_comes_after_close_timeout() -> None:
    async def handler(connection: ServerConnection) -> None:
        await connection.wait_closed()  # never receives

    async with (
        asyncio.timeout(TIMEOUT),
        serve(handler, "127.0.0.1", 0, close_timeout=0.1) as server,
    ):
        port: int = server.sockets[0].getsockname()[1]
        peer = await open_raw_client(port)
        await peer.send(peer.frame(OP_TEXT, b"hello") + peer.frame(OP_BINARY, b"", rsv3=True))
        await peer.expect_closing(CloseCode.PROTOCOL_ERROR, b"reserved bits must be 0")

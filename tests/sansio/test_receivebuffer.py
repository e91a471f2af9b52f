"""Tests of large frames received into their final buffer, and of the helpers behind it.

The protocol allocates a large frame's payload once, when its header
arrives; an I/O layer that reads into buffers reads the rest of it straight
into :attr:`~websockets_typed.protocol.Protocol.payload_buffer`. These tests
drive that API by hand, as asyncio's buffered transports do, with frames
built by the raw peer, and check the C accelerator's helpers against their
pure-Python versions.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from protocol_helpers import assert_failing, assert_received, assert_state, open_client, open_server
from raw_peer import OP_BINARY, OP_CONT, OP_PING, OP_TEXT, build_frame

from websockets_typed import _speedups
from websockets_typed._receivebuffer import (
    LARGE_FRAME,
    READ_BUFFER_SIZE,
    head_bytes,
    mask_in_place,
    new_read_buffer,
    py_head_bytes,
    py_mask_in_place,
    py_writable_bytes,
    writable_bytes,
)
from websockets_typed.frames import (
    SPEEDUPS,
    CloseCode,
    Frame,
    Opcode,
    mask_frame,
    py_mask_frame,
    serialize_payload,
)
from websockets_typed.protocol import Protocol, State
from websockets_typed.typing import BytesLike


def reference_mask(data: bytes, mask: bytes) -> bytes:
    """RFC 6455, 5.3, byte by byte: slow but obviously right."""
    return bytes(byte ^ mask[index % 4] for index, byte in enumerate(data))


# The helpers, C and Python.

MaskInPlace = Callable[[bytearray | memoryview, BytesLike], None]
MASK_IN_PLACE = [
    pytest.param(py_mask_in_place, id="python"),
    pytest.param(_speedups.mask_in_place, id="c"),
]


@given(
    st.binary(max_size=600),
    st.binary(min_size=4, max_size=4),
    st.integers(0, 17),
    st.integers(0, 17),
)
def test_mask_in_place_matches_reference_at_odd_offsets(
    data: bytes, mask: bytes, before: int, after: int
) -> None:
    for function in (py_mask_in_place, _speedups.mask_in_place):
        # A slice in the middle of a larger buffer: unaligned, and the bytes
        # around it must stay as they are.
        buffer = bytearray(b"<" * before + data + b">" * after)
        function(memoryview(buffer)[before : before + len(data)], mask)
        assert buffer == b"<" * before + reference_mask(data, mask) + b">" * after


@pytest.mark.parametrize("function", MASK_IN_PLACE)
@pytest.mark.parametrize("offset", [0, 1, 3, 5, 15])
def test_mask_in_place_large_and_unaligned(function: MaskInPlace, offset: int) -> None:
    # Above 64 KiB the accelerator releases the GIL; 16-byte blocks, unaligned.
    data = os.urandom(LARGE_FRAME + 17 + offset)
    mask = os.urandom(4)
    buffer = bytearray(offset) + data
    function(memoryview(buffer)[offset:], mask)
    assert buffer[offset:] == reference_mask(data, mask)


@pytest.mark.parametrize("function", MASK_IN_PLACE)
def test_mask_in_place_rejects_bad_arguments(function: MaskInPlace) -> None:
    with pytest.raises(ValueError, match="4 bytes"):
        function(bytearray(8), b"abc")
    with pytest.raises(TypeError):
        function(memoryview(b"read-only"), b"abcd")


MaskFrame = Callable[[BytesLike, BytesLike, BytesLike], bytes]


@pytest.mark.parametrize("function", [py_mask_frame, _speedups.mask_frame])
@pytest.mark.parametrize("size", [0, 1, 5, 125, 4099, LARGE_FRAME + 3])
def test_mask_frame_puts_the_header_before_the_masked_payload(
    function: MaskFrame, size: int
) -> None:
    data = os.urandom(size)
    mask = os.urandom(4)
    assert function(b"head" + mask, memoryview(data), mask) == (
        b"head" + mask + reference_mask(data, mask)
    )
    with pytest.raises(ValueError, match="4 bytes"):
        function(b"head", data, b"abcde")


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 2**20])
def test_masked_frame_is_one_chunk(size: int) -> None:
    # The client's frames are written with one write, header included.
    payload = os.urandom(size)
    (chunk,) = serialize_payload(0x82, payload, mask=True)
    header = 6 if size < 126 else 8 if size < 65536 else 14
    assert len(chunk) == header + size
    assert reference_mask(chunk[header:], chunk[header - 4 : header]) == payload


WritableBytes = Callable[[int], tuple[bytes | bytearray, memoryview]]


@pytest.mark.parametrize("function", [py_writable_bytes, _speedups.writable_bytes])
def test_writable_bytes_is_filled_through_its_view(function: WritableBytes) -> None:
    data, view = function(10)
    assert len(data) == 10
    assert not view.readonly
    view[:] = b"0123456789"
    view[3:5] = b"ab"
    assert data == b"012ab56789"


def test_writable_bytes_makes_bytes() -> None:
    data, view = _speedups.writable_bytes(3)
    view[:] = b"abc"
    assert type(data) is bytes
    assert data == b"abc"
    assert hash(data) == hash(b"abc")


def test_writable_bytes_view_outlives_the_bytes() -> None:
    # The view keeps the memory alive: writing after the bytes object is
    # dropped, as a transport might if the connection closed mid-frame, is safe.
    data, view = _speedups.writable_bytes(LARGE_FRAME)
    del data
    view[:] = bytes(LARGE_FRAME)
    assert view.tobytes() == bytes(LARGE_FRAME)


@pytest.mark.parametrize("size", [-1, 0, 1])
def test_writable_bytes_refuses_tiny_sizes(size: int) -> None:
    # CPython may share the bytes objects of 0 and 1 bytes.
    with pytest.raises(ValueError, match="at least 2"):
        _speedups.writable_bytes(size)


HeadBytes = Callable[[BytesLike, int], bytes]


@pytest.mark.parametrize("function", [py_head_bytes, _speedups.head_bytes])
def test_head_bytes(function: HeadBytes) -> None:
    buffer = memoryview(bytearray(b"abcdef"))
    assert function(buffer, 0) == b""
    assert function(buffer, 4) == b"abcd"
    assert type(function(buffer, 6)) is bytes
    for size in (-1, 7):
        with pytest.raises(ValueError, match="out of range"):
            function(buffer, size)


def test_head_bytes_checks_its_arguments() -> None:
    with pytest.raises(TypeError, match="2 arguments"):
        _speedups.head_bytes(b"ab")  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]


def test_accelerated_helpers_in_use() -> None:
    accelerated = os.environ.get("WEBSOCKETS_TYPED_SPEEDUPS", "1") != "0"
    assert (mask_in_place is _speedups.mask_in_place) is accelerated
    assert (writable_bytes is _speedups.writable_bytes) is accelerated
    assert (head_bytes is _speedups.head_bytes) is accelerated
    assert (mask_frame is _speedups.mask_frame) is accelerated
    assert (mask_in_place is py_mask_in_place) is not accelerated
    assert (writable_bytes is py_writable_bytes) is not accelerated
    assert (head_bytes is py_head_bytes) is not accelerated
    assert (mask_frame is py_mask_frame) is not accelerated


def test_read_buffer() -> None:
    buffer = new_read_buffer()
    assert len(buffer) == READ_BUFFER_SIZE
    assert not buffer.readonly


# Large frames read into their final buffer.


def masked(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    return build_frame(opcode, payload, fin=fin, mask_key=os.urandom(4))


def address(buffer: memoryview) -> int:
    return ctypes.addressof(ctypes.c_char.from_buffer(buffer))


def bytes_address(data: bytes) -> int:
    pointer = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value
    assert pointer is not None
    return pointer


def pending(protocol: Protocol) -> memoryview | None:
    """The payload buffer, read without letting type checkers narrow it."""
    return protocol.payload_buffer


def read_into(protocol: Protocol, data: bytes, size: int) -> None:
    """Write ``data`` into the payload buffer ``size`` bytes at a time, as recv_into() does."""
    for start in range(0, len(data), size):
        view = protocol.payload_buffer
        assert view is not None
        piece = data[start : start + size]
        view[: len(piece)] = piece
        protocol.payload_received(len(piece))


def test_large_frame_payload_is_read_into_the_message() -> None:
    server = open_server()
    payload = os.urandom(LARGE_FRAME + 12345)
    data = masked(OP_BINARY, payload)
    assert pending(server) is None
    server.receive_data(data[:1000])
    view = pending(server)
    assert view is not None
    # 14 bytes of header and key: the rest of the payload, no more.
    assert len(view) == len(data) - 1000
    start = address(view)
    read_into(server, data[1000:], 7919)
    (frame,) = server.events_received()
    assert isinstance(frame, Frame)
    assert frame == Frame(Opcode.BINARY, payload)
    assert server.payload_buffer is None
    if SPEEDUPS:
        # The message is the very buffer the reads went into: no copy.
        assert bytes_address(frame.data) + 1000 - 14 == start


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_large_frame_one_byte_at_a_time(opcode: int) -> None:
    server = open_server()
    payload = "aé€𝄞".encode() * (LARGE_FRAME // 10 + 1)
    data = masked(opcode, payload)
    for index in range(14):
        server.receive_data(data[index : index + 1])
    read_into(server, data[14:], 1)
    assert_received(server, Frame(Opcode(opcode), payload))


def test_large_frame_one_byte_at_a_time_with_receive_data() -> None:
    client = open_client()
    payload = os.urandom(LARGE_FRAME)
    data = build_frame(OP_BINARY, payload)
    for index in range(len(data)):
        client.receive_data(data[index : index + 1])
    assert_received(client, Frame(Opcode.BINARY, payload))


def test_large_frame_then_small_frames_in_the_same_read() -> None:
    server = open_server()
    payload = os.urandom(LARGE_FRAME)
    data = masked(OP_BINARY, payload) + masked(OP_PING, b"ping") + masked(OP_TEXT, b"hi")
    server.receive_data(data[:100])
    # The read that ends the large frame brings the next frames too.
    server.receive_data(data[100:])
    assert_received(
        server,
        Frame(Opcode.BINARY, payload),
        Frame(Opcode.PING, b"ping"),
        Frame(Opcode.TEXT, b"hi"),
    )
    assert server.payload_buffer is None


def test_invalid_utf8_fails_as_soon_as_it_is_read() -> None:
    server = open_server()
    payload = b"a" * 50_000 + b"\xff" + b"a" * 50_000
    data = masked(OP_TEXT, payload)
    server.receive_data(data[:10_000])
    read_into(server, data[10_000:50_000], 4096)
    server.data_to_send()
    assert server.state is State.OPEN
    # The read holding the invalid byte fails the connection, though most
    # of the frame is still to come.
    read_into(server, data[50_000:50_100], 100)
    assert_failing(server, CloseCode.INVALID_DATA)
    assert server.payload_buffer is None


def test_max_size_is_checked_before_allocating() -> None:
    server = open_server(max_size=LARGE_FRAME)
    header = masked(OP_BINARY, bytes(LARGE_FRAME + 1))[:14]
    server.receive_data(header)
    assert_failing(server, CloseCode.MESSAGE_TOO_BIG)
    assert server.payload_buffer is None


def test_fragmented_large_message_with_a_ping_between_fragments() -> None:
    server = open_server(max_size=None)
    first, second = os.urandom(LARGE_FRAME), os.urandom(LARGE_FRAME + 1)
    data = masked(OP_BINARY, first, fin=False)
    server.receive_data(data[:20])
    read_into(server, data[20:], 30_000)
    server.receive_data(masked(OP_PING, b"!"))
    data = masked(OP_CONT, second)
    server.receive_data(data[:14])
    read_into(server, data[14:], 30_000)
    assert_received(
        server,
        Frame(Opcode.BINARY, first, fin=False),
        Frame(Opcode.PING, b"!"),
        Frame(Opcode.CONT, second),
    )


def test_failure_in_the_middle_of_a_large_frame_drops_it() -> None:
    server = open_server()
    data = masked(OP_BINARY, os.urandom(LARGE_FRAME))
    server.receive_data(data[:1000])
    assert pending(server) is not None
    server.fail(CloseCode.GOING_AWAY)
    assert pending(server) is None
    # Bytes read after that are ignored.
    server.payload_received(0)
    server.receive_data(data[1000:])
    assert server.events_received() == []


def test_end_of_stream_in_the_middle_of_a_large_frame() -> None:
    server = open_server()
    server.receive_data(masked(OP_BINARY, os.urandom(LARGE_FRAME))[:2000])
    server.receive_eof()
    assert server.close_code == CloseCode.ABNORMAL_CLOSURE
    assert server.payload_buffer is None
    assert_state(server, State.CLOSED)


def test_payload_received_without_a_large_frame_parses_held_frames() -> None:
    server = open_server()
    server.frame_budget = 1
    server.receive_data(masked(OP_TEXT, b"one") + masked(OP_TEXT, b"two"))
    assert_received(server, Frame(Opcode.TEXT, b"one"))
    assert server.holds_frames
    server.frame_budget = None
    server.payload_received(0)
    assert_received(server, Frame(Opcode.TEXT, b"two"))


def test_receive_view_parses_in_place_and_keeps_only_what_is_incomplete() -> None:
    server = open_server()
    large = os.urandom(LARGE_FRAME)
    data = masked(OP_TEXT, b"one") + masked(OP_BINARY, b"two") + masked(OP_BINARY, large)
    buffer = bytearray(data[:1000])
    server.receive_view(memoryview(buffer))
    # The read buffer is reused at once: nothing may refer to it.
    buffer[:] = bytes(len(buffer))
    server.receive_view(memoryview(bytearray(data[1000:])))
    assert_received(
        server,
        Frame(Opcode.TEXT, b"one"),
        Frame(Opcode.BINARY, b"two"),
        Frame(Opcode.BINARY, large),
    )


def test_receive_view_after_the_start_of_a_small_frame() -> None:
    server = open_server()
    data = masked(OP_TEXT, b"x" * 1000) + masked(OP_PING, b"!")
    buffer = bytearray(data[:10])
    server.receive_view(memoryview(buffer))
    buffer[:] = bytes(10)
    # The start of the frame waits in the protocol's buffer; the rest joins it.
    server.receive_view(memoryview(bytearray(data[10:])))
    assert_received(server, Frame(Opcode.TEXT, b"x" * 1000), Frame(Opcode.PING, b"!"))


def test_large_frame_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="websockets_typed.server")
    server = open_server()
    data = masked(OP_BINARY, bytes(LARGE_FRAME))
    server.receive_data(data[:100])
    read_into(server, data[100:], 10_000)
    received = [record for record in caplog.records if record.getMessage().startswith("< ")]
    assert [record.getMessage()[:15] for record in received] == ["< BINARY 00 00 "]

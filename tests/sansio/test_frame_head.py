"""Internal API of large frames written in slices: SLICED_FRAME, frame_head()."""

from __future__ import annotations

import logging
import tracemalloc

import pytest
from protocol_helpers import open_client, open_server

from websockets_typed.extensions.permessage_deflate import PerMessageDeflate
from websockets_typed.frames import (
    MASKED_BY_CALLER,
    SLICED_FRAME,
    Frame,
    Opcode,
    apply_mask,
    frame_head,
    read_frame,
    serialize_message,
)
from websockets_typed.protocol import State
from websockets_typed.server import ServerProtocol


@pytest.mark.parametrize("length", [0, 125, 126, 65535, 65536, SLICED_FRAME])
@pytest.mark.parametrize("mask", [True, False])
def test_header_and_payload_make_the_frame(length: int, mask: bool) -> None:
    data = bytes(range(256)) * (length // 256) + bytes(length % 256)
    head, key = frame_head(0x82, length, mask)
    payload = data if key is None else apply_mask(data, key)
    assert (key is not None) is mask
    frame, end, _ = read_frame(head + payload, 0, mask, None)
    assert frame == Frame(Opcode.BINARY, data)
    assert end == len(head) + length


def test_slices_at_multiples_of_four_are_masked_with_the_key() -> None:
    data = bytes(range(256)) * 40
    head, key = frame_head(0x81, len(data), True)
    assert key is not None
    slices = [apply_mask(data[start : start + 1000], key) for start in range(0, len(data), 1000)]
    frame, _, _ = read_frame(head + b"".join(slices), 0, True, None)
    assert frame == Frame(Opcode.TEXT, data)


@pytest.mark.parametrize("text", [True, False])
def test_client_leaves_large_messages_to_the_caller(text: bool) -> None:
    client = open_client(max_size=None)
    assert client.message_bytes(text, bytes(MASKED_BY_CALLER - 1)) is not None
    assert client.message_bytes(text, bytes(MASKED_BY_CALLER)) is None
    assert client.message_bytes(text, bytes(SLICED_FRAME)) is None
    assert serialize_message(0x82, bytes(MASKED_BY_CALLER), True) is None
    assert serialize_message(0x82, bytes(SLICED_FRAME), True) is None
    for length in (MASKED_BY_CALLER, SLICED_FRAME):
        head = client.frame_head(text, length)
        assert head is not None
        header, key = head
        assert key is not None
        assert header == bytes([0x81 if text else 0x82, 0xFF]) + length.to_bytes(8) + key
    # The protocol has nothing to send: the caller writes the frame.
    assert client.data_to_send() == []
    assert client.state is State.OPEN


def test_server_header_is_unmasked() -> None:
    assert open_server().frame_head(False, 200) == (b"\x82\x7e\x00\xc8", None)


def test_none_unless_open() -> None:
    assert ServerProtocol().frame_head(True, SLICED_FRAME) is None
    closing = open_server()
    closing.send_close()
    closing.data_to_send()
    assert closing.frame_head(True, SLICED_FRAME) is None


def test_none_while_a_fragmented_message_is_sent() -> None:
    server = open_server()
    server.send_binary(b"start", fin=False)
    server.data_to_send()
    assert server.frame_head(False, SLICED_FRAME) is None


def test_none_while_bytes_wait_to_be_sent() -> None:
    server = open_server()
    server.send_ping(b"")
    assert server.frame_head(False, SLICED_FRAME) is None


def test_none_when_frames_are_compressed() -> None:
    server = open_server()
    server.extensions = [PerMessageDeflate(False, False, 15, 15)]
    assert server.frame_head(False, SLICED_FRAME) is None


def test_none_when_frames_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="websockets_typed.server"):
        server = open_server()
    assert server.frame_head(False, SLICED_FRAME) is None


@pytest.mark.parametrize("length", [MASKED_BY_CALLER, 2**20, SLICED_FRAME])
def test_client_frame_heads_carry_fresh_keys(length: int) -> None:
    # RFC 6455, 5.3: a new masking key for every frame, at every size.
    client = open_client(max_size=None)
    keys: set[bytes] = set()
    for _ in range(8):
        head = client.frame_head(False, length)
        assert head is not None
        header, key = head
        assert key is not None
        assert header[-4:] == key
        keys.add(key)
    assert len(keys) == 8


@pytest.mark.parametrize("data", [bytearray(2**20), memoryview(bytes(2**20))])
def test_client_leaves_large_bytes_like_payloads_uncopied(data: bytearray | memoryview) -> None:
    # The caller copies it into bytes once: message_bytes() mustn't first.
    client = open_client(max_size=None)
    tracemalloc.start()
    try:
        assert client.message_bytes(False, data) is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MASKED_BY_CALLER
    assert client.message_bytes(False, data[: MASKED_BY_CALLER - 1]) is not None

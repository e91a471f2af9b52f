"""Internal API of the round trip: Protocol.message_bytes() and Protocol.quiet()."""

from __future__ import annotations

import logging

import pytest
from protocol_helpers import open_client, open_server, wire

from websockets_typed.extensions.permessage_deflate import PerMessageDeflate
from websockets_typed.frames import MASKED_BY_CALLER, Frame, Opcode, read_frame, serialize_message
from websockets_typed.protocol import Protocol, State
from websockets_typed.server import ServerProtocol

SIZES = [0, 1, 125, 126, 8191, 8192, 65535, 65536, 2**20]

# A client leaves larger frames to the caller (tests/sansio/test_frame_head.py).
CLIENT_SIZES = [size for size in SIZES if size < MASKED_BY_CALLER]


def queued(protocol: Protocol, text: bool, data: bytes) -> bytes:
    """What send_text() or send_binary(), then data_to_send(), put on the wire."""
    if text:
        protocol.send_text(data)
    else:
        protocol.send_binary(data)
    return b"".join(protocol.data_to_send())


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("text", [True, False])
def test_server_frame_is_what_the_queue_would_send(size: int, text: bool) -> None:
    data = b"a" * size
    chunk = open_server().message_bytes(text, data)
    if size >= 8192:
        # A large unmasked payload isn't copied behind its header: the
        # caller goes through send_binary() and data_to_send().
        assert chunk is None
    else:
        assert chunk == queued(open_server(), text, data)


@pytest.mark.parametrize("size", CLIENT_SIZES)
@pytest.mark.parametrize("text", [True, False])
def test_client_frame_is_masked_in_one_chunk(size: int, text: bool) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    client = open_client()
    chunk = client.message_bytes(text, data)
    assert chunk is not None
    # The server reads the frame the queue would have sent.
    frame, end, _ = read_frame(chunk, 0, True, None)
    assert frame == Frame(Opcode.TEXT if text else Opcode.BINARY, data)
    assert end == len(chunk)
    # Sending a message in one frame leaves nothing behind.
    assert client.data_to_send() == []
    assert client.state is State.OPEN


@pytest.mark.parametrize("size", [126, 65535])
def test_client_masks_each_message_with_a_fresh_key(size: int) -> None:
    # RFC 6455, 5.3: a new masking key for every frame, at every size.
    client = open_client()
    data = bytes(size)
    chunks = [client.message_bytes(False, data) for _ in range(8)]
    keys: set[bytes] = set()
    for chunk in chunks:
        assert chunk is not None
        offset = 4
        assert chunk[1] & 0x80
        key = chunk[offset : offset + 4]
        # A payload of zeros masked is the key, repeated.
        assert chunk[offset + 4 :] == (key * (size // 4 + 1))[:size]
        keys.add(key)
    assert len(keys) == 8


@pytest.mark.parametrize("data", [bytearray(b"hello"), memoryview(b"hello")])
def test_bytes_like_payload(data: bytearray | memoryview) -> None:
    assert open_server().message_bytes(False, data) == b"\x82\x05hello"


def test_none_unless_open() -> None:
    connecting = ServerProtocol()
    assert connecting.message_bytes(True, b"x") is None
    closing = open_server()
    closing.send_close()
    closing.data_to_send()
    assert closing.state is State.CLOSING
    assert closing.message_bytes(True, b"x") is None


def test_none_while_a_fragmented_message_is_sent() -> None:
    server = open_server()
    server.send_text(b"start", fin=False)
    server.data_to_send()
    assert server.message_bytes(True, b"x") is None


def test_none_while_bytes_wait_to_be_sent() -> None:
    # The Pong answering a Ping goes first: the frame waits behind it.
    server = open_server()
    server.send_ping(b"")
    assert server.message_bytes(True, b"x") is None
    assert server.data_to_send() == [b"\x89\x00"]
    assert server.message_bytes(True, b"x") == b"\x81\x01x"


def test_none_when_frames_are_compressed() -> None:
    server = open_server()
    server.extensions = [PerMessageDeflate(False, False, 15, 15)]
    assert server.message_bytes(True, b"x") is None


def test_none_when_frames_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="websockets_typed.server"):
        server = open_server()
    assert server.message_bytes(True, b"x") is None
    with caplog.at_level(logging.DEBUG, logger="websockets_typed.server"):
        server.send_text(b"x")
    assert "> TEXT 'x' [1 byte]" in caplog.text


def test_serialize_message_matches_serialize_payload_in_one_chunk() -> None:
    assert serialize_message(0x82, b"", False) == b"\x82\x00"
    assert serialize_message(0x81, b"a" * 200, False) == b"\x81\x7e\x00\xc8" + b"a" * 200
    assert serialize_message(0x82, bytes(8192), False) is None


def test_quiet_after_data_frames() -> None:
    server = open_server()
    assert server.quiet()
    server.receive_data(wire(server, Frame(Opcode.TEXT, b"hello")))
    assert server.quiet()
    assert server.events_received() == [Frame(Opcode.TEXT, b"hello")]
    assert server.data_to_send() == []
    assert not server.close_expected()


def test_not_quiet_with_an_answer_to_send() -> None:
    server = open_server()
    server.receive_data(wire(server, Frame(Opcode.PING, b"")))
    assert not server.quiet()
    assert server.data_to_send() == [b"\x8a\x00"]
    assert server.quiet()


def test_not_quiet_unless_open() -> None:
    assert not ServerProtocol().quiet()
    server = open_server()
    server.receive_data(wire(server, Frame(Opcode.CLOSE, b"")))
    server.data_to_send()
    assert not server.quiet()
    assert server.close_expected()

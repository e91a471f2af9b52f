"""The shared sans-I/O connection: RFC 6455 sections 5 to 7, on both sides."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from protocol_helpers import (
    EOF,
    assert_failing,
    assert_received,
    assert_sent,
    assert_state,
    close_frame,
    open_client,
    open_server,
    receive,
    sent,
    wire,
)

from websockets_typed.client import ClientProtocol
from websockets_typed.exceptions import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidState,
    PayloadTooBig,
    ProtocolError,
)
from websockets_typed.extensions.base import Extension
from websockets_typed.frames import Close, CloseCode, Frame, Opcode, serialize_frame
from websockets_typed.protocol import (
    CLIENT,
    SERVER,
    TRANSITIONS,
    Protocol,
    State,
    Transition,
)
from websockets_typed.server import ServerProtocol
from websockets_typed.typing import ExtensionName
from websockets_typed.uri import parse_uri

Factory = Callable[..., Protocol]
SIDES = [pytest.param(open_server, id="server"), pytest.param(open_client, id="client")]


def text(data: str, fin: bool = True) -> Frame:
    return Frame(Opcode.TEXT, data.encode(), fin)


def binary(data: bytes, fin: bool = True) -> Frame:
    return Frame(Opcode.BINARY, data, fin)


def cont(data: bytes, fin: bool = True) -> Frame:
    return Frame(Opcode.CONT, data, fin)


# The state machine.


def test_transition_table() -> None:
    assert TRANSITIONS == {
        (State.CONNECTING, Transition.OPENING_HANDSHAKE_COMPLETED): State.OPEN,
        (State.OPEN, Transition.CLOSING_HANDSHAKE_STARTED): State.CLOSING,
        (State.CONNECTING, Transition.TCP_CONNECTION_CLOSED): State.CLOSED,
        (State.OPEN, Transition.TCP_CONNECTION_CLOSED): State.CLOSED,
        (State.CLOSING, Transition.TCP_CONNECTION_CLOSED): State.CLOSED,
    }


def test_forbidden_transition_raises_and_keeps_state() -> None:
    protocol = open_server()
    with pytest.raises(
        InvalidState, match="opening handshake completed is not possible in state OPEN"
    ):
        protocol._transition(Transition.OPENING_HANDSHAKE_COMPLETED)
    assert_state(protocol, State.OPEN)


@pytest.mark.parametrize("factory", SIDES)
def test_attributes_before_closing(factory: Factory) -> None:
    protocol = factory()
    assert_state(protocol, State.OPEN)
    assert protocol.close_code is None
    assert protocol.close_reason is None
    assert not protocol.close_expected()
    with pytest.raises(InvalidState, match="isn't closed yet"):
        _ = protocol.close_exc
    assert protocol.side is (SERVER if isinstance(protocol, ServerProtocol) else CLIENT)
    assert protocol.id != factory().id


def test_default_loggers() -> None:
    assert isinstance(open_server().logger, logging.Logger)
    assert open_server().logger.name == "websockets_typed.server"
    assert open_client().logger.name == "websockets_typed.client"


# Data frames (RFC 6455, 5.6).


@pytest.mark.parametrize("factory", SIDES)
def test_send_text_and_binary(factory: Factory) -> None:
    protocol = factory()
    protocol.send_text("café".encode())
    protocol.send_binary(b"\x00\xff")
    protocol.send_binary(bytearray(b"ba"))
    protocol.send_text(memoryview(b"mv"))
    assert_sent(protocol, text("café"), binary(b"\x00\xff"), binary(b"ba"), text("mv"))


def test_client_masks_and_server_does_not() -> None:
    # RFC 6455, 5.1: a client masks every frame; a server never does.
    client, server = open_client(), open_server()
    client.send_text(b"x")
    server.send_text(b"x")
    assert client.data_to_send()[0][1] & 0x80
    assert server.data_to_send() == [b"\x81\x01x"]


@pytest.mark.parametrize("factory", SIDES)
def test_send_large_binary(factory: Factory) -> None:
    protocol = factory()
    protocol.send_binary(bytes(2**20))
    assert_sent(protocol, binary(bytes(2**20)))


@pytest.mark.parametrize("factory", SIDES)
def test_receive_text_and_binary(factory: Factory) -> None:
    protocol = factory()
    receive(protocol, text("café"), binary(b"\x00\xff"))
    assert_received(protocol, text("café"), binary(b"\x00\xff"))
    assert_sent(protocol)


@pytest.mark.parametrize("factory", SIDES)
def test_receive_byte_by_byte(factory: Factory) -> None:
    protocol = factory()
    data = wire(protocol, text("hello")) + wire(protocol, binary(bytes(300)))
    events: list[object] = []
    for index in range(len(data)):
        protocol.receive_data(data[index : index + 1])
        events += protocol.events_received()
    assert events == [text("hello"), binary(bytes(300))]


@pytest.mark.parametrize("factory", SIDES)
@pytest.mark.parametrize("chunk_size", [1000, 2**16, 2**18])
def test_receive_large_frames_in_chunks(factory: Factory, chunk_size: int) -> None:
    # A large frame's payload is kept in the chunks that bring it until the
    # frame is complete; the chunk that completes it starts the next ones.
    protocol = factory()
    large = bytes(range(256)) * 1000
    frames = [binary(large), text("after"), binary(large[::-1]), binary(b"")]
    data = b"".join(wire(protocol, frame) for frame in frames)
    events: list[object] = []
    for start in range(0, len(data), chunk_size):
        protocol.receive_data(data[start : start + chunk_size])
        events += protocol.events_received()
    assert events == frames
    assert_sent(protocol)


@pytest.mark.parametrize("factory", SIDES)
@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_receive_large_frame_from_reused_buffer(
    factory: Factory, kind: Callable[[bytearray], bytearray | memoryview]
) -> None:
    # Chunks given as mutable buffers are copied: the caller may reuse them.
    protocol = factory()
    large = bytes(range(256)) * 1000
    data = wire(protocol, binary(large))
    for start in range(0, len(data), 30_000):
        buffer = bytearray(data[start : start + 30_000])
        protocol.receive_data(kind(buffer))
        buffer[:] = bytes(len(buffer))
    assert_received(protocol, binary(large))


@pytest.mark.parametrize("factory", SIDES)
def test_eof_inside_large_frame(factory: Factory) -> None:
    protocol = factory()
    data = wire(protocol, binary(bytes(300_000)))
    protocol.receive_data(data[:100_000])
    protocol.receive_data(data[100_000:200_000])
    protocol.receive_eof()
    assert_received(protocol)
    assert protocol.close_code == CloseCode.ABNORMAL_CLOSURE


@pytest.mark.parametrize("factory", SIDES)
def test_events_and_writes_are_returned_once(factory: Factory) -> None:
    protocol = factory()
    receive(protocol, Frame(Opcode.PING, b""))
    assert protocol.events_received() == [Frame(Opcode.PING, b"")]
    assert protocol.events_received() == []
    assert len(protocol.data_to_send()) == 1
    assert protocol.data_to_send() == []


# Fragmentation (RFC 6455, 5.4).


@pytest.mark.parametrize("factory", SIDES)
def test_send_fragmented_message(factory: Factory) -> None:
    protocol = factory()
    protocol.send_text(b"a", fin=False)
    protocol.send_continuation(b"b", fin=False)
    protocol.send_ping(b"in between")
    protocol.send_continuation(b"c", fin=True)
    protocol.send_binary(b"next")
    assert_sent(
        protocol,
        text("a", fin=False),
        cont(b"b", fin=False),
        Frame(Opcode.PING, b"in between"),
        cont(b"c"),
        binary(b"next"),
    )


def test_send_shared_frame() -> None:
    # broadcast() serializes a message once and hands the bytes to each
    # server connection; the rules of sending still apply.
    protocol = open_server()
    shared = b"".join(serialize_frame(binary(b"all"), mask=False))
    protocol._send_shared(Opcode.BINARY, b"all", [shared])
    assert protocol.data_to_send() == [shared]
    protocol.send_binary(b"part", fin=False)
    protocol.data_to_send()
    with pytest.raises(ProtocolError, match="expected a continuation frame"):
        protocol._send_shared(Opcode.BINARY, b"all", [shared])
    protocol.send_continuation(b"", fin=True)
    protocol.send_close()
    protocol.data_to_send()
    with pytest.raises(InvalidState):
        protocol._send_shared(Opcode.BINARY, b"all", [shared])
    assert protocol.data_to_send() == []


def test_send_shared_frame_masked_by_a_client() -> None:
    # A client must mask with keys of its own: the shared bytes can't do.
    protocol = open_client()
    protocol._send_shared(Opcode.TEXT, b"all", [b"not these bytes"])
    assert_sent(protocol, text("all"))


@pytest.mark.parametrize("factory", SIDES)
def test_send_continuation_without_message(factory: Factory) -> None:
    protocol = factory()
    with pytest.raises(ProtocolError, match="unexpected continuation frame"):
        protocol.send_continuation(b"", fin=True)
    assert_sent(protocol)


@pytest.mark.parametrize("factory", SIDES)
@pytest.mark.parametrize("method", ["send_text", "send_binary", "send_close"])
def test_send_new_message_inside_fragmented_message(factory: Factory, method: str) -> None:
    protocol = factory()
    protocol.send_binary(b"a", fin=False)
    call: Callable[[], None] = (
        (lambda: protocol.send_close(1000))
        if method == "send_close"
        else (lambda: getattr(protocol, method)(b"b"))
    )
    with pytest.raises(ProtocolError, match="expected a continuation frame"):
        call()
    assert_sent(protocol, binary(b"a", fin=False))


@pytest.mark.parametrize("factory", SIDES)
def test_receive_fragmented_message_with_interleaved_control_frames(factory: Factory) -> None:
    protocol = factory()
    frames = [
        text("a", fin=False),
        Frame(Opcode.PING, b"1"),
        cont(b"b", fin=False),
        Frame(Opcode.PONG, b"2"),
        cont(b"c"),
    ]
    receive(protocol, *frames)
    assert_received(protocol, *frames)
    assert_sent(protocol, Frame(Opcode.PONG, b"1"))


@pytest.mark.parametrize("factory", SIDES)
def test_receive_continuation_without_message(factory: Factory) -> None:
    protocol = factory()
    receive(protocol, cont(b"x"))
    assert_failing(protocol, CloseCode.PROTOCOL_ERROR, "unexpected continuation frame")
    assert_received(protocol)
    assert isinstance(protocol.parser_exc, ProtocolError)


@pytest.mark.parametrize("factory", SIDES)
@pytest.mark.parametrize("second", [text("b"), binary(b"b")])
def test_receive_new_message_inside_fragmented_message(factory: Factory, second: Frame) -> None:
    protocol = factory()
    receive(protocol, binary(b"a", fin=False), second)
    assert_received(protocol, binary(b"a", fin=False))
    assert_failing(protocol, CloseCode.PROTOCOL_ERROR, "expected a continuation frame")


# Message size limit.


@pytest.mark.parametrize("factory", SIDES)
def test_receive_message_at_max_size(factory: Factory) -> None:
    protocol = factory(max_size=100)
    receive(protocol, binary(bytes(100)), text("a" * 50, fin=False), cont(b"b" * 50))
    assert len(protocol.events_received()) == 3
    assert_sent(protocol)


@pytest.mark.parametrize("factory", SIDES)
def test_receive_frame_over_max_size(factory: Factory) -> None:
    protocol = factory(max_size=100)
    # Only the header: the limit applies before the payload arrives.
    protocol.receive_data(wire(protocol, binary(bytes(101)))[:8])
    assert_failing(protocol, CloseCode.MESSAGE_TOO_BIG)
    assert isinstance(protocol.parser_exc, PayloadTooBig)


@pytest.mark.parametrize("factory", SIDES)
def test_receive_fragments_over_max_size(factory: Factory) -> None:
    protocol = factory(max_size=100)
    receive(protocol, binary(bytes(60), fin=False), cont(bytes(40), fin=False), cont(bytes(1)))
    assert_received(protocol, binary(bytes(60), fin=False), cont(bytes(40), fin=False))
    assert_failing(protocol, CloseCode.MESSAGE_TOO_BIG)


@pytest.mark.parametrize("factory", SIDES)
def test_max_size_counts_each_message_separately(factory: Factory) -> None:
    protocol = factory(max_size=100)
    receive(protocol, binary(bytes(60), fin=False), cont(bytes(40)), binary(bytes(60), fin=False))
    assert len(protocol.events_received()) == 3
    assert_sent(protocol)


@pytest.mark.parametrize("factory", SIDES)
def test_no_max_size(factory: Factory) -> None:
    protocol = factory(max_size=None)
    receive(protocol, binary(bytes(2**21)))
    assert_received(protocol, binary(bytes(2**21)))


# UTF-8 (RFC 6455, 8.1).


@pytest.mark.parametrize("factory", SIDES)
def test_receive_invalid_utf8(factory: Factory) -> None:
    protocol = factory()
    receive(protocol, Frame(Opcode.TEXT, b"ok\xff"))
    assert_failing(protocol, CloseCode.INVALID_DATA, "invalid start byte at position 2")
    assert isinstance(protocol.parser_exc, UnicodeDecodeError)
    assert_received(protocol)


@pytest.mark.parametrize("factory", SIDES)
def test_binary_is_not_validated(factory: Factory) -> None:
    protocol = factory()
    receive(protocol, binary(b"\xff"))
    assert_received(protocol, binary(b"\xff"))


@pytest.mark.parametrize("factory", SIDES)
@pytest.mark.parametrize("split", [1, 2, 3])
def test_receive_character_split_across_fragments(factory: Factory, split: int) -> None:
    protocol = factory()
    data = "😀".encode()  # 4 bytes
    receive(protocol, Frame(Opcode.TEXT, data[:split], fin=False), cont(data[split:]))
    assert len(protocol.events_received()) == 2
    assert_sent(protocol)


@pytest.mark.parametrize("factory", SIDES)
def test_invalid_utf8_fails_at_the_fragment_holding_it(factory: Factory) -> None:
    protocol = factory()
    receive(protocol, text("valid", fin=False), cont(b"\xc3", fin=False), cont(b"(", fin=False))
    # The second fragment ends with the start of a valid sequence; the third
    # one breaks it, before the message ends.
    assert_received(protocol, text("valid", fin=False), cont(b"\xc3", fin=False))
    assert_failing(protocol, CloseCode.INVALID_DATA)


@pytest.mark.parametrize("factory", SIDES)
def test_truncated_character_at_end_of_message(factory: Factory) -> None:
    protocol = factory()
    receive(protocol, text("a", fin=False), cont(b"\xe2\x82"))
    assert_failing(protocol, CloseCode.INVALID_DATA)


# Reserved bits and opcodes (RFC 6455, 5.2).


@pytest.mark.parametrize("factory", SIDES)
@pytest.mark.parametrize("bit", ["rsv1", "rsv2", "rsv3"])
def test_receive_reserved_bit(factory: Factory, bit: str) -> None:
    protocol = factory()
    frame = Frame(Opcode.TEXT, b"x", **{bit: True})
    mask = protocol.side is SERVER
    header = bytearray(Frame(Opcode.TEXT, b"x").serialize(mask=mask))
    header[0] |= {"rsv1": 0x40, "rsv2": 0x20, "rsv3": 0x10}[bit]
    protocol.receive_data(bytes(header))
    assert frame.rsv1 or frame.rsv2 or frame.rsv3
    assert_failing(protocol, CloseCode.PROTOCOL_ERROR, "reserved bits must be 0")


@pytest.mark.parametrize("factory", SIDES)
def test_receive_reserved_opcode(factory: Factory) -> None:
    protocol = factory()
    protocol.receive_data(b"\x83\x80abcd" if protocol.side is SERVER else b"\x83\x00")
    assert_failing(protocol, CloseCode.PROTOCOL_ERROR, "invalid opcode: 3")


def test_server_receives_unmasked_frame() -> None:
    protocol = open_server()
    protocol.receive_data(b"\x81\x00")
    assert_failing(protocol, CloseCode.PROTOCOL_ERROR, "incorrect masking")


def test_client_receives_masked_frame() -> None:
    protocol = open_client()
    protocol.receive_data(b"\x81\x80abcd")
    assert_failing(protocol, CloseCode.PROTOCOL_ERROR, "incorrect masking")


# Ping and Pong (RFC 6455, 5.5.2 and 5.5.3).


@pytest.mark.parametrize("factory", SIDES)
def test_ping_is_answered_with_same_payload(factory: Factory) -> None:
    protocol = factory()
    receive(protocol, Frame(Opcode.PING, b"hello"))
    assert_received(protocol, Frame(Opcode.PING, b"hello"))
    assert_sent(protocol, Frame(Opcode.PONG, b"hello"))


@pytest.mark.parametrize("factory", SIDES)
def test_pong_needs_no_answer(factory: Factory) -> None:
    protocol = factory()
    receive(protocol, Frame(Opcode.PONG, b"hello"))
    assert_received(protocol, Frame(Opcode.PONG, b"hello"))
    assert_sent(protocol)


@pytest.mark.parametrize("factory", SIDES)
def test_send_ping_and_pong(factory: Factory) -> None:
    protocol = factory()
    protocol.send_ping(b"x" * 125)
    protocol.send_pong(b"")
    assert_sent(protocol, Frame(Opcode.PING, b"x" * 125), Frame(Opcode.PONG, b""))


@pytest.mark.parametrize("factory", SIDES)
@pytest.mark.parametrize("method", ["send_ping", "send_pong"])
def test_send_long_control_frame(factory: Factory, method: str) -> None:
    protocol = factory()
    with pytest.raises(ProtocolError, match="control frame too long"):
        getattr(protocol, method)(bytes(126))
    assert_sent(protocol)


@pytest.mark.parametrize("factory", SIDES)
def test_ping_answered_after_sending_close(factory: Factory) -> None:
    # RFC 6455, 5.5.2: a Pong is due "unless it already received a Close
    # frame"; having *sent* one doesn't matter.
    protocol = factory()
    protocol.send_close(1000)
    sent(protocol)
    receive(protocol, Frame(Opcode.PING, b"still there?"))
    assert_sent(protocol, Frame(Opcode.PONG, b"still there?"))
    protocol.send_ping(b"me too")
    assert_sent(protocol, Frame(Opcode.PING, b"me too"))


@pytest.mark.parametrize("factory", SIDES)
def test_no_control_frames_after_close_received(factory: Factory) -> None:
    protocol = factory()
    receive(protocol, close_frame(1000))
    with pytest.raises(InvalidState):
        protocol.send_ping(b"")
    with pytest.raises(InvalidState):
        protocol.send_pong(b"")


# The closing handshake (RFC 6455, 5.5.1 and 7).


def test_server_receives_close_first() -> None:
    protocol = open_server()
    receive(protocol, close_frame(1000, "bye"))
    assert_received(protocol, close_frame(1000, "bye"))
    # It echoes the Close frame and closes the TCP connection at once.
    assert_sent(protocol, close_frame(1000, "bye"), EOF)
    assert_state(protocol, State.CLOSING)
    assert protocol.close_expected()
    protocol.receive_eof()
    assert_sent(protocol)
    assert_state(protocol, State.CLOSED)
    assert (protocol.close_code, protocol.close_reason) == (1000, "bye")
    exc = protocol.close_exc
    assert isinstance(exc, ConnectionClosedOK)
    assert (exc.rcvd, exc.sent, exc.rcvd_then_sent) == (
        Close(1000, "bye"),
        Close(1000, "bye"),
        True,
    )


def test_client_receives_close_first() -> None:
    protocol = open_client()
    receive(protocol, close_frame(1001))
    # It echoes the Close frame and waits for the server to close TCP.
    assert_sent(protocol, close_frame(1001))
    assert_state(protocol, State.CLOSING)
    protocol.receive_eof()
    assert_sent(protocol, EOF)
    assert_state(protocol, State.CLOSED)
    assert protocol.close_code == 1001
    assert isinstance(protocol.close_exc, ConnectionClosedOK)


def test_server_sends_close_first() -> None:
    protocol = open_server()
    protocol.send_close(1000, "done")
    assert_sent(protocol, close_frame(1000, "done"))
    assert_state(protocol, State.CLOSING)
    assert protocol.close_expected()
    receive(protocol, close_frame(1000, "done"))
    assert_sent(protocol, EOF)
    protocol.receive_eof()
    assert_state(protocol, State.CLOSED)
    exc = protocol.close_exc
    assert isinstance(exc, ConnectionClosedOK)
    assert exc.rcvd_then_sent is False


def test_client_sends_close_first() -> None:
    protocol = open_client()
    protocol.send_close(1000)
    assert_sent(protocol, close_frame(1000))
    receive(protocol, close_frame(1000))
    assert_sent(protocol)
    protocol.receive_eof()
    assert_sent(protocol, EOF)
    assert_state(protocol, State.CLOSED)


@pytest.mark.parametrize("factory", SIDES)
def test_empty_close_frame(factory: Factory) -> None:
    protocol = factory()
    receive(protocol, Frame(Opcode.CLOSE, b""))
    # The echo is empty too: 1005 must never be sent on the wire.
    assert sent(protocol)[0] == Frame(Opcode.CLOSE, b"")
    protocol.receive_eof()
    assert (protocol.close_code, protocol.close_reason) == (1005, "")
    assert isinstance(protocol.close_exc, ConnectionClosedOK)


@pytest.mark.parametrize("factory", SIDES)
def test_send_close_without_code(factory: Factory) -> None:
    protocol = factory()
    protocol.send_close()
    assert_sent(protocol, Frame(Opcode.CLOSE, b""))
    assert protocol.close_sent == Close(CloseCode.NO_STATUS_RCVD, "")


@pytest.mark.parametrize("factory", SIDES)
def test_send_close_reason_without_code(factory: Factory) -> None:
    protocol = factory()
    with pytest.raises(ProtocolError, match="reason without a code"):
        protocol.send_close(None, "why")
    assert_state(protocol, State.OPEN)


@pytest.mark.parametrize("factory", SIDES)
@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 2000, 5000])
def test_send_close_invalid_code(factory: Factory, code: int) -> None:
    protocol = factory()
    with pytest.raises(ProtocolError, match="invalid status code"):
        protocol.send_close(code)
    assert_state(protocol, State.OPEN)
    assert_sent(protocol)


@pytest.mark.parametrize("factory", SIDES)
def test_close_after_error_code_raises_connection_closed_error(factory: Factory) -> None:
    protocol = factory()
    receive(protocol, close_frame(1011, "oops"))
    protocol.receive_eof()
    exc = protocol.close_exc
    assert isinstance(exc, ConnectionClosedError)
    assert (exc.code, exc.reason) == (1011, "oops")


@pytest.mark.parametrize("factory", SIDES)
@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"\x03", CloseCode.PROTOCOL_ERROR),  # one byte
        (b"\x03\xec", CloseCode.PROTOCOL_ERROR),  # 1004
        (b"\x03\xed", CloseCode.PROTOCOL_ERROR),  # 1005
        (b"\x03\xee", CloseCode.PROTOCOL_ERROR),  # 1006
        (b"\x03\xf7", CloseCode.PROTOCOL_ERROR),  # 1015
        (b"\x00\x00", CloseCode.PROTOCOL_ERROR),  # 0
        (b"\x13\x88", CloseCode.PROTOCOL_ERROR),  # 5000
        (b"\x03\xe8\xff", CloseCode.INVALID_DATA),  # invalid UTF-8 reason
    ],
)
def test_receive_invalid_close_frame(factory: Factory, payload: bytes, code: int) -> None:
    protocol = factory()
    receive(protocol, Frame(Opcode.CLOSE, payload))
    assert_failing(protocol, code)
    assert_received(protocol)
    assert protocol.close_rcvd is None


@pytest.mark.parametrize("factory", SIDES)
def test_data_after_close_is_discarded(factory: Factory) -> None:
    # RFC 6455, 1.4: "after receiving a control frame indicating the
    # connection should be closed, a peer discards any further data".
    protocol = factory()
    protocol.receive_data(wire(protocol, close_frame(1000)) + wire(protocol, text("late")))
    receive(protocol, Frame(Opcode.PING, b""))
    assert_received(protocol, close_frame(1000))
    assert Frame(Opcode.PONG, b"") not in sent(protocol)


@pytest.mark.parametrize("factory", SIDES)
def test_close_inside_fragmented_message(factory: Factory) -> None:
    # Control frames may be interleaved with fragments (RFC 6455, 5.4); the
    # unfinished message is abandoned.
    protocol = factory()
    receive(protocol, text("a", fin=False), close_frame(1000))
    assert_received(protocol, text("a", fin=False), close_frame(1000))
    assert sent(protocol)[0] == close_frame(1000)


@pytest.mark.parametrize("factory", SIDES)
def test_send_after_close(factory: Factory) -> None:
    protocol = factory()
    protocol.send_close(1000)
    calls: list[Callable[[], None]] = [
        lambda: protocol.send_text(b""),
        lambda: protocol.send_binary(b""),
        lambda: protocol.send_continuation(b"", fin=True),
        lambda: protocol.send_close(1000),
    ]
    for call in calls:
        with pytest.raises(InvalidState, match="connection is CLOSING"):
            call()


# Failing the connection (RFC 6455, 7.1.7).


@pytest.mark.parametrize("factory", SIDES)
def test_fail(factory: Factory) -> None:
    protocol = factory()
    protocol.fail(CloseCode.POLICY_VIOLATION, "nope")
    assert_failing(protocol, 1008, "nope")
    # Data received afterwards is ignored.
    receive(protocol, text("ignored"))
    assert_received(protocol)


@pytest.mark.parametrize("factory", SIDES)
def test_fail_after_sending_close_sends_no_second_close(factory: Factory) -> None:
    protocol = factory()
    protocol.send_close(1000)
    sent(protocol)
    protocol.fail(CloseCode.PROTOCOL_ERROR)
    assert_sent(protocol, *([EOF] if protocol.side is SERVER else []))
    assert protocol.close_sent == Close(1000, "")


@pytest.mark.parametrize("factory", SIDES)
def test_fail_1006_sends_no_close_frame(factory: Factory) -> None:
    protocol = factory()
    protocol.fail(CloseCode.ABNORMAL_CLOSURE)
    assert_sent(protocol, *([EOF] if protocol.side is SERVER else []))
    assert protocol.close_sent is None


@pytest.mark.parametrize("factory", SIDES)
def test_fail_invalid_code(factory: Factory) -> None:
    protocol = factory()
    with pytest.raises(ProtocolError, match="invalid status code"):
        protocol.fail(1005)
    assert_state(protocol, State.OPEN)


@pytest.mark.parametrize("factory", SIDES)
def test_fail_truncates_long_reason(factory: Factory) -> None:
    protocol = factory()
    protocol.fail(1011, "é" * 100)
    frame = sent(protocol)[0]
    assert isinstance(frame, Frame)
    close = Close.parse(frame.data)
    assert len(close.reason.encode()) <= 123
    assert close.reason.endswith("...")


# End of stream (RFC 6455, 7.1.4 and 7.1.5).


@pytest.mark.parametrize("factory", SIDES)
def test_eof_without_closing_handshake(factory: Factory) -> None:
    protocol = factory()
    protocol.receive_eof()
    assert_sent(protocol, EOF)
    assert_state(protocol, State.CLOSED)
    assert (protocol.close_code, protocol.close_reason) == (1006, "")
    exc = protocol.close_exc
    assert isinstance(exc, ConnectionClosedError)
    assert isinstance(exc.__cause__, EOFError)


@pytest.mark.parametrize("factory", SIDES)
def test_eof_inside_frame(factory: Factory) -> None:
    protocol = factory()
    protocol.receive_data(wire(protocol, text("truncated"))[:-1])
    protocol.receive_eof()
    assert_received(protocol)
    assert protocol.close_code == 1006


@pytest.mark.parametrize("factory", SIDES)
def test_eof_after_sending_close(factory: Factory) -> None:
    protocol = factory()
    protocol.send_close(1000)
    sent(protocol)
    protocol.receive_eof()
    assert_sent(protocol, EOF)
    assert protocol.close_code == 1006
    exc = protocol.close_exc
    assert isinstance(exc, ConnectionClosedError)
    assert exc.sent == Close(1000, "")


@pytest.mark.parametrize("factory", SIDES)
def test_receive_after_eof(factory: Factory) -> None:
    protocol = factory()
    protocol.receive_eof()
    with pytest.raises(EOFError):
        protocol.receive_data(b"x")
    with pytest.raises(EOFError):
        protocol.receive_eof()


@pytest.mark.parametrize("factory", SIDES)
def test_eof_after_failing(factory: Factory) -> None:
    protocol = factory()
    protocol.fail(1002)
    sent(protocol)
    protocol.receive_eof()
    assert_sent(protocol, *([] if protocol.side is SERVER else [EOF]))
    assert_state(protocol, State.CLOSED)


# Extensions (RFC 6455, 9).


class Rot13(Extension):
    """A toy extension: XORs payloads with 0x20 and marks frames with RSV2."""

    name = ExtensionName("x-toggle-case")

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        if frame.opcode not in (Opcode.TEXT, Opcode.BINARY) or not frame.rsv2:
            return frame
        return Frame(frame.opcode, frame.data.swapcase(), frame.fin)

    def encode(self, frame: Frame) -> Frame:
        if frame.opcode not in (Opcode.TEXT, Opcode.BINARY):
            return frame
        return Frame(frame.opcode, frame.data.swapcase(), frame.fin, rsv2=True)


@pytest.mark.parametrize("factory", SIDES)
def test_extension_encodes_and_decodes(factory: Factory) -> None:
    protocol = factory()
    protocol.extensions = [Rot13()]
    protocol.send_text(b"Hello")
    assert_sent(protocol, Frame(Opcode.TEXT, b"hELLO", rsv2=True))
    receive(protocol, Frame(Opcode.TEXT, b"hELLO", rsv2=True), Frame(Opcode.PING, b"X"))
    assert_received(protocol, text("Hello"), Frame(Opcode.PING, b"X"))


class Broken(Extension):
    name = ExtensionName("x-broken")

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        raise RuntimeError("bug")

    def encode(self, frame: Frame) -> Frame:
        return frame


@pytest.mark.parametrize("factory", SIDES)
def test_extension_bug_fails_with_1011(factory: Factory, caplog: pytest.LogCaptureFixture) -> None:
    protocol = factory()
    protocol.extensions = [Broken()]
    with caplog.at_level(logging.ERROR):
        receive(protocol, text("x"))
    assert_failing(protocol, CloseCode.INTERNAL_ERROR, "")
    assert isinstance(protocol.parser_exc, RuntimeError)
    assert "parser failed" in caplog.text


class Budget(Extension):
    """Records the size budget it is given."""

    name = ExtensionName("x-budget")

    def __init__(self) -> None:
        self.budgets: list[int | None] = []

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        self.budgets.append(max_size)
        return frame

    def encode(self, frame: Frame) -> Frame:
        return frame


def test_extension_receives_remaining_budget() -> None:
    protocol = open_server(max_size=100)
    budget = Budget()
    protocol.extensions = [budget]
    receive(protocol, binary(bytes(30), fin=False), Frame(Opcode.PING, b""), cont(bytes(20)))
    assert budget.budgets == [100, None, 70]


class Inflate(Extension):
    """Pretends to decompress: doubles the payload."""

    name = ExtensionName("x-inflate")

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        return Frame(frame.opcode, frame.data * 2, frame.fin)

    def encode(self, frame: Frame) -> Frame:
        return frame


@pytest.mark.parametrize("factory", SIDES)
def test_max_size_applies_after_extensions(factory: Factory) -> None:
    protocol = factory(max_size=100)
    protocol.extensions = [Inflate()]
    receive(protocol, binary(bytes(51)))
    assert_failing(protocol, CloseCode.MESSAGE_TOO_BIG)


# Logging.


def test_debug_logging(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.protocol")
    logger.setLevel(logging.DEBUG)
    protocol = ClientProtocol(parse_uri("ws://example.com/"), state=State.OPEN, logger=logger)
    with caplog.at_level(logging.DEBUG, logger="test.protocol"):
        protocol.send_text(b"out")
        receive(protocol, text("in"))
        protocol.receive_eof()
    messages = [record.getMessage() for record in caplog.records]
    assert "> TEXT 'out' [3 bytes]" in messages
    assert "< TEXT 'in' [2 bytes]" in messages
    assert "< EOF" in messages
    assert "> EOF" in messages
    assert "= OPEN -> CLOSED" in messages


def test_send_eof_twice_is_a_bug() -> None:
    protocol = ServerProtocol(state=State.OPEN)
    protocol.fail(1000)
    with pytest.raises(InvalidState):
        protocol._send_eof()

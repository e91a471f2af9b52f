"""The shared sans-I/O connection: RFC 6455 sections 5 to 7, on both sides."""

from __future__ import annotations

import logging
import uuid
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
    TooManyFragments,
)
from websockets_typed.extensions.base import Extension
from websockets_typed.frames import Close, CloseCode, Frame, Opcode
from websockets_typed.protocol import (
    CLIENT,
    SERVER,
    TRANSITIONS,
    Protocol,
    SharedSend,
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


@pytest.mark.parametrize("factory", SIDES)
def test_id_is_made_once_and_can_be_replaced(factory: Factory) -> None:
    # Made on first use, then the same on every access.
    protocol = factory()
    first = protocol.id
    assert first.version == 4
    assert protocol.id is first
    replacement = uuid.uuid4()
    protocol.id = replacement
    assert protocol.id is replacement


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


def test_shared_send() -> None:
    # broadcast() serializes a message once and hands the bytes to each
    # server connection; the rules of sending still apply.
    protocol = open_server()
    # Nothing is queued: the caller writes the shared bytes itself.
    assert protocol.shared_send() is SharedSend.WRITE
    # Bytes queued before it go first: the frame is sent after them.
    protocol.send_ping(b"first")
    assert protocol.shared_send() is SharedSend.QUEUE
    protocol.data_to_send()
    protocol.send_binary(b"part", fin=False)
    protocol.data_to_send()

    def sending_fragments() -> bool:
        return protocol.sending_fragments

    assert sending_fragments()
    assert protocol.shared_send() is SharedSend.BUSY
    protocol.send_continuation(b"", fin=True)
    assert not sending_fragments()
    protocol.send_close()
    protocol.data_to_send()
    assert protocol.shared_send() is SharedSend.SKIP


def test_shared_send_after_the_end_of_the_stream() -> None:
    # OPEN, but half-closed: sending raises, as for any frame.
    protocol = open_server()
    protocol.fail(1006)
    assert protocol.shared_send() is SharedSend.QUEUE
    with pytest.raises(InvalidState):
        protocol.send_binary(b"all")


def test_shared_send_masked_by_a_client() -> None:
    # A client must mask with keys of its own: the shared bytes can't do.
    protocol = open_client()
    assert protocol.shared_send() is SharedSend.QUEUE


def test_shared_send_while_the_write_buffer_is_full() -> None:
    # Above the high-water mark, broadcast() checks its limit before writing.
    protocol = open_server()
    protocol.pause_pongs()
    assert protocol.shared_send() is SharedSend.FULL
    protocol.resume_pongs()
    assert protocol.shared_send() is SharedSend.WRITE


def test_shared_sends_agree_with_shared_send() -> None:
    # One pass over many protocols says what shared_send() says for each.
    writing, full, queued, busy, closing, half_closed = (open_server() for _ in range(6))
    full.pause_pongs()
    queued.send_ping(b"first")
    busy.send_binary(b"part", fin=False)
    closing.send_close()
    half_closed.fail(1006)
    protocols = [writing, full, queued, busy, closing, half_closed, open_client()]
    routes = Protocol.shared_sends(protocols)
    assert routes == [protocol.shared_send() for protocol in protocols]
    assert routes == [
        SharedSend.WRITE,
        SharedSend.FULL,
        SharedSend.QUEUE,
        SharedSend.BUSY,
        SharedSend.SKIP,
        SharedSend.QUEUE,
        SharedSend.QUEUE,
    ]


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
def test_oversized_continuation_header_reports_the_message_size(factory: Factory) -> None:
    """The frame is checked against what is left of the budget, but the error
    speaks of the message and of max_size, not of the remaining budget."""
    protocol = factory(max_size=100)
    receive(protocol, binary(bytes(60), fin=False))
    protocol.receive_data(wire(protocol, cont(bytes(50)))[:6])
    assert_received(protocol, binary(bytes(60), fin=False))
    assert_failing(
        protocol, CloseCode.MESSAGE_TOO_BIG, "message of 110 bytes exceeds the limit of 100 bytes"
    )
    assert isinstance(protocol.parser_exc, PayloadTooBig)
    assert (protocol.parser_exc.max_size, protocol.parser_exc.size) == (100, 110)


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


# Fragment limit: a message in too many frames fails with 1009.


@pytest.mark.parametrize("factory", SIDES)
@pytest.mark.parametrize("payload", [b"", b"x"], ids=["empty", "one-byte"])
def test_receive_message_of_max_fragments(factory: Factory, payload: bytes) -> None:
    protocol = factory(max_fragments=10)
    frames = [binary(payload, fin=False)] + [cont(payload, fin=False)] * 8 + [cont(payload)]
    receive(protocol, *frames)
    assert_received(protocol, *frames)
    assert_sent(protocol)


@pytest.mark.parametrize("factory", SIDES)
@pytest.mark.parametrize("payload", [b"", b"x"], ids=["empty", "one-byte"])
def test_receive_message_over_max_fragments(factory: Factory, payload: bytes) -> None:
    """The frame one over the limit fails the connection: the message can't
    finish, and the rest of a flood isn't even parsed."""
    protocol = factory(max_fragments=10)
    frames = [text("x", fin=False)] + [cont(payload, fin=False)] * 20
    protocol.receive_data(b"".join(wire(protocol, frame) for frame in frames))
    assert_received(protocol, *frames[:10])
    assert_failing(protocol, CloseCode.MESSAGE_TOO_BIG, "message has more than 10 fragments")
    assert isinstance(protocol.parser_exc, TooManyFragments)
    assert protocol.parser_exc.max_fragments == 10


@pytest.mark.parametrize("factory", SIDES)
def test_max_fragments_counts_each_message_separately(factory: Factory) -> None:
    protocol = factory(max_fragments=3)
    message = [binary(b"a", fin=False), cont(b"b", fin=False), cont(b"c")]
    receive(protocol, *message, *message, text("whole"), *message)
    assert len(protocol.events_received()) == 10
    assert_sent(protocol)


@pytest.mark.parametrize("factory", SIDES)
def test_max_fragments_of_one_forbids_fragmentation(factory: Factory) -> None:
    protocol = factory(max_fragments=1)
    receive(protocol, text("whole"), binary(b"start", fin=False), cont(b"end"))
    assert_received(protocol, text("whole"), binary(b"start", fin=False))
    assert_failing(protocol, CloseCode.MESSAGE_TOO_BIG, "message has more than 1 fragments")


@pytest.mark.parametrize("factory", SIDES)
def test_no_max_fragments(factory: Factory) -> None:
    protocol = factory(max_fragments=None)
    frames = [binary(b"", fin=False)] + [cont(b"", fin=False)] * 100_000 + [cont(b"end")]
    protocol.receive_data(b"".join(wire(protocol, frame) for frame in frames))
    assert len(protocol.events_received()) == len(frames)
    assert_sent(protocol)


@pytest.mark.parametrize("factory", SIDES)
def test_changing_max_fragments_applies_to_the_next_message(factory: Factory) -> None:
    protocol = factory(max_fragments=2)
    receive(protocol, binary(b"a", fin=False))
    protocol.max_fragments = 100
    receive(protocol, cont(b"b", fin=False), cont(b"c", fin=False))
    assert_failing(protocol, CloseCode.MESSAGE_TOO_BIG, "message has more than 2 fragments")


def test_default_max_fragments() -> None:
    assert ServerProtocol().max_fragments == 2**16
    assert ClientProtocol(parse_uri("ws://example.com/")).max_fragments == 2**16


@pytest.mark.parametrize("value", [0, -1])
def test_max_fragments_must_be_positive(value: int) -> None:
    with pytest.raises(ValueError, match="max_fragments must be at least 1"):
        ServerProtocol(max_fragments=value)


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
@pytest.mark.parametrize("split", [1, 2])
def test_surrogate_fails_at_its_second_byte(factory: Factory, split: int) -> None:
    """ED A0 starts a surrogate, never valid (RFC 3629, 3): no need to wait
    for the third byte, which CPython's decoder alone would do."""
    protocol = factory()
    receive(protocol, text("ok", fin=False), cont(b"\xed\xa0"[:split], fin=False))
    if split == 1:
        assert_sent(protocol)
        receive(protocol, cont(b"\xa0", fin=False))
    assert_failing(
        protocol, CloseCode.INVALID_DATA, f"invalid continuation byte at position {split - 1}"
    )
    assert isinstance(protocol.parser_exc, UnicodeDecodeError)


@pytest.mark.parametrize("factory", SIDES)
def test_surrogate_in_first_fragment(factory: Factory) -> None:
    protocol = factory()
    receive(protocol, Frame(Opcode.TEXT, b"ok\xed\xbf", fin=False))
    assert_failing(protocol, CloseCode.INVALID_DATA, "invalid continuation byte at position 3")


@pytest.mark.parametrize("factory", SIDES)
@pytest.mark.parametrize("data", [b"\xed\x9f\xbf", b"\xee\x80\x80"], ids=["d7ff", "e000"])
def test_neighbours_of_surrogates_split_across_fragments(factory: Factory, data: bytes) -> None:
    protocol = factory()
    receive(protocol, Frame(Opcode.TEXT, data[:2], fin=False), cont(data[2:]))
    assert len(protocol.events_received()) == 2
    assert_sent(protocol)


@pytest.mark.parametrize("factory", SIDES)
@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7])
def test_invalid_utf8_fails_before_its_frame_is_complete(factory: Factory, chunk: int) -> None:
    """Fail fast inside a frame: the rest of the frame never needs to come."""
    protocol = factory()
    payload = "κόσμε".encode() + b"\xf4\x90\x80\x80" + b"never" * 10
    data = wire(protocol, Frame(Opcode.TEXT, payload))
    end = len(data) - len(payload) + len("κόσμε".encode()) + 2  # through \x90
    for start in range(0, end, chunk):
        assert_sent(protocol)
        protocol.receive_data(data[start : min(start + chunk, end)])
    assert_received(protocol)
    assert_failing(protocol, CloseCode.INVALID_DATA)
    assert isinstance(protocol.parser_exc, UnicodeDecodeError)


@pytest.mark.parametrize("factory", SIDES)
def test_invalid_utf8_fails_before_a_large_frame_is_complete(factory: Factory) -> None:
    """A large frame's payload arrives in chunks kept aside until it is
    complete; its text is still validated chunk by chunk."""
    protocol = factory()
    payload = "κόσμε".encode() * 10_000 + b"\xff" + b"never" * 10_000
    data = wire(protocol, Frame(Opcode.TEXT, payload))
    invalid = len(data) - len(payload) + payload.index(b"\xff")
    for start in range(0, invalid - 999, 1000):
        protocol.receive_data(data[start : start + 1000])
        assert_sent(protocol)
    protocol.receive_data(data[invalid - invalid % 1000 : invalid + 1])
    assert_received(protocol)
    assert_failing(protocol, CloseCode.INVALID_DATA)
    assert isinstance(protocol.parser_exc, UnicodeDecodeError)


@pytest.mark.parametrize("factory", SIDES)
def test_invalid_utf8_fails_before_its_continuation_frame_is_complete(factory: Factory) -> None:
    protocol = factory()
    receive(protocol, text("caf", fin=False))
    data = wire(protocol, cont(b"\xc3 and more"))
    protocol.receive_data(data[: len(data) - len(b" and more")])
    assert_sent(protocol)
    protocol.receive_data(data[len(data) - len(b" and more") :][:1])
    assert_failing(protocol, CloseCode.INVALID_DATA)


@pytest.mark.parametrize("factory", SIDES)
def test_valid_frames_arriving_byte_by_byte(factory: Factory) -> None:
    protocol = factory()
    frames = [
        text("κόσμε 😀", fin=False),
        cont("é".encode()[:1], fin=False),
        cont("é".encode()[1:] + "漢字".encode()),
        text("a" * 200),
    ]
    data = b"".join(wire(protocol, frame) for frame in frames)
    for index in range(len(data)):
        protocol.receive_data(data[index : index + 1])
    assert_received(protocol, *frames)
    assert_sent(protocol)


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the inputs of every UTF-8 decoder the protocol makes."""
    import codecs

    import websockets_typed._text

    sizes: list[int] = []
    base = codecs.getincrementaldecoder("utf-8")

    class CountingDecoder(base):  # type: ignore[valid-type,misc]  # pyright: ignore[reportUntypedBaseClass]
        def decode(self, input: bytes, final: bool = False) -> str:
            sizes.append(len(input))
            return super().decode(input, final)  # type: ignore[no-any-return]  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]

    monkeypatch.setattr(websockets_typed._text, "_UTF8_DECODER", CountingDecoder)
    return sizes


@pytest.mark.parametrize("factory", SIDES)
def test_partial_text_validation_is_linear(factory: Factory, decoded: list[int]) -> None:
    """Each byte of a frame arriving in pieces is validated exactly once,
    however many pieces there are: the frame, once complete, goes on with
    the decoder that validated its start."""
    protocol = factory(max_size=None)
    payload = "κόσμε".encode() * 10_000
    data = wire(protocol, Frame(Opcode.TEXT, payload))
    for start in range(0, len(data), 1000):
        protocol.receive_data(data[start : start + 1000])
    assert_received(protocol, Frame(Opcode.TEXT, payload))
    assert sum(decoded) == len(payload)


@pytest.mark.parametrize("factory", SIDES)
def test_partial_text_validation_of_fragments_is_linear(
    factory: Factory, decoded: list[int]
) -> None:
    """Same with a fragmented message whose frames arrive in pieces, the
    pieces splitting characters."""
    protocol = factory(max_size=None)
    chunk = "κόσμε".encode() * 1001  # odd: frames end in the middle of characters
    frames = [
        Frame(Opcode.TEXT, chunk, fin=False),
        Frame(Opcode.CONT, chunk, fin=False),
        Frame(Opcode.CONT, chunk, fin=True),
    ]
    data = b"".join(wire(protocol, frame) for frame in frames)
    for start in range(0, len(data), 777):
        protocol.receive_data(data[start : start + 777])
    assert_received(protocol, *frames)
    assert sum(decoded) == 3 * len(chunk)


@pytest.mark.parametrize("factory", SIDES)
def test_partial_text_after_a_complete_frame_starts_afresh(factory: Factory) -> None:
    """The state of a frame validated in pieces doesn't leak into the next frame."""
    protocol = factory()
    first = wire(protocol, Frame(Opcode.TEXT, b"ab\xc3\xa9"))
    second = wire(protocol, Frame(Opcode.TEXT, "é!".encode()))
    protocol.receive_data(first[:-1])
    protocol.receive_data(first[-1:] + second[:-2])
    protocol.receive_data(second[-2:])
    assert_received(protocol, Frame(Opcode.TEXT, "abé".encode()), Frame(Opcode.TEXT, "é!".encode()))
    assert_sent(protocol)


@pytest.mark.parametrize("factory", SIDES)
def test_partial_text_inside_a_fragmented_message_is_left_to_the_frame_check(
    factory: Factory,
) -> None:
    """A Text frame inside a fragmented message is a protocol error (1002),
    whatever its payload: it's reported once its header is complete."""
    protocol = factory()
    receive(protocol, binary(b"a", fin=False))
    data = wire(protocol, Frame(Opcode.TEXT, b"\xff" * 10))
    protocol.receive_data(data[:-1])
    assert_received(protocol, binary(b"a", fin=False))
    assert_sent(protocol)
    protocol.receive_data(data[-1:])
    assert_failing(protocol, CloseCode.PROTOCOL_ERROR)


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


# Pongs paused while the write buffer is full: only the latest Ping is answered.


def pings(*payloads: bytes) -> list[Frame]:
    return [Frame(Opcode.PING, payload) for payload in payloads]


@pytest.mark.parametrize("factory", SIDES)
def test_paused_pongs_answer_only_the_latest_ping(factory: Factory) -> None:
    """RFC 6455, 5.5.3: "an endpoint MAY elect to send a Pong frame for only
    the most recently processed Ping frame"."""
    protocol = factory()
    protocol.pause_pongs()
    receive(protocol, *pings(b"1", b"2", b"3"))
    assert_received(protocol, *pings(b"1", b"2", b"3"))
    assert_sent(protocol)
    protocol.resume_pongs()
    assert_sent(protocol, Frame(Opcode.PONG, b"3"))
    # Resumed: every Ping is answered again.
    receive(protocol, *pings(b"4", b"5"))
    assert_sent(protocol, Frame(Opcode.PONG, b"4"), Frame(Opcode.PONG, b"5"))


@pytest.mark.parametrize("factory", SIDES)
def test_resume_pongs_without_ping(factory: Factory) -> None:
    protocol = factory()
    protocol.pause_pongs()
    protocol.resume_pongs()
    assert_sent(protocol)


@pytest.mark.parametrize("factory", SIDES)
def test_paused_pong_is_sent_before_answering_a_close(factory: Factory) -> None:
    """The Ping came before the Close frame, so it still gets its Pong (5.5.2)."""
    protocol = factory()
    protocol.pause_pongs()
    receive(protocol, *pings(b"before close"), close_frame(1000))
    writes = sent(protocol)
    assert writes[:2] == [Frame(Opcode.PONG, b"before close"), close_frame(1000)]
    protocol.resume_pongs()
    assert_sent(protocol)


@pytest.mark.parametrize("factory", SIDES)
@pytest.mark.parametrize("how", ["send_close", "fail"])
def test_paused_pong_is_sent_before_our_close(factory: Factory, how: str) -> None:
    protocol = factory()
    protocol.pause_pongs()
    receive(protocol, *pings(b"before close"))
    if how == "send_close":
        protocol.send_close(1001)
    else:
        protocol.fail(1011)
    writes = sent(protocol)
    assert writes[:2] == [
        Frame(Opcode.PONG, b"before close"),
        close_frame(1001 if how == "send_close" else 1011),
    ]


@pytest.mark.parametrize("factory", SIDES)
def test_paused_pong_after_our_close_is_sent_on_resume(factory: Factory) -> None:
    protocol = factory()
    protocol.send_close(1000)
    sent(protocol)
    protocol.pause_pongs()
    receive(protocol, *pings(b"crossing"))
    assert_sent(protocol)
    protocol.resume_pongs()
    assert_sent(protocol, Frame(Opcode.PONG, b"crossing"))


@pytest.mark.parametrize("factory", SIDES)
def test_paused_pong_is_dropped_once_the_connection_closed(factory: Factory) -> None:
    protocol = factory()
    protocol.pause_pongs()
    receive(protocol, *pings(b"too late"))
    protocol.receive_eof()
    sent(protocol)
    assert_state(protocol, State.CLOSED)
    protocol.resume_pongs()
    assert_sent(protocol)


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


def test_paused_pong_is_dropped_after_the_end_of_the_stream() -> None:
    # fail(1006) half-closes a server's OPEN connection: nothing may follow.
    protocol = open_server()
    protocol.pause_pongs()
    receive(protocol, *pings(b"too late"))
    protocol.fail(CloseCode.ABNORMAL_CLOSURE)
    assert_sent(protocol, b"")
    protocol.resume_pongs()
    assert_sent(protocol)

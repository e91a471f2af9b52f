"""A server's one-step answer to the usual Close frames matches the general rules (RFC 6455, 5.5.1).

A server OPEN that receives a Close frame with code 1000, 1001 or no payload
answers it with a Close frame serialized once, and moves to its final stage
in one step (bench/micro.py, S4). A server whose logger has DEBUG enabled
takes the general path, frame by frame and transition by transition: it is
the reference that every input is compared with.
"""

from __future__ import annotations

import logging

from hypothesis import given, settings
from hypothesis import strategies as st
from protocol_helpers import EOF, assert_state, close_frame, open_server, receive, sent

from websockets_typed.frames import Close, CloseCode, Frame, Opcode, serialize_frame
from websockets_typed.protocol import State
from websockets_typed.server import ServerProtocol

# A logger with DEBUG enabled and nowhere to write: the general path.
_DEBUG_LOGGER = logging.getLogger("tests.usual_close_answer")
_DEBUG_LOGGER.setLevel(logging.DEBUG)
_DEBUG_LOGGER.propagate = False
_DEBUG_LOGGER.addHandler(logging.NullHandler())

USUAL_PAYLOADS = [b"", b"\x03\xe8", b"\x03\xe9"]


def close_payload(code: int, reason: bytes) -> bytes:
    return code.to_bytes(2, "big") + reason


payloads = st.one_of(
    st.sampled_from(USUAL_PAYLOADS),
    # Next to the usual ones: a reason, other codes, 1005 and 1006 on the
    # wire, one byte, invalid UTF-8.
    st.builds(
        close_payload,
        st.sampled_from([1000, 1001, 1002, 1005, 1006, 1011, 3000, 4999, 5000]),
        st.sampled_from([b"", b"bye", b"\xff", "é".encode()]),
    ),
    st.binary(max_size=125),
)

frames_before = st.lists(
    st.sampled_from(
        [
            Frame(Opcode.TEXT, b"caf\xc3", fin=False),  # a fragmented message, unfinished
            Frame(Opcode.PING, b"ping"),
            Frame(Opcode.BINARY, b"data"),
        ]
    ),
    max_size=2,
)


def masked(*frames: Frame) -> bytes:
    return b"".join(b"".join(serialize_frame(frame, mask=True)) for frame in frames)


def observe(server: ServerProtocol) -> list[object]:
    """Everything a caller of ``server`` can see, and the stage it is in."""
    return [
        server.state,
        server.data_to_send(),
        server.events_received(),
        server.close_rcvd,
        server.close_sent,
        server.close_rcvd_then_sent,
        type(server.parser_exc),
        server.close_expected(),
        server.holds_frames,
        server.payload_buffer,
        # The stage, and the input that a Close frame makes the server forget.
        server._stage,  # pyright: ignore[reportPrivateUsage]
        bytes(server._buffer),  # pyright: ignore[reportPrivateUsage]
        server._recv_opcode,  # pyright: ignore[reportPrivateUsage]
    ]


def run(server: ServerProtocol, stream: bytes, split: int, paused: bool) -> list[object]:
    if paused:
        server.pause_pongs()
    server.receive_data(stream[:split])
    server.receive_data(stream[split:])
    seen = observe(server)
    server.receive_eof()
    exc = server.close_exc
    return [
        *seen,
        *observe(server),
        server.close_code,
        server.close_reason,
        server.closed_ok,
        type(exc),
        exc.rcvd,
        exc.sent,
    ]


@settings(max_examples=300, deadline=None)
@given(
    payload=payloads,
    before=frames_before,
    after=st.binary(max_size=8),
    split=st.integers(min_value=0, max_value=200),
    paused=st.booleans(),
)
def test_answer_matches_the_general_path(
    payload: bytes, before: list[Frame], after: bytes, split: int, paused: bool
) -> None:
    stream = masked(*before, Frame(Opcode.CLOSE, payload)) + after
    quiet = run(ServerProtocol(state=State.OPEN), stream, split, paused)
    reference = run(ServerProtocol(state=State.OPEN, logger=_DEBUG_LOGGER), stream, split, paused)
    assert quiet == reference


@given(payload=st.sampled_from(USUAL_PAYLOADS))
def test_usual_answer_echoes_the_payload_then_half_closes(payload: bytes) -> None:
    server = open_server()
    receive(server, Frame(Opcode.CLOSE, payload))
    assert sent(server) == [Frame(Opcode.CLOSE, payload), EOF]
    assert server.close_rcvd is server.close_sent is Close.parse(payload)
    assert_state(server, State.CLOSING)
    assert server.close_rcvd_then_sent is True
    assert server.events_received() == [Frame(Opcode.CLOSE, payload)]
    # Nothing may be sent after the half-close; what arrives is ignored.
    server.receive_data(b"\x81\x80")
    assert server.events_received() == []
    server.receive_eof()
    assert_state(server, State.CLOSED)
    assert server.data_to_send() == []


def test_usual_answer_abandons_a_fragmented_message() -> None:
    # RFC 6455, 1.4: after a Close frame, further data is discarded.
    server = open_server()
    receive(server, Frame(Opcode.TEXT, b"caf\xc3", fin=False))
    receive(server, close_frame(CloseCode.NORMAL_CLOSURE))
    assert server.sending_fragments is False
    assert sent(server) == [close_frame(CloseCode.NORMAL_CLOSURE), EOF]
    events = server.events_received()
    assert [event.opcode for event in events if isinstance(event, Frame)] == [
        Opcode.TEXT,
        Opcode.CLOSE,
    ]
    server.receive_eof()
    assert server.close_code == CloseCode.NORMAL_CLOSURE

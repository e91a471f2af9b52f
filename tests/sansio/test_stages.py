"""The one table of stages: state, reading, end of stream sent, and what may be sent."""

from __future__ import annotations

import pytest
from protocol_helpers import open_client, open_server

from websockets_typed.exceptions import InvalidState
from websockets_typed.frames import Opcode
from websockets_typed.protocol import (
    _FIRST_STAGES,  # pyright: ignore[reportPrivateUsage]
    _STAGES,  # pyright: ignore[reportPrivateUsage]
    TRANSITIONS,
    State,
    Transition,
    _Reading,  # pyright: ignore[reportPrivateUsage]
    _Stage,  # pyright: ignore[reportPrivateUsage]
)


def test_transitions_are_the_state_changes_of_the_stage_table() -> None:
    projected = {
        (source.state, transition): target.state
        for (source, transition), target in _STAGES.items()
        if source.state is not target.state
    }
    assert projected == TRANSITIONS
    # Transitions that move the state never leave it unchanged, and the
    # others never move it.
    moving = {
        Transition.OPENING_HANDSHAKE_COMPLETED,
        Transition.CLOSING_HANDSHAKE_STARTED,
        Transition.TCP_CONNECTION_CLOSED,
    }
    for (source, transition), target in _STAGES.items():
        assert (source.state is not target.state) is (transition in moving)


def test_every_stage_is_reachable_from_a_first_stage() -> None:
    reached = set(_FIRST_STAGES.values())
    frontier = list(reached)
    while frontier:
        stage = frontier.pop()
        for (source, _), target in _STAGES.items():
            if source is stage and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(_Stage)


def test_the_end_of_the_stream_is_sent_once_and_after_reading_stopped() -> None:
    for (source, _), target in _STAGES.items():
        assert not (source.eof_sent and not target.eof_sent)
        if target.eof_sent:
            assert target.reading is _Reading.DISCARD
    assert not any(
        source.eof_sent for source, transition in _STAGES if transition is Transition.EOF_SENT
    )


@pytest.mark.parametrize("stage", list(_Stage), ids=lambda stage: stage.name)
def test_what_may_be_sent_in_each_stage(stage: _Stage) -> None:
    data = stage.may_send(Opcode.TEXT)
    control = stage.may_send(Opcode.PING)
    assert stage.may_send(Opcode.BINARY) is data
    assert stage.may_send(Opcode.CONT) is data
    assert stage.may_send(Opcode.CLOSE) is data
    assert stage.may_send(Opcode.PONG) is control
    # Data only while OPEN; control frames also while CLOSING until the
    # peer's Close frame arrives; nothing after the end of the stream.
    assert data is (stage.state is State.OPEN and not stage.eof_sent)
    assert control is (
        stage.state in (State.OPEN, State.CLOSING)
        and not stage.eof_sent
        and stage is not _Stage.CLOSE_RECEIVED
    )


def test_a_server_failing_with_1006_half_closes_and_may_send_nothing() -> None:
    server = open_server()
    server.fail(1006)
    assert server._stage is _Stage.OPEN_EOF_SENT  # pyright: ignore[reportPrivateUsage]
    assert server.state is State.OPEN
    with pytest.raises(InvalidState, match="end of the stream was sent"):
        server.send_text(b"late")
    with pytest.raises(InvalidState, match="end of the stream was sent"):
        server.send_ping(b"")


def test_a_client_failing_with_1006_stops_reading_and_may_still_close() -> None:
    client = open_client()
    client.fail(1006)
    assert client._stage is _Stage.OPEN_FAILED  # pyright: ignore[reportPrivateUsage]
    client.receive_data(b"\xff\xff ignored")
    assert client.events_received() == []
    client.send_close(1000)
    stage: _Stage = client._stage  # pyright: ignore[reportPrivateUsage]
    assert stage is _Stage.CLOSING_FAILED
    client.send_ping(b"still allowed")
    assert len(client.data_to_send()) == 2


def test_a_client_that_received_a_close_frame_may_send_nothing() -> None:
    client = open_client()
    client.send_close(1000)
    client.receive_data(b"\x88\x02\x03\xe8")
    assert client._stage is _Stage.CLOSE_RECEIVED  # pyright: ignore[reportPrivateUsage]
    with pytest.raises(InvalidState, match="cannot send a control frame: connection is CLOSING"):
        client.send_pong(b"")
    with pytest.raises(InvalidState, match="connection is CLOSING"):
        client.send_binary(b"")


def test_a_forbidden_change_of_stage_names_the_stage() -> None:
    client = open_client()
    with pytest.raises(
        InvalidState, match=r"end of stream sent is not possible in state OPEN \(stage OPEN\)"
    ):
        client._transition(Transition.EOF_SENT)  # pyright: ignore[reportPrivateUsage]
    assert client._stage is _Stage.OPEN  # pyright: ignore[reportPrivateUsage]

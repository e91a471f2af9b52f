"""Connections that never paused Pongs share their unpaused state (RFC 6455, 5.5.3).

Pausing one connection's Pongs must leave every other connection answering
Pings at once.
"""

from __future__ import annotations

from protocol_helpers import open_client, open_server, receive, sent

from websockets_typed.frames import Frame, Opcode


def test_pausing_one_connection_leaves_the_others_answering() -> None:
    paused, other = open_server(), open_server()
    paused.pause_pongs()
    receive(paused, Frame(Opcode.PING, b"1"), Frame(Opcode.PING, b"2"))
    receive(other, Frame(Opcode.PING, b"3"))
    assert sent(paused) == []
    assert sent(other) == [Frame(Opcode.PONG, b"3")]
    # A connection made after the pause answers at once too.
    later = open_client()
    receive(later, Frame(Opcode.PING, b"4"))
    assert sent(later) == [Frame(Opcode.PONG, b"4")]
    # RFC 6455, 5.5.3: only the latest Ping received while paused is answered.
    paused.resume_pongs()
    assert sent(paused) == [Frame(Opcode.PONG, b"2")]


def test_resuming_a_connection_that_never_paused_sends_nothing() -> None:
    server, other = open_server(), open_server()
    server.resume_pongs()
    assert sent(server) == []
    receive(other, Frame(Opcode.PING, b"ping"))
    assert sent(other) == [Frame(Opcode.PONG, b"ping")]


def test_pausing_again_after_resuming() -> None:
    server = open_server()
    server.pause_pongs()
    server.resume_pongs()
    server.pause_pongs()
    receive(server, Frame(Opcode.PING, b"held"))
    assert sent(server) == []
    server.resume_pongs()
    assert sent(server) == [Frame(Opcode.PONG, b"held")]

"""Stateful property tests of the sans-I/O connection against a simple model.

Hypothesis interleaves what the application does (``send_*``, ``fail``) with
what the peer does (well-formed frames, malformed ones, the end of the
stream), feeding bytes in random chunks, for a client and a server, with and
without permessage-deflate. After every step, the invariants hold:

* the state only moves along :data:`~websockets_typed.protocol.TRANSITIONS`,
  and it is what the model predicts from the Close frames and the EOF;
* ``close_code``, ``close_reason`` and ``close_exc`` agree with the Close
  frames exchanged;
* nothing raises but the documented exceptions;
* ``data_to_send()`` never returns bytes after ``SEND_EOF``;
* the messages each side accepted reach the other intact, in order, and
  every Ping received before the closing handshake gets its Pong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from websockets_typed.client import ClientProtocol
from websockets_typed.exceptions import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidState,
    ProtocolError,
)
from websockets_typed.extensions.permessage_deflate import PerMessageDeflate
from websockets_typed.frames import (
    OK_CLOSE_CODES,
    Close,
    CloseCode,
    Frame,
    Opcode,
    parse_frame,
    serialize_frame,
)
from websockets_typed.protocol import (
    CLIENT,
    SEND_EOF,
    SERVER,
    TRANSITIONS,
    Protocol,
    Side,
    State,
)
from websockets_typed.server import ServerProtocol
from websockets_typed.uri import parse_uri

MAX_SIZE = 600
ALLOWED = {(before, after) for (before, _), after in TRANSITIONS.items()}

payloads = st.binary(max_size=200)
texts = st.text(max_size=60)
chunk_sizes = st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=8)
valid_codes = st.sampled_from([1000, 1001, 1002, 1003, 1007, 1008, 1011, 3000, 4999])
reasons = st.text(max_size=20)


def _chunks(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    """Split ``data`` into pieces of the given sizes, cycling; the rest at the end."""
    pos = 0
    index = 0
    while pos < len(data):
        size = sizes[index % len(sizes)]
        yield data[pos : pos + size]
        pos += size
        index += 1


class ConnectionMachine(RuleBasedStateMachine):
    """A connection under test, and a model of what its peer sent and received."""

    protocol: Protocol

    @initialize(side=st.sampled_from([SERVER, CLIENT]), deflate=st.booleans())
    def open_connection(self, side: Side, deflate: bool) -> None:
        if side is SERVER:
            self.protocol = ServerProtocol(state=State.OPEN, max_size=MAX_SIZE)
        else:
            self.protocol = ClientProtocol(
                parse_uri("ws://example.com/"), state=State.OPEN, max_size=MAX_SIZE
            )
        # Each direction: our encoder and the peer's decoder, or the reverse.
        self.deflate = deflate
        if deflate:
            self.protocol.extensions = [PerMessageDeflate(False, False, 15, 15)]
            self.peer_encoder: PerMessageDeflate | None = PerMessageDeflate(False, False, 15, 15)
            self.peer_decoder: PerMessageDeflate | None = PerMessageDeflate(False, False, 15, 15)
        else:
            self.peer_encoder = self.peer_decoder = None
        self.last_state = State.OPEN

        # What the peer sends, and what we must receive.
        self.peer_fragmented: Opcode | None = None  # message being sent by the peer
        self.peer_message_size = 0
        self.peer_sent_close: Close | None = None
        self.expected_messages: list[tuple[Opcode, bytes]] = []
        self.received_messages: list[tuple[Opcode, bytes]] = []
        self.receiving: list[Frame] = []
        self.pings_received: list[bytes] = []
        self.eof_received = False
        # Whether the connection still parses what the peer sends.
        self.parsing = True
        self.peer_parts: list[bytes] = []

        # What we send, and what the peer must receive.
        self.sending: Opcode | None = None  # fragmented message being sent
        self.sent_messages: list[tuple[Opcode, bytes]] = []
        self.sent_parts: list[bytes] = []
        self.close_sent: Close | None = None
        self.peer_buffer = bytearray()
        self.peer_received: list[tuple[Opcode, bytes]] = []
        self.peer_receiving: list[Frame] = []
        self.peer_pongs: list[bytes] = []
        self.peer_close: Close | None = None
        self.eof_sent = False

    # Helpers.

    def collect(self) -> None:
        """Take events and output, checking them as they come."""
        for event in self.protocol.events_received():
            assert isinstance(event, Frame)
            if event.opcode is Opcode.PING:
                self.pings_received.append(event.data)
            elif event.opcode < 8:
                self.receiving.append(event)
                if event.fin:
                    first = self.receiving[0]
                    data = b"".join(frame.data for frame in self.receiving)
                    self.received_messages.append((first.opcode, data))
                    self.receiving = []
        for data in self.protocol.data_to_send():
            assert not self.eof_sent, "data_to_send() returned bytes after SEND_EOF"
            if data == SEND_EOF:
                self.eof_sent = True
            else:
                self.peer_buffer += data
        self.peer_parse()

    def peer_parse(self) -> None:
        """Parse what we sent, as the peer does."""
        while True:
            # Frames from a client are masked (RFC 6455, 5.1).
            frame = parse_frame(self.peer_buffer, mask=self.protocol.side is CLIENT)
            if frame is None:
                return
            # RFC 6455, 5.5.1: no data frame after a Close frame.
            assert self.peer_close is None or frame.opcode in (Opcode.PING, Opcode.PONG)
            if self.peer_decoder is not None:
                frame = self.peer_decoder.decode(frame)
            assert (frame.rsv1, frame.rsv2, frame.rsv3) == (False, False, False)
            if frame.opcode is Opcode.PONG:
                self.peer_pongs.append(frame.data)
            elif frame.opcode is Opcode.CLOSE:
                self.peer_close = Close.parse(frame.data) if frame.data else None
                if not frame.data:
                    self.peer_close = Close(CloseCode.NO_STATUS_RCVD, "")
            elif frame.opcode < 8:
                self.peer_receiving.append(frame)
                if frame.fin:
                    first = self.peer_receiving[0]
                    data = b"".join(part.data for part in self.peer_receiving)
                    self.peer_received.append((first.opcode, data))
                    self.peer_receiving = []

    def peer_send(self, frame: Frame, sizes: list[int], *, encode: bool = True) -> None:
        """Send a frame as the peer, in chunks."""
        if encode and self.peer_encoder is not None:
            frame = self.peer_encoder.encode(frame)
        wire = b"".join(serialize_frame(frame, mask=self.protocol.side is SERVER))
        self.feed(wire, sizes)

    def feed(self, wire: bytes, sizes: list[int]) -> None:
        if self.eof_received:
            with pytest.raises(EOFError):
                self.protocol.receive_data(wire)
            return
        for chunk in _chunks(wire, sizes):
            self.protocol.receive_data(chunk)
        self.collect()

    def expect_failure(self, code: int) -> None:
        """The peer sent something invalid: the connection fails with ``code``.

        Unless it sent a Close frame already, it sends one with ``code``
        (RFC 6455, 7.1.7); the invariants compare the codes.
        """
        if not self.parsing:
            return
        self.parsing = False
        self.peer_fragmented = None
        assert self.protocol.parser_exc is not None
        if self.close_sent is None:
            self.close_sent = Close(code, "")

    # The peer: well-formed frames.

    @precondition(lambda self: self.peer_sent_close is None)
    @rule(text=st.booleans(), data=payloads, fin=st.booleans(), sizes=chunk_sizes)
    def peer_sends_data(self, text: bool, data: bytes, fin: bool, sizes: list[int]) -> None:
        if self.peer_fragmented is None:
            opcode = Opcode.TEXT if text else Opcode.BINARY
            if opcode is Opcode.TEXT:
                data = data.decode("latin-1").encode()  # valid UTF-8
            self.peer_message_size = 0
            start = opcode
        else:
            opcode = Opcode.CONT
            start = self.peer_fragmented
            if start is Opcode.TEXT:
                data = data.decode("latin-1").encode()
        self.peer_message_size += len(data)
        too_big = self.peer_message_size > MAX_SIZE
        self.peer_fragmented = None if fin else start
        parsing = self.parsing
        self.peer_send(Frame(opcode, data, fin=fin), sizes)
        if not parsing:
            return
        if too_big:
            self.expect_failure(CloseCode.MESSAGE_TOO_BIG)
        elif fin:
            self.expected_messages.append((start, b"".join([*self.peer_parts, data])))
            self.peer_parts = []
        else:
            self.peer_parts.append(data)

    @precondition(lambda self: self.peer_sent_close is None)
    @rule(data=st.binary(max_size=125), ping=st.booleans(), sizes=chunk_sizes)
    def peer_sends_control(self, data: bytes, ping: bool, sizes: list[int]) -> None:
        parsing = self.parsing
        self.peer_send(Frame(Opcode.PING if ping else Opcode.PONG, data), sizes)
        if parsing and ping:
            # RFC 6455, 5.5.2: a Pong answers each Ping.
            assert self.peer_pongs[-1] == data
            assert self.pings_received[-1] == data

    @precondition(lambda self: self.peer_sent_close is None)
    @rule(code=st.one_of(st.none(), valid_codes), reason=reasons, sizes=chunk_sizes)
    def peer_sends_close(self, code: int | None, reason: str, sizes: list[int]) -> None:
        close = Close(CloseCode.NO_STATUS_RCVD, "") if code is None else Close(code, reason)
        payload = b"" if code is None else close.serialize()
        parsing = self.parsing
        self.peer_sent_close = close
        self.peer_send(Frame(Opcode.CLOSE, payload), sizes)
        if parsing:
            self.parsing = False
            assert self.protocol.close_rcvd == close
            if self.close_sent is None:
                # RFC 6455, 5.5.1: the Close frame is echoed.
                self.close_sent = close
            self.peer_fragmented = None

    # The peer: malformed frames.

    @rule(
        kind=st.sampled_from(
            [
                "reserved opcode",
                "wrong mask",
                "long control",
                "fragmented control",
                "reserved bit",
                "bad close code",
                "short close",
            ]
        ),
        sizes=chunk_sizes,
    )
    def peer_sends_invalid_frame(self, kind: str, sizes: list[int]) -> None:
        masked = self.protocol.side is SERVER
        wire: bytes
        if kind == "reserved opcode":
            wire = b"".join(serialize_frame(Frame(Opcode.BINARY, b"x"), mask=masked))
            wire = bytes([wire[0] & 0xF0 | 3]) + wire[1:]
        elif kind == "wrong mask":
            wire = b"".join(serialize_frame(Frame(Opcode.BINARY, b"x"), mask=not masked))
        elif kind == "long control":
            wire = b"".join(serialize_frame(Frame(Opcode.PING, bytes(126)), mask=masked))
        elif kind == "fragmented control":
            wire = b"".join(serialize_frame(Frame(Opcode.PING, b"", fin=False), mask=masked))
        elif kind == "reserved bit":
            wire = b"".join(serialize_frame(Frame(Opcode.PONG, b"", rsv2=True), mask=masked))
        elif kind == "bad close code":
            frame = Frame(Opcode.CLOSE, (1005).to_bytes(2, "big"))
            wire = b"".join(serialize_frame(frame, mask=masked))
        else:
            wire = b"".join(serialize_frame(Frame(Opcode.CLOSE, b"\x03"), mask=masked))
        self.feed(wire, sizes)
        if not self.eof_received:
            self.expect_failure(CloseCode.PROTOCOL_ERROR)

    @precondition(lambda self: self.peer_sent_close is None)
    @rule(sizes=chunk_sizes, prefix=st.binary(max_size=3).map(lambda b: b.decode("latin-1")))
    def peer_sends_invalid_utf8(self, sizes: list[int], prefix: str) -> None:
        # Invalid UTF-8 in a text message fails with 1007 (RFC 6455, 8.1); a
        # new message inside a fragmented one fails with 1002 first.
        data = prefix.encode() + b"\xc3\x28"
        fragmented = self.peer_fragmented is Opcode.BINARY
        if self.peer_fragmented is Opcode.TEXT:
            if self.peer_message_size + len(data) > MAX_SIZE:
                return  # too big rather than invalid
            opcode = Opcode.CONT
        else:
            opcode = Opcode.TEXT
        self.peer_send(Frame(opcode, data), sizes)
        if not self.eof_received:
            self.expect_failure(CloseCode.PROTOCOL_ERROR if fragmented else CloseCode.INVALID_DATA)

    @rule()
    def peer_closes_tcp(self) -> None:
        if self.eof_received:
            with pytest.raises(EOFError):
                self.protocol.receive_eof()
            return
        self.eof_received = True
        self.protocol.receive_eof()
        self.collect()
        self.parsing = False
        # Whoever closes second closes right away (RFC 6455, 7.1.1).
        assert self.eof_sent

    # The application.

    @rule(text=st.booleans(), data=payloads, fin=st.booleans())
    def app_sends_data(self, text: bool, data: bytes, fin: bool) -> None:
        if self.protocol.state is not State.OPEN or self.eof_sent:
            with pytest.raises(InvalidState):
                self.protocol.send_binary(data, fin=fin)
            return
        if self.sending is not None:
            with pytest.raises(ProtocolError):
                self.protocol.send_text(data, fin=fin)
            self.protocol.send_continuation(data, fin=fin)
            opcode = self.sending
        else:
            opcode = Opcode.TEXT if text else Opcode.BINARY
            if opcode is Opcode.TEXT:
                self.protocol.send_text(data, fin=fin)
            else:
                self.protocol.send_binary(data, fin=fin)
        self.sent_parts.append(data)
        if fin:
            self.sent_messages.append((opcode, b"".join(self.sent_parts)))
            self.sent_parts = []
            self.sending = None
        else:
            self.sending = opcode
        self.collect()

    @rule(data=payloads)
    def app_sends_continuation_out_of_place(self, data: bytes) -> None:
        if self.protocol.state is State.OPEN and not self.eof_sent and self.sending is None:
            with pytest.raises(ProtocolError):
                self.protocol.send_continuation(data, fin=True)

    @rule(data=st.binary(max_size=130), ping=st.booleans())
    def app_sends_control(self, data: bytes, ping: bool) -> None:
        send = self.protocol.send_ping if ping else self.protocol.send_pong
        # Allowed until a Close frame is received or the stream is closed.
        allowed = not self.eof_sent and (
            self.protocol.state is State.OPEN
            or (self.protocol.state is State.CLOSING and self.protocol.close_rcvd is None)
        )
        if not allowed:
            with pytest.raises(InvalidState):
                send(data)
        elif len(data) > 125:
            with pytest.raises(ProtocolError):
                send(data)
        else:
            send(data)
        self.collect()

    @rule(code=st.one_of(st.none(), valid_codes), reason=reasons)
    def app_sends_close(self, code: int | None, reason: str) -> None:
        if self.protocol.state is not State.OPEN or self.eof_sent:
            with pytest.raises(InvalidState):
                self.protocol.send_close(code, reason)
            return
        if self.sending is not None:
            with pytest.raises(ProtocolError):
                self.protocol.send_close(code, reason)
            return
        if code is None and reason:
            with pytest.raises(ProtocolError):
                self.protocol.send_close(code, reason)
            return
        self.protocol.send_close(code, reason)
        self.close_sent = Close(CloseCode.NO_STATUS_RCVD if code is None else code, reason)
        self.collect()

    @rule(code=st.one_of(valid_codes, st.just(1006)), reason=reasons)
    def app_fails(self, code: int, reason: str) -> None:
        state = self.protocol.state
        self.protocol.fail(code, reason)
        if state is State.OPEN and code != CloseCode.ABNORMAL_CLOSURE and not self.eof_sent:
            self.close_sent = Close(code, reason)
        self.parsing = False
        self.peer_fragmented = None
        self.collect()
        if self.protocol.side is SERVER:
            # A server closes the TCP connection when failing (RFC 6455, 7.1.7).
            assert self.eof_sent

    # Invariants.

    @invariant()
    def state_follows_transitions(self) -> None:
        state = self.protocol.state
        if state is not self.last_state:
            assert (self.last_state, state) in ALLOWED, (self.last_state, state)
        self.last_state = state
        # The model's prediction: CLOSED after the EOF, CLOSING after a
        # Close frame, OPEN otherwise.
        if self.eof_received:
            assert state is State.CLOSED
        elif self.protocol.close_sent is not None or self.protocol.close_rcvd is not None:
            assert state is State.CLOSING
        else:
            assert state is State.OPEN

    @invariant()
    def close_frames_are_consistent(self) -> None:
        protocol = self.protocol
        if protocol.close_sent is not None:
            assert self.close_sent is not None
            assert protocol.close_sent.code == self.close_sent.code
        if self.peer_close is not None:
            assert protocol.close_sent is not None
            assert self.peer_close.code == protocol.close_sent.code
        if protocol.state is not State.CLOSED:
            assert protocol.close_code is None
            assert protocol.close_reason is None
            with pytest.raises(InvalidState):
                protocol.close_exc  # noqa: B018
            return
        exc = protocol.close_exc
        if protocol.close_rcvd is None:
            assert protocol.close_code == CloseCode.ABNORMAL_CLOSURE
            assert protocol.close_reason == ""
        else:
            assert protocol.close_code == protocol.close_rcvd.code
            assert protocol.close_reason == protocol.close_rcvd.reason
        ok = (
            protocol.close_rcvd is not None
            and protocol.close_sent is not None
            and protocol.close_rcvd.code in OK_CLOSE_CODES
            and protocol.close_sent.code in OK_CLOSE_CODES
        )
        assert isinstance(exc, ConnectionClosedOK if ok else ConnectionClosedError)
        assert exc.rcvd == protocol.close_rcvd
        assert exc.sent == protocol.close_sent

    @invariant()
    def messages_arrive_intact(self) -> None:
        # Each direction: what was accepted is what arrives, in order.
        assert self.received_messages == self.expected_messages
        assert self.peer_received == self.sent_messages


TestConnection = ConnectionMachine.TestCase
TestConnection.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)


# Found by the state machine: after fail(1006), a server had half-closed the
# stream but could still queue frames, which data_to_send() returned after
# SEND_EOF.


def _late_sends() -> list[Callable[[Protocol], None]]:
    return [
        lambda protocol: protocol.send_text(b"late"),
        lambda protocol: protocol.send_binary(b"late", fin=False),
        lambda protocol: protocol.send_close(1000),
        lambda protocol: protocol.send_ping(b""),
        lambda protocol: protocol.send_pong(b""),
    ]


@pytest.mark.parametrize("send", _late_sends())
def test_nothing_is_sent_after_the_end_of_the_stream(send: Callable[[Protocol], None]) -> None:
    server = ServerProtocol(state=State.OPEN)
    server.fail(CloseCode.ABNORMAL_CLOSURE)
    assert server.data_to_send() == [SEND_EOF]
    assert server.state is State.OPEN
    with pytest.raises(InvalidState, match="the end of the stream was sent"):
        send(server)
    server.fail(CloseCode.PROTOCOL_ERROR)
    assert server.data_to_send() == []

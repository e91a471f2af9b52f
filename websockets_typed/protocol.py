"""The sans-I/O WebSocket connection shared by clients and servers.

A :class:`Protocol` never touches a socket. The caller feeds it the bytes it
reads with :meth:`~Protocol.receive_data` and :meth:`~Protocol.receive_eof`,
collects events with :meth:`~Protocol.events_received`, and writes what
:meth:`~Protocol.data_to_send` returns. Sending is done with the ``send_*()``
methods, which only queue bytes.

Connection states (RFC 6455, sections 4 and 7) change in one place only,
:meth:`Protocol._transition`, following one table of stages, ``_STAGES``;
a server's usual closing handshake takes three of its transitions at once,
composed from that table.
A stage is a :class:`State` plus what the connection does with the bytes it
receives (parse a handshake, hold them, parse frames, ignore them), whether
it sent the end of the stream, and what it may send. :data:`TRANSITIONS` is
the part of that table that changes the state::

    CONNECTING --opening handshake completed--> OPEN
    OPEN       --closing handshake started----> CLOSING
    CONNECTING --TCP connection closed--------> CLOSED
    OPEN       --TCP connection closed--------> CLOSED
    CLOSING    --TCP connection closed--------> CLOSED

A failed opening handshake leaves the connection CONNECTING until the TCP
connection closes; :attr:`Protocol.handshake_exc` tells why it failed.
"""

from __future__ import annotations

import enum
import logging
import struct
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Final, TypeAlias

from ._defaults import MAX_FRAGMENTS, MAX_SIZE, fragment_limit
from ._pongs import PausedPongs
from ._receivebuffer import LARGE_FRAME, LargeFrame
from ._text import TextValidator
from .datastructures import Headers
from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidMessage,
    InvalidState,
    PayloadTooBig,
    ProtocolError,
    TooManyFragments,
)
from .extensions.base import Extension
from .frames import (
    MASKED_BY_CALLER,
    OK_CLOSE_CODES,
    Close,
    CloseCode,
    Frame,
    Opcode,
    frame_head,
    read_frame,
    read_messages,
    serialize_frame,
    serialize_message,
    serialize_payload,
)
from .http11 import Request, Response, redact_header
from .typing import BytesLike, LoggerLike, Subprotocol

if TYPE_CHECKING:
    from .legacy.protocol import WebSocketCommonProtocol

__all__ = [
    "CLIENT",
    "CLOSED",
    "CLOSING",
    "CONNECTING",
    "OPEN",
    "SEND_EOF",
    "SERVER",
    "TRANSITIONS",
    "Event",
    "Protocol",
    "SharedSend",
    "Side",
    "State",
    "Transition",
    "WebSocketCommonProtocol",
]


Event: TypeAlias = Request | Response | Frame
"""What :meth:`Protocol.events_received` returns; a closed union to ``match`` on."""


class Side(enum.IntEnum):
    """Which end of the connection a :class:`Protocol` implements."""

    SERVER = 0
    """The end that accepts connections."""
    CLIENT = 1
    """The end that opens connections."""


SERVER: Final = Side.SERVER
"""Alias of :attr:`Side.SERVER`."""
CLIENT: Final = Side.CLIENT
"""Alias of :attr:`Side.CLIENT`."""


class State(enum.IntEnum):
    """The state of a WebSocket connection (RFC 6455, 4.1, 4.2, 7.1.3, 7.1.4)."""

    CONNECTING = 0
    """The opening handshake is in progress, or failed."""
    OPEN = 1
    """The opening handshake succeeded: messages may flow both ways."""
    CLOSING = 2
    """A Close frame was sent or received: the closing handshake is in progress."""
    CLOSED = 3
    """The TCP connection is closed."""


CONNECTING: Final = State.CONNECTING
"""Alias of :attr:`State.CONNECTING`."""
OPEN: Final = State.OPEN
"""Alias of :attr:`State.OPEN`."""
CLOSING: Final = State.CLOSING
"""Alias of :attr:`State.CLOSING`."""
CLOSED: Final = State.CLOSED
"""Alias of :attr:`State.CLOSED`."""


class Transition(enum.Enum):
    """What moves a connection from one stage to the next.

    The first three change its :class:`State`; the others only change what
    it does with the bytes it receives and what it may send.
    """

    # Members are singletons: hashing by identity agrees with equality, in
    # C, where Enum hashes names in Python; every transition looks up
    # (stage, transition) in _STAGES (bench/run.py, S4).
    if TYPE_CHECKING:

        def __hash__(self) -> int:
            """Hash by identity."""
            ...

    else:
        __hash__ = object.__hash__

    OPENING_HANDSHAKE_COMPLETED = "opening handshake completed"
    """The server sent, or the client received and validated, a 101 response."""

    CLOSING_HANDSHAKE_STARTED = "closing handshake started"
    """A Close frame was sent or received (RFC 6455, 7.1.2 and 7.1.3)."""

    TCP_CONNECTION_CLOSED = "TCP connection closed"
    """The peer ended the byte stream (RFC 6455, 7.1.4)."""

    REQUEST_RECEIVED = "handshake request received"
    """A server parsed the handshake request; what follows waits for its response."""

    CLOSE_RECEIVED = "Close frame received"
    """The peer's Close frame arrived: what follows it is ignored (RFC 6455, 1.4)."""

    READING_STOPPED = "reading stopped"
    """The connection failed (RFC 6455, 7.1.7): received bytes are ignored."""

    EOF_SENT = "end of stream sent"
    """This side half-closed the TCP connection: nothing may be sent any more."""


class SharedSend(enum.Enum):
    """How :meth:`Protocol.shared_send` says to send a frame whose bytes are shared."""

    SKIP = "the connection isn't OPEN: skip it"
    """Nothing can be sent."""
    BUSY = "a fragmented message is being sent"
    """Another message can't start before it ends."""
    QUEUE = "send it with send_text() or send_binary()"
    """The frame must be masked, compressed or logged, or follow bytes not sent yet."""
    FULL = "write the shared bytes, if the write buffer has room"
    """As :attr:`WRITE`, but the write buffer is above its high-water mark
    (see :meth:`Protocol.pause_pongs`): a caller that bounds it checks first."""
    WRITE = "write the shared bytes"
    """The caller writes the shared bytes itself, right away: the protocol has nothing to do."""


class _Reading(enum.Enum):
    """What a connection does with the bytes it receives."""

    HANDSHAKE = "parse the opening handshake"
    HOLD = "keep them until the opening handshake moves on"
    FRAMES = "parse frames"
    DISCARD = "ignore them"


class _Sending(enum.IntEnum):
    """What a connection may send with the ``send_*()`` methods."""

    NOTHING = 0
    CONTROL = 1  # Ping and Pong frames
    ALL = 2


class _Stage(enum.Enum):
    """Where a connection is: its :class:`State`, how it reads, whether it sent EOF, what it sends.

    The value of each member spells these four out; :data:`_STAGES` says
    how a stage moves to the next.
    """

    _value_: tuple[State, _Reading, bool, _Sending]

    # See Transition.
    if not TYPE_CHECKING:
        __hash__ = object.__hash__

    HANDSHAKE = (State.CONNECTING, _Reading.HANDSHAKE, False, _Sending.NOTHING)
    HANDSHAKE_HELD = (State.CONNECTING, _Reading.HOLD, False, _Sending.NOTHING)
    HANDSHAKE_FAILED = (State.CONNECTING, _Reading.DISCARD, False, _Sending.NOTHING)
    HANDSHAKE_FAILED_EOF_SENT = (State.CONNECTING, _Reading.DISCARD, True, _Sending.NOTHING)
    OPEN = (State.OPEN, _Reading.FRAMES, False, _Sending.ALL)
    # A client failing with 1006 sends no Close frame and waits for the
    # server to close the TCP connection; a server half-closes at once.
    OPEN_FAILED = (State.OPEN, _Reading.DISCARD, False, _Sending.ALL)
    OPEN_EOF_SENT = (State.OPEN, _Reading.DISCARD, True, _Sending.NOTHING)
    CLOSING = (State.CLOSING, _Reading.FRAMES, False, _Sending.CONTROL)
    # RFC 6455 allows Ping and Pong frames after a Close frame was sent, but
    # nothing after one was received (1.4) or after the half-close.
    CLOSING_FAILED = (State.CLOSING, _Reading.DISCARD, False, _Sending.CONTROL)
    CLOSE_RECEIVED = (State.CLOSING, _Reading.DISCARD, False, _Sending.NOTHING)
    CLOSING_EOF_SENT = (State.CLOSING, _Reading.DISCARD, True, _Sending.NOTHING)
    CLOSED = (State.CLOSED, _Reading.DISCARD, True, _Sending.NOTHING)

    @property
    def state(self) -> State:
        """The public state of a connection in this stage."""
        return self._value_[0]

    @property
    def reading(self) -> _Reading:
        """What a connection in this stage does with received bytes."""
        return self._value_[1]

    @property
    def eof_sent(self) -> bool:
        """Whether a connection in this stage half-closed the TCP connection."""
        return self._value_[2]

    def may_send(self, opcode: Opcode) -> bool:
        """Tell whether a frame with ``opcode`` may be sent in this stage: the one rule."""
        sending = self._value_[3]
        return sending is _Sending.ALL or (
            sending is _Sending.CONTROL and (opcode is Opcode.PING or opcode is Opcode.PONG)
        )


# Globals: reading a member as an attribute of its Enum class costs about as
# much as parsing a small frame (bench/run.py --callgrind, S2 and S6).
_OPEN_STAGE: Final = _Stage.OPEN
_FRAMES: Final = _Reading.FRAMES
_DISCARD: Final = _Reading.DISCARD
_READ_HANDSHAKE: Final = _Reading.HANDSHAKE
_SKIP: Final = SharedSend.SKIP
_BUSY: Final = SharedSend.BUSY
_QUEUE: Final = SharedSend.QUEUE
_FULL: Final = SharedSend.FULL
_WRITE: Final = SharedSend.WRITE
_OP_CONT: Final = Opcode.CONT
_OP_TEXT: Final = Opcode.TEXT
_OP_BINARY: Final = Opcode.BINARY
# The header of an unmasked frame of up to 125 bytes (see message_bytes).
_PACK_SHORT_HEAD: Final = struct.Struct("!BB").pack
_OP_CLOSE: Final = Opcode.CLOSE
_OP_PING: Final = Opcode.PING
_OP_PONG: Final = Opcode.PONG
# The same goes for every transition: Python 3.11's EnumType has a
# __getattr__, which makes each read of a member through its class cost
# about a thousand instructions (bench/run.py --callgrind, S4).
_CLOSING_HANDSHAKE_STARTED: Final = Transition.CLOSING_HANDSHAKE_STARTED
_TCP_CONNECTION_CLOSED: Final = Transition.TCP_CONNECTION_CLOSED
_CLOSE_RECEIVED: Final = Transition.CLOSE_RECEIVED
_READING_STOPPED: Final = Transition.READING_STOPPED
_EOF_SENT: Final = Transition.EOF_SENT

_T = Transition
_S = _Stage
_STAGES: Final[Mapping[tuple[_Stage, Transition], _Stage]] = {
    # Opening handshake (RFC 6455, 4).
    (_S.HANDSHAKE, _T.REQUEST_RECEIVED): _S.HANDSHAKE_HELD,
    (_S.HANDSHAKE, _T.OPENING_HANDSHAKE_COMPLETED): _S.OPEN,
    (_S.HANDSHAKE_HELD, _T.OPENING_HANDSHAKE_COMPLETED): _S.OPEN,
    # Closing handshake (RFC 6455, 7.1.2 and 7.1.3).
    (_S.OPEN, _T.CLOSING_HANDSHAKE_STARTED): _S.CLOSING,
    (_S.OPEN_FAILED, _T.CLOSING_HANDSHAKE_STARTED): _S.CLOSING_FAILED,
    (_S.CLOSING, _T.CLOSE_RECEIVED): _S.CLOSE_RECEIVED,
    # Failing the connection (RFC 6455, 7.1.7).
    (_S.HANDSHAKE, _T.READING_STOPPED): _S.HANDSHAKE_FAILED,
    (_S.HANDSHAKE_HELD, _T.READING_STOPPED): _S.HANDSHAKE_FAILED,
    (_S.OPEN, _T.READING_STOPPED): _S.OPEN_FAILED,
    (_S.CLOSING, _T.READING_STOPPED): _S.CLOSING_FAILED,
    # Half-closing: only once reading stopped (RFC 6455, 7.1.1).
    (_S.HANDSHAKE_FAILED, _T.EOF_SENT): _S.HANDSHAKE_FAILED_EOF_SENT,
    (_S.OPEN_FAILED, _T.EOF_SENT): _S.OPEN_EOF_SENT,
    (_S.CLOSING_FAILED, _T.EOF_SENT): _S.CLOSING_EOF_SENT,
    (_S.CLOSE_RECEIVED, _T.EOF_SENT): _S.CLOSING_EOF_SENT,
    # The end of the TCP connection (RFC 6455, 7.1.4), from every stage.
    **{(stage, _T.TCP_CONNECTION_CLOSED): _S.CLOSED for stage in _Stage if stage is not _S.CLOSED},
}
"""Every allowed change of stage; anything else is a bug and raises :exc:`InvalidState`."""

TRANSITIONS: Final[Mapping[tuple[State, Transition], State]] = {
    (source.state, transition): target.state
    for (source, transition), target in _STAGES.items()
    if source.state is not target.state
}
"""Every allowed state change; anything else is a bug and raises :exc:`InvalidState`.

The changes of state among the changes of stage that the connection's one
transition table allows.
"""

# The state and the reading of each stage, read at each transition: cheaper
# than two properties (bench/run.py, S4).
_STAGE_PARTS: Final = {stage: (stage.state, stage.reading) for stage in _Stage}

# _STAGES with the parts of each target: one lookup per transition.
_NEXT_STAGES: Final = {key: (target, *_STAGE_PARTS[target]) for key, target in _STAGES.items()}

# _NEXT_STAGES by transition, then by stage: two lookups by identity are
# cheaper than building and hashing a tuple (bench/micro.py, S4).
_TARGETS: Final = {
    transition: {
        stage: target for (stage, key), target in _NEXT_STAGES.items() if key is transition
    }
    for transition in Transition
}

# The stages that sent the end of the stream, read when it ends: cheaper
# than a property (bench/run.py, S4).
_EOF_SENT_STAGES: Final = frozenset(stage for stage in _Stage if stage.eof_sent)

# A server that receives a Close frame while OPEN answers it, stops reading
# and half-closes (RFC 6455, 5.5.1, 1.4 and 7.1.1): three transitions of
# _STAGES, composed once for the usual closing handshake (bench/micro.py, S4).
_OPEN_CLOSE_ANSWERED: Final = _NEXT_STAGES[
    (_STAGES[(_STAGES[(_S.OPEN, _T.CLOSING_HANDSHAKE_STARTED)], _T.CLOSE_RECEIVED)], _T.EOF_SENT)
]

# Stages that a connection created in a given state starts in.
_FIRST_STAGES: Final = {
    State.CONNECTING: _S.HANDSHAKE,
    State.OPEN: _S.OPEN,
    State.CLOSING: _S.CLOSING,
    State.CLOSED: _S.CLOSED,
}


SEND_EOF: Final = b""
"""What :meth:`Protocol.data_to_send` returns to ask for a half-close of the TCP connection."""

# Most connections never pause Pongs: they share this PausedPongs, never
# paused and holding nothing, until pause_pongs() gives them their own.
# One object fewer to build per connection (bench/micro.py, S4).
_UNPAUSED: Final = PausedPongs()

# A close reason must fit in a control frame with the 2-byte code.
_MAX_REASON_BYTES: Final = 123

# A server's answers to the usual Close frames (see Close.parse): the Close
# event, shared, and the Close frame echoing it, serialized once. Parsing
# the payload and serializing the answer cost a fifth of a closing handshake
# (bench/micro.py, S4).
_USUAL_ANSWERS: Final = {
    payload: (
        Close.parse(payload),
        b"".join(serialize_frame(Frame(Opcode.CLOSE, payload), mask=False)),
    )
    for payload in (b"", b"\x03\xe8", b"\x03\xe9")
}


class Protocol:
    """The WebSocket protocol shared by :class:`ServerProtocol` and :class:`ClientProtocol`.

    Args:
        side: :data:`SERVER` or :data:`CLIENT`.
        state: Initial state; tests and custom handshakes may start in
            :data:`OPEN`.
        max_size: Largest incoming message, in bytes, after decompression;
            ``None`` disables the limit. Larger messages close the connection
            with 1009.
        max_fragments: Largest number of frames in an incoming message;
            ``None`` disables the limit. A message split into more frames
            closes the connection with 1009, so that a flood of tiny or empty
            fragments cannot keep a message unfinished forever. The default,
            65,536, grows with ``max_size``: one frame per 16 bytes.
        logger: Logger for this connection; defaults to
            ``websockets_typed.server`` or ``websockets_typed.client``.

    Attributes:
        logger: Logger for this connection.
        side: Which end of the connection this is.
        max_size: Largest incoming message, in bytes.
        max_fragments: Largest number of frames in an incoming message; a
            change applies from the next message.
        extensions: Extensions negotiated in the opening handshake.
        subprotocol: Subprotocol negotiated in the opening handshake.
        handshake_exc: Why the opening handshake failed; ``None`` if it
            succeeded or is not over yet.
        close_rcvd: The Close frame received, if any.
        close_sent: The Close frame sent, if any.
        close_rcvd_then_sent: Whether the peer started the closing handshake,
            once both Close frames exist.
        parser_exc: The error that made this side fail the connection
            while parsing incoming data, if any.
        frame_budget: How many more data frames :meth:`receive_data` may
            parse; ``None`` (the default) for no limit. Internal API for flow
            control: an I/O layer whose queue of received messages has room
            for ``n`` frames sets it to ``n`` before each call, so that one
            large read of tiny frames cannot overfill the queue. The bytes
            of the frames beyond the budget wait; ``receive_data(b"")``
            parses them once the budget allows.
        defer_failures: Whether a bad frame between messages fails the
            connection only when :meth:`fail_deferred` is called; ``False``
            by default. Internal API: RFC 6455 lets the messages received
            before the bad frame reach the application, and its answers go
            out, before the connection fails. Reading stops at once either
            way.
        deferred_failure: The Close frame of a deferred failure, until
            :meth:`fail_deferred` sends it.
        payload_buffer: While the payload of a large frame arrives, a
            writable view of the rest of it; ``None`` otherwise. Internal API
            for the I/O layers that read into buffers, as an
            :class:`asyncio.BufferedProtocol` does: read into it, then call
            :meth:`payload_received`. The frame's data is allocated once, at
            its final size, when its header arrives (see _receivebuffer).
    """

    # Slots, not a __dict__: a server holds one protocol per connection, and
    # with more than 30 attributes a __dict__ takes 1.5 KiB more (bench/run.py, S5).
    __slots__ = (
        "__weakref__",
        "_buffer",
        "_buffer_start",
        "_debug",
        "_eof_rcvd",
        "_events",
        "_id",
        "_large_frame",
        "_mask_incoming",
        "_mask_outgoing",
        "_pongs",
        "_reading",
        "_recv_frames_left",
        "_recv_max_fragments",
        "_recv_opcode",
        "_recv_size",
        "_send_opcode",
        "_stage",
        "_state",
        "_text",
        "_writes",
        "close_rcvd",
        "close_rcvd_then_sent",
        "close_sent",
        "defer_failures",
        "deferred_failure",
        "extensions",
        "frame_budget",
        "handshake_exc",
        "logger",
        "max_fragments",
        "max_size",
        "parser_exc",
        "payload_buffer",
        "side",
        "subprotocol",
    )

    logger: LoggerLike
    side: Side
    max_size: int | None
    max_fragments: int | None
    extensions: list[Extension]
    subprotocol: Subprotocol | None
    handshake_exc: Exception | None
    close_rcvd: Close | None
    close_sent: Close | None
    close_rcvd_then_sent: bool | None
    parser_exc: Exception | None
    frame_budget: int | None
    defer_failures: bool
    deferred_failure: Close | None
    payload_buffer: memoryview | None

    def __init__(
        self,
        side: Side,
        *,
        state: State = CONNECTING,
        max_size: int | None = MAX_SIZE,
        max_fragments: int | None = MAX_FRAGMENTS,
        logger: LoggerLike | None = None,
    ) -> None:
        if max_fragments is not None and max_fragments < 1:
            raise ValueError("max_fragments must be at least 1")
        # Made on first use (see id): most connections never log theirs.
        self._id: uuid.UUID | None = None
        if logger is None:
            logger = logging.getLogger(f"websockets_typed.{side.name.lower()}")
        self.logger = logger
        # Checking the level once per connection keeps debug logging off the
        # frame path when it is disabled.
        self._debug = logger.isEnabledFor(logging.DEBUG)
        self.side = side
        self.max_size = max_size
        self.max_fragments = max_fragments
        self.extensions = []
        self.subprotocol = None
        self.handshake_exc = None
        self.close_rcvd = None
        self.close_sent = None
        self.close_rcvd_then_sent = None
        self.parser_exc = None
        self.frame_budget = None
        self.defer_failures = False
        self.deferred_failure = None

        # The stage, and two parts of it read on every call: see _transition.
        self._stage = _FIRST_STAGES[state]
        self._state, self._reading = _STAGE_PARTS[self._stage]
        # Frames from clients are masked, frames from servers are not (RFC
        # 6455, 5.1).
        self._mask_outgoing = side is CLIENT
        self._mask_incoming = side is SERVER

        # Received bytes not parsed yet: the start of a small frame, or a
        # large frame (see _receivebuffer).
        self._buffer = bytearray()
        # Where parsing resumes in the buffer, when frames beyond the
        # frame budget wait there: trimming it each time would move the
        # rest again and again.
        self._buffer_start = 0
        self._large_frame: LargeFrame | None = None
        self.payload_buffer = None
        self._eof_rcvd = False
        self._events: list[Event] = []
        self._writes: list[bytes] = []

        # Fragmented message being received: its opcode and its size so far.
        self._recv_opcode: Opcode | None = None
        self._recv_size = 0
        # The limit on its number of frames, and how many more it may have.
        self._recv_max_fragments = 0
        self._recv_frames_left = 0
        # UTF-8 validation of the text being received.
        self._text = TextValidator()
        # Opcode of the fragmented message being sent, if any.
        self._send_opcode: Opcode | None = None
        self._pongs = _UNPAUSED

    # Public state.

    @property
    def id(self) -> uuid.UUID:
        """Unique identifier of the connection, useful in logs.

        A random UUID, made on first use: making one costs more than 1% of
        a handshake (bench/run.py, S4), and most connections never log it.
        """
        if self._id is None:
            self._id = uuid.uuid4()
        return self._id

    @id.setter
    def id(self, value: uuid.UUID) -> None:
        self._id = value

    @property
    def state(self) -> State:
        """The state of the connection."""
        return self._state

    @property
    def close_code(self) -> int | None:
        """The close code received, once the connection is CLOSED; else ``None``.

        1006 when the TCP connection closed without a Close frame; 1005 when
        the Close frame had no code.
        """
        if self._state is not CLOSED:
            return None
        if self.close_rcvd is None:
            return CloseCode.ABNORMAL_CLOSURE
        return self.close_rcvd.code

    @property
    def close_reason(self) -> str | None:
        """The close reason received, once the connection is CLOSED; else ``None``."""
        if self._state is not CLOSED:
            return None
        if self.close_rcvd is None:
            return ""
        return self.close_rcvd.reason

    @property
    def closed_ok(self) -> bool:
        """Whether both sides sent 1000, 1001 or no code: a normal closure.

        Then :attr:`close_exc` is a :class:`ConnectionClosedOK`, which it
        tells without building the exception (bench/run.py, S4).
        """
        close_rcvd, close_sent = self.close_rcvd, self.close_sent
        return (
            close_rcvd is not None
            and close_sent is not None
            and close_rcvd.code in OK_CLOSE_CODES
            and close_sent.code in OK_CLOSE_CODES
        )

    @property
    def close_exc(self) -> ConnectionClosed:
        """The exception to raise on any use of the closed connection.

        :class:`ConnectionClosedOK` when both sides sent 1000, 1001 or no code;
        :class:`ConnectionClosedError` otherwise. Its cause is the parsing
        error that failed the connection, if any.

        Raises:
            InvalidState: If the connection is not CLOSED yet: the code and
                reason are only known then.
        """
        if self._state is not CLOSED:
            raise InvalidState("connection isn't closed yet")
        exc_type = ConnectionClosedOK if self.closed_ok else ConnectionClosedError
        exc = exc_type(self.close_rcvd, self.close_sent, self.close_rcvd_then_sent)
        exc.__cause__ = self.parser_exc
        return exc

    # Receiving.

    def receive_data(self, data: BytesLike) -> None:
        """Receive bytes from the network.

        Then call :meth:`events_received` for the events they complete and
        :meth:`data_to_send` for the answers they trigger (pongs, Close
        frames, handshake responses).

        Raises:
            EOFError: If :meth:`receive_eof` was called earlier.
        """
        if self._eof_rcvd:
            raise EOFError("cannot receive data after the end of the stream")
        reading = self._reading
        if reading is _DISCARD:
            return
        if self._large_frame is not None:
            # A large frame arrives in many reads (see _receivebuffer).
            start = self._add_to_large_frame(data)
            if start == len(data) or self._reading is not _FRAMES:
                return
            if start:
                data = memoryview(data)[start:]
        if reading is _FRAMES and not self._buffer and type(data) is bytes:
            # Nothing pending, the common case: parse frames where they
            # arrived, and keep only the start of an incomplete frame. This
            # saves a copy of every byte (bench/run.py --callgrind, S1).
            end = self._process_frames(data)
            if end < len(data) and self._reading is _FRAMES:
                self._buffer += memoryview(data)[end:]
            return
        self._buffer += data
        if reading is _FRAMES:
            self._parse_frames()
        elif reading is _READ_HANDSHAKE:
            self._parse_handshake()

    def receive_view(self, data: memoryview) -> None:
        """Receive bytes that stay where they are until this returns, e.g. in a read buffer.

        Internal API for the I/O layers: :meth:`receive_data` without
        copying ``data`` first; frames take copies of their payloads and the
        start of an incomplete frame is copied out. ``data`` must be a
        C-contiguous view of bytes (format ``B``).
        """
        if self._reading is _FRAMES and not self._buffer and self._large_frame is None:
            end = self._process_frames(data)
            if end < len(data) and self._reading is _FRAMES:
                self._buffer += data[end:]
        else:
            self.receive_data(data)

    def receive_messages(
        self, buffer: BytesLike, size: int, append: Callable[[Frame], object]
    ) -> int:
        """Take the whole messages at the start of ``buffer[:size]``; return where they end.

        Internal API for the I/O layers, for the usual read: each frame
        taken is a message in one frame that needs no rule but the
        parser's, passed to ``append`` rather than to
        :meth:`events_received`, as :meth:`receive_data` would, in one call
        (see :data:`~websockets_typed.frames.read_messages`); the
        :attr:`frame_budget` counts them. The caller passes the rest of
        ``buffer[:size]`` to :meth:`receive_data` or :meth:`receive_view`.

        It takes nothing whenever the parser must decide: frames or events
        pending, a fragmented message, extensions, debug logs, a connection
        that isn't OPEN or has bytes to send. So, after a call that took
        all of ``buffer[:size]``, :meth:`quiet` holds and
        :meth:`events_received` has nothing new.
        """
        # OPEN, parsing frames: neither failing, closing, nor at the end.
        if (
            read_messages is None
            or self._stage is not _OPEN_STAGE
            or self._writes
            or self._buffer
            or self._large_frame is not None
            or self._recv_opcode is not None
            or self._events
            or self.extensions
            or self._debug
        ):
            return 0
        max_size = self.max_size
        budget = self.frame_budget
        end, count = read_messages(
            buffer,
            0,
            size,
            self._mask_incoming,
            -1 if max_size is None else max_size,
            -1 if budget is None else budget,
            append,
        )
        if budget is not None:
            self.frame_budget = budget - count
        return end

    def payload_received(self, nbytes: int) -> None:
        """Receive the ``nbytes`` bytes read at the start of :attr:`payload_buffer`.

        Internal API for the I/O layers; then call :meth:`events_received`
        and :meth:`data_to_send`, as after :meth:`receive_data`. Without a
        large frame pending, ``payload_received(0)`` parses the frames that
        :attr:`frame_budget` held back, as ``receive_data(b"")`` does.
        """
        large = self._large_frame
        if large is None:
            self.receive_data(b"")
            return
        try:
            self._large_frame_grew(large, large.received(nbytes))
        except Exception as exc:  # each is mapped to a close code
            self._fail_receiving(exc)

    def receive_eof(self) -> None:
        """Receive the end of the byte stream: the peer closed its side.

        Then call :meth:`data_to_send`: it returns ``[SEND_EOF]`` when this
        side must close its side too. The connection is CLOSED.

        Raises:
            EOFError: If :meth:`receive_eof` was called earlier.
        """
        if self._eof_rcvd:
            raise EOFError("cannot receive the end of the stream twice")
        self._eof_rcvd = True
        if self._debug:
            self.logger.debug("< EOF")
        if self._buffer and self._reading is _FRAMES:
            # Frames held back by the budget come before the end.
            self.frame_budget = None
            self._parse_frames()
        # A failure deferred comes before the end too.
        if self.deferred_failure is not None:
            self.fail_deferred()
        if self._reading is not _DISCARD:
            self._receive_eof()
        if self._state is CONNECTING and self.handshake_exc is None:
            # handshake_exc is None if and only if the handshake succeeded.
            self.handshake_exc = InvalidMessage("connection closed during the opening handshake")
        eof_sent = self._stage in _EOF_SENT_STAGES
        # Every stage that discards what it receives started with an empty
        # input (see _stop_parsing and _receive_close): usually, the closing
        # handshake is over, and there is nothing to clear (bench/run.py, S4).
        if self._reading is not _DISCARD:
            self._clear_input()
        self._transition(_TCP_CONNECTION_CLOSED)
        # Whoever closes second closes right away: there is nothing left to
        # wait for (RFC 6455, 7.1.1).
        if not eof_sent:
            if self._debug:
                self.logger.debug("> EOF")
            self._writes.append(SEND_EOF)

    def _receive_eof(self) -> None:
        """Handle the end of the stream in the current parsing stage."""
        if self._reading is _READ_HANDSHAKE:
            self._receive_eof_in_handshake()
        elif self._reading is _FRAMES:
            # RFC 6455, 7.1.5: the TCP connection closed before the closing
            # handshake completed: _The WebSocket Connection Close Code_ is
            # 1006. A Close frame received stops parsing, so being here means
            # none was received.
            self.parser_exc = EOFError("unexpected end of stream")
            self.fail(CloseCode.ABNORMAL_CLOSURE)

    def events_received(self) -> list[Event]:
        """Return the events parsed since the last call, in order.

        Call it right after :meth:`receive_data` or :meth:`receive_eof`.
        """
        events, self._events = self._events, []
        return events

    def data_to_send(self) -> list[bytes]:
        """Return the bytes to write to the network since the last call, in order.

        Call it after any ``receive_*()``, ``send_*()`` or :meth:`fail`. An
        empty bytes object, :data:`SEND_EOF`, asks for a half-close of the
        TCP connection; nothing follows it.
        """
        writes, self._writes = self._writes, []
        return writes

    def close_expected(self) -> bool:
        """Tell whether the TCP connection should close soon.

        Call it after any ``receive_*()``, :meth:`send_close` or :meth:`fail`.
        When it returns ``True``, close the TCP connection after a timeout if
        the peer does not close it first.
        """
        return self._state is CLOSING or self.handshake_exc is not None

    def quiet(self) -> bool:
        """Tell whether the connection is OPEN and has nothing to send.

        Internal API for the I/O layers: then :meth:`data_to_send` returns
        nothing and :meth:`close_expected` returns ``False``, and they may
        skip both, as after receiving data frames, the common case.
        """
        return self._state is OPEN and not self._writes

    # Sending.

    def send_continuation(self, data: BytesLike, fin: bool) -> None:
        """Send a Continuation frame: the next part of a fragmented message.

        Args:
            data: The next part of the payload, of the message's type.
            fin: Whether this frame ends the message.

        Raises:
            InvalidState: If the connection is not OPEN.
            ProtocolError: If no fragmented message is being sent.
        """
        self._check_may_send(Opcode.CONT)
        if self._send_opcode is None:
            raise ProtocolError("unexpected continuation frame")
        if fin:
            self._send_opcode = None
        self._send_frame(Frame(Opcode.CONT, _as_bytes(data), fin))

    def send_text(self, data: BytesLike, fin: bool = True) -> None:
        """Send a Text frame.

        Args:
            data: Text encoded with UTF-8.
            fin: ``False`` if this frame starts a fragmented message.

        Raises:
            InvalidState: If the connection is not OPEN.
            ProtocolError: If a fragmented message is being sent.
        """
        self._send_data(_OP_TEXT, data, fin)

    def send_binary(self, data: BytesLike, fin: bool = True) -> None:
        """Send a Binary frame.

        Args:
            data: Arbitrary binary data.
            fin: ``False`` if this frame starts a fragmented message.

        Raises:
            InvalidState: If the connection is not OPEN.
            ProtocolError: If a fragmented message is being sent.
        """
        self._send_data(_OP_BINARY, data, fin)

    def _send_data(self, opcode: Opcode, data: BytesLike, fin: bool) -> None:
        # The hot path of sending: every call avoided here shows per message
        # (bench/run.py --callgrind, S2 and C1).
        if self._stage is not _OPEN_STAGE:
            self._check_may_send(opcode)
        if self._send_opcode is not None:
            raise ProtocolError("expected a continuation frame")
        if not fin:
            self._send_opcode = opcode
        if type(data) is not bytes:
            data = bytes(data)
        if self.extensions or self._debug:
            self._send_frame(Frame(opcode, data, fin))
        else:
            # No Frame to build when nothing needs one.
            self._writes += serialize_payload(
                opcode | 0x80 if fin else opcode, data, self._mask_outgoing
            )

    # Internal API for the I/O layers: what they need beyond the public
    # methods, so that they never reach into private attributes.

    def message_bytes(self, text: bool, data: BytesLike) -> bytes | None:
        """Return the bytes on the wire of a message in one frame, for the caller to write now.

        Internal API for the I/O layers: what :meth:`send_text` or
        :meth:`send_binary` then :meth:`data_to_send` would return, as one
        bytes object, without going through the list of bytes to send
        (bench/run.py --callgrind, S1 and C1). Sending a message in one frame
        changes nothing else in the protocol. ``None`` when those methods
        must be called instead: the connection isn't OPEN, a fragmented
        message is being sent, bytes wait in :meth:`data_to_send`, frames
        are compressed or logged, or the frame takes two chunks (a large
        payload, not copied behind its header), or the frame is masked and
        its payload :data:`~websockets_typed.frames.MASKED_BY_CALLER` bytes
        or more (see :meth:`frame_head`).
        """
        if (
            self._stage is not _OPEN_STAGE
            or self._send_opcode is not None
            or self._writes
            or self.extensions
            or self._debug
        ):
            return None
        if type(data) is not bytes:
            if self._mask_outgoing and len(data) >= MASKED_BY_CALLER:
                # Left to the caller, which copies it once (see serialize_message).
                return None
            data = bytes(data)
        if self._mask_outgoing or len(data) > 125:
            return serialize_message(0x81 if text else 0x82, data, self._mask_outgoing)
        # A server's small frame: serialize_message() written out, a call
        # less per message (bench/run.py --callgrind, S1).
        return _PACK_SHORT_HEAD(0x81 if text else 0x82, len(data)) + data

    def frame_head(self, text: bool, length: int) -> tuple[bytes, bytes | None] | None:
        """Return the header and masking key of a message in one frame that the caller writes.

        Internal API for the I/O layers, for the payloads that
        :meth:`message_bytes` leaves to them (see
        :data:`~websockets_typed.frames.SLICED_FRAME`): they write the header,
        then the ``length`` bytes of the payload, masked with the key unless
        it is ``None``, with nothing in between. Like :meth:`message_bytes`,
        it changes nothing else in the protocol, and returns ``None`` when
        :meth:`send_text` or :meth:`send_binary` must be called instead.
        """
        # message_bytes()'s test, written out in both rather than a method
        # that message_bytes() would call for every small message, the hot
        # path (bench/run.py --callgrind, S2).
        if (
            self._stage is not _OPEN_STAGE
            or self._send_opcode is not None
            or self._writes
            or self.extensions
            or self._debug
        ):
            return None
        return frame_head(0x81 if text else 0x82, length, self._mask_outgoing)

    def shared_send(self) -> SharedSend:
        """Tell how to send a message in one frame whose bytes on the wire are shared.

        Internal API for :func:`~websockets_typed.asyncio.broadcast`, which
        serializes a message once, unmasked and uncompressed, for every
        connection (bench/run.py, S6). The frame can't be shared when it
        must be masked, compressed or logged, or when it must follow bytes
        not sent yet: then send it with :meth:`send_text` or
        :meth:`send_binary`. One call, cheap enough to make per connection.
        """
        if self._state is not OPEN:
            return _SKIP
        if self._send_opcode is not None:
            return _BUSY
        if (
            self._stage is not _OPEN_STAGE
            or self._mask_outgoing
            or self.extensions
            or self._debug
            or self._writes
        ):
            return _QUEUE
        if self._pongs.paused:
            return _FULL
        return _WRITE

    @staticmethod
    def shared_sends(protocols: Sequence[Protocol]) -> list[SharedSend]:
        """Return what :meth:`shared_send` says for each protocol, in one pass.

        Internal API for :func:`~websockets_typed.asyncio.broadcast`: the
        common answer, :attr:`SharedSend.WRITE`, costs no method call per
        connection (bench/run.py --callgrind, S6).
        """
        return [
            _WRITE
            # The conditions of shared_send()'s last line, all at once.
            if protocol._stage is _OPEN_STAGE
            and protocol._send_opcode is None
            and not protocol._writes
            and not protocol._pongs.paused
            and not (protocol._mask_outgoing or protocol.extensions or protocol._debug)
            else protocol.shared_send()
            for protocol in protocols
        ]

    @property
    def holds_frames(self) -> bool:
        """Whether :attr:`frame_budget` stopped parsing before the end of the bytes received.

        Internal API for the I/O layers: ``receive_data(b"")`` parses what
        waits once the budget allows, without reading more.
        """
        return self.frame_budget == 0 and len(self._buffer) > self._buffer_start

    @property
    def sending_fragments(self) -> bool:
        """Whether a fragmented message is being sent: only continuations may follow.

        Internal API for the I/O layers.
        """
        return self._send_opcode is not None

    def send_close(self, code: int | None = None, reason: str = "") -> None:
        """Send a Close frame, starting the closing handshake.

        Args:
            code: Close code; ``None`` sends a Close frame without payload.
            reason: Close reason; requires a code.

        Raises:
            InvalidState: If the connection is not OPEN.
            ProtocolError: If a fragmented message is being sent, if the code
                may not be sent, if the reason is too long, or if a reason is
                given without a code.
        """
        self._check_may_send(Opcode.CLOSE)
        if self._send_opcode is not None:
            raise ProtocolError("expected a continuation frame")
        if code is None:
            if reason:
                raise ProtocolError("cannot send a reason without a code")
            close = Close(CloseCode.NO_STATUS_RCVD, "")
            data = b""
        else:
            close = Close(code, reason)
            data = close.serialize()
        self._send_close(close, data)

    def send_ping(self, data: BytesLike) -> None:
        """Send a Ping frame.

        Args:
            data: Up to 125 bytes of payload.

        Raises:
            InvalidState: If the connection is neither OPEN nor CLOSING with
                a Close frame still expected from the peer.
            ProtocolError: If the payload is longer than 125 bytes.
        """
        self._send_control(Opcode.PING, data)

    def send_pong(self, data: BytesLike) -> None:
        """Send a Pong frame.

        Args:
            data: Up to 125 bytes of payload.

        Raises:
            InvalidState: If the connection is neither OPEN nor CLOSING with
                a Close frame still expected from the peer.
            ProtocolError: If the payload is longer than 125 bytes.
        """
        self._send_control(Opcode.PONG, data)

    def _send_control(self, opcode: Opcode, data: BytesLike) -> None:
        self._check_may_send(opcode)
        if len(data) > 125:
            raise ProtocolError("control frame too long")
        self._send_frame(Frame(opcode, _as_bytes(data)))

    def pause_pongs(self) -> None:
        """Stop answering Pings at once; :meth:`resume_pongs` answers the latest one.

        Call it when the write buffer is above its high-water mark: a peer
        sending Pings faster than the network carries Pongs then cannot grow
        the buffer without bound. RFC 6455, 5.5.3 allows answering only the
        most recent of several Pings.
        """
        if self._pongs is _UNPAUSED:
            self._pongs = PausedPongs()
        self._pongs.paused = True

    def resume_pongs(self) -> None:
        """Answer Pings again, starting with the latest one received while paused.

        Then call :meth:`data_to_send`.
        """
        self._pongs.paused = False
        self._send_pending_pong()

    def _send_pending_pong(self) -> None:
        data = self._pongs.take()
        if data is None:
            return
        # The Ping arrived before any Close frame; but the Pong can't follow
        # our EOF, and nothing can be sent once the connection is closed.
        if self._stage.may_send(Opcode.PONG):
            self._send_frame(Frame(Opcode.PONG, data))

    def fail(self, code: int, reason: str = "") -> None:
        """Fail the WebSocket connection (RFC 6455, 7.1.7).

        If the connection is OPEN, send a Close frame with ``code`` and
        ``reason``, unless ``code`` is 1006, which means closing without one.
        A server then closes the TCP connection right away; a client waits
        for the server to close it. Data received afterwards is ignored.

        Args:
            code: Close code.
            reason: Close reason; truncated to fit in the frame if needed.

        Raises:
            ProtocolError: If the code may not be sent.
        """
        if code != CloseCode.ABNORMAL_CLOSURE:
            close = Close(code, _truncate_reason(reason))
            close.check()
            # RFC 6455, 7.1.7: "If _The WebSocket Connection is Established_
            # prior to the point where the endpoint is required to _Fail the
            # WebSocket Connection_, the endpoint SHOULD send a Close frame
            # with an appropriate status code".
            if self._stage.may_send(Opcode.CLOSE):
                self._send_close(close, close.serialize())
        # RFC 6455, 7.1.7: "An endpoint MUST NOT continue to attempt to
        # process data (including a responding Close frame) from the remote
        # endpoint after being instructed to _Fail the WebSocket Connection_."
        self._stop_parsing()
        if self.side is SERVER and not self._stage.eof_sent:
            self._send_eof()

    # Shared machinery.

    def _transition(self, transition: Transition) -> None:
        """Move to the next stage; the only place where the stage changes.

        But for the usual closing handshake of a server (see _receive_close),
        which takes three transitions of the same table at once.
        """
        stage = self._stage
        target = _TARGETS[transition].get(stage)
        if target is None:
            where = f"state {stage.state.name} (stage {stage.name})"
            raise InvalidState(f"{transition.value} is not possible in {where}")
        if self._debug:
            new_stage = target[0]
            if new_stage.state is stage.state:
                self.logger.debug("= stage %s -> %s", stage.name, new_stage.name)
            else:
                self.logger.debug("= %s -> %s", stage.state.name, new_stage.state.name)
        # The stage, and copies of the parts of it that the hot paths read.
        self._stage, self._state, self._reading = target

    def _check_may_send(self, opcode: Opcode) -> None:
        """Raise :exc:`InvalidState` unless a frame with ``opcode`` may be sent now."""
        stage = self._stage
        if stage.may_send(opcode):
            return
        if stage.eof_sent and stage.state is not CLOSED:
            raise InvalidState("the end of the stream was sent")
        if opcode is Opcode.PING or opcode is Opcode.PONG:
            raise InvalidState(f"cannot send a control frame: connection is {stage.state.name}")
        raise InvalidState(f"connection is {stage.state.name}")

    def _send_frame(self, frame: Frame) -> None:
        if self._debug:
            self.logger.debug("> %s", frame)
        for extension in self.extensions:
            frame = extension.encode(frame)
        self._writes += serialize_frame(frame, mask=self._mask_outgoing)

    def _send_close(self, close: Close, data: bytes) -> None:
        # A Ping received earlier is answered before the Close frame.
        self._send_pending_pong()
        self._send_frame(Frame(Opcode.CLOSE, data))
        self.close_sent = close
        if self._state is OPEN:
            self._transition(_CLOSING_HANDSHAKE_STARTED)

    def _send_eof(self) -> None:
        """Half-close the TCP connection, once reading stopped."""
        self._transition(_EOF_SENT)
        if self._debug:
            self.logger.debug("> EOF")
        self._writes.append(SEND_EOF)

    # Parsing. Each stage takes what it can from self._buffer.

    def _parse_handshake(self) -> None:
        """Parse the handshake request or response; subclasses implement it.

        Without one, received bytes wait in the buffer.
        """

    def _receive_eof_in_handshake(self) -> None:
        """Handle the end of the stream during the handshake; subclasses implement it."""

    def _log_message(self, direction: str, start_line: str, headers: Headers) -> None:
        """Log a handshake request or response at DEBUG level, without credentials."""
        self.logger.debug("%s %s", direction, start_line)
        for name, value in headers.raw_items():
            self.logger.debug("%s %s: %s", direction, name, redact_header(name, value))

    def _stop_parsing(self) -> None:
        """Ignore data received from now on: the connection failed."""
        if self._reading is not _DISCARD:
            self._transition(_READING_STOPPED)
        self._clear_input()

    def _clear_input(self) -> None:
        """Forget received bytes and the message being received."""
        self._buffer.clear()
        self._buffer_start = 0
        self._large_frame = None
        self.payload_buffer = None
        self._recv_opcode = None
        self._text.reset()

    def _parse_frames(self) -> None:
        """Parse as many frames as the buffer holds, process them, trim the buffer."""
        buffer = self._buffer
        end = self._process_frames(buffer, self._buffer_start)
        if self.frame_budget == 0 and end < len(buffer):
            self._buffer_start = end  # more frames may wait: trim later
        else:
            # Stopping parsing empties the buffer; this is then a no-op.
            del buffer[:end]
            self._buffer_start = 0

    def _process_frames(self, data: bytes | bytearray | memoryview, start: int = 0) -> int:
        """Parse and process the frames at the start of ``data``; return where they end.

        Frames are read at increasing offsets, and the caller removes their
        bytes once: cheaper than trimming the buffer after each frame.
        """
        mask = self._mask_incoming
        max_size = self.max_size
        budget = self.frame_budget
        end = start
        size = len(data)
        # A message in one frame, without extensions nor debug logs, needs
        # none of _receive_frame()'s rules but these: a call less per
        # message (bench/run.py --callgrind, S1 and S2). Its size is
        # checked already: outside a fragmented message, _recv_size is 0,
        # and read_frame() rejected a payload over max_size without RSV1.
        plain = not self.extensions and not self._debug
        events = self._events
        text = self._text
        try:
            while end < size and budget != 0:
                frame, frame_end, payload = read_frame(
                    data, end, mask, None if max_size is None else max_size - self._recv_size
                )
                if frame is None:
                    break  # the header is incomplete
                if frame_end > size:
                    # Only the payload is missing (the masking key may be
                    # missing too).
                    end = self._receive_incomplete(data, end, frame, frame_end, payload)
                    break
                end = frame_end
                opcode = frame.opcode
                if (
                    plain
                    and frame.fin
                    and self._recv_opcode is None
                    and not (frame.rsv1 or frame.rsv2 or frame.rsv3)
                    and (
                        opcode is _OP_BINARY
                        or (opcode is _OP_TEXT and text.pending is None and frame.data.isascii())
                    )
                ):
                    events.append(frame)
                else:
                    self._receive_frame(frame)
                    # A Close frame or a failure stops parsing.
                    if self._reading is not _FRAMES:
                        break
                if budget is not None and opcode < 8:
                    budget -= 1
        except Exception as exc:  # each is mapped to a close code
            self._fail_receiving(exc)
        self.frame_budget = budget
        return end

    def _fail_receiving(self, exc: Exception) -> None:
        """Fail the connection with the close code that ``exc`` calls for."""
        if isinstance(exc, ProtocolError):
            self._fail_parsing(exc, CloseCode.PROTOCOL_ERROR, str(exc))
        elif isinstance(exc, UnicodeDecodeError):
            self._fail_invalid_utf8(exc)
        elif isinstance(exc, TooManyFragments):
            self._fail_parsing(exc, CloseCode.MESSAGE_TOO_BIG, str(exc))
        elif isinstance(exc, PayloadTooBig):
            max_size = self.max_size
            if max_size is not None and exc.max_size != max_size:
                # The frame was checked against what is left of max_size for
                # this message: report the message and the limit instead.
                size = None if exc.size is None else self._recv_size + exc.size
                exc = PayloadTooBig(max_size, size)
            self._fail_parsing(exc, CloseCode.MESSAGE_TOO_BIG, str(exc))
        else:
            # A bug, most likely in an extension: log it, don't hide it.
            self.logger.error("parser failed", exc_info=exc)
            self._fail_parsing(exc, CloseCode.INTERNAL_ERROR, "")

    def _receive_incomplete(
        self,
        data: bytes | bytearray | memoryview,
        start: int,
        header: Frame,
        end: int,
        payload: int,
    ) -> int:
        """Handle a frame whose payload is incomplete; return where parsing stops.

        Its text is validated as far as it goes, so that invalid UTF-8 fails
        the connection as soon as it arrives, even if the rest never comes
        (RFC 6455, 8.1); each byte is validated once. Compressed payloads
        are validated once inflated, frame by frame: this is only done
        without extensions. A large frame takes the bytes it holds, to be
        completed by the next reads (see _receivebuffer).
        """
        if len(data) < payload:
            return start  # the masking key is incomplete too
        key = bytes(data[payload - 4 : payload]) if self._mask_incoming else None
        text = self._text
        validate = not self.extensions
        if end - payload >= LARGE_FRAME:
            # Its pieces are unmasked as they arrive, then validated.
            if validate:
                validate = text.start_frame(header.opcode, self._recv_opcode is not None, None)
            large = self._large_frame = LargeFrame(header, key, end - payload)
            piece = large.add(data, payload)
            self.payload_buffer = large.rest()
            if validate:
                text.feed(piece)
            return len(data)
        # A small frame waits in the buffer, validated as it grows.
        if text.pending is None and not (
            validate and text.start_frame(header.opcode, self._recv_opcode is not None, key)
        ):
            return start
        new = data[payload + text.seen :]  # a copy: a view would pin the buffer
        if new:
            text.feed(new)
        return start

    def _add_to_large_frame(self, data: BytesLike) -> int:
        """Add received bytes to the large frame; return how many it took."""
        large = self._large_frame
        assert large is not None
        try:
            return self._large_frame_grew(large, large.add(data))
        except Exception as exc:  # each is mapped to a close code
            self._fail_receiving(exc)
            return len(data)

    def _large_frame_grew(self, large: LargeFrame, piece: memoryview) -> int:
        """Validate the new piece of the large frame; process the frame if complete.

        Returns:
            The size of the piece.
        """
        if self._text.pending is not None:
            self._text.feed(piece)
        if large.missing:
            self.payload_buffer = large.rest()
        else:
            self._large_frame = self.payload_buffer = None
            # _receive_frame() logs it, once decoded.
            self._receive_frame(large.frame())
        return len(piece)

    def _fail_parsing(self, exc: Exception, code: CloseCode, reason: str) -> None:
        self.parser_exc = exc
        if self.defer_failures and self._stage is _OPEN_STAGE and self._recv_opcode is None:
            # RFC 6455, 7.1.7: stop processing data now; the Close frame
            # waits for fail_deferred(). Not inside a fragmented message:
            # its start was delivered, and its end will never come.
            self.deferred_failure = Close(code, _truncate_reason(reason))
            self._stop_parsing()
            return
        self.fail(code, reason)

    def fail_deferred(self) -> None:
        """Fail the connection as a bad frame called for, if that was deferred.

        Internal API for the I/O layers that set :attr:`defer_failures`: call
        it once the application has handled the messages received before
        the bad frame. Then call :meth:`data_to_send`.
        """
        close = self.deferred_failure
        if close is not None:
            self.deferred_failure = None
            self.fail(close.code, close.reason)

    def _fail_invalid_utf8(self, exc: UnicodeDecodeError) -> None:
        self._fail_parsing(exc, CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")

    def _receive_frame(self, frame: Frame) -> None:
        """Apply the rules about sequences of frames (RFC 6455, 5.4 to 5.6)."""
        opcode = frame.opcode
        if self.extensions:
            budget = None
            if self.max_size is not None and opcode < 8:
                budget = self.max_size - self._recv_size
            for extension in reversed(self.extensions):
                frame = extension.decode(frame, max_size=budget)
        # Logged once decoded, as sent frames are before encoding: the log
        # shows the application's data, not compressed bytes.
        if self._debug:
            self.logger.debug("< %s", frame)
        # RFC 6455, 5.2: reserved bits "MUST be 0 unless an extension is
        # negotiated that defines meanings for non-zero values"; extensions
        # clear the bits they use.
        if frame.rsv1 or frame.rsv2 or frame.rsv3:
            raise ProtocolError("reserved bits must be 0")

        if opcode is _OP_TEXT or opcode is _OP_BINARY:
            # RFC 6455, 5.4: the fragments of one message are not interleaved
            # with another message.
            if self._recv_opcode is not None:
                raise ProtocolError("expected a continuation frame")
            data = frame.data
            if self.max_size is not None and len(data) > self.max_size:
                raise PayloadTooBig(self.max_size, len(data))
            fin = frame.fin
            # Validate text at once (RFC 6455, 8.1). The common case, a
            # message in one ASCII frame, costs one check.
            if opcode is _OP_TEXT and not (fin and self._text.pending is None and data.isascii()):
                self._text.text_frame(data, fin)
            if not fin:
                self._recv_opcode = opcode
                self._recv_size = len(data)
                limit = fragment_limit(self.max_fragments, self.max_size) or sys.maxsize
                self._recv_max_fragments = limit
                self._recv_frames_left = limit - 1

        elif opcode is _OP_CONT:
            if self._recv_opcode is None:
                raise ProtocolError("unexpected continuation frame")
            # One comparison per fragment: the limit was read at the start
            # of the message.
            self._recv_frames_left -= 1
            if self._recv_frames_left < 0:
                raise TooManyFragments(self._recv_max_fragments)
            data = frame.data
            size = self._recv_size + len(data)
            if self.max_size is not None and size > self.max_size:
                raise PayloadTooBig(self.max_size, size)
            # Text is validated fragment by fragment, so that invalid UTF-8
            # fails the connection as soon as the frame holding it arrives.
            self._text.continuation(data, frame.fin)
            if frame.fin:
                self._recv_opcode = None
                self._recv_size = 0
            else:
                self._recv_size = size

        elif opcode is _OP_PING:
            # RFC 6455, 5.5.2: "Upon receipt of a Ping frame, an endpoint
            # MUST send a Pong frame in response, unless it already received
            # a Close frame." Being here means no Close frame was received.
            # While Pongs are paused, only the latest Ping is answered, later.
            if not self._pongs.hold(frame.data):
                self._send_frame(Frame(_OP_PONG, frame.data))

        elif opcode is _OP_CLOSE:
            self._receive_close(frame)

        # Pong frames need no processing here.
        self._events.append(frame)

    def _receive_close(self, frame: Frame) -> None:
        data = frame.data
        if (
            self._stage is _OPEN_STAGE
            and self.side is SERVER
            and not (self.extensions or self._debug or self._pongs.paused)
        ):
            usual = _USUAL_ANSWERS.get(data)
            if usual is not None:
                # The usual closing handshake, as below in one step: the
                # answer echoes the code (RFC 6455, 5.5.1), then the server
                # stops reading and closes the TCP connection first (1.4, 7.1.1).
                close, reply = usual
                self._writes += (reply, SEND_EOF)
                self.close_rcvd = self.close_sent = close
                self.close_rcvd_then_sent = True
                self._stage, self._state, self._reading = _OPEN_CLOSE_ANSWERED
                self._clear_input()
                return
        # RFC 6455, 7.1.5 and 7.1.6: the close code and reason.
        close = Close.parse(data)
        # A Ping received before this Close frame still gets its Pong; one
        # waits only while Pongs are paused.
        if self._pongs.paused:
            self._send_pending_pong()
        self.close_rcvd = close
        if self._state is OPEN:
            # RFC 6455, 5.5.1: "If an endpoint receives a Close frame and did
            # not previously send a Close frame, the endpoint MUST send a
            # Close frame in response", typically echoing the code. Echoing
            # the payload also works for an empty Close frame.
            if self.extensions or self._debug:
                self._send_frame(Frame(_OP_CLOSE, frame.data))
            else:
                # No Frame to build when nothing needs one; a control frame
                # is small enough to take one bytes object.
                answer = serialize_message(0x88, frame.data, self._mask_outgoing)
                assert answer is not None
                self._writes.append(answer)
            self.close_sent = close
            self.close_rcvd_then_sent = True
            self._transition(_CLOSING_HANDSHAKE_STARTED)
        else:
            self.close_rcvd_then_sent = False
        # RFC 6455, 1.4: "after receiving a control frame indicating the
        # connection should be closed, a peer discards any further data
        # received." A fragmented message in progress is abandoned.
        self._transition(_CLOSE_RECEIVED)
        self._clear_input()
        # RFC 6455, 7.1.1: the server closes the TCP connection first; the
        # client waits for it.
        if self.side is SERVER:
            self._send_eof()


def _as_bytes(data: BytesLike) -> bytes:
    """Return ``data`` as ``bytes``, copying only if it is not already."""
    return data if type(data) is bytes else bytes(data)


def _truncate_reason(reason: str) -> str:
    """Shorten ``reason`` so that it fits in a Close frame, on a character boundary."""
    encoded = reason.encode()
    if len(encoded) <= _MAX_REASON_BYTES:
        return reason
    return encoded[: _MAX_REASON_BYTES - 3].decode(errors="ignore") + "..."


# Seed 001's high-level names live in websockets_typed.legacy, which imports
# this module: they are imported on first use, not here, to avoid a cycle.
_LEGACY_NAMES = frozenset({"WebSocketCommonProtocol"})


def __getattr__(name: str) -> object:
    """Import seed 001's WebSocketCommonProtocol on first use."""
    if name in _LEGACY_NAMES:
        from .legacy import protocol as legacy  # noqa: PLC0415

        return getattr(legacy, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

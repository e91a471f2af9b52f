"""The sans-I/O WebSocket connection shared by clients and servers.

A :class:`Protocol` never touches a socket. The caller feeds it the bytes it
reads with :meth:`~Protocol.receive_data` and :meth:`~Protocol.receive_eof`,
collects events with :meth:`~Protocol.events_received`, and writes what
:meth:`~Protocol.data_to_send` returns. Sending is done with the ``send_*()``
methods, which only queue bytes.

Connection states (RFC 6455, sections 4 and 7) change in one place only,
:meth:`Protocol._transition`, following :data:`TRANSITIONS`::

    CONNECTING --opening handshake completed--> OPEN
    OPEN       --closing handshake started----> CLOSING
    CONNECTING --TCP connection closed--------> CLOSED
    OPEN       --TCP connection closed--------> CLOSED
    CLOSING    --TCP connection closed--------> CLOSED

A failed opening handshake leaves the connection CONNECTING until the TCP
connection closes; :attr:`Protocol.handshake_exc` tells why it failed.
"""

from __future__ import annotations

import codecs
import enum
import logging
import sys
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, TypeAlias

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
    OK_CLOSE_CODES,
    Close,
    CloseCode,
    Frame,
    Opcode,
    _read_frame,
    apply_mask,
    serialize_frame,
    serialize_payload,
)
from .http11 import Request, Response
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
    """What moves a connection from one :class:`State` to the next."""

    OPENING_HANDSHAKE_COMPLETED = "opening handshake completed"
    """The server sent, or the client received and validated, a 101 response."""

    CLOSING_HANDSHAKE_STARTED = "closing handshake started"
    """A Close frame was sent or received (RFC 6455, 7.1.2 and 7.1.3)."""

    TCP_CONNECTION_CLOSED = "TCP connection closed"
    """The peer ended the byte stream (RFC 6455, 7.1.4)."""


TRANSITIONS: Final[Mapping[tuple[State, Transition], State]] = {
    (CONNECTING, Transition.OPENING_HANDSHAKE_COMPLETED): OPEN,
    (OPEN, Transition.CLOSING_HANDSHAKE_STARTED): CLOSING,
    (CONNECTING, Transition.TCP_CONNECTION_CLOSED): CLOSED,
    (OPEN, Transition.TCP_CONNECTION_CLOSED): CLOSED,
    (CLOSING, Transition.TCP_CONNECTION_CLOSED): CLOSED,
}
"""Every allowed state change; anything else is a bug and raises :exc:`InvalidState`."""


class _Stage(enum.Enum):
    """What to do with received bytes."""

    HANDSHAKE = "parse the opening handshake"
    WAIT = "keep them until the opening handshake moves on"
    FRAMES = "parse frames"
    DISCARD = "ignore them"


# From this size on, a frame's payload is kept in the chunks that bring it
# until the frame is complete (see Protocol.receive_data).
_LARGE_FRAME: Final = 2**16

SEND_EOF: Final = b""
"""What :meth:`Protocol.data_to_send` returns to ask for a half-close of the TCP connection."""

# A close reason must fit in a control frame with the 2-byte code.
_MAX_REASON_BYTES: Final = 123


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
            fragments cannot keep a message unfinished forever.
        logger: Logger for this connection; defaults to
            ``websockets_typed.server`` or ``websockets_typed.client``.

    Attributes:
        id: Unique identifier of the connection, useful in logs.
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
    """

    # Slots, not a __dict__: a server holds one protocol per connection, and
    # with more than 30 attributes a __dict__ takes 1.5 KiB more (bench/run.py, S5).
    __slots__ = (
        "__weakref__",
        "_buffer",
        "_debug",
        "_eof_rcvd",
        "_eof_sent",
        "_events",
        "_mask_incoming",
        "_mask_outgoing",
        "_partial_key",
        "_partial_size",
        "_partial_utf8",
        "_pending_chunks",
        "_pending_missing",
        "_pending_pong",
        "_pongs_paused",
        "_recv_frames_left",
        "_recv_max_fragments",
        "_recv_opcode",
        "_recv_size",
        "_recv_utf8",
        "_send_opcode",
        "_stage",
        "_state",
        "_writes",
        "close_rcvd",
        "close_rcvd_then_sent",
        "close_sent",
        "extensions",
        "handshake_exc",
        "id",
        "logger",
        "max_fragments",
        "max_size",
        "parser_exc",
        "side",
        "subprotocol",
    )

    id: uuid.UUID
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

    def __init__(
        self,
        side: Side,
        *,
        state: State = CONNECTING,
        max_size: int | None = 2**20,
        max_fragments: int | None = 2**16,
        logger: LoggerLike | None = None,
    ) -> None:
        if max_fragments is not None and max_fragments < 1:
            raise ValueError("max_fragments must be at least 1")
        self.id = uuid.uuid4()
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

        self._state = state
        # Frames from clients are masked, frames from servers are not (RFC
        # 6455, 5.1).
        self._mask_outgoing = side is CLIENT
        self._mask_incoming = side is SERVER

        # Received bytes not parsed yet, and what to do with them.
        self._buffer = bytearray()
        # While a large frame arrives: the bytes received after the buffer,
        # and how many the frame still misses (see receive_data).
        self._pending_chunks: list[bytes] | None = None
        self._pending_missing = 0
        self._stage = _Stage.FRAMES if state is OPEN else _Stage.WAIT
        self._eof_rcvd = False
        self._eof_sent = False
        self._events: list[Event] = []
        self._writes: list[bytes] = []

        # Fragmented message being received: its opcode, its size so far,
        # and the UTF-8 decoder validating it if it is text.
        self._recv_opcode: Opcode | None = None
        self._recv_size = 0
        # The limit on its number of frames, and how many more it may have.
        self._recv_max_fragments = 0
        self._recv_frames_left = 0
        self._recv_utf8: codecs.IncrementalDecoder | None = None
        # Text frame being received, validated before it is complete so that
        # invalid UTF-8 fails at once: a decoder, a copy of the message's, how
        # many payload bytes it has seen, and the frame's masking key. The
        # frame, once complete, takes the decoder over.
        self._partial_utf8: codecs.IncrementalDecoder | None = None
        self._partial_size = 0
        self._partial_key: bytes | None = None
        # Opcode of the fragmented message being sent, if any.
        self._send_opcode: Opcode | None = None
        # While Pongs are paused, the payload of the latest Ping to answer.
        self._pongs_paused = False
        self._pending_pong: bytes | None = None

    # Public state.

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
        exc_type: type[ConnectionClosed]
        if (
            self.close_rcvd is not None
            and self.close_sent is not None
            and self.close_rcvd.code in OK_CLOSE_CODES
            and self.close_sent.code in OK_CLOSE_CODES
        ):
            exc_type = ConnectionClosedOK
        else:
            exc_type = ConnectionClosedError
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
        stage = self._stage
        if stage is _Stage.DISCARD:
            return
        chunks = self._pending_chunks
        if chunks is not None:
            # A large frame arrives in many reads. Appending each to the
            # buffer would copy every byte once more, and again each time
            # the buffer grows: keep them aside and join them all at once
            # when the frame is complete (bench/run.py --callgrind, S3).
            chunk = _as_bytes(data)  # a reference to bytes, a copy of a mutable buffer
            chunks.append(chunk)
            self._pending_missing -= len(chunk)
            if self._pending_missing > 0:
                # The chunk is all payload: validate it if it is text.
                if self._partial_utf8 is not None:
                    try:
                        self._validate_more_text(chunk)
                    except UnicodeDecodeError as exc:
                        self._fail_invalid_utf8(exc)
                return
            data = b"".join([self._buffer, *chunks])
            self._buffer.clear()
            self._pending_chunks = None
        if stage is _Stage.FRAMES and not self._buffer and type(data) is bytes:
            # Nothing pending, the common case: parse frames where they
            # arrived, and keep only the start of an incomplete frame. This
            # saves a copy of every byte (bench/run.py --callgrind, S1).
            end = self._process_frames(data)
            if end < len(data) and self._stage is _Stage.FRAMES:
                self._buffer += memoryview(data)[end:]
            return
        self._buffer += data
        if stage is _Stage.FRAMES:
            self._parse_frames()
        elif stage is _Stage.HANDSHAKE:
            self._parse_handshake()

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
        self._receive_eof()
        if self._state is CONNECTING and self.handshake_exc is None:
            # handshake_exc is None if and only if the handshake succeeded.
            self.handshake_exc = InvalidMessage("connection closed during the opening handshake")
        self._stop_parsing()
        self._transition(Transition.TCP_CONNECTION_CLOSED)
        # Whoever closes second closes right away: there is nothing left to
        # wait for (RFC 6455, 7.1.1).
        if not self._eof_sent:
            self._send_eof()

    def _receive_eof(self) -> None:
        """Handle the end of the stream in the current parsing stage."""
        if self._stage is _Stage.FRAMES:
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
        self._check_open()
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
        self._send_data(Opcode.TEXT, data, fin)

    def send_binary(self, data: BytesLike, fin: bool = True) -> None:
        """Send a Binary frame.

        Args:
            data: Arbitrary binary data.
            fin: ``False`` if this frame starts a fragmented message.

        Raises:
            InvalidState: If the connection is not OPEN.
            ProtocolError: If a fragmented message is being sent.
        """
        self._send_data(Opcode.BINARY, data, fin)

    def _send_data(self, opcode: Opcode, data: BytesLike, fin: bool) -> None:
        # The hot path of sending: every call avoided here shows per message
        # (bench/run.py --callgrind, S2 and C1).
        if self._state is not OPEN or self._eof_sent:
            self._check_open()
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

    def _send_shared(self, opcode: Opcode, data: bytes, wire: list[bytes]) -> bool:
        """Send a message in one frame, whose bytes on the wire may be shared.

        ``wire`` is ``data`` serialized as an unmasked frame without
        extensions: :func:`~websockets_typed.asyncio.broadcast` serializes a
        message once for every connection (bench/run.py, S6). A frame that
        must be masked, compressed or logged is serialized here as usual,
        and so is a frame that must follow bytes not sent yet.

        Returns:
            ``True`` if the caller must write ``wire`` itself, right away:
            nothing was queued. ``False`` if :meth:`data_to_send` has the
            frame.
        """
        if self._mask_outgoing or self.extensions or self._debug or self._writes:
            self._send_data(opcode, data, True)
            return False
        if self._state is not OPEN or self._eof_sent:
            self._check_open()
        if self._send_opcode is not None:
            raise ProtocolError("expected a continuation frame")
        return True

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
        self._check_open()
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
        # RFC 6455 allows Ping and Pong frames after a Close frame was sent,
        # but nothing after one was received (1.4) or after the half-close.
        if self._eof_sent:
            raise InvalidState("the end of the stream was sent")
        if not (self._state is OPEN or (self._state is CLOSING and self.close_rcvd is None)):
            raise InvalidState(f"cannot send a control frame: connection is {self._state.name}")
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
        self._pongs_paused = True

    def resume_pongs(self) -> None:
        """Answer Pings again, starting with the latest one received while paused.

        Then call :meth:`data_to_send`.
        """
        self._pongs_paused = False
        self._send_pending_pong()

    def _send_pending_pong(self) -> None:
        data = self._pending_pong
        if data is None:
            return
        self._pending_pong = None
        # The Ping arrived before any Close frame; but the Pong can't follow
        # our EOF, and nothing can be sent once the connection is closed.
        if not self._eof_sent and (self._state is OPEN or self._state is CLOSING):
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
            if self._state is OPEN and not self._eof_sent:
                self._send_close(close, close.serialize())
        if self.side is SERVER and not self._eof_sent:
            self._send_eof()
        # RFC 6455, 7.1.7: "An endpoint MUST NOT continue to attempt to
        # process data (including a responding Close frame) from the remote
        # endpoint after being instructed to _Fail the WebSocket Connection_."
        self._stop_parsing()

    # Shared machinery.

    def _transition(self, transition: Transition) -> None:
        """Move to the next state; the only place where the state changes."""
        new_state = TRANSITIONS.get((self._state, transition))
        if new_state is None:
            raise InvalidState(f"{transition.value} is not possible in state {self._state.name}")
        if self._debug:
            self.logger.debug("= %s -> %s", self._state.name, new_state.name)
        self._state = new_state

    def _check_open(self) -> None:
        if self._state is not OPEN:
            raise InvalidState(f"connection is {self._state.name}")
        # fail(1006) on a server half-closes an OPEN connection: nothing
        # may follow the end of the stream.
        if self._eof_sent:
            raise InvalidState("the end of the stream was sent")

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
            self._transition(Transition.CLOSING_HANDSHAKE_STARTED)

    def _send_eof(self) -> None:
        if self._eof_sent:
            raise InvalidState("the end of the stream was already sent")
        if self._debug:
            self.logger.debug("> EOF")
        self._eof_sent = True
        self._writes.append(SEND_EOF)

    # Parsing. Each stage takes what it can from self._buffer.

    def _parse_handshake(self) -> None:
        """Parse the handshake request or response; subclasses implement it."""
        raise NotImplementedError

    def _stop_parsing(self) -> None:
        """Ignore data received from now on: the connection is closing."""
        self._stage = _Stage.DISCARD
        self._buffer.clear()
        self._pending_chunks = None
        self._recv_opcode = None

    def _parse_frames(self) -> None:
        """Parse as many frames as the buffer holds, process them, trim the buffer."""
        buffer = self._buffer
        # Stopping parsing empties the buffer; this is then a no-op.
        del buffer[: self._process_frames(buffer)]

    def _process_frames(self, data: bytes | bytearray) -> int:
        """Parse and process the frames at the start of ``data``; return where they end.

        Frames are read at increasing offsets, and the caller removes their
        bytes once: cheaper than trimming the buffer after each frame.
        """
        mask = self._mask_incoming
        max_size = self.max_size
        end = 0
        try:
            while end < len(data):
                parsed = _read_frame(
                    data, end, mask, None if max_size is None else max_size - self._recv_size
                )
                if parsed is None:
                    break
                frame, frame_end = parsed
                if frame is None:
                    # Only the payload is missing. Validate the text it
                    # brings so far; if much is missing, keep the chunks
                    # that bring it aside until it's complete.
                    if not self.extensions:
                        self._validate_partial_text(data, end)
                    missing = frame_end - len(data)
                    if missing >= _LARGE_FRAME:
                        self._pending_chunks = []
                        self._pending_missing = missing
                    break
                end = frame_end
                if self._debug:
                    self.logger.debug("< %s", frame)
                self._receive_frame(frame)
                # A Close frame or a failure stops parsing.
                if self._stage is not _Stage.FRAMES:
                    break
        except ProtocolError as exc:
            self._fail_parsing(exc, CloseCode.PROTOCOL_ERROR, str(exc))
        except UnicodeDecodeError as exc:
            self._fail_invalid_utf8(exc)
        except TooManyFragments as exc:
            self._fail_parsing(exc, CloseCode.MESSAGE_TOO_BIG, str(exc))
        except PayloadTooBig as exc:
            if max_size is not None and exc.max_size != max_size:
                # The frame was checked against what is left of max_size for
                # this message: report the message and the limit instead.
                size = None if exc.size is None else self._recv_size + exc.size
                exc = PayloadTooBig(max_size, size)
            self._fail_parsing(exc, CloseCode.MESSAGE_TOO_BIG, str(exc))
        except Exception as exc:
            # A bug, most likely in an extension: log it, don't hide it.
            self.logger.error("parser failed", exc_info=True)
            self._fail_parsing(exc, CloseCode.INTERNAL_ERROR, "")
        return end

    def _fail_parsing(self, exc: Exception, code: CloseCode, reason: str) -> None:
        self.parser_exc = exc
        self.fail(code, reason)

    def _fail_invalid_utf8(self, exc: UnicodeDecodeError) -> None:
        self._fail_parsing(exc, CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")

    def _validate_partial_text(self, data: bytes | bytearray, start: int) -> None:
        """Validate the part received of an incomplete text frame (RFC 6455, 8.1).

        Invalid UTF-8 then fails the connection as soon as it arrives, even
        if the rest of the frame never comes. The decoder, a copy of the
        message's, goes on with the rest of the frame once it is complete:
        each byte is validated once. Compressed payloads are validated once
        inflated, frame by frame: this runs only when no extension is
        negotiated.

        Args:
            data: Received bytes holding the start of the frame.
            start: Where the frame starts; its header is complete and valid.

        Raises:
            UnicodeDecodeError: If the payload so far cannot be valid UTF-8.
        """
        length = data[start + 1] & 0x7F
        payload = start + (2 if length < 126 else 4 if length == 126 else 10)
        if self._mask_incoming:
            payload += 4
        if self._partial_utf8 is None:
            # The frame is new: wait for its masking key and some payload.
            if len(data) <= payload:
                return
            opcode = data[start] & 0x0F
            if opcode == Opcode.TEXT:
                if self._recv_opcode is not None:
                    return  # a protocol error, reported once the frame is complete
            elif opcode != Opcode.CONT or self._recv_utf8 is None:
                return
            decoder = self._partial_utf8 = _UTF8_DECODER()
            if opcode == Opcode.CONT:
                assert self._recv_utf8 is not None
                decoder.setstate(self._recv_utf8.getstate())
            self._partial_size = 0
            self._partial_key = bytes(data[payload - 4 : payload]) if self._mask_incoming else None
        # A copy: a view would pin the buffer, which must stay resizable.
        new = data[payload + self._partial_size :]
        if new:
            self._validate_more_text(new)

    def _validate_more_text(self, data: BytesLike) -> None:
        """Validate the next payload bytes of an incomplete text frame.

        Raises:
            UnicodeDecodeError: If the payload so far cannot be valid UTF-8.
        """
        decoder = self._partial_utf8
        assert decoder is not None
        key = self._partial_key
        if key is not None:
            shift = self._partial_size % 4
            data = apply_mask(data, key[shift:] + key[:shift])
        _decode_utf8(decoder, data)
        self._partial_size += len(data)

    def _receive_frame(self, frame: Frame) -> None:
        """Apply the rules about sequences of frames (RFC 6455, 5.4 to 5.6)."""
        opcode = frame.opcode
        if self.extensions:
            budget = None
            if self.max_size is not None and opcode < 8:
                budget = self.max_size - self._recv_size
            for extension in reversed(self.extensions):
                frame = extension.decode(frame, max_size=budget)
        # RFC 6455, 5.2: reserved bits "MUST be 0 unless an extension is
        # negotiated that defines meanings for non-zero values"; extensions
        # clear the bits they use.
        if frame.rsv1 or frame.rsv2 or frame.rsv3:
            raise ProtocolError("reserved bits must be 0")

        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            # RFC 6455, 5.4: the fragments of one message are not interleaved
            # with another message.
            if self._recv_opcode is not None:
                raise ProtocolError("expected a continuation frame")
            data = frame.data
            if self.max_size is not None and len(data) > self.max_size:
                raise PayloadTooBig(self.max_size, len(data))
            if frame.fin:
                # The common case, a message in one frame: validate text at
                # once (RFC 6455, 8.1), with a fast path for ASCII.
                if opcode is Opcode.TEXT:
                    partial = self._partial_utf8
                    if partial is not None:
                        # The start of the frame was validated as it arrived.
                        self._partial_utf8 = None
                        partial.decode(memoryview(data)[self._partial_size :], True)
                    elif not data.isascii():
                        data.decode()
            else:
                self._recv_opcode = opcode
                self._recv_size = len(data)
                limit = self._recv_max_fragments = self.max_fragments or sys.maxsize
                self._recv_frames_left = limit - 1
                if opcode is Opcode.TEXT:
                    partial = self._partial_utf8
                    if partial is None:
                        self._recv_utf8 = _UTF8_DECODER()
                        _decode_utf8(self._recv_utf8, data)
                    else:
                        self._partial_utf8 = None
                        self._recv_utf8 = partial
                        _decode_utf8(partial, memoryview(data)[self._partial_size :])

        elif opcode is Opcode.CONT:
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
            utf8 = self._recv_utf8
            if utf8 is not None:
                text: BytesLike = data
                partial = self._partial_utf8
                if partial is not None:
                    # It took over the message's decoder and validated the
                    # start of this frame as it arrived.
                    self._partial_utf8 = None
                    utf8 = self._recv_utf8 = partial
                    text = memoryview(data)[self._partial_size :]
                if frame.fin:
                    utf8.decode(text, True)
                else:
                    _decode_utf8(utf8, text)
            if frame.fin:
                self._recv_opcode = None
                self._recv_size = 0
                self._recv_utf8 = None
            else:
                self._recv_size = size

        elif opcode is Opcode.PING:
            # RFC 6455, 5.5.2: "Upon receipt of a Ping frame, an endpoint
            # MUST send a Pong frame in response, unless it already received
            # a Close frame." Being here means no Close frame was received.
            if self._pongs_paused:
                # 5.5.3: it "MAY elect to send a Pong frame for only the most
                # recently processed Ping frame".
                self._pending_pong = frame.data
            else:
                self._send_frame(Frame(Opcode.PONG, frame.data))

        elif opcode is Opcode.CLOSE:
            self._receive_close(frame)

        # Pong frames need no processing here.
        self._events.append(frame)

    def _receive_close(self, frame: Frame) -> None:
        # RFC 6455, 7.1.5 and 7.1.6: the close code and reason.
        close = Close.parse(frame.data)
        # A Ping received before this Close frame still gets its Pong.
        self._send_pending_pong()
        self.close_rcvd = close
        if self._state is OPEN:
            # RFC 6455, 5.5.1: "If an endpoint receives a Close frame and did
            # not previously send a Close frame, the endpoint MUST send a
            # Close frame in response", typically echoing the code. Echoing
            # the payload also works for an empty Close frame.
            self._send_frame(Frame(Opcode.CLOSE, frame.data))
            self.close_sent = close
            self.close_rcvd_then_sent = True
            self._transition(Transition.CLOSING_HANDSHAKE_STARTED)
        else:
            self.close_rcvd_then_sent = False
        # RFC 6455, 7.1.1: the server closes the TCP connection first; the
        # client waits for it.
        if self.side is SERVER:
            self._send_eof()
        # RFC 6455, 1.4: "after receiving a control frame indicating the
        # connection should be closed, a peer discards any further data
        # received." A fragmented message in progress is abandoned.
        self._stop_parsing()


_UTF8_DECODER: Final = codecs.getincrementaldecoder("utf-8")


def _decode_utf8(decoder: codecs.IncrementalDecoder, data: BytesLike) -> None:
    """Feed a part of a text to ``decoder``, which fails on the first invalid byte.

    Raises:
        UnicodeDecodeError: If the text so far cannot be valid UTF-8.
    """
    decoder.decode(data)
    # CPython's decoder fails on every invalid byte at once, except the
    # second byte of a surrogate, ED A0 to ED BF, which it only rejects with
    # the third. Surrogates are not valid UTF-8 (RFC 3629, 3).
    pending = decoder.getstate()[0]
    if len(pending) > 1 and pending[0] == 0xED and pending[1] > 0x9F:
        position = len(data) - len(pending) + 1
        raise UnicodeDecodeError(
            "utf-8", bytes(data), position, position + 1, "invalid continuation byte"
        )


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

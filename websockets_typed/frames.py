"""WebSocket frames (RFC 6455, section 5): the data model, masking, parsing, serialization.

This module deals with one frame at a time. Rules about sequences of frames
(fragmentation, the closing handshake) live in :mod:`websockets_typed.protocol`.
"""

from __future__ import annotations

import enum
import os
import struct
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Final, TypeAlias, cast

import attrs

from ._validators import type_error, typed
from .exceptions import PayloadTooBig, ProtocolError

if TYPE_CHECKING:
    from .extensions.base import Extension
    from .typing import BytesLike, Data

__all__ = [
    "CLOSE_CODE_EXPLANATIONS",
    "CTRL_OPCODES",
    "DATA_OPCODES",
    "MASKED_BY_CALLER",
    "OK_CLOSE_CODES",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "SLICED_FRAME",
    "SPEEDUPS",
    "Close",
    "CloseCode",
    "Frame",
    "Opcode",
    "apply_mask",
    "encode_data",
    "frame_head",
    "is_valid_close_code",
    "mask_frame",
    "parse_close",
    "parse_frame",
    "py_apply_mask",
    "py_mask_frame",
    "serialize_close",
    "serialize_frame",
    "serialize_payload",
]


class Opcode(enum.IntEnum):
    """Frame opcodes (RFC 6455, section 5.2)."""

    CONT = 0x0
    """A continuation of a fragmented message."""
    TEXT = 0x1
    """A text message, or its first fragment: UTF-8 data."""
    BINARY = 0x2
    """A binary message, or its first fragment."""
    CLOSE = 0x8
    """Starts or answers the closing handshake."""
    PING = 0x9
    """Asks the peer for a Pong with the same payload."""
    PONG = 0xA
    """Answers a Ping, or serves as a one-way heartbeat."""


OP_CONT: Final = Opcode.CONT
"""Alias of :attr:`Opcode.CONT` (legacy API)."""
OP_TEXT: Final = Opcode.TEXT
"""Alias of :attr:`Opcode.TEXT` (legacy API)."""
OP_BINARY: Final = Opcode.BINARY
"""Alias of :attr:`Opcode.BINARY` (legacy API)."""
OP_CLOSE: Final = Opcode.CLOSE
"""Alias of :attr:`Opcode.CLOSE` (legacy API)."""
OP_PING: Final = Opcode.PING
"""Alias of :attr:`Opcode.PING` (legacy API)."""
OP_PONG: Final = Opcode.PONG
"""Alias of :attr:`Opcode.PONG` (legacy API)."""

DATA_OPCODES: Final = frozenset({Opcode.CONT, Opcode.TEXT, Opcode.BINARY})
"""Opcodes of frames that carry (parts of) messages."""

CTRL_OPCODES: Final = frozenset({Opcode.CLOSE, Opcode.PING, Opcode.PONG})
"""Opcodes of control frames: never fragmented, at most 125 bytes of payload."""

# Indexing a table of the 16 possible values is several times faster than
# calling Opcode(value), and doubles as the check that the opcode is defined
# (RFC 6455, 5.2: "If an unknown opcode is received, the receiving endpoint
# MUST _Fail the WebSocket Connection_").
_DEFINED_OPCODES: Final = {opcode.value: opcode for opcode in Opcode}
_OPCODE_TABLE: Final = tuple(_DEFINED_OPCODES.get(value) for value in range(16))


class CloseCode(enum.IntEnum):
    """Close codes registered with IANA (RFC 6455, section 7.4)."""

    NORMAL_CLOSURE = 1000
    """The purpose of the connection is fulfilled."""
    GOING_AWAY = 1001
    """The endpoint goes away: a server shutting down, a browser leaving the page."""
    PROTOCOL_ERROR = 1002
    """The peer broke the protocol."""
    UNSUPPORTED_DATA = 1003
    """The endpoint cannot accept this type of data, e.g. binary."""
    # 1004 is reserved.
    NO_STATUS_RCVD = 1005
    """Stands for a Close frame without a code; never sent on the wire."""
    ABNORMAL_CLOSURE = 1006
    """Stands for a connection lost without a Close frame; never sent on the wire."""
    INVALID_DATA = 1007
    """A message's data does not match its type, e.g. invalid UTF-8 in text."""
    POLICY_VIOLATION = 1008
    """A message violates the endpoint's policy."""
    MESSAGE_TOO_BIG = 1009
    """A message is larger than the endpoint accepts."""
    MANDATORY_EXTENSION = 1010
    """The client needs an extension that the server did not negotiate."""
    INTERNAL_ERROR = 1011
    """An unexpected condition, e.g. an exception in a handler."""
    SERVICE_RESTART = 1012
    """The server is restarting."""
    TRY_AGAIN_LATER = 1013
    """The server is overloaded; the client may reconnect later."""
    BAD_GATEWAY = 1014
    """A gateway or proxy received an invalid response upstream."""
    TLS_HANDSHAKE = 1015
    """Stands for a failed TLS handshake; never sent on the wire."""


CLOSE_CODE_EXPLANATIONS: Final[dict[int, str]] = {
    CloseCode.NORMAL_CLOSURE: "OK",
    CloseCode.GOING_AWAY: "going away",
    CloseCode.PROTOCOL_ERROR: "protocol error",
    CloseCode.UNSUPPORTED_DATA: "unsupported data",
    CloseCode.NO_STATUS_RCVD: "no status received [internal]",
    CloseCode.ABNORMAL_CLOSURE: "abnormal closure [internal]",
    CloseCode.INVALID_DATA: "invalid frame payload data",
    CloseCode.POLICY_VIOLATION: "policy violation",
    CloseCode.MESSAGE_TOO_BIG: "message too big",
    CloseCode.MANDATORY_EXTENSION: "mandatory extension",
    CloseCode.INTERNAL_ERROR: "internal error",
    CloseCode.SERVICE_RESTART: "service restart",
    CloseCode.TRY_AGAIN_LATER: "try again later",
    CloseCode.BAD_GATEWAY: "bad gateway",
    CloseCode.TLS_HANDSHAKE: "TLS handshake failure [internal]",
}
"""A short human-readable explanation of each registered close code."""

# Codes that may appear in a Close frame on the wire (RFC 6455, 7.4.1 and
# 7.4.2, plus 1012-1014, registered with IANA since). 1004 is reserved; 1005,
# 1006 and 1015 only exist inside an implementation; 0-999 and 1016-2999 are
# not defined. 3000-4999 are for libraries, frameworks and applications.
_WIRE_CLOSE_CODES: Final = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
)

OK_CLOSE_CODES: Final = frozenset(
    {CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY, CloseCode.NO_STATUS_RCVD}
)
"""Close codes that mean the connection ended normally."""


def is_valid_close_code(code: int) -> bool:
    """Tell whether ``code`` may be sent in a Close frame (RFC 6455, 7.4)."""
    return code in _WIRE_CLOSE_CODES or 3000 <= code < 5000


# Masking (RFC 6455, 5.3).
#
# XOR with a repeating 4-byte key, without a per-byte Python loop. Small
# payloads go through one big-integer XOR; large ones through four
# bytes.translate() calls over strided slices, one per key byte, which is
# about three times faster from a few hundred bytes on. The C accelerator,
# when built, is 20 to 50 times faster still on large payloads.

_XOR_TABLES: Final = tuple(bytes(value ^ key for value in range(256)) for key in range(256))
_TRANSLATE_THRESHOLD: Final = 512


def py_apply_mask(data: BytesLike, mask: BytesLike) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated, in pure Python.

    This is :func:`apply_mask` without the C accelerator.

    Raises:
        ValueError: If ``mask`` is not 4 bytes long.
    """
    if len(mask) != 4:
        raise ValueError("mask must contain 4 bytes")
    mask = bytes(mask)
    size = len(data)
    if size < _TRANSLATE_THRESHOLD:
        quotient, remainder = divmod(size, 4)
        key = int.from_bytes(mask * quotient + mask[:remainder], "little")
        return (int.from_bytes(data, "little") ^ key).to_bytes(size, "little")
    masked = bytearray(data)
    tables = _XOR_TABLES
    masked[0::4] = masked[0::4].translate(tables[mask[0]])
    masked[1::4] = masked[1::4].translate(tables[mask[1]])
    masked[2::4] = masked[2::4].translate(tables[mask[2]])
    masked[3::4] = masked[3::4].translate(tables[mask[3]])
    return bytes(masked)


def _select_apply_mask() -> Callable[[BytesLike, BytesLike], bytes]:
    """Use the C accelerator unless it is missing or WEBSOCKETS_TYPED_SPEEDUPS=0."""
    if os.environ.get("WEBSOCKETS_TYPED_SPEEDUPS", "1") != "0":
        try:
            from ._speedups import apply_mask as c_apply_mask  # noqa: PLC0415
        except ImportError:  # pragma: no cover - built wherever the tests run
            pass
        else:
            return c_apply_mask
    return py_apply_mask


apply_mask: Final = _select_apply_mask()
"""XOR ``data`` with the 4-byte ``mask`` repeated; masking and unmasking are the same.

The C accelerator when available, else :func:`py_apply_mask`.

Raises:
    ValueError: If ``mask`` is not 4 bytes long.
"""

SPEEDUPS: Final = apply_mask is not py_apply_mask
"""Whether the C accelerator is in use."""


def py_mask_frame(header: BytesLike, data: BytesLike, mask: BytesLike) -> bytes:
    """Return ``header`` followed by ``data`` masked with ``mask``, in pure Python.

    This is :func:`mask_frame` without the C accelerator.

    Raises:
        ValueError: If ``mask`` is not 4 bytes long.
    """
    return bytes(header) + py_apply_mask(data, mask)


def _select_mask_frame() -> Callable[[BytesLike, BytesLike, BytesLike], bytes]:
    """Use the C accelerator if :func:`apply_mask` does."""
    if SPEEDUPS:
        from ._speedups import mask_frame as c_mask_frame  # noqa: PLC0415

        return c_mask_frame
    return py_mask_frame


mask_frame: Final = _select_mask_frame()
"""Return ``header`` followed by ``data`` masked with ``mask``, in one ``bytes`` object.

A masked frame is built in one allocation, header in front, and written at
once: no intermediate masked payload, no concatenation (bench/run.py, C2).
The C accelerator when available, else :func:`py_mask_frame`.

Raises:
    ValueError: If ``mask`` is not 4 bytes long.
"""


# attrs' __init__ for a frozen class calls object.__setattr__ for each field;
# setting the slots through their descriptors builds a Frame a fifth faster
# (bench/run.py --callgrind, S7 builds three per message).
@attrs.frozen(init=False)
class Frame:
    """A WebSocket frame: the fields that matter to the layers above.

    The MASK bit, the payload length and the masking key exist only on the
    wire; parsing and serialization handle them. Building a frame checks
    the types of its fields, so that the argument order of old versions,
    ``Frame(fin, opcode, data)``, fails at once with :exc:`TypeError`.

    Attributes:
        opcode: What the frame carries.
        data: The payload, unmasked. For a Text frame, UTF-8 bytes.
        fin: Whether this is the last frame of a message.
        rsv1: The RSV1 bit; an extension such as permessage-deflate uses it.
        rsv2: The RSV2 bit.
        rsv3: The RSV3 bit.
    """

    opcode: Opcode
    data: bytes
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False

    def __init__(  # noqa: PLR0917 - the signature that attrs generates
        self,
        opcode: Opcode,
        data: bytes,
        fin: bool = True,
        rsv1: bool = False,
        rsv2: bool = False,
        rsv3: bool = False,
    ) -> None:
        # One cheap test of the exact types; the parser doesn't call this.
        # (Identity tests against True and False are the cheapest bool test.)
        if not (
            type(opcode) is Opcode
            and type(data) is bytes
            and (fin is True or fin is False)
            and (rsv1 is False or rsv1 is True)
            and (rsv2 is False or rsv2 is True)
            and (rsv3 is False or rsv3 is True)
        ):
            _check_frame_types(opcode, data, fin, rsv1, rsv2, rsv3)
        _set_opcode(self, opcode)
        _set_data(self, data)
        _set_fin(self, fin)
        _set_rsv1(self, rsv1)
        _set_rsv2(self, rsv2)
        _set_rsv3(self, rsv3)

    def __str__(self) -> str:
        length = f"{len(self.data)} byte{'' if len(self.data) == 1 else 's'}"
        fin = "" if self.fin else ", continued"
        return f"{self.opcode.name} {_describe_payload(self)} [{length}{fin}]"

    def check(self) -> None:
        """Check the rules that apply to a single frame (RFC 6455, 5.2 and 5.5).

        Raises:
            ProtocolError: If a reserved bit is set or if a control frame is
                fragmented or longer than 125 bytes.
        """
        if self.rsv1 or self.rsv2 or self.rsv3:
            raise ProtocolError("reserved bits must be 0")
        if self.opcode in CTRL_OPCODES:
            if len(self.data) > 125:
                raise ProtocolError("control frame too long")
            if not self.fin:
                raise ProtocolError("fragmented control frame")

    def serialize(
        self,
        *,
        mask: bool,
        extensions: Sequence[Extension] | None = None,
    ) -> bytes:
        """Return the frame as bytes on the wire.

        Args:
            mask: Whether to mask the payload; clients must, servers must not.
            extensions: Extensions to apply, in order, before serializing.

        Raises:
            ProtocolError: If the frame breaks a rule that :meth:`check`
                verifies. Extensions may then set reserved bits.
        """
        self.check()
        frame = self
        for extension in extensions or ():
            frame = extension.encode(frame)
        return b"".join(serialize_frame(frame, mask=mask))

    @classmethod
    async def read(
        cls,
        reader: Callable[[int], Awaitable[bytes]],
        *,
        mask: bool,
        max_size: int | None = None,
        extensions: Sequence[Extension] | None = None,
    ) -> Frame:
        """Read one frame from a stream (the legacy API's way of parsing).

        The bytes go through the same parser as :func:`parse_frame`, which
        checks the header before the payload is read: an oversized frame is
        rejected without reading its payload.

        Args:
            reader: A coroutine function that reads exactly as many bytes as
                asked, or fewer at the end of the stream, such as
                :meth:`asyncio.StreamReader.readexactly`.
            mask: Whether frames must be masked, i.e. whether we are a server.
            max_size: Largest payload accepted, in bytes, or ``None``.
            extensions: Extensions whose ``decode()`` transforms the frame,
                applied in reverse order.

        Raises:
            ProtocolError: If the frame breaks a rule of :func:`parse_frame`
                or of :meth:`check` (once the extensions decoded it).
            PayloadTooBig: If the payload is larger than ``max_size``.
            EOFError: If the stream ends before the end of the frame.
        """
        buffer = bytearray()
        needed = 2
        while True:
            missing = needed - len(buffer)
            chunk = await reader(missing)
            if len(chunk) < missing:
                raise EOFError("stream ended in the middle of a frame")
            buffer += chunk
            parsed, end, _ = read_frame(buffer, 0, mask, max_size)
            if parsed is None:
                # The extended payload length (RFC 6455, 5.2) is incomplete:
                # 16 bits for the length code 126, 64 bits for 127.
                needed = 4 if buffer[1] & 0x7F == 126 else 10
            elif end > len(buffer):
                needed = end  # the header is complete; the payload isn't
            else:
                frame = parsed
                break
        for extension in reversed(extensions or ()):
            frame = extension.decode(frame, max_size=max_size)
        frame.check()
        return frame

    def write(
        self,
        writer: Callable[[bytes], object],
        *,
        mask: bool,
        extensions: Sequence[Extension] | None = None,
    ) -> None:
        """Write the frame to a stream (the legacy API's way of serializing).

        Args:
            writer: A function that takes bytes, such as
                :meth:`asyncio.StreamWriter.write`.
            mask: Whether to mask the payload; clients must, servers must not.
            extensions: Extensions whose ``encode()`` transforms the frame,
                applied in order.

        Raises:
            ProtocolError: If the frame breaks a rule that :meth:`check`
                verifies.
        """
        writer(self.serialize(mask=mask, extensions=extensions))

    @property
    def text(self) -> str:
        """The payload decoded as UTF-8.

        Raises:
            UnicodeDecodeError: If the payload is not valid UTF-8.
        """
        return self.data.decode()


# The slots of Frame, set without attrs' frozen __setattr__.
_new_object: Final = object.__new__
_FRAME_FIELDS: Final = ("opcode", "data", "fin", "rsv1", "rsv2", "rsv3")
_set_opcode, _set_data, _set_fin, _set_rsv1, _set_rsv2, _set_rsv3 = (
    getattr(Frame, name).__set__ for name in _FRAME_FIELDS
)


def _check_frame_types(  # noqa: PLR0917 - the arguments of Frame()
    opcode: object, data: object, fin: object, rsv1: object, rsv2: object, rsv3: object
) -> None:
    """Raise :exc:`TypeError` naming the first field of a frame that has the wrong type.

    Subclasses pass: :meth:`Frame.__init__` only tests exact types, fast.
    """
    fields = (
        ("opcode", opcode, Opcode),
        ("data", data, bytes),
        ("fin", fin, bool),
        ("rsv1", rsv1, bool),
        ("rsv2", rsv2, bool),
        ("rsv3", rsv3, bool),
    )
    for name, value, kind in fields:
        if not isinstance(value, kind):
            raise type_error(Frame, name, value, (kind,))


def py_new_frame(  # noqa: PLR0917 - the fields of Frame, in order
    opcode: Opcode, data: bytes, fin: bool, rsv1: bool, rsv2: bool, rsv3: bool
) -> Frame:
    """Build a :class:`Frame` without any check, in pure Python.

    This is :func:`new_frame` without the C accelerator.
    """
    frame: Frame = _new_object(Frame)
    _set_opcode(frame, opcode)
    _set_data(frame, data)
    _set_fin(frame, fin)
    _set_rsv1(frame, rsv1)
    _set_rsv2(frame, rsv2)
    _set_rsv3(frame, rsv3)
    return frame


_FrameConstructor: TypeAlias = Callable[[Opcode, bytes, bool, bool, bool, bool], Frame]


def _select_new_frame() -> _FrameConstructor:
    """Use the C accelerator if :func:`apply_mask` does."""
    if SPEEDUPS:
        from ._speedups import frame_fields  # noqa: PLC0415
        from ._speedups import new_frame as c_new_frame  # noqa: PLC0415

        frame_fields(Frame, tuple(getattr(Frame, name) for name in _FRAME_FIELDS))
        return cast(_FrameConstructor, c_new_frame)
    return py_new_frame


new_frame: Final = _select_new_frame()
"""Build a :class:`Frame` without any check: the parser's fast constructor.

Internal API: only for fields that are known to be valid, e.g. parsed from
a header the parser checked. h11 builds its parsed events the same way;
tests/sansio/test_frame_fast_path.py pins it to the public constructor. The
C accelerator when available (a fifth of the instructions of a round trip
of a small message, bench/run.py --callgrind, S1), else :func:`py_new_frame`.
"""


def _describe_payload(frame: Frame) -> str:
    """Summarize a payload for logs, in at most about 75 characters."""
    data = frame.data
    if frame.opcode is Opcode.TEXT or (frame.opcode is Opcode.CONT and data.isascii()):
        try:
            text = repr(data.decode())
        except UnicodeDecodeError:
            text = data.hex(" ")
    elif frame.opcode is Opcode.CLOSE:
        try:
            text = str(Close.parse(data))
        except (ProtocolError, UnicodeDecodeError):
            text = data.hex(" ")
    else:
        text = data.hex(" ")
    if len(text) > 75:
        text = text[:48] + "..." + text[-24:]
    return text


def parse_frame(
    buffer: bytearray,
    *,
    mask: bool,
    max_size: int | None = None,
) -> Frame | None:
    """Parse one frame from the start of ``buffer`` and remove its bytes.

    Returns ``None`` and leaves ``buffer`` untouched when it does not hold a
    whole frame yet. The header is checked as soon as it is complete, so an
    invalid or oversized frame is rejected before its payload arrives.

    Args:
        buffer: Bytes received and not parsed yet.
        mask: Whether frames must be masked, i.e. whether we are a server.
        max_size: Largest payload accepted, in bytes, or ``None``. A frame
            with RSV1 set carries compressed data, which may exceed the
            size of the data it represents by deflate's worst-case overhead;
            that overhead is allowed, and the caller enforces the limit on
            the decompressed size.

    Raises:
        ProtocolError: If the opcode is unknown, the masking is wrong, the
            length is not a valid 63-bit integer or not encoded on the
            fewest bytes, or a control frame is fragmented or too long.
        PayloadTooBig: If the payload is larger than ``max_size``.
    """
    frame, end, _ = read_frame(buffer, 0, mask, max_size)
    if frame is None or end > len(buffer):
        return None
    del buffer[:end]
    return frame


FrameRead: TypeAlias = "tuple[Frame | None, int, int]"
"""What :func:`read_frame` returns: ``(frame, end, payload)``.

- ``frame``: the frame; ``None`` if its header is incomplete, and then
  ``end`` and ``payload`` are 0.
- ``end``: where the frame ends in the buffer. When it is beyond the end of
  the buffer, the payload is incomplete and ``frame`` carries the header
  only (an empty ``data``): its payload is what the caller waits for.
- ``payload``: where the payload starts, after the masking key, which may
  be incomplete too when ``payload`` is beyond the end of the buffer.
"""

_HEADER_INCOMPLETE: Final[FrameRead] = (None, 0, 0)


def py_read_frame(
    buffer: bytes | bytearray | memoryview, start: int, mask: bool, max_size: int | None
) -> FrameRead:
    """Parse the frame at offset ``start`` of ``buffer``, leaving ``buffer`` as is.

    Internal API, the parser of :class:`~websockets_typed.protocol.Protocol`:
    :func:`parse_frame` without removing the frame's bytes, so that a caller
    parsing several frames in a row trims the buffer once, at the end, or
    parses bytes where they arrived. Each header is decoded once: an
    incomplete frame's header comes back in the result (see
    :data:`FrameRead`). Raises what :func:`parse_frame` raises. This is
    :func:`read_frame` without the C accelerator.
    """
    size = len(buffer)
    available = size - start
    if available < 2:
        return _HEADER_INCOMPLETE
    head1 = buffer[start]
    head2 = buffer[start + 1]

    opcode = _OPCODE_TABLE[head1 & 0x0F]
    if opcode is None:
        raise ProtocolError(f"invalid opcode: {head1 & 0x0F}")
    if (head2 & 0x80 != 0) is not mask:
        raise ProtocolError("incorrect masking")
    fin = head1 & 0x80 != 0

    length = head2 & 0x7F
    if length < 126:
        offset = start + 2
    elif length == 126:
        if available < 4:
            return _HEADER_INCOMPLETE
        length = (buffer[start + 2] << 8) | buffer[start + 3]
        # RFC 6455, 5.2: "the minimal number of bytes MUST be used to encode
        # the length". A frame breaking that MUST isn't a valid frame.
        if length < 126:
            raise ProtocolError(f"payload length {length} not encoded on 7 bits")
        offset = start + 4
    else:
        if available < 10:
            return _HEADER_INCOMPLETE
        (length,) = _UINT64.unpack_from(buffer, start + 2)
        if length >> 63:
            raise ProtocolError("payload length has the most significant bit set")
        if length < 65536:
            raise ProtocolError(f"payload length {length} not encoded on 7 or 16 bits")
        offset = start + 10

    if opcode >= 8:
        # RFC 6455, 5.5: "All control frames MUST have a payload length of
        # 125 bytes or less and MUST NOT be fragmented."
        if length > 125:
            raise ProtocolError("control frame too long")
        if not fin:
            raise ProtocolError("fragmented control frame")
    elif max_size is not None:
        # Deflate adds at most 5 bytes per 16 KiB stored block, and a few
        # bytes per stream: this bound is never reached by valid data.
        limit = max_size + (max_size >> 12) + 64 if head1 & 0x40 else max_size
        if length > limit:
            raise PayloadTooBig(max_size, length)

    if mask:
        offset += 4
    end = offset + length
    if size < end:
        # The header, for the caller waiting for the payload.
        header = new_frame(
            opcode, b"", fin, head1 & 0x40 != 0, head1 & 0x20 != 0, head1 & 0x10 != 0
        )
        return header, end, offset
    if length < 4096:
        payload = buffer[offset:end]
        data = apply_mask(payload, buffer[offset - 4 : offset]) if mask else bytes(payload)
    else:
        # A memoryview avoids copying a large payload into an intermediate slice.
        with memoryview(buffer) as view, view[offset:end] as large:
            data = (
                apply_mask(large, view[offset - 4 : offset].tobytes()) if mask else large.tobytes()
            )

    # The parser's frames need no checks (h11's fast path; bench/run.py
    # --callgrind, S2: Frame(...) is a fifth of the cost of parsing a
    # 64-byte frame).
    frame = new_frame(opcode, data, fin, head1 & 0x40 != 0, head1 & 0x20 != 0, head1 & 0x10 != 0)
    return frame, end, offset


_FrameReader: TypeAlias = Callable[
    [bytes | bytearray | memoryview, int, bool, int | None], FrameRead
]


def _select_read_frame() -> _FrameReader:
    """Use the C accelerator if :func:`apply_mask` does."""
    if SPEEDUPS:
        from ._speedups import frame_parser  # noqa: PLC0415
        from ._speedups import read_frame as c_read_frame  # noqa: PLC0415

        frame_parser(_OPCODE_TABLE, py_read_frame)
        return cast(_FrameReader, c_read_frame)
    return py_read_frame


read_frame: Final = _select_read_frame()
"""Parse the frame at offset ``start`` of ``buffer``: see :func:`py_read_frame`.

The C accelerator when available: a complete frame with a 7- or 16-bit
length in one call, and the rest (incomplete frames, 64-bit lengths,
errors) through :func:`py_read_frame`, so that both behave the same
(tests/sansio/test_frame_fast_path.py). About 5,000 instructions fewer per
small message received (bench/run.py --callgrind, S1).
"""


MessagesRead: TypeAlias = tuple[int, int]
"""What :data:`read_messages` returns: ``(end, count)``."""

_MessagesReader: TypeAlias = Callable[
    [bytes | bytearray | memoryview, int, int, bool, int, int, Callable[[Frame], object]],
    MessagesRead,
]


def _select_read_messages() -> _MessagesReader | None:
    """The C accelerator's read_messages(), if :func:`read_frame` is the C one."""
    if SPEEDUPS:
        from ._speedups import read_messages as c_read_messages  # noqa: PLC0415

        return cast(_MessagesReader, c_read_messages)
    return None


read_messages: Final = _select_read_messages()
"""Pass the whole messages in one frame at the start of ``buffer[start:stop]`` to ``append``.

``read_messages(buffer, start, stop, mask, max_size, budget, append)``
takes complete frames that are a message each and need no other rule than
:func:`read_frame`'s: FIN set, no RSV bit, Binary, or Text whose payload is
ASCII, with a 7- or 16-bit length of at most ``max_size`` (-1: no limit),
at most ``budget`` of them (-1: no limit). It stops at the first other
frame, complete or not, and returns where the frames taken end and how many
they are; :func:`read_frame` parses the rest. ``None`` without the C
accelerator: one call for the frames of a read, where the parser loops in
Python (bench/run.py, S1 and S2).
"""


_UINT64: Final = struct.Struct("!Q")
_HEADER_SHORT: Final = struct.Struct("!BB")
_HEADER_MEDIUM: Final = struct.Struct("!BBH")
_HEADER_LONG: Final = struct.Struct("!BBQ")

# Below this size, the header and the payload are joined into one bytes
# object: one write is cheaper than two. Above it, they stay separate to
# avoid copying the payload.
_JOIN_THRESHOLD: Final = 8192


def serialize_frame(frame: Frame, *, mask: bool) -> list[bytes]:
    """Return the bytes of ``frame`` on the wire, as one or two chunks.

    Large payloads are not copied when unmasked: the header and the payload
    are returned separately, ready for ``transport.writelines()``. A masked
    frame is one chunk: its payload is masked into the same buffer as its
    header. No rule is
    checked here; callers validate frames before serializing them.
    """
    head1 = frame.opcode | (
        (0x80 if frame.fin else 0)
        | (0x40 if frame.rsv1 else 0)
        | (0x20 if frame.rsv2 else 0)
        | (0x10 if frame.rsv3 else 0)
    )
    return serialize_payload(head1, frame.data, mask)


def serialize_payload(head1: int, data: bytes, mask: bool) -> list[bytes]:
    """Return a frame on the wire from its first header byte and its payload.

    The fast path of :func:`serialize_frame`, for callers that know the
    header bits and have no :class:`Frame` to build.
    """
    header, key = frame_head(head1, len(data), mask)
    if key is not None:
        # One chunk, whatever the size: masking copies the payload anyway.
        return [mask_frame(header, data, key)]
    if len(data) < _JOIN_THRESHOLD:
        return [header + data]
    return [header, data]


def serialize_message(head1: int, data: bytes, mask: bool) -> bytes | None:
    """Return a frame on the wire in one bytes object, or ``None`` if it takes two.

    :func:`serialize_payload` for a caller that writes the frame at once:
    no list to build and take apart. ``None`` when that function would
    return the header and the payload separately, i.e. for a large payload
    that isn't masked, and for a masked payload of :data:`MASKED_BY_CALLER`
    bytes or more, which the caller masks where it writes it (see
    :func:`frame_head`).
    Small payloads, the round-trip hot path
    (bench/run.py --callgrind, S1 and C1), are serialized here, without a call.
    """
    length = len(data)
    if not mask:
        if length < 126:
            return _HEADER_SHORT.pack(head1, length) + data
        if length >= _JOIN_THRESHOLD:
            return None
        return _HEADER_MEDIUM.pack(head1, 126, length) + data
    # frame_head() and serialize_payload(), written out: one call, for the
    # key (bench/run.py --callgrind, C1 and C2).
    if length < 126:
        header = _HEADER_SHORT.pack(head1, 0x80 | length)
    elif length < 65536:
        header = _HEADER_MEDIUM.pack(head1, 0xFE, length)
    else:
        # MASKED_BY_CALLER: the same test as the header's size, at no cost.
        return None
    key = _mask_key()
    return mask_frame(header + key, data, key)


MASKED_BY_CALLER: Final = 2**16
"""From this payload size on, :func:`serialize_message` leaves a masked frame to the caller.

The caller masks it where it writes it (see :func:`frame_head`): the
asyncio client into a buffer that the process reuses, rather than into a
new ``bytes`` object as large as the message for every message, whose
allocation and release with the transport's buffer make the heap shrink
and grow again, each page faulted in afresh (bench/run.py, C2 1 MiB).
"""


SLICED_FRAME: Final = 2**22
"""From this payload size on, an I/O layer may write a frame in slices.

Handed to a transport at once, a frame of many megabytes mostly waits in the
transport's buffer: asyncio's copies what the socket doesn't take at once
(before Python 3.12), and a masked frame needs a masked copy of the whole
payload first; each is fresh memory, as large as the message (bench/run.py,
C2 16 MiB). Written slice by slice as the transport drains, with each slice
masked only when it is written, the frame never takes more than a slice and
the write buffer. Below 4 MiB, the copies stay in the CPU's caches and cost
less than the extra writes and wake-ups of slices (bench/run.py --callgrind,
C2 1 MiB). :func:`serialize_message` leaves such payloads to the caller.
"""


def frame_head(head1: int, length: int, mask: bool) -> tuple[bytes, bytes | None]:
    """Return the header of a frame whose payload the caller writes itself, and its masking key.

    The header includes the key when ``mask`` is true; the caller then masks
    the payload with it (RFC 6455, 5.3), e.g. with :func:`mask_frame`, one
    slice at a time: a slice that starts at a multiple of 4 bytes is masked
    with the key as it is. The key is ``None`` when ``mask`` is false.
    """
    mask_bit = 0x80 if mask else 0
    if length < 126:
        header = _HEADER_SHORT.pack(head1, mask_bit | length)
    elif length < 65536:
        header = _HEADER_MEDIUM.pack(head1, mask_bit | 126, length)
    else:
        header = _HEADER_LONG.pack(head1, mask_bit | 127, length)
    if not mask:
        return header, None
    key = _mask_key()
    return header + key, key


# RFC 6455, 5.3: the masking key "MUST be derived from a strong source of
# entropy". Keys come from os.urandom(), read in batches: one system call per
# 1024 frames rather than one per frame.
_KEY_POOL_SIZE: Final = 4096
_key_pool = b""
# At the pool's size, the pool is read again before its next key is taken.
_key_offset = _KEY_POOL_SIZE


def _mask_key() -> bytes:
    """Return 4 random bytes for a masking key."""
    global _key_pool, _key_offset  # noqa: PLW0603  # a per-process pool, reset on fork
    offset = _key_offset
    if offset >= _KEY_POOL_SIZE:
        _key_pool = os.urandom(_KEY_POOL_SIZE)
        offset = 0
    _key_offset = offset + 4
    return _key_pool[offset : offset + 4]


def _reset_key_pool() -> None:
    """Forget the pool in a forked child: two processes must not share keys."""
    global _key_pool, _key_offset
    _key_pool, _key_offset = b"", _KEY_POOL_SIZE


os.register_at_fork(after_in_child=_reset_key_pool)


@attrs.frozen
class Close:
    """The code and reason carried by a Close frame.

    Building one with a field of the wrong type raises :exc:`TypeError`.

    Attributes:
        code: The close code; 1005 stands for a Close frame without payload.
        reason: The close reason; at most 123 bytes once encoded to UTF-8.
    """

    code: int = attrs.field(validator=typed(int))
    reason: str = attrs.field(validator=typed(str))

    def __str__(self) -> str:
        if 3000 <= self.code < 4000:
            explanation = "registered"
        elif 4000 <= self.code < 5000:
            explanation = "private use"
        else:
            explanation = CLOSE_CODE_EXPLANATIONS.get(self.code, "unknown")
        result = f"{self.code} ({explanation})"
        if self.reason:
            result = f"{result} {self.reason}"
        return result

    @classmethod
    def parse(cls, data: bytes) -> Close:
        """Parse the payload of a Close frame.

        An empty payload stands for code 1005 and an empty reason.

        Raises:
            ProtocolError: If the payload is one byte long or the code is not
                allowed on the wire.
            UnicodeDecodeError: If the reason is not valid UTF-8.
        """
        if cls is Close and type(data) is bytes:
            # Close events are immutable: the usual ones are shared.
            usual = _USUAL_CLOSES.get(data)
            if usual is not None:
                return usual
        if len(data) >= 2:
            close = cls(int.from_bytes(data[:2], "big"), data[2:].decode())
            close.check()
            return close
        if not data:
            return cls(CloseCode.NO_STATUS_RCVD, "")
        raise ProtocolError("close frame too short")

    def serialize(self) -> bytes:
        """Return the payload of a Close frame.

        Raises:
            ProtocolError: If the code is not allowed on the wire or the
                reason is longer than 123 bytes once encoded.
        """
        self.check()
        reason = self.reason.encode()
        if len(reason) > 123:
            raise ProtocolError("close reason too long")
        return self.code.to_bytes(2, "big") + reason

    def check(self) -> None:
        """Check that the code may be sent in a Close frame (RFC 6455, 7.4).

        Raises:
            ProtocolError: If the code is reserved, internal or undefined.
        """
        if not is_valid_close_code(self.code):
            raise ProtocolError(f"invalid status code: {self.code}")


# The payloads of the Close frames that most peers send, parsed once: code
# 1000 or 1001 without a reason, or no payload (1005). Parsing each costs a
# fifth of a closing handshake (bench/run.py, S4).
_USUAL_CLOSES: Final = {
    b"": Close(CloseCode.NO_STATUS_RCVD, ""),
    b"\x03\xe8": Close(CloseCode.NORMAL_CLOSURE, ""),
    b"\x03\xe9": Close(CloseCode.GOING_AWAY, ""),
}


def parse_close(data: bytes) -> tuple[int, str]:
    """Parse the payload of a Close frame into ``(code, reason)`` (legacy API)."""
    close = Close.parse(data)
    return close.code, close.reason


def serialize_close(code: int, reason: str) -> bytes:
    """Serialize a Close frame payload from ``code`` and ``reason`` (legacy API)."""
    return Close(code, reason).serialize()


def encode_data(data: Data | bytearray | memoryview) -> bytes:
    """Return ``data`` as bytes: ``str`` is encoded to UTF-8.

    Raises:
        TypeError: If ``data`` is neither text nor bytes-like.
    """
    if isinstance(data, str):
        return data.encode()
    if not isinstance(data, bytes | bytearray | memoryview):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError("data must be str or bytes-like")
    return bytes(data)

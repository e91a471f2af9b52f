"""UTF-8 validation of the text message being received (RFC 6455, 8.1).

"When an endpoint is to interpret a byte stream as UTF-8 but finds that the
byte stream is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail
the WebSocket Connection_." :class:`TextValidator` fails as early as the
first invalid byte arrives: fragment by fragment, and inside a frame whose
payload is still arriving. Each byte is validated once.
"""

from __future__ import annotations

import codecs
from typing import TYPE_CHECKING, Final

from .frames import Opcode, apply_mask

if TYPE_CHECKING:
    from .typing import BytesLike

__all__ = ["TextValidator", "decode_utf8"]

_UTF8_DECODER: Final = codecs.getincrementaldecoder("utf-8")


class TextValidator:
    """Validates the text message being received, as early as its bytes arrive.

    The protocol calls :meth:`text_frame` and :meth:`continuation` for each
    complete data frame, and :meth:`start_frame` then :meth:`feed` while a
    frame's payload arrives. Every method raises :exc:`UnicodeDecodeError`
    on the first invalid byte.

    Attributes:
        pending: The decoder of the incomplete frame being validated, if any;
            the frame, once complete, takes it over. Read on the hot path:
            ``None`` means a complete text frame is validated from scratch.
    """

    __slots__ = ("_key", "_message", "_seen", "pending")

    def __init__(self) -> None:
        # The decoder of a fragmented text message, between its frames.
        self._message: codecs.IncrementalDecoder | None = None
        self.pending: codecs.IncrementalDecoder | None = None
        # How many payload bytes of the incomplete frame were validated, and
        # its masking key, if its bytes arrive masked.
        self._seen = 0
        self._key: bytes | None = None

    def reset(self) -> None:
        """Forget the message and the frame being received."""
        self._message = None
        self.pending = None

    def start_frame(self, opcode: Opcode, in_message: bool, key: bytes | None) -> bool:
        """Start validating an incomplete frame; tell whether it carries text.

        Args:
            opcode: The frame's opcode.
            in_message: Whether a fragmented message is being received.
            key: The frame's masking key, if :meth:`feed` gets masked bytes.
        """
        if opcode is Opcode.TEXT:
            if in_message:
                return False  # a protocol error, reported once the frame is complete
        elif opcode is not Opcode.CONT or self._message is None:
            return False
        decoder = self.pending = _UTF8_DECODER()
        if opcode is Opcode.CONT:
            assert self._message is not None
            decoder.setstate(self._message.getstate())
        self._seen = 0
        self._key = key
        return True

    @property
    def seen(self) -> int:
        """How many payload bytes of the incomplete frame were validated."""
        return self._seen

    def feed(self, data: BytesLike) -> None:
        """Validate the next payload bytes of the incomplete frame."""
        decoder = self.pending
        assert decoder is not None
        key = self._key
        if key is not None:
            shift = self._seen % 4
            data = apply_mask(data, key[shift:] + key[:shift])
        decode_utf8(decoder, data)
        self._seen += len(data)

    def text_frame(self, data: bytes, fin: bool) -> None:
        """Validate a complete Text frame, which starts a message."""
        decoder = self.pending
        rest: BytesLike = data
        if decoder is None:
            if fin:
                # The common case, a message in one frame, with a fast path
                # for ASCII.
                if not data.isascii():
                    data.decode()
                return
            decoder = _UTF8_DECODER()
        else:
            # The start of the frame was validated as it arrived.
            self.pending = None
            rest = memoryview(data)[self._seen :]
        if fin:
            decoder.decode(rest, True)
        else:
            self._message = decoder
            decode_utf8(decoder, rest)

    def continuation(self, data: bytes, fin: bool) -> None:
        """Validate a complete Continuation frame, if its message is text."""
        decoder = self._message
        if decoder is None:
            return
        rest: BytesLike = data
        pending = self.pending
        if pending is not None:
            # It took over the message's decoder and validated the start of
            # this frame as it arrived.
            self.pending = None
            decoder = self._message = pending
            rest = memoryview(data)[self._seen :]
        if fin:
            self._message = None
            decoder.decode(rest, True)
        else:
            decode_utf8(decoder, rest)


def decode_utf8(decoder: codecs.IncrementalDecoder, data: BytesLike) -> None:
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

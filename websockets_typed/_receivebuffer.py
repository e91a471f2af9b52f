"""How received bytes wait until they make a whole frame.

Three cases, from the most common:

- Bytes with no partial frame before them are parsed where they arrived:
  nothing is copied (see :meth:`~websockets_typed.protocol.Protocol.receive_data`).
- The start of a small frame waits in a ``bytearray``; the next read is
  appended, and parsing resumes at the start of that frame. A frame is
  never searched twice for its end: its header says where it ends.
- A large frame (:data:`LARGE_FRAME` bytes of payload or more) is kept as a
  :class:`LargeFrame`: each read brings a piece of its payload, unmasked
  at once and validated if it is text, and the pieces are joined once, when
  the frame is complete. Appending to a buffer instead would copy every
  byte again each time the buffer grows (bench/run.py --callgrind, S3), and
  unmasking the whole payload at the end would unmask again the bytes
  that were unmasked to validate them as they arrived.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .frames import Frame, apply_mask, new_frame

if TYPE_CHECKING:
    from .typing import BytesLike

__all__ = ["LARGE_FRAME", "LargeFrame"]

LARGE_FRAME: Final = 2**16
"""From this payload length on, an incomplete frame becomes a :class:`LargeFrame`."""


class LargeFrame:
    """A large frame whose payload arrives over many reads.

    Args:
        header: The frame's header, from the parser (its ``data`` is empty).
        key: The masking key, if the payload arrives masked.
        length: The length of the payload.

    Attributes:
        missing: How many payload bytes are still to come.
    """

    __slots__ = ("_header", "_key", "_pieces", "_size", "missing")

    def __init__(self, header: Frame, key: bytes | None, length: int) -> None:
        self._header = header
        self._key = key
        self._pieces: list[bytes] = []
        self._size = 0
        self.missing = length

    def add(self, data: BytesLike, start: int = 0) -> bytes:
        """Take the payload bytes at offset ``start`` of ``data``, up to the end of the frame.

        Returns:
            The piece of payload taken, unmasked: ``missing`` tells how much
            is still to come, hence how many bytes of ``data`` were taken.
        """
        size = min(len(data) - start, self.missing)
        whole = start == 0 and size == len(data)
        piece: BytesLike = data if whole else memoryview(data)[start : start + size]
        key = self._key
        if key is not None:
            shift = self._size % 4
            piece = apply_mask(piece, key[shift:] + key[:shift] if shift else key)
        elif type(piece) is not bytes:
            piece = bytes(piece)
        assert type(piece) is bytes
        self._pieces.append(piece)
        self._size += size
        self.missing -= size
        return piece

    def frame(self) -> Frame:
        """Return the complete frame; call it once :attr:`missing` is 0."""
        header = self._header
        return new_frame(
            header.opcode,
            b"".join(self._pieces),
            header.fin,
            header.rsv1,
            header.rsv2,
            header.rsv3,
        )

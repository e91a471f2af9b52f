"""How received bytes wait until they make a whole frame.

Three cases, from the most common:

- Bytes with no partial frame before them are parsed where they arrived:
  nothing is copied (see :meth:`~websockets_typed.protocol.Protocol.receive_data`).
- The start of a small frame waits in a ``bytearray``; the next read is
  appended, and parsing resumes at the start of that frame. A frame is
  never searched twice for its end: its header says where it ends.
- A large frame (:data:`LARGE_FRAME` bytes of payload or more) is kept as a
  :class:`LargeFrame`: its payload buffer is allocated once, at its final
  size, as soon as the header gives the length, and it becomes the frame's
  ``data``. Each read lands in it, is unmasked in place and validated if
  it is text. The asyncio layer has the kernel write there (see
  :attr:`~websockets_typed.protocol.Protocol.payload_buffer`); bytes given
  to :meth:`~websockets_typed.protocol.Protocol.receive_data` are copied
  there once. Before, every piece was copied into a new object, unmasked
  into another and joined into a third: in a process that had already
  served traffic, each of those fresh allocations cost page faults, and the
  speed of large messages varied fivefold from one run to the next
  (bench/run.py, S3, long-lived).

The asyncio layer reads everything else into a read buffer shared by the
connections of a process (:data:`READ_BUFFERS`), which goes back to the pool
as soon as its bytes are parsed: a short read is copied into a ``bytes``
object of its size (:func:`head_bytes`) for ``receive_data()``, since
parsing through a memoryview costs more than copying a few small frames
(bench/run.py --callgrind, S1); a long one, many frames or the start of a
large one, is parsed in place by
:meth:`~websockets_typed.protocol.Protocol.receive_view` (S2, S3). A buffer
per connection would cost its size in memory per idle connection
(bench/run.py, S5).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Final, TypeAlias

from .frames import SPEEDUPS, Frame, new_frame, py_apply_mask

if TYPE_CHECKING:
    from collections.abc import Callable

    from .typing import BytesLike

__all__ = [
    "LARGE_FRAME",
    "READ_BUFFERS",
    "READ_BUFFER_SIZE",
    "LargeFrame",
    "head_bytes",
    "mask_in_place",
    "new_read_buffer",
    "py_head_bytes",
    "py_mask_in_place",
    "py_writable_bytes",
    "writable_bytes",
]

LARGE_FRAME: Final = 2**16
"""From this payload length on, an incomplete frame becomes a :class:`LargeFrame`."""

READ_BUFFER_SIZE: Final = 2**16
"""Size of a shared read buffer: the most bytes a read brings outside a large frame.

A read that brings the header of a large frame copies the start of its
payload from the read buffer into the frame's own: the smaller the read
buffer, the less is copied; 64 KiB still holds a thousand 64-byte frames.
"""


def py_mask_in_place(data: bytearray | memoryview, mask: BytesLike) -> None:
    """XOR the writable buffer ``data`` with the 4-byte ``mask`` repeated, in pure Python.

    This is :func:`mask_in_place` without the C accelerator.

    Raises:
        ValueError: If ``mask`` is not 4 bytes long.
    """
    data[:] = py_apply_mask(data, mask)


def py_head_bytes(data: BytesLike, size: int, /) -> bytes:
    """Return the first ``size`` bytes of ``data`` as ``bytes``, in pure Python.

    This is :func:`head_bytes` without the C accelerator.
    """
    with memoryview(data) as view:
        if not 0 <= size <= len(view):
            raise ValueError("size out of range")
        return view[:size].tobytes()


def py_writable_bytes(size: int) -> tuple[bytearray, memoryview]:
    """Return a buffer of ``size`` bytes and a writable view of it, in pure Python.

    This is :func:`writable_bytes` without the C accelerator: a ``bytearray``,
    which :meth:`LargeFrame.frame` copies into a ``bytes`` object at the end.
    """
    buffer = bytearray(size)
    return buffer, memoryview(buffer)


HeadBytes: TypeAlias = "Callable[[BytesLike, int], bytes]"
MaskInPlace: TypeAlias = "Callable[[bytearray | memoryview, BytesLike], None]"
WritableBytes: TypeAlias = "Callable[[int], tuple[bytes | bytearray, memoryview]]"


def _select() -> tuple[HeadBytes, MaskInPlace, WritableBytes]:
    """Use the C accelerator if :func:`~websockets_typed.frames.apply_mask` does."""
    if SPEEDUPS:
        from ._speedups import head_bytes, mask_in_place, writable_bytes  # noqa: PLC0415

        return head_bytes, mask_in_place, writable_bytes
    return py_head_bytes, py_mask_in_place, py_writable_bytes


# The C accelerator's versions when available, else the pure-Python ones.
head_bytes, mask_in_place, writable_bytes = _select()


class LargeFrame:
    """A large frame whose payload arrives over many reads, into its final buffer.

    Args:
        header: The frame's header, from the parser (its ``data`` is empty).
        key: The masking key, if the payload arrives masked.
        length: The length of the payload, already checked against
            ``max_size``: this allocates it.

    Attributes:
        missing: How many payload bytes are still to come.
    """

    __slots__ = ("_data", "_header", "_key", "_size", "_view", "missing")

    def __init__(self, header: Frame, key: bytes | None, length: int) -> None:
        self._header = header
        self._key = key
        # With the C accelerator, the bytes object that becomes the frame's
        # data, written through the view until the frame is complete.
        self._data, self._view = writable_bytes(length)
        self._size = 0
        self.missing = length

    def rest(self) -> memoryview:
        """Return a writable view of the payload still to come, for the next read."""
        return self._view[self._size :]

    def add(self, data: BytesLike, start: int = 0) -> memoryview:
        """Take the payload bytes at offset ``start`` of ``data``, up to the end of the frame.

        Returns:
            The piece of payload taken, unmasked: ``missing`` tells how much
            is still to come, hence how many bytes of ``data`` were taken.
        """
        size = min(len(data) - start, self.missing)
        offset = self._size
        with memoryview(data) as view:
            self._view[offset : offset + size] = view[start : start + size]
        return self.received(size)

    def received(self, size: int) -> memoryview:
        """Account for ``size`` bytes written at the start of :meth:`rest`; return them unmasked."""
        offset = self._size
        piece = self._view[offset : offset + size]
        key = self._key
        if key is not None:
            shift = offset % 4
            mask_in_place(piece, key[shift:] + key[:shift] if shift else key)
        self._size = offset + size
        self.missing -= size
        return piece

    def frame(self) -> Frame:
        """Return the complete frame; call it once :attr:`missing` is 0."""
        header = self._header
        data = self._data
        return new_frame(
            header.opcode,
            data if type(data) is bytes else bytes(data),
            header.fin,
            header.rsv1,
            header.rsv2,
            header.rsv3,
        )


READ_BUFFERS: Final[deque[memoryview]] = deque()
"""Read buffers not lent at the moment, as views of :data:`READ_BUFFER_SIZE` bytes.

The asyncio layer takes one with ``READ_BUFFERS.pop()`` (or
:func:`new_read_buffer` if there is none) for a read, and gives it back with
``append()`` once its bytes are parsed or copied out. Both are atomic operations:
event loops in several threads may share the pool. A buffer lent and never
given back (the read failed) is garbage collected; the pool holds as many
as were ever lent at once. Inline operations rather than functions, and a
deque rather than a list, which would reallocate its array each time it
goes from one item to none and back: this is on the path of every read
(bench/run.py --callgrind, S1).
"""


def new_read_buffer() -> memoryview:
    """Return a view of a new read buffer of :data:`READ_BUFFER_SIZE` bytes."""
    return memoryview(bytearray(READ_BUFFER_SIZE))

"""The parser's fast constructor of frames, pinned to the public one, and its one result type."""

from __future__ import annotations

import gc
import itertools
import weakref
from collections.abc import Callable

import attrs
import pytest

from websockets_typed.frames import (
    SPEEDUPS,
    Frame,
    Opcode,
    new_frame,
    py_new_frame,
    py_read_frame,
    read_frame,
    read_messages,
    serialize_frame,
)

FrameConstructor = Callable[[Opcode, bytes, bool, bool, bool, bool], Frame]

# The C accelerator's constructor, when in use, and the pure-Python one.
CONSTRUCTORS = [new_frame, py_new_frame] if SPEEDUPS else [py_new_frame]


@pytest.mark.parametrize("construct", CONSTRUCTORS)
@pytest.mark.parametrize(
    ("opcode", "fin", "rsv1", "rsv2", "rsv3"),
    list(itertools.product(Opcode, [True, False], [True, False], [True, False], [True, False])),
)
def test_new_frame_builds_the_same_frame_as_the_public_constructor(  # noqa: PLR0917 - parametrized
    construct: FrameConstructor, opcode: Opcode, fin: bool, rsv1: bool, rsv2: bool, rsv3: bool
) -> None:
    fast = construct(opcode, b"payload", fin, rsv1, rsv2, rsv3)
    public = Frame(opcode, b"payload", fin, rsv1, rsv2, rsv3)
    assert type(fast) is Frame
    assert fast == public
    assert hash(fast) == hash(public)
    assert attrs.asdict(fast, recurse=False) == attrs.asdict(public, recurse=False)
    assert repr(fast) == repr(public)


@pytest.mark.parametrize("construct", CONSTRUCTORS)
def test_new_frame_sets_every_field_of_frame_in_order(construct: FrameConstructor) -> None:
    # If a field is added to Frame, the fast constructor must set it too.
    names = [field.name for field in attrs.fields(Frame)]
    assert names == ["opcode", "data", "fin", "rsv1", "rsv2", "rsv3"]
    frame = construct(Opcode.BINARY, b"x", False, True, False, True)
    assert [getattr(frame, name) for name in names] == [
        Opcode.BINARY,
        b"x",
        False,
        True,
        False,
        True,
    ]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        frame.data = b"y"  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue]


@pytest.mark.parametrize("construct", CONSTRUCTORS)
def test_new_frame_is_an_ordinary_object(construct: FrameConstructor) -> None:
    # Weak references and the garbage collector see it as any Frame.
    data = bytes(range(10))
    frame = construct(Opcode.BINARY, data, True, False, False, False)
    reference = weakref.ref(frame)
    assert gc.is_tracked(frame)
    assert data in gc.get_referents(frame)
    del frame
    assert reference() is None


@pytest.mark.skipif(not SPEEDUPS, reason="the C accelerator is disabled")
def test_c_new_frame_checks_its_set_up() -> None:
    from websockets_typed import _speedups

    slots = tuple(getattr(Frame, field.name) for field in attrs.fields(Frame))
    with pytest.raises(TypeError, match="takes 2 arguments"):
        _speedups.frame_fields(Frame)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    with pytest.raises(TypeError, match="must be a class"):
        _speedups.frame_fields(object(), slots)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError, match="tuple of 6"):
        _speedups.frame_fields(Frame, slots[:5])
    with pytest.raises(TypeError, match="member descriptors of cls"):
        _speedups.frame_fields(Frame, (*slots[:5], Frame.__init__))
    with pytest.raises(TypeError, match="member descriptors of cls"):
        _speedups.frame_fields(Opcode, slots)
    with pytest.raises(TypeError, match="takes 6 arguments"):
        _speedups.new_frame(Opcode.TEXT, b"")  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    # The checks failed before changing anything.
    assert new_frame(Opcode.TEXT, b"x", True, False, False, False) == Frame(Opcode.TEXT, b"x")


def test_read_frame_returns_one_shape() -> None:
    wire = b"".join(serialize_frame(Frame(Opcode.TEXT, b"hello", fin=False), mask=True))
    # The header is incomplete: nothing is known yet.
    assert read_frame(wire[:1], 0, True, None) == (None, 0, 0)
    # The payload is incomplete: the header comes back, with where the
    # frame ends and where its payload starts.
    header, end, payload = read_frame(wire[:8], 0, True, None)
    assert header == Frame(Opcode.TEXT, b"", fin=False)
    assert (end, payload) == (len(wire), 6)
    # Complete, at an offset.
    frame, end, payload = read_frame(b"xx" + wire, 2, True, None)
    assert frame == Frame(Opcode.TEXT, b"hello", fin=False)
    assert (end, payload) == (2 + len(wire), 8)


def _outcome(
    reader: Callable[[bytes | bytearray | memoryview, int, bool, int | None], object],
    buffer: bytes | bytearray | memoryview,
    start: int,
    mask: bool,
    max_size: int | None,
) -> object:
    """What a frame reader returns, or the type and message of what it raises."""
    try:
        return reader(buffer, start, mask, max_size)
    except Exception as exc:  # compared, not handled
        return (type(exc), str(exc))


def _headers() -> list[bytes]:
    """First bytes of frames: every opcode and flag, every kind of length, masked or not."""
    lengths = [
        bytes([0]),
        bytes([5]),
        bytes([125]),
        bytes([126, 0, 125]),  # 16 bits where 7 would do
        bytes([126, 0, 126]),
        bytes([126, 0x10, 0]),  # 4096
        bytes([127]) + (70000).to_bytes(8, "big"),
        bytes([127]) + (100).to_bytes(8, "big"),  # 64 bits where 7 would do
        bytes([127, 0x80]) + bytes(7),  # the most significant bit set
    ]
    return [
        bytes([head1, length[0] | masked]) + length[1:]
        for head1 in range(256)
        for length in lengths
        for masked in (0, 0x80)
    ]


def _length_and_key(header: bytes) -> tuple[int, bytes]:
    """The payload length that one of :func:`_headers` announces, and a masking key if masked."""
    length = header[1] & 0x7F
    if length == 126:
        length = int.from_bytes(header[2:4], "big")
    elif length == 127:
        length = int.from_bytes(header[2:10], "big") & (2**63 - 1)
    return length, b"\x01\x02\x03\x04" if header[1] & 0x80 else b""


@pytest.mark.skipif(not SPEEDUPS, reason="the C accelerator is not in use")
@pytest.mark.parametrize("max_size", [None, 0, 5, 200, 2**20])
def test_c_read_frame_behaves_as_the_python_one(max_size: int | None) -> None:
    checked = 0
    for header in _headers():
        length, key = _length_and_key(header)
        payload = bytes(range(256)) * (min(length, 70000) // 256 + 1)
        frame = header + key + payload[: min(length, 70000)]
        # Whole, cut anywhere in its header or its payload, after other bytes.
        cuts = sorted({0, 1, 2, len(header), len(header) + len(key), len(frame) - 1, len(frame)})
        for cut in cuts:
            for prefix in (b"", b"\x81\x00"):
                for kind in (bytes, bytearray, memoryview):
                    buffer = kind(prefix + frame[:cut])
                    for mask in (True, False):
                        assert _outcome(read_frame, buffer, len(prefix), mask, max_size) == (
                            _outcome(py_read_frame, buffer, len(prefix), mask, max_size)
                        ), (header, cut, prefix, kind, mask)
                        checked += 1
    assert checked > 100_000


@pytest.mark.skipif(not SPEEDUPS, reason="the C accelerator is not in use")
def test_c_read_frame_hands_unusual_arguments_to_the_python_one() -> None:
    wire = b"".join(serialize_frame(Frame(Opcode.TEXT, b"hello"), mask=True))
    cases: list[tuple[int, object, object]] = [
        (-1, True, None),  # a start counted from the end
        (len(wire) + 5, True, None),  # beyond the end
        (0, 1, None),  # a mask that isn't a bool
        (0, True, -3),  # nothing left of max_size
        (0, True, 2**70),  # a limit beyond any size
    ]
    for start, mask, max_size in cases:
        assert _outcome(read_frame, wire, start, mask, max_size) == _outcome(  # type: ignore[arg-type]
            py_read_frame,
            wire,
            start,
            mask,  # type: ignore[arg-type]
            max_size,  # type: ignore[arg-type]
        ), (start, mask, max_size)


# read_messages(): whole messages of a read in one call, or none.


def _plain(frame: Frame) -> bool:
    """Whether a frame is a message in one frame that needs no rule but the parser's."""
    return (
        frame.fin
        and not (frame.rsv1 or frame.rsv2 or frame.rsv3)
        and (
            frame.opcode is Opcode.BINARY or (frame.opcode is Opcode.TEXT and frame.data.isascii())
        )
    )


@pytest.mark.skipif(read_messages is None, reason="the C accelerator is not in use")
@pytest.mark.parametrize("max_size", [None, 0, 5, 200, 2**20])
def test_read_messages_takes_what_read_frame_reads_as_a_plain_message(
    max_size: int | None,
) -> None:
    assert read_messages is not None
    taken = checked = 0
    for header in _headers():
        length, key = _length_and_key(header)
        size = min(length, 70000)
        # ASCII once unmasked, or not.
        for payload in (b"a" * size, (bytes(range(256)) * (size // 256 + 1))[:size]):
            frame = header + key + payload
            for cut in sorted(
                {0, 1, len(header), len(header) + len(key), len(frame) - 1, len(frame)}
            ):
                for mask in (True, False):
                    buffer = frame[:cut] if cut < len(frame) else frame
                    expected = _outcome(py_read_frame, buffer, 0, mask, max_size)
                    appended: list[Frame] = []
                    result = read_messages(
                        buffer,
                        0,
                        len(buffer),
                        mask,
                        -1 if max_size is None else max_size,
                        -1,
                        appended.append,
                    )
                    parsed = (
                        py_read_frame(buffer, 0, mask, max_size)
                        if (isinstance(expected, tuple) and isinstance(expected[0], Frame))
                        else None
                    )
                    whole = (
                        parsed is not None
                        and parsed[0] is not None
                        and parsed[1] == len(buffer)
                        and _plain(parsed[0])
                    )
                    # A 64-bit length is left to read_frame(), as an error would be.
                    if whole and (header[1] & 0x7F) != 127:
                        assert parsed is not None
                        assert result == (len(buffer), 1), (header, cut, mask)
                        assert appended == [parsed[0]]
                        assert type(appended[0]) is Frame
                        taken += 1
                    else:
                        assert result == (0, 0), (header, cut, mask)
                        assert appended == []
                    checked += 1
    assert taken >= 8  # empty payloads, within any max_size
    assert checked > 50_000


def _message_wire(opcode: Opcode, data: bytes, *, fin: bool = True) -> bytes:
    return b"".join(serialize_frame(Frame(opcode, data, fin=fin), mask=True))


@pytest.mark.skipif(read_messages is None, reason="the C accelerator is not in use")
def test_read_messages_stops_at_the_first_frame_it_does_not_take() -> None:
    assert read_messages is not None
    first = _message_wire(Opcode.TEXT, b"one")
    second = _message_wire(Opcode.BINARY, b"\xfftwo" * 40)  # a 16-bit length
    stops = [
        _message_wire(Opcode.PING, b""),
        _message_wire(Opcode.TEXT, b"frag", fin=False),
        _message_wire(Opcode.CONT, b"ment"),
        _message_wire(Opcode.TEXT, "café".encode()),
        b"".join(serialize_frame(Frame(Opcode.BINARY, b"x", rsv1=True), mask=True)),
        b"".join(serialize_frame(Frame(Opcode.BINARY, b"x"), mask=False)),  # not masked
        _message_wire(Opcode.BINARY, b"x" * 70000),  # a 64-bit length
        _message_wire(Opcode.BINARY, b"x" * 300)[:-1],  # incomplete, at the end
    ]
    for stop in stops:
        appended: list[Frame] = []
        buffer = first + second + stop + (first if stop is not stops[-1] else b"")
        assert read_messages(buffer, 0, len(buffer), True, -1, -1, appended.append) == (
            len(first) + len(second),
            2,
        ), stop
        assert appended == [Frame(Opcode.TEXT, b"one"), Frame(Opcode.BINARY, b"\xfftwo" * 40)]


@pytest.mark.skipif(read_messages is None, reason="the C accelerator is not in use")
def test_read_messages_keeps_to_its_window_budget_and_max_size() -> None:
    assert read_messages is not None
    one = _message_wire(Opcode.BINARY, b"12345")
    buffer = b"junk" + one * 3 + b"more"
    appended: list[Frame] = []
    # From start to stop only.
    assert read_messages(buffer, 4, 4 + 3 * len(one), True, -1, -1, appended.append) == (
        4 + 3 * len(one),
        3,
    )
    # At most budget frames.
    assert read_messages(buffer, 4, len(buffer), True, -1, 2, appended.append) == (
        4 + 2 * len(one),
        2,
    )
    assert read_messages(buffer, 4, len(buffer), True, -1, 0, appended.append) == (4, 0)
    # Payloads of at most max_size bytes.
    assert read_messages(buffer, 4, len(buffer), True, 4, -1, appended.append) == (4, 0)
    assert read_messages(buffer, 4, 4 + len(one), True, 5, -1, appended.append) == (
        4 + len(one),
        1,
    )
    assert len(appended) == 6
    for kind in (bytearray, memoryview):
        assert read_messages(kind(one), 0, len(one), True, -1, -1, appended.append) == (len(one), 1)


@pytest.mark.skipif(read_messages is None, reason="the C accelerator is not in use")
def test_read_messages_rejects_a_window_outside_the_buffer_and_passes_on_errors() -> None:
    assert read_messages is not None
    one = _message_wire(Opcode.BINARY, b"12345")
    for start, stop in [(-1, len(one)), (0, len(one) + 1), (3, 2)]:
        with pytest.raises(ValueError, match="within the buffer"):
            read_messages(one, start, stop, True, -1, -1, list[Frame]().append)

    def full(frame: Frame) -> None:
        raise OverflowError("full")

    with pytest.raises(OverflowError, match="full"):
        read_messages(one * 2, 0, 2 * len(one), True, -1, -1, full)

"""The parser's fast constructor of frames, pinned to the public one, and its one result type."""

from __future__ import annotations

import itertools

import attrs
import pytest

from websockets_typed.frames import Frame, Opcode, new_frame, read_frame, serialize_frame


@pytest.mark.parametrize(
    ("opcode", "fin", "rsv1", "rsv2", "rsv3"),
    list(itertools.product(Opcode, [True, False], [True, False], [True, False], [True, False])),
)
def test_new_frame_builds_the_same_frame_as_the_public_constructor(
    opcode: Opcode, fin: bool, rsv1: bool, rsv2: bool, rsv3: bool
) -> None:
    fast = new_frame(opcode, b"payload", fin, rsv1, rsv2, rsv3)
    public = Frame(opcode, b"payload", fin, rsv1, rsv2, rsv3)
    assert type(fast) is Frame
    assert fast == public
    assert hash(fast) == hash(public)
    assert attrs.asdict(fast, recurse=False) == attrs.asdict(public, recurse=False)
    assert repr(fast) == repr(public)


def test_new_frame_sets_every_field_of_frame_in_order() -> None:
    # If a field is added to Frame, the fast constructor must set it too.
    names = [field.name for field in attrs.fields(Frame)]
    assert names == ["opcode", "data", "fin", "rsv1", "rsv2", "rsv3"]
    frame = new_frame(Opcode.BINARY, b"x", False, True, False, True)
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

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
    read_frame,
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

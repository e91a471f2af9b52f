"""The fast constructor of the handshake's messages: in C and in Python, it agrees.

Both build a :class:`Request` or a :class:`Response` without ``__init__``
(bench/run.py --callgrind, S4); both must build what the public
constructors build, and refuse the same misuse.
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from websockets_typed.datastructures import Headers
from websockets_typed.frames import SPEEDUPS, Frame
from websockets_typed.http11 import (
    _REQUEST_SLOTS,  # pyright: ignore[reportPrivateUsage]
    _RESPONSE_SLOTS,  # pyright: ignore[reportPrivateUsage]
    Request,
    Response,
    checked_response,
    new_instance,
    py_new_instance,
)

# The C accelerator's constructor, when in use, and the pure-Python one.
CONSTRUCTORS = [new_instance, py_new_instance] if SPEEDUPS else [py_new_instance]

TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)
HEADERS = st.lists(st.tuples(st.sampled_from(["Host", "X-A", "x-a"]), TEXT), max_size=4).map(
    Headers
)
BODIES = st.none() | st.binary(max_size=20)


def same(fast: object, public: object) -> None:
    """Assert that two messages are equal and look alike."""
    assert type(fast) is type(public)
    assert fast == public
    assert attrs.asdict(fast, recurse=False) == attrs.asdict(public, recurse=False)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    assert repr(fast) == repr(public)


@given(path=TEXT, headers=HEADERS, method=st.sampled_from(["GET", "HEAD", "POST"]))
def test_request_is_what_the_public_constructor_builds(
    path: str, headers: Headers, method: Any
) -> None:
    for construct in CONSTRUCTORS:
        fast = construct(Request, _REQUEST_SLOTS, path, headers, method)
        same(fast, Request(path, headers, method))
        assert fast.headers is headers


@given(code=st.integers(100, 599), phrase=TEXT, headers=HEADERS, body=BODIES)
def test_response_is_what_the_public_constructor_builds(
    code: int, phrase: str, headers: Headers, body: bytes | None
) -> None:
    for construct in CONSTRUCTORS:
        fast = construct(Response, _RESPONSE_SLOTS, code, phrase, headers, body)
        same(fast, Response(code, phrase, headers, body))
        assert fast.serialize() == Response(code, phrase, headers, body).serialize()


def test_slots_are_every_field_in_order() -> None:
    # If a field is added to Request or Response, the fast constructor sets it too.
    for cls, slots in [(Request, _REQUEST_SLOTS), (Response, _RESPONSE_SLOTS)]:
        assert [slot.__name__ for slot in slots] == [field.name for field in attrs.fields(cls)]
    headers = Headers()
    assert checked_response(101, "Switching Protocols", headers) == Response(
        101, "Switching Protocols", headers
    )


@pytest.mark.parametrize("construct", CONSTRUCTORS)
def test_instance_is_an_ordinary_object(construct: Any) -> None:
    # Frozen, weakly referenceable, seen by the garbage collector, freed.
    headers = Headers()
    request = construct(Request, _REQUEST_SLOTS, "/", headers, "GET")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        request.path = "/other"
    reference = weakref.ref(request)
    assert gc.is_tracked(request)
    assert headers in gc.get_referents(request)
    del request
    assert reference() is None


@pytest.mark.parametrize("construct", CONSTRUCTORS)
def test_a_slot_given_twice_keeps_the_last_value(construct: Any) -> None:
    path = Request.__dict__["path"]
    request = construct(Request, (path, path), "/first", "/second")
    assert request.path == "/second"


@pytest.mark.parametrize("construct", CONSTRUCTORS)
def test_misuse_is_refused(construct: Any) -> None:
    headers = Headers()
    with pytest.raises(TypeError, match="as many member descriptors as values"):
        construct(Request, _REQUEST_SLOTS, "/", headers)
    with pytest.raises(TypeError, match="as many member descriptors as values"):
        construct(Request, list(_REQUEST_SLOTS), "/", headers, "GET")
    with pytest.raises(TypeError, match="member descriptors of cls"):
        construct(Request, (Request.__init__,), "/")
    with pytest.raises(TypeError, match="member descriptors of cls"):
        construct(Frame, _REQUEST_SLOTS, "/", headers, "GET")


@pytest.mark.skipif(not SPEEDUPS, reason="the C accelerator is disabled")
def test_c_new_instance_checks_its_arguments() -> None:
    from websockets_typed import _speedups

    with pytest.raises(TypeError, match="at least 2 arguments"):
        _speedups.new_instance(Request)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    with pytest.raises(TypeError, match="must be a class"):
        _speedups.new_instance(object(), ())  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    # A read-only member of a built-in type.
    with pytest.raises(TypeError, match="writable object slots"):
        _speedups.new_instance(type, (type.__dict__["__base__"],), object)

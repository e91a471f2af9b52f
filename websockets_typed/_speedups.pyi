from collections.abc import Callable
from typing import TypeVar

from websockets_typed.http11 import Request, Response
from websockets_typed.typing import BytesLike, Origin

_T = TypeVar("_T")

AVX2: int

def apply_mask(data: BytesLike, mask: BytesLike) -> bytes: ...
def mask_in_place(data: bytearray | memoryview, mask: BytesLike) -> None: ...
def mask_frame(header: BytesLike, data: BytesLike, mask: BytesLike) -> bytes: ...
def mask_into(buffer: bytearray, header: BytesLike, data: BytesLike, mask: BytesLike, /) -> int: ...
def writable_bytes(size: int, /) -> tuple[bytes, memoryview]: ...
def head_bytes(data: BytesLike, size: int, /) -> bytes: ...
def frame_fields(cls: type, slots: tuple[object, ...], /) -> None: ...
def new_frame(
    opcode: object, data: object, fin: object, rsv1: object, rsv2: object, rsv3: object, /
) -> object: ...
def frame_parser(opcodes: tuple[object, ...], fallback: object, /) -> None: ...
def read_frame(
    buffer: BytesLike, start: int, mask: bool, max_size: int | None, /
) -> tuple[object, int, int]: ...
def read_messages(
    buffer: BytesLike,
    start: int,
    stop: int,
    mask: bool,
    max_size: int,
    budget: int,
    append: Callable[[object], object],
    /,
) -> tuple[int, int]: ...
def new_instance(cls: type[_T], slots: tuple[object, ...], /, *values: object) -> _T: ...
def usual_fields(
    head: str,
    start: int,
    max_line_length: int,
    max_num_headers: int,
    names: dict[str, tuple[str, str]],
    values: dict[str, str],
    /,
) -> tuple[dict[str, str | list[str]], list[str]] | None: ...
def handshake_types(
    request: type,
    request_slots: tuple[object, ...],
    headers: type,
    headers_slots: tuple[object, ...],
    response: type,
    response_slots: tuple[object, ...],
    names: dict[str, tuple[str, str]],
    values: dict[str, str],
    /,
) -> None: ...
def usual_request(
    buffer: bytearray, max_line_length: int, max_num_headers: int, /
) -> tuple[Request, str, Origin | None, list[str], int] | None: ...
def usual_response(accept: str, date: str, lines: bytes, /) -> Response: ...

"""Frames: RFC 6455, section 5 (framing) and 7.4 (close codes)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from websockets_typed._speedups import apply_mask as c_apply_mask
from websockets_typed.exceptions import PayloadTooBig, ProtocolError
from websockets_typed.extensions.base import Extension
from websockets_typed.frames import (
    CTRL_OPCODES,
    DATA_OPCODES,
    SPEEDUPS,
    Close,
    CloseCode,
    Frame,
    Opcode,
    _mask_key,
    apply_mask,
    encode_data,
    is_valid_close_code,
    parse_close,
    parse_frame,
    py_apply_mask,
    serialize_close,
    serialize_frame,
    serialize_message,
)
from websockets_typed.typing import BytesLike


def reference_mask(data: bytes, mask: bytes) -> bytes:
    """The RFC 6455, 5.3 algorithm, byte by byte: slow but obviously right."""
    return bytes(byte ^ mask[index % 4] for index, byte in enumerate(data))


def parse_all(data: bytes, *, mask: bool, max_size: int | None = None) -> list[Frame]:
    buffer = bytearray(data)
    frames: list[Frame] = []
    while (frame := parse_frame(buffer, mask=mask, max_size=max_size)) is not None:
        frames.append(frame)
    assert not buffer, "bytes left over"
    return frames


# Masking (RFC 6455, 5.3), with and without the C accelerator.

MaskFunction = Callable[[BytesLike, BytesLike], bytes]
IMPLEMENTATIONS = [
    pytest.param(py_apply_mask, id="python"),
    pytest.param(c_apply_mask, id="c"),
]


@pytest.mark.parametrize("apply", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    "size",
    # Around the SSE2 (16 bytes) and AVX2 (32 and 256 bytes per turn) steps.
    [
        *(0, 1, 3, 4, 5, 15, 16, 17, 31, 33, 127, 128, 129, 160, 161, 255, 256),
        *(257, 287, 288, 289, 511, 512, 513, 767, 800, 4096, 65537),
    ],
)
def test_apply_mask_matches_reference(apply: MaskFunction, size: int) -> None:
    data = os.urandom(size)
    mask = os.urandom(4)
    assert apply(data, mask) == reference_mask(data, mask)


@pytest.mark.parametrize("apply", IMPLEMENTATIONS)
def test_apply_mask_large(apply: MaskFunction) -> None:
    data = os.urandom(2**20 + 3)
    mask = os.urandom(4)
    assert apply(data, mask) == reference_mask(data, mask)


@given(st.binary(max_size=2000), st.binary(min_size=4, max_size=4), st.integers(0, 15))
def test_implementations_agree_at_any_size_and_alignment(
    data: bytes, mask: bytes, offset: int
) -> None:
    # An offset into a larger buffer makes the input unaligned in memory.
    view = memoryview(bytes(offset) + data)[offset:]
    expected = reference_mask(data, mask)
    assert py_apply_mask(view, mask) == expected
    assert c_apply_mask(view, mask) == expected
    # The mask may be a slice of a buffer too, as the parser passes it.
    mask_view = memoryview(bytes(offset) + mask)[offset:]
    assert py_apply_mask(view, mask_view) == expected
    assert c_apply_mask(view, mask_view) == expected


@pytest.mark.parametrize("apply", IMPLEMENTATIONS)
@pytest.mark.parametrize("offset", range(16))
def test_apply_mask_large_and_unaligned(apply: MaskFunction, offset: int) -> None:
    # Above 64 KiB, the accelerator releases the GIL; its 16-byte loop then
    # reads memory that isn't aligned, and the tail is 0 to 15 bytes.
    data = os.urandom(2**16 + 17 + offset)
    mask = os.urandom(4)
    view = memoryview(bytes(offset) + data)[offset:]
    assert apply(view, mask) == reference_mask(data, mask)
    # A mask that is part of a larger buffer, as the parser passes it.
    assert apply(view, memoryview(b"..." + mask)[3:]) == reference_mask(data, mask)


@pytest.mark.parametrize("apply", IMPLEMENTATIONS)
@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_apply_mask_accepts_bytes_like(
    apply: MaskFunction, kind: type[bytearray] | type[memoryview]
) -> None:
    data = os.urandom(1000)
    assert apply(kind(data), b"abcd") == reference_mask(data, b"abcd")
    assert apply(kind(data[:10]), b"abcd") == reference_mask(data[:10], b"abcd")


@pytest.mark.parametrize("apply", IMPLEMENTATIONS)
@pytest.mark.parametrize("mask", [b"", b"abc", b"abcde"])
def test_apply_mask_rejects_wrong_mask_length(apply: MaskFunction, mask: bytes) -> None:
    with pytest.raises(ValueError, match="4 bytes"):
        apply(b"data", mask)


def test_accelerator_in_use() -> None:
    assert SPEEDUPS is (os.environ.get("WEBSOCKETS_TYPED_SPEEDUPS", "1") != "0")


def passes_in_subprocess(pytest_args: list[str], **environment: str) -> None:
    """Run pytest on ``pytest_args`` in a new process with ``environment``; check it passes."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:cov"]
    result = subprocess.run(
        command + pytest_args,
        env={**os.environ, **environment},
        cwd=Path(__file__).resolve().parent.parent.parent,
        capture_output=True,
        text=True,
        timeout=55,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout.splitlines()[-1]


def printed_in_subprocess(code: str, **environment: str) -> str:
    """What ``code`` prints in a new process with ``environment``."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_protocol_tests_pass_without_the_accelerator() -> None:
    """Framing, the sans-I/O protocol and compression, with the pure-Python masking."""
    modules = ["frames", "protocol", "server", "client", "end_to_end", "permessage_deflate"]
    modules += ["receivebuffer", "http11", "usual_fields", "usual_handshake", "usual_request"]
    pytest_args = [f"tests/sansio/test_{module}.py" for module in modules]
    pytest_args += [
        "--deselect",
        f"tests/sansio/test_frames.py::{test_protocol_tests_pass_without_the_accelerator.__name__}",
    ]
    passes_in_subprocess(pytest_args, WEBSOCKETS_TYPED_SPEEDUPS="0")


def cpu_has_avx2() -> bool:
    flags = Path("/proc/cpuinfo").read_text().split()
    return "avx2" in flags


@pytest.mark.parametrize("setting", ["0", "1"])
def test_avx2_selected_by_cpu_and_environment(setting: str) -> None:
    code = "from websockets_typed import _speedups; print(_speedups.AVX2)"
    expected = setting == "1" and platform.machine() == "x86_64" and cpu_has_avx2()
    assert printed_in_subprocess(code, WEBSOCKETS_TYPED_AVX2=setting) == str(int(expected))


def test_masking_tests_pass_with_sse2_only() -> None:
    """The C masking loops without AVX2, on a machine that has it."""
    pytest_args = ["tests/sansio/test_frames.py", "-k", "mask and not sse2_only"]
    pytest_args += ["tests/sansio/test_receivebuffer.py"]
    passes_in_subprocess(pytest_args, WEBSOCKETS_TYPED_AVX2="0")


@pytest.mark.parametrize(
    ("setting", "expected"), [("0", "False False False"), ("1", "True True True")]
)
def test_accelerator_selected_by_environment(setting: str, expected: str) -> None:
    code = "from websockets_typed import frames, http11, _usual_handshake as usual; "
    code += "print(frames.SPEEDUPS, http11.usual_fields is not http11.py_usual_fields, "
    code += "usual.usual_request is not usual.py_usual_request)"
    assert printed_in_subprocess(code, WEBSOCKETS_TYPED_SPEEDUPS=setting) == expected


# Parsing: the examples of RFC 6455, 5.7.

RFC_EXAMPLES = [
    # A single-frame unmasked text message.
    (bytes.fromhex("810548656c6c6f"), False, [Frame(Opcode.TEXT, b"Hello")]),
    # A single-frame masked text message.
    (bytes.fromhex("818537fa213d7f9f4d5158"), True, [Frame(Opcode.TEXT, b"Hello")]),
    # A fragmented unmasked text message.
    (
        bytes.fromhex("010348656c") + bytes.fromhex("80026c6f"),
        False,
        [Frame(Opcode.TEXT, b"Hel", fin=False), Frame(Opcode.CONT, b"lo")],
    ),
    # Unmasked Ping request and masked Ping response.
    (bytes.fromhex("890548656c6c6f"), False, [Frame(Opcode.PING, b"Hello")]),
    (bytes.fromhex("8a8537fa213d7f9f4d5158"), True, [Frame(Opcode.PONG, b"Hello")]),
    # 256 bytes binary message in a single unmasked frame.
    (bytes.fromhex("827e0100") + bytes(256), False, [Frame(Opcode.BINARY, bytes(256))]),
    # 64KiB binary message in a single unmasked frame.
    (
        bytes.fromhex("827f0000000000010000") + bytes(65536),
        False,
        [Frame(Opcode.BINARY, bytes(65536))],
    ),
]


@pytest.mark.parametrize(("data", "mask", "frames"), RFC_EXAMPLES)
def test_parse_rfc_examples(data: bytes, mask: bool, frames: list[Frame]) -> None:
    assert parse_all(data, mask=mask) == frames


@pytest.mark.parametrize(("data", "mask", "frames"), RFC_EXAMPLES[:5])
def test_parse_waits_for_complete_frames(data: bytes, mask: bool, frames: list[Frame]) -> None:
    # Any strict prefix of the first frame is not enough and stays buffered.
    first_length = len(frames[0].serialize(mask=mask))
    for size in range(first_length):
        buffer = bytearray(data[:size])
        assert parse_frame(buffer, mask=mask) is None
        assert buffer == data[:size]


@pytest.mark.parametrize("length", [125, 126, 127, 65535, 65536, 70000])
def test_parse_waits_for_extended_length(length: int) -> None:
    data = Frame(Opcode.BINARY, bytes(length)).serialize(mask=False)
    for size in (1, 2, 3, 5, 9, len(data) - 1):
        buffer = bytearray(data[:size])
        assert parse_frame(buffer, mask=False) is None
    assert parse_all(data, mask=False) == [Frame(Opcode.BINARY, bytes(length))]


def test_parse_keeps_following_bytes() -> None:
    buffer = bytearray(bytes.fromhex("810548656c6c6f") + b"\x82")
    assert parse_frame(buffer, mask=False) == Frame(Opcode.TEXT, b"Hello")
    assert buffer == b"\x82"


def test_parse_reserved_bits() -> None:
    buffer = bytearray(b"\xf1\x00")
    assert parse_frame(buffer, mask=False) == Frame(
        Opcode.TEXT, b"", rsv1=True, rsv2=True, rsv3=True
    )


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 11, 12, 13, 14, 15])
def test_parse_rejects_reserved_opcodes(opcode: int) -> None:
    # RFC 6455, 5.2: unknown opcodes fail the connection.
    with pytest.raises(ProtocolError, match="invalid opcode"):
        parse_frame(bytearray([0x80 | opcode, 0x00]), mask=False)


def test_parse_rejects_unmasked_frame_on_server() -> None:
    # RFC 6455, 5.1: "a server MUST close the connection upon receiving a
    # frame that is not masked".
    with pytest.raises(ProtocolError, match="incorrect masking"):
        parse_frame(bytearray(b"\x81\x00"), mask=True)


def test_parse_rejects_masked_frame_on_client() -> None:
    # RFC 6455, 5.1: "A client MUST close a connection if it detects a
    # masked frame."
    with pytest.raises(ProtocolError, match="incorrect masking"):
        parse_frame(bytearray(b"\x81\x80abcd"), mask=False)


def test_parse_rejects_64_bit_length_with_msb_set() -> None:
    # RFC 6455, 5.2: "the most significant bit MUST be 0".
    with pytest.raises(ProtocolError, match="most significant bit"):
        parse_frame(bytearray(b"\x82\x7f\x80" + bytes(7)), mask=False)


@pytest.mark.parametrize(
    "header",
    [
        b"\x82\x7e\x00\x00",
        b"\x82\x7e\x00\x7d",
        b"\x82\x7f" + (0).to_bytes(8, "big"),
        b"\x82\x7f" + (125).to_bytes(8, "big"),
        b"\x82\x7f" + (65535).to_bytes(8, "big"),
    ],
    ids=["0-on-16-bits", "125-on-16-bits", "0-on-64-bits", "125-on-64-bits", "65535-on-64-bits"],
)
def test_parse_rejects_non_minimal_length(header: bytes) -> None:
    # RFC 6455, 5.2: "the minimal number of bytes MUST be used to encode the
    # length"; rejected from the header alone.
    with pytest.raises(ProtocolError, match=r"payload length \d+ not encoded on"):
        parse_frame(bytearray(header), mask=False)


@pytest.mark.parametrize("opcode", sorted(CTRL_OPCODES))
def test_parse_rejects_long_control_frame(opcode: Opcode) -> None:
    # RFC 6455, 5.5: at most 125 bytes; rejected from the header alone.
    with pytest.raises(ProtocolError, match="control frame too long"):
        parse_frame(bytearray([0x80 | opcode, 126, 0, 126]), mask=False)


@pytest.mark.parametrize("opcode", sorted(CTRL_OPCODES))
def test_parse_rejects_fragmented_control_frame(opcode: Opcode) -> None:
    with pytest.raises(ProtocolError, match="fragmented control frame"):
        parse_frame(bytearray([opcode, 0]), mask=False)


def test_parse_accepts_control_frame_of_125_bytes() -> None:
    frame = Frame(Opcode.PING, bytes(125))
    assert parse_all(frame.serialize(mask=True), mask=True) == [frame]


def test_parse_rejects_oversized_frame_before_payload() -> None:
    # Only the header is here: the limit applies before the payload arrives.
    buffer = bytearray(b"\x82\x7f" + (2**40).to_bytes(8, "big"))
    with pytest.raises(PayloadTooBig) as raised:
        parse_frame(buffer, mask=False, max_size=2**20)
    assert raised.value.size == 2**40
    assert raised.value.max_size == 2**20


def test_parse_accepts_frame_at_max_size() -> None:
    frame = Frame(Opcode.BINARY, bytes(1000))
    assert parse_all(frame.serialize(mask=False), mask=False, max_size=1000) == [frame]
    with pytest.raises(PayloadTooBig):
        parse_all(frame.serialize(mask=False), mask=False, max_size=999)


def test_parse_allows_deflate_overhead_on_compressed_frames() -> None:
    # With RSV1 (compressed data), the compressed payload may be slightly
    # larger than the data it holds; the decompressed size is checked later.
    frame = Frame(Opcode.BINARY, bytes(1030), rsv1=True)
    assert parse_all(b"".join(serialize_frame(frame, mask=False)), mask=False, max_size=1000) == [
        frame
    ]
    frame = Frame(Opcode.BINARY, bytes(1065), rsv1=True)
    with pytest.raises(PayloadTooBig):
        parse_all(b"".join(serialize_frame(frame, mask=False)), mask=False, max_size=1000)


def test_parse_ignores_max_size_for_control_frames() -> None:
    frame = Frame(Opcode.PING, bytes(100))
    assert parse_all(frame.serialize(mask=False), mask=False, max_size=10) == [frame]


# Serialization.


@pytest.mark.parametrize(("data", "mask", "frames"), RFC_EXAMPLES)
def test_serialize_rfc_examples_unmasked(data: bytes, mask: bool, frames: list[Frame]) -> None:
    if not mask:
        assert b"".join(frame.serialize(mask=False) for frame in frames) == data


def test_serialize_masks_with_random_keys() -> None:
    frame = Frame(Opcode.TEXT, b"Hello")
    first, second = frame.serialize(mask=True), frame.serialize(mask=True)
    assert first[:2] == second[:2] == b"\x81\x85"
    assert first[2:6] != second[2:6]  # 2**-32 chance of a false failure
    assert apply_mask(first[6:], first[2:6]) == b"Hello"


def test_serialize_frame_splits_large_payloads() -> None:
    data = bytes(100_000)
    header, payload = serialize_frame(Frame(Opcode.BINARY, data), mask=False)
    assert header == b"\x82\x7f" + (100_000).to_bytes(8, "big")
    assert payload is data  # not copied
    (single,) = serialize_frame(Frame(Opcode.BINARY, bytes(100)), mask=False)
    assert single == b"\x82\x64" + bytes(100)


def test_serialize_checks_frame() -> None:
    with pytest.raises(ProtocolError, match="reserved bits"):
        Frame(Opcode.TEXT, b"", rsv2=True).serialize(mask=False)
    with pytest.raises(ProtocolError, match="control frame too long"):
        Frame(Opcode.PING, bytes(126)).serialize(mask=False)


class SetRsv1(Extension):
    """An extension that marks every frame with RSV1 and uppercases it."""

    name = "x-test"  # type: ignore[assignment]

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        raise NotImplementedError

    def encode(self, frame: Frame) -> Frame:
        return Frame(frame.opcode, frame.data.upper(), frame.fin, rsv1=True)


def test_serialize_applies_extensions() -> None:
    data = Frame(Opcode.TEXT, b"hi").serialize(mask=False, extensions=[SetRsv1()])
    assert data == b"\xc1\x02HI"


frames_strategy = st.builds(
    Frame,
    opcode=st.sampled_from(sorted(DATA_OPCODES)),
    data=st.binary(max_size=70_000),
    fin=st.booleans(),
    rsv1=st.booleans(),
    rsv2=st.booleans(),
    rsv3=st.booleans(),
) | st.builds(
    Frame,
    opcode=st.sampled_from(sorted(CTRL_OPCODES)),
    data=st.binary(max_size=125),
    rsv1=st.booleans(),
)


@given(st.lists(frames_strategy, max_size=5), st.booleans(), st.integers(1, 1000))
def test_serialize_parse_round_trip(frames: list[Frame], mask: bool, chunk_size: int) -> None:
    stream = b"".join(b"".join(serialize_frame(frame, mask=mask)) for frame in frames)
    buffer = bytearray()
    parsed: list[Frame] = []
    for start in range(0, len(stream), chunk_size):
        buffer += stream[start : start + chunk_size]
        while (frame := parse_frame(buffer, mask=mask)) is not None:
            parsed.append(frame)
    assert parsed == frames
    assert not buffer


# Frame methods.


def test_check_accepts_valid_frames() -> None:
    Frame(Opcode.TEXT, b"x", fin=False).check()
    Frame(Opcode.CLOSE, bytes(125)).check()


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (Frame(Opcode.TEXT, b"", rsv1=True), "reserved bits"),
        (Frame(Opcode.TEXT, b"", rsv2=True), "reserved bits"),
        (Frame(Opcode.TEXT, b"", rsv3=True), "reserved bits"),
        (Frame(Opcode.PONG, bytes(126)), "control frame too long"),
        (Frame(Opcode.CLOSE, b"", fin=False), "fragmented control frame"),
    ],
)
def test_check_rejects_invalid_frames(frame: Frame, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        frame.check()


@pytest.mark.parametrize(
    ("frame", "text"),
    [
        (Frame(Opcode.TEXT, b"caf\xc3\xa9"), "TEXT 'café' [5 bytes]"),
        (Frame(Opcode.TEXT, b"a", fin=False), "TEXT 'a' [1 byte, continued]"),
        (Frame(Opcode.TEXT, b"\xff"), "TEXT ff [1 byte]"),
        (Frame(Opcode.CONT, b"abc"), "CONT 'abc' [3 bytes]"),
        (Frame(Opcode.CONT, b"\x00\xff"), "CONT 00 ff [2 bytes]"),
        (Frame(Opcode.BINARY, b"\x01\x02"), "BINARY 01 02 [2 bytes]"),
        (Frame(Opcode.CLOSE, b"\x03\xe8bye"), "CLOSE 1000 (OK) bye [5 bytes]"),
        (Frame(Opcode.CLOSE, b"\x03"), "CLOSE 03 [1 byte]"),
        (Frame(Opcode.PING, b""), "PING  [0 bytes]"),
    ],
)
def test_frame_str(frame: Frame, text: str) -> None:
    assert str(frame) == text


def test_frame_str_truncates_long_payloads() -> None:
    text = str(Frame(Opcode.TEXT, b"x" * 1000))
    assert text.startswith("TEXT 'xxx")
    assert "..." in text
    assert text.endswith("[1000 bytes]")
    assert len(text) < 100


def test_frame_text() -> None:
    assert Frame(Opcode.TEXT, "😀".encode()).text == "😀"
    with pytest.raises(UnicodeDecodeError):
        _ = Frame(Opcode.TEXT, b"\xff").text


def test_frame_is_frozen() -> None:
    frame = Frame(Opcode.TEXT, b"")
    with pytest.raises(AttributeError):
        frame.data = b"x"  # type: ignore[misc]


# Close frames (RFC 6455, 5.5.1 and 7.4).

# RFC 6455, 7.4.1 and 7.4.2, plus 1012-1014 registered with IANA since.
VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014]
VALID_CODES_PRIVATE = [3000, 3999, 4000, 4999]
INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


@pytest.mark.parametrize("code", VALID_CODES + VALID_CODES_PRIVATE)
def test_close_round_trip(code: int) -> None:
    close = Close(code, "reason é")
    assert Close.parse(close.serialize()) == close
    assert is_valid_close_code(code)


@pytest.mark.parametrize("code", INVALID_CODES)
def test_close_rejects_invalid_codes(code: int) -> None:
    assert not is_valid_close_code(code)
    with pytest.raises(ProtocolError, match="invalid status code"):
        Close.parse(code.to_bytes(2, "big"))
    with pytest.raises(ProtocolError, match="invalid status code"):
        Close(code, "").serialize()


def test_close_parse_empty_payload() -> None:
    assert Close.parse(b"") == Close(CloseCode.NO_STATUS_RCVD, "")


def test_close_parse_one_byte() -> None:
    with pytest.raises(ProtocolError, match="too short"):
        Close.parse(b"\x03")


def test_close_parse_invalid_utf8_reason() -> None:
    with pytest.raises(UnicodeDecodeError):
        Close.parse(b"\x03\xe8\xff")


def test_close_reason_length() -> None:
    assert len(Close(1000, "x" * 123).serialize()) == 125
    with pytest.raises(ProtocolError, match="too long"):
        Close(1000, "x" * 124).serialize()
    with pytest.raises(ProtocolError, match="too long"):
        Close(1000, "é" * 62).serialize()


@pytest.mark.parametrize(
    ("close", "text"),
    [
        (Close(1000, ""), "1000 (OK)"),
        (Close(1001, "bye"), "1001 (going away) bye"),
        (Close(1006, ""), "1006 (abnormal closure [internal])"),
        (Close(3000, ""), "3000 (registered)"),
        (Close(4000, "x"), "4000 (private use) x"),
        (Close(2000, ""), "2000 (unknown)"),
    ],
)
def test_close_str(close: Close, text: str) -> None:
    assert str(close) == text


def test_legacy_close_helpers() -> None:
    assert serialize_close(1000, "ok") == b"\x03\xe8ok"
    assert parse_close(b"\x03\xe8ok") == (1000, "ok")


def test_encode_data() -> None:
    assert encode_data("é") == b"\xc3\xa9"
    assert encode_data(b"x") == b"x"
    assert encode_data(bytearray(b"x")) == b"x"
    assert encode_data(memoryview(b"x")) == b"x"
    with pytest.raises(TypeError):
        encode_data(42)  # type: ignore[arg-type]


# Masking keys (RFC 6455, 5.3: unpredictable, from a strong source of entropy).


def test_mask_keys_are_four_fresh_bytes() -> None:
    keys = [_mask_key() for _ in range(3000)]  # spans several refills of the pool
    assert all(len(key) == 4 for key in keys)
    # 3000 random 32-bit keys collide with probability about 0.1%.
    assert len(set(keys)) > 2990


def message_key() -> bytes:
    """The masking key of a message that serialize_message() masks (its own copy of _mask_key())."""
    chunk = serialize_message(0x82, b"", True)
    assert chunk is not None
    return chunk[2:6]


def test_messages_and_frame_heads_draw_distinct_keys_from_one_pool() -> None:
    # Alternating, across several refills of the pool: no key is taken twice.
    keys = [message_key() if index % 2 else _mask_key() for index in range(3000)]
    assert len(set(keys)) > 2990


@pytest.mark.parametrize("draw", [_mask_key, message_key])
def test_forked_child_draws_its_own_keys(draw: Callable[[], bytes]) -> None:
    _mask_key()  # make sure the parent has a pool
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.write(write_end, draw())
        os._exit(0)
    os.close(write_end)
    child_key = os.read(read_end, 4)
    os.close(read_end)
    os.waitpid(pid, 0)
    # Without a reset on fork, the child would return the parent's next key.
    assert child_key != draw()

"""The fuzz targets of fuzz/: their seeds and past crashes replay cleanly.

The fuzzer itself runs on demand (``scripts/fuzz TARGET SECONDS``); here,
each target runs on every file of its seed corpus and of ``fuzz/crashes/``,
so that a bug a crash revealed stays fixed, and a target that stops
checking anything is noticed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import fuzz.targets
from fuzz.seeds import seeds
from fuzz.targets import TARGETS
from websockets_typed.exceptions import ProtocolError
from websockets_typed.frames import parse_frame

FUZZ = Path(__file__).resolve().parent.parent.parent / "fuzz"


def _inputs() -> list[tuple[str, Path]]:
    return [
        (target, path)
        for target in sorted(TARGETS)
        for folder in (FUZZ / "corpus" / target, FUZZ / "crashes" / target)
        if folder.is_dir()
        for path in sorted(folder.iterdir())
    ]


@pytest.mark.parametrize(
    ("target", "path"), _inputs(), ids=[f"{t}/{p.parent.name}/{p.name[:12]}" for t, p in _inputs()]
)
def test_replay(target: str, path: Path) -> None:
    TARGETS[target](path.read_bytes())


def test_seed_corpora_are_current() -> None:
    # fuzz/corpus/ is exactly what `python -m fuzz.seeds` writes.
    assert set(seeds()) == set(TARGETS)
    for target, inputs in seeds().items():
        on_disk = {path.read_bytes() for path in (FUZZ / "corpus" / target).iterdir()}
        assert on_disk == set(inputs), target


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x01"])
def test_targets_accept_tiny_inputs(data: bytes) -> None:
    for target in TARGETS.values():
        target(data)


def test_targets_report_undocumented_exceptions(monkeypatch: pytest.MonkeyPatch) -> None:
    # A parser raising something it doesn't document is a crash.
    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("bug")

    monkeypatch.setattr(fuzz.targets, "parse_frame", broken)
    seed = next(iter((FUZZ / "corpus" / "frames").iterdir())).read_bytes()
    with pytest.raises(ValueError, match="bug"):
        fuzz.targets.fuzz_frames(seed)


def test_targets_report_broken_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    # A builder that doesn't produce what the parser reads back is a crash.
    def build_other(subprotocols: object) -> str:
        return "other"

    monkeypatch.setattr(fuzz.targets, "build_subprotocol", build_other)
    with pytest.raises(AssertionError):
        fuzz.targets.fuzz_headers(b"chat, superchat")


def test_documented_exceptions_are_not_crashes() -> None:
    # Garbage makes parsers raise what they document; targets swallow that.
    with pytest.raises(ProtocolError):
        parse_frame(bytearray(b"\x83\x80\x00\x00\x00\x00"), mask=True)
    fuzz.targets.fuzz_frames(b"\x00\x01\x83\x80\x00\x00\x00\x00")
    fuzz.targets.fuzz_http(b"\x00\x01GET / HTTP/1.0\r\n\r\n")
    fuzz.targets.fuzz_http(b"\x01\x01HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n")
    fuzz.targets.fuzz_deflate(b"\x00\x03\x04\xff\xff\xff\xff")


def test_fuzz_script_usage() -> None:
    result = subprocess.run(
        [str(FUZZ.parent / "scripts" / "fuzz")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "usage: scripts/fuzz TARGET SECONDS" in result.stderr

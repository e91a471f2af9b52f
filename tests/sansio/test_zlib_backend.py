"""The choice of zlib implementation behind permessage-deflate: zlib-ng or zlib."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tracemalloc
import zlib

import pytest

from websockets_typed.exceptions import ProtocolError
from websockets_typed.extensions import _zlib, permessage_deflate
from websockets_typed.extensions.permessage_deflate import (
    ZLIB_NG,
    CompressSettings,
    PerMessageDeflate,
)
from websockets_typed.frames import Frame, Opcode

pytest_plugins = ["zlib_backends"]

# zlib-ng is found here unless the environment disables it: the dev extra
# installs it, and CI must never run without it.
ENABLED = os.environ.get("WEBSOCKETS_TYPED_ZLIB_NG", "1") != "0"

KiB = 1024


def run_python(code: str, **environment: str) -> str:
    """Run ``code`` in a new interpreter; return what it prints."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return result.stdout.strip()


def test_zlib_ng_in_use(request: pytest.FixtureRequest) -> None:
    if ENABLED:
        request.getfixturevalue("zlib_ng_module")
    assert ZLIB_NG is ENABLED
    assert (permessage_deflate._backend is zlib) is not ENABLED


@pytest.mark.parametrize(("setting", "expected"), [("0", "False"), ("1", "True")])
@pytest.mark.usefixtures("zlib_ng_module")
def test_zlib_ng_selected_by_environment(setting: str, expected: str) -> None:
    code = "from websockets_typed.extensions import permessage_deflate as p; print(p.ZLIB_NG)"
    assert run_python(code, WEBSOCKETS_TYPED_ZLIB_NG=setting) == expected


def test_zlib_without_zlib_ng() -> None:
    # Without zlib-ng (an import that fails), the standard library does the work.
    code = (
        "import sys, zlib\n"
        "sys.modules['zlib_ng'] = None\n"
        "from websockets_typed.extensions import permessage_deflate as p\n"
        "from websockets_typed.frames import Frame, Opcode\n"
        "sender, receiver = p.PerMessageDeflate(False, False, 15, 15), "
        "p.PerMessageDeflate(False, False, 15, 15)\n"
        "frame = Frame(Opcode.TEXT, b'hello ' * 100)\n"
        "print(p.ZLIB_NG, p._backend is zlib, receiver.decode(sender.encode(frame)) == frame)\n"
    )
    assert run_python(code, WEBSOCKETS_TYPED_ZLIB_NG="1") == "False True True"


def test_load_backend(zlib_ng_module: _zlib.ZlibBackend) -> None:
    module = zlib_ng_module
    assert _zlib.load_backend(use_zlib_ng=False) == (False, zlib)
    assert _zlib.load_backend(use_zlib_ng=True) == (True, module)
    assert module is importlib.import_module("zlib_ng.zlib_ng")
    assert module is not zlib


def test_load_backend_falls_back_to_zlib(monkeypatch: pytest.MonkeyPatch) -> None:
    # An entry of None in sys.modules makes the import fail, as without zlib-ng.
    monkeypatch.setitem(sys.modules, "zlib_ng.zlib_ng", None)
    assert _zlib.load_backend(use_zlib_ng=True) == (False, zlib)


def test_extension_uses_the_selected_backend(
    zlib_backend: str, request: pytest.FixtureRequest
) -> None:
    # The compression objects come from the implementation in use, and its
    # errors become ProtocolError (a close with 1007).
    module = request.getfixturevalue("zlib_ng_module") if zlib_backend == "zlib-ng" else zlib
    extension = PerMessageDeflate(False, False, 15, 15)
    frame = extension.encode(Frame(Opcode.BINARY, b"data" * 100))
    assert extension.decode(frame).data == b"data" * 100
    assert type(extension._encoder) is type(module.compressobj(6, zlib.DEFLATED, -15, 8, 0))
    assert type(extension._decoder) is type(module.decompressobj(-15))
    with pytest.raises(ProtocolError, match="invalid compressed data"):
        extension.decode(Frame(Opcode.BINARY, b"\xff\xff\xff\xff", rsv1=True))


def allocated_by_encode(extension: PerMessageDeflate) -> int:
    """Bytes that the first message allocates for the extension's compressor."""
    frame = Frame(Opcode.BINARY, b"Hello!" * 100)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        extension.encode(frame)
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_zlib_ng_memory_as_documented(
    monkeypatch: pytest.MonkeyPatch, zlib_ng_module: _zlib.ZlibBackend
) -> None:
    # docs/howto/memory.md: zlib-ng's compressor holds a hash table of 128
    # KiB whatever the settings; 137 KiB with the smallest, 160 KiB with the
    # server's defaults (12-bit window, memLevel=5), where zlib takes 38 KiB.
    module = zlib_ng_module
    server_defaults = (False, False, 15, 12, CompressSettings(memLevel=5))
    monkeypatch.setattr(permessage_deflate, "_backend", zlib)
    assert abs(allocated_by_encode(PerMessageDeflate(*server_defaults)) - 38 * KiB) < 4 * KiB
    monkeypatch.setattr(permessage_deflate, "_backend", module)
    smallest = PerMessageDeflate(False, False, 15, 9, CompressSettings(memLevel=1))
    assert abs(allocated_by_encode(smallest) - 137 * KiB) < 4 * KiB
    assert abs(allocated_by_encode(PerMessageDeflate(*server_defaults)) - 160 * KiB) < 4 * KiB

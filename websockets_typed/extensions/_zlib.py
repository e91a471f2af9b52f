"""The zlib implementation behind permessage-deflate: zlib-ng when installed, else zlib.

zlib-ng (the ``zlib-ng`` package, installed by the ``zlib-ng`` extra) reads
and writes the same deflate format as the standard library's :mod:`zlib`,
with the same API, in fewer instructions: on 1 KiB JSON messages it
compresses at the default level in about two thirds of zlib's time and
inflates in about 70% (docs/performance.md, "Compression"). Both ends of a
connection stay free to use either: RFC 7692 specifies the format, not the
implementation.

The choice is made once, at import: zlib-ng if it can be imported, unless
``WEBSOCKETS_TYPED_ZLIB_NG=0`` is in the environment; the standard library
otherwise.
"""

from __future__ import annotations

import importlib
import os
import zlib
from typing import Final, Protocol, cast

__all__ = ["ZLIB_NG", "Compressor", "Decompressor", "ZlibBackend", "backend", "load_backend"]


class Compressor(Protocol):
    """What permessage-deflate uses of a compression object (:func:`zlib.compressobj`)."""

    def compress(self, data: bytes, /) -> bytes:
        """Compress ``data``; return what is ready."""
        ...

    def flush(self, mode: int, /) -> bytes:
        """Return what is pending, flushed with ``mode``."""
        ...


class Decompressor(Protocol):
    """What permessage-deflate uses of a decompression object (:func:`zlib.decompressobj`)."""

    @property
    def eof(self) -> bool:
        """Whether the end of the deflate stream (a final block) was reached."""
        ...

    @property
    def unused_data(self) -> bytes:
        """Bytes found after the end of the deflate stream."""
        ...

    def decompress(self, data: bytes, max_length: int = 0, /) -> bytes:
        """Inflate ``data``, returning at most ``max_length`` bytes (0: no limit)."""
        ...


class ZlibBackend(Protocol):
    """The functions of a zlib module that permessage-deflate calls.

    Constants are taken from :mod:`zlib`: zlib-ng defines the same values.
    """

    @property
    def error(self) -> type[Exception]:
        """The exception raised on invalid compressed data."""
        ...

    def compressobj(
        self, level: int, method: int, wbits: int, memLevel: int, strategy: int, /
    ) -> Compressor:
        """Return a compression object."""
        ...

    def decompressobj(self, wbits: int, /) -> Decompressor:
        """Return a decompression object."""
        ...


def load_backend(use_zlib_ng: bool) -> tuple[bool, ZlibBackend]:
    """Return whether zlib-ng is used, and the module to use.

    Args:
        use_zlib_ng: Whether to use zlib-ng if it can be imported.
    """
    if use_zlib_ng:
        try:
            module = importlib.import_module("zlib_ng.zlib_ng")
        except ImportError:
            pass
        else:
            return True, cast(ZlibBackend, module)
    return False, cast(ZlibBackend, zlib)


_LOADED: Final = load_backend(os.environ.get("WEBSOCKETS_TYPED_ZLIB_NG", "1") != "0")
ZLIB_NG: Final = _LOADED[0]
"""Whether zlib-ng is in use."""
backend: Final = _LOADED[1]
"""The module in use: ``zlib_ng.zlib_ng`` or :mod:`zlib`."""

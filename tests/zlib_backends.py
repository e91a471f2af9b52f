"""Run the permessage-deflate tests with each zlib implementation the package can use.

permessage-deflate compresses with zlib-ng when the ``zlib-ng`` extra is
installed, with the standard library's zlib otherwise: a test module that
uses :func:`zlib_backend` runs all its tests with both. The dev extra
installs zlib-ng, so that CI (``CI=true``) never skips the zlib-ng half.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from websockets_typed.extensions import _zlib, permessage_deflate

BACKENDS = ["zlib", "zlib-ng"]


def require_zlib_ng() -> _zlib.ZlibBackend:
    """Return zlib-ng; skip the test without it (fail under CI)."""
    found, module = _zlib.load_backend(use_zlib_ng=True)
    if not found:
        reason = "zlib-ng is not installed (pip install -e '.[dev]' installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; these tests never skip under CI=true")
        pytest.skip(reason)
    return module


@pytest.fixture
def zlib_ng_module() -> _zlib.ZlibBackend:
    """zlib-ng's module; skip the test without it (fail under CI)."""
    return require_zlib_ng()


@pytest.fixture(params=BACKENDS, scope="module")
def zlib_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Make permessage-deflate use each implementation in turn; yield its name."""
    name: str = request.param
    module = require_zlib_ng() if name == "zlib-ng" else _zlib.load_backend(use_zlib_ng=False)[1]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(permessage_deflate, "_backend", module)
        yield name

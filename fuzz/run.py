"""Run one fuzz target under atheris: ``python -m fuzz.run TARGET [libFuzzer options]``.

Prefer ``scripts/fuzz TARGET SECONDS``, which installs atheris and picks
the corpus folders. The library is imported under atheris'
instrumentation, so that libFuzzer sees which branches each input reaches.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["websockets_typed", "fuzz"]):
    from fuzz.targets import TARGETS


def main() -> None:
    """Run the target named by the first argument; pass the rest to libFuzzer."""
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: python -m fuzz.run {{{','.join(TARGETS)}}} [libFuzzer options]")
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

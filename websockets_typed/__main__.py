"""``python -m websockets_typed``: the interactive client and the test server."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

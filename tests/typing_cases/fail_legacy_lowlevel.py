"""Legacy argument orders and types that the seed's names refuse."""

from __future__ import annotations

from websockets_typed import ConnectionClosed, PayloadTooBig
from websockets_typed.framing import OP_TEXT, Frame

# The legacy field order of Frame: fin first.
# expect: mypy[arg-type] pyright[reportArgumentType]
Frame(True, OP_TEXT, b"hello")
# A reason without a code.
# expect: mypy[call-overload] pyright[reportCallIssue, reportArgumentType]
ConnectionClosed(None, "bye")
# A message is text.
# expect: mypy[call-overload] pyright[reportCallIssue, reportArgumentType]
PayloadTooBig(b"too big")

"""A ``match`` on Event that forgets a case fails at assert_never."""

from __future__ import annotations

from typing import assert_never

from websockets_typed import Frame, Request
from websockets_typed.protocol import Event


def describe(event: Event) -> str:
    match event:
        case Request():
            return "request"
        case Frame():
            return "frame"
        case _:
            # expect: mypy[arg-type] pyright[reportArgumentType]
            assert_never(event)

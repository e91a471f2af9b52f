"""An exhaustive ``match`` on Event type-checks with assert_never."""

from __future__ import annotations

from typing import assert_never

from websockets_typed import Frame, Request, Response
from websockets_typed.protocol import Event, State


def describe(event: Event) -> str:
    match event:
        case Request():
            return f"request for {event.path}"
        case Response():
            return f"response {event.status_code}"
        case Frame():
            return f"frame {event.opcode.name}"
        case _:
            assert_never(event)


def describe_state(state: State) -> str:
    match state:
        case State.CONNECTING | State.OPEN:
            return "usable soon or now"
        case State.CLOSING | State.CLOSED:
            return "going away"
        case _:
            assert_never(state)

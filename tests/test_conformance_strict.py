"""Strict conformance: what RFC 6455 allows or requires at the edges of the limits."""

from __future__ import annotations

import sys

import pytest
from protocol_helpers import assert_received, open_server, wire

import websockets_typed.frames
from websockets_typed.frames import Frame, Opcode
from websockets_typed.typing import BytesLike


@pytest.fixture
def unmasked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of every payload the protocol unmasks."""
    sizes: list[int] = []
    apply_mask = websockets_typed.frames.apply_mask

    def counting_apply_mask(data: BytesLike, mask: BytesLike) -> bytes:
        sizes.append(len(data))
        return apply_mask(data, mask)

    # Every module of the package that unmasks.
    for name, module in list(sys.modules.items()):
        if (
            name.startswith("websockets_typed")
            and getattr(module, "apply_mask", None) is apply_mask
        ):
            monkeypatch.setattr(module, "apply_mask", counting_apply_mask)
    return sizes


@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY])
def test_large_frame_arriving_in_pieces_is_unmasked_once(
    opcode: Opcode, unmasked: list[int]
) -> None:
    server = open_server(max_size=None)
    frame = Frame(opcode, "é".encode() * 2**19)  # 1 MiB
    data = wire(server, frame)
    unmasked.clear()  # masking it for the test
    for index in range(0, len(data), 65_536):
        server.receive_data(data[index : index + 65_536])
    assert_received(server, frame)
    assert sum(unmasked) == len(frame.data)

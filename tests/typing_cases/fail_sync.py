"""The threading layer: wrong types for recv()'s results and for options are errors."""

from __future__ import annotations

from websockets_typed.sync.client import ClientConnection, connect


def receive(connection: ClientConnection) -> None:
    # expect: mypy[assignment] pyright[reportAssignmentType]
    binary: bytes = connection.recv(decode=True)
    print(binary)


def options() -> None:
    # expect: mypy[call-arg] pyright[reportCallIssue]
    connect("ws://localhost:8765", write_limit=1)

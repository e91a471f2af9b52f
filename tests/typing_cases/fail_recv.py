"""recv(decode=...) results can't be used as the other type."""

from __future__ import annotations

from websockets_typed import ClientConnection


async def receive(connection: ClientConnection) -> None:
    # expect: mypy[assignment] pyright[reportAssignmentType]
    binary: bytes = await connection.recv(decode=True)
    # expect: mypy[assignment] pyright[reportAssignmentType]
    text: str = await connection.recv(decode=False)
    # Without decode, it may be either.
    # expect: mypy[assignment] pyright[reportAssignmentType]
    message: str = await connection.recv()
    print(binary, text, message)

"""connect() rejects proxies of the wrong type."""

from __future__ import annotations

from websockets_typed import connect, unix_connect


async def main() -> None:
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await connect("ws://example.com", proxy=False)
    # expect: mypy[arg-type] pyright[reportArgumentType]
    await connect("ws://example.com", proxy_ssl="yes")
    # expect: mypy[call-arg] pyright[reportCallIssue]
    await unix_connect("/tmp/ws.sock", proxy="http://proxy:3128")

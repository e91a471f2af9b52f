"""The asyncio implementation: :func:`serve`, :func:`connect` and their connections."""

from __future__ import annotations

from .client import ClientConnection, connect, unix_connect
from .connection import BroadcastStats, Connection, broadcast
from .server import Server, ServerConnection, serve, unix_serve

__all__ = [
    "BroadcastStats",
    "ClientConnection",
    "Connection",
    "Server",
    "ServerConnection",
    "broadcast",
    "connect",
    "serve",
    "unix_connect",
    "unix_serve",
]

"""The asyncio implementation: :func:`serve`, :func:`connect` and their connections."""

from __future__ import annotations

from .client import ClientConnection, connect, unix_connect
from .connection import Connection, broadcast
from .router import Route, Router, route, unix_route
from .server import Server, ServerConnection, serve, unix_serve

__all__ = [
    "ClientConnection",
    "Connection",
    "Route",
    "Router",
    "Server",
    "ServerConnection",
    "broadcast",
    "connect",
    "route",
    "serve",
    "unix_connect",
    "unix_route",
    "unix_serve",
]

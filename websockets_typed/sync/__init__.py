"""The threading implementation: :func:`serve`, :func:`connect` and their connections.

For code that doesn't use asyncio: scripts, notebooks, test suites, WSGI
applications. Each connection reads its socket in a background thread;
the application's threads block in :meth:`~Connection.recv` and
:meth:`~Connection.send`. The sans-I/O core is the asyncio layer's.
"""

from __future__ import annotations

from .client import ClientConnection, connect, unix_connect
from .connection import Connection
from .server import Server, ServerConnection, basic_auth, serve, unix_serve

__all__ = [
    "ClientConnection",
    "Connection",
    "Server",
    "ServerConnection",
    "basic_auth",
    "connect",
    "serve",
    "unix_connect",
    "unix_serve",
]

"""Seed 001's high-level API, as thin adapters over :mod:`websockets_typed.asyncio`.

Import these names from where the seed puts them:
:mod:`websockets_typed.server` (:func:`~websockets_typed.legacy.server.serve`,
:func:`~websockets_typed.legacy.server.unix_serve`,
:class:`~websockets_typed.legacy.server.WebSocketServer`,
:class:`~websockets_typed.legacy.server.WebSocketServerProtocol`),
:mod:`websockets_typed.client` (:func:`~websockets_typed.legacy.client.connect`,
:class:`~websockets_typed.legacy.client.WebSocketClientProtocol`) and
:mod:`websockets_typed.protocol`
(:class:`~websockets_typed.legacy.protocol.WebSocketCommonProtocol`).
"""

from __future__ import annotations

from .client import WebSocketClientProtocol, connect
from .protocol import WebSocketCommonProtocol
from .server import WebSocketServer, WebSocketServerProtocol, serve, unix_serve

__all__ = [
    "WebSocketClientProtocol",
    "WebSocketCommonProtocol",
    "WebSocketServer",
    "WebSocketServerProtocol",
    "connect",
    "serve",
    "unix_serve",
]

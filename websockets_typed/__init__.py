"""websockets_typed: a strictly typed WebSocket library (RFC 6455, RFC 7692).

The public API is importable from here: the asyncio client and server
(:func:`serve`, :func:`connect`, :func:`broadcast`), their connections, the
events, the exceptions. The sans-I/O core lives in
:mod:`~websockets_typed.protocol`, :mod:`~websockets_typed.server` and
:mod:`~websockets_typed.client`; the wire formats in
:mod:`~websockets_typed.frames`, :mod:`~websockets_typed.http11`,
:mod:`~websockets_typed.headers` and :mod:`~websockets_typed.uri`.
"""

from __future__ import annotations

from .asyncio.client import ClientConnection, connect, unix_connect
from .asyncio.connection import BroadcastStats, broadcast
from .asyncio.server import Server, ServerConnection, basic_auth, serve, unix_serve
from .client import ClientProtocol
from .datastructures import Headers, HeadersLike, MultipleValuesError
from .exceptions import (
    AbortHandshake,
    BroadcastLimitExceeded,
    CancelHandshake,
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    DuplicateParameter,
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderFormat,
    InvalidHeaderValue,
    InvalidHost,
    InvalidMessage,
    InvalidOrigin,
    InvalidParameterName,
    InvalidParameterValue,
    InvalidState,
    InvalidStatus,
    InvalidStatusCode,
    InvalidUpgrade,
    InvalidURI,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
    SecurityError,
    TooManyFragments,
    WebSocketException,
    WebSocketProtocolError,
)
from .frames import Close, CloseCode, Frame, Opcode
from .http11 import Request, Response
from .protocol import SEND_EOF, Event, Protocol, Side, State
from .server import ServerProtocol
from .typing import (
    BytesLike,
    Data,
    ExtensionName,
    ExtensionParameter,
    LoggerLike,
    Origin,
    StatusLike,
    Subprotocol,
)
from .uri import WebSocketURI, parse_uri

__all__ = [
    "SEND_EOF",
    "AbortHandshake",
    "BroadcastLimitExceeded",
    "BroadcastStats",
    "BytesLike",
    "CancelHandshake",
    "ClientConnection",
    "ClientProtocol",
    "Close",
    "CloseCode",
    "ConcurrencyError",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "Data",
    "DuplicateParameter",
    "Event",
    "ExtensionName",
    "ExtensionParameter",
    "Frame",
    "Headers",
    "HeadersLike",
    "InvalidHandshake",
    "InvalidHeader",
    "InvalidHeaderFormat",
    "InvalidHeaderValue",
    "InvalidHost",
    "InvalidMessage",
    "InvalidOrigin",
    "InvalidParameterName",
    "InvalidParameterValue",
    "InvalidState",
    "InvalidStatus",
    "InvalidStatusCode",
    "InvalidURI",
    "InvalidUpgrade",
    "LoggerLike",
    "MultipleValuesError",
    "NegotiationError",
    "Opcode",
    "Origin",
    "PayloadTooBig",
    "Protocol",
    "ProtocolError",
    "Request",
    "Response",
    "SecurityError",
    "Server",
    "ServerConnection",
    "ServerProtocol",
    "Side",
    "State",
    "StatusLike",
    "Subprotocol",
    "TooManyFragments",
    "WebSocketException",
    "WebSocketProtocolError",
    "WebSocketURI",
    "basic_auth",
    "broadcast",
    "connect",
    "parse_uri",
    "serve",
    "unix_connect",
    "unix_serve",
]

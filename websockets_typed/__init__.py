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
from .asyncio.connection import broadcast
from .asyncio.router import Route, Router, route, unix_route
from .asyncio.server import Server, ServerConnection, basic_auth, serve, unix_serve
from .client import ClientProtocol
from .datastructures import Headers, HeadersLike, MultipleValuesError
from .exceptions import (
    AbortHandshake,
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
    InvalidProxy,
    InvalidProxyMessage,
    InvalidProxyStatus,
    InvalidState,
    InvalidStatus,
    InvalidStatusCode,
    InvalidUpgrade,
    InvalidURI,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
    ProxyError,
    SecurityError,
    TooManyFragments,
    WebSocketException,
    WebSocketProtocolError,
)
from .frames import Close, CloseCode, Frame, Opcode, encode_data, parse_close, serialize_close
from .handshake import build_request, build_response, check_request, check_response
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
    "InvalidProxy",
    "InvalidProxyMessage",
    "InvalidProxyStatus",
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
    "ProxyError",
    "Request",
    "Response",
    "Route",
    "Router",
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
    "build_request",
    "build_response",
    "check_request",
    "check_response",
    "connect",
    "encode_data",
    "parse_close",
    "parse_uri",
    "route",
    "serialize_close",
    "serve",
    "unix_connect",
    "unix_route",
    "unix_serve",
]

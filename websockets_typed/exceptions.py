"""The exception hierarchy.

Every exception the library raises on purpose derives from
:class:`WebSocketException`::

    WebSocketException
    ├── ConnectionClosed
    │   ├── ConnectionClosedOK
    │   └── ConnectionClosedError
    ├── InvalidURI
    ├── InvalidHandshake
    │   ├── SecurityError
    │   ├── InvalidMessage
    │   ├── InvalidStatusCode          (name kept from the legacy API)
    │   │   └── InvalidStatus
    │   ├── InvalidHeader
    │   │   ├── InvalidHeaderFormat
    │   │   ├── InvalidHeaderValue
    │   │   ├── InvalidOrigin
    │   │   ├── InvalidHost
    │   │   └── InvalidUpgrade
    │   ├── NegotiationError
    │   │   ├── DuplicateParameter
    │   │   ├── InvalidParameterName
    │   │   └── InvalidParameterValue
    │   ├── AbortHandshake             (legacy API)
    │   ├── CancelHandshake            (legacy API)
    │   └── ProxyError
    │       ├── InvalidProxyMessage
    │       └── InvalidProxyStatus
    ├── InvalidProxy
    ├── ProtocolError                  (alias: WebSocketProtocolError)
    ├── PayloadTooBig
    ├── TooManyFragments
    ├── InvalidState
    └── ConcurrencyError               (also a RuntimeError)

Exceptions carry typed attributes rather than only a message, so that code
handling them never has to parse strings.
"""

from __future__ import annotations

import http
from typing import TYPE_CHECKING, overload

from .datastructures import Headers

if TYPE_CHECKING:
    from .datastructures import HeadersLike
    from .frames import Close
    from .http11 import Response
    from .typing import StatusLike

__all__ = [
    "AbortHandshake",
    "CancelHandshake",
    "ConcurrencyError",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "DuplicateParameter",
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
    "NegotiationError",
    "PayloadTooBig",
    "ProtocolError",
    "ProxyError",
    "SecurityError",
    "TooManyFragments",
    "WebSocketException",
    "WebSocketProtocolError",
]


class WebSocketException(Exception):
    """Base class for every exception that this library raises on purpose."""


class ConnectionClosed(WebSocketException):
    """Raised when reading from or writing to a closed connection.

    The library builds it from the Close frames received and sent. The
    legacy API's form, ``ConnectionClosed(code, reason)``, also works: it
    stands for a Close frame received with that code and reason (none for
    1006, which means no Close frame was received).

    Attributes:
        rcvd: The Close frame received from the peer, or ``None`` if none was
            received (the TCP connection ended without a closing handshake).
        sent: The Close frame sent to the peer, or ``None`` if none was sent.
        rcvd_then_sent: When both frames exist, ``True`` if the peer started
            the closing handshake and ``False`` if this side did; ``None``
            otherwise.
    """

    @overload
    def __init__(
        self,
        rcvd: Close | None,
        sent: Close | None,
        rcvd_then_sent: bool | None = None,
    ) -> None: ...

    @overload
    def __init__(self, code: int, reason: str, /) -> None: ...

    def __init__(
        self,
        rcvd: Close | int | None,
        sent: Close | str | None,
        rcvd_then_sent: bool | None = None,
    ) -> None:
        if isinstance(rcvd, int) or isinstance(sent, str):  # the legacy form: (code, reason)
            if not (isinstance(rcvd, int) and isinstance(sent, str)):
                raise TypeError(
                    "ConnectionClosed takes (rcvd: Close | None, sent: Close | None) "
                    "or (code: int, reason: str)"
                )
            from .frames import Close  # noqa: PLC0415 - frames.py imports this module

            rcvd = None if rcvd == 1006 and not sent else Close(rcvd, sent)
            sent = None
        super().__init__(rcvd, sent, rcvd_then_sent)
        self.rcvd = rcvd
        self.sent = sent
        self.rcvd_then_sent = rcvd_then_sent

    def __str__(self) -> str:
        if self.rcvd is None:
            if self.sent is None:
                return "no close frame received or sent"
            return f"sent {self.sent}; no close frame received"
        if self.sent is None:
            return f"received {self.rcvd}; no close frame sent"
        if self.rcvd_then_sent:
            return f"received {self.rcvd}; then sent {self.sent}"
        return f"sent {self.sent}; then received {self.rcvd}"

    @property
    def code(self) -> int:
        """Close code received from the peer; 1006 when none was received."""
        # 1006 is CloseCode.ABNORMAL_CLOSURE; frames.py imports this module.
        return 1006 if self.rcvd is None else self.rcvd.code

    @property
    def reason(self) -> str:
        """Close reason received from the peer; empty when none was received."""
        return "" if self.rcvd is None else self.rcvd.reason


class ConnectionClosedOK(ConnectionClosed):
    """The connection closed properly: both sides sent 1000, 1001 or no code."""


class ConnectionClosedError(ConnectionClosed):
    """The connection closed with an error code, or without a closing handshake."""


class InvalidURI(WebSocketException):
    """Raised when a string is not a valid ``ws://`` or ``wss://`` URI.

    Its message hides the password of the URI's user information, if
    any, so that logging the exception doesn't leak it. The legacy API's
    form, ``InvalidURI(message)``, also works: the message is then the
    whole text.

    Attributes:
        uri: The string that failed to parse; empty when built from a
            message alone.
        msg: Why it is invalid.
    """

    @overload
    def __init__(self, uri: str, msg: str) -> None: ...

    @overload
    def __init__(self, message: str, /) -> None: ...

    def __init__(self, uri: str, msg: str | None = None) -> None:
        self._legacy = msg is None
        self.uri: str = uri
        self.msg: str = uri if msg is None else msg
        if msg is None:  # the legacy form: a message alone
            super().__init__(uri)
            self.uri = ""
        else:
            super().__init__(uri, msg)

    def __str__(self) -> str:
        if self._legacy:
            return self.msg
        return f"{_hide_password(self.uri)} isn't a valid URI: {self.msg}"


def _hide_password(uri: str) -> str:
    """Replace the password in ``scheme://user:password@host...`` with ``***``."""
    scheme, separator, rest = uri.partition("://")
    if not separator:
        return uri
    end = len(rest)
    for delimiter in "/?#":
        index = rest.find(delimiter)
        if index != -1:
            end = min(end, index)
    user_info, at, host_port = rest[:end].rpartition("@")
    username, colon, _ = user_info.partition(":")
    if not at or not colon:
        return uri
    return f"{scheme}://{username}:***@{host_port}{rest[end:]}"


class InvalidHandshake(WebSocketException):
    """Base class for failures of the opening handshake."""


class SecurityError(InvalidHandshake):
    """Raised when an HTTP message exceeds a limit set for safety.

    Attributes:
        status: The HTTP status a server answers with, e.g. 414 for a request
            line that is too long or 431 for too many or too long headers.
    """

    def __init__(
        self,
        message: str,
        status: http.HTTPStatus = http.HTTPStatus.BAD_REQUEST,
    ) -> None:
        super().__init__(message)
        self.status = status


class InvalidMessage(InvalidHandshake):
    """Raised when a handshake request or response is malformed.

    Attributes:
        status: The HTTP status a server answers a malformed request with:
            400 in general, 405 for a method other than GET, 505 for an HTTP
            version other than 1.1.
    """

    def __init__(
        self,
        message: str = "",
        status: http.HTTPStatus = http.HTTPStatus.BAD_REQUEST,
    ) -> None:
        super().__init__(message)
        self.status = status


class InvalidStatusCode(InvalidHandshake):
    """Raised when a handshake response has a status other than 101.

    This is the name the legacy API used; :class:`InvalidStatus`, which the
    client raises, derives from it so ``except InvalidStatusCode`` keeps
    working.

    Attributes:
        status_code: The HTTP status code of the response.
        headers: The headers of the response, when known.
    """

    def __init__(self, status_code: int, headers: Headers | None = None) -> None:
        super().__init__(status_code, headers)
        self.status_code = status_code
        self.headers = headers

    def __str__(self) -> str:
        return f"server rejected WebSocket connection: HTTP {self.status_code}"


class InvalidStatus(InvalidStatusCode):
    """Raised when a handshake response rejects the WebSocket upgrade.

    Attributes:
        response: The whole HTTP response, body included.
    """

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code, response.headers)
        self.response = response


class InvalidHeader(InvalidHandshake):
    """Raised when an HTTP header is missing or has an invalid value.

    Attributes:
        name: The header name.
        value: The header value; ``None`` when the header is missing.
    """

    def __init__(self, name: str, value: str | None = None) -> None:
        super().__init__(name, value)
        self.name = name
        self.value = value

    def __str__(self) -> str:
        if self.value is None:
            return f"missing {self.name} header"
        if self.value == "":
            return f"empty {self.name} header"
        return f"invalid {self.name} header: {self.value}"


class InvalidHeaderFormat(InvalidHeader):
    """Raised when a header cannot be parsed.

    Args:
        name: The header name.
        error: What the parser expected.
        string: The whole header value.
        pos: The position in ``string`` where parsing failed.

    Attributes:
        error: What the parser expected.
        header: The whole header value.
        pos: The position in ``header`` where parsing failed.
    """

    def __init__(self, name: str, error: str, string: str, pos: int) -> None:
        super().__init__(name, f"{error} at {pos} in {string}")
        self.error = error
        self.header = string
        self.pos = pos


class InvalidHeaderValue(InvalidHeader):
    """Raised when a header parses but its value is not acceptable."""


class InvalidOrigin(InvalidHeader):
    """Raised when the ``Origin`` header of a request is not allowed.

    Attributes:
        origin: The origin the client sent, or ``None`` if it sent none.
    """

    def __init__(self, origin: str | None) -> None:
        super().__init__("Origin", origin)
        self.origin = origin


class InvalidHost(InvalidHeader):
    """Raised when the ``Host`` header of a request names a host that isn't served.

    A server with ``hosts`` set answers it with 421 Misdirected Request.

    Attributes:
        host: The ``Host`` header the client sent.
    """

    def __init__(self, host: str) -> None:
        super().__init__("Host", host)
        self.host = host


class InvalidUpgrade(InvalidHeader):
    """Raised when the ``Upgrade`` or ``Connection`` header is wrong."""


class NegotiationError(InvalidHandshake):
    """Raised when negotiating an extension or a subprotocol fails."""


class DuplicateParameter(NegotiationError):
    """Raised when an extension parameter appears more than once.

    Attributes:
        name: The repeated parameter.
    """

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"duplicate parameter: {self.name}"


class InvalidParameterName(NegotiationError):
    """Raised when an extension parameter has an unknown name.

    Attributes:
        name: The unknown parameter.
    """

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"invalid parameter name: {self.name}"


class InvalidParameterValue(NegotiationError):
    """Raised when an extension parameter has an invalid value.

    Attributes:
        name: The parameter.
        value: Its value; ``None`` when it has none but needs one.
    """

    def __init__(self, name: str, value: str | None) -> None:
        super().__init__(name, value)
        self.name = name
        self.value = value

    def __str__(self) -> str:
        if self.value is None:
            return f"missing value for parameter {self.name}"
        if self.value == "":
            return f"empty value for parameter {self.name}"
        return f"invalid value for parameter {self.name}: {self.value}"


class AbortHandshake(InvalidHandshake):
    """Raised by a ``process_request`` hook to answer with an HTTP response.

    This is the legacy way of rejecting a handshake; returning a
    :class:`~websockets_typed.http11.Response` from ``process_request`` is
    the modern one. Both work.

    Attributes:
        status: The HTTP status to answer with.
        headers: The response headers.
        body: The response body.
    """

    def __init__(
        self,
        status: StatusLike,
        headers: HeadersLike,
        body: bytes = b"",
    ) -> None:
        self.status: http.HTTPStatus = http.HTTPStatus(status)
        self.headers: Headers = Headers(headers)
        self.body = body
        super().__init__(f"HTTP {self.status:d}, {len(self.headers)} headers, {len(body)} bytes")


class CancelHandshake(InvalidHandshake):
    """Raised when the connection closes before the opening handshake ends."""


class ProtocolError(WebSocketException):
    """Raised when the peer, or the local application, breaks RFC 6455."""


WebSocketProtocolError = ProtocolError
"""The legacy name of :class:`ProtocolError`."""


class PayloadTooBig(WebSocketException):
    """Raised when a message exceeds ``max_size``.

    The library builds it from the limit and the size. The legacy API's
    form, ``PayloadTooBig(message)``, also works: the message is then the
    whole text, and both attributes are ``None``.

    Attributes:
        max_size: The limit, in bytes; ``None`` when built from a message.
        size: The size that exceeded it, when known. It is unknown while
            inflating a compressed message, which stops as soon as the
            limit is crossed.
    """

    @overload
    def __init__(self, max_size: int, size: int | None = None) -> None: ...

    @overload
    def __init__(self, message: str, /) -> None: ...

    def __init__(self, max_size: int | str, size: int | None = None) -> None:
        self.max_size: int | None = None
        self._message = ""
        if isinstance(max_size, str):  # the legacy form: a message alone
            super().__init__(max_size)
            self._message = max_size
        else:
            super().__init__(max_size, size)
            self.max_size = max_size
        self.size = size

    def __str__(self) -> str:
        if self.max_size is None:
            return self._message
        if self.size is None:
            return f"message exceeds the limit of {self.max_size} bytes"
        return f"message of {self.size} bytes exceeds the limit of {self.max_size} bytes"


class TooManyFragments(WebSocketException):
    """Raised when a message is split into more than ``max_fragments`` frames.

    A flood of tiny or empty fragments could otherwise keep one message
    unfinished forever, each fragment costing a frame's worth of work and
    memory. The connection fails with 1009 (message too big).

    Attributes:
        max_fragments: The limit, in frames per message.
    """

    def __init__(self, max_fragments: int) -> None:
        super().__init__(max_fragments)
        self.max_fragments = max_fragments

    def __str__(self) -> str:
        return f"message has more than {self.max_fragments} fragments"


class InvalidState(WebSocketException, AssertionError):
    """Raised when an operation is not allowed in the connection's state.

    It derives from :class:`AssertionError` because it always reveals a bug
    in the calling code, never a fault of the peer.
    """


class ConcurrencyError(WebSocketException, RuntimeError):
    """Raised when two coroutines use a connection in a way that conflicts.

    For example, two coroutines calling ``recv()`` at the same time.
    """


class InvalidProxy(WebSocketException):
    """Raised when a proxy URL is not valid, or names an unsupported scheme.

    Like :class:`InvalidURI`, its message hides the password of the URL's
    user information.

    Attributes:
        proxy: The proxy URL that failed to parse.
        msg: Why it is invalid.
    """

    def __init__(self, proxy: str, msg: str) -> None:
        super().__init__(proxy, msg)
        self.proxy = proxy
        self.msg = msg

    def __str__(self) -> str:
        return f"{_hide_password(self.proxy)} isn't a valid proxy: {self.msg}"


class ProxyError(InvalidHandshake):
    """Raised when connecting through a proxy fails.

    A SOCKS proxy's refusal is a :class:`ProxyError` whose ``__cause__`` is
    the error of ``python-socks``; an HTTP proxy's is one of the subclasses.
    Network errors reaching the proxy remain :class:`OSError`.
    """


class InvalidProxyMessage(ProxyError):
    """Raised when an HTTP proxy answers ``CONNECT`` with a malformed response,
    or closes the connection without answering.

    The parsing error, e.g. an :class:`InvalidMessage`, is its ``__cause__``.
    """


class InvalidProxyStatus(ProxyError):
    """Raised when an HTTP proxy answers ``CONNECT`` with a status other than 2xx,
    e.g. 403 (forbidden destination) or 407 (authentication required).

    Attributes:
        response: The proxy's whole response, body included.
    """

    def __init__(self, response: Response) -> None:
        super().__init__(response)
        self.response = response

    def __str__(self) -> str:
        return f"proxy rejected connection: HTTP {self.response.status_code:d}"

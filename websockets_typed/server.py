"""The server side of the sans-I/O WebSocket protocol."""

from __future__ import annotations

import email.utils
import http
import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar, Final, TypeAlias, cast

from ._defaults import MAX_FRAGMENTS, MAX_SIZE
from ._usual_handshake import UsualRequest, usual_request, usual_response
from .datastructures import Headers, MultipleValuesError
from .exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidHost,
    InvalidMessage,
    InvalidOrigin,
    InvalidState,
    InvalidStatus,
    InvalidUpgrade,
    NegotiationError,
    SecurityError,
)
from .extensions.base import Extension, ServerExtensionFactory
from .handshake import accept_key, check_request
from .headers import build_extension, parse_extension, parse_subprotocol, validate_subprotocols
from .http11 import (
    MAX_LINE_LENGTH,
    MAX_NUM_HEADERS,
    Request,
    RequestParser,
    Response,
    parse_whole_request,
)
from .protocol import CONNECTING, SERVER, Protocol, State, Transition
from .typing import ExtensionHeader, LoggerLike, Origin, SequenceNotStr, StatusLike, Subprotocol

if TYPE_CHECKING:
    from .legacy.server import WebSocketServer, WebSocketServerProtocol, serve, unix_serve

__all__ = [
    "OriginLike",
    "SelectSubprotocol",
    "ServerProtocol",
    "WebSocketServer",
    "WebSocketServerProtocol",
    "serve",
    "unix_serve",
]

OriginLike: TypeAlias = "str | re.Pattern[str] | None"
"""An acceptable origin: an exact value, a pattern it must match in full, or
``None`` for requests without an ``Origin`` header (not from a browser)."""

SelectSubprotocol: TypeAlias = (
    "Callable[[ServerProtocol, Sequence[Subprotocol]], Subprotocol | str | None]"
)
"""A hook that picks a subprotocol among those the client offers."""

# RFC 7230, 5.4 and RFC 3986, 3.2.2: Host = uri-host [ ":" port ], where
# uri-host is a name or an IPv4 address, without delimiters or spaces, or an
# IPv6 address in brackets.
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\s:/?#\[\]@]+)(?::([0-9]*))?")

# Text that ends every rejection of a request which is not a WebSocket
# handshake: the most common cause is a browser opening the URL.
_NOT_A_WEBSOCKET_CLIENT = (
    "You cannot access a WebSocket server directly with a browser. You need a WebSocket client.\n"
)


# The lines of the headers of a 101 response up to the value of its
# Sec-WebSocket-Accept, for its Date; printable ASCII.
_USUAL_LINES: Final = (
    "Date: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
)

# Globals: reading a member through its Enum class costs about a thousand
# instructions in Python 3.11 (see protocol.py).
_REQUEST_RECEIVED: Final = Transition.REQUEST_RECEIVED
_OPENING_HANDSHAKE_COMPLETED: Final = Transition.OPENING_HANDSHAKE_COMPLETED

# The methods that decide on a request: when a subclass overrides one, every
# request goes through them, and none takes the shortcut of the usual
# handshake (see _usual_handshake).
_DECIDING_METHODS: Final = frozenset(
    {
        "process_request",
        "process_host",
        "process_origin",
        "process_extensions",
        "process_subprotocol",
        "select_subprotocol",
    }
)

# The second of the last response, its Date header, and _USUAL_LINES with it.
_date_cache: tuple[int, str, bytes] = (-1, "", b"")


def _dated() -> tuple[int, str, bytes]:
    """The current second, its ``Date`` header (RFC 9110, 6.6.1), and the 101's lines up to Accept.

    Built once per second rather than once per response: formatting them
    costs about 5% of a handshake (bench/run.py --callgrind, S4).
    """
    global _date_cache  # noqa: PLW0603 - a cache shared by every connection
    now = int(time.time())
    cache = _date_cache
    if cache[0] != now:
        date = email.utils.formatdate(now, usegmt=True)
        cache = _date_cache = (now, date, (_USUAL_LINES % date).encode())
    return cache


def _http_date() -> str:
    """The current date for a ``Date`` header (RFC 9110, 6.6.1)."""
    return _dated()[1]


class ServerProtocol(Protocol):
    """Sans-I/O implementation of the server side of a WebSocket connection.

    Args:
        origins: Acceptable ``Origin`` header values; include ``None`` to
            accept requests without one. ``None`` (the default) skips the
            check. Checking origins defends against Cross-Site WebSocket
            Hijacking.
        hosts: Acceptable ``Host`` header values, e.g. ``"example.com"``
            or ``"example.com:8443"``; a name without a port accepts any
            port. Names compare without regard to case. Other hosts get 421
            Misdirected Request; a missing or repeated ``Host`` header gets
            400. ``None`` (the default) skips the check. Checking hosts
            defends against DNS rebinding.
        extensions: Supported extensions, in order of preference.
        subprotocols: Supported subprotocols, in order of preference.
        select_subprotocol: Replaces :meth:`select_subprotocol`; it receives
            this protocol and the subprotocols the client offers.
        state: Initial state.
        max_size: Largest incoming message in bytes; ``None`` for no limit.
        max_fragments: Largest number of frames in an incoming message;
            ``None`` for no limit.
        logger: Logger for this connection.

    Raises:
        TypeError: If ``subprotocols`` or ``hosts`` is a ``str`` rather than
            a list.
        ValueError: If a subprotocol is not a token, or a host is not
            ``host[:port]``.

    Attributes:
        origin: The ``Origin`` of the request, once accepted.
        hosts: Acceptable ``Host`` header values; ``None`` skips the check.
        available_extensions: Supported extensions.
        available_subprotocols: Supported subprotocols.
    """

    __slots__ = (
        "_head_request",
        "_hosts",
        "_request_parser",
        "_response_sent",
        "_select_subprotocol_hook",
        "_usual",
        "available_extensions",
        "available_subprotocols",
        "hosts",
        "origin",
        "origins",
    )

    # Redeclared so that type checkers don't infer narrower types from the
    # assignments in this class.
    extensions: list[Extension]
    subprotocol: Subprotocol | None
    handshake_exc: Exception | None

    # Whether requests may take the shortcut of the usual handshake: False
    # in subclasses that override a deciding method.
    _usual_class: ClassVar[bool] = True

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        if not _DECIDING_METHODS.isdisjoint(vars(cls)):
            cls._usual_class = False

    def __init__(
        self,
        *,
        origins: Sequence[OriginLike] | None = None,
        extensions: Sequence[ServerExtensionFactory] | None = None,
        subprotocols: SequenceNotStr[str] | None = None,
        select_subprotocol: SelectSubprotocol | None = None,
        hosts: Sequence[str] | None = None,
        state: State = CONNECTING,
        max_size: int | None = MAX_SIZE,
        max_fragments: int | None = MAX_FRAGMENTS,
        logger: LoggerLike | None = None,
    ) -> None:
        # Not through super(): one object fewer per connection (bench/run.py, S4).
        Protocol.__init__(
            self, SERVER, state=state, max_size=max_size, max_fragments=max_fragments, logger=logger
        )
        if subprotocols is not None:
            validate_subprotocols(subprotocols)
        self.origins: Sequence[OriginLike] | None = origins
        if isinstance(hosts, str):
            raise TypeError("hosts must be a list of str, not a str")
        self.hosts: Sequence[str] | None = hosts
        self._hosts: list[tuple[str, str | None]] | None = (
            None if hosts is None else [_split_host(host) for host in hosts]
        )
        self.available_extensions: Sequence[ServerExtensionFactory] = extensions or ()
        self.available_subprotocols: Sequence[Subprotocol] = (
            [Subprotocol(subprotocol) for subprotocol in subprotocols] if subprotocols else []
        )
        self._select_subprotocol_hook = select_subprotocol
        self.origin: Origin | None = None
        # Made only if the request doesn't come whole in the first read (see
        # _parse_handshake), and released once it is parsed: a connection
        # lives long after its handshake (bench/run.py, S4 and S5).
        self._request_parser: RequestParser | None = None
        self._response_sent = False
        self._head_request = False
        # The usual request, recognized by the parser, until accept() answers it.
        self._usual: UsualRequest | None = None

    # Opening handshake.

    def accept(self, request: Request) -> Response:
        """Build the response to a handshake request.

        When the request is acceptable, the response is a 101 that completes
        the handshake. Otherwise it rejects the handshake with 400 (invalid
        request), 403 (origin not allowed), 405 (a ``HEAD`` or ``POST``
        request), 421 (host not served), 426 (not a WebSocket request, or an
        unsupported protocol version) or 500 (unexpected error), and
        :attr:`handshake_exc` says why.

        Send the response with :meth:`send_response`, after modifying it if
        needed, e.g. to add headers.
        """
        usual = self._usual
        if usual is not None:
            self._usual = None
            # The request that the parser recognized as usual, whose
            # headers didn't change since (see _usual_handshake)?
            items = request.headers._list  # pyright: ignore[reportPrivateUsage]
            if usual[0] is not request or usual[3] is not items or usual[4] != len(items):
                usual = None
        if request.method != "GET":
            # RFC 6455, 4.1: only a GET opens a WebSocket connection.
            response = self._reject_with(
                InvalidMessage(f"unsupported HTTP method: {request.method}"),
                http.HTTPStatus.METHOD_NOT_ALLOWED,
            )
            response.headers["Allow"] = "GET"
            return response
        try:
            if usual is None:
                key, extensions_header, protocol_header = self.process_request(request)
                accept = accept_key(key)
            else:
                accept = usual[1]
                extensions_header, protocol_header = self._process_usual(request, usual[2])
        except InvalidOrigin as exc:
            return self._reject_with(exc, http.HTTPStatus.FORBIDDEN)
        except InvalidHost as exc:
            return self._reject_with(exc, http.HTTPStatus.MISDIRECTED_REQUEST)
        except InvalidUpgrade as exc:
            response = self._reject_with(
                exc, http.HTTPStatus.UPGRADE_REQUIRED, _NOT_A_WEBSOCKET_CLIENT
            )
            response.headers["Upgrade"] = "websocket"
            return response
        except InvalidHeaderValue as exc:
            if exc.name != "Sec-WebSocket-Version":
                return self._reject_with(exc, http.HTTPStatus.BAD_REQUEST)
            # RFC 6455, 4.2.2: answer an unsupported version with the
            # versions this server supports.
            response = self._reject_with(exc, http.HTTPStatus.UPGRADE_REQUIRED)
            response.headers["Sec-WebSocket-Version"] = "13"
            return response
        except InvalidHandshake as exc:
            return self._reject_with(exc, http.HTTPStatus.BAD_REQUEST)
        except Exception as exc:
            # A bug, most likely in an extension factory or a hook.
            self.logger.error("opening handshake failed", exc_info=True)
            self.handshake_exc = exc
            return self.reject(
                http.HTTPStatus.INTERNAL_SERVER_ERROR,
                "Failed to open a WebSocket connection.\nSee server log for more information.\n",
            )

        # The headers that build_response() adds after Date, as it adds
        # them, and their lines, without a call per header (bench/run.py, S4).
        _, date, lines = _dated()
        response = usual_response(accept, date, lines)
        if extensions_header is not None:
            response.headers["Sec-WebSocket-Extensions"] = extensions_header
        if protocol_header is not None:
            response.headers["Sec-WebSocket-Protocol"] = protocol_header
        return response

    def _process_usual(
        self, request: Request, origin: Origin | None
    ) -> tuple[str | None, str | None]:
        """:meth:`process_request` for the usual request, whose key passed :func:`check_request`.

        The other checks run as there, and raise the same errors, when this
        server has something to check (hosts, origins, extensions offered,
        subprotocols): the usual server has none (bench/micro.py, S4).

        Returns:
            The values of the ``Sec-WebSocket-Extensions`` and
            ``Sec-WebSocket-Protocol`` response headers (``None`` to omit them).
        """
        headers = request.headers
        fields = headers._dict  # pyright: ignore[reportPrivateUsage]
        if self._hosts is not None or self.origins is not None:
            self.process_host(headers)
            origin = self.process_origin(headers)
        self.origin = origin
        extensions_header = None
        if self.available_extensions and "sec-websocket-extensions" in fields:
            extensions_header, self.extensions = self.process_extensions(headers)
        if (
            self.available_subprotocols
            or self._select_subprotocol_hook is not None
            or "sec-websocket-protocol" in fields
        ):
            self.subprotocol = self.process_subprotocol(headers)
        return extensions_header, self.subprotocol

    def _reject_with(
        self, exc: InvalidHandshake, status: http.HTTPStatus, advice: str = ""
    ) -> Response:
        """Record why the handshake failed and build the response that says so."""
        self.handshake_exc = exc
        if self._debug:
            self.logger.debug("! invalid handshake request: %s", exc)
        text = f"Failed to open a WebSocket connection: {exc}.\n"
        # The message may quote a header value, whose bytes 0x80-0xFF are
        # lone surrogates (surrogateescape): escape them, or encoding fails.
        text = text.encode(errors="backslashreplace").decode()
        return self.reject(status, f"{text}\n{advice}" if advice else text)

    def process_request(self, request: Request) -> tuple[str, str | None, str | None]:
        """Check a handshake request and negotiate extensions and subprotocol.

        Returns:
            The ``Sec-WebSocket-Key``, and the values of the
            ``Sec-WebSocket-Extensions`` and ``Sec-WebSocket-Protocol``
            response headers (``None`` to omit them).

        Raises:
            InvalidHandshake: If the handshake must fail.
        """
        headers = request.headers
        self.process_host(headers)
        key = check_request(headers)
        self.origin = self.process_origin(headers)
        extensions_header, self.extensions = self.process_extensions(headers)
        self.subprotocol = self.process_subprotocol(headers)
        return key, extensions_header, self.subprotocol

    def process_origin(self, headers: Headers) -> Origin | None:
        """Check the ``Origin`` header against :attr:`origins`.

        Raises:
            InvalidHeader: If there are several ``Origin`` headers.
            InvalidOrigin: If the origin is not allowed.
        """
        # RFC 6454, 7.3: at most one Origin header.
        try:
            value = headers.get("Origin")
        except MultipleValuesError:
            raise InvalidHeader("Origin", "multiple values") from None
        origin = None if value is None else Origin(value)
        if self.origins is None:
            return origin
        for allowed in self.origins:
            if allowed is None or isinstance(allowed, str):
                if origin == allowed:
                    return origin
            elif origin is not None and allowed.fullmatch(origin):
                return origin
        raise InvalidOrigin(origin)

    def process_host(self, headers: Headers) -> None:
        """Check the ``Host`` header against :attr:`hosts`, if set.

        Raises:
            InvalidHeader: If the ``Host`` header is missing, repeated, or
                not ``host[:port]`` (RFC 7230, 5.4: a server answers 400).
            InvalidHost: If the host is not one of :attr:`hosts`.
        """
        if self._hosts is None:
            return
        try:
            value = headers["Host"]
        except KeyError:
            raise InvalidHeader("Host") from None
        except MultipleValuesError:
            raise InvalidHeader("Host", "multiple values") from None
        try:
            host, port = _split_host(value)
        except ValueError:
            raise InvalidHeader("Host", value) from None
        for allowed_host, allowed_port in self._hosts:
            if allowed_host == host and allowed_port in (None, port):
                return
        raise InvalidHost(value)

    def process_extensions(self, headers: Headers) -> tuple[str | None, list[Extension]]:
        """Negotiate extensions (RFC 6455, 9.1).

        Offers are considered in the client's order; for each, the server's
        factories with that name are tried in the server's order, and the
        first that accepts wins. An offer no factory accepts is skipped.

        Returns:
            The ``Sec-WebSocket-Extensions`` response header (``None`` if no
            extension was accepted) and the negotiated extensions.

        Raises:
            InvalidHandshake: If the header cannot be parsed.
        """
        response: list[ExtensionHeader] = []
        accepted: list[Extension] = []
        if not self.available_extensions:
            return None, accepted
        header_values = headers.get_all("Sec-WebSocket-Extensions")
        if not header_values:
            return None, accepted
        offers = [offer for value in header_values for offer in parse_extension(value)]
        for name, request_params in offers:
            for factory in self.available_extensions:
                if factory.name != name:
                    continue
                try:
                    response_params, extension = factory.process_request_params(
                        request_params, accepted
                    )
                except NegotiationError:
                    continue
                response.append((name, response_params))
                accepted.append(extension)
                break
        if not response:
            return None, accepted
        return build_extension(response), accepted

    def process_subprotocol(self, headers: Headers) -> Subprotocol | None:
        """Negotiate the subprotocol with :meth:`select_subprotocol`.

        Raises:
            InvalidHandshake: If the header cannot be parsed, or if no
                subprotocol is acceptable.
        """
        values = headers.get_all("Sec-WebSocket-Protocol")
        offered = (
            [subprotocol for value in values for subprotocol in parse_subprotocol(value)]
            if values
            else []
        )
        if self._select_subprotocol_hook is not None:
            selected = self._select_subprotocol_hook(self, offered)
        else:
            selected = self.select_subprotocol(offered)
        if selected is None:
            return None
        if not isinstance(cast("object", selected), str):
            # A bug in the hook, not in the request: 500, logged at ERROR.
            raise TypeError(f"select_subprotocol returned {type(selected).__name__}, not str")
        if selected not in offered:
            raise NegotiationError(f"selected subprotocol {selected!r} wasn't offered")
        return Subprotocol(selected)

    def select_subprotocol(self, subprotocols: Sequence[Subprotocol]) -> Subprotocol | None:
        """Pick a subprotocol among those the client offers.

        The first subprotocol of :attr:`available_subprotocols` that the
        client offers wins. Without available subprotocols, the connection
        goes on without one, whatever the client offers. If the server has
        subprotocols and the client offers none of them, the handshake fails
        with 400.

        Pass ``select_subprotocol`` to the constructor to change this rule;
        for example, to accept clients that offer no subprotocol::

            def select_subprotocol(protocol, subprotocols):
                if "chat" in subprotocols:
                    return "chat"
                return None

        Raises:
            NegotiationError: If no subprotocol is acceptable. A custom
                implementation may raise it too, to fail with 400.
        """
        if not self.available_subprotocols:
            return None
        if not subprotocols:
            raise NegotiationError("missing subprotocol")
        for subprotocol in self.available_subprotocols:
            if subprotocol in subprotocols:
                return subprotocol
        expected = ", ".join(self.available_subprotocols)
        raise NegotiationError(f"invalid subprotocol; expected one of {expected}")

    def reject(self, status: StatusLike, text: str) -> Response:
        """Build a response that rejects the handshake with a short text.

        Send it with :meth:`send_response`, after modifying it if needed.

        Args:
            status: HTTP status code.
            text: Body of the response; encoded to UTF-8.
        """
        try:
            status = http.HTTPStatus(status)
            code, phrase = status.value, status.phrase
        except ValueError:
            code, phrase = int(status), ""
        body = text.encode()
        headers = Headers()
        headers["Date"] = _http_date()
        headers["Connection"] = "close"
        headers["Content-Length"] = str(len(body))
        headers["Content-Type"] = "text/plain; charset=utf-8"
        return Response(code, phrase, headers, body)

    def send_response(self, response: Response) -> None:
        """Send the handshake response.

        A 101 response opens the connection. Any other status rejects the
        handshake: the server closes the TCP connection after the response.

        Raises:
            InvalidState: If a response was sent already or the connection
                is not CONNECTING.
            ValueError: If the response cannot be serialized, e.g. a header
                value holds CR or LF; nothing is sent then, and another
                response may be.
        """
        if self._response_sent or self._state is not CONNECTING:
            raise InvalidState(
                f"cannot send a handshake response: connection is {self._state.name}"
            )
        # Serialized first: a response that could inject lines into the
        # stream is refused before anything changes.
        data = response.serialize()
        if self._head_request and response.body:
            # RFC 9110, 9.3.2: the response to HEAD has the headers of the
            # response to GET, Content-Length included, and no body.
            data = data[: -len(response.body)]
        self._response_sent = True
        if self._debug:
            status = f"HTTP/1.1 {response.status_code} {response.reason_phrase}"
            self._log_message(">", status, response.headers)
        self._writes.append(data)
        if response.status_code == 101:
            self._transition(_OPENING_HANDSHAKE_COMPLETED)
            # Checked first: a disabled call through a LoggerAdapter costs
            # three times the check (bench/run.py, S4).
            if self.logger.isEnabledFor(logging.INFO):
                self.logger.info("connection open")
            # Frames that arrived with or right after the request.
            if self._buffer:
                self._parse_frames()
        else:
            # handshake_exc is None if and only if the handshake succeeded.
            if self.handshake_exc is None:
                self.handshake_exc = InvalidStatus(response)
            self.logger.info(
                "connection rejected (%d %s)", response.status_code, response.reason_phrase
            )
            self._stop_parsing()
            self._send_eof()

    # Parsing.

    def _parse_handshake(self) -> None:
        # Reading the handshake: the request hasn't been parsed yet.
        parser = self._request_parser
        if parser is None and self._usual_class:
            # Usually, the whole request in the first read, and usual: one
            # call parses and checks it (bench/micro.py --callgrind, S4).
            usual = usual_request(self._buffer, MAX_LINE_LENGTH, MAX_NUM_HEADERS)
            if usual is not None:
                self._usual = usual
                self._request_received(usual[0])
                return
        try:
            if parser is None:
                # Usually, the whole request in the first read: no parser.
                request = parse_whole_request(self._buffer)
                if request is None:
                    parser = self._request_parser = RequestParser()
                    request = parser.parse(self._buffer)
            else:
                request = parser.parse(self._buffer)
        except (InvalidMessage, SecurityError) as exc:
            self._reject_malformed(exc)
            return
        if request is None:
            return
        # No stage reads a handshake after the request (see _STAGES).
        self._request_parser = None
        self._head_request = request.method == "HEAD"
        self._request_received(request)

    def _request_received(self, request: Request) -> None:
        """Log the request, make it an event, and wait for the response."""
        if self._debug:
            self._log_message("<", f"{request.method} {request.path} HTTP/1.1", request.headers)
        self._events.append(request)
        # Keep what follows until the application sends its response.
        self._transition(_REQUEST_RECEIVED)

    def _reject_malformed(self, exc: InvalidMessage | SecurityError) -> None:
        """Answer a request that cannot be parsed, then close."""
        response = self._reject_with(exc, exc.status)
        if exc.status is http.HTTPStatus.METHOD_NOT_ALLOWED:
            response.headers["Allow"] = "GET"
        self.send_response(response)

    def _receive_eof_in_handshake(self) -> None:
        parser = self._request_parser or RequestParser()
        try:
            parser.parse_eof(self._buffer)
        except InvalidMessage as exc:
            self.handshake_exc = exc


def _split_host(value: str) -> tuple[str, str | None]:
    """Split ``host[:port]`` into the lowercased host and the port, if any.

    Raises:
        ValueError: If ``value`` is not ``host[:port]``.
    """
    match = _HOST_PORT.fullmatch(value)
    if match is None:
        raise ValueError(f"invalid host: {value!r}")
    return match[1].lower(), match[2] or None


# Seed 001's high-level names live in websockets_typed.legacy, which imports
# this module: they are imported on first use, not here, to avoid a cycle.
_LEGACY_NAMES = frozenset({"WebSocketServerProtocol", "serve", "WebSocketServer", "unix_serve"})


def __getattr__(name: str) -> object:
    """Import seed 001's serve, unix_serve and their classes on first use."""
    if name in _LEGACY_NAMES:
        from .legacy import server as legacy  # noqa: PLC0415

        return getattr(legacy, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

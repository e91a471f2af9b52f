"""The client side of the sans-I/O WebSocket protocol."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .datastructures import Headers, MultipleValuesError
from .exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidMessage,
    InvalidState,
    InvalidStatus,
    NegotiationError,
    SecurityError,
)
from .extensions.base import ClientExtensionFactory, Extension
from .handshake import check_response, generate_key
from .headers import (
    build_authorization_basic,
    build_extension,
    build_host,
    build_subprotocol,
    parse_extension,
    parse_subprotocol,
    validate_subprotocols,
)
from .http11 import Request, Response, ResponseParser, _loggable
from .protocol import CLIENT, CONNECTING, Protocol, State, Transition, _Stage
from .typing import LoggerLike, Origin, Subprotocol
from .uri import WebSocketURI

if TYPE_CHECKING:
    from .legacy.client import WebSocketClientProtocol, connect

__all__ = ["ClientProtocol", "WebSocketClientProtocol", "connect"]


class ClientProtocol(Protocol):
    """Sans-I/O implementation of the client side of a WebSocket connection.

    Args:
        uri: The URI to connect to, from :func:`~websockets_typed.uri.parse_uri`.
        origin: Value of the ``Origin`` header, for servers that check it.
        extensions: Extensions to offer, in order of preference.
        subprotocols: Subprotocols to offer, in order of preference.
        state: Initial state.
        max_size: Largest incoming message in bytes; ``None`` for no limit.
        max_fragments: Largest number of frames in an incoming message;
            ``None`` for no limit.
        logger: Logger for this connection.

    Attributes:
        wsuri: The URI to connect to.
        origin: The ``Origin`` header sent, if any.
        key: The ``Sec-WebSocket-Key`` of the handshake request.
        available_extensions: Extensions offered.
        available_subprotocols: Subprotocols offered.
    """

    __slots__ = (
        "_request_sent",
        "_response_parser",
        "available_extensions",
        "available_subprotocols",
        "key",
        "origin",
        "wsuri",
    )

    # Redeclared so that type checkers don't infer narrower types from the
    # assignments in this class.
    extensions: list[Extension]
    subprotocol: Subprotocol | None
    handshake_exc: Exception | None

    def __init__(
        self,
        uri: WebSocketURI,
        *,
        origin: str | None = None,
        extensions: Sequence[ClientExtensionFactory] | None = None,
        subprotocols: Sequence[str] | None = None,
        state: State = CONNECTING,
        max_size: int | None = 2**20,
        max_fragments: int | None = 2**16,
        logger: LoggerLike | None = None,
    ) -> None:
        super().__init__(
            CLIENT, state=state, max_size=max_size, max_fragments=max_fragments, logger=logger
        )
        if subprotocols is not None:
            validate_subprotocols(subprotocols)
        self.wsuri: WebSocketURI = uri
        self.origin: Origin | None = None if origin is None else Origin(origin)
        self.available_extensions: Sequence[ClientExtensionFactory] = extensions or ()
        self.available_subprotocols: Sequence[Subprotocol] = [
            Subprotocol(subprotocol) for subprotocol in subprotocols or ()
        ]
        self.key: str = generate_key()
        self._response_parser = ResponseParser()
        self._request_sent = False
        if state is CONNECTING:
            self._stage = _Stage.HANDSHAKE

    # Opening handshake.

    def connect(self) -> Request:
        """Build the handshake request.

        Send it with :meth:`send_request`, after modifying it if needed, e.g.
        to add headers.
        """
        uri = self.wsuri
        headers = Headers()
        headers["Host"] = build_host(uri.host, uri.port, uri.secure)
        if uri.user_info is not None:
            headers["Authorization"] = build_authorization_basic(*uri.user_info)
        if self.origin is not None:
            headers["Origin"] = self.origin
        headers["Upgrade"] = "websocket"
        headers["Connection"] = "Upgrade"
        headers["Sec-WebSocket-Key"] = self.key
        headers["Sec-WebSocket-Version"] = "13"
        if self.available_extensions:
            headers["Sec-WebSocket-Extensions"] = build_extension(
                [
                    (factory.name, factory.get_request_params())
                    for factory in self.available_extensions
                ]
            )
        if self.available_subprotocols:
            headers["Sec-WebSocket-Protocol"] = build_subprotocol(self.available_subprotocols)
        return Request(uri.resource_name, headers)

    def send_request(self, request: Request) -> None:
        """Send the handshake request.

        Raises:
            InvalidState: If a request was sent already or the connection is
                not CONNECTING.
            ValueError: If the request cannot be serialized, e.g. a header
                value holds CR or LF; nothing is sent then.
        """
        if self._request_sent or self._state is not CONNECTING:
            raise InvalidState(f"cannot send a handshake request: connection is {self._state.name}")
        # Serialized first: a request that could inject lines into the
        # stream is refused before anything changes.
        data = request.serialize()
        self._request_sent = True
        if self._debug:
            self.logger.debug("> GET %s HTTP/1.1", request.path)
            for name, value in request.headers.raw_items():
                self.logger.debug("> %s: %s", name, _loggable(name, value))
        self._writes.append(data)

    def process_response(self, response: Response) -> None:
        """Check the handshake response and complete the negotiations.

        Raises:
            InvalidStatus: If the status is not 101.
            InvalidHandshake: If the response is not a valid handshake
                response for this request (RFC 6455, 4.1).
        """
        if response.status_code != 101:
            raise InvalidStatus(response)
        headers = response.headers
        check_response(headers, self.key)
        self.extensions = self.process_extensions(headers)
        self.subprotocol = self.process_subprotocol(headers)

    def process_extensions(self, headers: Headers) -> list[Extension]:
        """Accept the extensions the server selected (RFC 6455, 9.1).

        Each extension in the response must be accepted by one of the
        factories offered with that name.

        Raises:
            InvalidHandshake: If the header cannot be parsed, or if it names
                an extension that was not offered or with parameters that
                the matching factories reject.
        """
        accepted: list[Extension] = []
        header_values = headers.get_all("Sec-WebSocket-Extensions")
        if not header_values:
            return accepted
        if not self.available_extensions:
            raise NegotiationError("no extensions supported")
        selected = [extension for value in header_values for extension in parse_extension(value)]
        for name, response_params in selected:
            for factory in self.available_extensions:
                if factory.name != name:
                    continue
                try:
                    extension = factory.process_response_params(response_params, accepted)
                except NegotiationError:
                    continue
                accepted.append(extension)
                break
            else:
                raise NegotiationError(
                    f"unsupported extension: name = {name}, params = {response_params}"
                )
        return accepted

    def process_subprotocol(self, headers: Headers) -> Subprotocol | None:
        """Accept the subprotocol the server selected, if any.

        Raises:
            InvalidHandshake: If the header cannot be parsed, names several
                subprotocols, or one that was not offered (RFC 6455, 4.1).
        """
        try:
            value = headers.get("Sec-WebSocket-Protocol")
        except MultipleValuesError:
            raise InvalidHeader("Sec-WebSocket-Protocol", "multiple values") from None
        if value is None:
            return None
        if not self.available_subprotocols:
            raise NegotiationError("no subprotocols supported")
        selected = parse_subprotocol(value)
        if len(selected) > 1:
            raise InvalidHeader("Sec-WebSocket-Protocol", f"multiple values: {value}")
        subprotocol = selected[0]
        if subprotocol not in self.available_subprotocols:
            raise NegotiationError(f"unsupported subprotocol: {subprotocol}")
        return subprotocol

    # Parsing.

    def _parse_handshake(self) -> None:
        try:
            response = self._response_parser.parse(self._buffer)
        except (InvalidMessage, SecurityError) as exc:
            self._fail_handshake(exc)
            return
        if response is not None:
            self._receive_response(response)

    def _receive_response(self, response: Response) -> None:
        if self._debug:
            self.logger.debug("< HTTP/1.1 %d %s", response.status_code, response.reason_phrase)
            for name, value in response.headers.raw_items():
                self.logger.debug("< %s: %s", name, _loggable(name, value))
        try:
            self.process_response(response)
        except InvalidHandshake as exc:
            self._events.append(response)
            self._fail_handshake(exc)
            return
        self._events.append(response)
        self._transition(Transition.OPENING_HANDSHAKE_COMPLETED)
        self.logger.info("connection open")
        # The server may send frames right after its response.
        self._stage = _Stage.FRAMES
        if self._buffer:
            self._parse_frames()

    def _fail_handshake(self, exc: InvalidHandshake) -> None:
        """Record why the handshake failed and close: nothing more can happen."""
        self.handshake_exc = exc
        if self._debug:
            self.logger.debug("! invalid handshake response: %s", exc)
        if not self._eof_sent:
            self._send_eof()
        self._stop_parsing()

    def _receive_eof(self) -> None:
        if self._stage is _Stage.HANDSHAKE:
            try:
                response = self._response_parser.parse_eof(self._buffer)
            except InvalidMessage as exc:
                self.handshake_exc = exc
            else:
                self._receive_response(response)
        else:
            super()._receive_eof()


# Seed 001's high-level names live in websockets_typed.legacy, which imports
# this module: they are imported on first use, not here, to avoid a cycle.
_LEGACY_NAMES = frozenset({"connect", "WebSocketClientProtocol"})


def __getattr__(name: str) -> object:
    """Import seed 001's WebSocketClientProtocol, connect on first use."""
    if name in _LEGACY_NAMES:
        from .legacy import client as legacy  # noqa: PLC0415

        return getattr(legacy, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

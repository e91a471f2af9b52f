"""Domain assertions for sans-I/O tests: each test reads as the RFC rule it checks."""

from __future__ import annotations

from collections.abc import Iterable

from websockets_typed.client import ClientProtocol
from websockets_typed.datastructures import Headers
from websockets_typed.frames import Close, Frame, Opcode, parse_frame, serialize_frame
from websockets_typed.handshake import accept_key
from websockets_typed.http11 import Request, Response
from websockets_typed.protocol import CLIENT, SEND_EOF, Protocol, State
from websockets_typed.server import ServerProtocol
from websockets_typed.uri import parse_uri

EOF = SEND_EOF

# RFC 6455, 1.3: the key of the example handshake.
KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def handshake_request(
    *extra: tuple[str, str], remove: Iterable[str] = (), path: str = "/", key: str = KEY
) -> Request:
    """A valid handshake request, without the headers in ``remove``, plus ``extra``."""
    removed = {name.lower() for name in remove}
    headers = Headers(
        (name, value)
        for name, value in [
            ("Host", "example.com"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key),
            ("Sec-WebSocket-Version", "13"),
        ]
        if name.lower() not in removed
    )
    headers.update(extra)
    return Request(path, headers)


def handshake_response(
    *extra: tuple[str, str], remove: Iterable[str] = (), key: str = KEY
) -> Response:
    """A valid 101 response to a request with ``key``, adjusted like :func:`handshake_request`."""
    removed = {name.lower() for name in remove}
    headers = Headers(
        (name, value)
        for name, value in [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept_key(key)),
        ]
        if name.lower() not in removed
    )
    headers.update(extra)
    return Response(101, "Switching Protocols", headers)


def open_server(**kwargs: int | None) -> ServerProtocol:
    """A server connection past its opening handshake."""
    return ServerProtocol(
        state=State.OPEN,
        max_size=kwargs.get("max_size", 2**20),
        max_fragments=kwargs.get("max_fragments", 2**16),
    )


def open_client(**kwargs: int | None) -> ClientProtocol:
    """A client connection past its opening handshake."""
    return ClientProtocol(
        parse_uri("ws://example.com/"),
        state=State.OPEN,
        max_size=kwargs.get("max_size", 2**20),
        max_fragments=kwargs.get("max_fragments", 2**16),
    )


def wire(protocol: Protocol, frame: Frame) -> bytes:
    """The bytes of ``frame`` as the peer of ``protocol`` sends them."""
    # A client receives unmasked frames; a server receives masked ones.
    return b"".join(serialize_frame(frame, mask=protocol.side is not CLIENT))


def receive(protocol: Protocol, *frames: Frame) -> None:
    """Feed frames to ``protocol`` as its peer sends them."""
    for frame in frames:
        protocol.receive_data(wire(protocol, frame))


def sent(protocol: Protocol) -> list[Frame | bytes]:
    """What ``protocol`` wrote, parsed back into frames; EOF appears as ``b""``."""
    writes = protocol.data_to_send()
    result: list[Frame | bytes] = []
    buffer = bytearray()
    for data in writes:
        if data == EOF:
            assert not buffer, "EOF in the middle of a frame"
            result.append(EOF)
            continue
        buffer += data
        while (frame := parse_frame(buffer, mask=protocol.side is CLIENT)) is not None:
            result.append(frame)
    assert not buffer, "incomplete frame written"
    return result


def assert_state(protocol: Protocol, state: State) -> None:
    """Check the state without letting type checkers narrow ``protocol.state``."""
    assert protocol.state is state


def assert_sent(protocol: Protocol, *expected: Frame | bytes) -> None:
    assert sent(protocol) == list(expected)


def assert_received(protocol: Protocol, *expected: Frame) -> None:
    assert protocol.events_received() == list(expected)


def close_frame(code: int, reason: str = "") -> Frame:
    return Frame(Opcode.CLOSE, Close(code, reason).serialize())


def assert_failing(protocol: Protocol, code: int, reason: str | None = None) -> None:
    """``protocol`` failed the connection with a Close frame with ``code``."""
    writes = sent(protocol)
    frame = writes[0]
    assert isinstance(frame, Frame)
    assert frame.opcode is Opcode.CLOSE
    close = Close.parse(frame.data)
    assert close.code == code
    if reason is not None:
        assert close.reason == reason
    # A server closes the TCP connection right away; a client waits.
    assert writes[1:] == ([EOF] if protocol.side is not CLIENT else [])
    assert_state(protocol, State.CLOSING)
    assert protocol.close_expected()

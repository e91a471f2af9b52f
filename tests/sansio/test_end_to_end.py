"""Whole connections, from the opening to the closing handshake, over an in-memory wire.

The same scenario runs between our client and our server, and against the
sans-I/O classes of ``websockets``, the reference implementation of the
seeds, in both directions: what one library writes, the other must read.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple, Protocol, TypedDict

import pytest
from websockets.client import ClientProtocol as TheirClientProtocol
from websockets.exceptions import ConnectionClosed as TheirConnectionClosed
from websockets.exceptions import ConnectionClosedOK as TheirConnectionClosedOK
from websockets.extensions.base import ClientExtensionFactory as TheirClientExtensionFactory
from websockets.extensions.base import ServerExtensionFactory as TheirServerExtensionFactory
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory as TheirClientDeflateFactory,
)
from websockets.extensions.permessage_deflate import (
    ServerPerMessageDeflateFactory as TheirServerDeflateFactory,
)
from websockets.extensions.permessage_deflate import (
    enable_client_permessage_deflate as their_enable_client_permessage_deflate,
)
from websockets.extensions.permessage_deflate import (
    enable_server_permessage_deflate as their_enable_server_permessage_deflate,
)
from websockets.frames import Frame as TheirFrame
from websockets.http11 import Request as TheirRequest
from websockets.http11 import Response as TheirResponse
from websockets.server import ServerProtocol as TheirServerProtocol
from websockets.typing import Subprotocol as TheirSubprotocol
from websockets.uri import parse_uri as their_parse_uri

from websockets_typed.client import ClientProtocol
from websockets_typed.exceptions import ConnectionClosed, ConnectionClosedOK
from websockets_typed.extensions.base import ClientExtensionFactory, ServerExtensionFactory
from websockets_typed.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)
from websockets_typed.frames import Frame, Opcode, parse_frame
from websockets_typed.http11 import Request, Response
from websockets_typed.protocol import SEND_EOF
from websockets_typed.server import ServerProtocol
from websockets_typed.uri import parse_uri

URI = "ws://example.com/chat?room=1"

# What both libraries share, as far as these tests use it.


class _Named(Protocol):
    @property
    def name(self) -> str: ...


class SansIO(Protocol):
    """The sans-I/O connection API of seed 003, implemented by both libraries."""

    @property
    def state(self) -> enum.IntEnum: ...
    @property
    def handshake_exc(self) -> Exception | None: ...
    @property
    def extensions(self) -> Sequence[_Named]: ...
    @property
    def subprotocol(self) -> str | None: ...
    @property
    def close_code(self) -> int | None: ...
    @property
    def close_reason(self) -> str | None: ...
    @property
    def close_exc(self) -> Exception: ...

    def receive_data(self, data: bytes) -> None: ...
    def receive_eof(self) -> None: ...
    def events_received(self) -> Sequence[object]: ...
    def data_to_send(self) -> Sequence[bytes]: ...
    def close_expected(self) -> bool: ...
    def send_text(self, data: bytes, fin: bool = ...) -> None: ...
    def send_binary(self, data: bytes, fin: bool = ...) -> None: ...
    def send_continuation(self, data: bytes, fin: bool) -> None: ...
    def send_ping(self, data: bytes) -> None: ...
    def send_pong(self, data: bytes) -> None: ...
    def send_close(self, code: int | None = ..., reason: str = ...) -> None: ...
    def fail(self, code: int, reason: str = ...) -> None: ...


class Received(NamedTuple):
    """A frame as the application sees it, whichever library parsed it."""

    opcode: int
    data: bytes
    fin: bool


class Endpoint:
    """One end of a connection: a sans-I/O protocol and what it received.

    Args:
        protocol: The connection.
        answer: For servers, builds and sends the handshake response.
    """

    def __init__(self, protocol: SansIO, answer: Callable[[object], None] | None = None) -> None:
        self.protocol = protocol
        self._answer = answer
        self.frames: list[Received] = []
        self.handshake: list[object] = []
        self.written = bytearray()
        self.eof_sent = False

    def collect(self) -> None:
        """Sort the events received: frames, and the handshake request or response."""
        for event in self.protocol.events_received():
            if isinstance(event, Frame | TheirFrame):
                self.frames.append(Received(int(event.opcode), bytes(event.data), event.fin))
            else:
                assert isinstance(event, Request | Response | TheirRequest | TheirResponse)
                self.handshake.append(event)
                if self._answer is not None:
                    self._answer(event)

    @property
    def state(self) -> str:
        """The name of the connection's state: both libraries use the same names."""
        return self.protocol.state.name

    def messages(self) -> list[str | bytes]:
        """The data messages received, fragments joined."""
        messages: list[str | bytes] = []
        parts: list[bytes] = []
        text = False
        for frame in self.frames:
            if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
                text, parts = frame.opcode == Opcode.TEXT, [frame.data]
            elif frame.opcode == Opcode.CONT:
                parts.append(frame.data)
            else:
                continue
            if frame.fin:
                data = b"".join(parts)
                messages.append(data.decode() if text else data)
        return messages

    def controls(self, opcode: Opcode) -> list[bytes]:
        """Payloads of the control frames received with ``opcode``."""
        return [frame.data for frame in self.frames if frame.opcode == opcode]

    def wire_frames(self, *, mask: bool) -> list[Frame]:
        """The frames this endpoint wrote, as they were on the wire."""
        # The 101 response and the request have no body: frames follow the
        # empty line.
        head, _, rest = bytes(self.written).partition(b"\r\n\r\n")
        assert head.startswith((b"GET ", b"HTTP/1.1 101 "))
        buffer = bytearray(rest)
        frames: list[Frame] = []
        while (frame := parse_frame(buffer, mask=mask)) is not None:
            frames.append(frame)
        assert not buffer
        return frames


class Wire:
    """Moves what each endpoint writes to the other one; ``SEND_EOF`` becomes ``receive_eof()``.

    Args:
        chunk_size: Split writes into chunks of this size, to exercise
            incremental parsing.
    """

    def __init__(self, client: Endpoint, server: Endpoint, chunk_size: int | None = None) -> None:
        self.client = client
        self.server = server
        self.chunk_size = chunk_size

    def pump(self) -> None:
        """Deliver data both ways until neither endpoint has anything to write."""
        while self._transfer(self.client, self.server) | self._transfer(self.server, self.client):
            pass

    def _transfer(self, source: Endpoint, target: Endpoint) -> bool:
        writes = source.protocol.data_to_send()
        for data in writes:
            # Nothing may follow the end of the stream.
            assert not source.eof_sent, "data after SEND_EOF"
            if data == SEND_EOF:
                source.eof_sent = True
                target.protocol.receive_eof()
            else:
                assert data, "empty write"
                source.written += data
                size = self.chunk_size or len(data)
                for start in range(0, len(data), size):
                    target.protocol.receive_data(data[start : start + size])
            target.collect()
        return bool(writes)


# permessage-deflate settings: the same keyword arguments for both libraries.


class ClientDeflate(TypedDict, total=False):
    server_no_context_takeover: bool
    client_no_context_takeover: bool
    server_max_window_bits: int
    client_max_window_bits: int | None


class ServerDeflate(TypedDict, total=False):
    server_no_context_takeover: bool
    client_no_context_takeover: bool
    server_max_window_bits: int
    client_max_window_bits: int


class Deflate(NamedTuple):
    """permessage-deflate on both sides; ``None`` uses the library's default factory."""

    client: ClientDeflate | None = None
    server: ServerDeflate | None = None


DEFLATE_SETTINGS = [
    pytest.param(None, id="no-compression"),
    pytest.param(Deflate(), id="default-deflate"),
    pytest.param(
        Deflate({"client_no_context_takeover": True}, {}), id="client-no-context-takeover"
    ),
    pytest.param(
        Deflate({"server_no_context_takeover": True}, {}), id="server-no-context-takeover"
    ),
    pytest.param(
        Deflate({}, {"server_no_context_takeover": True, "client_no_context_takeover": True}),
        id="server-imposes-no-context-takeover",
    ),
    pytest.param(
        Deflate({"server_max_window_bits": 10, "client_max_window_bits": 11}, {}),
        id="client-limits-windows",
    ),
    pytest.param(
        Deflate({}, {"server_max_window_bits": 9, "client_max_window_bits": 9}),
        id="server-limits-windows",
    ),
    pytest.param(Deflate({"client_max_window_bits": None}, {}), id="no-client-window-offer"),
]

Library = Literal["ours", "theirs"]


def our_client(deflate: Deflate | None, subprotocols: Sequence[str] = ()) -> Endpoint:
    """Our client, its handshake request sent."""
    extensions: list[ClientExtensionFactory] = []
    if deflate is not None:
        if deflate.client is None:
            extensions = enable_client_permessage_deflate(None)
        else:
            extensions = [ClientPerMessageDeflateFactory(**deflate.client)]
    protocol = ClientProtocol(parse_uri(URI), extensions=extensions, subprotocols=subprotocols)
    protocol.send_request(protocol.connect())
    return Endpoint(protocol)


def their_client(deflate: Deflate | None, subprotocols: Sequence[str] = ()) -> Endpoint:
    """The client of ``websockets``, its handshake request sent."""
    extensions: Sequence[TheirClientExtensionFactory] | None = None
    if deflate is not None:
        if deflate.client is None:
            extensions = their_enable_client_permessage_deflate(None)
        else:
            extensions = [TheirClientDeflateFactory(**deflate.client)]
    protocol = TheirClientProtocol(
        their_parse_uri(URI),
        extensions=extensions,
        subprotocols=[TheirSubprotocol(subprotocol) for subprotocol in subprotocols] or None,
    )
    protocol.send_request(protocol.connect())
    return Endpoint(protocol)


def our_server(deflate: Deflate | None, subprotocols: Sequence[str] = ()) -> Endpoint:
    """Our server, accepting the handshake request when it arrives."""
    extensions: list[ServerExtensionFactory] = []
    if deflate is not None:
        if deflate.server is None:
            extensions = enable_server_permessage_deflate(None)
        else:
            extensions = [ServerPerMessageDeflateFactory(**deflate.server)]
    protocol = ServerProtocol(extensions=extensions, subprotocols=subprotocols)

    def answer(request: object) -> None:
        assert isinstance(request, Request)
        protocol.send_response(protocol.accept(request))

    return Endpoint(protocol, answer)


def their_server(deflate: Deflate | None, subprotocols: Sequence[str] = ()) -> Endpoint:
    """The server of ``websockets``, accepting the handshake request when it arrives."""
    extensions: Sequence[TheirServerExtensionFactory] | None = None
    if deflate is not None:
        if deflate.server is None:
            extensions = their_enable_server_permessage_deflate(None)
        else:
            extensions = [TheirServerDeflateFactory(**deflate.server)]
    protocol = TheirServerProtocol(
        extensions=extensions,
        subprotocols=[TheirSubprotocol(subprotocol) for subprotocol in subprotocols],
    )

    def answer(request: object) -> None:
        assert isinstance(request, TheirRequest)
        protocol.send_response(protocol.accept(request))

    return Endpoint(protocol, answer)


Factory = Callable[[Deflate | None, Sequence[str]], Endpoint]

CLIENTS: dict[Library, Factory] = {
    "ours": our_client,
    "theirs": their_client,
}
SERVERS: dict[Library, Factory] = {
    "ours": our_server,
    "theirs": their_server,
}

PEERS = [
    pytest.param(("ours", "ours"), id="our-client-our-server"),
    pytest.param(("ours", "theirs"), id="our-client-their-server"),
    pytest.param(("theirs", "ours"), id="their-client-our-server"),
    # The reference against itself: checks the scenario's expectations.
    pytest.param(("theirs", "theirs"), id="their-client-their-server"),
]


def connect(
    peers: tuple[Library, Library], deflate: Deflate | None, chunk_size: int | None = None
) -> tuple[Endpoint, Endpoint, Wire]:
    """Run the opening handshake between a client and a server."""
    client = CLIENTS[peers[0]](deflate, ())
    server = SERVERS[peers[1]](deflate, ())
    wire = Wire(client, server, chunk_size)
    wire.pump()
    assert [type(event).__name__ for event in server.handshake] == ["Request"]
    assert [type(event).__name__ for event in client.handshake] == ["Response"]
    for endpoint in (client, server):
        assert endpoint.protocol.handshake_exc is None
        assert endpoint.state == "OPEN"
        assert not endpoint.protocol.close_expected()
        expected = [] if deflate is None else ["permessage-deflate"]
        assert [extension.name for extension in endpoint.protocol.extensions] == expected
    return client, server, wire


# The scenario.

# "café ☕" is split inside "é" and inside "☕": fragments of text need not
# be valid UTF-8 on their own (RFC 6455, 5.6).
CAFE = "café ☕".encode()  # b"caf\xc3\xa9 \xe2\x98\x95"
LARGE = "All work and no play makes Jack a dull boy. " * 2000


def exchange_messages(sender: Endpoint, wire: Wire) -> list[str | bytes]:
    """Send every kind of message from ``sender``; return the messages the peer must get."""
    protocol = sender.protocol
    protocol.send_text(b"Hello, world!")
    protocol.send_binary(b"\x00\x01\xfe\xff")
    protocol.send_text(b"")
    protocol.send_binary(b"")
    protocol.send_text(CAFE[:4], fin=False)
    protocol.send_continuation(CAFE[4:8], fin=False)
    protocol.send_continuation(CAFE[8:], fin=True)
    # Control frames may be interleaved with the fragments of a message (RFC
    # 6455, 5.4).
    protocol.send_binary(b"frag1-", fin=False)
    protocol.send_ping(b"ping in the middle")
    protocol.send_continuation(b"frag2-", fin=False)
    protocol.send_pong(b"unsolicited pong")
    protocol.send_continuation(b"", fin=True)
    protocol.send_text(LARGE.encode())
    protocol.send_ping(b"")
    wire.pump()
    return [
        "Hello, world!",
        b"\x00\x01\xfe\xff",
        "",
        b"",
        "café ☕",
        b"frag1-frag2-",
        LARGE,
    ]


def check_messages(client: Endpoint, server: Endpoint, wire: Wire, deflate: Deflate | None) -> None:
    """Exchange messages both ways; check what arrived, and what went on the wire."""
    expected = exchange_messages(client, wire)
    assert server.messages() == expected
    assert server.controls(Opcode.PING) == [b"ping in the middle", b""]
    assert server.controls(Opcode.PONG) == [b"unsolicited pong"]
    # RFC 6455, 5.5.2: each Ping gets a Pong with the same payload.
    assert client.controls(Opcode.PONG) == [b"ping in the middle", b""]
    assert client.messages() == []

    assert exchange_messages(server, wire) == expected
    assert client.messages() == expected
    assert client.controls(Opcode.PING) == [b"ping in the middle", b""]
    assert server.controls(Opcode.PONG) == [b"unsolicited pong", b"ping in the middle", b""]

    # Compression happened, or not, on the wire (RFC 7692, 6): RSV1 on the
    # first frame of each data message only, never on control frames.
    for endpoint, mask in ((client, True), (server, False)):
        frames = endpoint.wire_frames(mask=mask)
        for frame in frames:
            assert frame.rsv1 is (
                deflate is not None and frame.opcode in (Opcode.TEXT, Opcode.BINARY)
            )
        assert (len(endpoint.written) < len(LARGE)) is (deflate is not None)

    for endpoint in (client, server):
        assert endpoint.state == "OPEN"
        assert endpoint.protocol.data_to_send() == []


def close_summary(exc: Exception) -> tuple[str, int | None, int | None, bool | None]:
    """Kind of close exception, codes received and sent, and who started."""
    assert isinstance(exc, ConnectionClosed | TheirConnectionClosed)
    kind = "OK" if isinstance(exc, ConnectionClosedOK | TheirConnectionClosedOK) else "Error"
    return (
        kind,
        None if exc.rcvd is None else exc.rcvd.code,
        None if exc.sent is None else exc.sent.code,
        exc.rcvd_then_sent,
    )


Closing = Literal["client-close", "server-close", "client-fail", "server-fail"]
CLOSINGS: list[Closing] = ["client-close", "server-close", "client-fail", "server-fail"]


def close(
    client: Endpoint, server: Endpoint, wire: Wire, closing: Closing, *, code: int, reason: str
) -> None:
    """Close the connection as ``closing`` says and check both ends."""
    closer, other = (client, server) if closing.startswith("client") else (server, client)
    if closing.endswith("close"):
        closer.protocol.send_close(code, reason)
    else:
        closer.protocol.fail(code, reason)
    assert closer.state == "CLOSING"
    assert closer.protocol.close_expected()
    wire.pump()

    for endpoint in (client, server):
        assert endpoint.state == "CLOSED"
        assert endpoint.eof_sent
        assert endpoint.protocol.data_to_send() == []
    ok = "OK" if code in (1000, 1001) else "Error"
    # The peer always gets the Close frame, and answers it.
    assert (other.protocol.close_code, other.protocol.close_reason) == (code, reason)
    assert close_summary(other.protocol.close_exc) == (ok, code, code, True)
    if closing.endswith("close"):
        # RFC 6455, 7.1.2: the closing handshake completes; the echo carries
        # the same code.
        assert (closer.protocol.close_code, closer.protocol.close_reason) == (code, reason)
        assert close_summary(closer.protocol.close_exc) == (ok, code, code, False)
    else:
        # RFC 6455, 7.1.7: after failing, the closer ignores the echo: the
        # connection closes abnormally on its side.
        assert (closer.protocol.close_code, closer.protocol.close_reason) == (1006, "")
        assert close_summary(closer.protocol.close_exc) == ("Error", None, code, None)


@pytest.mark.parametrize("peers", PEERS)
@pytest.mark.parametrize("deflate", DEFLATE_SETTINGS)
@pytest.mark.parametrize("closing", CLOSINGS)
def test_scenario(
    peers: tuple[Library, Library], deflate: Deflate | None, closing: Closing
) -> None:
    client, server, wire = connect(peers, deflate)
    check_messages(client, server, wire, deflate)
    code, reason = (1000, "bye") if closing.endswith("close") else (1011, "oops")
    received = {"client": len(client.frames), "server": len(server.frames)}
    close(client, server, wire, closing, code=code, reason=reason)
    # During the closing handshake, only Close frames arrive, except at the
    # side that failed: it stopped reading.
    for name, endpoint in (("client", client), ("server", server)):
        new = [frame.opcode for frame in endpoint.frames[received[name] :]]
        assert new == ([] if closing == f"{name}-fail" else [Opcode.CLOSE])


@pytest.mark.parametrize("peers", PEERS)
@pytest.mark.parametrize("chunk_size", [1, 7])
def test_scenario_in_small_chunks(peers: tuple[Library, Library], chunk_size: int) -> None:
    client, server, wire = connect(peers, Deflate(), chunk_size)
    check_messages(client, server, wire, Deflate())
    close(client, server, wire, "server-close", code=1001, reason="going away")


@pytest.mark.parametrize("peers", PEERS)
@pytest.mark.parametrize(
    ("code", "reason", "expected_code", "ok"),
    [
        (None, "", 1005, True),
        (1001, "", 1001, True),
        (4321, "private", 4321, False),
        (1008, "policy", 1008, False),
    ],
)
def test_close_codes(
    peers: tuple[Library, Library], code: int | None, reason: str, expected_code: int, ok: bool
) -> None:
    client, server, wire = connect(peers, None)
    client.protocol.send_close(code, reason)
    wire.pump()
    for endpoint in (client, server):
        assert (endpoint.protocol.close_code, endpoint.protocol.close_reason) == (
            expected_code,
            reason,
        )
        assert close_summary(endpoint.protocol.close_exc)[0] == ("OK" if ok else "Error")


@pytest.mark.parametrize("peers", PEERS)
def test_both_sides_close_at_once(peers: tuple[Library, Library]) -> None:
    # RFC 6455, 7.1.3 and 5.5.1: Close frames cross; each side takes the
    # other's as the answer to its own.
    client, server, wire = connect(peers, Deflate())
    client.protocol.send_close(1000, "client")
    server.protocol.send_close(1001, "server")
    wire.pump()
    for endpoint in (client, server):
        assert endpoint.state == "CLOSED"
    assert client.protocol.close_code == 1001
    assert server.protocol.close_code == 1000
    assert close_summary(client.protocol.close_exc) == ("OK", 1001, 1000, False)
    assert close_summary(server.protocol.close_exc) == ("OK", 1000, 1001, False)


@pytest.mark.parametrize("peers", PEERS)
def test_tcp_closes_without_closing_handshake(peers: tuple[Library, Library]) -> None:
    client, server, _ = connect(peers, None)
    # The client's side of TCP ends, e.g. its process died: the server gets
    # EOF, and the client never reads what the server writes after that.
    server.protocol.receive_eof()
    assert server.protocol.data_to_send() == [SEND_EOF]
    assert server.state == "CLOSED"
    assert server.protocol.close_code == 1006
    assert close_summary(server.protocol.close_exc) == ("Error", None, None, None)
    # Likewise when the server's side ends.
    client.protocol.receive_eof()
    assert client.protocol.data_to_send() == [SEND_EOF]
    assert client.state == "CLOSED"
    assert client.protocol.close_code == 1006
    assert close_summary(client.protocol.close_exc) == ("Error", None, None, None)


# Negotiation details, between our client and our server.


@pytest.mark.parametrize(
    ("client_settings", "server_settings", "header", "client_side", "server_side"),
    [
        (
            None,
            None,
            "permessage-deflate; server_max_window_bits=12",
            (False, False, 12, 15),
            (False, False, 15, 12),
        ),
        (
            {"client_no_context_takeover": True, "server_max_window_bits": 10},
            {"client_max_window_bits": 11},
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=10; "
            "client_max_window_bits=11",
            (False, True, 10, 11),
            (True, False, 11, 10),
        ),
        (
            {"server_no_context_takeover": True},
            {},
            "permessage-deflate; server_no_context_takeover",
            (True, False, 15, 15),
            (False, True, 15, 15),
        ),
    ],
)
def test_negotiated_parameters(
    client_settings: ClientDeflate | None,
    server_settings: ServerDeflate | None,
    header: str,
    client_side: tuple[bool, bool, int, int],
    server_side: tuple[bool, bool, int, int],
) -> None:
    client, server, _ = connect(("ours", "ours"), Deflate(client_settings, server_settings))
    [response] = client.handshake
    assert isinstance(response, Response)
    assert response.headers["Sec-WebSocket-Extensions"] == header
    for endpoint, expected in ((client, client_side), (server, server_side)):
        [extension] = endpoint.protocol.extensions
        assert isinstance(extension, PerMessageDeflate)
        assert (
            extension.remote_no_context_takeover,
            extension.local_no_context_takeover,
            extension.remote_max_window_bits,
            extension.local_max_window_bits,
        ) == expected


@pytest.mark.parametrize("peers", PEERS)
@pytest.mark.parametrize(
    ("deflate", "takeover"),
    [
        (Deflate({}, {}), True),
        (
            Deflate({"client_no_context_takeover": True, "server_no_context_takeover": True}, {}),
            False,
        ),
    ],
)
def test_context_takeover(peers: tuple[Library, Library], deflate: Deflate, takeover: bool) -> None:
    # RFC 7692, 7.2.1: with context takeover, a message repeated compresses
    # to almost nothing; without it, each message starts from scratch.
    client, server, wire = connect(peers, deflate)
    message = ("A message that is repeated. " * 20).encode()
    sizes: dict[str, list[int]] = {"client": [], "server": []}
    for _ in range(3):
        for name, endpoint in (("client", client), ("server", server)):
            before = len(endpoint.written)
            endpoint.protocol.send_text(message)
            wire.pump()
            sizes[name].append(len(endpoint.written) - before)
    for name in ("client", "server"):
        first, second, third = sizes[name]
        assert second == third
        assert (second < first) is takeover
    assert server.messages() == client.messages() == [message.decode()] * 3


@pytest.mark.parametrize("peers", PEERS)
def test_subprotocol_and_origin(peers: tuple[Library, Library]) -> None:
    client = CLIENTS[peers[0]](None, ["superchat", "chat"])
    server = SERVERS[peers[1]](None, ["chat", "superchat"])
    Wire(client, server).pump()
    assert client.state == server.state == "OPEN"
    # The first of the server's subprotocols that the client offers (seed 003).
    assert client.protocol.subprotocol == server.protocol.subprotocol == "chat"
    [request] = server.handshake
    assert isinstance(request, Request | TheirRequest)
    assert request.headers["Sec-WebSocket-Protocol"] == "superchat, chat"
    [response] = client.handshake
    assert isinstance(response, Response | TheirResponse)
    assert response.headers["Sec-WebSocket-Protocol"] == "chat"

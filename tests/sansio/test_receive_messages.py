"""Protocol.receive_messages(): whole messages of a read in one call, pinned to receive_data()."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from protocol_helpers import close_frame, open_client, open_server, sent, wire

from websockets_typed import protocol as protocol_module
from websockets_typed.extensions.permessage_deflate import PerMessageDeflate
from websockets_typed.frames import Frame, Opcode, read_messages
from websockets_typed.protocol import Event, Protocol
from websockets_typed.server import ServerProtocol

pytestmark = pytest.mark.skipif(read_messages is None, reason="the C accelerator is not in use")

ONE = Frame(Opcode.TEXT, b"one")
TWO = Frame(Opcode.BINARY, bytes(range(256)) * 2)  # a 16-bit length
PING = Frame(Opcode.PING, b"ping")


def through_receive_messages(protocol: Protocol, data: bytes) -> list[Event]:
    """What a connection gets by taking whole messages first, then the rest as before."""
    taken: list[Frame] = []
    end = protocol.receive_messages(data, len(data), taken.append)
    if end < len(data):
        protocol.receive_data(data[end:])
    return [*taken, *protocol.events_received()]


READS: list[list[Frame]] = [
    [ONE, TWO, ONE],
    [ONE, PING, TWO],
    [ONE, Frame(Opcode.TEXT, b"frag", fin=False), Frame(Opcode.CONT, b"ment"), TWO],
    [Frame(Opcode.TEXT, "café".encode()), ONE],
    [TWO, Frame(Opcode.TEXT, b"\xff")],  # invalid UTF-8: fails the connection
    [ONE, close_frame(1000), TWO],
    [Frame(Opcode.BINARY, b"x", rsv1=True), ONE],  # no extension: fails the connection
    [ONE, Frame(Opcode.BINARY, b"x" * 70000)],  # a 64-bit length
]


@pytest.mark.parametrize("open_protocol", [open_server, open_client])
@pytest.mark.parametrize("frames", READS)
@pytest.mark.parametrize("cut", [None, -1, -300])
def test_receive_messages_then_receive_data_is_receive_data(
    open_protocol: Callable[[], Protocol], frames: list[Frame], cut: int | None
) -> None:
    fast, reference = open_protocol(), open_protocol()
    data = b"".join(wire(fast, frame) for frame in frames)[:cut]
    reference.receive_data(data)
    assert through_receive_messages(fast, data) == reference.events_received()
    assert sent(fast) == sent(reference)  # parsed: clients mask with random keys
    assert fast.state is reference.state
    assert type(fast.parser_exc) is type(reference.parser_exc)


def test_receive_messages_takes_whole_messages_and_leaves_the_protocol_quiet() -> None:
    server = open_server()
    data = wire(server, ONE) + wire(server, TWO) + wire(server, PING)
    taken: list[Frame] = []
    assert server.receive_messages(data, len(data), taken.append) == len(data) - len(
        wire(server, PING)
    )
    assert taken == [ONE, TWO]
    assert server.events_received() == []
    assert server.quiet()
    # From the start of the buffer, up to size.
    assert server.receive_messages(data * 2, len(wire(server, ONE)), taken.append) == len(
        wire(server, ONE)
    )
    assert taken == [ONE, TWO, ONE]


def test_receive_messages_counts_against_the_frame_budget() -> None:
    server = open_server()
    data = wire(server, ONE) * 3
    server.frame_budget = 2
    taken: list[Frame] = []
    assert server.receive_messages(data, len(data), taken.append) == 2 * len(wire(server, ONE))
    assert taken == [ONE, ONE]
    assert server.frame_budget == 0
    assert server.receive_messages(data, len(data), taken.append) == 0


def _fragmented(server: ServerProtocol) -> None:
    server.receive_data(wire(server, Frame(Opcode.BINARY, b"frag", fin=False)))
    assert len(server.events_received()) == 1


def _fragmented_text(server: ServerProtocol) -> None:
    server.receive_data(wire(server, Frame(Opcode.TEXT, b"frag", fin=False)))
    assert len(server.events_received()) == 1


def _incomplete(server: ServerProtocol) -> None:
    server.receive_data(wire(server, TWO)[:-1])


def _incomplete_text(server: ServerProtocol) -> None:
    server.receive_data(wire(server, ONE)[:-1])


def _large(server: ServerProtocol) -> None:
    server.receive_data(wire(server, Frame(Opcode.BINARY, b"x" * 2**17))[:1000])


def _events(server: ServerProtocol) -> None:
    server.receive_data(wire(server, ONE))


def _extension(server: ServerProtocol) -> None:
    server.extensions = [PerMessageDeflate(False, False, 15, 15)]


def _failing(server: ServerProtocol) -> None:
    server.fail(1011)
    server.data_to_send()


def _closing(server: ServerProtocol) -> None:
    server.send_close(1000)
    server.data_to_send()


def _writes(server: ServerProtocol) -> None:
    server.send_ping(b"")


def _eof(server: ServerProtocol) -> None:
    server.receive_eof()


@pytest.mark.parametrize(
    "prepare",
    [
        _fragmented,
        _fragmented_text,
        _incomplete,
        _incomplete_text,
        _large,
        _events,
        _extension,
        _failing,
        _closing,
        _writes,
        _eof,
    ],
)
def test_receive_messages_takes_nothing_when_the_parser_must_decide(
    prepare: Callable[[ServerProtocol], None],
) -> None:
    server = open_server()
    prepare(server)
    data = wire(server, ONE)
    taken: list[Frame] = []
    assert server.receive_messages(data, len(data), taken.append) == 0
    assert taken == []


def test_receive_messages_takes_nothing_with_debug_logs() -> None:
    logger = logging.getLogger("test.receive_messages")
    logger.setLevel(logging.DEBUG)
    server = ServerProtocol(state=protocol_module.State.OPEN, logger=logger)
    data = wire(server, ONE)
    assert server.receive_messages(data, len(data), list[Frame]().append) == 0


def test_receive_messages_takes_nothing_without_the_c_accelerator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(protocol_module, "read_messages", None)
    server = open_server()
    data = wire(server, ONE)
    assert server.receive_messages(data, len(data), list[Frame]().append) == 0
    server.receive_data(data)
    assert server.events_received() == [ONE]

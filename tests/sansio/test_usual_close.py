"""The shortcuts of the usual closing handshake decide as the full rules do (RFC 6455, 5.5.1).

The usual Close payloads are parsed once and shared, and the answer to a
Close frame is written without building a Frame (bench/run.py, S4).
"""

from __future__ import annotations

import logging
from typing import cast

import pytest
from protocol_helpers import EOF, close_frame, open_client, open_server, receive, sent

from websockets_typed.exceptions import ProtocolError
from websockets_typed.extensions.permessage_deflate import PerMessageDeflate
from websockets_typed.frames import Close, CloseCode, Frame, Opcode
from websockets_typed.protocol import State
from websockets_typed.server import ServerProtocol


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", Close(CloseCode.NO_STATUS_RCVD, "")),
        (b"\x03\xe8", Close(CloseCode.NORMAL_CLOSURE, "")),
        (b"\x03\xe9", Close(CloseCode.GOING_AWAY, "")),
        (b"\x03\xe8bye", Close(CloseCode.NORMAL_CLOSURE, "bye")),
        (b"\x0f\xa0", Close(4000, "")),
    ],
)
def test_parse_usual_and_other_payloads(data: bytes, expected: Close) -> None:
    assert Close.parse(data) == expected
    # Legacy callers may pass other bytes-like objects, which aren't hashable.
    assert Close.parse(cast("bytes", bytearray(data))) == expected


@pytest.mark.parametrize("data", [b"\x03", b"\x03\xed", b"\x03\xee", b"\x00\x00", b"\x03\xe8\xff"])
def test_parse_refuses_payloads_next_to_the_usual_ones(data: bytes) -> None:
    # RFC 6455, 7.4.1: 1005 and 1006 are never on the wire; 5.5.1: a code
    # takes two bytes; 5.5.1: the reason is UTF-8.
    with pytest.raises((ProtocolError, UnicodeDecodeError)):
        Close.parse(data)


def test_parse_in_a_subclass_returns_the_subclass() -> None:
    class MyClose(Close):
        pass

    close = MyClose.parse(b"\x03\xe8")
    assert type(close) is MyClose
    assert close == MyClose(CloseCode.NORMAL_CLOSURE, "")


@pytest.mark.parametrize("code", [CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY, 4000])
def test_server_echoes_close_then_half_closes(code: int) -> None:
    server = open_server()
    receive(server, close_frame(code))
    assert sent(server) == [close_frame(code), EOF]
    assert server.close_rcvd == server.close_sent == Close(code, "")


def test_server_echoes_empty_close() -> None:
    server = open_server()
    receive(server, Frame(Opcode.CLOSE, b""))
    assert sent(server) == [Frame(Opcode.CLOSE, b""), EOF]
    assert server.close_rcvd == Close(CloseCode.NO_STATUS_RCVD, "")


def test_client_echoes_close_masked() -> None:
    # RFC 6455, 5.3: every frame from a client is masked (sent() unmasks);
    # 7.1.1: the client waits for the server to close the TCP connection.
    client = open_client()
    receive(client, close_frame(CloseCode.NORMAL_CLOSURE))
    [data] = client.data_to_send()
    assert data[:2] == b"\x88\x82"
    client.receive_eof()
    assert client.close_sent == Close(CloseCode.NORMAL_CLOSURE, "")


def test_close_answer_goes_through_extensions() -> None:
    server = open_server()
    server.extensions = [PerMessageDeflate(False, False, 15, 15)]
    receive(server, close_frame(CloseCode.NORMAL_CLOSURE))
    assert sent(server) == [close_frame(CloseCode.NORMAL_CLOSURE), EOF]


def test_close_answer_is_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="websockets_typed.server"):
        server = ServerProtocol(state=State.OPEN)
        receive(server, close_frame(CloseCode.NORMAL_CLOSURE))
    assert sent(server) == [close_frame(CloseCode.NORMAL_CLOSURE), EOF]
    assert "> CLOSE 1000 (OK) [2 bytes]" in caplog.messages

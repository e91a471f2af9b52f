"""Tests of large messages in the threading layer: payloads read in place.

The rest of a large frame's payload is read straight into the message's
buffer (``socket.recv_into``), not into a bytes object per read that is then
copied. A client socket of a subclass that tallies its reads tells which
way the bytes came; everything else is real: loopback TCP, the library's
server, or a raw peer that writes frames itself.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import TYPE_CHECKING

import pytest
from protocol_helpers import handshake_response
from raw_peer import build_frame, close_payload
from sync_helpers import TIMEOUT, echo, port_of, running, start_thread, uri_of

from websockets_typed._receivebuffer import LARGE_FRAME
from websockets_typed.exceptions import ConnectionClosedError
from websockets_typed.frames import CloseCode
from websockets_typed.sync.client import connect
from websockets_typed.sync.server import ServerConnection

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

MESSAGE_SIZE = 4 * 2**20
MAX_SIZE = 2 * MESSAGE_SIZE


class TalliedSocket(socket.socket):
    """A TCP socket that counts the bytes each kind of read brings."""

    def __init__(self) -> None:
        super().__init__(socket.AF_INET, socket.SOCK_STREAM)
        self.by_recv = 0
        self.by_recv_into = 0

    def recv(self, bufsize: int, flags: int = 0, /) -> bytes:
        data = super().recv(bufsize, flags)
        self.by_recv += len(data)
        return data

    def recv_into(self, buffer: WriteableBuffer, nbytes: int = 0, flags: int = 0) -> int:
        count = super().recv_into(buffer, nbytes, flags)
        self.by_recv_into += count
        return count


def tallied_connection(port: int) -> TalliedSocket:
    sock = TalliedSocket()
    sock.connect(("127.0.0.1", port))
    return sock


def test_a_large_payload_is_read_into_the_message() -> None:
    payload = os.urandom(MESSAGE_SIZE)

    def send_large(websocket: ServerConnection) -> None:
        websocket.send(payload)
        websocket.send("after it")
        websocket.recv(TIMEOUT)  # until the client closes

    with running(send_large, max_size=MAX_SIZE) as server:
        sock = tallied_connection(port_of(server))
        with connect(uri_of(server), sock=sock, max_size=MAX_SIZE) as websocket:
            assert websocket.recv(TIMEOUT) == payload
            assert websocket.recv(TIMEOUT) == "after it"
    # The first read brings the frame's start; the rest lands in place.
    assert sock.by_recv_into >= MESSAGE_SIZE - LARGE_FRAME
    assert sock.by_recv < 2 * LARGE_FRAME


def test_a_large_masked_payload_arrives_intact() -> None:
    """The server reads the client's masked message in place: unmasked right, echoed intact."""
    payload = os.urandom(MESSAGE_SIZE + 3)  # not a multiple of the key's length
    with (
        running(echo, max_size=MAX_SIZE) as server,
        connect(uri_of(server), max_size=MAX_SIZE) as websocket,
    ):
        websocket.send(payload)
        assert websocket.recv(TIMEOUT) == payload


def raw_server(frames: bytes) -> tuple[socket.socket, threading.Thread]:
    """A peer that answers the handshake, writes ``frames`` and closes TCP."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        sock, _ = listener.accept()
        with sock:
            request = sock.recv(65536).decode()
            key = next(
                line.split(":", 1)[1].strip()
                for line in request.split("\r\n")
                if line.lower().startswith("sec-websocket-key:")
            )
            sock.sendall(handshake_response(key=key).serialize() + frames)

    return listener, start_thread(answer)


def test_the_end_of_the_stream_within_a_large_payload_is_1006() -> None:
    frame = build_frame(0x2, bytes(MESSAGE_SIZE))
    listener, thread = raw_server(frame[: len(frame) // 2])
    with listener:
        sock = tallied_connection(port_of(listener))
        websocket = connect(f"ws://127.0.0.1:{port_of(listener)}/", sock=sock, max_size=MAX_SIZE)
        with pytest.raises(ConnectionClosedError) as exc_info:
            websocket.recv(TIMEOUT)
        thread.join(TIMEOUT)
    assert exc_info.value.rcvd is None
    assert websocket.close_code == CloseCode.ABNORMAL_CLOSURE
    assert sock.by_recv_into > 0


def test_frames_after_a_large_payload_keep_their_order() -> None:
    """A message, a ping, another message and the Close frame, written at once."""
    first, second = os.urandom(MESSAGE_SIZE), os.urandom(LARGE_FRAME * 3)
    frames = (
        build_frame(0x2, first)
        + build_frame(0x9, b"ping")
        + build_frame(0x2, second)
        + build_frame(0x8, close_payload(1000, b"done"))
    )
    listener, thread = raw_server(frames)
    with listener:
        sock = tallied_connection(port_of(listener))
        websocket = connect(f"ws://127.0.0.1:{port_of(listener)}/", sock=sock, max_size=MAX_SIZE)
        assert list(websocket) == [first, second]
        thread.join(TIMEOUT)
    assert websocket.close_code == 1000
    assert websocket.close_reason == "done"
    assert sock.by_recv_into >= MESSAGE_SIZE

"""Tests of websockets_typed.sync.connection: receiving, sending, pings, closing, threads.

A real threading server on loopback at the other end, or a raw peer that
completes the handshake and then does nothing (never reads, never answers
pings), to test keepalive timeouts and a peer that stops reading.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Generator
from typing import Unpack

import pytest
from sync_helpers import TIMEOUT, echo, running, start_thread, uri_of

from websockets_typed.exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
)
from websockets_typed.frames import CloseCode
from websockets_typed.http11 import Request
from websockets_typed.protocol import CLOSED, OPEN, Event
from websockets_typed.server import ServerProtocol
from websockets_typed.sync.client import ClientConnection, ConnectOptions, connect
from websockets_typed.sync.server import ServerConnection
from websockets_typed.typing import Data


@contextlib.contextmanager
def echo_client(**kwargs: Unpack[ConnectOptions]) -> Generator[ClientConnection]:
    """A client connected to an echo server."""
    with running(echo) as server, connect(uri_of(server), **kwargs) as websocket:
        yield websocket


@contextlib.contextmanager
def silent_peer() -> Generator[str]:
    """A raw server that accepts the handshake, then neither reads nor writes.

    Yields its URI. It answers no ping and reads nothing: the client's writes
    fill the socket buffers and then block.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []

    def serve_one() -> None:
        sock, _ = listener.accept()
        # A small receive buffer: the client's writes block sooner.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        accepted.append(sock)
        protocol = ServerProtocol()
        events: list[Event] = []
        while not events:
            protocol.receive_data(sock.recv(65536))
            events = protocol.events_received()
        request = events[0]
        assert isinstance(request, Request)
        protocol.send_response(protocol.accept(request))
        for data in protocol.data_to_send():
            sock.sendall(data)

    thread = start_thread(serve_one)
    try:
        yield f"ws://127.0.0.1:{port}/"
    finally:
        thread.join(TIMEOUT)
        for sock in accepted:
            sock.close()
        listener.close()


# Receiving.


@pytest.mark.parametrize("message", ["", "hello", "café ☕", b"", b"\x00\xff" * 1000])
def test_send_and_recv_round_trip(message: Data) -> None:
    with echo_client() as websocket:
        websocket.send(message)
        assert websocket.recv(TIMEOUT) == message


def test_recv_decode_overrides_message_type() -> None:
    with echo_client() as websocket:
        websocket.send("café")
        raw: bytes = websocket.recv(TIMEOUT, decode=False)
        assert raw == "café".encode()
        websocket.send(b"abc")
        text: str = websocket.recv(TIMEOUT, decode=True)
        assert text == "abc"


def test_send_text_argument_overrides_type() -> None:
    with echo_client() as websocket:
        websocket.send(b"bytes as text", text=True)
        assert websocket.recv(TIMEOUT) == "bytes as text"
        websocket.send("text as bytes", text=False)
        assert websocket.recv(TIMEOUT) == b"text as bytes"


def test_recv_timeout_loses_nothing() -> None:
    def late(websocket: ServerConnection) -> None:
        websocket.recv()
        websocket.send("late")
        websocket.recv()  # until the client closes

    with running(late) as server, connect(uri_of(server)) as websocket:
        with pytest.raises(TimeoutError):
            websocket.recv(timeout=0)
        websocket.send("go")
        assert websocket.recv(TIMEOUT) == "late"


def test_recv_invalid_utf8_with_decode_fails_with_1007() -> None:
    with echo_client() as websocket:
        websocket.send(b"\xff\xfe")
        with pytest.raises(ConnectionClosedError):
            websocket.recv(TIMEOUT, decode=True)
        assert websocket.protocol.close_exc.sent is not None
        assert websocket.protocol.close_exc.sent.code == CloseCode.INVALID_DATA


def test_concurrent_recv_raises_concurrency_error() -> None:
    with echo_client() as websocket:
        thread = start_thread(websocket.recv)
        deadline = time.monotonic() + TIMEOUT
        while not websocket.recv_messages._get_in_progress:
            assert time.monotonic() < deadline
            time.sleep(0.001)
        with pytest.raises(ConcurrencyError):
            websocket.recv(TIMEOUT)
        with pytest.raises(ConcurrencyError):
            next(websocket.recv_streaming())
        websocket.send("unblock")
        thread.join(TIMEOUT)


def stream_echo(websocket: ServerConnection) -> None:
    """Send back every message fragment by fragment, as it arrives."""
    while True:
        websocket.send(websocket.recv_streaming())


def test_recv_streaming_yields_fragments() -> None:
    with running(stream_echo) as server, connect(uri_of(server)) as websocket:
        websocket.send(["café", " ", "☕"])
        # A fragmented message ends with an empty frame.
        # The echo adds an empty frame to end the message.
        assert list(websocket.recv_streaming()) == ["café", " ", "☕", "", ""]
        websocket.send([b"a", b"b"])
        assert list(websocket.recv_streaming()) == [b"a", b"b", b"", b""]
        websocket.send([b"caf\xc3", b"\xa9"])
        assert "".join(websocket.recv_streaming(decode=True)) == "café"
        websocket.send("single")
        assert list(websocket.recv_streaming(decode=False)) == [b"single", b""]


def test_recv_streaming_after_close_raises_connection_closed() -> None:
    with echo_client() as websocket:
        websocket.close()
        with pytest.raises(ConnectionClosedOK):
            next(websocket.recv_streaming())


def test_recv_streaming_invalid_utf8_fails_with_1007() -> None:
    with echo_client() as websocket:
        websocket.send([b"\xff", b"\xfe"])
        with pytest.raises(ConnectionClosedError):
            list(websocket.recv_streaming(decode=True))


def test_iteration_ends_on_normal_closure() -> None:
    def two_messages(websocket: ServerConnection) -> None:
        websocket.send("one")
        websocket.send(b"two")

    with running(two_messages) as server, connect(uri_of(server)) as websocket:
        assert list(websocket) == ["one", b"two"]
        assert websocket.close_code == CloseCode.NORMAL_CLOSURE


def test_iteration_raises_on_error_closure() -> None:
    def broken(websocket: ServerConnection) -> None:
        websocket.send("one")
        raise RuntimeError("handler bug")

    with running(broken) as server, connect(uri_of(server)) as websocket:
        received: list[Data] = []
        with pytest.raises(ConnectionClosedError):
            received.extend(websocket)
        assert received == ["one"]
        assert websocket.close_code == CloseCode.INTERNAL_ERROR


def test_max_size_closes_with_1009() -> None:
    with echo_client(max_size=10) as websocket:
        websocket.send("x" * 11)
        with pytest.raises(ConnectionClosedError):
            websocket.recv(TIMEOUT)
        assert websocket.protocol.close_exc.sent is not None
        assert websocket.protocol.close_exc.sent.code == CloseCode.MESSAGE_TOO_BIG


def test_max_queue_pauses_reading_and_loses_nothing() -> None:
    count, padding = 200, "." * 4096

    def burst(websocket: ServerConnection) -> None:
        for index in range(count):
            websocket.send(f"{index}{padding}")
        websocket.recv()

    with running(burst) as server, connect(uri_of(server), max_queue=(4, 1)) as websocket:
        deadline = time.monotonic() + TIMEOUT
        # The reading thread stops once the queue holds 4 frames or more
        # (the frames of one read from the socket all go in).
        while not websocket.recv_messages._paused:
            assert time.monotonic() < deadline
            time.sleep(0.001)
        assert len(websocket.recv_messages) < count // 2
        received = [websocket.recv(TIMEOUT) for _ in range(count)]
        assert received == [f"{index}{padding}" for index in range(count)]


# Sending.


def test_send_fragments_from_iterables() -> None:
    with echo_client() as websocket:
        websocket.send(iter(["a", "b", "c"]))
        assert websocket.recv(TIMEOUT) == "abc"
        websocket.send([b"x", bytearray(b"y"), memoryview(b"z")])
        assert websocket.recv(TIMEOUT) == b"xyz"
        websocket.send(["as", "bytes"], text=False)
        assert websocket.recv(TIMEOUT) == b"asbytes"
        websocket.send([])  # nothing to send
        websocket.send("after")
        assert websocket.recv(TIMEOUT) == "after"


def test_send_rejects_dict_and_other_types() -> None:
    with echo_client() as websocket:
        with pytest.raises(TypeError, match="dict"):
            websocket.send({"a": 1})  # pyright: ignore[reportArgumentType]
        with pytest.raises(TypeError):
            websocket.send(42)  # type: ignore[arg-type] # pyright: ignore[reportArgumentType]
        with pytest.raises(TypeError):
            websocket.send([42])  # type: ignore[list-item] # pyright: ignore[reportArgumentType]
        assert websocket.state is OPEN


def test_send_mixed_fragments_fails_with_1011() -> None:
    with echo_client() as websocket:
        with pytest.raises(TypeError, match="uniform"):
            websocket.send(["text", b"bytes"])
        assert websocket.wait_closed(TIMEOUT)
        assert websocket.protocol.close_exc.sent is not None
        assert websocket.protocol.close_exc.sent.code == CloseCode.INTERNAL_ERROR
        with pytest.raises(ConnectionClosedError):
            websocket.send("closed")


def test_send_after_close_raises_connection_closed() -> None:
    with echo_client() as websocket:
        websocket.close()
        with pytest.raises(ConnectionClosedOK):
            websocket.send("late")
        with pytest.raises(ConnectionClosedOK):
            websocket.send(["late"])
        with pytest.raises(ConnectionClosedOK):
            websocket.ping()
        with pytest.raises(ConnectionClosedOK):
            websocket.pong()


def test_send_from_many_threads_is_safe() -> None:
    threads, messages = 8, 100
    with echo_client() as websocket:

        def sender(index: int) -> None:
            for number in range(messages):
                if number % 10 == 0:
                    websocket.send([f"{index}:", f"{number}"])
                else:
                    websocket.send(f"{index}:{number}")

        workers = [start_thread(sender, index) for index in range(threads)]
        received = [websocket.recv(TIMEOUT) for _ in range(threads * messages)]
        for worker in workers:
            worker.join(TIMEOUT)
        assert sorted(received) == sorted(
            f"{index}:{number}" for index in range(threads) for number in range(messages)
        )
        for index in range(threads):
            # Each thread's messages arrive in order.
            mine = [m for m in received if isinstance(m, str) and m.startswith(f"{index}:")]
            assert mine == [f"{index}:{number}" for number in range(messages)]


# Pings and pongs.


def test_ping_event_is_set_by_pong_and_sets_latency() -> None:
    with echo_client() as websocket:
        assert websocket.latency == 0
        assert websocket.ping().wait(TIMEOUT)
        assert websocket.ping("text payload").wait(TIMEOUT)
        assert websocket.ping(b"bytes payload").wait(TIMEOUT)
        assert websocket.latency > 0


def test_pong_is_an_unsolicited_heartbeat() -> None:
    with echo_client() as websocket:
        websocket.pong("heartbeat")
        websocket.pong(b"")
        websocket.send("still open")
        assert websocket.recv(TIMEOUT) == "still open"


def test_ping_with_same_payload_twice_raises_concurrency_error() -> None:
    with silent_peer() as uri, connect(uri, close_timeout=0.5, ping_interval=None) as websocket:
        event = websocket.ping(b"same")
        with pytest.raises(ConcurrencyError):
            websocket.ping(b"same")
        assert not event.is_set()


def test_ping_events_set_when_connection_closes() -> None:
    with silent_peer() as uri:
        websocket = connect(uri, close_timeout=0.5, ping_interval=None)
        event = websocket.ping()
        websocket.close()
        assert event.is_set()
        assert websocket.state is CLOSED


def test_keepalive_keeps_a_live_connection_open() -> None:
    def slow(websocket: ServerConnection) -> None:
        # Longer than several keepalive rounds.
        assert websocket.recv() == "done"

    with (
        running(slow, ping_interval=0.02, ping_timeout=TIMEOUT) as server,
        connect(uri_of(server), ping_interval=0.02, ping_timeout=TIMEOUT) as websocket,
    ):
        deadline = time.monotonic() + TIMEOUT
        while websocket.latency == 0:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert websocket.state is OPEN
        websocket.send("done")


def test_keepalive_timeout_closes_with_1011() -> None:
    with silent_peer() as uri:
        websocket = connect(uri, ping_interval=0.05, ping_timeout=0.1, close_timeout=0.5)
        with pytest.raises(ConnectionClosedError):
            websocket.recv(TIMEOUT)
        assert websocket.protocol.close_exc.sent is not None
        assert websocket.protocol.close_exc.sent.code == CloseCode.INTERNAL_ERROR
        assert websocket.state is CLOSED


# Closing.


def test_close_from_another_thread_unblocks_recv() -> None:
    with echo_client() as websocket:
        outcome: list[BaseException] = []

        def receive() -> None:
            try:
                websocket.recv()
            except ConnectionClosed as exc:
                outcome.append(exc)

        thread = start_thread(receive)
        websocket.close(CloseCode.GOING_AWAY, "bye")
        thread.join(TIMEOUT)
        assert not thread.is_alive()
        assert isinstance(outcome[0], ConnectionClosedOK)
        assert websocket.close_code == CloseCode.GOING_AWAY
        assert websocket.close_reason == "bye"


def test_close_is_idempotent() -> None:
    with echo_client() as websocket:
        websocket.close()
        websocket.close()
        assert websocket.state is CLOSED


def test_peer_that_stops_reading_blocks_send_and_close_timeout_bounds_close() -> None:
    with silent_peer() as uri:
        websocket = connect(uri, close_timeout=0.5, ping_interval=None)
        websocket.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        outcome: list[BaseException] = []
        sending = threading.Event()

        def flood() -> None:
            try:
                while True:
                    sending.set()
                    websocket.send(b"x" * 65536)
            except ConnectionClosed as exc:
                outcome.append(exc)

        thread = start_thread(flood)
        assert sending.wait(TIMEOUT)
        # Wait until send() blocks: the write lock stays held.
        deadline = time.monotonic() + TIMEOUT
        while True:
            assert time.monotonic() < deadline
            if not websocket._write_lock.acquire(timeout=0.2):
                break
            websocket._write_lock.release()
        websocket.close()
        thread.join(TIMEOUT)
        assert not thread.is_alive()
        assert isinstance(outcome[0], ConnectionClosedError)
        assert websocket.state is CLOSED


def test_close_during_fragmented_send_fails_with_1011() -> None:
    with echo_client(close_timeout=1) as websocket:
        release = threading.Event()
        started = threading.Event()
        errors: list[BaseException] = []

        def fragments() -> Generator[str]:
            yield "first"
            started.set()
            release.wait(TIMEOUT)
            yield "second"

        def send() -> None:
            try:
                websocket.send(fragments())
            except ConnectionClosed as exc:
                errors.append(exc)

        thread = start_thread(send)
        assert started.wait(TIMEOUT)
        closer = start_thread(websocket.close)
        deadline = time.monotonic() + TIMEOUT
        while websocket.state is OPEN:
            assert time.monotonic() < deadline
            time.sleep(0.001)
        release.set()
        thread.join(TIMEOUT)
        closer.join(TIMEOUT)
        assert isinstance(errors[0], ConnectionClosedError)
        assert websocket.protocol.close_exc.sent is not None
        assert websocket.protocol.close_exc.sent.code == CloseCode.INTERNAL_ERROR


def test_context_manager_closes_with_1011_on_error() -> None:
    with running(echo) as server:
        with pytest.raises(ZeroDivisionError), connect(uri_of(server)) as websocket:
            _ = 1 / 0
        assert websocket.close_code == CloseCode.INTERNAL_ERROR


def test_connection_attributes() -> None:
    with running(echo) as server, connect(uri_of(server, "/path?q")) as websocket:
        port = server.socket.getsockname()[1]
        assert websocket.remote_address == ("127.0.0.1", port)
        assert websocket.local_address[0] == "127.0.0.1"
        assert websocket.state is OPEN
        assert websocket.request is not None
        assert websocket.request.path == "/path?q"
        assert websocket.response is not None
        assert websocket.response.status_code == 101
        assert websocket.subprotocol is None
        assert websocket.close_code is None
        assert websocket.close_reason is None
        assert websocket.id == websocket.protocol.id
        assert websocket.logger is websocket.protocol.logger


def test_reset_connection_raises_connection_closed_error() -> None:
    def reset(websocket: ServerConnection) -> None:
        websocket.socket.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
        )
        websocket._abort()
        websocket.socket.close()

    with (
        running(reset) as server,
        connect(uri_of(server)) as websocket,
        pytest.raises(ConnectionClosedError),
    ):
        websocket.recv(TIMEOUT)

"""Limits that attackers count, end to end through the asyncio server and client.

Each test plays the attacker with a raw peer (tests/raw_peer.py)
or raw sockets: too many fragments, decompression bombs, oversized HTTP
heads, slow handshakes, ping floods.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import tracemalloc
import zlib

import pytest
from raw_peer import (
    OP_BINARY,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    SIDES,
    TIMEOUT,
    RawServer,
    Side,
    echo,
    handshake_request,
    http_exchange,
    open_peer,
    raw_stream,
)

from websockets_typed.asyncio.client import connect
from websockets_typed.asyncio.server import serve
from websockets_typed.exceptions import SecurityError, TooManyFragments

pytestmark = pytest.mark.timeout(30)

MESSAGE_TOO_BIG = 1009


# Fragments of an unfinished message.


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("payload", [b"", b"x"], ids=["empty", "one-byte"])
async def test_fragment_flood_fails_with_1009(side: Side, payload: bytes) -> None:
    """A message that never ends, one tiny fragment at a time, fails once it
    has more than max_fragments frames; the rest of the flood is ignored."""
    async with open_peer(side, max_fragments=1000) as peer:
        message = [payload] * 1000
        await peer.send_message(OP_BINARY, message)
        await peer.expect_message(OP_BINARY, payload * 1000)
        flood = (
            peer.frame(OP_TEXT, payload, fin=False) + peer.frame(OP_CONT, payload, fin=False) * 5000
        )
        await peer.send(flood)
        await peer.expect_closing(MESSAGE_TOO_BIG, b"message has more than 1000 fragments")
    assert peer.ours.close_code is not None
    exc = peer.ours.protocol.close_exc
    assert isinstance(exc.__cause__, TooManyFragments)


@pytest.mark.parametrize("side", SIDES)
async def test_no_fragment_limit(side: Side) -> None:
    async with open_peer(side, max_fragments=None) as peer:
        await peer.send_message(OP_BINARY, [b""] * 20_000 + [b"end"])
        await peer.expect_message(OP_BINARY, b"end")


# Decompression bombs: max_size applies while inflating.


@pytest.mark.parametrize("side", SIDES)
async def test_decompression_bomb_costs_no_more_than_max_size(side: Side) -> None:
    """64 MiB of zeros in 64 KiB of deflate data: inflating stops at max_size,
    so memory stays a few times max_size, not 64 MiB."""
    compressor = zlib.compressobj(wbits=-15)
    bomb = b"".join(compressor.compress(bytes(2**20)) for _ in range(64))
    bomb += compressor.flush(zlib.Z_SYNC_FLUSH)[:-4]
    assert len(bomb) < 2**17
    async with open_peer(
        side,
        offer="permessage-deflate",
        response="permessage-deflate",
        max_size=2**20,
    ) as peer:
        frame = peer.frame(OP_BINARY, bomb, rsv1=True)
        tracemalloc.start()
        try:
            await peer.send(frame)
            await peer.expect_closing(MESSAGE_TOO_BIG)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # The frame itself (buffered and unmasked: 2 copies), max_size + 1 bytes
    # of output, zlib's window: well under 8 MiB, against 64 MiB inflated.
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.1f} MiB"


# Ping floods: a peer that pings faster than it reads the pongs.


@pytest.mark.parametrize("side", SIDES)
async def test_ping_flood_does_not_grow_the_write_buffer(side: Side) -> None:
    """While the write buffer is above write_limit, pings are answered with a
    single pong for the latest one (RFC 6455, 5.5.3), once it drains.

    The pongs for the pings of one read (up to 256 KiB) are written together,
    so the buffer may exceed write_limit by that much, not more: answering
    each of 20 000 pings would buffer 2.5 MB.
    """
    count = 20_000
    async with open_peer(side, rcvbuf=4096) as peer:
        transport = peer.ours.transport
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        sizes: list[int] = []
        write = transport.write

        def tracking_write(data: bytes | bytearray | memoryview) -> None:
            write(data)
            sizes.append(transport.get_write_buffer_size())

        transport.write = tracking_write  # type: ignore[method-assign]
        payloads = [b"%05d" % index + b"p" * 120 for index in range(count)]
        await peer.send(b"".join(peer.frame(OP_PING, payload) for payload in payloads))
        await peer.send_frame(OP_TEXT, b"sync")
        # Now read: pongs, some of them coalesced, and the echo.
        pongs: list[bytes] = []
        echoed = False
        while not echoed or pongs[-1] != payloads[-1]:
            frame = await peer.read_frame()
            if frame.opcode == OP_PONG:
                pongs.append(frame.payload)
            else:
                assert (frame.opcode, frame.payload) == (OP_TEXT, b"sync")
                echoed = True
    high, _ = peer.ours.write_limit
    # Never more than write_limit plus the pongs of one read, 4% larger than
    # its pings at most (a client masks its pongs).
    assert max(sizes) <= high + 2**18 * 1.04, f"write buffer reached {max(sizes)} bytes"
    # Pongs come in order, each for a ping that was sent, the last one last.
    assert pongs == sorted(pongs)
    assert set(pongs) <= set(payloads)
    assert len(pongs) < count


# HTTP heads: line length and number of headers (414 and 431).


async def read_response(port: int, request: bytes) -> tuple[int, bytes]:
    """Send a raw request; return the status code and whatever followed, up to EOF."""
    data = await http_exchange(port, request)
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split(b" ")[1]), rest


def request_with(*headers: tuple[str, str], target: str = "/") -> bytes:
    """A valid handshake request with extra header lines."""
    return handshake_request(path=target, headers=headers)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        # The request line may have 8192 bytes, CRLF excluded.
        (request_with(target="/" + "a" * (8192 - len("GET / HTTP/1.1"))), 101),
        (request_with(target="/" + "a" * (8193 - len("GET / HTTP/1.1"))), 414),
        # So may a header line.
        (request_with(("X-Long", "a" * (8192 - len("X-Long: ")))), 101),
        (request_with(("X-Long", "a" * (8193 - len("X-Long: ")))), 431),
        # 128 headers at most: the 5 of a handshake and 123 more.
        (request_with(*[("X-Many", str(index)) for index in range(123)]), 101),
        (request_with(*[("X-Many", str(index)) for index in range(124)]), 431),
    ],
    ids=[
        "line-8192",
        "line-8193",
        "header-8192",
        "header-8193",
        "128-headers",
        "129-headers",
    ],
)
async def test_http_limits_of_the_server(request_bytes: bytes, status: int) -> None:
    async with serve(echo, "127.0.0.1", 0, open_timeout=TIMEOUT) as server:
        port = server.sockets[0].getsockname()[1]
        if status == 101:
            async with raw_stream(port) as (reader, writer):
                writer.write(request_bytes)
                async with asyncio.timeout(TIMEOUT):
                    head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 101 ")
        else:
            code, rest = await read_response(port, request_bytes)
            assert code == status
            assert b"Connection: close" in rest


async def test_oversized_request_is_rejected_before_it_ends() -> None:
    """The 431 comes as soon as a line is known to be too long: the server
    doesn't buffer the rest, however long the client goes on."""
    async with serve(echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with raw_stream(port) as (reader, writer):
            # A header line that never ends: bytes no request helper builds.
            writer.write(b"GET / HTTP/1.1\r\nX-Endless: " + b"a" * 9000)
            async with asyncio.timeout(TIMEOUT):
                head = await reader.readuntil(b"\r\n")
            assert head.startswith(b"HTTP/1.1 431 ")


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ([b"X-Long: " + b"a" * 8200], "HTTP header line too long"),
        ([b"X-Many: %d" % index for index in range(130)], "too many HTTP headers"),
    ],
    ids=["long-header", "many-headers"],
)
async def test_http_limits_of_the_client(headers: list[bytes], message: str) -> None:
    """The client applies the same limits to the server's response, and
    fails at once, without waiting for the server to close the connection."""
    raw = RawServer()
    await raw.start()
    try:
        connecting = asyncio.ensure_future(connect(raw.uri, open_timeout=None))
        # Answer, then leave the connection open.
        await raw.respond(b"\r\n".join([b"HTTP/1.1 101 Switching Protocols", *headers, b"", b""]))
        with pytest.raises(SecurityError, match=message):
            async with asyncio.timeout(TIMEOUT):
                await connecting
    finally:
        await raw.close()


# The opening handshake deadline against slow clients (slowloris).


@pytest.mark.parametrize(
    "start",
    [b"", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "],
    ids=["request-line", "header"],
)
async def test_slowloris_is_dropped_at_open_timeout(
    start: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that trickles its request a byte at a time, never finishing
    it and never breaking a limit, is dropped when open_timeout expires."""
    caplog.set_level(logging.INFO, logger="websockets_typed")
    async with (
        serve(echo, "127.0.0.1", 0, open_timeout=0.5) as server,
        raw_stream(server.sockets[0].getsockname()[1]) as (reader, writer),
    ):
        writer.write(start)
        sent = 0
        async with asyncio.timeout(10):
            while not reader.at_eof():
                writer.write(b"GET /"[sent % 5 : sent % 5 + 1] if not start else b"a")
                sent += 1
                # A byte at a time, until the server hangs up: reading
                # returns b"" (EOF) or raises (reset).
                try:
                    async with asyncio.timeout(0.05):
                        assert await reader.read(1) == b""
                except TimeoutError:
                    continue
                except ConnectionError:
                    break
                break
        # Far from any limit on the length of a line.
        assert sent < 8192
    assert "opening handshake timed out" in caplog.messages

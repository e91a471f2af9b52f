"""The benchmark's own parts (bench/): the light version of what bench/run.py runs.

The fixed peers count messages by reading frame headers only; if they
miscounted, every figure would be wrong, so their parsing is checked
against our serializer, split at every possible place. A short run of the
runner itself checks that it still produces its table.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import uvloop
from fixed import LATENCY_TEXT, FixedServer, FixedServerConnection, LoadGenerator
from hypothesis import given
from hypothesis import strategies as st
from micro import measurements
from raw import room_triggers
from wire import (
    ACK_FRAME,
    CLIENT_CLOSE_FRAME,
    CLIENT_KEY,
    OP_BINARY,
    OP_CLOSE,
    OP_TEXT,
    SERVER_CLOSE_FRAME,
    FrameCounter,
    FrameRing,
    apply_mask,
    binary_payload,
    deflate_message,
    encode_frame,
    handshake_request,
    handshake_response,
    json_payloads,
    negotiated_deflate,
    text_payload,
)

from websockets_typed.asyncio.server import ServerConnection, serve
from websockets_typed.frames import Frame, Opcode, parse_frame, py_apply_mask, serialize_frame
from websockets_typed.handshake import accept_key
from websockets_typed.http11 import RequestParser

ROOT = Path(__file__).resolve().parent.parent.parent
# The sign in the targets, as in "≥ 0.85 times raw-asyncio".
TIMES = "\N{MULTIPLICATION SIGN}"


def wire_bytes(frames: list[Frame], *, mask: bool) -> bytes:
    return b"".join(b"".join(serialize_frame(frame, mask=mask)) for frame in frames)


FRAMES = st.lists(
    st.builds(
        Frame,
        st.sampled_from([Opcode.TEXT, Opcode.BINARY, Opcode.PING, Opcode.PONG]),
        st.sampled_from([b"", b"x" * 125, b"y" * 126, b"z" * 65535, b"w" * 65536]),
    ),
    max_size=8,
)


@given(FRAMES, st.booleans(), st.data())
def test_frame_counter_counts_messages_however_bytes_are_split(
    frames: list[Frame], mask: bool, data: st.DataObject
) -> None:
    stream = wire_bytes(frames, mask=mask)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    counter = FrameCounter()
    counted = sum(
        counter.feed(stream[start:end])
        for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True)
    )
    assert counted == sum(frame.opcode in (Opcode.TEXT, Opcode.BINARY) for frame in frames)
    assert not counter.closed


@pytest.mark.parametrize("close", [CLIENT_CLOSE_FRAME, SERVER_CLOSE_FRAME])
def test_frame_counter_sees_close_frames_byte_by_byte(close: bytes) -> None:
    counter = FrameCounter()
    stream = wire_bytes([Frame(Opcode.TEXT, b"hi")], mask=True) + close
    assert sum(counter.feed(stream[index : index + 1]) for index in range(len(stream))) == 1
    assert counter.closed


def test_frame_counter_reads_a_reused_buffer_cut_at_every_size() -> None:
    """The fixed server feeds views of one buffer that the next read overwrites.

    Reads of every size from 1 to 16 bytes cut each header (2 to 14 bytes
    long) at every offset; what the counter keeps of a cut header must be a
    copy, or the next read would change it.
    """
    frames = [
        Frame(Opcode.TEXT, b""),
        Frame(Opcode.BINARY, b"x" * 125),
        Frame(Opcode.PING, b"p"),
        Frame(Opcode.BINARY, b"y" * 126),
        Frame(Opcode.TEXT, b"z" * 65536),
        Frame(Opcode.BINARY, b"w", fin=False),
        Frame(Opcode.CONT, b"v"),
    ]
    for mask in (False, True):
        stream = wire_bytes(frames, mask=mask) + CLIENT_CLOSE_FRAME
        for size in range(1, 17):
            buffer = bytearray(size)
            counter = FrameCounter()
            counts: list[int] = []
            for start in range(0, len(stream), size):
                chunk = stream[start : start + size]
                buffer[: len(chunk)] = chunk
                counts.append(counter.feed(memoryview(buffer)[: len(chunk)]))
                buffer[:] = b"\xff" * size  # the next read's bytes
            assert sum(counts) == 5, (mask, size)
            assert counter.closed, (mask, size)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_fixed_server_acknowledges_messages_cut_anywhere(loop: str) -> None:
    """The fixed server, on a real socket: handshake, messages, closing handshake.

    The client writes the stream in pieces of awkward sizes, larger than the
    server's buffer too, each after the previous one was acknowledged or
    drained, so that the server's reads end at many places in the frames.
    """

    async def run() -> None:
        server = FixedServer()
        port = (await server.start({}))["port"]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(handshake_request(port).replace(b"GET / ", b"GET /ack ", 1))
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 ")
        sizes = [1, 2, 3, 125, 126, 65535, 65536, 3 * FixedServerConnection.BUFFER_SIZE + 5]
        stream = b"".join(encode_frame(OP_BINARY, bytes(size), mask=True) for size in sizes)
        pieces = [1, 7, 13, 1000, FixedServerConnection.BUFFER_SIZE + 1]
        start = 0
        for piece in itertools.cycle(pieces):
            if start >= len(stream):
                break
            writer.write(stream[start : start + piece])
            await writer.drain()
            start += piece
        assert await reader.readexactly(len(ACK_FRAME) * len(sizes)) == ACK_FRAME * len(sizes)
        writer.write(CLIENT_CLOSE_FRAME)
        assert await reader.read() == SERVER_CLOSE_FRAME
        writer.close()
        await server.stop({})

    if loop == "uvloop":
        uvloop.run(run())
    else:
        asyncio.run(run())


def test_frame_counter_ignores_fragments_until_the_last() -> None:
    frames = [Frame(Opcode.TEXT, b"a", fin=False), Frame(Opcode.CONT, b"b")]
    assert FrameCounter().feed(wire_bytes(frames, mask=False)) == 1


@given(st.binary(max_size=600), st.binary(min_size=4, max_size=4))
def test_apply_mask_matches_ours(data: bytes, key: bytes) -> None:
    assert apply_mask(data, key) == py_apply_mask(data, key)


def test_frames_of_the_load_generator_parse_as_intended() -> None:
    buffer = bytearray(encode_frame(OP_TEXT, deflate_message(b"{}"), mask=True, rsv1=True))
    frame = parse_frame(buffer, mask=True)
    assert frame is not None
    assert frame.rsv1
    assert zlib.decompressobj(-15).decompress(frame.data + b"\x00\x00\xff\xff") == b"{}"
    assert len(LATENCY_TEXT) == 16


def test_frame_ring_cycles_without_copying() -> None:
    ring = FrameRing([b"a", b"bb", b"ccc"])
    assert [bytes(chunk) for chunk in ring.take(2)] == [b"abb"]
    assert [bytes(chunk) for chunk in ring.take(3)] == [b"cccabb"]
    assert [bytes(chunk) for chunk in ring.take(7)] == [b"cccabb", b"cccabb", b"ccc"]
    assert all(isinstance(chunk, memoryview) for chunk in ring.take(4))


def test_room_triggers_split_small_masked_frames() -> None:
    trigger = encode_frame(OP_TEXT, b"200 64", mask=True)
    stream = trigger + CLIENT_CLOSE_FRAME
    frames, rest = room_triggers(stream[:-3])
    assert frames == [(OP_TEXT, b"200 64")]
    assert rest == CLIENT_CLOSE_FRAME[:-3]
    frames, rest = room_triggers(rest + stream[-3:])
    assert frames == [(OP_CLOSE, (1000).to_bytes(2, "big"))]
    assert rest == b""
    assert room_triggers(b"\x81") == ([], b"\x81")
    for frame in [
        encode_frame(OP_TEXT, b"1 1", mask=False),
        encode_frame(OP_BINARY, bytes(126), mask=True),
    ]:
        with pytest.raises(ValueError, match="small masked frames"):
            room_triggers(frame)


def test_handshake_request_is_valid_and_response_accepts_it() -> None:
    request_bytes = handshake_request(8765, "permessage-deflate")
    request = RequestParser().parse(bytearray(request_bytes))
    assert request is not None
    assert request.headers["Sec-WebSocket-Key"] == CLIENT_KEY
    # The header's name is found whatever its case.
    head = request_bytes[:-4].replace(b"Sec-WebSocket-Key", b"sec-websocket-KEY")
    response = handshake_response(head)
    assert f"Sec-WebSocket-Accept: {accept_key(CLIENT_KEY)}\r\n".encode() in response
    assert not negotiated_deflate(response)
    with pytest.raises(ValueError, match="Sec-WebSocket-Key"):
        handshake_response(b"GET / HTTP/1.1\r\nHost: x")


def test_payloads() -> None:
    assert len(text_payload(1000)) == 1000
    assert text_payload(1000).isascii()
    assert binary_payload(100) == binary_payload(100) != binary_payload(101)[:100]
    documents = json_payloads(20, 1024)
    assert len(set(documents)) == 20
    for document in documents:
        assert len(document) == 1024
        json.loads(document)
        # Like real traffic: compressible, but not to almost nothing.
        assert 150 < len(deflate_message(document)) < 900
    with pytest.raises(ValueError, match="at least"):
        json_payloads(1, 10)


def test_runner_prints_the_table() -> None:
    """A tiny run of bench/run.py: two scenarios, ours and websockets, once."""
    command = [
        sys.executable,
        str(ROOT / "bench" / "run.py"),
        "--quick",
        "--repetitions=1",
        "--scenarios=S1,C1",
        "--libraries=websockets_typed,websockets",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=50, check=True)
    rows = [line for line in result.stdout.splitlines() if line.startswith("| **")]
    assert len(rows) == 2
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        # Scenario, unit, two libraries, ratio, CPU ratio, target.
        assert len(cells) == 7
        assert cells[4][0].isdigit(), row


def test_runner_measures_the_threading_libraries() -> None:
    """The "-sync" scenarios: threading libraries only, ratio to websockets.sync."""
    command = [
        sys.executable,
        str(ROOT / "bench" / "run.py"),
        "--quick",
        "--repetitions=1",
        "--scenarios=S1-sync,C1-sync",
        "--libraries=websockets_typed,websockets,websockets_typed.sync,websockets.sync,"
        "websocket-client",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=50, check=True)
    rows = [line for line in result.stdout.splitlines() if line.startswith("| **")]
    assert len(rows) == 2
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        # Scenario, unit, five libraries, ratios to websockets(.sync) and
        # websocket-client, CPU ratio, target.
        assert len(cells) == 11
        # The asyncio libraries don't take part; the threading ones do.
        assert cells[2] == cells[3] == "n/a", row
        assert cells[4][0].isdigit(), row
        assert cells[5][0].isdigit(), row
        assert cells[7][0].isdigit(), row
        assert cells[10].startswith(f"≥ 1.0 {TIMES} websockets.sync "), row
    # websocket-client has a client only.
    server, client = map(cells_of, rows)
    assert server[6] == "n/a"
    assert server[8] == "-"
    assert client[6][0].isdigit()
    assert client[8][0].isdigit()


def cells_of(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip("|").split("|")]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_runner_measures_raw_asyncio_fresh_and_long_lived(loop: str, tmp_path: Path) -> None:
    """Raw asyncio in every role, the large-message rows both ways, a ratio per peer."""
    samples = tmp_path / "samples.json"
    command = [
        sys.executable,
        str(ROOT / "bench" / "run.py"),
        "--quick",
        "--repetitions=1",
        "--scenarios=S1,S3 1 MiB,S4 seq,S6,S7,C1,C2 1 MiB",
        "--libraries=websockets_typed,websockets,raw-asyncio",
        f"--json={samples}",
        *(["--uvloop"] if loop == "uvloop" else []),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=100, check=True)
    rows = {
        cells[0].split("**")[1]: cells
        for cells in map(cells_of, result.stdout.splitlines())
        if cells[0].startswith("**")
    }
    header = cells_of(next(line for line in result.stdout.splitlines() if "| Scenario" in line))
    assert header[2:] == [
        "websockets_typed",
        "websockets",
        "raw-asyncio",
        "ours / websockets",
        "ours / raw-asyncio",
        "CPU ours / websockets",
        "Target",
    ]
    assert list(rows) == [
        "S1",
        "S3 1 MiB (fresh)",
        "S3 1 MiB (long-lived)",
        "S4 seq",
        "S6",
        "S7",
        "S7 same",
        "C1",
        "C2 1 MiB (fresh)",
        "C2 1 MiB (long-lived)",
    ]
    for key, cells in rows.items():
        if key.startswith("S7"):
            # No permessage-deflate in raw asyncio: not measured, not an error.
            assert cells[4] == "n/a"
            assert cells[6] == "-"
        else:
            assert cells[4][0].isdigit(), cells
            assert cells[6][0].isdigit(), cells
        assert cells[5][0].isdigit(), cells
    # Targets against raw asyncio get a verdict; against absent peers, none.
    assert rows["S1"][8].startswith(f"≥ 0.85 {TIMES} raw-asyncio ")
    assert rows["S1"][8][-1] in "✅❌"
    assert rows["C2 1 MiB (fresh)"][8] == f"≥ 1.0 {TIMES} picows"

    # The long-lived rows ran last, in the worker that served the others;
    # each fresh row in a process of its own.
    done = [line for line in result.stderr.splitlines() if line.endswith(" done")]
    assert [line.split(": ", 1)[1] for line in done[-2:]] == [
        "S3 1 MiB (long-lived) done",
        "C2 1 MiB (long-lived) done",
    ]
    for library, pids in pids_by_scenario(samples).items():
        long_lived = {pids[key] for key in rows if "fresh" not in key and key in pids}
        assert len(long_lived) == 1, library
        fresh = [pids["S3 1 MiB (fresh)"], pids["C2 1 MiB (fresh)"]]
        assert len({*fresh, *long_lived}) == 3, library


def pids_by_scenario(samples: Path) -> dict[str, dict[str, int]]:
    """The process that measured each library in each scenario, from --json."""
    result: dict[str, dict[str, int]] = {}
    for key, libraries in json.loads(samples.read_text()).items():
        for library, [sample] in libraries.items():
            if sample is not None:
                result.setdefault(library, {})[key] = sample["pid"]
    return result


def test_micro_measures_each_operation_of_both_libraries() -> None:
    # Each measured function runs as is: S4's handshakes succeed on both sides.
    for _, ours, theirs, ops in measurements():
        ours()
        theirs()
        assert ops > 0


@pytest.mark.parametrize("scenario", ["S1", "S4"])
def test_alternating_servers_prints_rates_and_cpu_times(scenario: str) -> None:
    """A tiny run of bench/alternate.py: two servers, two rounds each."""
    command = [
        sys.executable,
        str(ROOT / "bench" / "alternate.py"),
        f"--scenario={scenario}",
        "--rounds=2",
        "--count=40",
        "websockets_typed",
        f"checkout={ROOT}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{scenario} (")
    header = lines.index(
        "| Server | median rate | / websockets_typed (p25-p75) "
        "| server CPU µs/op | load generator CPU µs/op |"
    )
    rows = [cells_of(line) for line in lines[header + 2 :]]
    assert [cells[0] for cells in rows] == ["websockets_typed", "checkout"]
    # The first server's ratio to itself; every figure measured.
    assert rows[0][2] == "1.000 (1.000-1.000)"
    for cells in rows:
        assert float(cells[1].replace(",", "")) > 0
        assert float(cells[2].split()[0]) > 0
        # CPU times: too short a run to be above the clock's tick, but given.
        assert re.fullmatch(r"\d+\.\d", cells[3]), cells
        assert re.fullmatch(r"\d+\.\d", cells[4]), cells


def test_alternating_servers_imports_a_checkout_from_its_path(tmp_path: Path) -> None:
    """NAME=PATH runs the websockets_typed found at PATH, here a broken one."""
    package = tmp_path / "websockets_typed"
    package.mkdir()
    (package / "__init__.py").write_text('raise RuntimeError("the checkout at PATH")\n')
    command = [
        sys.executable,
        str(ROOT / "bench" / "alternate.py"),
        "--rounds=1",
        "--count=10",
        f"broken={tmp_path}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "the checkout at PATH" in result.stderr


@pytest.mark.parametrize("op", ["latency", "pipeline", "large"])
async def test_a_run_fails_when_the_server_closes_the_connection(op: str) -> None:
    """The load generator raises rather than wait forever for answers that can't come."""

    async def close_after_one(websocket: ServerConnection) -> None:
        await websocket.recv()
        await websocket.close()

    generator = LoadGenerator()
    handlers = generator.handlers()
    async with serve(close_after_one, "127.0.0.1", 0, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        opened = await handlers["open"]({"port": port, "path": "/", "count": 1})
        request = {"session": opened["session"], "count": 100, "size": 2**16, "window": 10}
        with pytest.raises(ConnectionError, match="closed the connection during the run"):
            async with asyncio.timeout(10):
                await handlers[op](request)


async def test_handshakes_open_and_close_every_connection() -> None:
    """S4's client, on a real server: each connection upgraded, then closed by the server."""
    closed: list[int | None] = []

    async def handler(websocket: ServerConnection) -> None:
        await websocket.wait_closed()
        closed.append(websocket.close_code)

    handlers = LoadGenerator().handlers()
    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        result = await handlers["handshakes"]({"port": port, "count": 40, "concurrency": 8})
        assert result["ops"] == 40
        assert result["seconds"] > 0
        async with asyncio.timeout(10):
            while len(closed) < 40:
                await asyncio.sleep(0.01)
    # Each closed by the load generator's Close frame (1000), none failed.
    assert closed == [1000] * 40


async def answer_with(response: bytes) -> tuple[asyncio.Server, int]:
    """A server that reads a request head, writes ``response`` and closes the connection."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(response)
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (b"HTTP/1.1 403 Forbidden\r\n\r\n", "^HTTP/1.1 403 Forbidden$"),
        (b"HTTP/1.1 101 Switching Protocols\r\n", "connection lost during the handshake"),
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "closed the connection without a Close"),
    ],
)
async def test_handshakes_fail_on_a_bad_answer(response: bytes, error: str) -> None:
    server, port = await answer_with(response)
    handlers = LoadGenerator().handlers()
    async with server:
        with pytest.raises(ConnectionError, match=error):
            await handlers["handshakes"]({"port": port, "count": 5, "concurrency": 2})


async def test_handshakes_fail_when_nothing_listens() -> None:
    server, port = await answer_with(b"")
    server.close()
    await server.wait_closed()
    with pytest.raises(ConnectionRefusedError):
        await LoadGenerator().handlers()["handshakes"]({"port": port, "count": 1, "concurrency": 1})

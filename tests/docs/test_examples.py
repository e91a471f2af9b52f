"""Every program in examples/ runs, as a program, against a live server.

Each server example starts as a subprocess on a free port (the ``PORT``
environment variable), is driven by our client or by the matching client
example (whose ``input()`` reads the subprocess's stdin), and is stopped
with SIGINT or SIGTERM: it must exit with status 0 and print nothing on
stderr. A connection still open at that moment is closed with 1001.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import shutil
import signal
import ssl
import stat
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from process_helpers import (
    EXAMPLES,
    child_env,
    free_port,
    python_command,
    running_server,
)
from proxy_helpers import start_pproxy
from services import RedisServer, require_program

from websockets_typed import ClientConnection, ConnectionClosedOK, InvalidStatus, connect
from websockets_typed.testserver import DEFAULT_PORT

# Every example is listed here, so that a new one can't go untested.
SERVERS = {
    "broadcast.py",
    "consumer.py",
    "consumer_producer.py",
    "counter.py",
    "echo_server.py",
    "hello_server.py",
    "producer.py",
    "redis_chat.py",
    "registration.py",
    "router.py",
    "sansio_server.py",
    "secure_server.py",
    "show_time.py",
    "sync_echo_server.py",
}
CLIENTS = {
    "echo_client.py",
    "hello_client.py",
    "proxy_client.py",
    "secure_client.py",
    "sync_client.py",
}
TOOLS = {"make_certificate.py"}
PAGES = {"counter.html", "show_time.html"}

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
CLOCK = re.compile(r"It is \d\d:\d\d:\d\d UTC\.")


def test_every_example_is_tested() -> None:
    files = {path.name for path in EXAMPLES.iterdir() if path.suffix in (".py", ".html")}
    assert files == SERVERS | CLIENTS | TOOLS | PAGES


def test_every_example_says_how_to_run_it() -> None:
    for path in EXAMPLES.glob("*.py"):
        source = path.read_text()
        assert source.startswith('"""'), path.name
        assert f"python examples/{path.name}" in source, path.name


# Helpers.


async def run_client(script: Path, *args: str, stdin: str = "", port: int, **env: str) -> str:
    """Run a client example to completion; check it succeeded; return its output."""
    process = await asyncio.create_subprocess_exec(
        *python_command(script, *args),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=script.parent,
        env=child_env(PORT=str(port), **env),
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(stdin.encode()), 20)
    assert process.returncode == 0, stderr.decode()
    assert stderr == b""
    return stdout.decode()


async def recv_text(websocket: ClientConnection) -> str:
    """Receive a text message, within a bounded time."""
    async with asyncio.timeout(10):
        return await websocket.recv(decode=True)


async def recv_json(websocket: ClientConnection) -> object:
    """Receive a JSON message, within a bounded time."""
    return json.loads(await recv_text(websocket))


async def http_get(port: int, path: str = "/") -> tuple[int, str, str]:
    """GET a page with a plain HTTP client; return status, content type, body."""

    def get() -> tuple[int, str, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
                return response.status, response.headers["Content-Type"], response.read().decode()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.headers["Content-Type"], exc.read().decode()

    return await asyncio.to_thread(get)


def example(name: str) -> Path:
    return EXAMPLES / name


# The hello examples: the server reads a name, the client asks for it.


async def test_hello_server_and_client() -> None:
    port = free_port()
    async with running_server([example("hello_server.py")], port) as server:
        output = await run_client(example("hello_client.py"), stdin="Alice\n", port=port)
        assert output == "What's your name? > Alice\n< Hello Alice!\n"

        # The server closes the connection when the handler returns.
        async with connect(f"ws://127.0.0.1:{port}") as websocket:
            await websocket.send("Bob")
            assert await recv_text(websocket) == "Hello Bob!"
            with pytest.raises(ConnectionClosedOK):
                await recv_text(websocket)
            assert websocket.close_code == 1000

        stdout = await server.stop_cleanly(signal.SIGINT)
    assert stdout == "< Alice\n> Hello Alice!\n< Bob\n> Hello Bob!\n"


# The secure examples, in a copy of examples/: the certificate is written
# beside the scripts.


async def test_make_certificate_and_secure_examples(tmp_path: Path) -> None:
    for name in ("make_certificate.py", "secure_server.py", "secure_client.py"):
        shutil.copy(EXAMPLES / name, tmp_path)
    port = free_port()

    output = await run_client(tmp_path / "make_certificate.py", port=port)
    pem = tmp_path / "localhost.pem"
    assert output == f"Wrote {pem}\n"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    contents = pem.read_text()
    assert "-----BEGIN PRIVATE KEY-----" in contents
    assert "-----BEGIN CERTIFICATE-----" in contents

    async with running_server([tmp_path / "secure_server.py"], port, cwd=tmp_path) as server:
        output = await run_client(tmp_path / "secure_client.py", stdin="Carol\n", port=port)
        assert output == "What's your name? > Carol\n< Hello Carol!\n"

        # The certificate is valid for localhost and 127.0.0.1, with strict checks.
        context = ssl.create_default_context(cafile=pem)
        context.verify_flags |= ssl.VERIFY_X509_STRICT
        async with connect(f"wss://127.0.0.1:{port}", ssl=context) as websocket:
            await websocket.send("Dave")
            assert await recv_text(websocket) == "Hello Dave!"

        # And it is really checked: without trusting it, connecting fails.
        with pytest.raises(ssl.SSLCertVerificationError):
            await connect(f"wss://localhost:{port}", open_timeout=10)

        stdout = await server.stop_cleanly(signal.SIGINT)
    assert stdout == "< Carol\n> Hello Carol!\n< Dave\n> Hello Dave!\n"


# Browser-based examples: the server also serves the page.


async def test_show_time() -> None:
    port = free_port()
    async with running_server([example("show_time.py")], port) as server:
        status, content_type, body = await http_get(port)
        assert status == 200
        assert content_type == "text/html; charset=utf-8"
        assert body == (EXAMPLES / "show_time.html").read_text()

        async with connect(f"ws://127.0.0.1:{port}") as websocket:
            # The first message comes at once, the next within 3 seconds.
            first = await recv_text(websocket)
            second = await recv_text(websocket)
        for message in (first, second):
            assert TIMESTAMP.fullmatch(message), message
        assert first <= second
        sent = datetime.datetime.fromisoformat(first)
        assert abs(datetime.datetime.now(datetime.UTC) - sent) < datetime.timedelta(minutes=1)

        await server.stop_cleanly()


async def test_counter() -> None:
    port = free_port()
    url = f"ws://127.0.0.1:{port}"
    async with running_server([example("counter.py")], port) as server:
        status, content_type, body = await http_get(port)
        assert (status, content_type) == (200, "text/html; charset=utf-8")
        assert body == (EXAMPLES / "counter.html").read_text()

        async with connect(url) as alice:
            assert await recv_json(alice) == {"type": "users", "count": 1}
            assert await recv_json(alice) == {"type": "state", "value": 0}
            async with connect(url) as bob:
                assert await recv_json(bob) == {"type": "users", "count": 2}
                assert await recv_json(bob) == {"type": "state", "value": 0}
                assert await recv_json(alice) == {"type": "users", "count": 2}

                await alice.send(json.dumps({"action": "plus"}))
                assert await recv_json(alice) == {"type": "state", "value": 1}
                assert await recv_json(bob) == {"type": "state", "value": 1}
                await bob.send(json.dumps({"action": "minus"}))
                await bob.send(json.dumps({"action": "minus"}))
                for websocket in (alice, bob):
                    assert await recv_json(websocket) == {"type": "state", "value": 0}
                    assert await recv_json(websocket) == {"type": "state", "value": -1}

                # An unknown action is logged, and changes nothing.
                await bob.send(json.dumps({"action": "jump"}))
            assert await recv_json(alice) == {"type": "users", "count": 1}

        assert await server.stop(signal.SIGINT) == 0
    assert server.stderr == "ERROR:root:unsupported event: {'action': 'jump'}\n"


# The patterns of a connection handler.


async def test_consumer() -> None:
    port = free_port()
    async with running_server([example("consumer.py")], port) as server:
        async with connect(f"ws://127.0.0.1:{port}") as websocket:
            await websocket.send("one")
            await websocket.send(b"\x02")
        stdout = await server.stop_cleanly()
    assert stdout == "< 'one'\n< b'\\x02'\n"


async def test_producer() -> None:
    port = free_port()
    async with running_server([example("producer.py")], port) as server:
        async with connect(f"ws://127.0.0.1:{port}") as websocket:
            for _ in range(2):
                assert CLOCK.fullmatch(await recv_text(websocket))
        await server.stop_cleanly(signal.SIGINT)


async def test_consumer_producer() -> None:
    port = free_port()
    async with running_server([example("consumer_producer.py")], port) as server:
        async with connect(f"ws://127.0.0.1:{port}") as websocket:
            await websocket.send("received while producing")
            assert CLOCK.fullmatch(await recv_text(websocket))
            await websocket.send("still received")
            assert CLOCK.fullmatch(await recv_text(websocket))
        stdout = await server.stop_cleanly()
    assert stdout == "< 'received while producing'\n< 'still received'\n"


async def test_registration() -> None:
    port = free_port()
    url = f"ws://127.0.0.1:{port}"
    async with running_server([example("registration.py")], port) as server:
        async with connect(url) as alice:
            assert await recv_text(alice) == "Hello! 1 connected."
            async with connect(url) as bob:
                for websocket in (alice, bob):
                    assert await recv_text(websocket) == "Hello! 2 connected."
            # Bob is unregistered once his connection is closed.
            async with connect(url) as carol:
                for websocket in (alice, carol):
                    assert await recv_text(websocket) == "Hello! 2 connected."
        await server.stop_cleanly(signal.SIGINT)


async def test_router() -> None:
    port = free_port()
    url = f"ws://127.0.0.1:{port}"
    async with running_server([example("router.py")], port) as server:
        async with connect(f"{url}/chat/lobby") as alice, connect(f"{url}/chat/lobby") as bob:
            assert await recv_text(alice) == "Welcome to lobby!"
            assert await recv_text(bob) == "Welcome to lobby!"
            await alice.send("hi")
            assert await recv_text(alice) == "hi"
            assert await recv_text(bob) == "hi"
        async with connect(f"{url}/user/42") as websocket:
            assert await recv_text(websocket) == "Hello, user #42; next is #43."
        async with connect(f"{url}/clock") as websocket:
            assert CLOCK.fullmatch(await recv_text(websocket))
        for path in ("/user/me", "/nowhere"):
            with pytest.raises(InvalidStatus, match="HTTP 404"):
                await connect(f"{url}{path}")
        await server.stop_cleanly(signal.SIGINT)


@pytest.mark.parametrize("scheme", ["http", "socks5h"])
async def test_proxy_client(tmp_path: Path, scheme: str) -> None:
    port = free_port()
    proxy = start_pproxy(tmp_path, protocols="http+socks5")
    try:
        async with running_server([example("echo_server.py")], port) as server:
            output = await run_client(example("proxy_client.py"), proxy.url(scheme), port=port)
            assert output == "Hello through the proxy!\n"
            assert f"localhost:{port}" in proxy.log.read_text()
            # Without an argument: the proxy of the environment.
            output = await run_client(
                example("proxy_client.py"), port=port, http_proxy=proxy.url(scheme)
            )
            assert output == "Hello through the proxy!\n"
            assert proxy.log.read_text().count(f"localhost:{port}") == 2
            await server.stop_cleanly(signal.SIGINT)
    finally:
        proxy.stop()


async def test_broadcast() -> None:
    port = free_port()
    url = f"ws://127.0.0.1:{port}"
    async with running_server([example("broadcast.py")], port) as server:
        async with connect(url) as alice, connect(url) as bob:
            await alice.send("Hi, everyone!")
            for websocket in (alice, bob):
                assert await recv_text(websocket) == "Hi, everyone!"
            await bob.send(b"\x00binary")
            for websocket in (alice, bob):
                async with asyncio.timeout(10):
                    assert await websocket.recv() == b"\x00binary"
        await server.stop_cleanly()


async def test_redis_chat(tmp_path: Path) -> None:
    redis_server = RedisServer(require_program("redis-server"), tmp_path)
    await redis_server.start()
    ports = [free_port(), free_port()]
    try:
        # Two copies, on two ports: a client of each, in one room.
        async with (
            running_server(
                [example("redis_chat.py")],
                ports[0],
                env=child_env(PORT=str(ports[0]), REDIS_URL=redis_server.url),
            ) as first,
            running_server(
                [example("redis_chat.py")],
                ports[1],
                env=child_env(PORT=str(ports[1]), REDIS_URL=redis_server.url),
            ) as second,
        ):
            async with (
                connect(f"ws://127.0.0.1:{ports[0]}") as alice,
                connect(f"ws://127.0.0.1:{ports[1]}") as bob,
            ):
                # In the room once a message published after joining comes back.
                for websocket, name in ((alice, "alice"), (bob, "bob")):
                    await websocket.send(f"{name} is here")
                    while await recv_text(websocket) != f"{name} is here":
                        pass
                assert await recv_text(alice) == "bob is here"
                await alice.send("Hi, Bob!")
                for websocket in (alice, bob):
                    assert await recv_text(websocket) == "Hi, Bob!"
                await bob.send(b"\x00binary")
                for websocket in (alice, bob):
                    async with asyncio.timeout(10):
                        assert await websocket.recv() == b"\x00binary"
            await first.stop_cleanly()
            await second.stop_cleanly()
    finally:
        await redis_server.stop()


# Echo servers, with the echo client.


async def check_echo(port: int) -> None:
    """Exercise an echo server: text, binary, a fragmented message, a ping."""
    async with connect(f"ws://127.0.0.1:{port}") as websocket:
        await websocket.send("café")
        assert await recv_text(websocket) == "café"
        await websocket.send(b"\x00\xff")
        async with asyncio.timeout(10):
            assert await websocket.recv() == b"\x00\xff"
            await websocket.send(["frag", "ment", "ed"])
            assert await websocket.recv() == "fragmented"
            await (await websocket.ping())
    assert websocket.close_code == 1000


@pytest.mark.parametrize("name", ["echo_server.py", "sansio_server.py", "sync_echo_server.py"])
async def test_echo_servers(name: str) -> None:
    port = free_port()
    async with running_server([example(name)], port) as server:
        assert await run_client(example("echo_client.py"), port=port) == "Hello world!\n"
        assert await run_client(example("sync_client.py"), port=port) == "Hello world!\n"
        # Twice: the sans-I/O server serves connections one after the other.
        await check_echo(port)
        await check_echo(port)
        await server.stop_cleanly(signal.SIGINT)


async def test_sansio_server_rejects_plain_http() -> None:
    port = free_port()
    async with running_server([example("sansio_server.py")], port) as server:
        status, _, body = await http_get(port)
        assert status == 426
        assert "WebSocket" in body
        await check_echo(port)
        await server.stop_cleanly()


# Stopping a server closes open connections with 1001 (going away).


@pytest.mark.parametrize(
    ("name", "signum"),
    [
        ("hello_server.py", signal.SIGTERM),
        ("show_time.py", signal.SIGINT),
        ("counter.py", signal.SIGTERM),
        ("consumer.py", signal.SIGINT),
        ("producer.py", signal.SIGTERM),
        ("consumer_producer.py", signal.SIGINT),
        ("registration.py", signal.SIGTERM),
        ("broadcast.py", signal.SIGINT),
        ("echo_server.py", signal.SIGTERM),
        ("sansio_server.py", signal.SIGINT),
        ("sansio_server.py", signal.SIGTERM),
        ("sync_echo_server.py", signal.SIGINT),
        ("sync_echo_server.py", signal.SIGTERM),
    ],
)
async def test_stopping_closes_connections(name: str, signum: signal.Signals) -> None:
    port = free_port()
    async with running_server([example(name)], port) as server:
        websocket = await connect(f"ws://127.0.0.1:{port}")
        stopping = asyncio.create_task(server.stop_cleanly(signum))
        async with asyncio.timeout(10):
            await websocket.wait_closed()
        assert websocket.close_code == 1001
        await stopping


# The README's code runs too.


async def test_readme_code_blocks(tmp_path: Path) -> None:
    readme = (EXAMPLES.parent / "README.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```$", readme, flags=re.DOTALL | re.MULTILINE)
    assert len(blocks) == 2
    server_and_client, sansio = blocks
    # A newcomer may run it while ./scripts/serve runs: not on its port.
    assert str(DEFAULT_PORT) not in server_and_client
    # The test uses a free port.
    script = tmp_path / "readme_example.py"
    script.write_text(server_and_client.replace("8001", str(free_port())))
    assert await run_client(script, port=0) == "Hello world!\n"
    script.write_text(sansio)
    assert await run_client(script, port=0) == ""

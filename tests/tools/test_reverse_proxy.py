"""The reverse-proxy how-to's nginx configuration, in a real nginx, before two workers.

The configuration is read from docs/howto/reverse-proxy.md and changed only
where a test must: its paths (sockets, certificate) point to a temporary
directory, it listens on a free port of 127.0.0.1, and its idle timeout is
one second instead of two minutes, so that the test can wait for it.
Two server processes (tests/proxy_worker.py) listen on the two Unix sockets
of its ``upstream`` block.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import sys
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from process_helpers import ROOT, child_env, free_port
from services import Nginx, require_program

from websockets_typed import ClientConnection, connect
from websockets_typed.exceptions import ConnectionClosedError

HOWTO = ROOT / "docs" / "howto" / "reverse-proxy.md"


def howto_config() -> str:
    """The nginx configuration block of the how-to."""
    match = re.search(r"```nginx\n(.*?)```", HOWTO.read_text(), re.DOTALL)
    assert match is not None
    return match.group(1)


@dataclass
class Proxy:
    nginx: Nginx
    worker_pids: set[int]
    client_context: ssl.SSLContext

    async def connect(
        self, ping_interval: float | None = 20
    ) -> tuple[ClientConnection, dict[str, object]]:
        """Connect through nginx; return the connection and what the worker said first."""
        client = await connect(
            f"wss://127.0.0.1:{self.nginx.port}/ws/chat",
            ssl=self.client_context,
            additional_headers={"X-Forwarded-For": "203.0.113.7"},
            ping_interval=ping_interval,
        )
        hello = json.loads(str(await client.recv()))
        assert isinstance(hello, dict)
        return client, hello  # pyright: ignore[reportUnknownVariableType]


def configure(directory: Path, port: int) -> str:
    """The how-to's configuration, with the changes the module docstring lists."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "example.com")
    cert.cert_chain_pems[0].write_to_path(str(directory / "cert.pem"))
    cert.private_key_pem.write_to_path(str(directory / "key.pem"))
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    config = howto_config()
    for old, new in [
        ("/run/app/", f"{directory}/"),
        ("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
        ("/etc/ssl/example.com.pem", str(directory / "cert.pem")),
        ("/etc/ssl/example.com.key", str(directory / "key.pem")),
        ("proxy_read_timeout 120s;", "proxy_read_timeout 1s;"),
    ]:
        assert old in config, old
        config = config.replace(old, new)
    return config


@pytest.fixture
async def proxy(tmp_path: Path) -> AsyncGenerator[Proxy]:
    program = require_program("nginx")
    workers = [
        await asyncio.create_subprocess_exec(
            *(sys.executable, str(ROOT / "tests" / "proxy_worker.py"), str(tmp_path / name)),
            stdout=asyncio.subprocess.PIPE,
            env=child_env(),
        )
        for name in ("websocket-1.sock", "websocket-2.sock")
    ]
    nginx = Nginx(program, tmp_path, configure(tmp_path, port := free_port()), port)
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert await asyncio.wait_for(worker.stdout.readline(), 20) == b"ready\n"
        await nginx.start()
        context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        yield Proxy(nginx, {worker.pid for worker in workers}, context)
    finally:
        await nginx.stop()
        for worker in workers:
            if worker.returncode is None:
                worker.terminate()
            assert await worker.wait() == 0


async def test_upgrade_forwarded_for_and_both_workers(proxy: Proxy) -> None:
    pids: set[int] = set()
    for _ in range(4):
        client, hello = await proxy.connect()
        # nginx added the address it got the connection from to the header.
        assert hello["forwarded_for"] == "203.0.113.7, 127.0.0.1"
        assert hello["path"] == "/ws/chat"
        pid = hello["pid"]
        assert isinstance(pid, int)
        pids.add(pid)
        await client.send("text")
        assert await client.recv() == "text"
        await client.send(b"\x00bytes")
        assert await client.recv() == b"\x00bytes"
        await client.close()
        assert client.close_code == 1000
    # The upstream block spreads connections over both workers.
    assert pids == proxy.worker_pids


async def test_idle_timeout_and_keepalive(proxy: Proxy) -> None:
    silent, _ = await proxy.connect(ping_interval=None)
    pinging, _ = await proxy.connect(ping_interval=0.2)
    # Nothing crossed the silent connection for proxy_read_timeout: nginx
    # closed it without a closing handshake.
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(silent.recv(), 20)
    assert silent.close_code == 1006
    # The pings (and their pongs, which come back through nginx) kept the
    # other one open for just as long.
    await pinging.send("still there?")
    assert await pinging.recv() == "still there?"
    await pinging.close()


async def test_graceful_reload_loses_no_message(proxy: Proxy) -> None:
    clients = [(await proxy.connect(ping_interval=0.2))[0] for _ in range(4)]
    old_workers = proxy.nginx.workers()
    reloaded = asyncio.Event()

    async def chat(client: ClientConnection) -> int:
        """Send numbered messages until after the reload; check every echo."""
        count = 0
        while not reloaded.is_set() or count < 50:
            await client.send(f"message {count}")
            assert await client.recv() == f"message {count}"
            count += 1
        return count

    chats = [asyncio.create_task(chat(client)) for client in clients]
    await asyncio.sleep(0.1)  # let messages flow before reloading
    await proxy.nginx.reload()
    # A new nginx worker serves new connections...
    assert proxy.nginx.workers() - old_workers
    late, hello = await proxy.connect()
    assert hello["forwarded_for"] == "203.0.113.7, 127.0.0.1"
    await late.close()
    reloaded.set()
    # ... while the old one kept relaying the open ones, every message.
    counts = await asyncio.gather(*chats)
    assert all(count >= 50 for count in counts)
    for client in clients:
        await client.close()
        assert client.close_code == 1000
    assert "reconfiguring" in proxy.nginx.log

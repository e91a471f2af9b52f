"""The interactive client's options, run as a program: ``--version``, ``--insecure``,
``--linger``, passwords hidden, and a usage line that shows ``serve``.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys

import pytest
import trustme
from process_helpers import ROOT, child_env, free_port, python_command

from websockets_typed import ServerConnection, serve
from websockets_typed.asyncio.server import basic_auth
from websockets_typed.cli import _client_parser
from websockets_typed.version import version

CLIENT = ("-m", "websockets_typed")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        python_command(*CLIENT, *args),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=child_env(),
        timeout=20,
        check=False,
    )


async def start_client(*args: str) -> asyncio.subprocess.Process:
    """Start the client with ``args``, its standard streams piped."""
    return await asyncio.create_subprocess_exec(
        *python_command(*CLIENT, *args),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env=child_env(),
    )


async def run_client(*args: str, stdin: bytes = b"") -> tuple[int, str, str]:
    """Run the client with ``args``; return its status, stdout and stderr."""
    process = await start_client(*args)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(stdin), 20)
    finally:
        if process.returncode is None:  # pragma: no cover - only on timeout
            process.kill()
            await process.communicate()
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def echo(websocket: ServerConnection) -> None:
    async for message in websocket:
        await websocket.send(message)


def test_version() -> None:
    result = run("--version")
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        f"websockets_typed {version}\n",
        "",
    )


def test_usage_line_shows_both_commands() -> None:
    result = run()
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith(
        "usage: python -m websockets_typed [-h] [--version] [--insecure] [--linger SECONDS] URI\n"
        "       python -m websockets_typed serve [-h] ...\n"
    )


def test_console_script_names_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run as the ``websockets_typed`` script, the usage says so (the script
    itself is run by tests/tools/test_packaging.py, in a fresh environment)."""
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/websockets_typed"])
    assert _client_parser().format_usage().startswith("usage: websockets_typed [-h]")


def test_invalid_linger() -> None:
    result = run("--linger", "soon", "ws://localhost/")
    assert result.returncode == 2
    assert "argument --linger: not a number of seconds: 'soon'" in result.stderr


# --insecure, against a server whose certificate no one trusts.


@pytest.fixture(scope="module")
def untrusted_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)  # pyright: ignore[reportUnknownMemberType]
    return context


async def test_certificate_is_checked_by_default(untrusted_context: ssl.SSLContext) -> None:
    async with serve(echo, "127.0.0.1", 0, ssl=untrusted_context) as server:
        url = f"wss://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        returncode, stdout, stderr = await run_client(url, stdin=b"hello\n")
    assert (returncode, stdout) == (1, "")
    assert stderr.startswith(f"Failed to connect to {url}: ")
    assert "CERTIFICATE_VERIFY_FAILED" in stderr


async def test_insecure_skips_the_certificate_check_with_a_warning(
    untrusted_context: ssl.SSLContext,
) -> None:
    async def greet(websocket: ServerConnection) -> None:
        await websocket.send("hello over TLS")

    async with serve(greet, "127.0.0.1", 0, ssl=untrusted_context) as server:
        url = f"wss://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        # --linger: the input ends at once, the greeting comes after.
        returncode, stdout, stderr = await run_client("--insecure", "--linger", "10", url)
    assert returncode == 0
    assert stdout == f"Connected to {url}.\n< hello over TLS\nConnection closed: 1000 (OK).\n"
    assert stderr == (
        "Warning: --insecure: the server's certificate isn't checked; "
        "anyone on the network path can read and change the messages.\n"
    )


# Passwords never appear in what the client prints.


async def test_password_is_hidden_when_connected() -> None:
    auth = basic_auth(credentials=("alice", "s3cret"))
    async with serve(echo, "127.0.0.1", 0, process_request=auth) as server:
        port = server.sockets[0].getsockname()[1]
        returncode, stdout, stderr = await run_client(f"ws://alice:s3cret@127.0.0.1:{port}/")
    assert (returncode, stderr) == (0, "")
    assert stdout.startswith(f"Connected to ws://alice:****@127.0.0.1:{port}/.\n")
    assert "s3cret" not in stdout


async def test_password_is_hidden_when_connecting_fails() -> None:
    port = free_port()
    returncode, stdout, stderr = await run_client(f"ws://alice:s3cret@127.0.0.1:{port}/path")
    assert (returncode, stdout) == (1, "")
    assert (
        stderr
        == f"Failed to connect to ws://alice:****@127.0.0.1:{port}/path: connection refused.\n"
    )


async def test_password_is_hidden_in_an_invalid_uri() -> None:
    returncode, stdout, stderr = await run_client("ws://alice:s3cret@localhost:99999/")
    assert (returncode, stdout) == (2, "")
    assert stderr == "Invalid URI ws://alice:****@localhost:99999/: port is out of range.\n"


# --linger: piped input loses no reply.


async def test_linger_waits_for_replies_after_the_end_of_input() -> None:
    received = asyncio.Event()
    input_ended = asyncio.Event()

    async def late_echo(websocket: ServerConnection) -> None:
        message = await websocket.recv()
        received.set()
        # Reply only once the client's input has ended: without --linger,
        # the client would be closing the connection by then.
        await input_ended.wait()
        await websocket.send(message)
        await websocket.close()

    async with serve(late_echo, "127.0.0.1", 0) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        process = await start_client("--linger", "10", url)
        assert process.stdin is not None
        process.stdin.write(b"late reply\n")
        async with asyncio.timeout(10):
            await received.wait()
        process.stdin.close()
        input_ended.set()
        stdout, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert (process.returncode, stderr.decode()) == (0, "")
    assert stdout.decode() == (
        f"Connected to {url}.\n< late reply\nConnection closed: 1000 (OK).\n"
    )

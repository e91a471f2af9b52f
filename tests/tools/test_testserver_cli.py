"""``python -m websockets_typed serve``: its options, logs and one-line errors.

The endpoints themselves are tested in-process in tests/tools/test_testserver.py;
here the server runs as a subprocess, as a user runs it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import ssl
import tomllib

import pytest
from process_helpers import ROOT, free_port, run_python, running_test_server

from websockets_typed import InvalidStatus, connect
from websockets_typed.testserver._endpoints import ENDPOINTS

SERVE = ("-m", "websockets_typed", "serve")


def test_help_lists_endpoints_and_options() -> None:
    result = run_python(*SERVE, "--help")
    assert (result.returncode, result.stderr) == (0, "")
    for endpoint in ENDPOINTS.values():
        assert f"\n  {endpoint.path}\n" in result.stdout
    for option in (
        "--host HOST",
        "--port PORT",
        "--tls",
        "--max-size BYTES",
        "--compression {deflate,none}",
        "--subprotocols LIST",
        "--auth USER:PASSWORD",
        "--workers N",
        "--redis URL",
        "--log-level {debug,info,warning}",
        "-v, --verbose",
    ):
        assert option in result.stdout


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--port", "99999"], "argument --port: invalid port '99999': use 0 to 65535"),
        (["--port", "http"], "argument --port: invalid port 'http': use 0 to 65535"),
        (["--port", "-1"], "argument --port: invalid port '-1': use 0 to 65535"),
        (
            ["--max-size", "0"],
            "argument --max-size: invalid size '0': use a positive number of bytes",
        ),
        (["--auth", "alice"], "argument --auth: use USER:PASSWORD"),
        (["--auth", ":pw"], "argument --auth: use USER:PASSWORD"),
        (["--subprotocols", "a b"], "argument --subprotocols: invalid subprotocol: 'a b'"),
        (
            ["--compression", "gzip"],
            "argument --compression: invalid choice: 'gzip' (choose from 'deflate', 'none')",
        ),
        (["--colour"], "unrecognized arguments: --colour"),
    ],
)
def test_usage_errors_on_one_line(args: list[str], error: str) -> None:
    result = run_python(*SERVE, *args)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"python -m websockets_typed serve: {error} (see --help).\n"


def test_unknown_host_on_one_line() -> None:
    port = free_port()
    result = run_python(*SERVE, "--host", "no-such-host.invalid", "--port", str(port))
    assert (result.returncode, result.stdout) == (1, "")
    prefix = f"Cannot start the test server on no-such-host.invalid:{port}: cannot resolve host: "
    assert result.stderr.startswith(prefix)
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_address_not_available_on_one_line() -> None:
    # 192.0.2.1 (TEST-NET-1, RFC 5737) isn't an address of this machine.
    result = run_python(*SERVE, "--host", "192.0.2.1", "--port", "0")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "Cannot start the test server on 192.0.2.1:0: Cannot assign requested address.\n"
    )


def test_tls_without_cryptography() -> None:
    # None in sys.modules makes the import fail, as if it weren't installed.
    code = (
        "import sys; sys.modules['cryptography'] = None; "
        "from websockets_typed.cli import main; "
        "sys.exit(main(['serve', '--tls', '--port', '0']))"
    )
    result = run_python("-c", code)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "Cannot start the test server: --tls needs the cryptography package: "
        "pip install 'websockets_typed[testserver]'.\n"
    )


async def test_tls() -> None:
    async with running_test_server("--tls") as server:
        port = server.port
        # Fetch the certificate, then trust exactly it, as a person checking
        # the printed fingerprint would.
        pem = await asyncio.to_thread(ssl.get_server_certificate, ("127.0.0.1", port))
        context = ssl.create_default_context(cadata=pem)
        async with connect(f"wss://127.0.0.1:{port}/echo", ssl=context) as websocket:
            await websocket.send("secure")
            assert await websocket.recv() == "secure"
        stdout = await server.stop_cleanly()
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).digest()
    fingerprint = digest.hex(":").upper()
    lines = stdout.splitlines()
    assert lines[0] == f"Test server running: open https://127.0.0.1:{port}/ in a browser"
    assert lines[1].startswith(f"WebSocket endpoints at wss://127.0.0.1:{port}: /echo ")
    assert lines[2] == f"Self-signed certificate, SHA-256 fingerprint: {fingerprint}"


async def test_options() -> None:
    args = [
        "--max-size=100",
        "--compression=none",
        "--subprotocols=chat, json",
        "--auth=alice:pa:ss",
    ]
    async with running_test_server(*args) as server:
        port = server.port
        url = f"ws://127.0.0.1:{port}"
        async with connect(f"{url}/subprotocol", subprotocols=["json"]) as websocket:
            report = json.loads(await websocket.recv(decode=True))
            assert websocket.response is not None
            assert "Sec-WebSocket-Extensions" not in websocket.response.headers
        assert report == {"subprotocol": "json", "offered": ["json"], "supported": ["chat", "json"]}
        # A password may contain colons (RFC 7617, 2).
        async with connect(f"ws://alice:pa%3Ass@127.0.0.1:{port}/auth") as websocket:
            assert json.loads(await websocket.recv(decode=True)) == {"user": "alice"}
        with pytest.raises(InvalidStatus) as raised:
            await connect(f"{url}/send?size=101")
        assert raised.value.response.body == (
            b"size=101 is above the server's limit of 100 (--max-size)\n"
        )
        await server.stop_cleanly()


@pytest.mark.parametrize("args", [["--log-level", "info"], ["-v"]])
async def test_log_level_info(args: list[str]) -> None:
    async with running_test_server(*args) as server:
        port = server.port
        with pytest.raises(InvalidStatus):
            await connect(f"ws://127.0.0.1:{port}/send?count=x")
        async with connect(f"ws://127.0.0.1:{port}/send?count=0"):
            pass
        returncode = await server.stop()
    assert returncode == 0
    lines = server.stderr.splitlines()
    assert any(
        line.endswith("INFO websockets_typed.server: endpoint /send?count=0") for line in lines
    )
    assert lines[0].endswith(f" INFO websockets_typed.server: server listening on 127.0.0.1:{port}")
    assert any(
        line.endswith("bad request /send?count=x: count must be an integer, not 'x'")
        for line in lines
    )
    assert not any(" DEBUG " in line for line in lines)


@pytest.mark.parametrize("args", [["--log-level", "debug"], ["-vv"], ["--log-level=info", "-v"]])
async def test_log_level_debug(args: list[str]) -> None:
    async with running_test_server(*args) as server:
        async with connect(f"ws://127.0.0.1:{server.port}/echo") as websocket:
            await websocket.send("hello")
            await websocket.recv()
        returncode = await server.stop()
    assert returncode == 0
    assert " DEBUG websockets_typed.server: " in server.stderr


async def test_default_log_level_prints_warnings_only() -> None:
    async with running_test_server() as server:
        with pytest.raises(InvalidStatus):
            await connect(f"ws://127.0.0.1:{server.port}/send?count=x")
        assert await server.stop() == 0
    assert server.stderr == ""


def test_help_of_the_command_line_module() -> None:
    # python -m websockets_typed --help still points to serve --help.
    result = run_python("-m", "websockets_typed", "--help")
    assert "python -m websockets_typed serve --help" in result.stdout


def test_page_files_are_package_data() -> None:
    # The page's files must be installed with the package: pyproject.toml's
    # package data covers every file of the page's directory.
    with (ROOT / "pyproject.toml").open("rb") as file:
        package_data = tomllib.load(file)["tool"]["setuptools"]["package-data"]
    package = ROOT / "websockets_typed" / "testserver"
    installed = {
        path
        for pattern in package_data["websockets_typed.testserver"]
        for path in package.glob(pattern)
    }
    assert installed == set((package / "page").iterdir())
    assert {path.name for path in installed} == {"index.html", "app.js"}

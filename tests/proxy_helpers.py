"""Real proxy servers for the tests: pproxy and tinyproxy, as subprocesses on free ports.

tests/aio/test_asyncio_proxy.py, tests/sync/test_sync_proxy.py and
tests/docs/test_examples.py connect through them;
the proxies log each tunnel they open, so that a test can tell that a
connection really went through the proxy.
"""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import trustme
from process_helpers import free_port, stop_sync, wait_for_port_sync

__all__ = [
    "CREDENTIALS",
    "PASSWORD",
    "TLS",
    "USERNAME",
    "ProxyProcess",
    "start_pproxy",
    "start_tinyproxy",
]

# pproxy installs uvloop when it can, and its main() then fails on recent
# uvloops (no current event loop): run it without.
PPROXY_MAIN = (
    "import sys; sys.modules['uvloop'] = None; import runpy; "
    "runpy.run_module('pproxy', run_name='__main__', alter_sys=True)"
)

USERNAME, PASSWORD = "alice", "s3cr3t pass"
CREDENTIALS = "alice:s3cr3t%20pass"


class TLS:
    """A CA; a certificate for 127.0.0.1 and localhost; client and server contexts."""

    def __init__(self, tmp: Path) -> None:
        self.ca = trustme.CA()
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(self.server_context)  # pyright: ignore[reportUnknownMemberType]
        self.client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.ca.configure_trust(self.client_context)  # pyright: ignore[reportUnknownMemberType]
        self.pem = tmp / "proxy.pem"
        cert.private_key_and_cert_chain_pem.write_to_path(str(self.pem))  # pyright: ignore[reportUnknownMemberType]


class ProxyProcess:
    """A proxy server running as a subprocess, logging to a file."""

    def __init__(
        self, command: list[str], port: int, log: Path, output: Path | None = None
    ) -> None:
        self.port = port
        self.log = log
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("PYTHONASYNCIODEBUG", None)
        env.pop("COVERAGE_PROCESS_START", None)
        with (output or log).open("w") as output_file:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output_file,
                stderr=subprocess.STDOUT,
                env=env,
                text=True,
            )
        try:
            wait_for_port_sync(port, self.process)
        except BaseException:
            self.stop()
            raise

    def url(self, scheme: str, credentials: str | None = None) -> str:
        """The proxy's URL with ``scheme``, and user information if given."""
        user_info = "" if credentials is None else f"{credentials}@"
        return f"{scheme}://{user_info}127.0.0.1:{self.port}"

    def saw(self, port: int) -> bool:
        """Tell whether the proxy logged a connection to ``port`` on loopback."""
        return f"127.0.0.1:{port}" in self.log.read_text()

    def stop(self) -> None:
        stop_sync(self.process, signal.SIGKILL)


def start_pproxy(
    tmp: Path,
    auth: str | None = None,
    protocols: str = "http+socks4+socks5",
    cert: Path | None = None,
) -> ProxyProcess:
    port = free_port()
    listen = f"{protocols}://127.0.0.1:{port}" + ("" if auth is None else f"#{auth}")
    # --auth 0: check credentials on every connection, not once per client IP.
    command = [sys.executable, "-c", PPROXY_MAIN, "-l", listen, "-v", "--auth", "0"]
    if cert is not None:
        command += ["--ssl", str(cert)]
    return ProxyProcess(command, port, tmp / f"pproxy-{port}.log")


def start_tinyproxy(tmp: Path, auth: bool) -> ProxyProcess:
    executable = shutil.which("tinyproxy")
    if executable is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tinyproxy is missing: scripts/test installs it under CI=true")
        pytest.skip("tinyproxy isn't installed (apt-get install tinyproxy)")
    port = free_port()
    log = tmp / f"tinyproxy-{port}.log"
    config = tmp / f"tinyproxy-{port}.conf"
    lines = [
        f"Port {port}",
        "Listen 127.0.0.1",
        "Timeout 30",
        "Allow 127.0.0.1",
        "LogLevel Info",
        f'LogFile "{log}"',
    ]
    if auth:
        lines.append(f"BasicAuth {USERNAME} {PASSWORD.replace(' ', '')}")
    config.write_text("\n".join(lines) + "\n")
    command = [executable, "-d", "-c", str(config)]
    return ProxyProcess(command, port, log, tmp / f"tinyproxy-{port}.out")

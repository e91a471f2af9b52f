"""Real Redis and nginx servers for the tests, on free ports, in temporary directories.

Debian's ``redis-server`` and ``nginx`` packages provide them; under
``CI=true`` ``scripts/test`` installs them when missing, and the tests that
need them fail rather than skip if they are still missing.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from pathlib import Path

import pytest
from process_helpers import _wait_for_port, free_port

__all__ = ["RedisServer", "require_program"]


def require_program(name: str) -> str:
    """Return the path of the program ``name``; skip the test without it (fail under CI)."""
    # nginx lives in /usr/sbin, which isn't on every user's PATH.
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if path is None:
        # Debian's packages are named after the programs: redis-server, nginx.
        reason = f"{name} isn't installed (Debian package {name})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; these tests never skip under CI=true")
        pytest.skip(reason)
    return path


class RedisServer:
    """A ``redis-server`` on a free port of 127.0.0.1, without persistence."""

    def __init__(self, program: str, directory: Path) -> None:
        self.program = program
        self.directory = directory
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            self.program,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
            "--loglevel",
            "warning",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
        )
        await _wait_for_port(self.port, self.process)

    async def stop(self) -> None:
        """Stop Redis; it closes its clients' connections as it exits."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            await self.process.wait()
        self.process = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def kill(self) -> None:
        """Kill Redis (SIGKILL), even paused: its connections are reset, answers lost."""
        assert self.process is not None
        self.process.kill()
        await self.process.wait()
        self.process = None

    def pause(self) -> None:
        """Freeze Redis (SIGSTOP): it accepts bytes and answers nothing, like a slow Redis."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

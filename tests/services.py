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


def _children(pid: int) -> set[int]:
    """The pids of the processes whose parent is ``pid``."""
    children: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # it exited meanwhile
                continue
            # The command name, in parentheses, may contain spaces.
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                children.add(int(entry.name))
    return children


class Nginx:
    """An nginx running ``config`` (what goes in its ``http`` block) from ``directory``.

    It runs in the foreground (``daemon off``) with one worker process,
    its pid file, logs and temporary files in ``directory``.
    """

    def __init__(self, program: str, directory: Path, config: str, port: int) -> None:
        self.program = program
        self.directory = directory
        self.port = port
        self.config_file = directory / "nginx.conf"
        temp = "\n".join(
            f"    {kind}_temp_path {directory / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        # As root, nginx's workers would run as nobody, who can't reach the
        # sockets in this private directory.
        user = "user root;\n" if os.geteuid() == 0 else ""
        self.config_file.write_text(
            f"{user}worker_processes 1;\n"
            f"pid {directory / 'nginx.pid'};\n"
            f"error_log {directory / 'error.log'} notice;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            "    access_log off;\n"
            f"{temp}\n"
            f"{config}\n"
            "}\n"
        )
        self.process: asyncio.subprocess.Process | None = None

    def _command(self, *args: str) -> list[str]:
        return [
            self.program,
            "-p",
            str(self.directory),
            "-c",
            str(self.config_file),
            "-e",
            str(self.directory / "error.log"),
            *args,
        ]

    @property
    def log(self) -> str:
        return (self.directory / "error.log").read_text()

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self._command("-g", "daemon off;"),
            stdin=asyncio.subprocess.DEVNULL,
        )
        try:
            await _wait_for_port(self.port, self.process)
        except (OSError, AssertionError) as exc:
            raise AssertionError(f"nginx didn't start: {exc}\n{self.log}") from None

    def workers(self) -> set[int]:
        assert self.process is not None
        return _children(self.process.pid)

    async def reload(self) -> None:
        """``nginx -s reload``, then wait for the new worker process."""
        before = self.workers()
        reload = await asyncio.create_subprocess_exec(*self._command("-s", "reload"))
        assert await reload.wait() == 0, self.log
        while not self.workers() - before:
            # Polling: nothing tells when the master started its new worker.
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()
        self.process = None

"""Packaging: every way of installing the project gives type checkers its types.

Each test creates a fresh virtual environment, installs the project in it
(editable the plain way, ``pip install -e .``, or as a regular wheel), then
type-checks a small application against that environment with
``mypy --strict``, pyright in strict mode and ``pyright --verifytypes``.
An editable install that hides the package behind an import hook (what
setuptools does by default for a layout it can't map to a plain path) makes
mypy report a missing module and pyright see ``Unknown``: the revealed types
below would not match.

The project is copied first, so that the build (which compiles the C
accelerator next to the sources in an editable install) never touches the
working tree that other tests import from.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from process_helpers import free_port, stop_sync, wait_for_port_sync

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

APPLICATION = """\
import asyncio

from websockets_typed.asyncio.client import connect
from websockets_typed.asyncio.server import ServerConnection, serve


async def handler(websocket: ServerConnection) -> None:
    async for message in websocket:
        reveal_type(message)
        await websocket.send(message)


async def main() -> None:
    async with serve(handler, "localhost", 0) as server:
        reveal_type(server)
        async with connect("ws://localhost:8765") as websocket:
            reveal_type(websocket)
            reveal_type(await websocket.recv(decode=True))


asyncio.run(main())
"""

# (line, type) revealed by mypy, then by pyright.
MYPY_TYPES = [
    (9, "str | bytes"),
    (15, "websockets_typed.asyncio.server.Server"),
    (17, "websockets_typed.asyncio.client.ClientConnection"),
    (18, "str"),
]
PYRIGHT_TYPES = [(9, "str | bytes"), (15, "Server"), (17, "ClientConnection"), (18, "str")]


def clean_env() -> dict[str, str]:
    """The environment without coverage's settings: nothing here measures the package.

    A process measuring coverage from the copy of the project would add the
    copy's files to the coverage data, as files of the package never run.
    """
    return {name: value for name, value in os.environ.items() if not name.startswith("COVERAGE_")}


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command; return its output, or fail the test with it."""
    result = subprocess.run(
        command,
        cwd=cwd,
        env=clean_env() if env is None else env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{output}"
    return output


def copy_project(copy: Path) -> Path:
    """Copy what the build reads (metadata, build script, package) and scripts/."""
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, copy / name)
    for name in ("websockets_typed", "scripts"):
        shutil.copytree(
            ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__", "*.so")
        )
    return copy


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project, shared by the tests that install it."""
    return copy_project(tmp_path_factory.mktemp("project"))


@pytest.mark.timeout(180)
@pytest.mark.parametrize("editable", [True, False], ids=["editable", "regular"])
def test_installed_package_is_typed(project: Path, tmp_path: Path, editable: bool) -> None:
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    python = venv / "bin" / "python"
    install = ["-e", str(project)] if editable else [str(project)]
    # Build isolation fetches the build backend from the package index, or
    # from pip's cache when it has it.
    run([str(python), "-m", "pip", "install", "--quiet", *install], tmp_path)

    app = tmp_path / "app"
    app.mkdir()
    (app / "app.py").write_text(APPLICATION)
    (app / "pyrightconfig.json").write_text(
        json.dumps({"typeCheckingMode": "strict", "pythonVersion": "3.11"})
    )
    # pyright finds site-packages through the `python` on PATH.
    env = {**clean_env(), "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}

    output = run(
        [
            str(BIN / "mypy"),
            "--strict",
            "--no-incremental",
            "--python-executable",
            str(python),
            "app.py",
        ],
        app,
    )
    for line, revealed in MYPY_TYPES:
        assert f'app.py:{line}: note: Revealed type is "{revealed}"' in output, output

    output = run([str(BIN / "pyright"), "--outputjson", "app.py"], app, env)
    diagnostics = json.loads(output[output.index("{") :])["generalDiagnostics"]
    revealed_types = [
        (
            diagnostic["range"]["start"]["line"] + 1,
            diagnostic["message"].rpartition(" is ")[2].strip('"'),
        )
        for diagnostic in diagnostics
        if diagnostic["severity"] == "information"
    ]
    assert revealed_types == PYRIGHT_TYPES, diagnostics
    assert all(diagnostic["severity"] == "information" for diagnostic in diagnostics)

    output = run(
        [str(BIN / "pyright"), "--verifytypes", "websockets_typed", "--ignoreexternal"],
        app,
        env,
    )
    assert "Type completeness score: 100%" in output, output
    # The checkers read the installed package, not a stray copy.
    location = run(
        [str(python), "-c", "import websockets_typed; print(websockets_typed.__file__)"], app
    )
    if editable:
        assert location.strip() == str(project / "websockets_typed" / "__init__.py")
    else:
        assert str(venv) in location

    # The console script runs the command line, and calls itself by its name.
    script = str(venv / "bin" / "websockets_typed")
    assert run([script, "--version"], app) == "websockets_typed 0.1.0\n"
    result = subprocess.run(
        [script], capture_output=True, text=True, check=False, timeout=60, env=clean_env()
    )
    assert result.returncode == 2
    assert result.stderr.startswith("usage: websockets_typed [-h] [--version]")


def start_server(project: Path, env: dict[str, str]) -> str:
    """Run scripts/serve until the test server listens; stop it; return its stderr."""
    port = free_port()
    process = subprocess.Popen(
        [str(project / "scripts" / "serve"), "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=project,
        env=env,
        text=True,
    )
    try:
        wait_for_port_sync(port, process)
    finally:
        _, stderr = stop_sync(process)
    return stderr


@pytest.mark.timeout(180)
def test_serve_script_installs_only_when_needed(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    env = clean_env()
    # The first start creates .venv/ and installs the project: it takes a
    # while, so it only prints the usage, without waiting for a port.
    output = run([str(project / "scripts" / "serve"), "--help"], project, env)
    assert "--port PORT" in output
    stamp = project / ".venv" / ".websockets_typed-install"
    installed = stamp.read_text()

    # Without any package index, the second start doesn't need one: it
    # doesn't run pip at all.
    offline = {**env, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "", "PIP_EXTRA_INDEX_URL": ""}
    start_server(project, offline)
    assert stamp.read_text() == installed

    # A change to the build configuration reinstalls, which needs the index.
    with (project / "pyproject.toml").open("a") as file:
        file.write("# changed\n")
    result = subprocess.run(
        [str(project / "scripts" / "serve"), "--port", str(free_port())],
        cwd=project,
        env=offline,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode != 0
    assert "setuptools" in result.stderr
    assert stamp.read_text() == installed

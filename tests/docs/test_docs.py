"""The documentation is tested as code.

* Every fenced code block in ``docs/`` is accounted for: a ``python`` block
  runs, and type-checks with ``mypy --strict`` and pyright (strict), unless the line before it is
  a marker (an HTML comment, invisible on the site)::

      <!-- docs-test: skip: REASON -->   not run; the reason is required
      <!-- docs-test: type-error -->     not run; it must fail type checking
                                         exactly on its lines that end with
                                         an ``# error: ...`` comment

  A block of another language must carry a ``skip`` marker, unless it only
  includes files from ``examples/`` (``--8<-- "examples/..."``), which
  tests/docs/test_examples.py runs.
* Each ``python`` block is self-contained: it runs in a namespace of its
  own, as ``__main__``, in a subprocess per page, with warnings as errors.
* ``mkdocs build --strict`` succeeds, and the API reference renders every
  name listed in the ``__all__`` of every public module.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import pkgutil
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple, cast

import griffe
import pytest

import websockets_typed

ROOT = Path(__file__).parent.parent.parent
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_MARKER = re.compile(r"^\s*<!-- docs-test: (?P<kind>skip|type-error)(?::(?P<reason>.*?))? -->\s*$")
_INCLUDE = re.compile(r'^--8<-- "(?P<path>[^"]+)"$')
_ERROR_COMMENT = re.compile(r"#\s*error:")


class Block(NamedTuple):
    """A fenced code block of a page."""

    page: Path
    line: int  # line number of the first line of code, from 1
    language: str
    code: str
    marker: str | None  # "skip", "type-error" or None
    reason: str

    @property
    def where(self) -> str:
        """Where the block is, for messages: ``docs/page.md:LINE``."""
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def parse_blocks(page: Path) -> list[Block]:
    """Return the fenced code blocks of a Markdown page, with their markers."""
    lines = page.read_text(encoding="utf-8").split("\n")
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        indent, fence = match.group("indent"), match.group("fence")
        language = match.group("info").strip().split(" ")[0].lower()
        previous = next((line for line in reversed(lines[:index]) if line.strip()), "")
        marker = _MARKER.match(previous)
        end = index + 1
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        assert end < len(lines), f"{page}:{index + 1}: unclosed code block"
        code = "\n".join(line.removeprefix(indent) for line in lines[index + 1 : end])
        blocks.append(
            Block(
                page,
                index + 2,
                language,
                code + "\n",
                None if marker is None else marker.group("kind"),
                "" if marker is None else (marker.group("reason") or "").strip(),
            )
        )
        index = end + 1
    return blocks


PAGES = sorted(DOCS.rglob("*.md"))
BLOCKS = [block for page in PAGES for block in parse_blocks(page)]


def _is_example_include(block: Block) -> bool:
    """Tell whether a block only includes files of examples/."""
    lines = [line for line in block.code.split("\n") if line.strip()]
    matches = [_INCLUDE.match(line.strip()) for line in lines]
    return bool(lines) and all(
        match is not None and match.group("path").startswith("examples/") for match in matches
    )


RUNNABLE = [
    block
    for block in BLOCKS
    if block.language == "python" and block.marker is None and not _is_example_include(block)
]
TYPE_ERRORS = [block for block in BLOCKS if block.marker == "type-error"]


def test_pages_have_blocks() -> None:
    assert PAGES, "no documentation pages found"
    assert len(RUNNABLE) >= 20, "the docs are expected to hold many runnable examples"


@pytest.mark.parametrize("block", BLOCKS, ids=[block.where for block in BLOCKS])
def test_block_is_accounted_for(block: Block) -> None:
    if block.marker == "skip":
        assert block.reason, f"{block.where}: a skipped block must say why"
    elif block.marker == "type-error":
        assert block.language == "python", f"{block.where}: type-error marks Python code"
        assert _ERROR_COMMENT.search(block.code), f"{block.where}: no '# error:' comment"
    elif block.language != "python":
        assert _is_example_include(block), (
            f"{block.where}: a {block.language or 'plain'} block must include examples/ "
            "files or carry a '<!-- docs-test: skip: REASON -->' marker"
        )


# Running the blocks.

_RUNNER = """
import json, pathlib, sys
for where, line, code in json.loads(pathlib.Path(sys.argv[1]).read_text("utf-8")):
    print(f"--- {where}:{line}", file=sys.stderr, flush=True)
    exec(compile("\\n" * (line - 1) + code, where, "exec"), {"__name__": "__main__"})
"""

# What asyncio and the warnings machinery print when something leaked.
_LEAKS = re.compile(r"Task was destroyed|never retrieved|Unclosed|unclosed|Exception in callback")

RUN_PAGES = sorted({block.page for block in RUNNABLE})


@pytest.mark.timeout(120)
@pytest.mark.parametrize("page", RUN_PAGES, ids=[str(page.relative_to(DOCS)) for page in RUN_PAGES])
def test_python_blocks_run(page: Path, tmp_path: Path) -> None:
    blocks = [block for block in RUNNABLE if block.page == page]
    script = tmp_path / "blocks.json"
    script.write_text(
        json.dumps(
            [[str(block.page.relative_to(ROOT)), block.line, block.code] for block in blocks]
        )
    )
    env = {**os.environ, "PYTHONDEVMODE": "1", "PYTHONWARNINGS": "error"}
    # Blocks write their files (certificates, sockets) in a directory of their own.
    result = subprocess.run(
        [sys.executable, "-c", _RUNNER, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert not _LEAKS.search(result.stderr), output


# Type-checking the blocks.


def _mypy(files: list[Path]) -> list[tuple[str, int, str]]:
    """Run ``mypy --strict`` on ``files``; return ``(file name, line, message)`` per error."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--output", "json", *map(str, files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    errors: list[tuple[str, int, str]] = []
    for line in result.stdout.splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        if entry["severity"] == "error":
            errors.append((Path(entry["file"]).name, entry["line"], entry["message"]))
    return errors


def _pyright(directory: Path) -> list[tuple[str, int, str]]:
    """Run pyright in strict mode on the files of ``directory``; return its errors."""
    config = directory / "pyrightconfig.json"
    config.write_text(
        json.dumps(
            {
                "typeCheckingMode": "strict",
                "pythonVersion": "3.11",
                # A block may import names only to show where they come from.
                "reportUnusedImport": False,
            }
        )
    )
    result = subprocess.run(
        # The interpreter running the tests has the package and its dependencies.
        [
            sys.executable,
            "-m",
            "pyright",
            "--outputjson",
            "--pythonpath",
            sys.executable,
            "-p",
            str(config),
        ],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    report = json.loads(result.stdout)
    return [
        (Path(entry["file"]).name, entry["range"]["start"]["line"] + 1, entry["message"])
        for entry in report["generalDiagnostics"]
        if entry["severity"] == "error"
    ]


def _write_blocks(blocks: list[Block], directory: Path) -> dict[str, Block]:
    """Write each block to a module of its own; return the blocks by file name."""
    files: dict[str, Block] = {}
    for number, block in enumerate(blocks):
        name = f"block_{number:03d}.py"
        (directory / name).write_text(block.code, encoding="utf-8")
        files[name] = block
    return files


@pytest.mark.timeout(300)
def test_python_blocks_pyright(tmp_path: Path) -> None:
    # pyright's messages differ from mypy's: only where errors are is checked.
    files = _write_blocks(RUNNABLE + TYPE_ERRORS, tmp_path)
    errors = _pyright(tmp_path)
    reported = {(name, line) for name, line, _ in errors}
    messages = {(name, line): message for name, line, message in errors}
    expected = {
        (name, number)
        for name, block in files.items()
        if block.marker == "type-error"
        for number, code_line in enumerate(block.code.split("\n"), 1)
        if _ERROR_COMMENT.search(code_line)
    }

    def where(name: str, line: int) -> str:
        return f"{files[name].page.relative_to(ROOT)}:{files[name].line + line - 1}"

    assert not reported - expected, "unexpected errors:\n" + "\n".join(
        f"{where(*error)}: {messages[error]}" for error in sorted(reported - expected)
    )
    assert not expected - reported, "no error at " + ", ".join(
        where(*error) for error in sorted(expected - reported)
    )


@pytest.mark.timeout(300)
def test_python_blocks_type_check(tmp_path: Path) -> None:
    files = _write_blocks(RUNNABLE + TYPE_ERRORS, tmp_path)
    errors = _mypy([tmp_path / name for name in files])
    reported: dict[tuple[str, int], list[str]] = {}
    unexpected: list[str] = []
    for name, line, message in errors:
        block = files[name]
        reported.setdefault((name, line), []).append(message)
        code_line = block.code.split("\n")[line - 1]
        if block.marker != "type-error" or not _ERROR_COMMENT.search(code_line):
            unexpected.append(f"{block.page.relative_to(ROOT)}:{block.line + line - 1}: {message}")
    assert not unexpected, "\n".join(unexpected)
    for name, block in files.items():
        if block.marker != "type-error":
            continue
        for number, code_line in enumerate(block.code.split("\n"), 1):
            match = _ERROR_COMMENT.search(code_line)
            if match is None:
                continue
            # The comment quotes the start of mypy's message.
            announced = code_line[match.end() :].strip()
            messages = reported.get((name, number), [])
            where = f"{block.page.relative_to(ROOT)}:{block.line + number - 1}"
            assert messages, f"{where}: no error reported"
            assert any(message.startswith(announced) for message in messages), (
                f"{where}: expected {announced!r}, got {messages}"
            )


# Building the site.


def _load_hooks() -> dict[str, object]:
    """Import docs/hooks.py, which isn't a package module, and return its namespace."""
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return vars(module)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the site with ``mkdocs build --strict``; return its directory."""
    site_dir = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    # The end of the log says what failed; the rest is mkdocs' progress.
    assert result.returncode == 0, result.stderr[-5000:]
    return site_dir


@pytest.mark.timeout(300)
def test_mkdocs_build_strict(site: Path) -> None:
    assert (site / "index.html").is_file()
    assert (site / "reference" / "index.html").is_file()


def _public_modules() -> Iterator[str]:
    """Yield the names of the package's public modules (no part starts with ``_``)."""
    yield "websockets_typed"
    for info in pkgutil.walk_packages(websockets_typed.__path__, "websockets_typed."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            yield info.name


def _anchors(site: Path) -> set[str]:
    anchors: set[str] = set()
    for page in (site / "reference").rglob("*.html"):
        anchors.update(re.findall(r'id="(websockets_typed[\w.]*)"', page.read_text("utf-8")))
    return anchors


@functools.cache
def _griffe_package() -> griffe.Module:
    package = griffe.load("websockets_typed", search_paths=[ROOT])
    assert isinstance(package, griffe.Module)
    return package


def _definition_path(module: str, name: str) -> str:
    """Return the dotted path where ``module.name`` is defined, following re-exports."""
    package = _griffe_package()
    obj = package if module == "websockets_typed" else package[module.partition(".")[2]]
    member = obj.members[name]
    target = member.final_target if isinstance(member, griffe.Alias) else member
    return target.path


@pytest.mark.timeout(300)
def test_reference_covers_every_public_name(site: Path) -> None:
    anchors = _anchors(site)
    missing: list[str] = []
    checked = 0
    for module_name in _public_modules():
        module = importlib.import_module(module_name)
        assert hasattr(module, "__all__"), f"{module_name} has no __all__"
        all_names = cast("list[str]", module.__all__)
        if module_name not in anchors:
            missing.append(module_name)
        for name in all_names:
            checked += 1
            path = _definition_path(module_name, name)
            if path not in anchors:
                missing.append(f"{module_name}.{name} (defined as {path})")
    assert checked > 100
    assert not missing, "not in the API reference:\n" + "\n".join(missing)


_REST_MARKUP = re.compile(r":(?:attr|class|data|exc|func|meth|mod|obj):`|::</p>")


@pytest.mark.timeout(300)
def test_reference_has_no_rest_markup(site: Path) -> None:
    # docs/griffe_sphinx_roles.py turns the docstrings' reST roles and literal
    # blocks into Markdown; nothing of them may reach the pages.
    for page in (site / "reference").rglob("*.html"):
        match = _REST_MARKUP.search(page.read_text("utf-8"))
        assert match is None, f"{page.relative_to(site)}: {match.group() if match else ''}"


@pytest.mark.timeout(300)
def test_reexports_are_listed(site: Path) -> None:
    # The pages of the packages list what they re-export, with a link each.
    pages = {
        "websockets_typed": site / "reference" / "index.html",
        "websockets_typed.asyncio": site / "reference" / "asyncio" / "index.html",
        "websockets_typed.sync": site / "reference" / "sync" / "index.html",
        "websockets_typed.extensions": site / "reference" / "extensions" / "index.html",
    }
    for module_name, page in pages.items():
        html = page.read_text("utf-8")
        module = importlib.import_module(module_name)
        for name in cast("list[str]", module.__all__):
            assert f"<code>{name}</code></a>" in html, f"{name} missing from {page}"


def test_state_diagram_is_generated_from_transitions() -> None:
    from websockets_typed.protocol import TRANSITIONS

    hooks = _load_hooks()
    state_diagram = cast("Callable[[], str]", hooks["state_diagram"])
    diagram = state_diagram()
    assert diagram.startswith("```mermaid\nstateDiagram-v2\n")
    for (source, transition), target in TRANSITIONS.items():
        assert f"    {source.name} --> {target.name}: {transition.value}\n" in diagram
    assert "    [*] --> CONNECTING\n" in diagram
    assert "    CLOSED --> [*]\n" in diagram
    page = (DOCS / "explanation" / "sans-io.md").read_text("utf-8")
    assert "<!-- generated: state-diagram -->" in page


def test_stage_diagram_is_generated_from_the_table_of_stages() -> None:
    from websockets_typed.protocol import (
        _STAGES,  # pyright: ignore[reportPrivateUsage]
        Transition,
    )

    hooks = _load_hooks()
    stage_diagram = cast("Callable[[], str]", hooks["stage_diagram"])
    diagram = stage_diagram()
    assert diagram.startswith("```mermaid\nstateDiagram-v2\n")
    for (source, transition), target in _STAGES.items():
        line = f"    {source.name} --> {target.name}: {transition.value}\n"
        assert (line in diagram) is (transition is not Transition.TCP_CONNECTION_CLOSED)
    assert "    OPEN_FAILED --> OPEN_EOF_SENT: end of stream sent\n" in diagram
    page = (DOCS / "explanation" / "sans-io.md").read_text("utf-8")
    assert "<!-- generated: stage-diagram -->" in page


@pytest.mark.timeout(300)
def test_state_diagram_is_on_the_site(site: Path) -> None:
    html = (site / "explanation" / "sans-io" / "index.html").read_text("utf-8")
    assert 'class="mermaid"' in html
    assert "CONNECTING --&gt; OPEN: opening handshake completed" in html


def test_every_example_is_in_the_docs() -> None:
    page = (DOCS / "examples.md").read_text("utf-8")
    examples = sorted(
        path.name for path in EXAMPLES.iterdir() if path.suffix in (".py", ".html", ".js")
    )
    missing = [name for name in examples if f'--8<-- "examples/{name}"' not in page]
    assert not missing, f"examples not included in docs/examples.md: {missing}"

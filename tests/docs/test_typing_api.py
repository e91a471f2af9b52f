"""Typing tests: the public API type-checks as documented, under mypy and pyright.

The files in tests/typing_cases/ are type-checked here, not run. ``pass_*``
files must type-check cleanly (their ``assert_type`` calls pin the inferred
types). ``fail_*`` files must produce exactly the diagnostics announced by
their ``# expect: mypy[code] pyright[rule, ...]`` comments, each on the line
below the comment. The main mypy and pyright runs exclude the folder (see
pyproject.toml), since the failing cases fail on purpose.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).parent.parent.parent
CASES = Path(__file__).parent.parent / "typing_cases"
PASSING = sorted(CASES.glob("pass_*.py"))
FAILING = sorted(CASES.glob("fail_*.py"))

_EXPECT = re.compile(r"#\s*expect:\s*mypy\[(?P<mypy>[^\]]*)\]\s*pyright\[(?P<pyright>[^\]]*)\]")


class Diagnostic(NamedTuple):
    """One diagnostic reported by a type checker."""

    file: str
    line: int
    severity: str
    code: str
    message: str


def run_mypy() -> list[Diagnostic]:
    """Type-check every case with ``mypy --strict``; return its diagnostics."""
    files = [str(path.relative_to(ROOT)) for path in PASSING + FAILING]
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--output", "json", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    diagnostics: list[Diagnostic] = []
    for line in result.stdout.splitlines():
        entry = json.loads(line)
        diagnostics.append(
            Diagnostic(
                Path(entry["file"]).name,
                entry["line"],
                entry["severity"],
                entry["code"] or "",
                entry["message"],
            )
        )
    return diagnostics


def run_pyright(tmp_path: Path) -> list[Diagnostic]:
    """Type-check every case with pyright in strict mode; return its diagnostics.

    The project's configuration excludes the cases, and pyright skips
    excluded files even when they are named on the command line: they are
    checked with a configuration of their own, the project's minus the
    exclusion.
    """
    config = tmp_path / "pyrightconfig.json"
    config.write_text(
        json.dumps(
            {
                "typeCheckingMode": "strict",
                "pythonVersion": "3.11",
                "venvPath": str(ROOT),
                "venv": ".venv",
                "extraPaths": [str(ROOT)],
            }
        )
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyright",
            "--outputjson",
            "--project",
            str(config),
            *(str(path) for path in PASSING + FAILING),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    assert report["summary"]["filesAnalyzed"] == len(PASSING) + len(FAILING)
    return [
        Diagnostic(
            Path(entry["file"]).name,
            entry["range"]["start"]["line"] + 1,
            entry["severity"],
            entry.get("rule", ""),
            entry["message"],
        )
        for entry in report["generalDiagnostics"]
    ]


@pytest.fixture(scope="module")
def mypy_diagnostics() -> list[Diagnostic]:
    return run_mypy()


@pytest.fixture(scope="module")
def pyright_diagnostics(tmp_path_factory: pytest.TempPathFactory) -> list[Diagnostic]:
    return run_pyright(tmp_path_factory.mktemp("pyright"))


def expectations(path: Path, tool: str) -> set[tuple[int, str]]:
    """The (line, code) pairs that the ``# expect:`` comments of a case announce."""
    expected: set[tuple[int, str]] = set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = _EXPECT.search(line)
        if match is not None:
            for code in match[tool].split(","):
                # mypy[] or pyright[]: that checker can't see this mistake.
                if code.strip():
                    expected.add((number + 1, code.strip()))
    return expected


def errors(diagnostics: list[Diagnostic], path: Path) -> Iterator[Diagnostic]:
    """The errors reported for one case."""
    return (d for d in diagnostics if d.file == path.name and d.severity == "error")


def test_cases_exist() -> None:
    assert [path.name for path in PASSING] == [
        "pass_broadcast.py",
        "pass_event_match.py",
        "pass_handlers.py",
        "pass_legacy.py",
        "pass_legacy_lowlevel.py",
        "pass_options.py",
        "pass_proxy.py",
        "pass_recv.py",
        "pass_router.py",
        "pass_sync.py",
    ]
    assert [path.name for path in FAILING] == [
        "fail_broadcast.py",
        "fail_event_match.py",
        "fail_handlers.py",
        "fail_legacy.py",
        "fail_legacy_lowlevel.py",
        "fail_options.py",
        "fail_proxy.py",
        "fail_recv.py",
        "fail_router.py",
        "fail_sync.py",
    ]
    for path in FAILING:
        assert expectations(path, "mypy"), f"{path.name} announces no error"


# Cases that must pass.


@pytest.mark.parametrize("path", PASSING, ids=lambda path: path.name)
def test_mypy_accepts(path: Path, mypy_diagnostics: list[Diagnostic]) -> None:
    assert list(errors(mypy_diagnostics, path)) == []


@pytest.mark.parametrize("path", PASSING, ids=lambda path: path.name)
def test_pyright_accepts(path: Path, pyright_diagnostics: list[Diagnostic]) -> None:
    assert list(errors(pyright_diagnostics, path)) == []
    warnings = [d for d in pyright_diagnostics if d.file == path.name and d.severity == "warning"]
    assert warnings == []


def test_reveal_recv_decode_true(
    mypy_diagnostics: list[Diagnostic], pyright_diagnostics: list[Diagnostic]
) -> None:
    path = CASES / "pass_recv.py"
    (line,) = [
        number
        for number, text in enumerate(path.read_text().splitlines(), start=1)
        if "# reveal: str" in text
    ]
    assert [
        d.message for d in mypy_diagnostics if d.file == path.name and d.severity == "note"
    ] == ['Revealed type is "str"']
    assert [d.line for d in mypy_diagnostics if d.file == path.name] == [line]
    (revealed,) = [d for d in pyright_diagnostics if d.file == path.name]
    assert revealed.line == line
    assert revealed.message == 'Type of "await connection.recv(decode=True)" is "str"'


# Cases that must fail, with the announced diagnostics and nothing else.


@pytest.mark.parametrize("path", FAILING, ids=lambda path: path.name)
def test_mypy_rejects(path: Path, mypy_diagnostics: list[Diagnostic]) -> None:
    reported = {(d.line, d.code) for d in errors(mypy_diagnostics, path)}
    assert reported == expectations(path, "mypy")


@pytest.mark.parametrize("path", FAILING, ids=lambda path: path.name)
def test_pyright_rejects(path: Path, pyright_diagnostics: list[Diagnostic]) -> None:
    reported = {(d.line, d.code) for d in errors(pyright_diagnostics, path)}
    assert reported == expectations(path, "pyright")


def test_wrong_handler_messages(
    mypy_diagnostics: list[Diagnostic], pyright_diagnostics: list[Diagnostic]
) -> None:
    path = CASES / "fail_handlers.py"
    mypy_messages = [d.message for d in errors(mypy_diagnostics, path)]
    expected_handler = (
        'expected "Callable[[ServerConnection], Awaitable[object]] '
        '| Callable[[ServerConnection, str], Awaitable[object]]"'
    )
    assert mypy_messages[0] == (
        'Argument 1 to "serve" has incompatible type '
        '"Callable[[ServerConnection, int], Coroutine[Any, Any, None]]"; ' + expected_handler
    )
    assert mypy_messages[2] == (
        'Value of type variable "ServerConnectionT" of "serve" cannot be "ClientConnection"'
    )
    # pyright says what is wrong with each handler, not just "no overload matches".
    pyright_messages = [d.message for d in errors(pyright_diagnostics, path)]
    assert 'Parameter 2: type "str" is incompatible with type "int"' in pyright_messages[0]
    assert '"__await__" is not present' in pyright_messages[1]
    assert '"ServerConnection" is not assignable to "ClientConnection"' in pyright_messages[2]
    assert 'Extra parameter "extra"' in pyright_messages[3]


def test_recv_decode_messages(
    mypy_diagnostics: list[Diagnostic], pyright_diagnostics: list[Diagnostic]
) -> None:
    path = CASES / "fail_recv.py"
    assert [d.message for d in errors(mypy_diagnostics, path)] == [
        'Incompatible types in assignment (expression has type "str", variable has type "bytes")',
        'Incompatible types in assignment (expression has type "bytes", variable has type "str")',
        'Incompatible types in assignment (expression has type "str | bytes", '
        'variable has type "str")',
    ]
    assert [d.message.splitlines()[0] for d in errors(pyright_diagnostics, path)] == [
        'Type "str" is not assignable to declared type "bytes"',
        'Type "bytes" is not assignable to declared type "str"',
        'Type "Data" is not assignable to declared type "str"',
    ]


def test_non_exhaustive_match_messages(
    mypy_diagnostics: list[Diagnostic], pyright_diagnostics: list[Diagnostic]
) -> None:
    # The forgotten case is named in the error.
    path = CASES / "fail_event_match.py"
    (mypy_error,) = errors(mypy_diagnostics, path)
    assert mypy_error.message == (
        'Argument 1 to "assert_never" has incompatible type "Response"; expected "Never"'
    )
    (pyright_error,) = errors(pyright_diagnostics, path)
    assert pyright_error.message.startswith('Argument of type "Response" cannot be assigned')


def test_misspelt_option_messages(
    mypy_diagnostics: list[Diagnostic], pyright_diagnostics: list[Diagnostic]
) -> None:
    """A misspelt option is named, by both checkers, in a message that fits a screen."""
    path = CASES / "fail_options.py"
    lines = sorted(line for line, code in expectations(path, "mypy") if code == "call-arg")
    for line, function in zip(lines, ["serve", "connect"], strict=True):
        mypy_here = [d for d in mypy_diagnostics if d.file == path.name and d.line == line]
        assert [d.message for d in mypy_here if d.severity == "error"] == [
            f'Unexpected keyword argument "ping_intervall" for "{function}"; '
            'did you mean "ping_interval"?'
        ]
        # One error and the note saying where the function is: no list of
        # overloads, each spelling out every option.
        assert len(mypy_here) <= 2
        assert all(len(d.message) < 120 for d in mypy_here)
        pyright_here = [d for d in pyright_diagnostics if d.file == path.name and d.line == line]
        assert [d.message for d in pyright_here] == ['No parameter named "ping_intervall"']

"""The tables of docs/howto/memory.md ("Limits and memory") against the code.

Every row of the limits tables names a limit and its default; each is
checked here against the signatures, the defaults that serve() and connect()
apply, the docstrings of their options, the module constants, or the
behaviour that the RFC fixes. A row this module doesn't know fails, and so
does a limit of the code that the page leaves out.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from websockets_typed import _defaults, http11
from websockets_typed.asyncio import client as asyncio_client
from websockets_typed.asyncio import server as asyncio_server
from websockets_typed.asyncio.client import ClientConnection, ConnectOptions
from websockets_typed.asyncio.connection import Connection
from websockets_typed.asyncio.server import ServeOptions, Server, ServerConnection
from websockets_typed.client import ClientProtocol
from websockets_typed.exceptions import ProtocolError
from websockets_typed.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)
from websockets_typed.frames import Close, Frame, Opcode
from websockets_typed.protocol import Protocol
from websockets_typed.server import ServerProtocol

ROOT = Path(__file__).parent.parent.parent
PAGE = ROOT / "docs" / "howto" / "memory.md"

_DEFAULT = re.compile(r"`([^`]+)`")

# The options of serve() and connect() that are limits, and where their
# defaults live in signatures.
OPTIONS: dict[str, list[Callable[..., object]]] = {
    "max_size": [Protocol.__init__, ServerProtocol.__init__, ClientProtocol.__init__],
    "max_fragments": [Protocol.__init__, ServerProtocol.__init__, ClientProtocol.__init__],
    "max_queue": [Connection.__init__, ServerConnection.__init__, ClientConnection.__init__],
    "write_limit": [Connection.__init__, ServerConnection.__init__, ClientConnection.__init__],
    "broadcast_limit": [Connection.__init__, ServerConnection.__init__],
    "open_timeout": [Server.__init__],
    "ping_interval": [Connection.__init__, ServerConnection.__init__, ClientConnection.__init__],
    "ping_timeout": [Connection.__init__, ServerConnection.__init__, ClientConnection.__init__],
    "close_timeout": [
        Connection.__init__,
        ServerConnection.__init__,
        ClientConnection.__init__,
        Server.__init__,
    ],
}

# Options of serve() only: broadcasting is what servers do.
SERVE_ONLY = frozenset({"broadcast_limit"})

CONSTANTS: dict[str, object] = {
    "MAX_LINE_LENGTH": http11.MAX_LINE_LENGTH,
    "MAX_NUM_HEADERS": http11.MAX_NUM_HEADERS,
    "MAX_BODY_SIZE": http11.MAX_BODY_SIZE,
    "MAX_REDIRECTS": asyncio_client.MAX_REDIRECTS,
}


def evaluate(default: str) -> int:
    """A default as the page writes it: an integer or a power of two."""
    match = re.fullmatch(r"(\d+)(?:\*\*(\d+))?", default)
    assert match is not None, f"unexpected default: {default}"
    base, exponent = match.groups()
    value: int = int(base) ** int(exponent or 1)
    return value


def page_rows() -> dict[str, int]:
    """The rows of the page's four-column tables whose second cell is a default in code."""
    rows: dict[str, int] = {}
    for line in PAGE.read_text().splitlines():
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        if len(cells) == 4 and (match := _DEFAULT.fullmatch(cells[1])) is not None:
            name = cells[0]
            if name.count("`") == 2 and name.startswith("`") and name.endswith("`"):
                name = name[1:-1]
            assert name not in rows, f"{name} appears twice"
            rows[name] = evaluate(match.group(1))
    return rows


ROWS = page_rows()


def test_every_row_is_checked_and_every_limit_listed() -> None:
    rfc = {"control frame payload", "close reason"}
    deflate = {"server `server_max_window_bits`", "server `memLevel`", "client `memLevel`"}
    assert set(ROWS) == {*OPTIONS, *CONSTANTS, *rfc, *deflate}


def option_defaults_in_source(module: object) -> dict[str, set[object]]:
    """Every ``options.get("name", default)`` of a limit in a module: the defaults it applies."""
    tree = ast.parse(inspect.getsource(module))  # type: ignore[arg-type]
    defaults: dict[str, set[object]] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and len(node.args) == 2
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value in OPTIONS
        ):
            default = node.args[1]
            # The defaults module names every default (see _defaults.py).
            value = (
                getattr(_defaults, default.id)
                if isinstance(default, ast.Name)
                else evaluate(ast.unparse(default).replace(" ", ""))
            )
            defaults.setdefault(node.args[0].value, set()).add(value)
    return defaults


def option_docstrings(options: type) -> dict[str, str]:
    """The docstring of each key of a TypedDict of options."""
    [tree] = ast.parse(inspect.getsource(options)).body
    assert isinstance(tree, ast.ClassDef)
    docstrings: dict[str, str] = {}
    body = tree.body
    for previous, node in itertools.pairwise(body):
        if (
            isinstance(previous, ast.AnnAssign)
            and isinstance(previous.target, ast.Name)
            and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            docstrings[previous.target.id] = node.value.value
    return docstrings


def human(value: int) -> str:
    """How option docstrings write a default: 1 MiB, 32 KiB, 16..."""
    for unit, size in (("MiB", 2**20), ("KiB", 2**10)):
        if value >= size and value % size == 0:
            return f"{value // size} {unit}"
    return str(value)


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_option_default_in_signatures(name: str) -> None:
    for function in OPTIONS[name]:
        parameter = inspect.signature(function).parameters[name]
        assert parameter.default == ROWS[name], function.__qualname__


@pytest.mark.parametrize("name", sorted(OPTIONS))
@pytest.mark.parametrize(
    ("module", "options"),
    [(asyncio_server, ServeOptions), (asyncio_client, ConnectOptions)],
    ids=["serve", "connect"],
)
def test_option_default_in_serve_and_connect(name: str, module: object, options: type) -> None:
    """What serve() and connect() apply when the option is missing, and what
    their documentation says."""
    if options is ConnectOptions and name in SERVE_ONLY:
        assert name not in option_docstrings(options)
        return
    defaults = option_defaults_in_source(module)
    assert defaults[name] == {ROWS[name]}
    docstring = option_docstrings(options)[name]
    value = ROWS[name]
    assert f"(default {human(value)})" in docstring or f"(default {value})" in docstring, docstring


@pytest.mark.parametrize("name", sorted(CONSTANTS))
def test_constants(name: str) -> None:
    assert CONSTANTS[name] == ROWS[name]


def test_control_frame_payload() -> None:
    size = ROWS["control frame payload"]
    Frame(Opcode.PING, bytes(size)).check()
    with pytest.raises(ProtocolError, match="control frame too long"):
        Frame(Opcode.PING, bytes(size + 1)).check()


def test_close_reason() -> None:
    size = ROWS["close reason"]
    assert len(Close(1000, "r" * size).serialize()) == size + 2
    with pytest.raises(ProtocolError, match="close reason too long"):
        Close(1000, "r" * (size + 1)).serialize()


def test_permessage_deflate_defaults() -> None:
    [server] = enable_server_permessage_deflate(None)
    assert isinstance(server, ServerPerMessageDeflateFactory)
    assert server.server_max_window_bits == ROWS["server `server_max_window_bits`"]
    assert server.compress_settings == {"memLevel": ROWS["server `memLevel`"]}
    [client] = enable_client_permessage_deflate(None)
    assert isinstance(client, ClientPerMessageDeflateFactory)
    assert client.compress_settings == {"memLevel": ROWS["client `memLevel`"]}

"""A Griffe extension: render the package's reST markup as Markdown.

The docstrings use Sphinx roles (``:class:`Server```) and literal blocks
introduced by ``::``, which mean nothing to Markdown. At build time, this
extension rewrites them in every docstring of the package:

* a role that names an object the reference renders becomes a
  cross-reference (``[Server][websockets_typed.asyncio.server.Server]``);
  any other role (the standard library, private names, objects without a
  docstring) becomes inline code;
* a paragraph ending with ``::`` followed by an indented block becomes a
  paragraph ending with ``:`` followed by a fenced code block.

The package's source is not modified.
"""

from __future__ import annotations

import ast
import re
import textwrap
from typing import TYPE_CHECKING

import griffe

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["SphinxRoles", "convert", "export_names", "rendered_path"]

_ROLE = re.compile(r":(?:attr|class|data|exc|func|meth|mod|obj):`(~?)([\w.]+)(\(\))?`")
_LITERAL_INTRO = re.compile(r"^(?P<text>.*?)(?P<space> ?)::$")


def _walk(obj: griffe.Object) -> Iterator[griffe.Object]:
    """Yield ``obj`` and every object defined under it, skipping imports."""
    yield obj
    for member in obj.members.values():
        if isinstance(member, griffe.Alias):
            continue
        yield from _walk(member)


def export_names(module: griffe.Object) -> list[str]:
    """Return the names in the ``__all__`` of ``module``; empty without one."""
    exports = module.exports or []
    return [name if isinstance(name, str) else name.name for name in exports]


def _is_rendered(obj: griffe.Object) -> bool:
    """Tell whether the reference renders ``obj``, so that a link to it resolves.

    Module members are rendered when listed in ``__all__``, class members
    when public; either way only with a docstring (``show_if_no_docstring``
    is off).
    """
    if obj.is_module:
        return obj.path.startswith("websockets_typed") and not any(
            part.startswith("_") for part in obj.path.split(".")
        )
    parent = obj.parent
    if parent is None or not obj.docstring or not obj.docstring.value.strip():
        return False
    if parent.is_module:
        return obj.name in export_names(parent) and _is_rendered(parent)
    if obj.name.startswith("_"):
        return False
    return _is_rendered(parent)


def _lookup(scope: griffe.Object, name: str) -> griffe.Object | None:
    """Find the object that ``name`` means in the docstring of ``scope``."""
    first, *rest = name.split(".")
    try:
        if first == "websockets_typed":
            root: griffe.Object | griffe.Alias = scope.package
        else:
            # Names of the class itself and of its members first, then of the
            # enclosing scopes (module members and imports).
            current: griffe.Object | None = (
                scope if scope.is_class or scope.is_module else scope.parent
            )
            while current is not None and first not in current.members:
                current = current.parent
            if current is None:
                return None
            root = current.members[first]
        for part in rest:
            root = root.members[part]
        target = root.final_target if isinstance(root, griffe.Alias) else root
    except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None
    return target


def rendered_path(scope: griffe.Object, name: str) -> str | None:
    """Return where the reference renders the object that ``name`` means, if it does."""
    target = _lookup(scope, name)
    if target is None or not _is_rendered(target):
        return None
    return target.path


def _convert_roles(text: str, scope: griffe.Object) -> str:
    def replace(match: re.Match[str]) -> str:
        short, name, call = match.group(1), match.group(2), match.group(3) or ""
        label = (name.rsplit(".", 1)[-1] if short else name) + call
        path = rendered_path(scope, name)
        if path is None:
            return f"`{label}`"
        return f"[`{label}`][{path}]"

    return _ROLE.sub(replace, text)


def _is_python(code: str) -> bool:
    """Tell whether a literal block is Python code (top-level ``await`` allowed)."""
    try:
        compile(code, "<docstring>", "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except SyntaxError:
        return False
    return True


def _convert_literal_blocks(text: str) -> str:
    """Turn ``::`` and the indented block after it into a fenced code block."""
    lines = text.split("\n")
    output: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        match = _LITERAL_INTRO.match(line)
        if match is None or index + 1 >= len(lines) or lines[index + 1].strip():
            output.append(line)
            index += 1
            continue
        # The block: every following line that is blank or indented.
        end = index + 2
        while end < len(lines) and (not lines[end].strip() or lines[end].startswith((" ", "\t"))):
            end += 1
        block = textwrap.dedent("\n".join(lines[index + 2 : end])).strip("\n")
        text_before = match.group("text")
        if text_before.strip():
            output.append(text_before + ":")
            output.append("")
        language = "python" if _is_python(block) else "text"
        output.extend([f"```{language}", *block.split("\n"), "```"])
        if end < len(lines):
            output.append("")
        index = end
    return "\n".join(output)


def convert(text: str, scope: griffe.Object) -> str:
    """Return the Markdown version of a docstring of ``scope``."""
    return _convert_roles(_convert_literal_blocks(text), scope)


class SphinxRoles(griffe.Extension):
    """Rewrite the docstrings of a package once Griffe has loaded it."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: object) -> None:
        """Convert every docstring of the package."""
        for obj in _walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = convert(obj.docstring.value, obj)

"""MkDocs hooks: parts of pages generated from the code at build time.

A page asks for generated content with an HTML comment on a line of its own:

* ``<!-- generated: state-diagram -->`` becomes a Mermaid state diagram of
  :data:`websockets_typed.protocol.TRANSITIONS`, so the diagram in the docs
  is the table the code runs;
* ``<!-- generated: stage-diagram -->`` becomes a Mermaid state diagram of
  the connection's one transition table, every stage and every change;
* ``<!-- generated: exports MODULE -->`` becomes a table of the names in
  ``MODULE.__all__``, each linked to the page that documents it.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

import griffe

from websockets_typed.protocol import (
    _STAGES,  # pyright: ignore[reportPrivateUsage]  # the table the code runs
    TRANSITIONS,
    State,
    Transition,
    _Stage,  # pyright: ignore[reportPrivateUsage]
)

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files
    from mkdocs.structure.pages import Page

__all__ = ["exports_table", "on_page_markdown", "stage_diagram", "state_diagram"]

ROOT = Path(__file__).parent.parent
_DIRECTIVE = re.compile(r"^<!-- generated: (?P<what>[\w-]+)(?: (?P<arg>[\w.]+))? -->$", re.M)


def state_diagram() -> str:
    """Return a Mermaid ``stateDiagram-v2`` block drawn from ``TRANSITIONS``.

    States without an incoming transition are initial, states without an
    outgoing one are final.
    """
    lines = ["```mermaid", "stateDiagram-v2"]
    sources = {source for source, _ in TRANSITIONS}
    targets = set(TRANSITIONS.values())
    lines.extend(f"    [*] --> {state.name}" for state in State if state not in targets)
    for (source, transition), target in TRANSITIONS.items():
        lines.append(f"    {source.name} --> {target.name}: {transition.value}")
    lines.extend(f"    {state.name} --> [*]" for state in State if state not in sources)
    lines.append("```")
    return "\n".join(lines)


def stage_diagram() -> str:
    """Return a Mermaid ``stateDiagram-v2`` block drawn from the table of stages.

    Every stage of a connection: its state, and whether it reads frames,
    sent the end of the stream, and may send data or control frames.
    """
    lines = ["```mermaid", "stateDiagram-v2"]
    lines.extend(f"    [*] --> {stage.name}" for stage in (_Stage.HANDSHAKE, _Stage.OPEN))
    for (source, transition), target in _STAGES.items():
        # From every stage: said once in the text, not drawn eleven times.
        if transition is not Transition.TCP_CONNECTION_CLOSED:
            lines.append(f"    {source.name} --> {target.name}: {transition.value}")
    lines.append(f"    {_Stage.CLOSED.name} --> [*]")
    lines.append("```")
    return "\n".join(lines)


@functools.cache
def _package() -> griffe.Module:
    """Load the package with Griffe, docstrings converted as in the reference."""
    extensions = griffe.load_extensions(
        str(ROOT / "docs" / "griffe_sphinx_roles.py") + ":SphinxRoles"
    )
    package = griffe.load("websockets_typed", search_paths=[ROOT], extensions=extensions)
    assert isinstance(package, griffe.Module)
    return package


def _summary(obj: griffe.Object) -> str:
    """Return the first sentence of the docstring of ``obj``, on one line."""
    if obj.docstring is None:
        return ""
    paragraph = obj.docstring.value.strip().split("\n\n", 1)[0]
    return " ".join(paragraph.split()).replace("|", "\\|")


def exports_table(module_path: str) -> str:
    """Return a Markdown table of the names exported by ``module_path``.

    Each name links to where it is defined, which is where the reference
    documents it.
    """
    package = _package()
    module = package if module_path == package.path else package[module_path.partition(".")[2]]
    rows = ["| Name | Defined in | Summary |", "| --- | --- | --- |"]
    for name in sorted(_names(module), key=str.lower):
        member = module.members[name]
        target = member.final_target if isinstance(member, griffe.Alias) else member
        assert target.parent is not None
        rows.append(f"| [`{name}`][{target.path}] | `{target.parent.path}` | {_summary(target)} |")
    return "\n".join(rows)


def _names(module: griffe.Object) -> list[str]:
    exports = module.exports or []
    return [name if isinstance(name, str) else name.name for name in exports]


def _generate(match: re.Match[str]) -> str:
    what, arg = match.group("what"), match.group("arg")
    if what == "state-diagram":
        return state_diagram()
    if what == "stage-diagram":
        return stage_diagram()
    if what == "exports" and arg is not None:
        return exports_table(arg)
    raise ValueError(f"unknown generated content: {match.group()}")


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Replace the ``<!-- generated: ... -->`` directives of a page."""
    del page, config, files  # The hook's signature is fixed by MkDocs.
    return _DIRECTIVE.sub(_generate, markdown)

"""The modules a task's source imports, found by reading it (never by running it).

Used to choose what the warm-kernel template imports once for every task: notebooks are read
as JSON (code cells only), ``.py`` sources with :mod:`ast`. IPython syntax (``%magic``, ``!shell``,
``%%cell`` magics) is skipped, and a cell that still does not parse is skipped: this is a hint for
preloading, not a check.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable
from pathlib import Path


def source_imports(path: Path) -> list[str]:
    """Dotted names of the absolute imports in one task source, in order of appearance.

    ``import a.b`` gives ``a.b``; ``from a.b import c`` gives ``a.b`` (``c`` may be a function);
    relative imports are left out (they name the project's own code). An unreadable file gives
    no names.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(text).get("cells", [])
        except (ValueError, AttributeError):
            return []
        chunks = ["".join(c.get("source", "")) if isinstance(c.get("source"), list) else str(c.get("source", ""))
                  for c in cells if isinstance(c, dict) and c.get("cell_type") == "code"]
    else:
        chunks = [text]
    names: list[str] = []
    for chunk in chunks:
        for name in _imports(_python_only(chunk)):
            if name not in names:
                names.append(name)
    return names


def pipeline_imports(sources: Iterable[Path]) -> list[str]:
    """The union of :func:`source_imports` over ``sources``, first appearance first."""
    names: list[str] = []
    for source in sources:
        for name in source_imports(Path(source)):
            if name not in names:
                names.append(name)
    return names


def _python_only(code: str) -> str:
    if code.lstrip().startswith("%%"):
        return ""  # a cell magic: the body is not Python (or not ours to read)
    lines = []
    for line in code.splitlines():
        stripped = line.lstrip()
        # keep line numbers stable; an IPython-only line becomes a blank one
        lines.append("" if stripped.startswith(("%", "!", "?")) or stripped.endswith("?") else line)
    return "\n".join(lines)


def _imports(code: str) -> list[str]:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names

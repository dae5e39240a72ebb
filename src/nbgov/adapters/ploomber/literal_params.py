"""Ploomber reads ``upstream`` (and ``product``) from a notebook's parameters cell with ``eval``
(``ploomber.static_analysis.python.extract_variable``), in the process that loads the pipeline:
an unreviewed notebook edit such as ``upstream = __import__("os").system(...)`` would run in
nbgov's own process while the pipeline loads, before the approval gate sees any task (R4).

:func:`install` replaces that function with one that accepts Python literals only
(:func:`ast.literal_eval`): lists, tuples, sets, dicts, strings, numbers, None, which is what
Ploomber documents for ``upstream`` and ``product``. Anything else is refused with a one-line
error naming the variable; nothing in the cell is ever evaluated. :func:`parameters_cell_names`
reads the names a parameters cell assigns, without running it either.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from nbgov.adapters.notebooks import read_notebook
from nbgov.core.errors import Location, NotebookError


def extract_variable(code_str: str, name: str) -> tuple[bool, Any]:
    """(found, value) of the last top-level assignment ``name = <literal>`` in ``code_str``,
    as Ploomber's function of the same name, but never evaluating code.

    Raises:
        ValueError: the assigned value is not a Python literal.
    """
    # Ploomber's own statement walk (parso, tolerant of a cell that does not fully parse)
    from ploomber.static_analysis.python import _iterate_assignments

    found, value = False, None
    for stmt in _iterate_assignments(code_str):
        if not hasattr(stmt, "get_defined_names"):
            continue
        defined = stmt.get_defined_names()
        if len(defined) == 1 and defined[0].value == name:
            code = stmt.children[2].get_code().strip()
            try:
                value = ast.literal_eval(code)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                raise ValueError(f"the parameters cell's `{name} = ...` must be a literal (a list, dict, "
                                 f"string or None), got: {code[:80]}; nbgov never evaluates it") from None
            found = True
    return found, value


def install() -> None:
    """Make Ploomber read parameters-cell variables as literals (idempotent)."""
    from ploomber.static_analysis import python as extractor

    extractor.extract_variable = extract_variable


def parameters_cell_names(source: Path) -> set[str] | None:
    """Names assigned at top level in the notebook's ``parameters`` cell (None: no such cell)."""

    nb = read_notebook(source)
    for index, cell in enumerate(nb["cells"]):
        if "parameters" in ((cell.get("metadata") or {}).get("tags") or []):
            src = cell.get("source", "")
            src = "".join(src) if isinstance(src, list) else src
            try:
                tree = ast.parse(src)
            except SyntaxError as exc:
                raise NotebookError(f"parameters cell is not valid Python: {exc.msg}",
                                    Location(source, cell=index, line=exc.lineno)) from None
            names: set[str] = set()
            for node in tree.body:
                targets = node.targets if isinstance(node, ast.Assign) else (
                    [node.target] if isinstance(node, ast.AnnAssign) else [])
                names.update(t.id for t in targets if isinstance(t, ast.Name))
            return names
    return None

"""Notebooks a file of the closure runs through nbclient / nbconvert's ``ExecutePreprocessor``
after reading them with ``nbformat.read`` (docs/security.md, R4).

``nbformat.read("x.ipynb")`` followed by ``ExecutePreprocessor().preprocess(nb)`` or
``NotebookClient(nb).execute()`` runs x.ipynb's code as ``%run x.ipynb`` does. The scanner does
not follow values from the read to the executor; it reads the two together: in a file that names
an executor (``ExecutePreprocessor``, ``NotebookClient``, the ``nbclient`` module), a notebook
``nbformat.read`` reads by a literal path (or ``open(LITERAL)``) is run, and one read by a
computed path gets the conservative rule. Notebooks built in memory (``nbformat.reads``) are not
followed (a limit, documented).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from nbgov.services.review.scanned import COMPUTED_FILE, FileScan

#: Names that execute a notebook object: when a file names one, the notebooks it reads may run.
_EXECUTORS = frozenset({"ExecutePreprocessor", "NotebookClient", "nbclient"})


@dataclass
class Readers:
    """How one file reaches ``nbformat.read``: module names bound to nbformat, bare names bound
    to its ``read``, and whether the file names an executor at all."""

    modules: set[str] = field(default_factory=set)
    functions: set[str] = field(default_factory=set)
    executes: bool = False
    #: ``with X as NAME``: the literal paths ``open`` gives each name (None: something else)
    opened: dict[str, set[str | None]] = field(default_factory=dict)


def readers(tree: ast.AST) -> Readers:
    """The names ``tree`` gives nbformat and its ``read`` (``import nbformat as nbf``, ``from
    nbformat import read as r``), and whether it names an executor (anywhere: an import, a call)."""
    out = Readers()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.modules.update(a.asname or a.name for a in node.names if a.name == "nbformat")
            out.executes |= any(a.name.split(".")[0] == "nbclient" for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.module == "nbformat":
                out.functions.update(a.asname or a.name for a in node.names if a.name == "read")
            out.executes |= (node.module or "").split(".")[0] == "nbclient"
            out.executes |= any(a.name in _EXECUTORS for a in node.names)
        elif isinstance(node, ast.withitem) and isinstance(node.optional_vars, ast.Name):
            out.opened.setdefault(node.optional_vars.id, set()).add(_opened(node.context_expr))
        elif isinstance(node, ast.Name) and node.id in _EXECUTORS:
            out.executes = True
        elif isinstance(node, ast.Attribute) and node.attr in _EXECUTORS:
            out.executes = True
    return out


def read_call(node: ast.Call, names: Readers, found: FileScan) -> None:
    """A call of ``nbformat.read`` in a file that executes notebooks: a literal path (or
    ``open(LITERAL)``) is a notebook run (``found.runs``, as ``%run`` is); a computed one goes into
    ``found.why`` (the conservative rule)."""
    if not names.executes:
        return
    func = node.func
    is_read = (isinstance(func, ast.Attribute) and func.attr == "read" and isinstance(func.value, ast.Name)
               and func.value.id in names.modules) or (isinstance(func, ast.Name) and func.id in names.functions)
    if not is_read:
        return
    arg = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "fp"), None)
    # a path, open(PATH), or a name only `with open(PATH) as f` binds (each PATH literal)
    paths = {_literal(arg) or _opened(arg)}
    if isinstance(arg, ast.Name) and arg.id in names.opened:
        paths = names.opened[arg.id]
    if None in paths:
        found.why.append(COMPUTED_FILE)
    found.runs += sorted(p for p in paths if p is not None)


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _opened(node: ast.AST | None) -> str | None:
    """The literal path of ``open(PATH, ...)``, else None."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open" and node.args:
        return _literal(node.args[0])
    return None

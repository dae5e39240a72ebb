"""Notebooks a file of the closure runs through nbclient / nbconvert's ``ExecutePreprocessor``
(docs/security.md, R4).

``nbformat.read("x.ipynb")`` followed by ``ExecutePreprocessor().preprocess(nb)`` or
``NotebookClient(nb).execute()`` runs x.ipynb's code as ``%run x.ipynb`` does. The scanner does
not follow values from the read to the executor; it reads the two together: in a file that names
an executor (``ExecutePreprocessor``, ``NotebookClient``, the ``nbclient`` module, the strings
``"ExecutePreprocessor"`` and ``"--execute"`` a traitlets config or command line enables it by),
a notebook ``nbformat.read`` or ``jupytext.read`` reads by a literal path (or ``open(LITERAL)``)
is run, and an exporter's ``from_filename(PATH)`` / ``from_file`` / ``nbconvert.export(E, PATH)``
too. Any other way such a file gets a notebook (a computed path, ``nbformat.reads(text)``,
``from_dict``, ``json.load``..., or no recognised read at all: the notebook comes from elsewhere)
gets the conservative rule: only a notebook every run of which the scan reads is followed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from nbgov.services.review.scanned import COMPUTED_FILE, FileScan

#: Names that execute a notebook object: when a file names one, the notebooks it reads may run.
_EXECUTORS = frozenset({"ExecutePreprocessor", "NotebookClient", "nbclient"})
#: Strings that enable an executor by configuration (``Config({"ExecutePreprocessor": ...})``,
#: ``jupyter nbconvert --execute``).
_EXECUTOR_STRINGS = frozenset({"ExecutePreprocessor", "--execute"})
#: Modules whose ``read(PATH)`` returns a notebook the scan follows.
_READ_MODULES = frozenset({"nbformat", "jupytext"})
#: Exporter calls that read a notebook by its path (position, keyword): a run when the exporter
#: executes it.
_EXPORTS = {"from_filename": (0, "filename"), "from_file": (0, "file_stream"), "export": (1, "nb")}
#: Calls that produce a notebook (or its text) another way than a followed read: in an
#: executing file, the conservative rule (the notebook may be a project file the scan missed).
_OTHER_SOURCES = frozenset({"read", "reads", "from_dict", "new_notebook", "NotebookNode", "load", "loads",
                            "read_text", "read_bytes", "readf", "convert", "upgrade", "from_notebook_node",
                            "urlopen"})


@dataclass
class Readers:
    """How one file reaches ``nbformat.read`` / ``jupytext.read``: module names bound to them,
    bare names bound to their ``read``, and whether the file names an executor at all."""

    modules: set[str] = field(default_factory=set)
    functions: set[str] = field(default_factory=set)
    executes: bool = False
    #: ``with X as NAME``: the literal paths ``open`` gives each name (None: something else)
    opened: dict[str, set[str | None]] = field(default_factory=dict)
    #: whether a literal read (or exporter path) was followed in the file
    followed: bool = False


def readers(tree: ast.AST) -> Readers:
    """The names ``tree`` gives nbformat and its ``read`` (``import nbformat as nbf``, ``from
    nbformat import read as r``), and whether it names an executor (anywhere: an import, a call)."""
    out = Readers()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.modules.update(a.asname or a.name for a in node.names if a.name in _READ_MODULES)
            out.executes |= any(a.name.split(".")[0] == "nbclient" for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.module in _READ_MODULES:
                out.functions.update(a.asname or a.name for a in node.names if a.name == "read")
            out.executes |= (node.module or "").split(".")[0] == "nbclient"
            out.executes |= any(a.name in _EXECUTORS for a in node.names)
        elif isinstance(node, ast.withitem) and isinstance(node.optional_vars, ast.Name):
            out.opened.setdefault(node.optional_vars.id, set()).add(_opened(node.context_expr))
        elif isinstance(node, ast.Name) and node.id in _EXECUTORS:
            out.executes = True
        elif isinstance(node, ast.Attribute) and node.attr in _EXECUTORS:
            out.executes = True
        elif isinstance(node, ast.Constant) and node.value in _EXECUTOR_STRINGS:
            out.executes = True
    return out


def read_call(node: ast.Call, names: Readers, found: FileScan) -> None:
    """A call in a file that executes notebooks: ``nbformat.read`` / ``jupytext.read`` or an
    exporter's ``from_filename`` by a literal path (or ``open(LITERAL)``) is a notebook run
    (``found.runs``, as ``%run`` is, and ``names.followed``); a computed one, or another call that
    makes a notebook (``reads``, ``from_dict``...), goes into ``found.why`` (the conservative rule)."""
    if not names.executes:
        return
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    is_read = (isinstance(func, ast.Attribute) and func.attr == "read" and isinstance(func.value, ast.Name)
               and func.value.id in names.modules) or (isinstance(func, ast.Name) and func.id in names.functions)
    if called in _EXPORTS:
        position, keyword = _EXPORTS[called]
        arg = node.args[position] if len(node.args) > position else next(
            (k.value for k in node.keywords if k.arg == keyword), None)
    elif is_read:
        arg = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "fp"), None)
    else:
        if called in _OTHER_SOURCES:
            found.why.append(COMPUTED_FILE)
        return
    # a path, open(PATH), or a name only `with open(PATH) as f` binds (each PATH literal)
    paths = {_literal(arg) or _opened(arg)}
    if isinstance(arg, ast.Name) and arg.id in names.opened:
        paths = names.opened[arg.id]
    if None in paths:
        found.why.append(COMPUTED_FILE)
    found.runs += sorted(p for p in paths if p is not None)
    names.followed = True


def finish(names: Readers, found: FileScan) -> None:
    """After every call of a file that executes notebooks: with no followed read, the notebooks
    it executes come from elsewhere (an argument, another module): the conservative rule."""
    if names.executes and not names.followed:
        found.why.append(COMPUTED_FILE)


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _opened(node: ast.AST | None) -> str | None:
    """The literal path of ``open(PATH, ...)``, else None."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open" and node.args:
        return _literal(node.args[0])
    return None

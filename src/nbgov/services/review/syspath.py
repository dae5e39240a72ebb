"""What a Python file or notebook does to ``sys.path``, read statically (``ast``; no code run):
the folders it adds with literal strings, and whether it changes ``sys.path`` in a way the
review closure cannot follow (a computed path). :mod:`.targets` searches the literal folders
for imports (R4); a computed change makes every project module a review target.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field


@dataclass
class PathChanges:
    """Folders added to ``sys.path`` (as written) and whether any change is not literal."""

    folders: list[str] = field(default_factory=list)
    computed: bool = False
    #: The folders given to ``site.addsitedir`` (also in ``folders``): their ``.pth`` files run.
    sitedirs: list[str] = field(default_factory=list)


def _strings(node: ast.AST | None, out: PathChanges, many: bool) -> None:
    """Record ``node`` (one path; with ``many``, a list/tuple of them) as literal or computed."""
    items = node.elts if many and isinstance(node, (ast.List, ast.Tuple)) else [node] if not many else None
    if items is None:
        out.computed = True
        return
    for item in items:
        if isinstance(item, ast.Constant) and isinstance(item.value, str):
            out.folders.append(item.value)
        else:
            out.computed = True


def _sitedir(node: ast.Call, out: PathChanges) -> None:
    before = len(out.folders)
    _strings(node.args[0] if node.args else None, out, many=False)
    out.sitedirs += out.folders[before:]


#: Calls that read ``sys.path`` without changing it or handing it on (``print(sys.path)``).
_READERS = {"print", "len", "list", "tuple", "set", "frozenset", "sorted", "str", "repr", "enumerate",
            "reversed", "any", "all", "pprint", "pformat", "display", "id", "bool", "join", "dumps", "debug",
            "info", "warning", "write"}
#: ``sys.path`` methods that add nothing (a removal can only let another searched folder win).
_NARROWING = ("index", "count", "copy", "remove", "pop", "clear")
#: Contexts where ``sys.path`` is only read (``sys.path[0]``, ``"x" in sys.path``, ``for p in ...``).
_READ_ONLY = (ast.Compare, ast.Expr, ast.FormattedValue, ast.For, ast.AsyncFor, ast.comprehension, ast.Delete,
              ast.If, ast.While, ast.Assert, ast.UnaryOp)


class _Names:
    """What names ``sys`` and ``sys.path`` have in one file: ``import sys as s`` makes ``s``
    the module, ``from sys import path as p`` makes ``p`` the list (any scope: a name reused for
    something else is read as sys's too, which can only add targets)."""

    def __init__(self, tree: ast.AST) -> None:
        self.modules, self.lists = set(), set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                self.modules.update(a.asname or a.name for a in node.names if a.name == "sys")
            elif isinstance(node, ast.ImportFrom) and node.module == "sys" and not node.level:
                self.lists.update(a.asname or a.name for a in node.names if a.name in ("path", "*"))
        if "*" in self.lists:  # `from sys import *` binds `path`
            self.lists = (self.lists - {"*"}) | {"path"}

    def is_path(self, node: ast.AST) -> bool:
        """Whether ``node`` is ``sys.path`` (through any of its names)."""
        if isinstance(node, ast.Name):
            return node.id in self.lists and isinstance(node.ctx, ast.Load)
        return (isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name)
                and node.value.id in self.modules)


def _reaches_path_otherwise(node: ast.AST, parent: ast.AST | None, names: _Names) -> bool:
    """Whether ``node`` reaches ``sys.path`` in a way its changes cannot be read literally:
    the module by another route (``getattr(sys, "path")``, ``vars(sys)``, ``sys.__dict__``,
    ``sys.modules["sys"]``, ``import_module("sys")``, ``m = sys``) or ``PYTHONPATH`` changed for
    ``site.main()`` or a child Python."""
    if isinstance(node, ast.Constant) and node.value == "sys":
        # "sys" as a key or argument: sys.modules["sys"], import_module("sys"), globals()["sys"]
        return isinstance(parent, (ast.Call, ast.Subscript, ast.keyword, ast.Dict, ast.Assign))
    if isinstance(node, ast.Constant) and node.value == "PYTHONPATH":  # set, not read
        if isinstance(parent, ast.Subscript):
            return not isinstance(parent.ctx, ast.Load)
        if isinstance(parent, ast.Call):
            func = parent.func
            return (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")) not in ("get", "getenv")
        return isinstance(parent, (ast.Dict, ast.keyword))
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in names.modules:
        return node.attr in ("__dict__", "__getattribute__")
    if not (isinstance(node, ast.Name) and node.id in names.modules and isinstance(node.ctx, ast.Load)):
        return False
    if isinstance(parent, ast.Attribute):
        return False  # sys.argv, sys.path (read on its own)
    if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and parent.func.id in ("getattr", "hasattr"):
        attr = parent.args[1] if len(parent.args) > 1 else None
        return not (isinstance(attr, ast.Constant) and isinstance(attr.value, str) and attr.value != "path")
    return True  # vars(sys), m = sys, f(sys): the module handed on


def _path_escapes(node: ast.AST, parent: ast.AST | None, grand: ast.AST | None) -> bool:
    """Whether ``sys.path`` at ``node`` is used other than read, changed literally (handled by
    :func:`scan`) or narrowed: handed on (``p = sys.path``, ``(p := sys.path)``, ``f(sys.path)``),
    an unknown method, an item assigned."""
    if isinstance(parent, ast.Attribute):  # sys.path.append(...) and the like
        return parent.attr not in ("append", "insert", "extend", *_NARROWING) or not (
            isinstance(grand, ast.Call) and grand.func is parent)
    if isinstance(parent, ast.Subscript):
        return not isinstance(parent.ctx, (ast.Load, ast.Del)) and not isinstance(grand, ast.Assign)
    if isinstance(parent, ast.Call):
        func = parent.func  # print(sys.path), os.pathsep.join(sys.path), logger.info("%s", sys.path)
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return not (called in _READERS and node in parent.args)
    if isinstance(parent, (ast.Assign, ast.AugAssign)):
        return node is getattr(parent, "value", None)  # a target is read by scan
    return not isinstance(parent, _READ_ONLY)


def _via_modules(node: ast.AST, names: _Names) -> bool:
    """``sys.modules[NAME].path`` or ``sys.modules.get(NAME).path`` with a computed ``NAME``."""
    if not (isinstance(node, ast.Attribute) and node.attr == "path"):
        return False
    value = node.value
    base = value.value if isinstance(value, ast.Subscript) else (
        value.func.value if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) else None)
    return (isinstance(base, ast.Attribute) and base.attr == "modules" and isinstance(base.value, ast.Name)
            and base.value.id in names.modules)


def scan(tree: ast.AST, out: PathChanges) -> None:
    """Add what ``tree`` does to ``sys.path`` to ``out``: ``sys.path.append/insert/extend``,
    ``sys.path += [...]``, assignments to ``sys.path`` or a slice of it, ``site.addsitedir``
    (its folder also in ``sitedirs``), through any name of ``sys`` (``import sys as s``) or of
    ``sys.path`` (``from sys import path as p``). Any other use of ``sys.path`` than reading it
    (``p = sys.path``, ``(p := sys.path)``, ``f(sys.path)``), and any other route to it
    (``getattr(sys, "path")``, ``vars(sys)``, ``sys.__dict__``, ``sys.modules["sys"]``,
    ``import_module("sys")``, ``PYTHONPATH`` set for ``site.main()`` or a child) counts as computed."""
    names = _Names(tree)
    parents: dict[ast.AST, ast.AST] = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(tree):
        parent = parents.get(node)
        if names.is_path(node):
            if _path_escapes(node, parent, parents.get(parent) if parent is not None else None):
                out.computed = True  # an alias of sys.path, an unknown method: not followed
        elif _reaches_path_otherwise(node, parent, names) or _via_modules(node, names):
            out.computed = True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner, attr = node.func.value, node.func.attr
            if names.is_path(owner):
                if attr == "append":
                    _strings(node.args[0] if node.args else None, out, many=False)
                elif attr == "insert":
                    _strings(node.args[1] if len(node.args) > 1 else None, out, many=False)
                elif attr == "extend":
                    _strings(node.args[0] if node.args else None, out, many=True)
            elif isinstance(owner, ast.Name) and owner.id == "site" and attr == "addsitedir":
                _sitedir(node, out)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "addsitedir":
            _sitedir(node, out)  # `from site import addsitedir`
        elif isinstance(node, ast.AugAssign) and (
                names.is_path(node.target) or (isinstance(node.target, ast.Name) and node.target.id in names.lists)):
            _strings(node.value, out, many=True)  # `p += [...]` changes the list p names
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if names.is_path(target) or (isinstance(target, ast.Subscript) and names.is_path(target.value)):
                    _strings(node.value, out, many=True)

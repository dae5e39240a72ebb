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


def _is_sys_path(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name)
            and node.value.id == "sys")


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


def scan(tree: ast.AST, out: PathChanges) -> None:
    """Add what ``tree`` does to ``sys.path`` to ``out``: ``sys.path.append/insert/extend``,
    ``sys.path += [...]``, assignments to ``sys.path`` or a slice of it, ``site.addsitedir``
    (its folder also in ``sitedirs``);
    any other use of ``sys.path`` as a value to change (``p = sys.path``) counts as computed."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner, attr = node.func.value, node.func.attr
            if _is_sys_path(owner):
                if attr == "append":
                    _strings(node.args[0] if node.args else None, out, many=False)
                elif attr == "insert":
                    _strings(node.args[1] if len(node.args) > 1 else None, out, many=False)
                elif attr == "extend":
                    _strings(node.args[0] if node.args else None, out, many=True)
                elif attr not in ("index", "count", "copy", "remove", "pop", "clear"):
                    out.computed = True
            elif isinstance(owner, ast.Name) and owner.id == "site" and attr == "addsitedir":
                _sitedir(node, out)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "addsitedir":
            _sitedir(node, out)  # `from site import addsitedir`
        elif isinstance(node, ast.AugAssign) and _is_sys_path(node.target):
            _strings(node.value, out, many=True)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if _is_sys_path(target) or (isinstance(target, ast.Subscript) and _is_sys_path(target.value)):
                    _strings(node.value, out, many=True)
            if _is_sys_path(node.value):
                out.computed = True  # an alias of sys.path: its changes are not followed
        elif isinstance(node, ast.ImportFrom) and node.module == "sys" and any(a.name == "path" for a in node.names):
            out.computed = True  # `from sys import path`: changes through the bare name

"""Runners of files reached other than by a call the scan reads (docs/security.md, R4).

``functools.partial(pm.execute_notebook, "x.ipynb")()``, ``map(runpy.run_path, files)``,
``getattr(pm, "execute_notebook")``, ``vars(runpy)[name]``: the file a runner runs is then an
argument the scan does not see. Any reference to a runner (``execute_notebook``, ``run_path``,
``run_module``, ``exec_module``, the file-runner table's names, or a name the file binds to one)
outside the function position of a call, a string naming one, and a module that has runners
(``papermill``, ``runpy``...) used other than by ``module.attribute`` get the conservative rule.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

#: Modules whose attributes run files or import modules by name: handed on whole (``getattr(pm,
#: name)``, ``vars(runpy)``, ``f(pm)``, ``pm.__dict__``) they run what the scan cannot see.
_RUNNER_MODULES = frozenset({"papermill", "runpy", "importlib", "nbclient", "imp", "pydoc", "doctest"})


def unfollowed(tree: ast.AST, runners: Iterable[str], aliases: dict[str, str]) -> bool:
    """Whether ``tree`` reaches a runner in ``runners`` (or a name ``aliases`` binds to one) in a
    way no call reads: outside a call's function position, by a string, or through its module."""
    names = set(runners) | {alias for alias, target in aliases.items() if target in runners}
    called: set[int] = set()
    alias_values: set[int] = set()  # `f = pm.execute_notebook`: an alias the scan follows
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called.add(id(node.func))
        elif isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
            alias_values.add(id(node.value))
        elif isinstance(node, ast.Import):
            modules.update((a.asname or a.name).split(".")[0] for a in node.names
                           if a.name.split(".")[0] in _RUNNER_MODULES)
    module_attributes: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
            if node.attr.startswith("__"):  # pm.__dict__, runpy.__getattribute__
                return True
            module_attributes.add(id(node.value))
    for node in ast.walk(tree):
        if id(node) in called or id(node) in alias_values:
            continue
        if isinstance(node, ast.Attribute) and node.attr in names:
            return True
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id in names or (node.id in modules and id(node) not in module_attributes):
                return True
        if isinstance(node, ast.Constant) and node.value in names:
            return True
    return False

"""Defer third-party imports that nbgov's processes pay for at start-up but rarely use.

``import nbformat`` (and so papermill, nbdime and Ploomber) imports jsonschema, which imports
``rfc3987_syntax`` when it is installed (jupyter-events installs it), and that module compiles
three Earley grammars at import: 0.5-1 s of CPU on every ``nbgov build``, ``diff`` or ``status``,
only to check the ``iri`` formats that no notebook schema uses. :func:`defer_rfc3987_syntax`
puts a stand-in module in its place that imports the real one on first use, so behaviour is
unchanged and only the cost moves to the (rare) first ``iri`` check.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import types
from collections.abc import Iterator
from typing import Any

_RFC3987 = "rfc3987_syntax"


def defer_rfc3987_syntax() -> None:
    """Make ``rfc3987_syntax`` import lazily (no-op when absent or already imported)."""
    if _RFC3987 in sys.modules:
        return
    try:
        if importlib.util.find_spec(_RFC3987) is None:
            return
    except (ImportError, ValueError):
        return
    stand_in = types.ModuleType(_RFC3987, "stand-in: imports rfc3987_syntax on first use")

    def load() -> types.ModuleType:
        if sys.modules.get(_RFC3987) is stand_in:
            del sys.modules[_RFC3987]
        return importlib.import_module(_RFC3987)

    def is_valid_syntax(term: str, value: str) -> bool:
        """rfc3987_syntax.is_valid_syntax, imported on this first call."""
        return load().is_valid_syntax(term, value)

    def __getattr__(name: str) -> Any:  # noqa: N807 - PEP 562 module attribute hook
        if name.startswith("__"):  # the import system probes __path__, __spec__...: not a use
            raise AttributeError(name)
        return getattr(load(), name)

    stand_in.is_valid_syntax = is_valid_syntax  # what jsonschema's format checker imports
    stand_in.__getattr__ = __getattr__
    sys.modules[_RFC3987] = stand_in


#: Imported by Ploomber at import time for features a notebook pipeline may never use (function
#: tasks' pandas (un)serializers, profiling plots, SQL clients): ~0.7 s of CPU on every build.
PLOOMBER_DEFERRED = ("pandas", "matplotlib.pyplot", "sqlalchemy")


class _LazyFinder:
    """A meta-path finder that loads the named modules lazily (``importlib.util.LazyLoader``)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = set(names)

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in self.names:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


@contextlib.contextmanager
def deferred_imports(names: tuple[str, ...] = PLOOMBER_DEFERRED) -> Iterator[None]:
    """Within the block, importing one of ``names`` (not yet imported) gives the real module
    object, executed on its first attribute access (stdlib ``LazyLoader``): the module is the
    same object before and after, so ``import pandas as pd`` elsewhere sees one pandas."""
    finder = _LazyFinder(tuple(n for n in names if n not in sys.modules))
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(finder)

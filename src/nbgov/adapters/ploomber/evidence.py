"""Evidence of notebook tasks whose product is not an ``.ipynb`` (html, md, pdf).

Ploomber's NotebookRunner executes into ``<product>.ipynb`` with papermill, then renames and
converts it: the executed notebook (scraps, cell timings, the failing cell) is gone by the time
the task ends. While a task is *current* (:func:`capturing`), the papermill call Ploomber makes
is wrapped so that the executed notebook, complete or partial after a failure, is copied
atomically to the task's ``evidence`` path before Ploomber converts it.

The wrapper replaces the ``pm`` (papermill) and ``pe`` (ploomber-engine) names inside
``ploomber.tasks.notebook`` only, never papermill itself; with no current task it passes every
call through unchanged.

Example (in whatever process builds the task)::

    with evidence.capturing(info):
        task._build(...)
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nbgov.core.atomic import atomic_write

_CURRENT: contextvars.ContextVar[Any] = contextvars.ContextVar("nbgov_evidence_task", default=None)
_INSTALL_LOCK = threading.Lock()
_INSTALLED = False


class _ExecutorProxy:
    """Stands in for a module (papermill, ploomber_engine) inside Ploomber's notebook task
    module: ``execute_notebook`` is wrapped, every other attribute is the module's own."""

    def __init__(self, module: Any) -> None:
        self._module = module
        self.execute_notebook = _wrap(module.execute_notebook)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


def _wrap(execute: Any) -> Any:
    @functools.wraps(execute)
    def execute_notebook(input_path, output_path, *args, **kwargs):
        info = _CURRENT.get()
        target = getattr(info, "evidence", None) if info is not None else None
        try:
            return execute(input_path, output_path, *args, **kwargs)
        finally:
            if target is not None:
                _copy(Path(str(output_path)), Path(target))

    execute_notebook.__nbgov_evidence__ = True
    return execute_notebook


def _copy(executed: Path, target: Path) -> None:
    """Copy the executed notebook to the evidence path atomically (a reader never sees half)."""
    if executed.resolve() == target.resolve() or not executed.is_file():
        return
    with contextlib.suppress(OSError):  # evidence must never fail the task itself
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, executed.read_bytes())


def install() -> None:
    """Wrap the executors Ploomber's NotebookRunner calls (idempotent)."""
    global _INSTALLED
    with _INSTALL_LOCK:
        if _INSTALLED:
            return
        from ploomber.tasks import notebook

        for name in ("pm", "pe"):
            module = getattr(notebook, name, None)
            if module is not None and not isinstance(module, _ExecutorProxy):
                setattr(notebook, name, _ExecutorProxy(module))
        _INSTALLED = True


def needs_capture(info: Any) -> bool:
    """Whether a task's executed notebook must be copied: a notebook kind whose evidence path
    is not its notebook product (the product is html, md, pdf...)."""
    evidence = getattr(info, "evidence", None)
    product = getattr(info, "notebook_product", None)
    return evidence is not None and (product is None or Path(evidence) != Path(product))


@contextlib.contextmanager
def capturing(info: Any) -> Iterator[None]:
    """Make ``info`` (a :class:`~nbgov.adapters.ploomber.describe.TaskInfo`) the current task:
    the notebook it executes inside the block is copied to ``info.evidence``.

    A stale copy from an earlier run is removed first, so after the block the evidence is this
    run's or absent. A no-op for kinds that execute no notebook and for ``.ipynb`` products
    (the product is the evidence).
    """
    if not needs_capture(info):
        yield
        return
    install()
    with contextlib.suppress(OSError):
        Path(info.evidence).unlink(missing_ok=True)
    token = _CURRENT.set(info)
    try:
        yield
    finally:
        _CURRENT.reset(token)

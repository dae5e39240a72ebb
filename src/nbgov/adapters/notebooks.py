"""Read notebooks from disk into plain nbformat-shaped dicts, with errors that say where.

``.ipynb`` is parsed with the standard ``json`` module (importing nbformat costs ~1 s);
``.py`` (py:percent and other jupytext formats) goes through jupytext, imported lazily.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nbgov.core.atomic import atomic_write
from nbgov.core.errors import Location, NbgovError, NotebookError, missing_extra
from nbgov.core.identity import notebook_version
from nbgov.core.targets import kind_of
from nbgov.core.tasks import is_notebook_source, text_version

NOTEBOOK_SUFFIXES = (".ipynb", ".py")


def read_notebook(path: str | Path) -> dict[str, Any]:
    """Return the notebook at ``path`` as a dict; raise NotebookError saying what is wrong."""
    path = Path(path)
    # a missing .py is a script or a module: "file not found", never "notebook not found"
    text = _read_text(path, "notebook" if path.suffix != ".py" else "file")
    if path.suffix == ".py":
        return _read_jupytext(path, text)
    if not text.strip():
        raise NotebookError("empty file, not a notebook", Location(path),
                            hint="save the notebook from Jupyter or delete the file")
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(f"not valid JSON: {exc.msg} (column {exc.colno})",
                            Location(path, line=exc.lineno),
                            hint="the file was probably damaged by a merge; restore it from git") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise NotebookError("not a notebook: no 'cells' list at the top level", Location(path))
    major = nb.get("nbformat")
    if major != 4:
        raise NotebookError(f"unsupported nbformat version {major!r} (nbgov reads nbformat 4)",
                            Location(path), hint="upgrade it with: jupyter nbconvert --to notebook --inplace")
    for index, cell in enumerate(nb["cells"]):
        if not isinstance(cell, dict) or "cell_type" not in cell:
            raise NotebookError("cell has no cell_type", Location(path, cell=index))
    return nb


def _read_jupytext(path: Path, text: str) -> dict[str, Any]:
    try:
        import jupytext
    except ImportError:  # pragma: no cover - jupytext is a dependency

        raise missing_extra("jupytext", "all") from None
    try:
        nb = jupytext.reads(text, fmt="py:percent" if "# %%" in text else "py")
    except Exception as exc:  # jupytext raises many kinds; the message is what matters
        raise NotebookError(f"cannot read as a py:percent notebook: {exc}", Location(path)) from None
    return json.loads(json.dumps(nb, default=dict))


def write_notebook(path: str | Path, nb: dict[str, Any]) -> None:
    """Write a notebook dict atomically, in Jupyter's own layout (indent 1, trailing newline)."""

    atomic_write(path, json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n")


def _read_text(path: Path, what: str) -> str:
    if not path.exists():
        raise NotebookError(f"{what} not found", Location(path), hint="check the path")
    if path.is_dir():
        raise NotebookError(f"is a folder, not a {what}", Location(path))
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise NotebookError("not UTF-8 text (a binary file?)", Location(path)) from None


def read_text_source(path: str | Path) -> str:
    """The text of a non-notebook source file (.sql, .sh, ...); NotebookError saying what is
    wrong when it is missing, a folder or not UTF-8."""
    kind = kind_of(path)  # "SQL file not found", "shell script not found"
    return _read_text(Path(path), kind if kind != "file" else "source file")


def read_source(path: str | Path) -> dict[str, Any] | str:
    """A task's source file as nbgov versions it: a notebook dict for ``.ipynb``, else its exact
    text (``.py`` scripts and modules too: their version binds the bytes Python reads)."""

    return read_notebook(path) if is_notebook_source(path) else read_text_source(path)


def content_version(content: dict[str, Any] | str) -> str:
    """The version of what :func:`read_source` returned: ``nbv1:...`` or ``srcv2:...``."""

    return text_version(content) if isinstance(content, str) else notebook_version(content)


def source_version(path: str | Path) -> str:
    """The version of a task's source file (see :mod:`nbgov.core.tasks`)."""
    return content_version(read_source(path))


def task_source_version(path: str | Path | None) -> str | None:
    """The version recorded for a task's source file (what lineage records and the build plan
    hold): None when the task has no source file, or it cannot be read (the run still counts;
    review reports the file)."""
    if path is None or not Path(path).is_file():
        return None
    try:
        return source_version(path)
    except NbgovError:
        return None


def is_text_notebook(path: Path) -> bool:
    """Whether a ``.py`` file is a notebook: jupytext wrote it (its header) or it has percent
    cell markers."""
    # a .py file is a notebook when jupytext wrote it (header) or it has percent cell markers
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:20000]
    except OSError:
        return False
    return "jupytext:" in head[:2000] or head.startswith("# %%") or "\n# %%" in head

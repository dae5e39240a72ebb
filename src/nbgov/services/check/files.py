"""Which files ``nbgov check`` looks at: notebooks and task sources under the folders given,
never what the pipeline writes (products, nbgov's sidecars, partial outputs, client backups);
a file named on the command line is checked, with the reasons it may be skipped said in a note.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from nbgov.core.checks.settings import CheckSettings, matches_any
from nbgov.core.errors import Location, NbgovError
from nbgov.services.check.sources import TaskFiles, written_by_pipeline

NOTEBOOK_SUFFIX = ".ipynb"
#: Folder names never descended into while looking for notebooks (cheaper than globbing them).
_SKIP_DIRS = {
    ".git",
    ".ipynb_checkpoints",
    ".venv",
    "venv",
    "node_modules",
    "__pycache__",
    ".nbgov",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
}


def _relpath(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def discover(
    paths: Sequence[str | Path],
    root: Path,
    settings: CheckSettings,
    notes: list[str] | None = None,
    spec: Path | None = None,
    tasks: TaskFiles | None = None,
) -> list[Path]:
    """The files to check: the ``.ipynb`` notebooks and the pipeline's task sources of every
    kind (scripts, function modules, SQL...) named or under the folders named; never a
    task's product found under a folder (a product *named* is checked, with the product rules).

    Files under folders are skipped when excluded (``[check] exclude`` and the default
    excludes). A file named explicitly is always checked against the default excludes (``nbgov
    check products/b.ipynb`` checks it); one under ``[check] exclude`` is skipped with a note,
    so a pre-commit hook that passes every changed notebook honours the configuration. A named
    file that is neither is skipped with a note, except the pipeline spec, which brings the
    pipeline-wide rules in.

    Raises:
        NbgovError: a path does not exist, or every file named was skipped for what it is
            (not a notebook, a product that is no notebook): exit code 2.
    """
    sources = tasks.sources if tasks is not None else {}
    products = tasks.products if tasks is not None else set()

    def wanted(path: Path, named: bool = False) -> bool:
        rel = _relpath(path, root)
        if rel in products:
            # a product named on the command line is checked (an executed notebook before it
            # is shared, with the product rules); under a folder it is never a source
            return named and path.suffix == NOTEBOOK_SUFFIX
        if written_by_pipeline(rel, products):
            return False  # nbgov's sidecars, partial outputs of a failed task, client backups
        return path.suffix == NOTEBOOK_SUFFIX or rel in sources

    found: list[Path] = []
    named: set[Path] = set()
    unchecked: list[str] = []
    for given in paths or [root]:
        path = Path(given)
        path = path if path.is_absolute() else Path(os.getcwd()) / path
        if not path.exists():
            raise NbgovError("no such file or folder", Location(given), hint="check the path")
        if path.is_dir():
            for folder, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
                found.extend(p for p in (Path(folder) / f for f in sorted(files)) if wanted(p))
        elif wanted(path, named=True):
            found.append(path)
            named.add(path.resolve() if path.is_symlink() else path)
        elif notes is not None and (spec is None or path.resolve() != spec):
            rel = _relpath(path, root)
            if rel in products:
                what = "a product of the pipeline (not a notebook)"
            elif written_by_pipeline(rel, products):
                what = "written by the pipeline"
            else:
                what = "not a .ipynb notebook"
            notes.append(f"{given}: skipped, {what}")
            unchecked.append(f"{given} ({what})")
    unique = dict.fromkeys(p.resolve() if p.is_symlink() else p for p in found)
    kept = [p for p in unique if not _skipped(p, p in named, root, settings, notes)]
    if unchecked and not kept:
        # "all clean: 0 files checked" for a file the user named would read as a pass
        raise NbgovError(f"nothing checked: {'; '.join(unchecked)}", hint="name notebooks (.ipynb), task "
                         "sources or folders; products are checked only when named one by one")
    return kept


def _skipped(path: Path, named: bool, root: Path, settings: CheckSettings, notes: list[str] | None) -> bool:
    """Whether discovery skips ``path``: a named file only under the user's own excludes."""
    rel = _relpath(path, root)
    if not named:
        return settings.is_excluded(rel)
    if settings.exclude and matches_any(rel, tuple(settings.exclude)):
        if notes is not None:
            notes.append(f"{rel}: skipped, excluded by [check] exclude")
        return True
    return False

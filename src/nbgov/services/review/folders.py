"""Which project folders the review closure looks into, and which it leaves to the environment.

A folder is left out only where Python cannot reach the code in it by the route being followed:

- **Imports named by reviewed code** (``import node_modules.helper``, a literal ``sys.path``
  entry, ``%run venv/x.py``) are followed into any project folder, whatever its name, except
  :data:`ENVIRONMENT`: names no import statement can spell (not identifiers) under which the
  environment's own import path lies (a virtualenv's ``site-packages`` inside the project) and
  the repository's ``.git``. ``node_modules``, ``venv``, ``__pycache__`` are folders like others.
- **The conservative sweep** (every project module, when a file of the closure changes
  ``sys.path`` in a way the closure cannot read: :func:`sweep`) takes hidden folders too, and
  leaves out only ``.git``, ``.nbgov``, virtualenvs and conda environments (:func:`virtualenv`),
  and ``node_modules`` folders no import can reach by identifier names from the folders first
  on the import path (a JavaScript tree: ``extensions/jupyterlab-x/node_modules``).

Files git ignores and does not track (a local cache such as ``.hypothesis/``, build output) are
the machine's, not the change's: the sweep leaves them out (a pull request can only bring
tracked files; ``git add -f`` makes one tracked, and swept).

Marking a folder as a virtualenv (a ``pyvenv.cfg`` file) never hides a module reviewed code
imports by name: only the sweep and the "importable by name" rule (:mod:`.shadows`) honour it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from nbgov.adapters.git import ignored

#: Folders holding the environment (a virtualenv's import path inside the project) or the
#: repository: never the project's modules. None of these names is an identifier: no import names them.
ENVIRONMENT = frozenset({".venv", "site-packages", "dist-packages", ".git"})
#: Folders the sweep never enters: the repository's objects and nbgov's own records.
_NOT_CODE = frozenset({".git", ".nbgov"})


def in_environment(folder: Path, root: Path) -> bool:
    """Whether ``folder`` (resolved, inside ``root``) is or lies in an :data:`ENVIRONMENT` folder."""
    return any(p in ENVIRONMENT for p in folder.relative_to(root).parts)


def virtualenv(folder: Path) -> bool:
    """Whether ``folder`` is a Python environment (``pyvenv.cfg``, as venv, virtualenv, uv and
    tox write it; ``conda-meta/`` for conda): the environment's code, not the project's."""
    return (folder / "pyvenv.cfg").is_file() or (folder / "conda-meta").is_dir()


def reachable(folder: Path, entries: Iterable[Path]) -> bool:
    """Whether an import can name ``folder`` from one of ``entries`` (folders on the import
    path): every folder between them is an identifier."""
    for entry in entries:
        if folder != entry and folder.is_relative_to(entry):
            if all(p.isidentifier() for p in folder.relative_to(entry).parts):
                return True
    return False


def sweep(root: Path, entries: Iterable[Path], runnable: Callable[[Path], bool] | None = None) -> list[Path]:
    """Every ``.py`` file of the project, hidden folders included, outside ``.git``, ``.nbgov``,
    Python environments and ``node_modules`` folders not :func:`reachable` from ``entries``;
    with ``runnable``, also every file it accepts (what ``%run`` could run); not the files git
    ignores and does not track. Folder links are not followed (a link's files are found where
    they are)."""
    entries = [e.resolve() for e in entries]
    out = []
    for folder, subfolders, files in os.walk(root):
        here = Path(folder)
        subfolders[:] = sorted(
            name for name in subfolders
            if name not in _NOT_CODE and not virtualenv(here / name)
            and (name != "node_modules" or reachable((here / name).resolve(), entries)))
        for name in sorted(files):
            path = here / name
            if name.startswith("."):
                continue
            if path.suffix == ".py" or (runnable is not None and runnable(path)):
                out.append(path)
    local = ignored(root, [p.relative_to(root).as_posix() for p in out]) or set()
    return [p for p in out if p.relative_to(root).as_posix() not in local]

"""Which project folders the review closure looks into, and which it leaves to the environment.

A folder is left out only where Python cannot reach the code in it by the route being followed,
or where git says the code is the machine's, never a change's:

- **Imports named by reviewed code** (``import node_modules.helper``, a literal ``sys.path``
  entry, ``%run venv/x.py``) are followed into any project folder, whatever its name, except
  :data:`ENVIRONMENT`: names no import statement can spell (not identifiers) under which the
  environment's own import path lies (a virtualenv's ``site-packages`` inside the project) and
  the repository's ``.git``. ``node_modules``, ``venv``, ``__pycache__`` are folders like others.
- **The conservative sweep** (every project module, when a file of the closure changes
  ``sys.path`` in a way the closure cannot read: :func:`sweep`) takes every folder, hidden ones
  too, but ``.git``. A computed ``sys.path`` entry reaches any folder, so no name or marker
  file hides one: a virtualenv (:func:`virtualenv`) or a ``node_modules`` folder is skipped
  only when it is :func:`local_only` (git ignores it and tracks nothing in it), and in
  ``.nbgov`` only the files git tracks are swept (the journal, caches and locks are nbgov's
  state).

Files git ignores and does not track (a local cache such as ``.hypothesis/``, build output, an
installed virtualenv) are the machine's, not the change's: the sweep leaves them out (a pull
request can only bring tracked files; ``git add -f`` makes one tracked, and swept). A marker a
pull request can commit (``pyvenv.cfg``, ``conda-meta/``, a folder's name) decides nothing by
itself: it only saves walking a large folder git already leaves to the machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from nbgov.adapters.git import ignored, tracked

#: Folders holding the environment (a virtualenv's import path inside the project) or the
#: repository: never the project's modules. None of these names is an identifier: no import names them.
ENVIRONMENT = frozenset({".venv", "site-packages", "dist-packages", ".git"})
#: nbgov's own folder: its journal, caches and locks are the machine's; what git tracks there
#: (the ledger, snapshots, anything a pull request commits) is swept like any file.
_STATE = ".nbgov"


def in_environment(folder: Path, root: Path) -> bool:
    """Whether ``folder`` (resolved, inside ``root``) is or lies in an :data:`ENVIRONMENT` folder."""
    return any(p in ENVIRONMENT for p in folder.relative_to(root).parts)


def virtualenv(folder: Path) -> bool:
    """Whether ``folder`` looks like a Python environment (``pyvenv.cfg``, as venv, virtualenv,
    uv and tox write it; ``conda-meta/`` for conda). Anyone can commit such a marker: it is only
    a hint that the folder may be large and installed; :func:`local_only` decides."""
    return (folder / "pyvenv.cfg").is_file() or (folder / "conda-meta").is_dir()


def local_only(folder: Path, root: Path) -> bool:
    """Whether git ignores ``folder`` (inside ``root``, the project) and tracks nothing in it:
    code the developer installed on this machine (a ``.gitignore``'d virtualenv or
    ``node_modules``), which no pull request can bring or change. False when git cannot tell
    (not a work tree): then nothing is the machine's."""
    try:
        rel = folder.relative_to(root).as_posix()
    except ValueError:
        return False
    if rel in ("", "."):
        return False
    # check-ignore never reports a path with tracked files in it; ls-files says so for sure
    return rel in (ignored(root, [rel]) or set()) and tracked(root, rel) == set()


def _skipped(here: Path, name: str, root: Path) -> bool:
    """Whether the sweep may leave out the subfolder ``name`` of ``here``: ``.git``, or a folder
    that looks installed (a virtualenv, ``node_modules``) and is :func:`local_only`."""
    if name == ".git":  # git never tracks a path through .git: no commit can bring a file there
        return True
    folder = here / name
    return (name == "node_modules" or virtualenv(folder)) and local_only(folder, root)


def sweep(root: Path, runnable: Callable[[Path], bool] | None = None) -> list[Path]:
    """Every ``.py`` file of the project, hidden folders included (not hidden files: no import
    can name one), outside ``.git``; with ``runnable``, also every file it accepts (what
    ``%run`` could run); not the files git ignores and does not track, nor those of ``.nbgov``
    git does not track. Folder links are not followed (a link's files are found where they are)."""
    out = []
    state: dict[Path, set[str] | None] = {}  # each .nbgov folder -> the files git tracks there
    for folder, subfolders, files in os.walk(root):
        here = Path(folder)
        subfolders[:] = sorted(name for name in subfolders if not _skipped(here, name, root))
        if here.name == _STATE:
            state[here] = tracked(root, here.relative_to(root).as_posix())
        nbgov = next((s for s in state if here.is_relative_to(s)), None)
        if nbgov is not None and state[nbgov] is not None:  # git can tell: only what it tracks
            kept = state[nbgov] or set()
            subfolders[:] = [n for n in subfolders
                             if any(t.startswith((here / n).relative_to(root).as_posix() + "/") for t in kept)]
        for name in sorted(files):
            path = here / name
            if name.startswith("."):
                continue
            if nbgov is not None and state[nbgov] is not None \
                    and path.relative_to(root).as_posix() not in (state[nbgov] or set()):
                continue
            if path.suffix == ".py" or (runnable is not None and runnable(path)):
                out.append(path)
    local = ignored(root, [p.relative_to(root).as_posix() for p in out]) or set()
    return [p for p in out if p.relative_to(root).as_posix() not in local]

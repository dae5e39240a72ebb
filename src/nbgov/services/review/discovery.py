"""Which files review covers: the review closure of the pipeline, ``[review] paths``, the
notebooks the ledger names; and the states of all of them at once (``nbgov review status``).
"""

from __future__ import annotations

import os
from pathlib import Path

from nbgov.adapters import git
from nbgov.adapters.notebooks import is_text_notebook
from nbgov.adapters.ploomber.sources import source_files
from nbgov.core.config import Config
from nbgov.core.errors import ConfigError, Location, NotebookError
from nbgov.core.ledger import APPROVED, by_notebook
from nbgov.core.targets import missing_kind
from nbgov.services.pipeline.plan import plan_tasks
from nbgov.services.review import store, trust
from nbgov.services.review.state import ReviewState, _state, read_current, relative_path
from nbgov.services.review.store import ReviewSettings
from nbgov.services.review.targets import review_targets

_SKIP_DIRS = {"node_modules", "__pycache__", "venv", "site-packages"}


def _walk(folder: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS)
        found += [Path(dirpath) / name for name in sorted(filenames)]
    return found


def _notebooks_under(folder: Path) -> list[Path]:
    """Notebooks in a folder: the files git knows there (tracked, or untracked and not ignored),
    or every file outside git; hidden folders skipped; ``.ipynb`` and py:percent notebooks."""
    if git.repo_root(folder) is not None:
        names = git.ls_files(folder, "*.ipynb", "*.py")
        files = [
            folder / n for n in names if not any(p.startswith(".") for p in Path(n).parts[:-1])
        ]
    else:
        files = _walk(folder)
    return [
        f
        for f in files
        if f.is_file() and (f.suffix == ".ipynb" or (f.suffix == ".py" and is_text_notebook(f)))
    ]


def _task_sources(config: Config) -> list[Path]:
    """The pipeline's task source files inside the project (no Ploomber import)."""

    root = config.root.resolve()
    found = list(source_files(config.pipeline_path))
    planned = plan_tasks(config, stale_ok=True)
    # the rendered tasks (a DAG built in Python, grids, placeholders) when a build left a plan
    found += [Path(t.source_file) for t in (planned[0] if planned else []) if t.source_file is not None]
    return [f for f in dict.fromkeys(p.resolve() for p in found) if f.is_file() and f.is_relative_to(root)]


def discover_notebooks(config: Config, paths: list[str | Path] | None = None) -> list[str]:
    """Notebook paths (relative to the root, posix) for ``review status`` and ``review gate``.

    Files are taken as given; folders are searched (:func:`_notebooks_under`). With no paths:
    the pipeline's review closure (:mod:`.targets`: every task source of every kind, the spec,
    env file, hooks and the project modules they import) always, plus ``[review] paths`` if
    set, else the whole project when it has no pipeline and the notebooks in the ledger that
    still exist. ``[review] paths`` add notebooks; they never take away what a build runs.

    Raises:
        NotebookError: a path given does not exist or is outside the project.
    """
    settings = ReviewSettings.from_config(config)
    default = not paths
    configured = default and bool(settings.paths)
    # with a pipeline, the default is its task sources (a README.ipynb that is no task is not
    # a review target); a project without one is reviewed whole
    whole = [] if config.pipeline_path.is_file() else [config.root]
    out: list[str] = []
    for p in paths or list(settings.paths) or whole:
        path, rel = relative_path(config, p)
        if path.is_dir():
            out += [relative_path(config, f)[1] for f in _notebooks_under(path)]
        elif path.exists():
            out.append(rel)
        elif configured:
            raise ConfigError(f"[review] paths: {p} does not exist", Location(config.source),
                              hint="fix or remove `paths` under [review] (without it, review covers "
                                   "the pipeline's task sources)")
        else:
            raise NotebookError(f"{missing_kind(p)} not found", Location(p), hint="check the path")
    if default:
        # the review closure, whatever [review] paths says (they add notebooks, never take
        # away what a build runs): every task's source of any kind, the spec and env file, the
        # modules of hooks/clients/executor and the project modules all of these import
        out += [t.path for t in review_targets(config)]
        # and the tasks of the last rendering (a DAG built in Python, grids, placeholders)
        out += [relative_path(config, f)[1] for f in _task_sources(config)]
    if default and not settings.paths:
        records = store.read_records(settings.ledger)
        out += [r.notebook for r in records if (config.root / r.notebook).is_file()]
    return sorted(dict.fromkeys(out))


def survey(
    config: Config, paths: list[str | Path] | None = None
) -> tuple[list[ReviewState], list[NotebookError]]:
    """The states of every notebook :func:`discover_notebooks` finds, and the errors of those
    that cannot be read (so one damaged notebook does not hide the others' status).

    Raises:
        LedgerError, ConfigError: the ledger or the configuration is bad.
        NotebookError: a path given does not exist.
    """
    settings = ReviewSettings.from_config(config)
    grouped = by_notebook(trust.counted_records(config, settings))
    states, errors = [], []
    for rel in discover_notebooks(config, paths):
        try:
            _, _, _, version = read_current(config, rel)
        except NotebookError as exc:
            errors.append(exc)
            continue
        states.append(_state(rel, version, grouped.get(rel, []), settings))
    return states, errors


def changed_targets(config: Config) -> list[str]:
    """The review targets (and notebooks) not approved at their current version, for
    ``nbgov review approve --all-changed``; unreadable ones are left to ``review status``."""
    states, _ = survey(config)
    return [s.path for s in states if s.status != APPROVED]

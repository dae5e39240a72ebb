"""Reuse pipeline payloads while the files they were computed from are unchanged.

Reading the build plan and the lineage records of 100 tasks and digesting their products
takes a noticeable time, and the JupyterLab panels ask for the pipeline, and for each open
notebook's task, again and again. The server is the one long-lived process, so it keeps three things per
project, each with a *stamp*: ``(mtime_ns, size)`` of exactly the files it depends on.

- ``dag``: the ``pipeline_state`` payload (build states, last runs), computed from the build
  plan and the lineage records, never by loading Ploomber. Depends on the config, spec,
  env.yaml, the plan, each task's source, each product and each product's folder (whose mtime
  moves when a run writes a product or a lineage record by rename), and the build journal's
  files (runs not yet synced).
- ``tasks``: which notebook is which task. Depends on the config, spec and cached plan only, so
  saving a notebook in JupyterLab does not recompute the pipeline just to name its task.
- ``reviews``: each task's review status. Depends on the ledger and the task sources, and is
  cheap to recompute (no Ploomber), so a review decision does not reload the DAG either.

A request re-stats the files (~1 ms for 100 tasks) and recomputes only when one changed, and
in any case after :data:`MAX_AGE_S` seconds, to self-heal from a change made while computing.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbgov.core.config import Config
from nbgov.core.journal import journal_folder
from nbgov.core.plan import PLAN_PATH
from nbgov.services.review.store import ReviewSettings

#: A payload older than this is recomputed even when no stamped file changed.
MAX_AGE_S = 30.0

Stamp = tuple[tuple[str, int, int] | tuple[str], ...]
Compute = Callable[[Config], dict[str, Any]]


def stamp(paths: Iterable[Path]) -> Stamp:
    """``(path, mtime_ns, size)`` per path (``(path,)`` when missing), in a stable order."""
    out: list[tuple[str, int, int] | tuple[str]] = []
    for path in sorted({str(p) for p in paths}):
        try:
            st = os.stat(path)
        except OSError:
            out.append((path,))
        else:
            out.append((path, st.st_mtime_ns, st.st_size))
    return tuple(out)


def spec_inputs(config: Config) -> list[Path]:
    """The files that decide a project's tasks: config, spec, env.yaml and the build plan the
    server reads them from (written by ``nbgov build`` / ``nbgov status``)."""

    return [config.root / "nbgov.toml", config.root / "pyproject.toml", config.pipeline_path,
            config.pipeline_path.parent / "env.yaml", config.root / PLAN_PATH]


def sources(config: Config, dag: dict[str, Any]) -> list[Path]:
    """The task source notebooks named in a ``pipeline_state`` payload."""
    return [config.root / t["source"] for t in dag.get("tasks", []) if t.get("source")]


def journal_inputs(config: Config) -> list[Path]:
    """The build journal's folder and files: the payload's ``unsynced`` count moves when a
    build journals a run the store did not take, and when ``nbgov sync`` confirms (appends to a
    ``.sent`` file, which leaves the folder's mtime alone) or retires a journal."""

    folder = journal_folder(config.root)
    try:
        names = sorted(p for p in folder.iterdir() if p.suffix in (".jsonl", ".sent"))
    except OSError:
        names = []
    return [folder, *names]


def dag_inputs(config: Config, dag: dict[str, Any]) -> list[Path]:
    """The files a ``pipeline_state`` payload depends on, besides the review ledger."""
    paths = [*spec_inputs(config), *sources(config, dag), *journal_inputs(config)]
    for task in dag.get("tasks", []):
        for product in (task.get("products") or {}).values():
            if isinstance(product, str):
                paths += [config.root / product, (config.root / product).parent]
    return paths


def review_inputs(config: Config, dag: dict[str, Any]) -> list[Path]:
    """The files the tasks' review statuses depend on: the ledger and the sources."""

    return [ReviewSettings.from_config(config).ledger, *sources(config, dag)]


@dataclass
class _Entry:
    value: dict[str, Any]
    stamp: Stamp
    at: float


class PipelineCache:
    """Per project: the DAG payload, its task map, its review statuses and whether each task's
    last run is synced, each reused while its stamp holds.

    Thread-safe: the handlers call it from worker threads. Computations run one at a time
    (:meth:`exclusive`): loading a Ploomber DAG swaps process-wide state (``sys.stdout``,
    warning filters) that two threads would restore in the wrong order, and a request that
    waited for another's computation of the same thing reuses its result.
    """

    def __init__(self, max_age_s: float = MAX_AGE_S) -> None:
        self.max_age_s = max_age_s
        self._entries: dict[tuple[str, Path], _Entry] = {}
        self._lock = threading.Lock()
        self._compute = threading.RLock()
        self.hits = 0
        self.misses = 0

    def exclusive(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` while no other pipeline computation runs (e.g. ``task_context``)."""
        with self._compute:
            return fn(*args, **kwargs)

    def _valid(self, key: tuple[str, Path],
               inputs: Callable[[dict[str, Any]], list[Path]]) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and time.monotonic() - entry.at < self.max_age_s:
            if stamp(inputs(entry.value)) == entry.stamp:
                return entry.value
        return None

    def _get(self, key: tuple[str, Path], inputs: Callable[[dict[str, Any]], list[Path]],
             compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        value = self._valid(key, inputs)
        if value is None:
            with self._compute:
                value = self._valid(key, inputs)  # computed while this thread waited?
                if value is None:
                    self.misses += 1
                    started = time.monotonic()
                    value = compute()
                    with self._lock:
                        self._entries[key] = _Entry(value, stamp(inputs(value)), started)
                    return value
        self.hits += 1
        return value

    def dag(self, config: Config, compute: Compute) -> dict[str, Any]:
        """``compute(config)`` (``pipeline_state``), reused while its inputs are unchanged.

        The review statuses inside may be stale: take them from :meth:`reviews`. The returned
        dict is shared: callers must not mutate it.
        """
        return self._get(("dag", config.root), lambda dag: dag_inputs(config, dag),
                         lambda: compute(config))

    def tasks(self, config: Config, compute: Compute) -> dict[str, Any]:
        """``{"by_source": {project-relative source: task name}}``, reused while the config
        and spec are unchanged (a notebook edit does not reload the DAG)."""

        def task_map() -> dict[str, Any]:
            dag = self.dag(config, compute)
            return {"by_source": {t["source"]: t["name"] for t in dag.get("tasks", [])
                                  if t.get("source")}}

        return self._get(("tasks", config.root), lambda _: spec_inputs(config), task_map)

    def synced(self, config: Config, compute: Compute) -> dict[str, Any]:
        """``{task name: False while its last run is kept in the local journal only, True once
        it is in the tracking store, None without a run}``, reused while the journal and the
        spec are unchanged: a notebook edit does not reload the DAG; a build and ``nbgov sync``
        (both write the journal) do."""

        def runs() -> dict[str, Any]:
            dag = self.dag(config, compute)
            return {t["name"]: (t["last_run"].get("synced", True) if t.get("last_run") else None)
                    for t in dag.get("tasks", [])}

        return self._get(("synced", config.root),
                         lambda _: [*spec_inputs(config), *journal_inputs(config)], runs)

    def reviews(self, config: Config, dag: dict[str, Any],
                states: Callable[[Config, list[Path]], list[Any]]) -> dict[str, Any]:
        """``{source: {"status", "version"}}`` of the DAG's tasks from ``states``
        (``review_states``), reused while the ledger and the sources are unchanged."""

        def compute() -> dict[str, Any]:
            return {s.path: {"status": s.status, "version": s.version}
                    for s in states(config, sources(config, dag))}

        return self._get(("reviews", config.root), lambda _: review_inputs(config, dag), compute)


def task_of(task_map: dict[str, Any], config: Config, path: Path) -> str | None:
    """The task whose source is ``path`` (resolved, inside the project) in a task map."""
    try:
        rel = path.relative_to(config.root.resolve()).as_posix()
    except ValueError:
        return None
    return task_map["by_source"].get(rel)

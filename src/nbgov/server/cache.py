"""Reuse pipeline payloads while the files they were computed from are unchanged.

Loading a Ploomber DAG of 100 notebook tasks takes 0.3-0.9 s on this machine class, and the
JupyterLab panels ask for the pipeline and for each open notebook's task again and again. The
server is the one long-lived process, so it keeps the last ``pipeline_state`` payload per
project together with a *stamp*: ``(mtime_ns, size)`` of every file it depends on (config,
spec, env.yaml, the review ledger, each task's source, each product and each product's folder,
whose mtime moves when a run writes a product or lineage record by rename). A request
re-stats those files (~1 ms for 100 tasks) and recomputes only when one changed, and in any
case after :data:`MAX_AGE_S` seconds, to self-heal from a change made while computing.
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

#: A payload older than this is recomputed even when no stamped file changed.
MAX_AGE_S = 30.0

Stamp = tuple[tuple[str, int, int] | tuple[str], ...]


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


def _ledger(config: Config) -> Path:
    from nbgov.services.review_store import ReviewSettings

    return ReviewSettings.from_config(config).ledger


def pipeline_inputs(config: Config, payload: dict[str, Any] | None) -> list[Path]:
    """The files a ``pipeline_state`` payload of ``config``'s project depends on."""
    root = config.root
    paths = [root / "nbgov.toml", root / "pyproject.toml", config.pipeline_path,
             config.pipeline_path.parent / "env.yaml", _ledger(config)]
    for task in (payload or {}).get("tasks", []):
        if task.get("source"):
            paths.append(root / task["source"])
        for product in (task.get("products") or {}).values():
            if isinstance(product, str):
                paths += [root / product, (root / product).parent]
    return paths


@dataclass
class _Entry:
    payload: dict[str, Any]
    stamp: Stamp
    at: float


class PipelineCache:
    """Last ``pipeline_state`` payload per project root, valid while its stamp holds.

    Thread-safe: the handlers call it from worker threads. Computations run one at a time
    (:meth:`exclusive`): loading a Ploomber DAG swaps process-wide state (``sys.stdout``,
    warning filters) that two threads would restore in the wrong order, and a request that
    waited for another's computation of the same project reuses its result.
    """

    def __init__(self, max_age_s: float = MAX_AGE_S) -> None:
        self.max_age_s = max_age_s
        self._entries: dict[Path, _Entry] = {}
        self._lock = threading.Lock()
        self._compute = threading.RLock()
        self.hits = 0
        self.misses = 0

    def exclusive(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` while no other pipeline computation runs (e.g. ``task_context``)."""
        with self._compute:
            return fn(*args, **kwargs)

    def _valid(self, config: Config) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.get(config.root)
        if entry is not None and time.monotonic() - entry.at < self.max_age_s:
            if stamp(pipeline_inputs(config, entry.payload)) == entry.stamp:
                return entry.payload
        return None

    def get(self, config: Config, compute: Callable[[Config], dict[str, Any]]) -> dict[str, Any]:
        """The payload for ``config``: the cached one when still valid, else ``compute(config)``.

        The returned dict is shared: callers must not mutate it.
        """
        payload = self._valid(config)
        if payload is not None:
            self.hits += 1
            return payload
        with self._compute:
            payload = self._valid(config)  # computed while this thread waited?
            if payload is not None:
                self.hits += 1
                return payload
            self.misses += 1
            started = time.monotonic()
            payload = compute(config)
            fresh = _Entry(payload, stamp(pipeline_inputs(config, payload)), started)
            with self._lock:
                self._entries[config.root] = fresh
        return payload

    def forget(self, root: Path) -> None:
        """Drop a project's payload (after this server changed its state, e.g. a review)."""
        with self._lock:
            self._entries.pop(root, None)


def task_of(payload: dict[str, Any], config: Config, path: Path) -> str | None:
    """The task whose source is ``path`` (resolved) in a ``pipeline_state`` payload, if any.

    Sources in the payload are relative to the project root, so a string comparison does it
    (no per-task ``resolve()``: this runs on every ``GET review``).
    """
    try:
        rel = path.relative_to(config.root.resolve()).as_posix()
    except ValueError:
        return None
    for task in payload.get("tasks", []):
        source = task.get("source")
        if source == rel or (source and os.path.isabs(source) and Path(source).resolve() == path):
            return task.get("name")
    return None

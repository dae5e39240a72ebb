"""An in-memory tracking store with the surface :class:`nbgov.services.recording.sender.Sender`
uses, and the faults a real one has: down (refuses), a reply lost after the work was done,
restarted empty. For the stateful journal test (real journal and sync code, fake store)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from nbgov.core.errors import TrackingError

RUN_KEY_TAG = "nbgov.run_key"


@dataclass
class FakeRun:
    run_id: str
    name: str
    parent: str | None
    tags: dict[str, str]
    status: str = "RUNNING"
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    deleted: bool = False

    @property
    def key(self) -> str | None:
        return self.tags.get(RUN_KEY_TAG)

    def as_mlflow(self) -> Any:
        return SimpleNamespace(info=SimpleNamespace(run_id=self.run_id, status=self.status, start_time=0,
                                                    lifecycle_stage="deleted" if self.deleted else "active"),
                               data=SimpleNamespace(tags=self.tags, params=self.params, metrics=self.metrics))


class FakeStore:
    """The store. ``down``: every call refuses; ``lose_replies``: the next N calls that change
    something do it, then fail as if the reply was lost."""

    uri = "fake://store"
    experiment = "fake"
    artifact_root = None

    def __init__(self) -> None:
        self.runs: dict[str, FakeRun] = {}
        self.down = False
        self.lose_replies = 0
        self._ids = itertools.count(1)
        self.calls = 0

    # -- faults ---------------------------------------------------------------------------
    def wipe(self) -> None:
        """Restarted empty (its database lost)."""
        self.runs.clear()

    def _call(self) -> None:
        self.calls += 1
        if self.down:
            raise TrackingError("tracking server fake://store is not reachable: Connection refused")

    def _reply(self) -> None:
        if self.lose_replies > 0:
            self.lose_replies -= 1
            raise TrackingError("could not record in fake://store: Connection reset by peer (reply lost)")

    # -- the Tracker surface ----------------------------------------------------------------
    def alive(self) -> bool:
        """Whether the store answers at all (a health check: no fault of its own)."""
        return not self.down

    def prepare(self) -> str:
        self._call()
        return "0"

    def find_run(self, key: str) -> Any | None:
        self._call()
        found = [r for r in self.runs.values() if r.key == key and not r.deleted]
        found.sort(key=lambda r: (r.status == "RUNNING", int(r.run_id)))
        return found[0].as_mlflow() if found else None

    def find_runs(self, key: str) -> list[Any]:
        self._call()
        return [r.as_mlflow() for r in self.runs.values() if r.key == key and not r.deleted]

    def create_run(self, name: str, start_ms: int | None, parent_run_id: str | None = None,
                   tags: dict[str, str] | None = None) -> str:
        self._call()
        if parent_run_id is not None and parent_run_id not in self.runs:
            raise TrackingError(f"parent run {parent_run_id} does not exist (400)")
        run = FakeRun(str(next(self._ids)), name, parent_run_id, dict(tags or {}))
        self.runs[run.run_id] = run
        self._reply()
        return run.run_id

    def end_run(self, run_id: str, status: str, end_ms: int) -> None:
        self._call()
        if run_id not in self.runs:
            raise TrackingError(f"run {run_id} not found (404)")
        self.runs[run_id].status = status
        self._reply()

    def complete_run(self, run_id: str, data: Any) -> None:
        self._call()
        if run_id not in self.runs:
            raise TrackingError(f"run {run_id} not found (404)")
        run = self.runs[run_id]
        run.params.update({k: str(v) for k, v in data.params.items()})
        run.metrics.update({k: float(v) for k, v in data.metrics.items()})
        run.tags.update(data.tags)
        run.status = data.status
        self._reply()

    def run_status(self, run_id: str) -> str | None:
        self._call()
        run = self.runs.get(run_id)
        return None if run is None or run.deleted else run.status

    def delete_run(self, run_id: str) -> None:
        self._call()
        if run_id in self.runs:
            self.runs[run_id].deleted = True

    def running_keyed_runs(self) -> list[Any]:
        self._call()
        return [r.as_mlflow() for r in self.runs.values() if r.status == "RUNNING" and r.key and not r.deleted]

    def open_build(self, build_id: str, name: str, tags: dict[str, str]) -> str:
        raise AssertionError("joined builds are not modelled")

    # -- for the checks --------------------------------------------------------------------
    def active(self) -> list[FakeRun]:
        return [r for r in self.runs.values() if not r.deleted]

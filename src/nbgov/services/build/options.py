"""What a build is asked to do (:class:`BuildOptions`) and what it answers (:class:`BuildSummary`).

Shared by every way a build runs (here, on a cluster, the no-op fast path) and by its callers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nbgov.core.errors import without_credentials
from nbgov.core.journal import check_build_id

#: ``--cluster none``: run here, whatever ``[execution] cluster`` says (a Dask worker's own build).
LOCAL = "none"


@dataclass
class BuildOptions:
    """What the user asked for (``nbgov build`` options)."""

    force: bool = False
    tasks: list[str] | None = None  # a selection; None = the whole pipeline
    downstream: bool = False  # with tasks: also everything downstream of them
    jobs: int | None = None
    env: list[str] = field(default_factory=list)  # NAME=VALUE
    params: list[str] = field(default_factory=list)  # TASK.NAME=VALUE
    require_approved: bool | None = None
    environment: str | None = None  # a named environment from nbgov.toml, e.g. prod
    progress: bool = True
    wait: bool = False  # wait for another build of the project to end instead of refusing
    build_id: str | None = None  # join a build shared by several processes (engine tasks)
    cluster: str | None = None  # a Dask scheduler address, local:N (services.build.cluster), or LOCAL
    #: with a cluster: where workers without a checkout of their own fetch the build's commit
    repository: str | None = None

    def __post_init__(self) -> None:
        # the build id names files in .nbgov/journal (and a lock in .nbgov): never a path
        if self.build_id is not None:
            check_build_id(self.build_id)


@dataclass
class TaskSummary:
    """One line of the build summary."""

    task: str
    outcome: str  # ran | skipped | failed | not-run
    seconds: float | None
    run_id: str | None
    error: str | None = None
    #: why it was skipped when Ploomber would have run it ("inputs unchanged"), else None
    reason: str | None = None


@dataclass
class BuildSummary:
    """The result of a build."""

    tasks: list[TaskSummary]
    parent_run_id: str | None
    failed: bool
    wall_s: float
    tracking_uri: str
    pending: int = 0  # runs kept in the journal for `nbgov sync` (store unreachable)
    offline_reason: str | None = None
    synced: int = 0  # runs of earlier builds sent first
    interrupted: list[str] = field(default_factory=list)  # runs of killed builds ended KILLED
    build_id: str | None = None
    warnings: list[str] = field(default_factory=list)  # Ploomber's render warnings, per task
    #: task -> its lineage record (JSON form), for a cluster driver that asked for them
    #: (core.lineage.HAND_BACK_VAR: this build's checkout is not the driver's folder); else empty
    records: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # the summary is printed and written as JSON: a tracking URI's password stays out
        self.tracking_uri = without_credentials(self.tracking_uri)
        if self.offline_reason:
            self.offline_reason = without_credentials(self.offline_reason)

    def to_dict(self) -> dict[str, Any]:
        return {"failed": self.failed, "wall_s": round(self.wall_s, 3), "parent_run_id": self.parent_run_id,
                "tracking_uri": self.tracking_uri, "build_id": self.build_id,
                "pending": self.pending, "offline_reason": self.offline_reason, "synced": self.synced,
                "interrupted": self.interrupted, "warnings": self.warnings,
                "tasks": [t.__dict__ for t in self.tasks], **({"records": self.records} if self.records else {})}

"""Tracking helpers shared by every recorder: secret redaction of params, safe URIs, and an
after-the-fact :class:`BuildRecorder` (builds record as they go: see
:mod:`nbgov.services.recording`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from nbgov.adapters.ploomber import TaskInfo
from nbgov.core.config import Config
from nbgov.core.redact import REDACTED  # noqa: F401  (re-exported for callers of this module)


@dataclass
class TaskRecord:
    """The outcome of recording one task run."""

    task: str
    outcome: str  # ran | failed
    run_id: str | None
    duration_s: float | None
    error: str | None = None


@dataclass
class BuildRecord:
    """What a recorded build produced."""

    build_id: str
    parent_run_id: str | None = None
    tasks: dict[str, TaskRecord] = field(default_factory=dict)


def redact_params(params: dict[str, Any]) -> dict[str, str]:
    """Parameters as MLflow strings, secrets redacted by the one rule set of :mod:`nbgov.core.redact`
    (secret-looking names, and secret-looking values under any name)."""
    from nbgov.core.redact import redact_params as redact

    return {name: value if isinstance(value, str) else json.dumps(value, default=str)
            for name, value in redact(params).items()}


def safe_uri(uri: str) -> str:
    """A tracking URI without user:password, fit for a tag or a log line."""
    parts = urlsplit(uri)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return uri


class BuildRecorder:
    """Record a build after the fact: every task whose outcome is ``ran`` or ``failed``, in
    pipeline order (used by the tracking benchmark and by callers that ran tasks themselves).
    Builds record as they go through :class:`nbgov.services.recording.recorder.Recorder`.

    Args:
        config: the project configuration (tracking URI, experiment).
        tasks: the pipeline's tasks (from the Ploomber adapter), in topological order.
        runner: ``"nbgov build"`` or ``"ploomber build"``.
    """

    def __init__(self, config: Config, tasks: list[TaskInfo], runner: str = "nbgov build") -> None:
        from nbgov.services.recording.recorder import Recorder

        self.recorder = Recorder(config, tasks, runner=runner)
        self.order = [t.name for t in tasks]
        self.tracker = self.recorder.tracker

    def prepare(self) -> None:
        """Create the store and experiment now, in this (main) process, before any worker starts."""
        self.tracker.prepare()

    def record(self, outcomes: dict[str, str], review_status: dict[str, str] | None = None,
               errors: dict[str, str | None] | None = None) -> BuildRecord:
        """Record every task whose outcome is ``ran`` or ``failed`` (in pipeline order)."""
        todo = [n for n in self.order if outcomes.get(n) in ("ran", "failed")]
        build = BuildRecord(self.recorder.build_id)
        if not todo:
            return build
        self.recorder.review_status.update(review_status or {})
        for name in todo:
            self.recorder.task_started(name)
            self.recorder.task_finished(name, outcomes[name], (errors or {}).get(name))
        report = self.recorder.close("FAILED" if any(outcomes[n] == "failed" for n in todo) else "FINISHED")
        build.parent_run_id = report.parent_run_id
        build.tasks = {n: TaskRecord(n, r.outcome, r.run_id, r.duration_s, r.error) for n, r in report.tasks.items()}
        return build


def open_build(config: Config, build_id: str, runner: str = "nbgov build", git: dict | None = None) -> str:
    """The parent run of the shared build ``build_id`` (found by its ``nbgov.build_id`` tag, else
    created): every ``nbgov build --build-id ID`` records its task runs under it."""
    from nbgov.adapters.environment import git_state
    from nbgov.adapters.mlflow import Tracker

    git = git or git_state(config.root)
    tracker = Tracker(config.resolved_tracking_uri(), config.experiment, config.artifact_root())
    return tracker.open_build(build_id, f"build {build_id}",
                              {"nbgov.runner": runner, "nbgov.pipeline": config.pipeline,
                               "nbgov.git_commit": str(git["commit"]), "nbgov.git_dirty": str(git["dirty"])})


def close_build(config: Config, build_id: str, status: str | None = None) -> tuple[str, str] | None:
    """End the parent run of the shared build ``build_id`` with ``status`` (FINISHED, FAILED,
    KILLED; None: FAILED when one of its task runs failed). None when nothing was recorded."""
    from nbgov.adapters.mlflow import Tracker

    tracker = Tracker(config.resolved_tracking_uri(), config.experiment, config.artifact_root())
    return tracker.close_build(build_id, status)

"""Tracking helpers shared by every recorder: what a recorded build and task run produced,
params as MLflow strings with secrets redacted, and the parent run of a build shared by several
processes (engine tasks, cluster workers). Builds record as they go: see
:mod:`nbgov.services.recording.recorder`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from nbgov.adapters.environment import git_state
from nbgov.adapters.mlflow.tracker import Tracker
from nbgov.core.config import Config
from nbgov.core.redact import redact_params as redact
from nbgov.core.redact_known import KnownSecrets


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


def redact_params(params: dict[str, Any], known: KnownSecrets | None = None) -> dict[str, str]:
    """Parameters as MLflow strings, secrets redacted by the one rule set of :mod:`nbgov.core.redact`
    (secret-looking names, and secret-looking values under any name; ``known``: a build's known
    secret values wherever they are)."""
    return {name: value if isinstance(value, str) else json.dumps(value, default=str)
            for name, value in redact(params, known).items()}


def open_build(config: Config, build_id: str, runner: str = "nbgov build", git: dict | None = None) -> str:
    """The parent run of the shared build ``build_id`` (found by its ``nbgov.build_id`` tag, else
    created): every ``nbgov build --build-id ID`` records its task runs under it."""
    git = git or git_state(config.root)
    tracker = Tracker(config.resolved_tracking_uri(), config.experiment, config.artifact_root())
    return tracker.open_build(build_id, f"build {build_id}",
                              {"nbgov.runner": runner, "nbgov.pipeline": config.pipeline,
                               "nbgov.git_commit": str(git["commit"]), "nbgov.git_dirty": str(git["dirty"])})


def close_build(config: Config, build_id: str, status: str | None = None) -> tuple[str, str] | None:
    """End the parent run of the shared build ``build_id`` with ``status`` (FINISHED, FAILED,
    KILLED; None: FAILED when one of its task runs failed). None when nothing was recorded."""
    tracker = Tracker(config.resolved_tracking_uri(), config.experiment, config.artifact_root())
    return tracker.close_build(build_id, status)

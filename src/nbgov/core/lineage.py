"""Lineage records: where one task run came from.

One record per task run, stored next to the task's products (``<nb product>.lineage.json``,
e.g. ``products/train.lineage.json``) and logged to the run in MLflow as
``nbgov/lineage.json``. The schema is versioned (``schemas/lineage-record.v1.json``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nbgov.core.atomic import atomic_write

SCHEMA = "nbgov.lineage-record/1"
SCHEMA_FILE = Path(__file__).parent / "schemas" / "lineage-record.v1.json"
RECORD_SUFFIX = ".lineage.json"
#: env var a cluster driver sets for a task it runs as ``nbgov build TASK`` in a checkout that is
#: not the driver's (JSON ``{upstream task: [run id, run key]}``): the runs that made the upstream
#: products the task reads, which that checkout holds no lineage record of
UPSTREAM_RUNS_VAR = "NBGOV_CLUSTER_UPSTREAM"
#: env var (any non-empty value) asking such a task's ``nbgov build --json`` to hand its lineage
#: records back in the summary (``records``): its checkout may be thrown away, the driver keeps them
HAND_BACK_VAR = "NBGOV_CLUSTER_RECORDS"
#: The product key of a task that registers a model version: a JSON file
#: ``{"name", "version", "model_run_id"?}`` (see notebooks/register.ipynb).
REGISTERED_MODEL_PRODUCT = "registered_model"


@dataclass
class LineageRecord:
    """Everything that made one task run (see DESIGN.md, "lineage record")."""

    task: str
    notebook: dict[str, Any]  # {"path", "version", "review_status"}
    params: dict[str, Any]
    upstream: list[dict[str, Any]]  # [{"task", "run_id"}]
    inputs: list[dict[str, Any]]  # [{"path", "digest", "task", "key"}]
    products: dict[str, dict[str, Any]]  # key -> {"path", "digest", "bytes"}
    git: dict[str, Any]
    environment: dict[str, Any]
    started: str | None
    ended: str | None
    duration_s: float | None
    outcome: str  # "succeeded" | "failed" | "stopped" (DAGBuildEarlyStop) | "killed"
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    run_id: str | None = None
    run_key: str | None = None
    parent_run_id: str | None = None
    build_id: str | None = None
    tracking_uri: str | None = None
    experiment: str | None = None
    runner: str = "nbgov build"  # or "ploomber build"
    # the model versions this run registered: [{"uri", "name", "version", "run_id" (the
    # version's source run; None: this task run), "product", "digest"}]; what binds a version
    # to this run for `nbgov promote` (its tags are descriptive, never proof)
    registered_models: list[dict[str, Any]] = field(default_factory=list)
    schema: str = SCHEMA
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what the schema describes)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LineageRecord:
        """Read a record written by any nbgov of the same schema major version."""
        if data.get("schema") != SCHEMA:
            raise ValueError(f"unsupported lineage schema {data.get('schema')!r} (expected {SCHEMA})")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def record_path(notebook_product: str | Path) -> Path:
    """Where the record of a task whose executed notebook is ``notebook_product`` lives."""
    p = Path(notebook_product)
    return p.with_name(p.stem + RECORD_SUFFIX)


def write_record(record: LineageRecord, path: str | Path) -> None:
    """Write a record atomically."""
    atomic_write(path, json.dumps(record.to_dict(), indent=2, sort_keys=True, default=str) + "\n")


def read_record(path: str | Path) -> LineageRecord | None:
    """The record at ``path``; None when there is none or it is unreadable."""
    try:
        return LineageRecord.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def handed_upstream_runs(environ: Mapping[str, str] = os.environ) -> dict[str, tuple[str | None, str | None]]:
    """Upstream task -> (run id, run key) a cluster driver named in :data:`UPSTREAM_RUNS_VAR`
    ({} when unset or not that shape: lineage then names what this checkout's records say).
    Honoured only in a cold task's subprocess, which its driver also asks for its records
    (:data:`HAND_BACK_VAR`): a variable left in a user's shell names no upstream run."""
    if not environ.get(HAND_BACK_VAR):
        return {}
    try:
        data = json.loads(environ.get(UPSTREAM_RUNS_VAR) or "{}")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    out: dict[str, tuple[str | None, str | None]] = {}
    for task, pair in data.items():
        # only plain strings travel into a record: anything else is dropped, not coerced
        if isinstance(task, str) and isinstance(pair, list) and len(pair) == 2 \
                and all(v is None or isinstance(v, str) for v in pair):
            out[task] = (pair[0], pair[1])
    return out

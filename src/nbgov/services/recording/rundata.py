"""What one finished task run records: params, metrics, tags, files, datasets, lineage record.

Built in the main process from plain data: the task (:class:`TaskInfo`), its executed notebook
if its kind has one (scraps, the failing cell), digests of its inputs and products. The result
is one journal event (JSON) from which any process can send the run later.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nbgov.adapters.notebooks import read_notebook, task_source_version
from nbgov.adapters.ploomber import TaskInfo
from nbgov.core.config import Config
from nbgov.core.digest import file_digest
from nbgov.core.errors import NbgovError
from nbgov.core.executed import Execution, read_execution, split_scraps
from nbgov.core.lineage import REGISTERED_MODEL_PRODUCT, LineageRecord
from nbgov.core.redact import mask_text, redact_params, redact_record
from nbgov.core.redact_known import KnownSecrets
from nbgov.services.recording.tracking import redact_params as mlflow_params

#: Characters MLflow accepts in metric, param and tag names.
_NAME_OK = re.compile(r"[^0-9A-Za-z_\-. /]")
OUTCOME = {"ran": "succeeded", "failed": "failed", "stopped": "stopped", "killed": "killed"}


def mlflow_name(name: str) -> str:
    """A metric or tag name MLflow takes (others are refused and would fail the whole run)."""
    clean = _NAME_OK.sub("_", str(name)).strip() or "_"
    return clean[:250]


def source_version(task: TaskInfo) -> str | None:
    """The version of the task's source file (``nbv1`` for ``.ipynb`` notebooks, ``srcv2``
    for scripts, function modules and other text sources; see :mod:`nbgov.core.tasks`); None without one."""
    return task_source_version(task.source_file)


def _rel(config: Config, path: Path) -> str:
    try:
        return Path(path).resolve().relative_to(config.root).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _iso_ms(ms: int | None) -> str | None:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat() if ms else None


def registered_models(task: TaskInfo, products: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The model version a task registered, read from its ``registered_model`` product
    (``{"name", "version", "model_run_id"?}``), with that file's digest: ``[]`` when the task has
    no such product or it does not say which version.

    ``run_id`` is the version's source run as the task wrote it (the run its notebook logged the
    model in); None means the task run itself. ``nbgov promote`` accepts a version only when
    the lineage record of the task run that registered it names it here.
    """
    path = task.products.get(REGISTERED_MODEL_PRODUCT)
    if path is None or not Path(path).is_file():
        return []
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        name, version = str(data["name"]), str(int(str(data["version"])))
    except (OSError, ValueError, KeyError, TypeError):
        return []  # not a registration: promotion then finds no task run naming a version
    run_id = data.get("model_run_id")
    return [{"uri": f"models:/{name}/{version}", "name": name, "version": version,
             "run_id": run_id if isinstance(run_id, str) and run_id else None,
             "product": REGISTERED_MODEL_PRODUCT,
             "digest": products[REGISTERED_MODEL_PRODUCT]["digest"]}]


def task_run_event(config: Config, tasks: dict[str, TaskInfo], task: TaskInfo, *, outcome: str,
                   runner_error: str | None, status: str, review_status: str, git: dict, env: dict,
                   start_ms: int, duration_s: float, run_id: str | None, run_key: str,
                   parent_run_id: str | None, build_id: str, runner: str, tracking_uri: str,
                   experiment: str, upstream_ids: dict[str, tuple[str | None, str | None]],
                   known: KnownSecrets | None = None) -> tuple[dict[str, Any], LineageRecord, float]:
    """The ``task_finished`` journal payload of one task run, its lineage record and duration.

    Args:
        outcome: ran | failed | stopped | killed.
        runner_error: the executor's account of a failure (used when the executed notebook
            records none, e.g. a timeout, a dead kernel, a function's exception).
        upstream_ids: upstream task -> (run id, run key) of the run it read from.
        known: the build's known secret values (:class:`KnownSecrets`): masked in the error,
            the tags, the params, the scraps and the lineage record.
    """
    execution = Execution()
    if task.evidence is not None and Path(task.evidence).is_file():
        try:
            execution = read_execution(read_notebook(task.evidence))
        except NbgovError:
            pass  # a kernel that died mid-write leaves no readable notebook; the run still counts
    version = source_version(task)
    source_rel = _rel(config, task.source_file) if task.source_file else None
    error = None
    if outcome in ("failed", "stopped", "killed"):
        error = str(execution.error) if execution.error and outcome == "failed" else (
            runner_error or ("task failed (no error recorded)" if outcome == "failed" else None))
    if error:
        error = mask_text(error, known=known)[0]
    # one redaction rule set for params, lineage records, scraps and notebooks (core.redact)
    metrics, scrap_tags, scrap_other = split_scraps(redact_params(execution.scraps, known))
    renamed = {}
    clean_metrics = {}
    for k, v in metrics.items():
        clean_metrics[mlflow_name(k)] = v
        if mlflow_name(k) != k:
            renamed[mlflow_name(k)] = k
    end_ms = start_ms + int(duration_s * 1000)

    upstream, inputs = [], []
    for up in task.upstream:
        up_task = tasks.get(up)
        rid, rkey = upstream_ids.get(up, (None, None))
        upstream.append({"task": up, "run_id": rid, "run_key": rkey})
        if up_task is None:
            continue
        for key, path in up_task.products.items():
            if path == up_task.notebook_product or not path.exists():
                continue
            inputs.append({"task": up, "key": key, "path": _rel(config, path), "digest": file_digest(path)})
    products = {}
    for key, path in task.products.items():
        exists = path.exists()
        products[key] = {"path": _rel(config, path), "digest": file_digest(path) if exists else None,
                         "bytes": path.stat().st_size if exists and path.is_file() else None}

    lineage_outcome = OUTCOME.get(outcome, "failed")
    tags = {
        "nbgov.kind": "task", "nbgov.task": task.name, "nbgov.task_kind": task.kind,
        "nbgov.notebook": source_rel or "", "nbgov.notebook_version": version or "",
        "nbgov.review_status": review_status,
        "nbgov.git_commit": str(git.get("commit")), "nbgov.git_dirty": str(git.get("dirty")),
        "nbgov.build_id": build_id, "nbgov.runner": runner, "nbgov.outcome": lineage_outcome,
        **{f"scrap.{mlflow_name(k)}": v for k, v in scrap_tags.items()},
    }
    for k in scrap_tags:
        if mlflow_name(k) != k:
            renamed[f"scrap.{mlflow_name(k)}"] = k
    for name, value in (("nbgov.function", task.function), ("nbgov.group", task.group),
                        ("nbgov.client", task.client)):
        if value:
            tags[name] = value
    if error:
        tags["nbgov.error"] = error
    record = LineageRecord(
        task=task.name,
        notebook={"path": source_rel or "", "version": version, "review_status": review_status,
                  "kind": task.kind, **({"function": task.function} if task.function else {})},
        params=redact_params(task.params, known), upstream=upstream, inputs=inputs, products=products, git=git,
        environment=env, started=_iso_ms(start_ms), ended=_iso_ms(end_ms),
        duration_s=round(duration_s, 3), outcome=lineage_outcome, error=error, metrics=clean_metrics,
        run_id=run_id, run_key=run_key, parent_run_id=parent_run_id, build_id=build_id,
        tracking_uri=tracking_uri, experiment=experiment, runner=runner,
        registered_models=registered_models(task, products) if lineage_outcome == "succeeded" else [],
    )
    json_artifacts: dict[str, Any] = {}
    if scrap_other or renamed:
        json_artifacts["scraps.json"] = {**scrap_other, **({"_renamed": renamed} if renamed else {})}
    artifacts = []
    if task.evidence is not None and Path(task.evidence).is_file():
        artifacts.append({"path": _rel(config, task.evidence), "dir": "notebook",
                          "digest": file_digest(task.evidence)})
    for path in task.products.values():
        if path == task.evidence or not path.exists():
            continue
        artifacts.append({"path": _rel(config, path), "dir": "products",
                          "digest": file_digest(path) if path.is_file() else None,
                          # a report converted from the executed notebook holds its outputs
                          **({"executed": True} if path == task.notebook_product else {})})
    datasets = [{"name": f"{i['task']}.{i['key']}", "digest": i["digest"].split(":")[-1],
                 "source": i["path"], "context": "input"} for i in inputs]
    payload = {
        "status": status, "outcome": outcome, "start_ms": start_ms, "end_ms": end_ms,
        "params": mlflow_params(task.params, known), "metrics": clean_metrics,
        "tags": {mlflow_name(k): v for k, v in tags.items()}, "artifacts": artifacts,
        "json_artifacts": json_artifacts, "datasets": datasets, "error": error,
        "record": redact_record(record.to_dict(), known),
        "record_path": _rel(config, task.record) if task.record else None,
    }
    return payload, LineageRecord.from_dict(payload["record"]), round(duration_s, 3)

"""Production monitoring: run the pipeline's ``monitor`` task for one batch, judge it, link it.

:func:`monitor` checks the batch against the model's signature, runs the task as a tracked
build of that one task (so the run gets the same MLflow run, lineage record and review status
as every other task run), then turns its glued numbers into ``ok`` / ``alert`` with the rules of
``[monitor] thresholds``. The run and the model version are tagged with each other, and the
verdict is written next to the task's products (``<nb product stem>.status.json``) so that
``nbgov status`` shows it without asking MLflow.

``[monitor]`` keys::

    thresholds = ["psi_max <= 0.25", "drift_share <= 0.1", "f1 >= 0.9"]
    task = "monitor"                                   # the task to run (default "monitor")
    model = "models:/nbgov-example-classifier@champion"  # default for --model (optional)

A rule whose metric the run did not glue (e.g. ``f1`` on a batch without labels) is reported as
not evaluated rather than as an alert.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbgov.adapters.mlflow.registry import Registry, parse_model_uri
from nbgov.core.atomic import atomic_write
from nbgov.core.config import Config
from nbgov.core.errors import (
    Location,
    ParameterError,
    PipelineError,
    TaskFailedError,
)
from nbgov.core.lineage import read_record
from nbgov.core.thresholds import MISSING, Rule, Verdict, evaluate, parse_rules
from nbgov.services.build import BuildOptions, build, load_pipeline
from nbgov.services.models.promote import champions, checked_section

OK, ALERT = "ok", "alert"
_KEYS = {"thresholds": list, "task": str, "model": str}
#: Label column a batch may carry on top of the model's inputs.
LABEL = "target"


@dataclass(frozen=True)
class MonitorSettings:
    """The ``[monitor]`` table, resolved and checked."""

    thresholds: list[Rule]
    task: str = "monitor"
    model: str | None = None

    @classmethod
    def from_config(cls, config: Config) -> MonitorSettings:
        """Read ``[monitor]``. Raises ConfigError naming the bad key or rule."""

        table = checked_section(config, "monitor", _KEYS)
        return cls(
            thresholds=parse_rules(table.get("thresholds"), config.source, "[monitor] thresholds"),
            task=table.get("task", "monitor"),
            model=table.get("model"),
        )


@dataclass
class MonitorResult:
    """The verdict on one batch.

    Attributes:
        status: ``ok`` or ``alert``.
        batch: the batch file (absolute).
        run_id: the MLflow run of the monitor task.
        model: ``models:/NAME/VERSION`` monitored, or None (the pipeline's own model).
        metrics: the numbers the task glued.
        verdicts: one per ``[monitor]`` rule.
        at: when the run ended.
    """

    status: str
    batch: str
    run_id: str | None
    model: str | None
    metrics: dict[str, float]
    verdicts: list[Verdict] = field(default_factory=list)
    at: str | None = None

    @property
    def reasons(self) -> list[str]:
        """Explanations of the rules that failed."""
        return [v.explain() for v in self.verdicts if not v.ok and v.outcome != MISSING]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``nbgov monitor --json`` and the status file)."""
        return {
            "status": self.status,
            "batch": self.batch,
            "run_id": self.run_id,
            "model": self.model,
            "metrics": self.metrics,
            "at": self.at,
            "reasons": self.reasons,
            "thresholds": [v.to_dict() for v in self.verdicts],
        }


def batch_columns(path: Path) -> list[str]:
    """The header of a CSV batch.

    Raises:
        ParameterError: the file is missing, empty or not CSV text.
    """
    where = Location(path)
    if not path.is_file():
        raise ParameterError("batch file not found", where, hint="give --batch PATH to a CSV file")
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            first_row = next((row for row in reader if any(cell.strip() for cell in row)), None)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ParameterError(f"batch is not CSV text: {exc}", where) from None
    if not header or not any(h.strip() for h in header):
        raise ParameterError("batch is empty: no header row", where)
    if first_row is None:
        # the monitor notebook would fail on zero rows and leave the pipeline's task "failed"
        raise ParameterError("batch has a header but no rows", where, hint="give a batch with at least one row")
    return [h.strip() for h in header]


def check_columns(columns: list[str], expected: list[str], batch: Path, against: str) -> None:
    """Refuse a batch whose columns are not ``expected`` (plus an optional label column).

    Raises:
        ParameterError: naming missing and unexpected columns.
    """
    missing = [c for c in expected if c not in columns]
    unexpected = [c for c in columns if c not in expected and c != LABEL]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected)}")
        raise ParameterError(
            f"batch columns do not match {against}: {'; '.join(parts)}",
            Location(batch),
            hint=f"a batch has the model's input columns, and optionally {LABEL!r} (labels)",
        )


@contextlib.contextmanager
def _tracking_env(uri: str) -> Iterator[None]:
    # the task's kernel loads the model from the registry: it inherits this process's env. The
    # registry URI too: MLflow resolves models:/ through MLFLOW_REGISTRY_URI first, and a stray
    # one (another project's store) would send the kernel there
    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    old = {name: os.environ.get(name) for name in names}
    os.environ.update(dict.fromkeys(names, uri))
    try:
        yield
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def status_path(notebook_product: Path) -> Path:
    """Where the last verdict of a monitor task lives (next to its lineage record)."""
    return notebook_product.with_name(notebook_product.stem + ".status.json")


def judge(rules: list[Rule], metrics: dict[str, float]) -> tuple[str, list[Verdict]]:
    """``ok`` unless a rule fails on a metric the run recorded."""
    verdicts = evaluate(rules, {"": metrics})
    alert = any(not v.ok and v.outcome != MISSING for v in verdicts)
    return (ALERT if alert else OK), verdicts


def monitor(config: Config, batch: str | Path, model: str | None = None) -> MonitorResult:
    """Run the monitor task for one batch and judge it.

    Args:
        config: the project.
        batch: a CSV file of production rows (the model's inputs, optionally ``target``).
        model: ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` to score the batch with;
            default ``[monitor] model``, else the model the pipeline trained.

    Returns:
        The verdict; ``status`` is ``alert`` when a threshold is crossed.

    Raises:
        ParameterError: the batch is missing, unreadable, or its columns do not match the
            model's signature; the model URI is malformed.
        LineageError: the model or alias does not exist.
        ConfigError: ``[monitor]`` is invalid.
        PipelineError: the pipeline has no monitor task, or its upstream is not built.
        TaskFailedError: the monitor notebook failed.
    """

    settings = MonitorSettings.from_config(config)
    batch_path = Path(batch)
    batch_path = (batch_path if batch_path.is_absolute() else Path.cwd() / batch_path).resolve()
    columns = batch_columns(batch_path)
    model = model or settings.model
    version = None
    uri = config.resolved_tracking_uri()
    if model:

        registry = Registry(uri)
        version = registry.resolve(parse_model_uri(model))
        expected = registry.input_columns(version)
        if expected:
            check_columns(columns, expected, batch_path, f"the signature of {version.uri}")

    pipeline = load_pipeline(config)
    infos = {t.name: t for t in pipeline.tasks()}
    task = infos.get(settings.task)
    if task is None or task.notebook_product is None:
        raise PipelineError(
            f"the pipeline has no notebook task {settings.task!r}",
            Location(config.pipeline_path),
            hint="add the monitor task (notebooks/monitor.ipynb) or set [monitor] task",
        )
    unbuilt = [
        f"{up}: {p}" for up in task.upstream for p in infos[up].products.values() if not p.exists()
    ]
    if unbuilt:
        raise PipelineError(
            f"task {settings.task!r} needs its upstream built first",
            Location(config.pipeline_path),
            hint="run nbgov build; missing: " + ", ".join(unbuilt[:3]),
        )

    params = [f"{settings.task}.batch={json.dumps(str(batch_path))}"]
    params.append(f"{settings.task}.model_uri={json.dumps(version.uri if version else '')}")
    with _tracking_env(uri):
        summary = build(
            config,
            BuildOptions(force=True, tasks=[settings.task], params=params, progress=False),
        )
    outcome = next(t for t in summary.tasks if t.task == settings.task)
    if outcome.outcome != "ran":
        raise TaskFailedError(
            f"monitor task failed on {batch_path.name}: {outcome.error or outcome.outcome}",
            Location(task.notebook_product),
            hint="open the executed notebook to see the failing cell",
        )
    record = read_record(task.record) if task.record else None
    metrics = dict(record.metrics) if record else {}
    status, verdicts = judge(settings.thresholds, metrics)
    result = MonitorResult(
        status,
        str(batch_path),
        outcome.run_id,
        version.uri if version else None,
        metrics,
        verdicts,
        record.ended if record else None,
    )
    _link(uri, result, version)
    atomic_write(
        status_path(task.notebook_product), json.dumps(result.to_dict(), indent=2, sort_keys=True)
    )
    return result


def _link(uri: str, result: MonitorResult, version) -> None:
    # run -> model version and model version -> last monitor run, both ways in MLflow

    registry = Registry(uri)
    tags = {"nbgov.monitor.status": result.status, "nbgov.monitor.batch": Path(result.batch).name}
    if version is not None:
        tags.update(
            {
                "nbgov.model_name": version.name,
                "nbgov.model_version": version.version,
                "nbgov.model_uri": version.uri,
            }
        )
    if result.reasons:
        tags["nbgov.monitor.reasons"] = "; ".join(result.reasons)[:5000]
    if result.run_id:
        registry.set_run_tags(result.run_id, tags)
    if version is not None and result.run_id:
        registry.set_version_tags(
            version.name,
            version.version,
            {"nbgov.monitor.status": result.status, "nbgov.monitor.run_id": result.run_id},
        )


def models_status(config: Config, state: dict[str, Any] | None = None) -> dict[str, Any]:
    """Champions and the last monitor verdict, for ``nbgov status``. Reads only local files.

    Args:
        config: the project.
        state: the ``pipeline_state`` payload when the caller has it (saves loading the pipeline).

    Returns:
        ``{"aliases": [{"model", "alias", "version", "previous", "by", "at"}],
        "monitor": <last verdict> | None}``.
    """

    settings = MonitorSettings.from_config(config)
    product = None
    task = None
    if state is not None:
        task = next((t for t in state.get("tasks", []) if t["name"] == settings.task), None)
        nbs = [p for p in (task or {}).get("products", {}).values() if p.endswith(".ipynb")]
        product = config.root / nbs[0] if nbs else None
    else:

        infos = {t.name: t for t in load_pipeline(config).tasks()}
        product = getattr(infos.get(settings.task), "notebook_product", None)
    last = None
    if product is not None:
        try:
            last = json.loads(status_path(Path(product)).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            last = None
    run = (task or {}).get("last_run") or {}
    if last is not None and not last.get("run_id") and run.get("ended") == last.get("at"):
        # a verdict given while the store was down: its run has an id since `nbgov sync`
        last["run_id"] = run.get("run_id")
    return {"aliases": champions(config), "monitor": last}

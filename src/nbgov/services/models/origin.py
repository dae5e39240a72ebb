"""Where a model version comes from, as the promotion gate accepts it: the nbgov task run that
registered it, proved by the registry and that run's lineage record, never by tags.

A version is *bound* to a task run ``T`` when all of these hold:

- its source run ``S`` is the version's own ``run_id`` in the registry (and, for an MLflow 3
  logged model, the logged model's run agrees);
- ``S`` and ``T`` are runs of this project's experiment, ``T`` an nbgov task run
  (``nbgov.kind = task``) whose ``nbgov/lineage.json`` is the record of ``T`` itself;
- that record's ``registered_models`` names exactly this model name and version with source run
  ``S`` (``T`` itself when the task logged into its own run), and the digest of the
  ``registered_model`` product it was read from.

Tags (``nbgov.run_id`` on the version, ``scrap.registered_model`` on runs) only say where to
look: every candidate they name is checked as above. A version registered by a run outside
nbgov, or by a task run of another project, is not bound, whatever it is tagged with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nbgov.adapters.mlflow.lineage_store import REGISTERED_SCRAP_TAG, VERSION_RUN_TAG
from nbgov.adapters.mlflow.registry import ModelVersion, Registry
from nbgov.core.errors import LineageError

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
#: What to do when a version is not bound (the gate's hint).
UNBOUND_HINT = (
    "promote a version that this project's pipeline registered in an nbgov build (a task with a "
    "registered_model product, see notebooks/register.ipynb); tags cannot vouch for a version"
)


@dataclass(frozen=True)
class Origin:
    """The outcome of :func:`bound_origin`.

    Attributes:
        task_run: the nbgov task run whose lineage record names the version (None: unbound).
        source_run: the version's own source run, when it has one.
        task: the task of ``task_run``.
        reason: why the version is not bound (one line), None when it is.
    """

    task_run: str | None
    source_run: str | None
    task: str | None = None
    reason: str | None = None

    @property
    def bound(self) -> bool:
        """True when a task run of this project vouches for the version."""
        return self.task_run is not None

    def explain(self, model: ModelVersion) -> str:
        """One line for the gate's checks."""
        return (
            f"{model.uri} was registered by task {self.task} (run {self.task_run}, model run "
            f"{self.source_run}) of this project"
        )


def _source_run(registry: Registry, model: ModelVersion) -> tuple[str | None, str | None]:
    """(the version's source run, why it has none acceptable)."""
    try:
        logged = registry.logged_model_run(model)
    except LineageError as exc:
        return None, f"its source {model.source} cannot be read ({exc.message})"
    if model.run_id and logged and logged != model.run_id:
        return None, (
            f"its run {model.run_id} is not the run {logged} that logged its model "
            f"{model.source}"
        )
    source = model.run_id or logged
    if not source:
        return None, "it has no source run (registered from files, not from a run)"
    if logged is None:
        # a version registered from a path names its run as it likes: the files must be that
        # run's own artifacts (a registry writer could otherwise put any model behind it)
        info = registry.run_info(source)
        root = ((info or {}).get("artifact_uri") or "").rstrip("/")
        src = (model.source or "").rstrip("/")
        if not (src.startswith(f"runs:/{source}/") or (root and (src == root or src.startswith(root + "/")))):
            return None, f"its model files {model.source} are not artifacts of its source run {source}"
    return source, None


def _candidates(
    registry: Registry, model: ModelVersion, source: dict, experiment_id: str
) -> list[str]:
    """Task runs that may have registered the version: the source run itself when it is a task
    run, the task runs that glued its URI, and the run its ``nbgov.run_id`` tag names. Only
    places to look: each is checked by :func:`_vouches`."""
    found = [source["run_id"]] if source["tags"].get("nbgov.kind") == "task" else []
    uri = model.uri.replace("'", "")  # a quote cannot match in an MLflow filter anyway
    found += registry.search_runs(
        experiment_id, f"tags.`nbgov.kind` = 'task' and tags.`{REGISTERED_SCRAP_TAG}` = '{uri}'"
    )
    hinted = model.tags.get(VERSION_RUN_TAG, "")
    found += [hinted] if _RUN_ID.match(hinted) else []
    return list(dict.fromkeys(found))


def _vouches(
    registry: Registry, run_id: str, model: ModelVersion, source: str, experiment_id: str
) -> tuple[str | None, str]:
    """(the task run's task, or None; why it does not vouch for the version)."""
    info = registry.run_info(run_id)
    if info is None:
        return None, f"run {run_id} does not exist"
    if info["experiment_id"] != experiment_id:
        return None, f"run {run_id} belongs to another experiment"
    if info["tags"].get("nbgov.kind") != "task":
        return None, f"run {run_id} is not an nbgov task run"
    record = registry.lineage_record(run_id)
    if record is None or record.get("run_id") != run_id:
        return None, f"task run {run_id} has no lineage record of its own"
    for entry in record.get("registered_models") or []:
        if (entry.get("name"), str(entry.get("version"))) != (model.name, model.version):
            continue
        claimed = entry.get("run_id") or run_id
        if claimed != source:
            return None, (
                f"task run {run_id} registered version {model.version} from run {claimed}, "
                f"not from {source}"
            )
        product = (record.get("products") or {}).get(entry.get("product") or "") or {}
        if not entry.get("digest") or product.get("digest") != entry["digest"]:
            return None, f"task run {run_id}'s record of version {model.version} does not match its product"
        return str(record.get("task") or info["tags"].get("nbgov.task")), ""
    return None, f"the lineage record of task run {run_id} names no registration of {model.uri}"


def bound_origin(registry: Registry, model: ModelVersion, experiment: str) -> Origin:
    """The nbgov task run of experiment ``experiment`` that registered ``model`` (see the
    module's docstring for what binds them), or why there is none.

    Raises:
        TrackingError: the store is unreachable.
    """
    source, why = _source_run(registry, model)
    if source is None:
        return Origin(None, None, reason=_unbound(model, experiment, why))
    experiment_id = registry.experiment_id(experiment)
    if experiment_id is None:
        return Origin(None, source, reason=_unbound(
            model, experiment, f"the tracking store has no experiment {experiment!r}"))
    info = registry.run_info(source)
    if info is None:
        return Origin(None, source, reason=_unbound(
            model, experiment, f"its source run {source} does not exist in this store"))
    if info["experiment_id"] != experiment_id:
        return Origin(None, source, reason=_unbound(
            model, experiment, f"its source run {source} belongs to another experiment "
            f"(id {info['experiment_id']})"))
    misses = []
    for run_id in _candidates(registry, model, info, experiment_id):
        task, miss = _vouches(registry, run_id, model, source, experiment_id)
        if task is not None:
            return Origin(run_id, source, task)
        misses.append(miss)
    found = f"; checked: {', '.join(misses[:3])}" if misses else ""
    return Origin(None, source, reason=_unbound(
        model, experiment, f"no nbgov task run's lineage record names it with its source run "
        f"{source} ({info['name'] or 'unnamed'}){found}"))


def _unbound(model: ModelVersion, experiment: str, why: str | None) -> str:
    return (
        f"{model.uri} is not bound to an nbgov task run of experiment {experiment!r}: {why}; "
        "tags such as nbgov.run_id are descriptive, never proof"
    )

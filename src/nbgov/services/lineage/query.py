"""``nbgov lineage TARGET``: the upstream graph of a product file, a task, an MLflow run or a
registered model version, from lineage records.

Records are read next to the products first (``products/<task>.lineage.json``) and from the
tracking store otherwise (each task run's ``nbgov/lineage.json`` artifact), so a query works on
another machine as long as the tracking store is reachable. The JupyterLab server extension
calls :func:`lineage` and returns its dict as JSON.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any

from nbgov.adapters.mlflow.lineage_store import VERSION_RUN_TAG, LineageStore
from nbgov.adapters.mlflow.stores import check_reachable
from nbgov.adapters.specfile import read_spec
from nbgov.core.config import Config
from nbgov.core.digest import file_digest
from nbgov.core.errors import LineageError, TrackingError
from nbgov.core.lineage import RECORD_SUFFIX, REGISTERED_MODEL_PRODUCT, SCHEMA
from nbgov.core.lineage_graph import build_graph, model_node, walk
from nbgov.core.plan import relative
from nbgov.core.redact import safe_uri
from nbgov.services.pipeline.plan import plan_tasks

PAYLOAD_SCHEMA = "nbgov.lineage/1"
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
#: The product key of a task that registers a model version: a JSON file ``{"name", "version"}``.
REGISTERED_MODEL_KEY = REGISTERED_MODEL_PRODUCT
TARGET_HINT = (
    "give a product path (products/model.pkl), a task name, an MLflow run id, "
    "or models:/NAME/VERSION | models:/NAME@ALIAS"
)


class _Records:
    """Lineage records of one project: local files first, then the tracking store (lazily)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.by_run: dict[str, dict[str, Any]] = {}
        # runs kept in the local journal have no run id until `nbgov sync`: found by their key
        self.by_key: dict[str, dict[str, Any]] = {}
        self.by_task: dict[str, dict[str, Any]] = {}
        self.kinds: dict[str, tuple[str, str | None]] = {}
        self.tasks = _spec_tasks(config, self.kinds)
        for folder in sorted(
            {(config.root / nb).parent for nb, _ in self.tasks.values() if nb}
            | {(config.root / p).parent for _, ps in self.tasks.values() for p in ps.values()
               if p and "{{" not in p}
            | {config.root / "products"}
        ):
            for path in sorted(folder.glob(f"*{RECORD_SUFFIX}")) if folder.is_dir() else []:
                try:
                    record = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue
                if isinstance(record, dict) and record.get("schema") == SCHEMA:
                    self.by_task.setdefault(record.get("task"), record)
                    if record.get("run_id"):
                        self.by_run[record["run_id"]] = record
                    if record.get("run_key"):
                        self.by_key[record["run_key"]] = record
        self._store: LineageStore | None = None

    @property
    def store(self) -> LineageStore:
        if self._store is None:
            self._store = LineageStore(self.config.resolved_tracking_uri())
        return self._store

    def fetch(self, run_id: str) -> tuple[dict[str, Any] | None, str]:
        """A run's record and where it came from (``local`` | ``mlflow``); ``run_id`` may be a
        run key (``<build>/<task>``) of a run not yet synced, which only local records hold."""
        if run_id in self.by_run:
            return self.by_run[run_id], "local"
        if run_id in self.by_key:
            return self.by_key[run_id], "local"
        if "/" in run_id:  # a run key, never an MLflow run id: the store cannot know it yet
            return None, ""
        return self.store.record(run_id), "mlflow"


def _spec_tasks(config: Config, kinds: dict[str, tuple[str, str | None]] | None = None,
                ) -> dict[str, tuple[str | None, dict[str, str]]]:
    """task name -> (its lineage record or executed-notebook product, {key: product path});
    ``kinds`` is filled with task name -> (task kind, function dotted path or None).

    From the build plan first: the names and paths Ploomber rendered (grid tasks such as
    ``fit-0``, ``{{placeholders}}`` in product paths filled); then any task of the spec as
    written that the plan does not name (a plan older than the spec, or none yet).
    """

    out: dict[str, tuple[str | None, dict[str, str]]] = {}
    found = plan_tasks(config, stale_ok=True)
    for info in found[0] if found is not None else []:
        if kinds is not None:
            kinds[info.name] = (info.kind, info.function)
        record = info.record or info.notebook_product
        out[info.name] = (relative(record, config.root) if record else None,
                          {k: relative(p, config.root) or str(p) for k, p in info.products.items()})
    if not config.pipeline_path.is_file():
        return out
    for task in read_spec(config.pipeline_path).tasks:
        if task.name in out or "[[" in task.name:
            continue
        products = task.product if isinstance(task.product, dict) else {"nb": task.product}
        products = {str(k): str(v) for k, v in (products or {}).items()}
        out[task.name] = (products.get("nb"), products)
        if kinds is not None and not task.is_file:
            kinds[task.name] = ("function", task.source)
    return out


def _unrecorded(records: _Records, tasks: list[str]) -> LineageError | None:
    """A LineageError saying what to do when ``tasks`` have products on disk but nbgov has no
    record of them and no tracking store to look in (a project built by ``ploomber build``)."""

    built = [t for t in tasks if any(
        p and (records.config.root / p).exists() for p in records.tasks.get(t, (None, {}))[1].values())]
    if not built:
        return None
    try:
        check_reachable(records.config.resolved_tracking_uri())
    except TrackingError:
        return LineageError(
            f"{', '.join(built)}: products exist but there is no lineage record of them "
            "(built by `ploomber build`, without nbgov?)",
            hint="record them with `nbgov build --force` (runs the tasks again, tracked)",
        )
    return None


def classify(target: str, tasks: set[str], root: Path, base: Path | None = None) -> str:
    """``model`` | ``task`` | ``run`` | ``product`` for a query target (see TARGET_HINT);
    a relative path is looked up in ``base`` (default: the working folder) and ``root``."""
    if target.startswith("models:/"):
        return "model"
    if target in tasks:
        return "task"
    if _RUN_ID.match(target):
        return "run"
    if "/" in target or "." in target or (root / target).exists() \
            or ((base if base is not None else Path.cwd()) / target).exists():
        return "product"
    close = difflib.get_close_matches(target, sorted(tasks), n=1)
    raise LineageError(
        f"unknown lineage target {target!r}: not a task of the pipeline "
        f"({', '.join(sorted(tasks)) or 'none'}), a run id, a model URI or a file",
        hint=f"did you mean `nbgov lineage {close[0]}`?" if close else TARGET_HINT,
    )


def lineage(config: Config, target: str, base: Path | None = None,
            own_runs_only: bool = False) -> dict[str, Any]:
    """The upstream graph of ``target`` as a JSON-ready dict (schema ``nbgov.lineage/1``).

    Args:
        config: the project configuration (tracking URI, pipeline).
        target: a product path, a task name, an MLflow run id, ``models:/NAME/VERSION`` or
            ``models:/NAME@ALIAS``.
        base: where a relative product path is looked up before the project root, and the
            folder every product path must stay in (symlinks followed); None: the working
            folder, unconfined (the CLI). The server passes its root: it never consults its
            own working folder, and never reads a file outside the root or one that is not
            regular (a FIFO would block).
        own_runs_only: a run id must name a run of the project's experiment (the server: a
            reply never describes another project's runs).

    Returns:
        ``{"schema", "target": {"text", "kind", ...}, "model", "roots", "nodes", "missing",
        "warnings", "tracking_uri"}``; see :mod:`nbgov.core.lineage_graph` for nodes.

    Raises:
        LineageError: an unknown target, or one no recorded run explains.
        TrackingError: the tracking store is needed and unreachable.
    """
    target = (target or "").strip()
    if not target:
        raise LineageError("no lineage target given", hint=TARGET_HINT)
    records = _Records(config)
    kind = classify(target, set(records.tasks), config.root, base)
    warnings: list[str] = []
    model = None
    info: dict[str, Any] = {"text": target, "kind": kind}
    if kind == "model":
        model, starts = _model_starts(records, target)
        info["model_uri"] = model["uri"]
    elif kind == "task":
        starts = [_task_start(records, target)]
    elif kind == "run":
        starts = _run_starts(records, target, own_runs_only)
    else:
        start, info["path"], info["digest"] = _product_start(records, target, warnings, base)
        starts = [start]
    graph = build_graph(starts, records.fetch)
    _name_kinds(graph, records.kinds)
    if model is not None:
        node = model_node(model, graph["roots"])
        graph["nodes"][node["key"]] = node
        graph["roots"] = [node["key"]]
    missing = [k for k in walk(graph) if graph["nodes"][k]["kind"] == "missing"]

    return {
        "schema": PAYLOAD_SCHEMA,
        "target": info,
        "model": model,
        "roots": graph["roots"],
        "nodes": graph["nodes"],
        "missing": missing,
        "warnings": warnings,
        "tracking_uri": safe_uri(config.resolved_tracking_uri()),
    }


def _name_kinds(graph: dict[str, Any], kinds: dict[str, tuple[str, str | None]]) -> None:
    """Give each task node its task kind and, for a function task, the function it runs (from
    the record when it says, else from the build plan): a function task has no notebook."""
    for node in graph["nodes"].values():
        if node.get("kind") != "task":
            continue
        kind, function = kinds.get(node.get("task"), ("notebook", None))
        node.setdefault("task_kind", kind)
        node.setdefault("function", function)


def _task_start(records: _Records, task: str) -> tuple[dict[str, Any], str]:
    if task in records.by_task:
        return records.by_task[task], "local"
    unrecorded = _unrecorded(records, [task])
    if unrecorded is not None:
        raise unrecorded
    # products and records not on this machine: the task's newest successful run in the store
    fallback = None
    for run_id in records.store.task_runs(task, records.config.experiment):
        record = records.store.record(run_id)
        if record and record.get("outcome") == "succeeded":
            return record, "mlflow"
        fallback = fallback or record
    if fallback:
        return fallback, "mlflow"
    raise LineageError(
        f"task {task!r} has no recorded run (no {task}{RECORD_SUFFIX} next to its products, "
        f"none in {records.store.uri})",
        hint="run `nbgov build` first",
    )


def _run_starts(records: _Records, run_id: str,
                own_runs_only: bool = False) -> list[tuple[dict[str, Any], str]]:
    if run_id in records.by_run:  # the project's own record, next to its products
        return [(records.by_run[run_id], "local")]
    run = records.store.run(run_id) if own_runs_only else None
    if own_runs_only and (run is None or run["experiment_id"]
                          not in records.store.experiment_ids(records.config.experiment)):
        raise LineageError(
            f"no run {run_id} in the project's experiment {records.config.experiment!r}",
            hint=TARGET_HINT,
        )
    record, origin = records.fetch(run_id)
    if record is not None:
        return [(record, origin)]
    run = run or records.store.run(run_id)
    if run is None:
        raise LineageError(
            f"no run {run_id} in tracking store {records.store.uri}", hint=TARGET_HINT
        )
    if run["tags"].get("nbgov.kind") == "build":
        # a build's parent run: the tasks it ran that no other task of the build consumed
        children = [
            records.store.record(r)
            for r in records.store.search(
                f"tags.`mlflow.parentRunId` = '{run_id}'", max_results=500
            )
        ]
        children = [c for c in children if c]
        consumed = {u.get("run_id") for c in children for u in c.get("upstream") or []}
        sinks = [(c, "mlflow") for c in children if c.get("run_id") not in consumed]
        if sinks:
            return sinks
    raise LineageError(
        f"run {run_id} ({run['name']}) has no nbgov lineage record",
        hint="runs recorded by `nbgov build` (or `ploomber build` with nbgov's hooks) have lineage",
    )


def _model_starts(
    records: _Records, uri: str
) -> tuple[dict[str, Any], list[tuple[dict[str, Any], str]]]:
    model = records.store.model_version(uri)
    run_ids = [model["tags"][VERSION_RUN_TAG]] if model["tags"].get(VERSION_RUN_TAG) else []
    run_ids += records.store.registering_runs(model["uri"])
    if model["run_id"]:
        run_ids.append(model["run_id"])
    for run_id in dict.fromkeys(run_ids):
        record, origin = records.fetch(run_id)
        if record is not None:
            return model, [(record, origin)]
    raise LineageError(
        f"{model['uri']} has no nbgov lineage: no task run registered it "
        f"(run {model['run_id'] or '-'} has no lineage record)",
        hint="register models from a pipeline task that glues "
        "`registered_model` (see notebooks/register.ipynb)",
    )


#: The most files a folder target may hold when the query is confined (a server GET).
MAX_FOLDER_FILES = 10_000


def _confined_digest(path: Path, base: Path | None) -> str | None:
    """The digest of ``path`` (None: nothing there). With ``base``: only a regular file or a
    folder inside ``base`` whose files are regular, inside ``base`` and at most
    :data:`MAX_FOLDER_FILES` (a symlink leading out, a FIFO or a device is refused)."""
    if not path.exists():
        return None
    if base is None:
        return file_digest(path)
    real, base = path.resolve(), base.resolve()

    def inside(p: Path) -> bool:
        return p == base or base in p.parents

    if not inside(real):
        raise LineageError(f"{path.name}: outside the server root", hint=TARGET_HINT)
    if real.is_dir():
        count = 0
        for sub in real.rglob("*"):
            count += 1
            if count > MAX_FOLDER_FILES:
                raise LineageError(f"{path.name}: more than {MAX_FOLDER_FILES} files to digest",
                                   hint="name one product file")
            if sub.is_symlink() and not inside(sub.resolve()):
                raise LineageError(f"{sub.relative_to(real).as_posix()} in {path.name}: a symbolic "
                                   "link leading outside the server root", hint=TARGET_HINT)
            if sub.exists() and not (sub.is_file() or sub.is_dir()):
                raise LineageError(f"{sub.relative_to(real).as_posix()} in {path.name}: not a "
                                   "regular file", hint=TARGET_HINT)
    elif not real.is_file():
        raise LineageError(f"{path.name}: not a regular file", hint=TARGET_HINT)
    return file_digest(real)


def _product_start(
    records: _Records, target: str, warnings: list[str], base: Path | None = None
) -> tuple[tuple[dict[str, Any], str], str, str | None]:
    root = records.config.root
    path = Path(target)
    if not path.is_absolute():
        first = base if base is not None else Path.cwd()
        path = first / path if (first / path).exists() else root / path
    try:
        rel = path.resolve().relative_to(root).as_posix()
    except ValueError:
        rel = path.as_posix()
    digest = _confined_digest(path, base)
    producers = [
        r
        for r in records.by_task.values()
        if any(p.get("path") == rel for p in (r.get("products") or {}).values())
    ]
    for record in producers:
        recorded = next(
            p.get("digest") for p in record["products"].values() if p.get("path") == rel
        )
        if digest is None:
            warnings.append(f"{rel} does not exist any more; showing the run that last produced it")
            return (record, "local"), rel, recorded
        if recorded == digest:
            return (record, "local"), rel, digest
    if digest is None:
        raise LineageError(
            f"{target} does not exist and no lineage record names it as a product", hint=TARGET_HINT
        )
    # not produced by the local record (changed since, or records not on this machine): look for
    # the task's runs in the store whose product has exactly this content
    tasks = [name for name, (_, products) in records.tasks.items() if rel in products.values()]
    unrecorded = _unrecorded(records, [t for t in tasks if t not in records.by_task])
    if unrecorded is not None:
        raise unrecorded
    for task in tasks:
        for run_id in records.store.task_runs(task, records.config.experiment):
            record = records.store.record(run_id)
            if record and any(
                p.get("digest") == digest for p in (record.get("products") or {}).values()
            ):
                return (record, "mlflow"), rel, digest
    changed = (
        f" (the last run of {', '.join(r['task'] for r in producers)} produced other content)"
        if producers
        else ""
    )
    raise LineageError(
        f"{rel} was not produced by any recorded run: no record has its content "
        f"digest {digest}{changed}",
        hint="rebuild it with `nbgov build`; a file edited by hand has no lineage",
    )


def link_registered_models(config: Config, run_ids: list[str]) -> list[str]:
    """Tag each model version registered by one of ``run_ids`` with its lineage.

    A task registers a model when it declares a ``registered_model`` product: a JSON file
    ``{"name": ..., "version": ...}``. The version gets tags naming the registering run, every
    upstream run, each notebook's version and review status and the source data digests, so
    the lineage is readable from the model registry alone.

    Returns:
        The ``models:/NAME/VERSION`` URIs tagged.
    """
    records = _Records(config)
    linked = []
    for run_id in run_ids:
        record = records.by_run.get(run_id)
        product = ((record or {}).get("products") or {}).get(REGISTERED_MODEL_KEY)
        if not product or record.get("outcome") != "succeeded":
            continue
        try:
            reg = json.loads((config.root / product["path"]).read_text(encoding="utf-8"))
            name, version = str(reg["name"]), str(reg["version"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        graph = build_graph([(record, "local")], records.fetch)
        nodes = [graph["nodes"][k] for k in walk(graph)]
        tasks = [n for n in nodes if n["kind"] == "task"]
        sources = [n for n in tasks if not n["upstream"]]
        data = {
            f"{n['task']}.{k}": p.get("digest")
            for n in sources
            for k, p in (n.get("products") or {}).items()
            if k != "nb"
        }
        records.store.tag_model_version(
            name,
            version,
            {
                VERSION_RUN_TAG: run_id,
                "nbgov.lineage.runs": ",".join(n["run_id"] for n in tasks if n["run_id"]),
                "nbgov.lineage.notebooks": json.dumps(
                    {
                        n[
                            "task"
                        ]: f"{n['notebook'].get('version')} {n['notebook'].get('review_status')}"
                        for n in tasks
                    },
                    sort_keys=True,
                ),
                "nbgov.lineage.data_digest": json.dumps(data, sort_keys=True),
                "nbgov.git_commit": str((record.get("git") or {}).get("commit")),
            },
        )
        linked.append(f"models:/{name}/{version}")
    return linked

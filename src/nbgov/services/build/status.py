"""The state of a pipeline: each task's build state, review status and last run.

Used by ``nbgov status`` and by the JupyterLab server extension (``GET nbgov/api/pipeline``).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from nbgov.adapters.ploomber import Pipeline, TaskInfo
from nbgov.adapters.specfile import read_spec
from nbgov.core.config import Config
from nbgov.core.errors import LineageError
from nbgov.core.lineage import LineageRecord, read_record
from nbgov.services.build.fastpath import NEVER_RUN_KINDS, fresh_records, verdicts
from nbgov.services.pipeline.plan import plan_tasks, spec_tasks, write_plan
from nbgov.services.recording.sync import pending_runs
from nbgov.services.review.state import review_states

STATES = ("up-to-date", "outdated", "failed", "never-run")
#: The state the server gives a task whose products or record lie outside its root (never read).
OUTSIDE = "outside the server root"


def _rel(config: Config, path: Path) -> str:
    try:
        return Path(path).resolve().relative_to(config.root).as_posix()
    except ValueError:
        return Path(path).as_posix()


def task_state(task: TaskInfo, record: LineageRecord | None, fresh: bool | None = None) -> str:
    """up-to-date / outdated / failed / never-run, from the last record and, where nbgov has no
    content verdict (``fresh`` None), Ploomber's timestamp view."""
    if record is not None and record.outcome == "failed":
        return "failed"
    if not any(p.exists() for p in task.products.values()) and record is None:
        return "never-run"
    outdated = task.outdated if fresh is None else not fresh
    return "outdated" if outdated else "up-to-date"


def last_run(record: LineageRecord | None) -> dict[str, Any] | None:
    """The API/CLI form of a task's last recorded run."""
    if record is None:
        return None
    return {"run_id": record.run_id, "outcome": record.outcome, "metrics": record.metrics,
            "started": record.started, "ended": record.ended, "duration_s": record.duration_s,
            "error": record.error, "notebook_version": record.notebook.get("version"),
            # written while the store was unreachable: in the journal, not yet in MLflow
            "synced": bool(record.run_id) or not record.run_key}


def pipeline_state(config: Config, pipeline: Pipeline | None = None, *,
                   load: bool = True, confine: Path | None = None) -> dict[str, Any]:
    """Every task with its build state, review status and last run (the ``GET pipeline`` payload).

    Answered from the cached build plan and the lineage records when the plan's key holds and
    every task has a content verdict (:mod:`nbgov.services.build.fastpath`): no Ploomber. Otherwise
    the pipeline is loaded through Ploomber (and the plan written again), unless ``load`` is
    False (the JupyterLab server: it never runs project code on a GET): then any plan on disk
    answers, marked ``"plan": "stale"``, or the spec as written (``"plan": "missing"``).

    Args:
        config: the project.
        pipeline: a loaded pipeline to describe (skips the plan).
        load: whether Ploomber may be loaded when the plan cannot answer.
        confine: read no file outside this folder (see :func:`served_state`).
    """

    plan_status = "loaded"
    infos: list[TaskInfo] | None = None
    decided: dict[str, Any] = {}
    versions: dict[str, str] = {}
    outside: dict[str, dict] = {}
    if pipeline is None:
        found = plan_tasks(config)
        if found is not None:
            infos, plan = found
            infos, outside = _confine(config, infos, confine)
            versions = plan.versions
            decided = verdicts(config, infos, versions)
            plan_status = "current"
            # a task with products but no usable record needs Ploomber's timestamp verdict
            if load and any(v.fresh is None and _has_products(t)
                            for t, v in zip(infos, decided.values(), strict=True)):
                infos = None
        elif not load:
            found = plan_tasks(config, stale_ok=True)
            if found is None:

                infos, plan_status = spec_tasks(config), "missing"
            else:
                infos, plan_status = found[0], "stale"
            infos, outside = _confine(config, infos, confine)  # the spec's or the plan's paths
            decided = verdicts(config, infos, {})
    if infos is None:
        if pipeline is None:
            pipeline = Pipeline(config.pipeline_path)
            infos = pipeline.tasks()
            write_plan(config, infos, pipeline.env_values)  # rendered with no overrides: the plan of the next status
        else:
            infos = pipeline.tasks()
        decided = verdicts(config, infos, {})
        plan_status, versions = "loaded", {}
    return _payload(config, infos, decided, plan_status, versions, outside)


def served_state(config: Config, confine: Path | None = None) -> dict[str, Any]:
    """:func:`pipeline_state` as the JupyterLab server answers it: from the build plan and the
    lineage records only, never loading Ploomber (which would run project code on a GET).

    ``confine`` (the server root; default: the project root): a task whose products, record or
    executed notebook resolve outside it (absolute or ``..`` paths in pipeline.yaml) is
    reported as :data:`OUTSIDE`, its products by name only, and none of its files is read."""
    return pipeline_state(config, load=False, confine=confine or config.root)


def _within(path: Path, folder: Path) -> bool:
    real = Path(os.path.realpath(path))
    return real == folder or folder in real.parents


def _confine(config: Config, infos: list[TaskInfo],
             folder: Path | None) -> tuple[list[TaskInfo], dict[str, dict]]:
    """``infos`` with every task that has a file outside ``folder`` emptied of its files (so
    nothing reads them), and those tasks' products by name: {task: {key: name}}."""
    if folder is None:
        return infos, {}
    folder = Path(os.path.realpath(folder))
    out, outside = [], {}
    for task in infos:
        files = [*task.products.values(), task.record, task.evidence, task.notebook_product]
        # a relative path is the project's (never the server's working folder)
        if all(_within(config.root / f, folder) for f in files if f is not None):
            out.append(task)
            continue
        outside[task.name] = {k: Path(p).name for k, p in task.products.items()}
        blank = dataclasses.replace(task, products={}, record=None, evidence=None,
                                    notebook_product=None)
        blank.record = blank.evidence = None
        if task.source_file is not None and not _within(config.root / task.source_file, folder):
            blank.source_file = None
        out.append(blank)
    return out, outside


_NO_PLAN_HINT = ("no build plan yet: tasks are shown as pipeline.yaml writes them; run `nbgov "
                 "status` or `nbgov build` in the project once")
_UNRECORDED_HINT = ("{n} task(s) have products but no nbgov lineage record ({names}), e.g. "
                    "built by `ploomber build`: record them with `nbgov build --force`")


def _has_products(task: TaskInfo) -> bool:
    return any(Path(p).exists() for p in task.products.values())


def _payload(config: Config, infos: list[TaskInfo], decided: dict[str, Any],
             plan_status: str, versions: dict[str, str],
             outside: dict[str, dict] | None = None) -> dict[str, Any]:
    outside = outside or {}

    outdated: set[str] = set()
    sources = [t.source_file for t in infos if t.source_file is not None]
    reviews = {s.path: s for s in review_states(config, list(dict.fromkeys(sources)), versions)}
    tasks, unrecorded = [], []
    for task in infos:
        record = read_record(task.record) if task.record else None
        source = _rel(config, task.source_file or task.source)
        if task.name in outside and os.path.isabs(source):
            source = Path(source).name  # a server path a reply must not show
        review = reviews.get(source)
        verdict = decided.get(task.name)
        fresh = verdict.fresh if verdict is not None else None
        if fresh is None and plan_status != "loaded":
            fresh = False  # no record and no Ploomber verdict: not known to be up to date
        if outdated & set(task.upstream):
            fresh = False
        state = task_state(task, record, fresh) if task.name not in outside else OUTSIDE
        if state != "up-to-date":
            outdated.add(task.name)
        if record is None and _has_products(task) and task.kind not in NEVER_RUN_KINDS:
            unrecorded.append(task.name)
        tasks.append({
            "name": task.name,
            "kind": task.kind,
            "source": source,
            "function": task.function,
            "group": task.group,
            "products": outside.get(task.name) or {k: _rel(config, p) for k, p in task.products.items()},
            "upstream": task.upstream,
            "state": state,
            "review": {"status": review.status, "version": review.version} if review else None,
            "last_run": last_run(record),
        })
    hints = []
    if unrecorded:
        hints.append(_UNRECORDED_HINT.format(n=len(unrecorded), names=", ".join(unrecorded[:5])
                                             + (", ..." if len(unrecorded) > 5 else "")))
    if plan_status == "missing":
        hints.append(_NO_PLAN_HINT)
    if plan_status == "stale":
        hints.append("the pipeline changed since its plan was written: states are from the last "
                     "plan; run `nbgov status` to refresh it")

    # runs journaled while the store was unreachable (`nbgov sync` sends them): the CLI's status
    # line and the JupyterLab panel's banner both read this count
    return {"pipeline": _rel(config, config.pipeline_path), "tasks": tasks, "plan": plan_status,
            "hints": hints, "unsynced": pending_runs(config)}


def _all_fresh(config: Config) -> list[TaskInfo] | None:
    """The tasks without loading Ploomber, when the plan holds and every task is fresh by
    content (see :mod:`nbgov.services.build.fastpath`); None sends the caller to Ploomber."""

    found = fresh_records(config)
    return None if found is None else found[0]


def task_for_notebook(config: Config, notebook: str | Path, pipeline: Pipeline | None = None) -> str | None:
    """The name of the task whose source is ``notebook`` (relative to the root), if any; the
    grid's name when several generated tasks share the source.

    Read from the build plan (any plan on disk: which file is which task rarely changes), else
    from pipeline.yaml directly (milliseconds), unless a loaded pipeline is given: the
    JupyterLab badge asks this for every notebook it shows.
    """
    target = (config.root / notebook).resolve()
    infos = None
    if pipeline is not None:
        infos = pipeline.tasks()
    else:

        found = plan_tasks(config, stale_ok=True)
        infos = found[0] if found is not None else None
    if infos is not None:
        matches = [t for t in infos if (t.source_file or t.source).resolve() == target]
        if not matches:
            return None
        groups = {t.group for t in matches}
        if len(matches) > 1 and len(groups) == 1 and None not in groups:
            return next(iter(groups))
        return matches[0].name

    spec = read_spec(config.pipeline_path)
    for task in spec.tasks:
        source = spec.source_path(task)
        if source is not None and source.resolve() == target:
            return task.name
    return None


def task_context(config: Config, notebook: str | Path) -> dict[str, Any]:
    """The values Ploomber would inject into a task notebook: its params, upstream products and
    products (absolute paths), for running it interactively."""

    pipeline = Pipeline(config.pipeline_path)
    infos = {t.name: t for t in pipeline.tasks()}
    name = task_for_notebook(config, notebook, pipeline)
    if name is None:
        raise LineageError(f"{notebook} is not a task of {config.pipeline}",
                           hint="add it to pipeline.yaml to run it with pipeline values")
    task = infos[name]

    def paths(t: TaskInfo) -> dict[str, str]:
        return {k: str(p) for k, p in t.products.items()}

    return {"task": name, "params": task.params,
            "upstream": {up: paths(infos[up]) for up in task.upstream}, "product": paths(task)}

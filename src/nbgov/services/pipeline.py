"""The state of a pipeline: each task's build state, review status and last run.

Used by ``nbgov status`` and by the JupyterLab server extension (``GET nbgov/api/pipeline``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nbgov.adapters.ploomber import Pipeline, TaskInfo
from nbgov.core.config import Config
from nbgov.core.lineage import LineageRecord, read_record

STATES = ("up-to-date", "outdated", "failed", "never-run")


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


def pipeline_state(config: Config, pipeline: Pipeline | None = None) -> dict[str, Any]:
    """Every task with its build state, review status and last run (the ``GET pipeline`` payload)."""
    from nbgov.services.build import content_check
    from nbgov.services.review import review_states

    infos = _all_fresh(config) if pipeline is None else None
    if infos is not None:
        def check(name: str, ran: set[str]) -> bool | None:  # every task is fresh by content
            return True
    else:
        pipeline = pipeline or Pipeline(config.pipeline_path)
        infos = pipeline.tasks()
        # the same content-aware verdict the next build will reach (an upstream that would
        # re-run makes its downstream outdated too)
        check = content_check(config, infos)
    outdated: set[str] = set()
    reviews = {s.path: s for s in review_states(config, [t.source for t in infos])}
    tasks = []
    for task in infos:
        record = read_record(task.record) if task.record else None
        source = _rel(config, task.source)
        review = reviews.get(source)
        fresh = check(task.name, set())
        if outdated & set(task.upstream):
            fresh = False
        state = task_state(task, record, fresh)
        if state != "up-to-date":
            outdated.add(task.name)
        tasks.append(task_entry(config, task.name, source, task.products, task.upstream, state, review, record))
    from nbgov.services.recording.sync import pending_runs

    return {"pipeline": _rel(config, config.pipeline_path), "tasks": tasks, "unsynced": pending_runs(config)}


def task_entry(config: Config, name: str, source: str | None, products: dict[str, Path],
               upstream: list[str], state: str, review: Any, record: LineageRecord | None) -> dict[str, Any]:
    """One task of the ``GET pipeline`` payload / ``nbgov status --json``."""
    return {
        "name": name,
        "source": source,
        "products": {k: _rel(config, p) for k, p in products.items()},
        "upstream": upstream,
        "state": state,
        "review": {"status": review.status, "version": review.version} if review else None,
        "last_run": last_run(record),
    }


def _all_fresh(config: Config) -> list[TaskInfo] | None:
    """The tasks without loading Ploomber, when every one is fresh by content (the usual state
    after a build; see :mod:`nbgov.services.fastpath`); None sends the caller to Ploomber."""
    from nbgov.services.fastpath import fresh_records

    found = fresh_records(config)
    if found is None:
        return None
    specs, records = found
    return [TaskInfo(name=t["name"], source=t["source"], products=t["products"], params=t["params"],
                     upstream=[u["task"] for u in records[t["name"]].upstream], outdated=False,
                     notebook_product=t["products"]["nb"]) for t in specs]


def task_for_notebook(config: Config, notebook: str | Path, pipeline: Pipeline | None = None) -> str | None:
    """The name of the task whose source is ``notebook`` (relative to the root), if any.

    Read from pipeline.yaml directly (milliseconds) unless a loaded pipeline is given: the
    JupyterLab badge asks this for every notebook it shows.
    """
    target = (config.root / notebook).resolve()
    if pipeline is not None:
        return next((t.name for t in pipeline.tasks() if t.source.resolve() == target), None)
    from nbgov.adapters.specfile import read_spec

    spec = read_spec(config.pipeline_path)
    for task in spec.tasks:
        source = spec.source_path(task)
        if source is not None and source.resolve() == target:
            return task.name
    return None


def task_context(config: Config, notebook: str | Path) -> dict[str, Any]:
    """The values Ploomber would inject into a task notebook: its params, upstream products and
    products (absolute paths), for running it interactively."""
    from nbgov.core.errors import LineageError

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

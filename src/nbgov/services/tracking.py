"""Record a build: one MLflow parent run, one child run per executed task, one lineage record each.

Both ``nbgov build`` and ``ploomber build`` (through :mod:`nbgov.hooks`) end here, so they record
the same thing. Recording happens in the main process after the tasks ran, reading what each
executed notebook says (scraps, papermill timings, the failing cell): no tracking call runs
inside a worker process or a kernel.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from nbgov.adapters.environment import environment_fingerprint, git_state
from nbgov.adapters.mlflow import RunData, Tracker
from nbgov.adapters.notebooks import read_notebook
from nbgov.adapters.ploomber import TaskInfo
from nbgov.core.config import Config
from nbgov.core.digest import file_digest
from nbgov.core.errors import NbgovError
from nbgov.core.executed import Execution, read_execution, split_scraps
from nbgov.core.identity import notebook_version
from nbgov.core.lineage import LineageRecord, read_record, record_path, write_record

#: Parameter names whose values are never sent to the tracking store.
_SECRET_NAME = re.compile(r"pass(word|wd)?|secret|token|api[_-]?key|credential|private[_-]?key", re.I)
REDACTED = "***redacted***"


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
    """Parameters as MLflow strings, with secret-looking names redacted."""
    out = {}
    for name, value in params.items():
        if _SECRET_NAME.search(name):
            out[name] = REDACTED
        else:
            out[name] = value if isinstance(value, str) else json.dumps(value, default=str)
    return out


def safe_uri(uri: str) -> str:
    """A tracking URI without user:password, fit for a tag or a log line."""
    parts = urlsplit(uri)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return uri


def _iso(dt: datetime | None) -> str | None:
    return dt.astimezone(timezone.utc).isoformat() if dt else None


def _ms(dt: datetime | None, default: int) -> int:
    return int(dt.timestamp() * 1000) if dt else default


class BuildRecorder:
    """Records one build of a pipeline.

    Args:
        config: the project configuration (tracking URI, experiment).
        tasks: the pipeline's tasks (from the Ploomber adapter), in topological order.
        runner: ``"nbgov build"`` or ``"ploomber build"``.
    """

    def __init__(self, config: Config, tasks: list[TaskInfo], runner: str = "nbgov build",
                 build_id: str | None = None) -> None:
        self.config = config
        self.tasks = {t.name: t for t in tasks}
        self.order = [t.name for t in tasks]
        self.runner = runner
        # a shared build id (``--build-id``): this process records some tasks of a build that
        # others record too, under one parent run it finds or creates and never ends
        self.shared = build_id is not None
        self.build_id = build_id or uuid.uuid4().hex
        self.started_ms = int(time.time() * 1000)
        self.tracker = Tracker(config.resolved_tracking_uri(), config.experiment, config.artifact_root())

    def prepare(self) -> None:
        """Create the store and experiment now, in this (main) process, before any worker starts."""
        self.tracker.prepare()

    def record(self, outcomes: dict[str, str], review_status: dict[str, str] | None = None,
               errors: dict[str, str | None] | None = None) -> BuildRecord:
        """Record every task whose outcome is ``ran`` or ``failed`` (in pipeline order).

        Args:
            outcomes: task name -> ``ran`` | ``skipped`` | ``failed`` | ``not-run``.
            review_status: task source path (posix, relative to the root) -> review status at
                run time; looked up from the ledger when not given.
            errors: task name -> the runner's account of a failure (used when the executed
                notebook records none, e.g. a timeout or a dead kernel).
        """
        build = BuildRecord(self.build_id)
        todo = [n for n in self.order if outcomes.get(n) in ("ran", "failed")]
        if not todo:
            return build
        review_status = dict(review_status or {})
        # tasks the caller did not foresee (e.g. forced by a content change) are looked up now
        missing = [n for n in todo if self.rel(self.tasks[n].source) not in review_status]
        if missing:
            review_status.update(self.review_statuses(missing))
        git = git_state(self.config.root)
        env = environment_fingerprint(str(self.config.root))
        failed = any(outcomes[n] == "failed" for n in todo)
        if self.shared:
            build.parent_run_id = open_build(self.config, self.build_id, self.runner, git)
        else:
            build.parent_run_id = self.tracker.start_parent(
                f"build {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S}",
                {"nbgov.kind": "build", "nbgov.build_id": self.build_id, "nbgov.runner": self.runner,
                 "nbgov.pipeline": self.config.pipeline, "nbgov.git_commit": str(git["commit"]),
                 "nbgov.git_dirty": str(git["dirty"]), "nbgov.tasks": ",".join(todo)},
                self.started_ms,
            )
        uploads = []
        for name in todo:
            build.tasks[name], data = self._record_task(self.tasks[name], outcomes[name], build.parent_run_id,
                                                        review_status, git, env, (errors or {}).get(name))
            uploads.append((build.tasks[name].run_id, data))
        self._complete(uploads)
        if not self.shared:  # a shared build's parent is ended by `nbgov close-build`
            self.tracker.end_run(build.parent_run_id, "FAILED" if failed else "FINISHED", int(time.time() * 1000))
        return build

    def _complete(self, uploads: list[tuple[str, RunData]]) -> None:
        """Fill the created runs. Over HTTP each call is a round trip, so runs are completed
        side by side in a few threads; a local store is written in order (SQLite has one writer)."""
        remote = self.tracker.uri.startswith(("http://", "https://"))
        if not remote or len(uploads) < 2:
            for run_id, data in uploads:
                self.tracker.complete_run(run_id, data)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(4, len(uploads))) as pool:
            # list() re-raises the first TrackingError of any upload
            list(pool.map(lambda item: self.tracker.complete_run(*item), uploads))

    def review_statuses(self, names: list[str]) -> dict[str, str]:
        """Review status of each task's notebook, read once from the ledger."""
        from nbgov.services.review import review_states

        paths = [self.tasks[n].source for n in names]
        return {self.rel(Path(s.path) if Path(s.path).is_absolute() else self.config.root / s.path): s.status
                for s in review_states(self.config, paths)}

    def rel(self, path: Path) -> str:
        """A path relative to the project root (posix), or absolute when outside it."""
        try:
            return Path(path).resolve().relative_to(self.config.root).as_posix()
        except ValueError:
            return Path(path).as_posix()

    def _record_task(self, task: TaskInfo, outcome: str, parent_run_id: str, review_status: dict[str, str],
                     git: dict, env: dict, runner_error: str | None = None) -> tuple[TaskRecord, RunData]:
        executed_path = task.notebook_product
        execution = Execution()
        if executed_path and executed_path.is_file():
            try:
                execution = read_execution(read_notebook(executed_path))
            except NbgovError:
                pass  # a kernel that died mid-write leaves no readable notebook; the run still counts
        source_nb = read_notebook(task.source)
        version = notebook_version(source_nb)
        source_rel = self.rel(task.source)
        status = review_status.get(source_rel, "unknown")
        error = None
        if outcome == "failed":
            error = str(execution.error) if execution.error else (runner_error or "task failed (no error recorded)")
        metrics, scrap_tags, scrap_other = split_scraps(execution.scraps)
        now_ms = int(time.time() * 1000)
        start_ms = _ms(execution.start, self.started_ms)
        end_ms = _ms(execution.end, now_ms)

        upstream, inputs = [], []
        for up in task.upstream:
            up_task = self.tasks[up]
            up_record = read_record(record_path(up_task.notebook_product)) if up_task.notebook_product else None
            upstream.append({"task": up, "run_id": up_record.run_id if up_record else None})
            for key, path in up_task.products.items():
                if path == up_task.notebook_product or not path.exists():
                    continue
                inputs.append({"task": up, "key": key, "path": self.rel(path), "digest": file_digest(path)})
        products = {}
        for key, path in task.products.items():
            exists = path.exists()
            products[key] = {"path": self.rel(path), "digest": file_digest(path) if exists else None,
                             "bytes": path.stat().st_size if exists and path.is_file() else None}

        tags = {
            "nbgov.kind": "task", "nbgov.task": task.name, "nbgov.notebook": source_rel,
            "nbgov.notebook_version": version, "nbgov.review_status": status,
            "nbgov.git_commit": str(git["commit"]), "nbgov.git_dirty": str(git["dirty"]),
            "nbgov.build_id": self.build_id, "nbgov.runner": self.runner,
            "nbgov.outcome": "succeeded" if outcome == "ran" else "failed",
            **{f"scrap.{k}": v for k, v in scrap_tags.items()},
        }
        if error:
            tags["nbgov.error"] = error
        run_id = self.tracker.create_run(task.name, start_ms, parent_run_id)
        record = LineageRecord(
            task=task.name,
            notebook={"path": source_rel, "version": version, "review_status": status},
            params=task.params, upstream=upstream, inputs=inputs, products=products, git=git,
            environment=env, started=_iso(execution.start), ended=_iso(execution.end),
            duration_s=execution.duration_s, outcome="succeeded" if outcome == "ran" else "failed",
            error=error, metrics=metrics, run_id=run_id, parent_run_id=parent_run_id, build_id=self.build_id,
            tracking_uri=safe_uri(self.tracker.uri), experiment=self.tracker.experiment, runner=self.runner,
        )
        json_artifacts: dict[str, Any] = {"nbgov/lineage.json": record.to_dict()}
        if scrap_other:
            json_artifacts["scraps.json"] = scrap_other
        artifacts: list[tuple[Path, str | None]] = []
        if executed_path and executed_path.is_file():
            artifacts.append((executed_path, "notebook"))
        artifacts += [(p, "products") for k, p in task.products.items() if p != executed_path and p.exists()]
        datasets = [{"name": f"{i['task']}.{i['key']}", "digest": i["digest"].split(":")[-1],
                     "source": i["path"], "context": "input"} for i in inputs]
        data = RunData(
            name=task.name, params=redact_params(task.params), metrics=metrics, tags=tags,
            artifacts=artifacts, json_artifacts=json_artifacts, end_ms=end_ms,
            status="FINISHED" if outcome == "ran" else "FAILED", datasets=datasets,
        )
        # written now, before the upload: a downstream task's record names this run id
        if task.notebook_product:
            write_record(record, record_path(task.notebook_product))
        return TaskRecord(task.name, outcome, run_id, execution.duration_s, error), data


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

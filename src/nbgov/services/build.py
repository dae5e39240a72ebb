"""``nbgov build``: validate everything, gate, run with Ploomber, record as it goes, summarise.

Order of a build: take the project's build lock; send what earlier builds left in the journal
(or keep it, if the store is down); load and check the pipeline; gate; run every task through
nbgov's executor, which tells the :class:`Recorder` when each task starts and ends (journal
first, store second); close the build, saying how many runs wait for ``nbgov sync``.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from nbgov.adapters.ploomber import Pipeline, TaskInfo
from nbgov.core import interrupts
from nbgov.core.config import Config
from nbgov.core.errors import ConfigError, Location, ParameterError, PipelineError
from nbgov.core.params import parse_assignment

#: ``--cluster none``: run here, whatever ``[execution] cluster`` says (a Dask worker's own build).
LOCAL = "none"


@dataclass
class BuildOptions:
    """What the user asked for (``nbgov build`` options)."""

    force: bool = False
    tasks: list[str] | None = None  # a selection; None = the whole pipeline
    downstream: bool = False  # with tasks: also everything downstream of them
    jobs: int | None = None
    env: list[str] = field(default_factory=list)  # NAME=VALUE
    params: list[str] = field(default_factory=list)  # TASK.NAME=VALUE
    require_approved: bool | None = None
    environment: str | None = None  # a named environment from nbgov.toml, e.g. prod
    progress: bool = True
    wait: bool = False  # wait for another build of the project to end instead of refusing
    build_id: str | None = None  # join a build shared by several processes (engine tasks)
    cluster: str | None = None  # a Dask scheduler address, local:N (services.cluster), or LOCAL


@dataclass
class TaskSummary:
    """One line of the build summary."""

    task: str
    outcome: str  # ran | skipped | failed | not-run
    seconds: float | None
    run_id: str | None
    error: str | None = None


@dataclass
class BuildSummary:
    """The result of a build."""

    tasks: list[TaskSummary]
    parent_run_id: str | None
    failed: bool
    wall_s: float
    tracking_uri: str
    pending: int = 0  # runs kept in the journal for `nbgov sync` (store unreachable)
    offline_reason: str | None = None
    synced: int = 0  # runs of earlier builds sent first
    interrupted: list[str] = field(default_factory=list)  # runs of killed builds ended KILLED
    build_id: str | None = None
    warnings: list[str] = field(default_factory=list)  # Ploomber's render warnings, per task

    def to_dict(self) -> dict[str, Any]:
        return {"failed": self.failed, "wall_s": round(self.wall_s, 3), "parent_run_id": self.parent_run_id,
                "tracking_uri": self.tracking_uri, "build_id": self.build_id,
                "pending": self.pending, "offline_reason": self.offline_reason, "synced": self.synced,
                "interrupted": self.interrupted, "warnings": self.warnings,
                "tasks": [t.__dict__ for t in self.tasks]}


def executor_params(config: Config) -> dict[str, Any]:
    """Papermill settings from ``[execution]`` in nbgov.toml (timeouts in seconds)."""
    kernel = config.section("execution")
    out: dict[str, Any] = {}
    for key, target in (("cell_timeout", "execution_timeout"), ("startup_timeout", "start_timeout")):
        if key in kernel:
            value = kernel[key]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"[execution] {key} must be a positive number of seconds", Location(config.source))
            out[target] = value
    return out


def load_pipeline(config: Config, env: list[str] | None = None, params: list[str] | None = None) -> Pipeline:
    """Load the project's pipeline with ``--env`` and ``-p`` overrides applied and validated."""
    env_values = {}
    for text in env or []:
        _, key, value = parse_assignment(text, dotted=False)
        env_values[key] = value
    param_values: dict[str, dict[str, Any]] = {}
    for text in params or []:
        task, key, value = parse_assignment(text, dotted=True)
        param_values.setdefault(task, {})[key] = value
    return Pipeline(config.pipeline_path, env=env_values, params=param_values,
                    executor_params=executor_params(config))


def select_tasks(pipeline: Pipeline, tasks: list[str] | None, downstream: bool) -> list[str] | None:
    """Expand a task selection (``train`` or ``train+`` for downstream too) into task names."""
    if not tasks:
        return None
    names = pipeline.task_names
    selected: set[str] = set()
    for raw in tasks:
        name, plus = (raw[:-1], True) if raw.endswith("+") else (raw, downstream)
        if name not in names:
            raise PipelineError(f"unknown task {name!r}", Location(pipeline.spec_path),
                                hint=f"tasks: {', '.join(names)}")
        selected.update(pipeline.downstream_of(name) if plus else [name])
    return [n for n in names if n in selected]


def require_built_upstream(config: Config, infos: list[TaskInfo], selection: list[str]) -> None:
    """Refuse a selection whose tasks read an upstream that is not selected and not built
    (its products missing): the notebook would only fail on the missing file."""
    tasks = {t.name: t for t in infos}
    missing: dict[str, list[str]] = {}
    for name in selection:
        for up in tasks[name].upstream:
            if up in selection:
                continue
            absent = [p for p in tasks[up].products.values() if not p.exists()]
            if absent:
                missing.setdefault(up, []).extend(_rel(config, p) for p in absent)
    if missing:
        ups = sorted(missing)
        what = "; ".join(f"{u} ({', '.join(missing[u])} missing)" for u in ups)
        raise PipelineError(
            f"upstream task(s) not built: {what}",
            Location(config.pipeline_path),
            hint=f"build them first (nbgov build {' '.join(ups)}), or run the whole pipeline: nbgov build")


def _rel(config: Config, path) -> str:
    try:
        return path.resolve().relative_to(config.root).as_posix()
    except ValueError:
        return str(path)


def build(config: Config, options: BuildOptions) -> BuildSummary:
    """Run a build end to end; raises NbgovError for bad input or a refused gate, before running anything."""
    started = time.perf_counter()
    if options.jobs is not None and options.jobs < 1:
        raise ParameterError("--jobs must be at least 1")
    cluster = options.cluster or config.section("execution").get("cluster")
    if cluster and cluster != LOCAL:
        from dataclasses import replace

        from nbgov.services.cluster import cluster_build

        if not isinstance(cluster, str):
            raise ConfigError("[execution] cluster must be a Dask scheduler address or local:N",
                              Location(config.source))
        return cluster_build(config, replace(options, cluster=cluster))
    env_settings = config.env_settings(options.environment)
    from nbgov.core.lock import build_lock
    from nbgov.services.fastpath import noop_summary

    # a rebuild with nothing to do is decided from the lineage records, without loading Ploomber
    # (nothing is written: no lock needed); a pending journal takes the normal path (sync)
    from nbgov.services.recording.sync import pending_runs, sync_journals

    if options.build_id is None and not pending_runs(config) and not _open_journals(config):
        noop = noop_summary(config, options.force, options.tasks, options.jobs, options.env,
                            options.params, started)
        if noop is not None:
            return noop
    # engine tasks of one shared build run side by side on different tasks: one lock per task set
    lock = build_lock(config.root) if options.build_id is None else _joined_lock(config, options)
    lock.acquire(wait=options.wait, command="nbgov build")
    from nbgov.adapters.kernels.template import start_for_project, stop_template

    try:
        # warm kernels: the template imports the tasks' modules while this process loads
        # Ploomber and MLflow (nbgov.adapters.kernels); stopped with its kernels at the end
        start_for_project(config.root, config.pipeline_path, config.section("execution").get("preload", True))
        synced = sync_journals(config) if options.build_id is None else None
        return _locked_build(config, options, env_settings, started, synced)
    finally:
        stop_template()
        lock.release()


def capture_evidence(infos: list[TaskInfo]) -> None:
    """Every task builds inside ``evidence.capturing`` (in whichever process runs it): the
    executed notebook of an html/md/pdf notebook product is kept for the recorder."""
    from nbgov.adapters.ploomber import evidence
    from nbgov.adapters.ploomber.executor import set_build_wrapper

    by_name = {t.name: t for t in infos}
    evidence.install()
    set_build_wrapper(lambda task: evidence.capturing(by_name[task.name]) if task.name in by_name
                      else contextlib.nullcontext())


def _open_journals(config: Config) -> bool:
    from nbgov.core.journal import open_journals

    return bool(open_journals(config.root))


def _joined_lock(config: Config, options: BuildOptions):
    from nbgov.core.lock import ProjectLock

    name = "-".join(sorted(options.tasks or ["all"]))[:80].replace("/", "_")
    return ProjectLock(config.root / ".nbgov" / f"build-{options.build_id[:40]}-{name}.lock", "build")


def gate(config: Config, options: BuildOptions, pipeline: Pipeline, env_settings: dict[str, Any]):
    """Everything a build decides before running: the selection, its upstream (fetched from the
    File client when missing here, else refused), the content check, the tasks that would run,
    and the approval gate on them. Returns (selection, infos, check, would_run)."""
    selection = select_tasks(pipeline, options.tasks, options.downstream)
    infos = pipeline.tasks()
    if not options.env and not options.params:
        from nbgov.services.plan import write_plan

        write_plan(config, infos)  # the next no-op build and status answer from it
    if selection is not None:
        # a worker without the shared file system gets upstream products from the File client
        pipeline.fetch_from_storage(sorted({u for t in infos if t.name in selection for u in t.upstream}
                                           - set(selection)))
        require_built_upstream(config, infos, selection)
    check = content_check(config, infos)
    # a task whose input content changed runs although Ploomber calls it up to date: gate it too
    would_run = [t for t in infos if (selection is None or t.name in selection)
                 and (options.force or t.outdated or check(t.name, set()) is False)]
    require = options.require_approved
    if require is None:
        require = bool(env_settings.get("require_approved", False))
    if require and would_run:
        from nbgov.services.review import require_approved

        require_approved(config, [t.source_file for t in would_run if t.source_file])
    return selection, infos, check, would_run


def _locked_build(config: Config, options: BuildOptions, env_settings: dict, started: float, synced) -> BuildSummary:
    from nbgov.services.recording.recorder import Recorder

    recorder = Recorder(config, [], runner="nbgov build", build_id=options.build_id)
    recorder.start_uploader()  # MLflow is imported in the upload process while Ploomber loads here
    try:
        pipeline = load_pipeline(config, options.env, options.params)
        selection, infos, check, would_run = gate(config, options, pipeline, env_settings)
    except BaseException:
        recorder.close()
        raise
    recorder.use_tasks(infos)
    interrupts.check()  # a Ctrl-C during start-up that a library swallowed: stop before any task
    capture_evidence(infos)
    jobs = options.jobs if options.jobs is not None else pipeline.default_jobs()
    status = "FAILED"
    try:
        if would_run:
            recorder.open()  # journal + parent run (fails over to the journal within seconds)
        result = pipeline.build(force=options.force, select=selection, jobs=jobs,
                                progress=options.progress, content_check=check, observer=recorder)
        status = "FAILED" if result.failed else "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        record = recorder.close(status)
    # (a model version a task registered got its lineage tags from the upload process)
    summaries = []
    for outcome in result.outcomes:
        rec = record.tasks.get(outcome.name)
        run_id, seconds, error = (rec.run_id, rec.duration_s, rec.error) if rec else (None, None, outcome.error)
        if rec is None and outcome.outcome == "skipped":
            run_id = _producing_run(infos, outcome.name)
        summaries.append(TaskSummary(outcome.name, outcome.outcome, seconds, run_id, error))
    return BuildSummary(summaries, record.parent_run_id, result.failed, time.perf_counter() - started,
                        recorder.tracker.uri, pending=record.pending, offline_reason=record.offline_reason,
                        synced=synced.runs_sent if synced else 0,
                        interrupted=synced.interrupted if synced else [], build_id=recorder.build_id,
                        warnings=list(getattr(pipeline, "warnings", []) or []))


def _producing_run(infos, name: str) -> str | None:
    """The run that produced a skipped task's products (from its lineage record)."""
    from nbgov.core.lineage import read_record

    info = next(t for t in infos if t.name == name)
    record = read_record(info.record) if info.record else None
    return record.run_id if record else None


def content_check(config: Config, infos: list[TaskInfo]):
    """The per-task content check of a build (see :mod:`nbgov.core.freshness`): compares each
    task's last lineage record with its source version, params, input and product digests now."""
    from nbgov.core.digest import file_digest
    from nbgov.core.freshness import decide
    from nbgov.core.lineage import read_record
    from nbgov.services.fastpath import NEVER_RUN_KINDS
    from nbgov.services.recording.rundata import source_version

    tasks = {t.name: t for t in infos}

    def rel(path) -> str:
        try:
            return path.resolve().relative_to(config.root).as_posix()
        except ValueError:
            return path.as_posix()

    def digests(paths) -> dict[str, str | None]:
        return {rel(p): file_digest(p) if p.exists() else None for p in paths}

    def check(name: str, ran: set[str]) -> bool | None:
        task = tasks[name]
        if task.record is None or task.kind in NEVER_RUN_KINDS:
            return None  # nothing nbgov records: Ploomber's rules
        record = read_record(task.record)
        if record is None:
            # no record (never recorded, or killed before its record was written): outdated,
            # whatever Ploomber's metadata says (core.freshness)
            return decide(None, None, task.params, {}, {}).fresh
        # the same inputs the recorder lists: every existing non-notebook product of each upstream
        inputs = digests(p for up in task.upstream if up in tasks for p in tasks[up].products.values()
                         if p != tasks[up].notebook_product and p.exists())
        products = digests(task.products.values())
        return decide(record.to_dict(), source_version(task), task.params, inputs, products).fresh

    return check

"""Run a gated build here, with Ploomber and nbgov's executor, recording as it goes.

The recorder's upload process starts first (it imports MLflow while Ploomber loads here); the
pipeline is loaded and gated; every task runs through nbgov's executor, which tells the
:class:`Recorder` when each task starts and ends (journal first, store second); the build is
closed, saying how many runs wait for ``nbgov sync``.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time

from nbgov.adapters.kernels.template import start_for_project, stop_template
from nbgov.adapters.ploomber import TaskInfo, evidence, set_build_wrapper
from nbgov.core import interrupts
from nbgov.core.config import Config
from nbgov.core.digest import file_digest
from nbgov.core.errors import Location, NbgovError
from nbgov.core.lineage import read_record
from nbgov.core.localfiles import ignore_in_project, refuse_state_links
from nbgov.core.lock import ProjectLock, build_lock
from nbgov.core.oserrors import describe
from nbgov.services.build.coldrun import hand_back
from nbgov.services.build.gate import gate, gate_render
from nbgov.services.build.load import load_pipeline
from nbgov.services.build.options import BuildOptions, BuildSummary, TaskSummary
from nbgov.services.recording.recorder import Recorder
from nbgov.services.recording.sync import runs_gone, sync_journals


def capture_evidence(infos: list[TaskInfo]) -> None:
    """Every task builds inside ``evidence.capturing`` (in whichever process runs it): the
    executed notebook of an html/md/pdf notebook product is kept for the recorder."""
    by_name = {t.name: t for t in infos}
    evidence.install()
    set_build_wrapper(lambda task: evidence.capturing(by_name[task.name]) if task.name in by_name
                      else contextlib.nullcontext())


def run_locally(config: Config, options: BuildOptions, env_settings: dict, started: float, synced,
                engine=None, recorder: Recorder | None = None) -> BuildSummary:
    """Load, gate and run the pipeline from this process, recording every task run; the summary.

    ``engine``: where tasks run when not here (a warm Dask cluster,
    :class:`nbgov.adapters.engines.warm.DaskEngine`); the loop, the gate and the recording stay
    in this process either way. ``recorder``: one the caller made (and started) earlier."""
    recorder = recorder or Recorder(config, [], runner="nbgov build", build_id=options.build_id)
    recorder.start_uploader()  # MLflow is imported in the upload process while Ploomber loads here
    try:
        gate_render(config, options, env_settings)  # loading runs hooks and task modules: gate them first
        pipeline = load_pipeline(config, options.env, options.params)
        selection, infos, check, would_run = gate(config, options, pipeline, env_settings)
        if engine is not None:
            _hand_to_engine(config, engine, pipeline, infos)
    except BaseException:
        recorder.close()
        raise
    recorder.use_tasks(infos, pipeline.env_values)
    interrupts.check()  # a Ctrl-C during start-up that a library swallowed: stop before any task
    capture_evidence(infos)
    jobs = options.jobs if options.jobs is not None else pipeline.default_jobs()
    status = "FAILED"
    crash: str | None = None  # why the build stopped, when it was not a task failing (disk full...)
    try:
        if would_run:
            recorder.open()  # journal + parent run (fails over to the journal within seconds)
        result = pipeline.build(force=options.force, select=selection, jobs=jobs,
                                progress=options.progress, content_check=check, observer=recorder, engine=engine)
        status = "FAILED" if result.failed else "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    except Exception as exc:
        crash = _why(exc)
        raise
    finally:
        record = recorder.close(status, crash)
    # (a model version a task registered got its lineage tags from the upload process)
    summaries = []
    for outcome in result.outcomes:
        rec = record.tasks.get(outcome.name)
        # (a task that was never recorded: its error, masked like everything the build prints)
        run_id, seconds, error = (rec.run_id, rec.duration_s, rec.error) if rec else (
            None, None, recorder.secrets.mask(outcome.error) if outcome.error else outcome.error)
        if rec is None and outcome.outcome == "skipped":
            run_id = _producing_run(infos, outcome.name)
        summaries.append(TaskSummary(outcome.name, outcome.outcome, seconds, run_id, error,
                                     outcome.reason))
    return BuildSummary(summaries, record.parent_run_id, result.failed, time.perf_counter() - started,
                        recorder.tracker.uri, pending=record.pending, offline_reason=record.offline_reason,
                        synced=synced.runs_sent if synced else 0,
                        interrupted=synced.interrupted if synced else [], build_id=recorder.build_id,
                        warnings=[*(getattr(pipeline, "warnings", []) or []), *_recording_warnings(record, synced),
                                  *_gone_warnings(config, summaries)],
                        records=hand_back(infos, summaries))


def _hand_to_engine(config: Config, engine, pipeline, infos: list[TaskInfo]) -> None:
    """Tell a cluster engine what the gate approved, byte for byte (each task's source file:
    path, path relative to the root, SHA-256): a worker refuses a source that differs. Workers
    with checkouts of their own need the products in storage (a ``File`` client): the driver
    replaces its copy of each task's products with the stored ones."""
    rel = functools.partial(_rel, config)
    expect = None
    if engine.loader is not None:
        # a worker's own checkout must be exactly the build's commit and have rendered what this
        # process rendered (engines.warm.own_checkout_refusal); products may differ from the commit
        expect = {"spec": pipeline.spec_digest, "products": product_paths(config, infos),
                  "loaded": {t.name: pipeline.loaded_digest(t.name) for t in infos}}
    engine.approve({t.name: (str(t.source_file), rel(t.source_file), file_digest(t.source_file)) for t in infos
                    if t.source_file is not None and t.source_file.is_file()}, {t.name: t for t in infos}, expect)
    if engine.loader is not None:
        if not pipeline.has_file_client:
            raise NbgovError("workers with checkouts of their own need the products in storage: the pipeline "
                             "has no File client", Location(config.pipeline_path),
                             hint="declare `clients: File: ...` in pipeline.yaml (e.g. returning Ploomber's S3Client)")
        engine.fetch = pipeline.download_products
        engine.digests = pipeline.product_digests  # a product overwritten in storage is seen
        engine.upstream = {t.name: list(t.upstream) for t in infos}


def _rel(config: Config, path) -> str:
    resolved = path.resolve()
    return resolved.relative_to(config.root).as_posix() if resolved.is_relative_to(config.root) else str(resolved)


def product_paths(config: Config, infos: list[TaskInfo]) -> list[str]:
    """Every product of ``infos`` and its metadata files, relative to the project folder: what
    a worker's own checkout may hold beyond the build's commit (engines.checkout)."""
    return sorted({m for t in infos for p in t.products.values() for m in product_and_metadata(_rel(config, p))})


def product_and_metadata(path: str) -> list[str]:
    """A product's path and its Ploomber metadata files (``.NAME.metadata``, ``NAME.metadata``)."""
    parent, _, leaf = path.rpartition("/")
    prefix = f"{parent}/" if parent else ""
    return [path, f"{path}.metadata", f"{prefix}.{leaf}.metadata"]


def _gone_warnings(config: Config, summaries: list[TaskSummary]) -> list[str]:
    """The store is checked, not trusted: runs that produced skipped tasks' products and that
    the store no longer has (restarted empty) are named."""
    skipped = {s.task: s.run_id for s in summaries if s.outcome == "skipped" and s.run_id}
    gone = runs_gone(config, list(skipped.values())) or []
    if not gone:
        return []
    names = [task for task, run_id in skipped.items() if run_id in gone]
    return [f"{len(gone)} run(s) that made up-to-date products are no longer in the tracking store "
            f"({', '.join(names)}): was it restarted empty? `nbgov sync --resend` sends them again"]


def _why(exc: Exception) -> str:
    """One line for what stopped the build (an OS error in the user's words)."""
    if isinstance(exc, OSError):
        return f"{describe(exc)}" + (f" ({exc.filename})" if exc.filename else "")
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


def _recording_warnings(record, synced) -> list[str]:
    """What the journal could not do, one line each with what to do (never silent)."""
    out = list(synced.problems()) if synced is not None else []
    if synced is not None and synced.waiting:
        out.append(f"{len(synced.waiting)} journal(s) of builds still running were left to them: "
                   f"{', '.join(synced.waiting)}")
    if record.journal_error:
        out.append(f"the end of {', '.join(record.unjournaled) or 'the build'} could not be journaled: "
                   f"{record.journal_error}; `nbgov sync` ends those runs once there is room")
    return out


def _producing_run(infos, name: str) -> str | None:
    """The run that produced a skipped task's products (from its lineage record)."""
    info = next(t for t in infos if t.name == name)
    record = read_record(info.record) if info.record else None
    return record.run_id if record else None


@contextlib.contextmanager
def project_locked(config: Config, options: BuildOptions):
    """Hold the project's build lock for the block (or, for an engine task of a shared build,
    the lock of its task set: those run side by side on different tasks)."""
    if options.build_id is None:
        lock = build_lock(config.root)
    else:
        refuse_state_links(config.root)  # (as build_lock does: nothing written through a link)
        name = "-".join(sorted(options.tasks or ["all"]))[:80].replace("/", "_")
        lock = ProjectLock(config.root / ".nbgov" / f"build-{options.build_id[:40]}-{name}.lock", "build")
    lock.acquire(wait=options.wait, command="nbgov build", waiting=_say_waiting if options.wait else None)
    ignore_in_project(config.root)  # the journal, lineage and cache this build writes stay local
    try:
        yield
    finally:
        lock.release()


def _say_waiting(holder: str) -> None:
    """A wait says what it waits for (stderr: stdout may be --json)."""
    print(f"nbgov: waiting for {holder} to end", file=sys.stderr, flush=True)


@contextlib.contextmanager
def warm_kernels(config: Config):
    """A kernel template for the block: it imports the tasks' modules while this process loads
    Ploomber and MLflow (:mod:`nbgov.adapters.kernels`); stopped with its kernels at the end."""
    try:
        start_for_project(config.root, config.pipeline_path, config.section("execution").get("preload", True))
        yield
    finally:
        stop_template()


def send_earlier_runs(config: Config, options: BuildOptions):
    """What earlier builds left in the journal, sent now (None for an engine task of a shared
    build: its driver syncs)."""
    return sync_journals(config) if options.build_id is None else None

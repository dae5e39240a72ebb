"""Record a build as it goes: journal first (fsync), tracking store second (a background thread).

The executor tells the :class:`Recorder` when each task starts and ends, in the main process
(:class:`nbgov.adapters.ploomber.executor.TaskObserver`). A task's run is opened when it starts
and closed (FINISHED / FAILED / KILLED) with everything it produced when it ends, so a kill at
any moment loses nothing of the tasks that finished before it. When the store is unreachable
(refused, timed out, 5xx, a broken local store) the recorder stops talking to it for the rest
of the build, keeps copies of the runs' files in the journal, and the build still succeeds:
``nbgov sync`` (or the next build) sends them.

``nbgov build`` and ``ploomber build`` (through :mod:`nbgov.hooks`) both record through here.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nbgov.adapters.environment import environment_fingerprint, git_state
from nbgov.adapters.mlflow.tracker import Tracker
from nbgov.adapters.ploomber import TaskInfo
from nbgov.core.config import Config
from nbgov.core.journal import Journal, check_build_id, journal_folder, retire
from nbgov.core.lineage import handed_upstream_runs, read_record, write_record
from nbgov.core.oserrors import StorageError, describe
from nbgov.core.redact import safe_uri
from nbgov.core.redact_known import KnownSecrets
from nbgov.services.recording.confined import LINK, PROJECT, flag_outside_products
from nbgov.services.recording.masking import (
    flag_secret_artifacts,
    flag_secret_names,
    flag_secret_products,
    mask_logs,
    mask_sidecar,
    stage_masked,
)
from nbgov.services.recording.rundata import task_run_event
from nbgov.services.recording.sender import SendState, stage_artifacts
from nbgov.services.recording.uploader import Uploader
from nbgov.services.review.state import review_states

#: How long the build waits, at its end, for the store to take what is still queued (the
#: journal keeps the rest: a slow store must not hold the build forever).
DRAIN_TIMEOUT_S = 300.0
#: MLflow run status per task outcome.
RUN_STATUS = {"ran": "FINISHED", "stopped": "FINISHED", "failed": "FAILED", "killed": "KILLED"}


@dataclass
class TaskRecord:
    """One recorded task run, as the build summary shows it."""

    task: str
    outcome: str  # ran | failed | stopped | killed
    run_id: str | None
    duration_s: float | None
    error: str | None = None


@dataclass
class RecordingReport:
    """What a build recorded, and what is still waiting for the store."""

    build_id: str
    parent_run_id: str | None
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    pending: int = 0  # runs kept locally, not yet in the store
    offline_reason: str | None = None
    unjournaled: list[str] = field(default_factory=list)  # tasks whose end could not be journaled
    journal_error: str | None = None  # why (disk full, read-only)


class Recorder:
    """Records one build of a pipeline as it runs (a :class:`TaskObserver`).

    Args:
        config: the project (tracking URI, experiment, root).
        tasks: the pipeline's tasks, in topological order.
        runner: ``"nbgov build"`` or ``"ploomber build"``.
        build_id: join this build (one parent run shared by several processes, e.g. one engine
            task per pipeline task); None: a new build.
        review_status: task source (posix, relative to root) -> review status at run time.
        env: the env file's values the tasks were rendered with: its secret-named keys' values
            are known secrets too (R5).
    """

    def __init__(self, config: Config, tasks: list[TaskInfo], runner: str = "nbgov build",
                 build_id: str | None = None, review_status: dict[str, str] | None = None,
                 env: dict[str, Any] | None = None) -> None:
        if build_id is not None:  # (it names the journal's files: a plain name, as BuildOptions checks)
            check_build_id(build_id)
        self.config = config
        self.tasks = {t.name: t for t in tasks}
        #: the values this build knows to be secret (its tasks' secret parameters): masked in
        #: everything it journals, sends and prints (core.redact_known.KnownSecrets)
        self.secrets = KnownSecrets()
        for task in tasks:
            self.secrets.add_params(task.params)
        self.secrets.add_params(env or {})  # the env file's secret-named values
        self._unmask_logs = mask_logs(self.secrets)  # the kernel's stderr papermill prints
        self.runner = runner
        self.joined = build_id is not None
        self.build_id = build_id or uuid.uuid4().hex
        # one journal per process: processes joining one build id never share a file
        self.journal = Journal(journal_folder(config.root), f"{self.build_id}.{uuid.uuid4().hex[:8]}",
                               known=self.secrets)
        self.tracker = Tracker(config.resolved_tracking_uri(), config.experiment, config.artifact_root())
        self.review_status = dict(review_status or {})
        self.report = RecordingReport(self.build_id, None)
        self._parent_key = f"build:{self.build_id}"
        self._started: dict[str, tuple[int, float]] = {}  # task -> (start ms, perf counter)
        self._state = SendState(self.journal, parent_key=self._parent_key)
        self._uploader = Uploader({
            "root": str(config.root), "uri": self.tracker.uri, "experiment": self.tracker.experiment,
            "artifact_root": self.tracker.artifact_root, "secrets": config.secrets_policy,
            "journal_folder": str(self.journal.folder), "journal": self.journal.build_id,
            "parent_key": self._parent_key, "parent_pid": os.getpid()}, self._state.ids)
        self._git: dict | None = None
        self._opened = False

    # -- the build -------------------------------------------------------------------
    def open(self) -> None:
        """Journal the build, then open its parent run (or find it, when joining a build)."""
        if self._opened:
            return
        self._opened = True
        self._git = git_state(self.config.root)
        git = self._git
        tags = {"nbgov.kind": "build", "nbgov.build_id": self.build_id, "nbgov.runner": self.runner,
                "nbgov.pipeline": self.config.pipeline, "nbgov.git_commit": str(git["commit"]),
                "nbgov.git_dirty": str(git["dirty"])}
        # store: which tracking store the journal's runs belong to (credentials left out), for a
        # sender that is not this build (services.build.sources: the next task on a worker)
        event = self._append("build_opened", key=self._parent_key, joined=self.joined, pid=os.getpid(),
                             host=socket.gethostname(), store=safe_uri(self.tracker.uri),
                             name=f"build {datetime.now(UTC):%Y-%m-%d %H:%M:%S}",
                             start_ms=int(time.time() * 1000), tags=tags)
        # the store is checked and written by the upload process, on the other core; the build
        # never waits for it (a fresh SQLite store excepted: its schema is created before any
        # task's own MLflow calls can race the creation)
        fresh = self.tracker.uri.startswith("sqlite:///") and not Path(self.tracker.uri[len("sqlite:///"):]).exists()
        self.start_uploader()
        self._uploader.put(event, known_new=False)  # a joined build's parent may exist
        if fresh:
            self._uploader.prepared.wait(120)

    def use_tasks(self, tasks: list[TaskInfo], env: dict[str, Any] | None = None) -> None:
        """The pipeline's tasks, once loaded (a recorder made before loading starts with none),
        and the env file's values they were rendered with (its secret-named keys' values are
        known secrets too: ``header: "{{api_token}}"``)."""
        self.tasks = {t.name: t for t in tasks}
        for task in tasks:
            self.secrets.add_params(task.params)
        self.secrets.add_params(env or {})

    def start_uploader(self) -> None:
        """Start the upload process now (it imports MLflow while the build loads the pipeline;
        it touches the store only once the build is opened)."""
        if not self._uploader.started:
            self._uploader.start()

    def task_started(self, name: str) -> None:
        """A task is about to run: journal it and open its run."""
        self.open()
        key = f"{self.journal.build_id}/{name}"
        start_ms = int(time.time() * 1000)
        # known as started before it is journaled: an interrupt landing right after the fsync
        # must still end this task's run (close() ends every started task as killed)
        self._started[name] = (start_ms, time.perf_counter())
        record_path = self.tasks[name].record if name in self.tasks else None
        event = self._append("task_started", key=key, task=name, name=name, parent_key=self._parent_key,
                             start_ms=start_ms, record_path=self._rel(record_path) if record_path else None,
                             tags={"nbgov.kind": "task", "nbgov.task": name,
                                                      "nbgov.build_id": self.build_id})
        self._uploader.put(event, known_new=True)
        self._started[name] = (start_ms, time.perf_counter())

    def task_finished(self, name: str, outcome: str, error: str | None = None) -> None:
        """A task ended (``ran``, ``failed``, ``stopped`` or ``killed``): journal everything it
        produced, write its lineage record, and send it."""
        start_ms, t0 = self._started.pop(name, (int(time.time() * 1000), time.perf_counter()))
        # the run id when the store already gave it; else the sender fills it into the lineage
        # record once it has it (nothing waits for the store)
        key = f"{self.journal.build_id}/{name}"
        run_id = self._state.ids.get(key)
        info = self.tasks.get(name)
        # executed notebooks holding a known secret: masked as [tracking] secrets says (allow:
        # as they are; refuse: left out of the run, masked copies made for nobody)
        policy = self.config.secrets_policy
        known = self.secrets if policy != "allow" else KnownSecrets()
        try:
            # nbgov's own copy of the executed notebook: masked before its digest is taken
            in_place = info is not None and mask_sidecar(info.evidence, info.notebook_product, known)
            status = self._review_status(name)
            payload, record, duration = task_run_event(
                self.config, self.tasks, self.tasks[name], outcome=outcome, runner_error=error,
                status=RUN_STATUS.get(outcome, "FAILED"), review_status=status, git=self._git or {},
                env=environment_fingerprint(str(self.config.root)), start_ms=start_ms,
                duration_s=time.perf_counter() - t0, run_id=run_id, run_key=key,
                parent_run_id=self.report.parent_run_id or self._state.ids.get(self._parent_key),
                build_id=self.build_id, runner=self.runner,
                tracking_uri=safe_uri(self.tracker.uri), experiment=self.tracker.experiment,
                upstream_ids=self._upstream_ids(name), known=self.secrets)
            # products (and notebooks) leading outside the project through a symbolic link: the
            # upload would follow it and send what lies there (R5); not uploaded at all
            for path, why in flag_outside_products(payload, self.config.root):
                rule = {LINK: "nbgov follows no link inside a folder product",
                        PROJECT: "nbgov never uploads the project folder nor .git"}.get(
                            why, "nbgov uploads only files inside the project")
                path, why = known.mask(path), known.mask(why)  # (a link's name may hold a secret)
                print(f"warning: task {name}: product {path}: {why}: not uploaded to the tracking "
                      f"store ({rule}); make it a regular file or folder inside the project",
                      file=sys.stderr, flush=True)
            # folder products holding a file whose name holds a known secret: withheld whole
            for path, why in flag_secret_names(payload, self.config.root, known):
                print(f"warning: task {name}: product {path}: {why}: not uploaded to the tracking store "
                      "(it stays on disk as written); keep secrets out of file names",
                      file=sys.stderr, flush=True)
            masked = flag_secret_artifacts(payload, self.config.root, known,
                                           [self._rel(info.evidence)] if in_place else [])
            # products holding a known secret: kept as the task wrote them, not uploaded
            for path in flag_secret_products(payload, self.config.root, known):
                print(f"warning: task {name}: product {path} holds a secret parameter's value: not uploaded "
                      "to the tracking store (it stays on disk as written); keep secrets out of products, "
                      "or set [tracking] secrets = \"allow\" in nbgov.toml to upload it as is",
                      file=sys.stderr, flush=True)
            if policy == "refuse":
                masked = {}  # flagged: the sender leaves them out
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - its outputs cannot be read (disk full, a file half-written)
            payload, record, duration = self._unrecordable(outcome, exc, start_ms, time.perf_counter() - t0, error)
            masked = {}
        event = self._append("task_finished", key=key, task=name, parent_key=self._parent_key, **payload)
        # the masked copies of executed notebooks holding a known secret, before anything is sent
        # (a copy that cannot be written, disk full: the sender withholds that notebook)
        with contextlib.suppress(OSError):
            stage_masked(self.journal, event, masked)
        if record is not None and self.tasks[name].record is not None:

            try:
                write_record(record, self.tasks[name].record)
            except OSError as exc:
                self.report.offline_reason = self.report.offline_reason or f"could not write lineage record: {exc}"
        if self._uploader.offline_reason is not None:
            stage_artifacts(self.journal, event, self.config.root)
        self._uploader.put(event)
        self.report.tasks[name] = TaskRecord(name, outcome, run_id, duration, event.get("error"))

    def close(self, status: str = "FINISHED", error: str | None = None) -> RecordingReport:
        """Journal the end of the build, wait (bounded) for the store, and say what is pending.

        Args:
            error: why the build stopped when no task failed it (e.g. the disk is full): the
                tasks still running end FAILED with it; without it they were interrupted
                (Ctrl-C, SIGTERM) and end KILLED.
        """
        self._unmask_logs()
        if not self._opened:
            self._uploader.abandon()
            return self.report
        # every task the journal says started and did not finish was interrupted (also one whose
        # own finishing was cut short by a Ctrl-C): it ends KILLED, never RUNNING
        events = self.journal.events()
        finished = {e.get("task") for e in events if e["event"] == "task_finished"}
        for name in dict.fromkeys(e.get("task") for e in events if e["event"] == "task_started"):
            if name not in finished and name in self.tasks:
                try:
                    if error and status != "KILLED":
                        self.task_finished(name, "failed", error)
                    else:
                        self.task_finished(name, "killed", "interrupted")
                except StorageError as exc:  # the journal cannot be written (disk full): say so
                    self.report.unjournaled.append(name)
                    self.report.journal_error = self.report.journal_error or str(exc).splitlines()[0]
        try:
            event = self._append("build_closed", key=self._parent_key, status=status, joined=self.joined)
            self._uploader.put(event)
        except StorageError as exc:
            self.report.journal_error = self.report.journal_error or str(exc).splitlines()[0]
        self._uploader.close(DRAIN_TIMEOUT_S)
        confirmed = self.journal.confirmations()
        unsent = [e for e in self.journal.events() if e["seq"] not in confirmed]
        for e in unsent:
            if e["event"] == "task_finished":
                stage_artifacts(self.journal, e, self.config.root)
        self.report.pending = sum(1 for e in unsent if e["event"] == "task_finished")
        self.report.offline_reason = self._uploader.offline_reason or self.report.offline_reason
        for name, rec in self.report.tasks.items():
            rec.run_id = rec.run_id or self._state.ids.get(f"{self.journal.build_id}/{name}")
        self.report.parent_run_id = self.report.parent_run_id or self._state.ids.get(self._parent_key)
        if not unsent:
            retire(self.journal, keep=int(self.config.section("tracking").get("keep_journals", 20)))
        else:
            self.journal.release()  # written for good: `nbgov sync` may take it over
        return self.report

    def _unrecordable(self, outcome: str, exc: Exception, start_ms: int, duration: float,
                      error: str | None = None) -> tuple[dict[str, Any], None, float]:
        """The finish of a task whose outputs could not be gathered: FAILED (KILLED if it was
        killed), with the reason (and the task's own error, if it failed); no lineage record
        (the task runs again)."""
        why = describe(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
        where = f" ({exc.filename})" if isinstance(exc, OSError) and exc.filename else ""
        reason = f"could not record the task's outputs: {why}{where}"
        if error and outcome == "failed":
            reason = f"{error}; {reason}"
        reason = reason[:500]
        killed = outcome == "killed"
        payload = {"status": "KILLED" if killed else "FAILED", "outcome": "killed" if killed else "failed",
                   "start_ms": start_ms, "end_ms": int(time.time() * 1000), "params": {}, "metrics": {},
                   "tags": {"nbgov.outcome": "killed" if killed else "failed", "nbgov.error": reason},
                   "artifacts": [], "json_artifacts": {}, "datasets": [], "error": reason, "record": None}
        return payload, None, duration

    # -- helpers ---------------------------------------------------------------------
    def _append(self, event: str, **data: Any) -> dict[str, Any]:
        return self.journal.append(event, **data)

    def _review_status(self, name: str) -> str:
        task = self.tasks[name]
        source = task.source_file
        if source is None:
            return "unknown"
        rel = self._rel(source)
        if rel not in self.review_status:
            try:

                for s in review_states(self.config, [source]):
                    self.review_status[rel] = s.status
            except Exception:  # a ledger problem must not lose the run: the gate reports it
                self.review_status[rel] = "unknown"
        return self.review_status.get(rel, "unknown")

    def _upstream_ids(self, name: str) -> dict[str, tuple[str | None, str | None]]:
        """upstream task -> (run id, run key) of the run whose products this task read: this
        build's run when the upstream ran in it, else the run a cluster driver named (a task in
        a checkout of its own: the upstream ran elsewhere, and a record here may be an older
        run's), else the upstream's last lineage record."""

        out = {}
        handed = handed_upstream_runs()
        for up in self.tasks[name].upstream:
            key = f"{self.journal.build_id}/{up}"
            if up in self.report.tasks:
                out[up] = (self._state.ids.get(key) or self.report.tasks[up].run_id, key)
                continue
            if up in handed:
                out[up] = handed[up]
                continue
            info = self.tasks.get(up)
            record = read_record(info.record) if info is not None and info.record else None
            out[up] = (record.run_id if record else None, record.run_key if record else None)
        return out

    def _rel(self, path: Path) -> str:
        try:
            return Path(path).resolve().relative_to(self.config.root).as_posix()
        except ValueError:
            return Path(path).as_posix()

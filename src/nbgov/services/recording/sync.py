"""``nbgov sync``: send to the tracking store what earlier builds journaled but could not send.

Runs under the project's build lock (a running build sends its own runs; two syncs at once
queue). For each open journal, oldest first, every unconfirmed event is sent in order
(:class:`Sender`: find-by-key before create, original timestamps). A build that never closed
its journal was killed (the lock proves its process is gone): its started-but-unfinished task
runs and its parent are ended KILLED, and the sync says so. A journal whose every event the
store confirmed is retired to ``done/``. Interrupted half way, a sync resumes where it stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from nbgov.adapters.mlflow.tracker import Tracker
from nbgov.core.config import Config
from nbgov.core.digest import file_digest
from nbgov.core.errors import TrackingError
from nbgov.core.journal import Journal, open_journals, retire
from nbgov.core.lineage import LineageRecord, write_record
from nbgov.core.lock import build_lock
from nbgov.services.recording.sender import Sender, SendState, stage_artifacts


@dataclass
class SyncReport:
    """What a sync did."""

    runs_sent: int = 0  # task runs completed in the store
    builds: int = 0  # journals looked at
    interrupted: list[str] = field(default_factory=list)  # "task (build id)" ended KILLED
    pending: int = 0  # task runs still not in the store
    error: str | None = None  # why the store did not take the rest
    restored: list[str] = field(default_factory=list)  # lineage records written from the journal

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def pending_runs(config: Config) -> int:
    """How many finished task runs are journaled but not yet in the store (no store call)."""
    count = 0
    for journal in open_journals(config.root):
        confirmed = journal.confirmations()
        count += sum(1 for e in journal.events() if e["event"] == "task_finished" and e["seq"] not in confirmed)
    return count


def _alive(opened: dict | None) -> bool:
    """Whether the process that wrote a journal still runs (same host only; a journal of
    another host is left to that host)."""
    import os
    import socket

    if not opened or not opened.get("pid"):
        return False
    if opened.get("host") and opened["host"] != socket.gethostname():
        return True
    if opened["pid"] == os.getpid():
        return True
    try:
        os.kill(int(opened["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, ValueError):
        return True
    return True


def _running(journal: Journal, events: list[dict] | None = None) -> bool:
    """Whether the build writing ``journal`` still runs (not closed, its process alive)."""
    events = journal.events() if events is None else events
    return not any(e["event"] == "build_closed" for e in events) and _alive(
        next((e for e in events if e["event"] == "build_opened"), None))


def _close_interrupted(journal: Journal, events: list[dict]) -> list[str]:
    """Journal the end of a build whose process died: its running tasks and itself KILLED
    (also a task started but never finished in a closed journal: its writer was interrupted
    between the two)."""
    opened = next((e for e in events if e["event"] == "build_opened"), None)
    closed = any(e["event"] == "build_closed" for e in events)
    if _alive(opened) and not closed:
        return []
    finished = {e.get("key") for e in events if e["event"] == "task_finished"}
    last_t = max((e["t"] for e in events), default=int(time.time() * 1000))
    ended = []
    for e in events:
        if e["event"] == "task_started" and e.get("key") not in finished:
            journal.append("task_finished", key=e["key"], task=e["task"], parent_key=e.get("parent_key"),
                           status="KILLED", outcome="killed", start_ms=e.get("start_ms"), end_ms=last_t,
                           params={}, metrics={}, tags={"nbgov.outcome": "killed",
                                                        "nbgov.error": "the build was killed while this task ran"},
                           artifacts=[], json_artifacts={}, datasets=[], error="killed", record=None,
                           synthetic=True)
            ended.append(f"{e['task']} (build {journal.build_id.rsplit('.', 1)[0]})")
    if not closed:
        key = opened.get("key") if opened else f"build:{journal.build_id.rsplit('.', 1)[0]}"
        journal.append("build_closed", key=key, status="KILLED", joined=bool(opened and opened.get("joined")),
                       synthetic=True)
    return ended


def restore_records(config: Config, journals: list[Journal]) -> list[str]:
    """Write the lineage records a killed build journaled but never wrote (it died between
    journaling a task's end and writing its record): only a task run that succeeded, whose
    record file is missing and whose products still hold the digests it recorded. Needs no
    store. Returns the records written (paths relative to the root).

    Without this the task is only outdated (no record) and runs again; with it, the products
    its run made are known again as that run's, and the run is sent as usual.
    """

    latest: dict[str, dict] = {}  # record path -> the last such run (journals oldest first)
    for journal in journals:
        confirmed = journal.confirmations()
        for e in journal.events():
            if (e["event"] == "task_finished" and e["seq"] not in confirmed and e.get("outcome") == "ran"
                    and e.get("record") and e.get("record_path")):
                latest[e["record_path"]] = e["record"]
    written = []
    for rel, record in latest.items():
        path = config.root / rel
        if path.exists():
            continue
        products = [p for p in (record.get("products") or {}).values() if isinstance(p, dict)]
        try:
            same = bool(products) and all(
                p.get("digest") and (config.root / p["path"]).exists()
                and file_digest(config.root / p["path"]) == p["digest"] for p in products)
            if same:
                write_record(LineageRecord.from_dict(record), path)
                written.append(rel)
        except (OSError, ValueError, TypeError, KeyError):
            continue  # a record that cannot be written or read back: the task runs again
    return written


def sync_journals(config: Config, tracker: Tracker | None = None, skip: str | None = None) -> SyncReport:
    """Send every open journal of the project (the caller holds the build lock).

    Args:
        tracker: the store (default: the project's).
        skip: a journal id not to touch (the calling build's own).
    """
    report = SyncReport()
    journals = [j for j in open_journals(config.root) if j.build_id != skip]
    if not journals:
        return report
    # before any store call (the store may be down): records a killed build never wrote
    report.restored = restore_records(config, [j for j in journals if not _running(j)])
    tracker = tracker or Tracker(config.resolved_tracking_uri(), config.experiment, config.artifact_root())
    sender = Sender(tracker, config.root, config.secrets_policy)
    for journal in journals:
        events = journal.events()
        if _running(journal, events):
            continue  # a build still running (another engine worker): it sends its own runs
        report.builds += 1
        report.interrupted += _close_interrupted(journal, events)
        events = journal.events()
        state = SendState.load(journal)
        try:
            for event in events:
                if event["seq"] in state.confirmed:
                    if event["event"] == "build_opened":
                        state.parent_key = event.get("key")
                    continue
                sender.send(state, event)
                if event["event"] == "task_finished":
                    report.runs_sent += 1
        except TrackingError as exc:
            report.error = exc.message
        except Exception as exc:  # whatever the store library raises: the journal keeps it
            report.error = f"{type(exc).__name__}: {exc}"[:300]
        unsent = [e for e in events if e["seq"] not in state.confirmed]
        if not unsent:
            retire(journal)
            continue
        for e in unsent:
            if e["event"] == "task_finished":
                stage_artifacts(journal, e, config.root)  # products may change before next sync
        report.pending += sum(1 for e in unsent if e["event"] == "task_finished")
        if report.error:
            # the store is down: the later journals wait too (and keep their files)
            for later in journals[journals.index(journal) + 1:]:
                confirmed = later.confirmations()
                for e in later.events():
                    if e["event"] == "task_finished" and e["seq"] not in confirmed:
                        stage_artifacts(later, e, config.root)
                        report.pending += 1
            break
    return report


def sync(config: Config, wait: float | bool = 60) -> SyncReport:
    """``nbgov sync``: take the build lock (waiting up to ``wait`` seconds), then send."""

    lock = build_lock(config.root)
    lock.acquire(wait=wait, command="nbgov sync")
    try:
        return sync_journals(config)
    finally:
        lock.release()

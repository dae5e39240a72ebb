"""``nbgov sync``: send to the tracking store what earlier builds journaled but could not send.

Runs under the project's build lock (a running build sends its own runs; two syncs at once
queue). Each journal is taken on its own (docs/concepts/recording.md, "The journal's state
machine"): one whose writer still holds its lock waits for it; an empty one is removed; one
with no readable record is quarantined with its reason; an orphaned one (its writer gone
before closing it) is closed in the journal (started runs ``killed``, or ``lost`` when a
damaged line may hold their finish; a reconstructed parent when its own is unreadable); then
every unconfirmed event is sent in order, the parent first (:class:`Sender`: find-by-key
before create, original timestamps). A store that refuses one journal does not stop the
others; a store that is down stops them all (their files are kept). A journal whose every
event the store confirmed is retired to ``done/``. Interrupted half way, a sync resumes where
it stopped.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from nbgov.adapters.git import tracked
from nbgov.adapters.mlflow.stores import missing_runs
from nbgov.adapters.mlflow.tracker import Tracker
from nbgov.core.config import Config
from nbgov.core.digest import file_digest
from nbgov.core.errors import TrackingError
from nbgov.core.journal import JOURNAL_DIR, KEEP_DONE, Journal, journal_folder, quarantine, retire
from nbgov.core.journal_states import JournalView, close_orphan, examine, send_order, set_record_aside
from nbgov.core.lineage import LineageRecord, write_record
from nbgov.core.localfiles import inside_project
from nbgov.core.lock import build_lock
from nbgov.services.recording.machine import known_journal_names, machine_journals
from nbgov.services.recording.sender import Sender, SendState, stage_artifacts

RESEND_HINT = "the tracking store no longer has runs it confirmed (restarted empty?): run `nbgov sync --resend`"


@dataclass
class SyncReport:
    """What a sync did."""

    runs_sent: int = 0  # task runs completed in the store
    builds: int = 0  # journals looked at
    interrupted: list[str] = field(default_factory=list)  # "task (build id)" ended KILLED
    lost: list[str] = field(default_factory=list)  # "task (build id)": finish record damaged, rebuilt
    damaged: dict[str, int] = field(default_factory=dict)  # journal -> damaged records
    quarantined: dict[str, str] = field(default_factory=dict)  # journal -> why
    failed: list[tuple[str, str]] = field(default_factory=list)  # (journal, what the store said)
    waiting: list[str] = field(default_factory=list)  # journals whose writer still runs
    removed_empty: int = 0  # empty journals (nothing was ever recorded) removed
    repaired: int = 0  # duplicate RUNNING runs left by older versions, deleted
    pending: int = 0  # task runs still not in the store
    error: str | None = None  # why the store did not take the rest (it is down)
    restored: list[str] = field(default_factory=list)  # lineage records written from the journal
    resent: int = 0  # journals sent again (--resend)
    ended: list[str] = field(default_factory=list)  # RUNNING runs of set-aside journals, ended FAILED
    refused: dict[str, str] = field(default_factory=dict)  # journal -> its file git tracks (never sent)

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def problems(self) -> list[str]:
        """One line per journal or run that needs the user, each saying what to do."""
        lines = []
        for name, path in self.refused.items():
            lines.append(f"journal {name} not sent: git tracks {path}, and a journal is this machine's own "
                         "record (one that came with the checkout is never trusted); remove it from git: "
                         f"git rm -r --cached {JOURNAL_DIR.as_posix()}")
        if self.lost:
            lines.append(f"{len(self.lost)} task run(s) lost their finish record (journal damaged): "
                         f"{', '.join(self.lost)}; they run again at the next `nbgov build`")
        for name, count in self.damaged.items():
            lines.append(f"journal {name}: {count} damaged record(s) skipped; what could be read was sent "
                         "(check the disk: dmesg)")
        for name, why in self.quarantined.items():
            lines.append(f"journal {name} set aside in .nbgov/journal/quarantine: {why}; "
                         "the tasks it recorded run again at the next `nbgov build` if their records are missing")
        if self.ended:
            lines.append(f"ended as FAILED {len(self.ended)} run(s) whose journal was set aside: "
                         f"{', '.join(self.ended)}")
        for name, why in self.failed:
            lines.append(f"journal {name} not sent: {why}; it is kept, `nbgov sync` tries again")
        return lines


def pending_runs(config: Config) -> int:
    """How many finished task runs are journaled but not yet in the store (no store call)."""
    count = 0
    for journal in machine_journals(config.root):
        confirmed = journal.confirmations()
        count += sum(1 for e in journal.events() if e["event"] == "task_finished" and e["seq"] not in confirmed)
    return count


def journal_health(config: Config) -> dict[str, int]:
    """Damaged records per open journal (no store call; for ``nbgov status``)."""
    out = {}
    for journal in machine_journals(config.root):
        scan = journal.scan()
        if scan.damaged or scan.recovered:
            out[journal.build_id] = scan.damaged + scan.recovered
    return out


def runs_gone(config: Config, run_ids: list[str]) -> list[str] | None:
    """Which of ``run_ids`` (recorded by earlier builds) the tracking store no longer has; None
    when that cannot be told. The store is checked, not trusted: one restarted empty is noticed."""
    return missing_runs(config.resolved_tracking_uri(), run_ids)


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
        path = inside_project(config.root, rel)  # (J9: never a file outside the project)
        if path is None or path.exists() or not isinstance(record, dict):
            continue
        products = [p for p in (record.get("products") or {}).values() if isinstance(p, dict)]
        try:
            files = [inside_project(config.root, p.get("path")) for p in products]
            same = bool(products) and all(
                p.get("digest") and f is not None and f.is_file() and file_digest(f) == p["digest"]
                for p, f in zip(products, files, strict=True))
            if same:
                write_record(LineageRecord.from_dict(record), path)
                written.append(rel)
        except (OSError, ValueError, TypeError, KeyError):
            continue  # a record that cannot be written or read back: the task runs again
    return written


def _store_answers(tracker) -> bool:
    """Whether the store still answers (then an error was about one journal's content)."""
    alive = getattr(tracker, "alive", None)
    if alive is None:
        return False
    try:
        return bool(alive())
    except Exception:  # noqa: BLE001 - whatever the store library raises: it does not answer
        return False


def _lost_confirmed(tracker, state: SendState) -> bool:
    """Whether a run the store confirmed is gone from it (the store was restarted empty)."""
    for run_id in list(state.ids.values())[:3]:
        try:
            if tracker.run_status(run_id) is None:
                return True
        except Exception:  # noqa: BLE001
            return False
    return False


def _open_views(config: Config, skip: str | None, report: SyncReport) -> list[JournalView]:
    """Each open journal's state; the ones that need no store are dealt with here. A journal
    git tracks is only named (J8); one that is no regular file or too large is set aside
    unread; one whose files cannot be read or moved is named: none stops another (J4)."""
    views = []
    unreadable: dict[str, str] = {}
    journals = machine_journals(config.root, report.refused, unreadable)
    for build_id, why in unreadable.items():
        if build_id != skip:
            _set_aside(Journal(journal_folder(config.root), build_id), why, report)
    for journal in journals:
        if journal.build_id == skip:
            continue
        try:
            view = examine(journal)
        except OSError as exc:
            journal.release()
            report.failed.append((journal.build_id, f"could not be read ({exc.strerror or exc})"))
            continue
        if view.state == "live":
            report.waiting.append(journal.build_id)
            continue
        if view.state == "empty":  # an older nbgov's build that never wrote a record
            for path in (journal.path, journal.folder / f"{journal.build_id}.sent"):
                path.unlink(missing_ok=True)
            journal.release(remove=True)
            report.removed_empty += 1
            continue
        if view.state == "unreadable":
            _set_aside(journal, view.refused or f"no readable record in its {journal.scan().size} bytes", report)
            continue
        views.append(view)
    return views


def _set_aside(journal: Journal, why: str, report: SyncReport) -> None:
    """Quarantine ``journal`` (its lock taken: a live writer's is left alone) with ``why``;
    named in ``report`` whatever happens."""
    if not journal.claim():
        report.waiting.append(journal.build_id)
        return
    try:
        quarantine(journal, why)
    except OSError as exc:
        journal.release()
        report.failed.append((journal.build_id, f"{why}; could not be set aside ({exc.strerror or exc})"))
        return
    report.quarantined[journal.build_id] = why


def _close(config: Config, view: JournalView, report: SyncReport) -> None:
    """Close what the journal left open (no store call)."""
    journal = view.journal
    if view.damaged or view.recovered:
        report.damaged[journal.build_id] = view.damaged + view.recovered
    confirmed = journal.confirmations()
    started_seq = {e["key"]: e["seq"] for e in view.events if e.get("event") == "task_started"}
    sent_keys = {c.get("key") for seq, c in confirmed.items() if c.get("key") and started_seq.get(c.get("key")) != seq}

    def rebuild(started: dict) -> None:
        set_record_aside(config.root, started.get("record_path"), started["key"])

    killed, lost = close_orphan(view, rebuild, already_sent=sent_keys)
    report.interrupted += killed
    report.lost += lost


def sync_journals(config: Config, tracker: Tracker | None = None, skip: str | None = None,
                  resend: bool = False, sweep: bool = False) -> SyncReport:
    """Send every open journal of the project (the caller holds the build lock).

    Args:
        tracker: the store (default: the project's).
        skip: a journal id not to touch (the calling build's own).
        resend: send again what the store confirmed, and the kept journals of ``done/`` (a
            store restarted empty); every run is looked up by its key first.
        sweep: also look for RUNNING runs of this project's dead builds (``nbgov sync``); done
            anyway when a journal was set aside.
    """
    report = SyncReport()
    if resend:
        report.resent = reopen_done(config)
    views = _open_views(config, skip, report)
    for view in views:
        _close(config, view, report)
    if not views and not report.quarantined and not sweep:  # (a refused journal is left as it is)
        return report
    # before any store call (the store may be down): records a killed build never wrote
    report.restored = restore_records(config, [v.journal for v in views])
    tracker = tracker or Tracker(config.resolved_tracking_uri(), config.experiment, config.artifact_root())
    sender = Sender(tracker, config.root, config.secrets_policy)
    for view in views:
        journal = view.journal
        report.builds += 1
        events = view.events
        state = SendState.load(journal)
        if report.error is None:
            try:
                for event in send_order(events):
                    if event["seq"] in state.confirmed:
                        if event["event"] == "build_opened":
                            state.parent_key = event.get("key")
                        continue
                    sender.send(state, event)
                    if event["event"] == "task_finished":
                        report.runs_sent += 1
            except Exception as exc:  # noqa: BLE001 - TrackingError, or whatever the store library raises
                message = exc.message if isinstance(exc, TrackingError) else f"{type(exc).__name__}: {exc}"[:300]
                if _store_answers(tracker):
                    # the store is up and refused this journal: the others go on
                    if _lost_confirmed(tracker, state):
                        message = f"{message} ({RESEND_HINT})"
                    report.failed.append((journal.build_id, message))
                else:
                    report.error = message
        unsent = [e for e in events if e["seq"] not in state.confirmed]
        if not unsent:
            retire(journal, keep=keep_done(config))
            continue
        for e in unsent:
            if e["event"] == "task_finished":
                stage_artifacts(journal, e, config.root)  # products may change before the next sync
        report.pending += sum(1 for e in unsent if e["event"] == "task_finished")
        journal.release()
    if report.error is None and (sweep or report.quarantined):
        try:
            sweep_running(config, tracker, report.waiting + ([skip] if skip else []), report)
        except Exception as exc:  # noqa: BLE001 - the sweep is a repair: its failure loses nothing
            report.failed.append(("(sweep)", f"{type(exc).__name__}: {exc}"[:300]))
    return report


def keep_done(config: Config) -> int:
    """How many sent journals ``done/`` keeps (``[tracking] keep_journals``, default 20)."""
    try:
        value = int(config.section("tracking").get("keep_journals", KEEP_DONE))
    except (AttributeError, TypeError, ValueError):
        return KEEP_DONE
    return max(0, value)


def reopen_done(config: Config) -> int:
    """Put the journals kept in ``done/`` back to be sent, and forget every confirmation (the
    store lost what it confirmed). Returns how many journals were reopened."""
    folder = journal_folder(config.root)
    done = folder / "done"
    count = 0
    committed = (tracked(config.root, JOURNAL_DIR.as_posix()) or set()) if done.is_dir() else set()
    for path in sorted(done.glob("*.jsonl")) if done.is_dir() else []:
        if (JOURNAL_DIR / "done" / path.name).as_posix() in committed:
            continue  # came with the checkout: never sent (J8)
        if not (folder / path.name).exists():
            os.replace(path, folder / path.name)
            count += 1
        path.with_suffix(".sent").unlink(missing_ok=True)
    for sent in folder.glob("*.sent"):
        sent.unlink()
    return count


def _journal_of(key: str) -> tuple[str, bool]:
    """The journal (or build, for a parent run) a run key belongs to: (name, is_build)."""
    if key.startswith("build:"):
        return key[len("build:"):], True
    return key.rsplit("/", 1)[0], False


def sweep_running(config: Config, tracker, live: list[str], report: SyncReport) -> None:
    """No run left RUNNING: a RUNNING run of this project's builds whose journal is not live
    is either a duplicate (a create retried after its reply was lost, by an older nbgov:
    deleted, the closed copy stays) or a run whose journal was set aside (ended FAILED, named)."""
    known = known_journal_names(config.root)  # (not a journal git tracks: J8)
    builds = {name.rsplit(".", 1)[0] for name in known}
    live_builds = {name.rsplit(".", 1)[0] for name in live}
    for run in tracker.running_keyed_runs():
        key = run.data.tags.get("nbgov.run_key") or ""
        others = [r for r in tracker.find_runs(key) if r.info.run_id != run.info.run_id]
        if any(r.info.status != "RUNNING" for r in others):
            tracker.delete_run(run.info.run_id)
            report.repaired += 1
            continue
        name, is_build = _journal_of(key)
        if (is_build and (name not in builds or name in live_builds)) or (not is_build and (
                name not in known or name in live)):
            continue  # another project's run, or one of a build that still runs
        tracker.end_run(run.info.run_id, "FAILED", int(time.time() * 1000))
        report.ended.append(run.data.tags.get("mlflow.runName") or key)


def sync(config: Config, wait: float | bool = 60, resend: bool = False, say=None) -> SyncReport:
    """``nbgov sync``: take the build lock (waiting up to ``wait`` seconds, saying what for),
    then send; then repair duplicate runs left by older versions."""
    lock = build_lock(config.root)
    lock.acquire(wait=wait, command="nbgov sync",
                 waiting=(lambda who: say(f"nbgov: waiting for {who} to end (up to {wait:g} s)")) if say else None)
    try:
        tracker = Tracker(config.resolved_tracking_uri(), config.experiment, config.artifact_root())
        return sync_journals(config, tracker, resend=resend, sweep=True)
    finally:
        lock.release()

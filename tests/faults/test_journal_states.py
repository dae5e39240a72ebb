"""The journal's state machine (docs/concepts/recording.md), tested with hypothesis's stateful
testing over the real journal, the real sync and the real sender, against an in-memory store
(tests/faults/fakestore.py) that can be down, lose replies and restart empty.

Random sequences of: builds starting, tasks starting and finishing, a writer killed at any
byte of a record, any byte of a journal or confirmations file damaged, a full disk (a short
write, then ENOSPC, at the ``os.write`` level), the store down, replies lost after the store
did the work, the store wiped, the host renamed and the pid namespace changed (the values the
code reads), ``nbgov sync``. After each settling step (every writer gone, the store back,
``nbgov sync``), the invariant:

- every task run whose ``task_finished`` record was reported written is in the store exactly
  once, with its status, params and metrics, or was named by a sync (lost, or its journal
  damaged / quarantined) with what to do;
- no run is RUNNING; every task run's parent is in the store;
- no journal is left in the journal folder (each was sent or set aside: none blocked another).

Bounded in the normal suite (NBGOV_STATEFUL_EXAMPLES, default 30 examples of 20 steps);
``make faults`` runs many.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import tempfile
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from tests.faults.fakestore import FakeStore

from nbgov.core import journal as journal_module
from nbgov.core.journal import Journal, _line
from nbgov.core.oserrors import StorageError

EXAMPLES = int(os.environ.get("NBGOV_STATEFUL_EXAMPLES", "30"))
STEPS = int(os.environ.get("NBGOV_STATEFUL_STEPS", "20"))
TASKS = ("a", "b", "c")


class Writer:
    """One build process writing its journal (the test process plays it)."""

    def __init__(self, folder: Path, n: int) -> None:
        self.build = f"b{n:03d}"
        self.journal = Journal(folder, f"{self.build}.{n:08x}")
        self.parent_key = f"build:{self.build}"
        self.started: dict[str, str] = {}  # task -> key
        self.finished: set[str] = set()

    def key(self, task: str) -> str:
        return f"{self.journal.build_id}/{task}"


def _live(machine) -> bool:
    return bool(machine.live)


class JournalMachine(RuleBasedStateMachine):

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="nbgov-states-"))
        self.folder = self.root / ".nbgov" / "journal"
        self.store = FakeStore()
        self.config = SimpleNamespace(root=self.root, secrets_policy="allow")
        self.count = 0
        self.live: list[Writer] = []
        self.finished: dict[str, tuple[str, dict, dict, str]] = {}  # key -> (status, params, metrics, journal)
        self.named: set[str] = set()  # task labels and journal names a sync reported, with what to do
        self.wiped = False
        self.patches: list = []

    def teardown(self) -> None:
        for writer in self.live:
            writer.journal.release()
        for patch in self.patches:
            patch.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- builds ---------------------------------------------------------------------------
    @rule()
    def start_build(self):
        self.count += 1
        writer = Writer(self.folder, self.count)
        writer.journal.append("build_opened", key=writer.parent_key, joined=False, pid=os.getpid(),
                              host=socket.gethostname(), name=f"build {writer.build}", start_ms=1,
                              tags={"nbgov.kind": "build"})
        self.live.append(writer)

    @precondition(_live)
    @rule(w=st.integers(0, 3))
    def start_task(self, w):
        writer = self.live[w % len(self.live)]
        task = next((t for t in TASKS if t not in writer.started), None)
        if task is None:
            return
        key = writer.key(task)
        writer.journal.append("task_started", key=key, task=task, name=task, parent_key=writer.parent_key,
                              start_ms=2, tags={"nbgov.kind": "task"})
        writer.started[task] = key

    def _finish_payload(self, writer: Writer, task: str, failed: bool, value: int) -> dict:
        return dict(key=writer.key(task), task=task, parent_key=writer.parent_key,
                    status="FAILED" if failed else "FINISHED", outcome="failed" if failed else "ran",
                    start_ms=2, end_ms=3, params={"x": str(value)}, metrics={"m": float(value)},
                    tags={"nbgov.outcome": "failed" if failed else "ran"}, artifacts=[], json_artifacts={},
                    datasets=[], error=None, record=None)

    @rule(tasks=st.integers(1, 3), finish=st.integers(0, 3), failed=st.booleans(), value=st.integers(0, 99))
    def build_with_tasks(self, tasks, finish, failed, value):
        """A build that starts some tasks and finishes some of them (several steps in one: the
        interesting faults need finished runs to land on)."""
        self.start_build()
        for _ in range(tasks):
            self.start_task(len(self.live) - 1)
        for n in range(finish):
            self.finish_task(len(self.live) - 1, 0, failed and n == 0, value + n)

    @staticmethod
    def _running(writer: Writer, pick: int) -> str | None:
        running = [t for t in writer.started if t not in writer.finished]
        return running[pick % len(running)] if running else None

    @precondition(_live)
    @rule(w=st.integers(0, 3), pick=st.integers(0, 2), failed=st.booleans(), value=st.integers(0, 99))
    def finish_task(self, w, pick, failed, value):
        writer = self.live[w % len(self.live)]
        task = self._running(writer, pick)
        if task is None:
            return
        payload = self._finish_payload(writer, task, failed, value)
        writer.journal.append("task_finished", **payload)  # returned: reported written
        writer.finished.add(task)
        self.finished[payload["key"]] = (payload["status"], payload["params"], payload["metrics"],
                                         writer.journal.build_id)

    @precondition(_live)
    @rule(w=st.integers(0, 3), pick=st.integers(0, 2), value=st.integers(0, 99), written=st.integers(0, 4096))
    def disk_full(self, w, pick, value, written):
        """A record meets a full disk: some bytes go out (a short write), then ENOSPC. The
        append fails with one clear error and leaves the journal as it was."""
        writer = self.live[w % len(self.live)]
        task = self._running(writer, pick)
        if task is None:
            return
        before = writer.journal.path.read_bytes()
        calls = {"n": 0}

        def full(fd, data):
            calls["n"] += 1
            if calls["n"] == 1 and written:
                return os.write(fd, bytes(data[:max(1, min(written, len(data) - 1))]))
            raise OSError(errno.ENOSPC, "No space left on device")

        with mock.patch.object(journal_module, "_write", full), pytest.raises(StorageError) as info:
            writer.journal.append("task_finished", **self._finish_payload(writer, task, False, value))
        assert "disk is full" in info.value.message and str(writer.journal.path) in str(info.value)
        assert writer.journal.path.read_bytes() == before  # whole or not at all

    @precondition(_live)
    @rule(w=st.integers(0, 3))
    def close_build(self, w):
        writer = self.live[w % len(self.live)]
        writer.journal.append("build_closed", key=writer.parent_key, status="FINISHED", joined=False)
        writer.journal.release()  # the build process ends
        self.live.remove(writer)

    @precondition(_live)
    @rule(w=st.integers(0, 3), task=st.sampled_from(TASKS), cut=st.floats(0, 1, exclude_max=True),
          value=st.integers(0, 99))
    def crash_at_a_byte(self, w, task, cut, value):
        """The writer is killed in the middle of writing a record (any byte of it): the part
        written stays, the record was never reported written, and the kernel drops its lock."""
        writer = self.live[w % len(self.live)]
        if task in writer.started and task not in writer.finished:
            data = _line({**self._finish_payload(writer, task, False, value), "seq": 99, "t": 3,
                          "event": "task_finished", "build_id": writer.build})
        else:
            data = _line({"key": writer.key(task), "task": task, "seq": 99, "t": 3, "event": "task_started",
                          "build_id": writer.build})
        with open(writer.journal.path, "ab") as fh:
            fh.write(data[:int(cut * len(data))])
        writer.journal.release()
        self.live.remove(writer)

    # -- the disk ---------------------------------------------------------------------------
    @rule(which=st.integers(0, 50), line=st.integers(0, 50), where=st.floats(0, 1, exclude_max=True),
          byte=st.integers(0, 255))
    def damage_a_byte(self, which, line, where, byte):
        """Any byte of any line of a journal or confirmations file (its newline included)."""
        files = sorted(p for p in self.folder.glob("*") if p.suffix in (".jsonl", ".sent") and p.stat().st_size)
        if not files:
            return
        path = files[which % len(files)]
        raw = bytearray(path.read_bytes())
        starts = [0] + [i + 1 for i, b in enumerate(raw) if b == 10 and i + 1 < len(raw)]
        first = starts[line % len(starts)]
        end = raw.index(b"\n", first) + 1 if b"\n" in raw[first:] else len(raw)
        at = first + int(where * (end - first))
        if raw[at] == byte:
            return
        raw[at] = byte
        path.write_bytes(bytes(raw))

    # -- the store and the host -------------------------------------------------------------
    @rule(down=st.booleans())
    def store_down(self, down):
        self.store.down = down

    @rule(n=st.integers(1, 3))
    def lose_replies(self, n):
        self.store.lose_replies = n

    @rule()
    def store_restarted_empty(self):
        self.store.wipe()
        self.wiped = True

    @rule(host=st.sampled_from(["ci-runner-7", "container-1f3a", "laptop"]), pid=st.sampled_from([1, 2, 4242]))
    def new_host_and_pid_namespace(self, host, pid):
        """The next process runs on a renamed host, in another pid namespace (as PID 1 in a
        container, or with the writer's pid reused): nothing may depend on either."""
        for patch in (mock.patch("socket.gethostname", return_value=host), mock.patch("os.getpid", return_value=pid)):
            patch.start()
            self.patches.append(patch)

    # -- nbgov sync -------------------------------------------------------------------------
    def _sync(self, resend: bool = False, sweep: bool = False):
        from nbgov.services.recording.sync import sync_journals

        report = sync_journals(self.config, tracker=self.store, resend=resend, sweep=sweep)
        self.named |= set(report.lost) | set(report.damaged) | set(report.quarantined)
        self.named |= {name for name, _ in report.failed}
        return report

    @rule()
    def sync(self):
        report = self._sync()
        live = {w.journal.build_id for w in self.live}
        assert set(report.waiting) <= live  # only live writers are waited for
        for writer in self.live:  # a live journal is never touched
            assert writer.journal.path.exists()

    @rule()
    def settle_and_check(self):
        """Every writer gone, the store back and answering; then nothing may be lost."""
        for writer in self.live:
            writer.journal.release()
        self.live.clear()
        self.store.down = False
        self.store.lose_replies = 0
        report = self._sync(resend=self.wiped, sweep=True)
        self.wiped = False
        assert report.error is None, report.error
        assert report.failed == [], report.failed
        assert report.waiting == []
        assert sorted(p.name for p in self.folder.glob("*.jsonl")) == [], "a journal was left behind"
        by_key: dict[str, list] = {}
        for run in self.store.active():
            if run.key:
                by_key.setdefault(run.key, []).append(run)
        assert [r.name for r in self.store.active() if r.status == "RUNNING"] == [], "a run left RUNNING"
        for key, runs in by_key.items():
            assert len(runs) == 1, f"{key} is in the store {len(runs)} times"
        for run in self.store.active():
            if run.tags.get("nbgov.kind") == "task":
                assert run.parent in self.store.runs, f"{run.name} sent without its parent"
        for key, (status, params, metrics, journal) in self.finished.items():
            task = key.rsplit("/", 1)[1]
            label = f"{task} (build {journal.rsplit('.', 1)[0]})"
            if label in self.named:
                continue  # reported by name (lost), with what to do
            if journal in self.named and not self._readable(journal, key):
                continue  # every record of it damaged: its journal is named, with the damage
            runs = by_key.get(key)
            assert runs, f"finished run {key} lost without a word"
            run = runs[0]
            assert (run.status, run.params, run.metrics) == (status, params, metrics), key

    def _readable(self, journal: str, key: str) -> bool:
        """Whether the ``task_finished`` record the writer wrote for ``key`` (not one a sync
        added) can still be read: a damaged one leaves the run to its other records (KILLED)
        and the journal named as damaged, with what to do."""
        from nbgov.core.journal import AppendLog

        for folder in ("done", "quarantine", "."):
            events = AppendLog(self.folder / folder / f"{journal}.jsonl").read()[0]
            if any(e.get("key") == key and e.get("event") == "task_finished" and not e.get("synthetic")
                   for e in events):
                return True
        return False

    @invariant()
    def journals_are_never_empty(self):
        for path in self.folder.glob("*.jsonl") if self.folder.is_dir() else []:
            assert path.stat().st_size > 0, f"{path.name} is empty"


JournalMachine.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
test_journal_state_machine = JournalMachine.TestCase


def test_a_damaged_finish_record_leaves_the_run_killed_and_its_journal_named():
    """Found by CI: a finished run whose ``task_finished`` record is damaged, in a journal
    whose writer was killed mid-record, is sent KILLED from its other records, and the sync
    names the journal as damaged (the invariant's "or named" branch)."""
    state = JournalMachine()
    try:
        state.build_with_tasks(failed=False, finish=1, tasks=1, value=0)
        journal = state.live[0].journal.build_id
        state.crash_at_a_byte(cut=0.9921875, task="a", value=0, w=0)
        state.damage_a_byte(byte=0, line=1, where=0.0, which=0)
        state.damage_a_byte(byte=0, line=2, where=0.0, which=0)
        state.settle_and_check()
        assert journal in state.named
        (run,) = [r for r in state.store.active() if r.key == f"{journal}/a"]
        assert run.status == "KILLED"
    finally:
        state.teardown()

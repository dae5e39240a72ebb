"""What a commit (or anything else) can put in ``.nbgov/journal/`` never blocks, crashes or feeds a
build, a sync or the run history (docs/security.md, J4 and J8; round-12 attacks 03, 04, 10):
links (to ``/dev/zero``, a FIFO, a file outside, nowhere), folders, FIFOs, lock folders, huge
files, tracked or not. Real files in real git repositories; the store is the fake one.

- a journal git tracks is named (``journal ... not sent: git tracks ...``), never opened, and
  its files are left as they are;
- an untracked one that is no regular file or is too large is set aside unread, with the reason;
- a lock that cannot be taken (a folder) makes its journal wait, never an error;
- this machine's own journals are sent all the same.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.faults.fakestore import FakeStore

from nbgov.core import journal as journal_module
from nbgov.core import journal_entries
from nbgov.core.errors import TrackingError
from nbgov.core.journal import Journal, journal_folder
from nbgov.services.build import sources
from nbgov.services.recording import history
from nbgov.services.recording.machine import known_journal_names, machine_journals
from nbgov.services.recording.sync import SyncReport, journal_health, pending_runs, sweep_running, sync_journals

SMALL_CAP = 4096  # MAX_JOURNAL_BYTES in the property (a "huge" file is bigger than this)
# (a link to /dev/zero: its own test, in a process whose memory is capped; a broken reader here
# would take this one's memory. A link to a FIFO with no writer is the in-process "read without end")
KINDS = ("valid", "link_outside", "link_fifo", "link_nowhere", "folder", "lock_folder", "fifo", "huge")
UNTRACKABLE = {"fifo", "link_fifo"}  # git stores no FIFO (a link to one it does: not tracked here to keep it local)


def _git(root: Path, *args: str) -> str:
    author = ["-c", "user.name=A", "-c", "user.email=a@example.com", "-c", "commit.gpgsign=false"]
    return subprocess.run(["git", *author, "-C", str(root), *args], check=True, capture_output=True, text=True).stdout


def _project(base: Path, name: str = "proj") -> Path:
    """A git repository whose first commit ignores ``.nbgov/`` (what a commit adds: `git add -f`)."""
    root = base / name
    root.mkdir(parents=True)
    (root / ".gitignore").write_text(".nbgov/\n")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "base")
    return root


def _config(root: Path) -> SimpleNamespace:
    return SimpleNamespace(root=root, secrets_policy="redact", section=lambda name: {}, experiment="e",
                           resolved_tracking_uri=lambda: "http://127.0.0.1:9")


def _write_journal(folder: Path, build_id: str, task: str = "t", close: bool = False) -> Journal:
    """A journal with one finished task run (key ``<build_id>/<task>``), its writer gone."""
    journal = Journal(folder, build_id)
    journal.append("build_opened", key=f"build:{build_id}", name=f"build {build_id}", store="http://127.0.0.1:9")
    journal.append("task_started", key=f"{build_id}/{task}", task=task, name=task, parent_key=f"build:{build_id}")
    journal.append("task_finished", key=f"{build_id}/{task}", task=task, outcome="ran", status="FINISHED",
                   metrics={"m": 1.0}, artifacts=[])
    if close:
        journal.append("build_closed", key=f"build:{build_id}", status="FINISHED")
    journal.release()
    return journal


def _plant(root: Path, outside: Path, name: str, kind: str) -> list[str]:
    """Put entry ``name`` of ``kind`` in the journal folder; the paths to `git add -f`."""
    folder = journal_folder(root)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.jsonl"
    rel = f".nbgov/journal/{name}.jsonl"
    if kind == "valid":  # a real journal (as a commit would carry one): sendable if trusted
        _write_journal(folder, name)
        return [rel]
    if kind == "link_outside":
        target = outside / f"{name}.jsonl"
        _write_journal(outside, name)
        path.symlink_to(target)
        return [rel]
    if kind == "link_fifo":
        os.mkfifo(outside / f"{name}.fifo")
        path.symlink_to(outside / f"{name}.fifo")
        return [rel]
    if kind == "link_nowhere":
        path.symlink_to(outside / "no-such-file")
        return [rel]
    if kind == "folder":
        (path / "keep").parent.mkdir()
        (path / "keep").write_text("")
        return [f"{rel}/keep"]
    if kind == "lock_folder":  # round-12 attack 03: a journal whose lock is a folder
        _write_journal(folder, name)
        (folder / f"{name}.lock").unlink(missing_ok=True)
        (folder / f"{name}.lock").mkdir()
        (folder / f"{name}.lock" / "keep").write_text("")
        return [rel, f".nbgov/journal/{name}.lock/keep"]
    if kind == "fifo":
        os.mkfifo(path)
        return [rel]
    if kind == "huge":  # a real journal, then more bytes than any journal has
        _write_journal(folder, name)
        with path.open("ab") as out:
            out.write(b"\n" * (SMALL_CAP + 1))
        return [rel]
    raise AssertionError(kind)


@contextlib.contextmanager
def _no_hang(seconds: float = 10):
    """Fail instead of blocking forever (a FIFO opened for reading has no writer)."""

    def boom(*_):
        raise TimeoutError(f"blocked for {seconds} s (a FIFO or device read?)")

    old = signal.signal(signal.SIGALRM, boom)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _snapshot(root: Path, paths: list[str]) -> dict[str, tuple]:
    out = {}
    for rel in paths:
        info = os.lstat(root / rel)
        out[rel] = (info.st_mode, info.st_size, info.st_mtime_ns, info.st_ino)
    return out


plants = st.lists(st.tuples(st.sampled_from(KINDS), st.booleans()), min_size=1, max_size=4)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plants=plants, own_closed=st.booleans())
def test_nothing_planted_in_the_journal_folder_is_read_or_blocks_this_machines_journals(plants, own_closed):
    read: list[Path] = []

    def spy(path):
        read.append(Path(path))
        return journal_entries.read_entry(path)

    with tempfile.TemporaryDirectory() as tmp, mock.patch.object(journal_entries, "MAX_JOURNAL_BYTES", SMALL_CAP), \
            mock.patch.object(history, "LineageStore", side_effect=TrackingError("store down")), \
            mock.patch.object(journal_module, "read_entry", spy, create=True), _no_hang():
        base = Path(tmp)
        root, outside = _project(base), base / "outside"
        outside.mkdir()
        tracked_ids, kinds, committed = set(), {}, []
        for index, (kind, track) in enumerate(plants):
            name = f"planted{index}.p"
            paths = _plant(root, outside, name, kind)
            kinds[name] = kind
            if track and kind not in UNTRACKABLE:
                _git(root, "add", "-f", *paths)
                tracked_ids.add(name)
                committed += paths
        if committed:
            _git(root, "commit", "-qm", "a PR")
        _write_journal(journal_folder(root), "own.x", close=own_closed)  # this machine's, written last
        before = _snapshot(root, committed)
        outside_before = sorted(p.name for p in outside.iterdir())
        config = _config(root)
        read.clear()  # (what writing the journals above read)

        # listing and the readers that only look: this machine's journal only, nothing planted read
        refused: dict[str, str] = {}
        unreadable: dict[str, str] = {}
        mine = [j.build_id for j in machine_journals(root, refused, unreadable)]
        assert set(refused) == tracked_ids
        assert all(refused[name].startswith(f".nbgov/journal/{name}") for name in refused)
        assert set(unreadable) == {n for n, k in kinds.items() if n not in tracked_ids
                                   and k not in ("valid", "lock_folder")}
        assert "own.x" in mine and not set(mine) & (tracked_ids | set(unreadable))
        rows = history.task_history(config, "t")
        assert rows["store_error"] == "store down"
        assert {r["build_id"] for r in rows["runs"]} <= {"own.x"} | {
            n for n, k in kinds.items() if n not in tracked_ids and k in ("valid", "lock_folder")}
        assert any(r["id"] == "local:own.x/t" for r in rows["runs"])
        assert pending_runs(config) >= 1
        journal_health(config)

        # the build's (and nbgov sync's) sending
        store = FakeStore()
        report = sync_journals(config, store, sweep=True)
        keys = {r.key for r in store.active()}
        assert "own.x/t" in keys and "build:own.x" in keys
        for name in tracked_ids:
            assert not any(name in (k or "") for k in keys), (name, kinds[name], keys)
            assert any(line.startswith(f"journal {name} not sent: git tracks .nbgov/journal/{name}")
                       for line in report.problems())
        for name, kind in kinds.items():
            if name in tracked_ids:
                continue
            if kind == "valid":  # untracked: this machine's (it is sent)
                assert f"{name}/t" in keys
            elif kind == "lock_folder":  # its lock cannot be taken: it waits, never an error
                assert name in report.waiting and not any(name in (k or "") for k in keys)
            else:  # set aside unread, with the reason
                assert "never read" in report.quarantined[name] or "no readable record" in report.quarantined[name]
                assert not any(name in (k or "") for k in keys)
                assert os.path.lexists(journal_folder(root) / "quarantine" / f"{name}.jsonl")
        assert report.error is None and not [f for f in report.failed if f[0] != "(sweep)"]
        # what git tracks is exactly as the commit left it; nothing outside was touched
        assert _snapshot(root, committed) == before
        assert _git(root, "status", "--porcelain", "--untracked-files=no") == ""
        assert sorted(p.name for p in outside.iterdir()) == outside_before
        # no file of a journal git tracks was ever opened to be read, nor any planted entry that
        # is no regular file (each is named from its lstat)
        never = tracked_ids | {n for n, k in kinds.items() if k not in ("valid", "lock_folder")}
        opened = {p.name.split(".jsonl")[0].split(".sent")[0] for p in read}
        assert not opened & never, (opened & never, kinds)


def test_a_committed_journal_linked_to_dev_zero_is_never_read(tmp_path: Path):
    """Round-12 04/10: ``x.jsonl -> /dev/zero`` committed. Listing, status, the run history and
    a sync name it and go on, in a process whose address space is capped (a read without end
    would fail there with MemoryError, not eat the machine)."""
    root = _project(tmp_path)
    folder = journal_folder(root)
    folder.mkdir(parents=True)
    (folder / "x.jsonl").symlink_to("/dev/zero")
    _git(root, "add", "-f", ".nbgov/journal/x.jsonl")
    _git(root, "commit", "-qm", "add a file")
    _write_journal(folder, "own.x")
    script = f"""
import sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
from pathlib import Path
from unittest import mock
from tests.faults.fakestore import FakeStore
from tests.faults.test_journal_plants import _config
from nbgov.core.errors import TrackingError
from nbgov.services.recording import history
from nbgov.services.recording.sync import pending_runs, sync_journals
config = _config(Path({str(root)!r}))
with mock.patch.object(history, "LineageStore", side_effect=TrackingError("down")):
    rows = history.task_history(config, "t")["runs"]
print("rows", [r["id"] for r in rows], "pending", pending_runs(config))
store = FakeStore()
report = sync_journals(config, store)
print("sent", sorted(r.key for r in store.active()))
print("\\n".join(report.problems()))
"""
    cap = 1024 * 1024 * 1024

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          preexec_fn=limit, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "rows ['local:own.x/t'] pending 1" in proc.stdout
    assert "sent ['build:own.x', 'own.x/t']" in proc.stdout
    assert "journal x not sent: git tracks .nbgov/journal/x.jsonl" in proc.stdout
    assert (folder / "x.jsonl").is_symlink()


def test_claiming_a_journal_is_total(tmp_path: Path):
    """J4: a lock that is a folder (or a FIFO, or any file that cannot be opened) means "not
    claimable", never an error nor a wait; a journal that is a FIFO is claimed without blocking."""
    folder = tmp_path / "journal"
    journal = _write_journal(folder, "a.x")
    journal.lock_path.unlink()
    journal.lock_path.mkdir()
    assert journal.claim() is False and not journal.held and journal.live() is True
    assert sources._orphaned(journal) is False
    os.mkfifo(folder / "b.x.jsonl")
    fifo = Journal(folder, "b.x")
    with _no_hang(5):
        assert fifo.scan().refused.startswith("not a regular file")
        assert fifo.claim() is True
    fifo.release()
    broken = SimpleNamespace(claim=mock.Mock(side_effect=RuntimeError("boom")))
    assert sources._orphaned(broken) is False


def test_the_sweep_counts_no_journal_git_tracks_as_this_projects(tmp_path: Path):
    """A committed ``done/other.x.jsonl`` made another machine's RUNNING run ``other.x/t`` look
    like a dead build of this project (ended FAILED by the sweep); only untracked names count."""
    root = _project(tmp_path)
    _write_journal(journal_folder(root) / "done", "other.x", close=True)
    _git(root, "add", "-f", ".nbgov/journal/done/other.x.jsonl")
    _write_journal(journal_folder(root) / "quarantine", "mine.x")
    assert known_journal_names(root) == {"mine.x"}
    store = FakeStore()
    theirs = store.create_run("t", 0, tags={"nbgov.run_key": "other.x/t"})
    ours = store.create_run("t", 0, tags={"nbgov.run_key": "mine.x/t"})
    report = SyncReport()
    sweep_running(_config(root), store, [], report)
    assert store.runs[theirs].status == "RUNNING" and store.runs[ours].status == "FAILED"


def _checkout(cache: Path, name: str) -> Path:
    root = _project(cache / "checkouts", name)
    (root / "nbgov.toml").write_text('tracking_uri = "http://127.0.0.1:9"\n')
    return root


def test_one_bad_checkout_never_stops_the_sending_of_another(tmp_path: Path, monkeypatch, capsys):
    """Round-12 03: in an exported task's source cache, a checkout whose commit tracks a journal
    (with a lock folder, or whole) is nobody's record (not claimed, not sent, no error); one whose sending
    raises is said in one line; a killed task's checkout is still sent and removed."""
    cache = tmp_path / "cache"
    planted = _checkout(cache, "a-planted")
    _write_journal(journal_folder(planted), "x")
    (journal_folder(planted) / "x.lock").unlink()
    (journal_folder(planted) / "x.lock").mkdir()
    (journal_folder(planted) / "x.lock" / "keep").write_text("")
    _git(planted, "add", "-f", ".nbgov")
    committed = _checkout(cache, "a2-committed")  # a whole journal of another machine, tracked
    _write_journal(journal_folder(committed), "c.x")
    _git(committed, "add", "-f", ".nbgov")
    raising = _checkout(cache, "b-raising")
    _write_journal(journal_folder(raising), "r.x")
    killed = _checkout(cache, "c-killed")
    _write_journal(journal_folder(killed), "k.x")
    new = _checkout(cache, "d-new")
    dropped, sent = [], []

    def fake_sync(config, wait):
        if config.root == raising:
            raise RuntimeError("a damaged\ncheckout")
        store = FakeStore()
        report = sync_journals(_config(config.root), store)
        sent.extend(r.key for r in store.active())
        return report

    monkeypatch.setattr("nbgov.services.recording.sync.sync", fake_sync)
    monkeypatch.setattr(sources, "load_config", _config)
    monkeypatch.setattr(sources, "drop_checkout", dropped.append)
    assert sources.send_what_killed_tasks_left(new) == 1
    err = capsys.readouterr().err
    assert sorted(sent) == ["build:k.x", "k.x/t"] and dropped == [killed]
    assert f"could not send what a killed task left in {raising} (a damaged checkout)" in err
    assert str(planted) not in err and str(committed) not in err  # nothing of theirs is this machine's
    assert (journal_folder(planted) / "x.lock").is_dir()

    # whatever escapes a checkout's handling is said, and the next checkout is looked at
    def failing(root):
        if root == planted:
            raise MemoryError()
        return []

    monkeypatch.setattr(sources, "machine_journals", failing)
    assert sources.send_what_killed_tasks_left(new) == 0
    assert "could not send what a killed task left in" in capsys.readouterr().err


def test_a_task_keeps_its_checkout_only_for_its_own_journals(tmp_path: Path, monkeypatch, capsys):
    """Round-12 03: the PR's own task kept its checkout because the commit tracks a journal;
    and a failing look at the other checkouts leaked the new one. Neither now."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cache = tmp_path / "cache"
    checkout = _checkout(cache, "pr")
    (checkout / "pipeline.yaml").write_text("clients:\n  File: storage.get_client\ntasks: []\n")
    folder = journal_folder(checkout)
    _write_journal(folder, "x")
    (folder / "x.lock").unlink()
    (folder / "x.lock").mkdir()
    (folder / "x.lock" / "keep").write_text("")
    _git(checkout, "add", "-f", ".nbgov")
    dropped = []
    monkeypatch.setattr(sources, "fetch_checkout", lambda repository, commit, build=None: checkout)
    monkeypatch.setattr(sources, "drop_checkout", dropped.append)
    monkeypatch.setattr(sources, "send_what_killed_tasks_left", mock.Mock(side_effect=OSError("is a directory")))
    with sources.fetched_project("file:///r", "0" * 40) as root:
        assert root == checkout
    err = capsys.readouterr().err
    assert dropped == [checkout] and "kept the task's checkout" not in err
    assert "could not look at what killed tasks left" in err
    # the task's own journal with runs the store has not got: kept, and said
    dropped.clear()
    monkeypatch.setattr(sources, "send_what_killed_tasks_left", lambda root: 0)
    with sources.fetched_project("file:///r", "0" * 40):
        _write_journal(folder, "own.x")
    assert dropped == [] and "kept the task's checkout" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["link", "fifo", "huge"])
def test_appending_never_goes_through_what_is_in_a_journals_place(tmp_path: Path, kind: str, monkeypatch):
    """A journal's writer (closing an orphan) writes only into a regular file: never through a
    link (the file outside stays as it was), never into a FIFO (no block)."""
    from nbgov.core.errors import NbgovError

    folder = tmp_path / "journal"
    folder.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("keep\n")
    path = folder / "j.x.jsonl"
    if kind == "link":
        path.symlink_to(outside)
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        monkeypatch.setattr(journal_entries, "MAX_JOURNAL_BYTES", 10)
        _write_journal(folder, "j.x")
    journal = Journal(folder, "j.x")
    with _no_hang(5):
        assert journal.scan().refused
        if kind != "huge":
            with pytest.raises(NbgovError, match="could not write the journal"):
                journal.append("build_closed", key="build:j", status="KILLED")
    assert outside.read_text() == "keep\n"

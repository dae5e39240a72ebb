"""Issue 24 at the core: records written whole or not at all, liveness from the writer's lock
(never pid or hostname), a build lock that deleting ``build.lock`` does not release, and a
template process that works when the build is PID 1."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

import nbgov
from nbgov.core import journal as journal_module
from nbgov.core.journal import AppendLog, Journal

SRC = str(Path(nbgov.__file__).parents[1])  # the tree under test, also in subprocesses


def _writes(monkeypatch, plan):
    """Replace the journal's ``os.write`` by one following ``plan``: per call, an int (write at
    most that many bytes) or an errno (raise it)."""
    calls = iter(plan)

    def fake(fd, data):
        step = next(calls, None)
        if step is None:
            return os.write(fd, data)
        kind, value = step
        if kind == "error":
            raise OSError(value, os.strerror(value))
        return os.write(fd, bytes(data[:value]))

    monkeypatch.setattr(journal_module, "_write", fake)


def test_short_writes_are_continued_until_the_record_is_whole(tmp_path: Path, monkeypatch):
    journal = Journal(tmp_path, "b.1")
    journal.append("build_opened", key="build:b")
    big = "x" * 2_000_000  # a 2 MB record: a full pipe or disk writes it in pieces
    _writes(monkeypatch, [("bytes", 4096), ("bytes", 1), ("bytes", 65536)])
    journal.append("task_finished", key="b.1/a", task="a", params={"big": big})
    events, damaged = journal.log.read()
    assert damaged == 0 and events[-1]["params"]["big"] == big


def test_a_full_disk_leaves_the_journal_as_it_was_and_says_so_in_one_line(tmp_path: Path, monkeypatch):
    from nbgov.core.oserrors import StorageError

    journal = Journal(tmp_path, "b.1")
    journal.append("build_opened", key="build:b")
    before = journal.path.read_bytes()
    _writes(monkeypatch, [("bytes", 100), ("error", errno.ENOSPC)])
    with pytest.raises(StorageError) as info:
        journal.append("task_finished", key="b.1/a", task="a", params={"big": "x" * 100_000})
    assert journal.path.read_bytes() == before  # cut back: no half record
    assert info.value.message == "could not write the journal: the disk is full"
    assert str(journal.path) in str(info.value) and "free some space" in info.value.hint
    assert "\n" not in info.value.message
    # the next record gets the next number: the failed one left no gap and no trace
    assert journal.append("build_closed", key="build:b")["seq"] == 2


def test_a_journal_is_never_created_empty(tmp_path: Path, monkeypatch):
    from nbgov.core.oserrors import StorageError

    _writes(monkeypatch, [("error", errno.ENOSPC)])
    with pytest.raises(StorageError):
        Journal(tmp_path, "b.1").append("build_opened", key="build:b")
    assert not (tmp_path / "b.1.jsonl").exists()
    assert [p.name for p in tmp_path.iterdir() if p.suffix != ".lock"] == []  # no temporary left


def test_a_damaged_newline_at_the_end_is_read_and_counted(tmp_path: Path):
    journal = Journal(tmp_path, "b.1")
    journal.append("build_opened", key="build:b")
    journal.append("task_finished", key="b.1/a", task="a", status="FINISHED")
    raw = bytearray(journal.path.read_bytes())
    raw[-1] = ord("Z")  # the last record's newline damaged: not a torn record
    journal.path.write_bytes(bytes(raw))
    scan = AppendLog(journal.path).scan()
    assert [e["event"] for e in scan.events] == ["build_opened", "task_finished"] and scan.recovered == 1


def _writer(folder: Path, name: str, host: str = "", pid: str = "") -> subprocess.Popen:
    code = (f"import sys,time,os; sys.path.insert(0, {SRC!r});"
            "from nbgov.core.journal import Journal; from pathlib import Path;"
            f"j = Journal(Path({str(folder)!r}), {name!r});"
            f"j.append('build_opened', key='build:x', pid={pid or 'os.getpid()'}, host={host!r} or 'here');"
            "print('writing', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    return proc


@pytest.mark.parametrize("written_as", ["this host", "another host", "pid 1 in a container", "a pid now reused"])
def test_liveness_is_the_writers_lock_never_its_pid_or_host(tmp_path: Path, written_as: str):
    """A journal is live while its writer holds its lock, and dead the moment it does not,
    whatever the pid and hostname it recorded (PID 1, a renamed host, a reused pid)."""
    host = {"another host": "ci-runner-old"}.get(written_as, "")
    pid = {"pid 1 in a container": "1", "a pid now reused": str(os.getpid())}.get(written_as, "")
    proc = _writer(tmp_path, "b.1", host, pid)
    try:
        journal = Journal(tmp_path, "b.1")
        assert journal.live() and not journal.claim()
    finally:
        proc.kill()
        proc.wait()
    assert not journal.live()
    assert journal.claim()  # the sync takes it over
    journal.append("build_closed", key="build:x", status="KILLED")
    journal.release()


def test_a_live_journal_whose_lock_file_was_deleted_stays_live(tmp_path: Path):
    """The fault hunt's break: `rm .nbgov/journal/*.lock` under a live build (an engine task,
    which holds no project lock) let `nbgov sync` close its journal and end its running task
    KILLED. The writer's lock on the journal file itself still says it is alive."""
    proc = _writer(tmp_path, "b.1")
    try:
        (tmp_path / "b.1.lock").unlink()
        journal = Journal(tmp_path, "b.1")
        assert journal.live() and not journal.claim()
        assert not journal.held
    finally:
        proc.kill()
        proc.wait()
    assert not journal.live() and journal.claim()
    journal.release()


def test_a_retired_journal_leaves_no_lock_file(tmp_path: Path):
    journal = Journal(tmp_path, "b.1")
    journal.append("build_opened", key="build:b")
    assert journal.lock_path.exists() and journal.held
    journal_module.retire(journal)
    assert not journal.lock_path.exists() and not journal.held


def test_deleting_build_lock_during_a_build_does_not_let_a_second_build_in(tmp_path: Path):
    from nbgov.core.lock import LockHeldError, build_lock

    code = (f"import sys,time; sys.path.insert(0, {SRC!r});"
            "from nbgov.core.lock import build_lock; from pathlib import Path;"
            f"l = build_lock(Path({str(tmp_path)!r})); l.acquire(command='nbgov build'); print('held', flush=True);"
            "time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        (tmp_path / ".nbgov" / "build.lock").unlink()  # the stale-lock reflex
        with pytest.raises(LockHeldError):
            build_lock(tmp_path).acquire(wait=0.3)
    finally:
        holder.kill()
        holder.wait()
    lock = build_lock(tmp_path)
    lock.acquire(wait=5)
    assert lock.holder()["pid"] == os.getpid()
    lock.release()


def test_a_lock_wait_says_what_it_waits_for(tmp_path: Path):
    from nbgov.core.lock import LockHeldError, ProjectLock

    first = ProjectLock(tmp_path / "x.lock")
    first.acquire(command="nbgov build")
    said = []
    with pytest.raises(LockHeldError):
        ProjectLock(tmp_path / "x.lock").acquire(wait=0.3, waiting=said.append)
    first.release()
    assert len(said) == 1 and said[0].startswith("nbgov build (pid ")


def test_an_unwritable_lock_folder_is_one_line_naming_it(tmp_path: Path):
    from nbgov.core.lock import ProjectLock
    from nbgov.core.oserrors import StorageError

    with mock.patch("os.open", side_effect=OSError(errno.EROFS, "Read-only file system")):
        with pytest.raises(StorageError) as info:
            ProjectLock(tmp_path / "x.lock").acquire()
    assert "read-only" in info.value.message and "x.lock" in str(info.value.where)


@pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0, reason="needs unshare as root")
def test_the_template_process_lives_when_the_build_is_pid_1(tmp_path: Path):
    """`docker run ... nbgov build`: the build is PID 1, so its children's parent pid is 1 from
    their first instant; the template must not take that for its parent's death."""
    code = (f"import os,sys,time; sys.path.insert(0, {SRC!r});"
            "from pathlib import Path; from nbgov.adapters.kernels.template import start_template, stop_template;"
            f"assert os.getpid() == 1; t = start_template(Path({str(tmp_path)!r}), [], ['json']);"
            "info = t.wait_preloaded(); time.sleep(0.5);"
            "print('alive' if t.alive() else 'dead', t.refusal([sys.executable, '-m', 'ipykernel_launcher'], "
            "dict(t.env), 'python'), flush=True); stop_template()")
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", code],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[:2] == ["alive", "None"], done.stdout + done.stderr[-1000:]


def test_pipe_closed_tells_a_dead_parent_from_a_live_one():
    from nbgov.adapters.kernels._forkserver import pipe_closed

    r, w = os.pipe()
    try:
        assert not pipe_closed(r)
        os.close(w)
        assert pipe_closed(r)
    finally:
        os.close(r)


def test_a_dead_kernel_says_what_usually_kills_one():
    """Issue 24 case 9: the task of a killed template process failed with "Kernel died" and no
    hint why."""
    from nbgov.adapters.ploomber.outcomes import task_error

    message = ('Traceback (most recent call last):\nnbclient.exceptions.DeadKernelError: Kernel died\n'
               'ploomber.exceptions.TaskBuildError: Error building task "b"\nError building task "b"')
    error = task_error(message, "b")
    assert error.startswith("DeadKernelError: Kernel died") and "out of memory" in error
    assert "NBGOV_WARM_KERNELS=0" in error


def test_a_deleted_journal_lock_is_taken_again_by_its_writer(tmp_path: Path):
    """The stale-lock reflex on a journal's lock file: the writer takes a new one at its next
    record, so a sync finds the journal live again (and never takes over a live journal
    after that)."""
    journal = Journal(tmp_path, "b.1")
    journal.append("build_opened", key="build:b")
    journal.lock_path.unlink()
    journal.append("task_started", key="b.1/a", task="a")
    assert journal.lock_path.exists() and Journal(tmp_path, "b.1").live()


def test_nbgov_says_when_ctrl_c_cannot_reach_a_build(tmp_path: Path):
    """Issue 24 case 9: a build started with SIGINT ignored (nohup, a background job) cannot be
    stopped with Ctrl-C: it says so on the terminal, and how to stop it."""
    import pty
    import signal

    (tmp_path / "nbgov.toml").write_text('experiment = "x"\n')  # a project (its spec is missing)
    master, slave = pty.openpty()
    try:
        done = subprocess.run([sys.executable, "-m", "nbgov", "build", "--project", str(tmp_path)],
                              stderr=slave, stdout=subprocess.DEVNULL, timeout=120,
                              env={**os.environ, "PYTHONPATH": SRC},
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        os.close(slave)
        slave = -1
        said = b""
        with contextlib.suppress(OSError):
            while chunk := os.read(master, 4096):
                said += chunk
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    text = said.decode("utf-8", "replace")
    assert done.returncode != 0 and "Ctrl-C cannot reach this build" in text and "kill " in text, text

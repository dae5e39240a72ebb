"""Issue 24, case by case, through the real CLI and a real (embedded SQLite) tracking store:
journals written on another host, by PID 1 or by a pid now reused; an empty journal and a
damaged parent that used to block every later journal; a damaged finish that used to become a
fake KILLED; a store restarted empty; waits that say what they wait for; one-line OS errors;
SIGHUP; a task whose outputs cannot be read on a full disk.

The journals here are written byte by byte as a killed build leaves them (nobody holds their
lock), so the same tests run against older nbgov code too (they failed there: see the report
of issue 24).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.build.conftest import make_tiny, mlflow_runs, run_cli

from nbgov.core.journal import _line

pytestmark = pytest.mark.integration


def _write_journal(root: Path, name: str, events: list[dict], damage: int | None = None) -> Path:
    """A journal as a killed build leaves it; ``damage``: index of a line to damage."""
    folder = root / ".nbgov" / "journal"
    folder.mkdir(parents=True, exist_ok=True)
    build = name.rsplit(".", 1)[0]
    lines = []
    for seq, event in enumerate(events, 1):
        line = _line({"build_id": build, **event, "seq": seq, "t": 1_700_000_000_000 + seq})
        if damage == seq - 1:
            line = line.replace(b'"event"', b'"evXnt"')  # checksum no longer matches
        lines.append(line)
    path = folder / f"{name}.jsonl"
    path.write_bytes(b"".join(lines))
    return path


def _opened(build: str, **extra) -> dict:
    return {"event": "build_opened", "key": f"build:{build}", "joined": False, "name": f"build {build}",
            "start_ms": 1_700_000_000_000, "tags": {"nbgov.kind": "build", "nbgov.build_id": build}, **extra}


def _started(journal: str, task: str, **extra) -> dict:
    build = journal.rsplit(".", 1)[0]
    return {"event": "task_started", "key": f"{journal}/{task}", "task": task, "name": task,
            "parent_key": f"build:{build}", "start_ms": 1_700_000_000_001,
            "tags": {"nbgov.kind": "task", "nbgov.task": task, "nbgov.build_id": build}, **extra}


def _finished(journal: str, task: str, value: int = 1) -> dict:
    build = journal.rsplit(".", 1)[0]
    return {"event": "task_finished", "key": f"{journal}/{task}", "task": task, "parent_key": f"build:{build}",
            "status": "FINISHED", "outcome": "ran", "start_ms": 1_700_000_000_001, "end_ms": 1_700_000_000_900,
            "params": {"x": str(value)}, "metrics": {"m": float(value)}, "tags": {"nbgov.outcome": "ran"},
            "artifacts": [], "json_artifacts": {}, "datasets": [], "error": None, "record": None}


def _closed(build: str) -> dict:
    return {"event": "build_closed", "key": f"build:{build}", "status": "FINISHED", "joined": False}


def _store(root: Path) -> dict[str, object]:
    """The runs of the tiny project's embedded store, by run key (parents by build id)."""
    runs = mlflow_runs(f"sqlite:///{root / 'mlflow.db'}", "tiny")
    return {r.data.tags.get("nbgov.run_key") or r.info.run_id: r for r in runs}


@pytest.fixture
def project(git_repo: Path) -> Path:
    return make_tiny(git_repo)


@pytest.mark.parametrize("written_as", ["another host", "a pid now reused", "PID 1 in a container"])
def test_a_killed_builds_journal_is_sent_whatever_its_pid_and_host(project: Path, written_as: str):
    """Issue 24 cases 1-2: liveness was a pid and a hostname: a journal from another host, from
    PID 1, or whose pid now belongs to another live process, was skipped forever in silence."""
    opened = {"another host": {"pid": 4242, "host": "ci-runner-renamed"},
              "a pid now reused": {"pid": os.getpid(), "host": os.uname().nodename},
              "PID 1 in a container": {"pid": 1, "host": os.uname().nodename}}[written_as]
    name = "b1.0000aaaa"
    _write_journal(project, name, [_opened("b1", **opened), _started(name, "a"), _finished(name, "a", 7)])
    synced = run_cli(project, "sync")
    assert synced.returncode == 0, synced.stderr[-2000:]
    runs = _store(project)
    run = runs.get(f"{name}/a")
    assert run is not None, f"the journal was skipped: {synced.stdout} {synced.stderr}"
    assert (run.info.status, run.data.params, run.data.metrics) == ("FINISHED", {"x": "7"}, {"m": 7.0})
    assert [r.info.run_name for r in runs.values() if r.info.status == "RUNNING"] == []
    assert not (project / ".nbgov/journal" / f"{name}.jsonl").exists()  # retired


def test_an_empty_journal_does_not_block_the_journals_after_it(project: Path):
    """Issue 24 case 3: an empty journal (a build started on a full disk, by an older nbgov) made
    every sync exit 2 and send nothing after it."""
    empty = _write_journal(project, "b0.00000000", [])
    os.utime(empty, (1, 1))  # the oldest: first in line
    name = "b2.0000bbbb"
    _write_journal(project, name, [_opened("b2"), _started(name, "a"), _finished(name, "a"), _closed("b2")])
    synced = run_cli(project, "sync")
    assert synced.returncode == 0, synced.stderr[-2000:]
    assert _store(project)[f"{name}/a"].info.status == "FINISHED"
    assert not empty.exists()


def test_a_damaged_parent_is_reconstructed_and_sent_before_its_task_runs(project: Path):
    """Issue 24 case 3: a damaged build_opened line blocked every sync ("the parent run ... is
    not in the store yet"), and task runs went to the store without their parent."""
    name = "b3.0000cccc"
    _write_journal(project, name, [_opened("b3"), _started(name, "a"), _finished(name, "a"), _closed("b3")],
                   damage=0)
    later = "b4.0000dddd"
    _write_journal(project, later, [_opened("b4"), _started(later, "c"), _finished(later, "c"), _closed("b4")])
    synced = run_cli(project, "sync")
    assert synced.returncode == 0, synced.stderr[-2000:]
    assert "1 damaged record" in synced.stderr
    runs = _store(project)
    parent = runs["build:b3"]
    assert parent.data.tags.get("nbgov.reconstructed") == "true" and parent.info.status != "RUNNING"
    assert runs[f"{name}/a"].data.tags.get("mlflow.parentRunId") == parent.info.run_id
    assert runs[f"{later}/c"].info.status == "FINISHED"


def test_a_damaged_finish_is_named_and_rebuilt_never_a_fake_killed(project: Path):
    """Issue 24 case 4: a damaged line in the middle turned a task that succeeded into a KILLED
    run with no metrics, and the damage was reported nowhere."""
    name = "b5.0000eeee"
    record = project / "products" / "a.lineage.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"run_key": f"{name}/a", "outcome": "succeeded"}))
    _write_journal(project, name, [_opened("b5"), _started(name, "a", record_path="products/a.lineage.json"),
                                   _finished(name, "a"), _closed("b5")], damage=2)
    status = run_cli(project, "status")
    assert "damaged record" in status.stderr, status.stderr[-2000:]
    synced = run_cli(project, "sync")
    assert synced.returncode == 0, synced.stderr[-2000:]
    run = _store(project)[f"{name}/a"]
    assert run.info.status == "FAILED" and run.data.tags.get("nbgov.outcome") == "lost"
    assert "a (build b5)" in synced.stderr and "run again" in synced.stderr
    assert not record.exists() and record.with_name("a.lineage.json.lost").exists()  # the task runs again


def test_a_store_restarted_empty_is_noticed_and_resend_puts_the_runs_back(project: Path):
    """Issue 24 case 7: a store wiped under a project: status went on showing the old run ids;
    `nbgov sync --resend` sends them again from the kept journals."""
    built = run_cli(project, "build", "-q")
    assert built.returncode == 0, built.stderr[-2000:]
    before = {k for k in _store(project) if "/" in k}
    (project / "mlflow.db").unlink()
    shutil.rmtree(project / "mlruns", ignore_errors=True)
    status = run_cli(project, "status")
    assert "no longer in the tracking store" in status.stderr and "--resend" in status.stderr, status.stderr
    from tests.build.conftest import notebook, write_nb

    write_nb(project / "notebooks/c.ipynb", notebook(  # c runs again; a and b are up to date
        "upstream = None\nproduct = None", "from pathlib import Path\nPath(product['data']).write_text('c2')"))
    rebuilt = run_cli(project, "build", "-q")
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    assert "no longer in the tracking store (a, b)" in rebuilt.stderr, rebuilt.stderr[-2000:]
    resent = run_cli(project, "sync", "--resend")
    assert resent.returncode == 0, resent.stderr[-2000:]
    after = _store(project)
    assert before <= set(after) and all(after[k].info.status == "FINISHED" for k in before)
    assert "no longer in the tracking store" not in run_cli(project, "status").stderr
    again = run_cli(project, "sync", "--resend")  # idempotent: found by key, not duplicated
    assert again.returncode == 0 and len(_store(project)) == len(after)


def test_a_wait_for_the_build_lock_says_what_it_waits_for(project: Path):
    """Issue 24 case 9: `sync` and `build --wait` printed nothing while waiting."""
    from nbgov.core.lock import build_lock

    lock = build_lock(project)
    lock.acquire(command="nbgov build")
    try:
        synced = run_cli(project, "sync", "--timeout", "1")
    finally:
        lock.release()
    assert synced.returncode == 2
    assert f"waiting for nbgov build (pid {os.getpid()}" in synced.stderr, synced.stderr


def test_an_os_error_is_one_line_naming_the_path(project: Path):
    """Issue 24 case 8: OS errors (here: `.nbgov` is a file, not a folder) were tracebacks."""
    (project / ".nbgov").write_text("not a folder")
    built = run_cli(project, "build", "-q", "--force")
    assert built.returncode == 2
    assert "Traceback" not in built.stderr and ".nbgov" in built.stderr, built.stderr[-3000:]
    assert len([ln for ln in built.stderr.splitlines() if ln.strip()]) <= 2, built.stderr


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root (a read-only bind mount)")
def test_a_read_only_project_is_one_line(project: Path):
    """Issue 24 case 8: a read-only project was a 29-line traceback."""
    script = (f"mount --bind {project} {project} && mount -o remount,bind,ro {project} && "
              f"cd {project} && {sys.executable} -m nbgov build -q --force")
    env = {**os.environ, "PLOOMBER_STATS_ENABLED": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True, env=env,
                          timeout=300)
    if "mount:" in done.stderr and "permission denied" in done.stderr.lower():
        pytest.skip(f"bind mounts refused here: {done.stderr.strip()[:200]}")
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "read-only" in done.stderr, done.stderr[-3000:]


def test_sighup_ends_a_build_like_sigterm_its_runs_closed(project: Path):
    """Issue 24 case 9: closing the terminal (SIGHUP) killed the build silently, its runs left
    RUNNING until the next build."""
    from tests.build.conftest import notebook, write_nb

    write_nb(project / "notebooks/c.ipynb", notebook(
        "upstream = None\nproduct = None",
        "import time\nfrom pathlib import Path\ntime.sleep(30)\nPath(product['data']).write_text('c')"))
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PLOOMBER_STATS_ENABLED"] = "false"
    proc = subprocess.Popen([sys.executable, "-m", "nbgov", "build", "-q", "--force", "c"], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    from nbgov.core.journal import AppendLog

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until task c started (from its journal: the store's schema is being made)
        events = [e for p in (project / ".nbgov/journal").glob("*.jsonl") for e in AppendLog(p).read()[0]]
        if any(e["event"] == "task_started" and e.get("task") == "c" for e in events):
            break
        time.sleep(0.3)
    time.sleep(1.0)
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != -signal.SIGHUP, "killed silently by SIGHUP"
    assert "Traceback" not in err, err[-2000:]
    runs = _store(project)
    assert [r.info.run_name for r in runs.values() if r.info.status == "RUNNING"] == [], err[-2000:]
    assert any(r.info.run_name == "c" and r.info.status == "KILLED" for r in runs.values())


def test_a_task_whose_outputs_cannot_be_read_on_a_full_disk_is_failed_with_the_reason(project: Path, monkeypatch):
    """Issue 24 case 5: a task that met ENOSPC was recorded as KILLED."""
    from nbgov.adapters.ploomber import TaskInfo
    from nbgov.core.config import load_config
    from nbgov.services.recording import recorder as recording

    config = load_config(project)
    info = TaskInfo("a", project / "notebooks/a.ipynb", {"data": project / "products/a.txt"}, {}, [],
                    notebook_product=project / "products/a.ipynb")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(project / "products/a.ipynb"))

    monkeypatch.setattr(recording, "task_run_event", full)
    rec = recording.Recorder(config, [info])
    rec.task_started("a")
    rec.task_finished("a", "ran")
    report = rec.close("FAILED")
    ends = [e for e in rec.journal.events() if e["event"] == "task_finished"]
    if not ends:  # sent and retired
        done = project / ".nbgov/journal/done" / f"{rec.journal.build_id}.jsonl"
        from nbgov.core.journal import AppendLog

        ends = [e for e in AppendLog(done).read()[0] if e["event"] == "task_finished"]
    assert [(e["status"], e["outcome"]) for e in ends] == [("FAILED", "failed")]
    assert "the disk is full" in ends[0]["error"] and "a.ipynb" in ends[0]["error"]
    assert report.tasks["a"].outcome == "ran" or report.tasks["a"].error


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root (unshare --pid)")
def test_a_build_as_pid_1_uploads_live_and_keeps_its_warm_kernels(project: Path):
    """Issue 24 case 1: as a container's entrypoint (PID 1), with a healthy embedded store, the
    build warned "tracking store unreachable", uploaded nothing live and ran without warm
    kernels: its children took `getppid() == 1` for their parent's death."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update({"PLOOMBER_STATS_ENABLED": "false", "NBGOV_WARM_KERNELS": "1"})
    done = subprocess.run(["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", sys.executable, "-m", "nbgov",
                           "build", "--force", "--json"], cwd=project, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["pending"] == 0 and summary["offline_reason"] is None, (summary, done.stderr[-2000:])
    assert "kept locally" not in done.stderr and "template process ended" not in done.stderr, done.stderr[-2000:]
    assert all(t["run_id"] for t in summary["tasks"]), summary["tasks"]


def test_a_build_stopped_by_a_full_disk_ends_its_running_task_failed_with_the_reason(project: Path):
    """Issue 24 case 5: the disk filling up in the build process itself (writing the executed
    notebook) stopped the build, and the running task's run was recorded as KILLED."""
    from nbgov.adapters.ploomber import TaskInfo
    from nbgov.core.config import load_config
    from nbgov.services.recording.recorder import Recorder

    config = load_config(project)
    info = TaskInfo("a", project / "notebooks/a.ipynb", {"data": project / "products/a.txt"}, {}, [],
                    notebook_product=project / "products/a.ipynb")
    rec = Recorder(config, [info])
    rec.task_started("a")
    rec.close("FAILED", "the disk is full (products/a.ipynb)")
    from nbgov.core.journal import AppendLog

    paths = [rec.journal.path, project / ".nbgov/journal/done" / f"{rec.journal.build_id}.jsonl"]
    ends = [e for p in paths for e in AppendLog(p).read()[0] if e["event"] == "task_finished"]
    assert [(e["status"], e["outcome"]) for e in ends] == [("FAILED", "failed")]
    assert ends[0]["error"].startswith("the disk is full (products/a.ipynb)")

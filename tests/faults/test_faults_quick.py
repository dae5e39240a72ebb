"""Faults, for real: a tracking server that is down or killed, a build killed (SIGKILL) or
interrupted (SIGINT) mid-task, two builds at once. After each fault, the next build and
``nbgov sync`` must leave one closed run per finished task, no RUNNING run, and no task called
up to date that is not. (The long seeded campaign is tests/faults/test_faults_campaign.py.)"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.build.conftest import GLUE, make_tiny, mlflow_runs, notebook, run_cli, write_nb
from tests.faults.conftest import start_mlflow_server, stop

pytestmark = pytest.mark.integration

SLOW_B = ("upstream = ['a']\nproduct = None",
          GLUE,
          "from pathlib import Path",
          "import time\nPath(product['data']).write_text('partial')\ntime.sleep(30)",
          "v = int(Path(upstream['a']['data']).read_text())\nPath(product['data']).write_text(str(v + 1))",
          "glue('b_value', v + 1)")


def _store(root: Path) -> str:
    return f"sqlite:///{root / 'mlflow.db'}"


def _task_runs(uri: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for run in mlflow_runs(uri, "tiny"):
        if run.data.tags.get("nbgov.kind") == "task":
            out.setdefault(run.data.tags["nbgov.task"], []).append(run)
    return out


def _all_runs(uri: str) -> list:
    return mlflow_runs(uri, "tiny")


def _popen_build(root: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    full.update({"PLOOMBER_STATS_ENABLED": "false", **(env or {})})
    return subprocess.Popen([sys.executable, "-m", "nbgov", "build", "-q", *args], cwd=root, env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_started(root: Path, task: str, timeout: float = 120) -> None:
    """Until the journal says ``task`` started (the build is inside that task now)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in (root / ".nbgov/journal").glob("*.jsonl"):
            if '"event":"task_started"' in path.read_text() and f'"task":"{task}"' in path.read_text():
                return
        time.sleep(0.2)
    raise AssertionError(f"task {task} did not start in {timeout} s")


def _invariants(root: Path, uri: str) -> None:
    """No RUNNING run; no duplicate run per key; every lineage record names a closed run."""
    runs = _all_runs(uri)
    assert [r.info.run_name for r in runs if r.info.status == "RUNNING"] == []
    keys = [r.data.tags.get("nbgov.run_key") for r in runs]
    assert len(keys) == len(set(keys)), keys
    by_id = {r.info.run_id: r for r in runs}
    for record_path in (root / "products").glob("*.lineage.json"):
        record = json.loads(record_path.read_text())
        assert record["run_id"] in by_id, record_path
        assert by_id[record["run_id"]].info.status in ("FINISHED", "FAILED", "KILLED")


@pytest.fixture
def tiny(git_repo: Path) -> Path:
    return make_tiny(git_repo)


def test_kill9_mid_task_loses_nothing_and_next_build_repairs(tiny: Path):
    write_nb(tiny / "notebooks/b.ipynb", notebook(*SLOW_B))
    subprocess.run(["git", "-C", str(tiny), "commit", "-qam", "slow b"], check=True)
    proc = _popen_build(tiny)
    _wait_started(tiny, "b")
    time.sleep(1.5)  # b has written half of its product
    proc.kill()
    proc.wait(30)
    # a finished before the kill: recorded with everything, now
    runs = _task_runs(_store(tiny))
    assert [r.info.status for r in runs["a"]] == ["FINISHED"]
    assert runs["a"][0].data.metrics["value"] == 10.0
    assert (tiny / "products/a.lineage.json").is_file()
    # b is not up to date (its product is half-written), whatever Ploomber's metadata says
    status = json.loads(run_cli(tiny, "status", "--json").stdout)
    states = {t["name"]: t["state"] for t in status["tasks"]}
    assert states["a"] == "up-to-date" and states["b"] != "up-to-date", states
    # the next build ends the killed run and builds b again, not a
    write_nb(tiny / "notebooks/b.ipynb", notebook(*(c for c in SLOW_B if "sleep" not in c)))
    again = run_cli(tiny, "build", "--json")
    assert again.returncode == 0, again.stderr[-2000:]
    outcomes = {t["task"]: t["outcome"] for t in json.loads(again.stdout)["tasks"]}
    assert outcomes["a"] == "skipped" and outcomes["b"] == "ran", outcomes
    assert "ended 1 run(s) left running by a killed build as KILLED" in again.stderr
    runs = _task_runs(_store(tiny))
    assert sorted(r.info.status for r in runs["b"]) == ["FINISHED", "KILLED"]
    _invariants(tiny, _store(tiny))


def test_sigint_ends_running_task_killed_without_traceback(tiny: Path):
    write_nb(tiny / "notebooks/b.ipynb", notebook(*SLOW_B))
    subprocess.run(["git", "-C", str(tiny), "commit", "-qam", "slow b"], check=True)
    proc = _popen_build(tiny)
    _wait_started(tiny, "b")
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err, err[-3000:]
    runs = _task_runs(_store(tiny))
    assert [r.info.status for r in runs["b"]] == ["KILLED"]
    _invariants(tiny, _store(tiny))


def test_second_build_refused_naming_the_holder_or_waits(tiny: Path):
    write_nb(tiny / "notebooks/b.ipynb", notebook(*SLOW_B))
    subprocess.run(["git", "-C", str(tiny), "commit", "-qam", "slow b"], check=True)
    first = _popen_build(tiny)
    try:
        _wait_started(tiny, "b")
        second = run_cli(tiny, "build")
        assert second.returncode == 2
        assert f"pid {first.pid}" in second.stderr and "--wait" in second.stderr, second.stderr
    finally:
        first.kill()
        first.wait(30)


def test_store_down_build_succeeds_then_sync_sends_once(tiny: Path, tmp_path: Path):
    from tests.conftest import free_port

    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    started, wall0 = time.monotonic(), time.time()
    proc = run_cli(tiny, "build", "--json", env={"MLFLOW_TRACKING_URI": uri})
    took, wall1 = time.monotonic() - started, time.time()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "3 run(s) kept locally" in proc.stderr and "nbgov sync" in proc.stderr
    assert took < 120  # no minutes of silent retries (the tasks themselves take most of it)
    summary = json.loads(proc.stdout)
    assert summary["pending"] == 3 and summary["parent_run_id"] is None
    # the products changes before the sync must not change what is sent: the journal kept copies
    (tiny / "products/a.txt").write_text("changed later")
    server = start_mlflow_server(tmp_path, port)
    try:
        first = run_cli(tiny, "sync", "--json", env={"MLFLOW_TRACKING_URI": uri})
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout)["runs_sent"] == 3
        second = run_cli(tiny, "sync", "--json", env={"MLFLOW_TRACKING_URI": uri})
        assert json.loads(second.stdout)["runs_sent"] == 0
        runs = _task_runs(uri)
        assert {n: len(r) for n, r in runs.items()} == {"a": 1, "b": 1, "c": 1}
        a = runs["a"][0]
        assert a.info.status == "FINISHED" and a.data.params["x"] == "1" and a.data.metrics["value"] == 10.0
        # the run keeps its build-time start, not the sync time
        record = json.loads((tiny / "products/a.lineage.json").read_text())
        assert record["run_id"] == a.info.run_id
        assert wall0 <= a.info.start_time / 1000 <= a.info.end_time / 1000 <= wall1
        from mlflow.tracking import MlflowClient

        client = MlflowClient(uri)
        path = client.download_artifacts(a.info.run_id, "products/a.txt", str(tmp_path / "dl"))
        assert Path(path).read_text() == "10"  # the kept copy, not the file changed later
        _invariants(tiny, uri)
    finally:
        stop(server)


def test_server_frozen_mid_build_holds_the_build_seconds_not_a_minute(tiny: Path, tmp_path: Path):
    """A tracking server SIGSTOPped mid-build: the build ends (exit 0, runs kept for `nbgov sync`)
    within seconds of its last task, not after MLflow's request timeout twice over (~40 s)."""
    from tests.conftest import free_port

    write_nb(tiny / "notebooks/b.ipynb", notebook(*(c.replace("time.sleep(30)", "time.sleep(3)") for c in SLOW_B)))
    subprocess.run(["git", "-C", str(tiny), "commit", "-qam", "b sleeps 3 s"], check=True)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = start_mlflow_server(tmp_path, port)
    try:
        proc = _popen_build(tiny, "--force", env={"MLFLOW_TRACKING_URI": uri})
        _wait_started(tiny, "b")
        time.sleep(1.0)  # a's run sent, b's started
        os.killpg(server.pid, signal.SIGSTOP)
        frozen = time.monotonic()
        out, err = proc.communicate(timeout=180)
        took = time.monotonic() - frozen
        assert proc.returncode == 0, err[-2000:]
        assert "kept locally" in err and "nothing taken for" in err and "nbgov sync" in err, err[-2000:]
        assert "Traceback" not in err
        print(f"\nfrozen server: build ended {took:.1f} s after the freeze", flush=True)
        assert took < 25, f"the build ended {took:.1f} s after its server froze"
        os.killpg(server.pid, signal.SIGCONT)
        synced = run_cli(tiny, "sync", env={"MLFLOW_TRACKING_URI": uri})
        assert synced.returncode == 0, synced.stderr[-2000:]
        runs = _task_runs(uri)
        assert {n: [r.info.status for r in rs] for n, rs in runs.items()} == {
            "a": ["FINISHED"], "b": ["FINISHED"], "c": ["FINISHED"]}
        _invariants(tiny, uri)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGCONT)
        stop(server)


#: Runs ``nbgov build`` and SIGKILLs it at one exact point of recording task ``a``'s end:
#: ``record`` = after its end was journaled, before its lineage record was written;
#: ``journal`` = after Ploomber wrote its metadata, before its end was journaled.
_KILL_AT = """
import os, runpy, signal, sys
point = sys.argv.pop(1)
if point == "record":
    import nbgov.core.lineage as lineage
    write = lineage.write_record
    def write_record(record, path):
        if str(path).endswith("a.lineage.json"):
            os.kill(os.getpid(), signal.SIGKILL)
        write(record, path)
    lineage.write_record = write_record
else:
    from nbgov.core.journal import Journal
    append = Journal.append
    def journal_append(self, event, **data):
        if event == "task_finished" and data.get("task") == "a":
            os.kill(os.getpid(), signal.SIGKILL)
        return append(self, event, **data)
    Journal.append = journal_append
sys.argv = ["nbgov", *sys.argv[1:]]
runpy.run_module("nbgov", run_name="__main__")
"""


@pytest.mark.parametrize("point", ["record", "journal"])
def test_killed_before_the_lineage_record_is_written_the_task_is_not_up_to_date(tiny: Path, point: str):
    """A task whose run ended (products and Ploomber's metadata written) but whose lineage
    record was never written is never called up to date: its products are unrecorded. When the
    journal has its end, the next sync writes the record from it; otherwise it runs again."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    proc = subprocess.run([sys.executable, "-c", _KILL_AT, point, "build", "-q"], cwd=tiny, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert (tiny / "products/a.txt").read_text() == "10"  # a's products are there...
    assert not (tiny / "products/a.lineage.json").exists()  # ...and no record of them
    status = json.loads(run_cli(tiny, "status", "--json").stdout)
    states = {t["name"]: t["state"] for t in status["tasks"]}
    assert states["a"] != "up-to-date", status["tasks"]
    again = run_cli(tiny, "build", "--json")
    assert again.returncode == 0, again.stderr[-2000:]
    outcomes = {t["task"]: t["outcome"] for t in json.loads(again.stdout)["tasks"]}
    # the journal had a's end (kill before the record): sync wrote the record, a is skipped;
    # it had no end (kill before the journal): the run was ended KILLED and a runs again
    assert outcomes["a"] == ("skipped" if point == "record" else "ran"), outcomes
    runs = _task_runs(_store(tiny))
    expected = ["FINISHED"] if point == "record" else ["FINISHED", "KILLED"]
    assert sorted(r.info.status for r in runs["a"]) == expected
    record = json.loads((tiny / "products/a.lineage.json").read_text())
    assert record["run_id"] in {r.info.run_id for r in runs["a"] if r.info.status == "FINISHED"}
    status = json.loads(run_cli(tiny, "status", "--json").stdout)
    assert {t["state"] for t in status["tasks"]} == {"up-to-date"}, status["tasks"]
    assert all(t["last_run"] and t["last_run"]["run_id"] for t in status["tasks"]), status["tasks"]
    _invariants(tiny, _store(tiny))

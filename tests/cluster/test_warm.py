"""Warm Dask workers (`nbgov build --cluster`, adapters/engines/warm.py): a `dask scheduler` and
two `dask worker` processes, each started in a working folder of its own, shared by the module.
Tasks run inside the workers (no `nbgov build TASK` subprocess), the driver records them: the
products and lineage digests equal a local build's, a rebuild is a no-op, a source changed after
the gate is refused on the worker, a worker killed mid-task leaves its task re-run or failed and
recorded (nothing left open), a worker at another commit is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.build.conftest import make_tiny, mlflow_runs, run_cli, write_nb
from tests.cluster.daskprocs import product_digests, start_scheduler, start_worker, stop

pytestmark = pytest.mark.integration

TASKS = ["a", "b", "c"]


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(address, client): a scheduler and two workers, each in its own working folder."""
    from distributed import Client

    base = tmp_path_factory.mktemp("cluster")
    address, scheduler = start_scheduler(cwd=base)
    procs = [scheduler] + [start_worker(address, base / f"worker-{i}") for i in range(2)]
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            yield address, client
    finally:
        stop(procs)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The tiny project (a -> b, c), committed; c sleeps a little (time to kill its worker)."""
    root = tmp_path_factory.mktemp("warm") / "repo"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.name", "Ada Author")
    _git(root, "config", "user.email", "ada@example.com")
    _git(root, "config", "commit.gpgsign", "false")
    return make_tiny(root)


def _summary(proc: subprocess.CompletedProcess) -> dict:
    assert proc.stdout.strip(), proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_tasks_run_warm_with_a_local_builds_products_and_lineage(cluster, project: Path, tmp_path: Path):
    address, _ = cluster
    proc = run_cli(project, "build", "--cluster", address, "--json", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = _summary(proc)
    assert {t["task"]: t["outcome"] for t in summary["tasks"]} == {"a": "ran", "b": "ran", "c": "ran"}
    assert "subprocesses (not warm)" not in proc.stderr
    facts = json.loads((project / ".nbgov/cluster-last.json").read_text())
    assert sorted(facts) == ["a", "b", "c"] and all(f["warm"] for f in facts.values())
    # one build run with one child per task, recorded by the driver
    runs = mlflow_runs(f"sqlite:///{project / 'mlflow.db'}", "tiny")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == summary["parent_run_id"]]
    assert sorted((c.data.tags["nbgov.task"], c.info.status) for c in children) == [
        ("a", "FINISHED"), ("b", "FINISHED"), ("c", "FINISHED")]
    record = json.loads((project / "products/b.lineage.json").read_text())
    by_task = {t["task"]: t["run_id"] for t in summary["tasks"]}
    assert {u["task"]: u["run_id"] for u in record["upstream"]} == {"a": by_task["a"]}

    # a local build of the same commit makes the same products, digest for digest
    local = tmp_path / "local"
    subprocess.run(["git", "clone", "-q", str(project), str(local)], check=True)
    serial = run_cli(local, "build", "--json", "-q", timeout=600)
    assert serial.returncode == 0, serial.stderr[-3000:]
    assert product_digests(project, TASKS) == product_digests(local, TASKS)

    again = run_cli(project, "build", "--cluster", address, "--json", timeout=600)
    assert {t["outcome"] for t in _summary(again)["tasks"]} == {"skipped"}


def test_a_source_changed_after_the_gate_is_refused_on_the_worker(cluster, project: Path):
    """The invariant of docs/security.md: a worker runs only the bytes the driver's gate
    approved. Here a's notebook rewrites b's source while the build runs (after the gate)."""
    address, _ = cluster
    nb = json.loads((project / "notebooks/a.ipynb").read_text())
    nb["cells"].append({"cell_type": "code", "id": "tamper", "metadata": {}, "outputs": [], "execution_count": None,
                        "source": f"import json, pathlib\np = pathlib.Path({str(project / 'notebooks/b.ipynb')!r})\n"
                                  "d = json.loads(p.read_text())\n"
                                  "d['cells'][-1]['source'] += '\\nprint(\"tampered\")'\np.write_text(json.dumps(d))"})
    write_nb(project / "notebooks/a.ipynb", nb)
    original_b = (project / "notebooks/b.ipynb").read_text()
    try:
        proc = run_cli(project, "build", "a", "b", "--cluster", address, "-f", "--json", timeout=600)
        summary = _summary(proc)
        outcomes = {t["task"]: t for t in summary["tasks"]}
        assert outcomes["a"]["outcome"] == "ran", outcomes
        assert outcomes["b"]["outcome"] == "failed" and "refused on worker" in outcomes["b"]["error"]
        assert "approved" in outcomes["b"]["error"] and proc.returncode == 1
        assert "tampered" not in (project / "products/b.ipynb").read_text()  # never executed
    finally:
        (project / "notebooks/b.ipynb").write_text(original_b)
        _git(project, "checkout", "--", "notebooks/a.ipynb", "notebooks/b.ipynb")


def test_a_worker_killed_mid_task_leaves_its_task_rerun_or_failed_and_recorded(cluster, project: Path):
    address, client = cluster
    nb = json.loads((project / "notebooks/c.ipynb").read_text())
    nb["cells"].append({"cell_type": "code", "id": "slow", "metadata": {}, "outputs": [], "execution_count": None,
                        "source": "import time\ntime.sleep(4)"})
    write_nb(project / "notebooks/c.ipynb", nb)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    build = subprocess.Popen([sys.executable, "-m", "nbgov", "build", "c", "-f", "--cluster", address, "--json"],
                             cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 300
        victim = None
        while victim is None and time.monotonic() < deadline and build.poll() is None:
            for worker, keys in client.processing().items():
                if any(str(k).startswith("nbgov-c-") for k in keys):
                    victim = worker
            time.sleep(0.2)
        assert victim is not None, "task c never reached a worker"
        time.sleep(1.0)  # inside the notebook's sleep
        pid = client.run(os.getpid, workers=[victim])[victim]
        os.kill(pid, signal.SIGKILL)
        out, err = build.communicate(timeout=600)
    finally:
        if build.poll() is None:
            build.kill()
        _git(project, "checkout", "--", "notebooks/c.ipynb")
    summary = json.loads(out)
    (task,) = summary["tasks"]
    # re-run on the other worker (Dask reschedules a lost task) or failed, and said so
    assert task["outcome"] in ("ran", "failed"), (task, err[-2000:])
    if task["outcome"] == "failed":
        assert "worker" in task["error"].lower()
    # recorded as such: the driver's journal ended the run, nothing waits in it, nothing is RUNNING
    from nbgov.core.journal import open_journals

    assert summary["pending"] == 0 and open_journals(project) == []
    runs = mlflow_runs(f"sqlite:///{project / 'mlflow.db'}", "tiny")
    mine = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == summary["parent_run_id"]]
    assert [(r.data.tags["nbgov.task"], r.info.status) for r in mine] == [
        ("c", "FINISHED" if task["outcome"] == "ran" else "FAILED")]
    client.wait_for_workers(2, timeout=120)  # the nanny restarts the killed worker


def test_a_worker_at_another_commit_is_refused(cluster, project: Path, tmp_path: Path):
    address, client = cluster
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(project), str(other)], check=True)
    (other / "README.md").write_text("a newer version\n")
    _git(other, "add", "README.md")
    _git(other, "-c", "user.name=B", "-c", "user.email=b@example.com", "commit", "-qm", "newer")
    before = set(client.scheduler_info()["workers"])
    worker = start_worker(address, tmp_path / "worker-3", {"NBGOV_WORKER_ROOT": str(other)})
    try:
        client.wait_for_workers(3, timeout=120)
        proc = run_cli(project, "build", "--cluster", address, "-f", timeout=600)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert "has project version" in proc.stderr and "the build is" in proc.stderr
    finally:
        stop([worker])
    deadline = time.monotonic() + 60
    while set(client.scheduler_info()["workers"]) - before and time.monotonic() < deadline:
        time.sleep(0.2)

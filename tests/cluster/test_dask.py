"""`nbgov build --cluster`: the pipeline on a real Dask cluster (a LocalCluster, and a `dask
scheduler` + two `dask worker` processes started here), recorded as one build run with one child
per task, like a local build; a failing task stops its downstream and fails the build."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from tests.build.conftest import copy_example, make_tiny, mlflow_runs, run_cli
from tests.cluster.daskprocs import product_digests, start_scheduler, start_worker, stop, wait_for_workers

pytestmark = pytest.mark.integration

EXAMPLE = ["ingest", "profile", "features", "train", "evaluate", "monitor", "register"]


def _build_tree(root: Path, experiment: str, parent_id: str) -> tuple[object, list]:
    runs = mlflow_runs(f"sqlite:///{root / 'mlflow.db'}", experiment)
    parent = next(r for r in runs if r.info.run_id == parent_id)
    return parent, [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent_id]


@pytest.fixture
def scheduler():
    """A `dask scheduler` and two `dask worker` processes on 127.0.0.1; killed afterwards."""
    address, scheduler = start_scheduler()
    procs = [scheduler] + [start_worker(address) for _ in range(2)]
    try:
        wait_for_workers(address, 2)
        yield address
    finally:
        stop(procs)


def test_example_on_a_local_cluster_records_like_a_local_build(git_repo: Path, tmp_path: Path):
    root = copy_example(git_repo)
    started = time.monotonic()
    proc = run_cli(root, "build", "--cluster", "local:2", "--json", timeout=1800)
    wall = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert [t["task"] for t in summary["tasks"]] == EXAMPLE
    assert {t["outcome"] for t in summary["tasks"]} == {"ran"}
    parent, children = _build_tree(root, "nbgov-example", summary["parent_run_id"])
    assert parent.info.status == "FINISHED" and parent.data.tags["nbgov.runner"] == "nbgov build --cluster"
    assert sorted(c.data.tags["nbgov.task"] for c in children) == sorted(EXAMPLE)
    assert {c.info.run_id for c in children} == {t["run_id"] for t in summary["tasks"]}
    # the lineage of the cluster build links each task to its upstream runs, as a local build does
    record = json.loads((root / "products/evaluate.lineage.json").read_text())
    by_task = {t["task"]: t["run_id"] for t in summary["tasks"]}
    assert {u["task"]: u["run_id"] for u in record["upstream"]} == {"train": by_task["train"],
                                                                    "features": by_task["features"]}

    # parity: a local build of the same project makes the same runs and the same products
    local = tmp_path / "local"
    local.mkdir()
    subprocess.run(["git", "clone", "-q", str(root), str(local)], check=True)
    started = time.monotonic()
    serial = run_cli(local, "build", "--json", "-q", timeout=1800)
    local_wall = time.monotonic() - started
    assert serial.returncode == 0, serial.stderr[-3000:]
    lsummary = json.loads(serial.stdout)
    lparent, lchildren = _build_tree(local, "nbgov-example", lsummary["parent_run_id"])
    assert sorted(c.data.tags["nbgov.task"] for c in lchildren) == sorted(c.data.tags["nbgov.task"] for c in children)
    for mine, theirs in zip(sorted(children, key=lambda r: r.data.tags["nbgov.task"]),
                            sorted(lchildren, key=lambda r: r.data.tags["nbgov.task"]), strict=True):
        assert set(mine.data.params) == set(theirs.data.params)
        assert set(mine.data.metrics) == set(theirs.data.metrics), mine.data.tags["nbgov.task"]
    assert product_digests(root, ["ingest", "features"]) == product_digests(local, ["ingest", "features"])
    print(f"example: local:2 cluster {wall:.0f} s, local serial {local_wall:.0f} s")

    again = run_cli(root, "build", "--cluster", "local:2", "--json", timeout=900)
    assert {t["outcome"] for t in json.loads(again.stdout)["tasks"]} == {"skipped"}


def test_scheduler_and_two_workers_run_in_parallel_and_stop_at_a_failure(git_repo: Path, scheduler: str):
    root = make_tiny(git_repo)
    proc = run_cli(root, "build", "--cluster", scheduler, "--json", timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert {t["task"]: t["outcome"] for t in summary["tasks"]} == {"a": "ran", "b": "ran", "c": "ran"}
    assert (root / "products/b.txt").read_text() == "11"
    parent, children = _build_tree(root, "tiny", summary["parent_run_id"])
    assert len(children) == 3 and parent.info.status == "FINISHED"

    # a fails: b (downstream) is not run, c still runs, the build fails and says why
    nb = json.loads((root / "notebooks/a.ipynb").read_text())
    nb["cells"].append({"cell_type": "code", "id": "boom", "metadata": {}, "outputs": [], "execution_count": None,
                        "source": "raise ValueError('broken on purpose')"})
    (root / "notebooks/a.ipynb").write_text(json.dumps(nb))
    failed = run_cli(root, "build", "--cluster", scheduler, "-f", "--json", timeout=900)
    assert failed.returncode == 1
    summary = json.loads(failed.stdout)
    outcomes = {t["task"]: t for t in summary["tasks"]}
    assert outcomes["a"]["outcome"] == "failed" and "broken on purpose" in outcomes["a"]["error"]
    assert outcomes["b"]["outcome"] == "not-run" and outcomes["c"]["outcome"] == "ran"
    parent, children = _build_tree(root, "tiny", summary["parent_run_id"])
    assert parent.info.status == "FAILED"
    assert sorted((c.data.tags["nbgov.task"], c.info.status) for c in children) == [("a", "FAILED"), ("c", "FINISHED")]


def test_bad_cluster_address_is_a_one_line_error(git_repo: Path):
    root = make_tiny(git_repo)
    proc = run_cli(root, "build", "--cluster", "local:zero")
    assert proc.returncode == 2 and "local:N" in proc.stderr and "Traceback" not in proc.stderr
    # [execution] cluster is the default; --cluster none runs here (what each worker runs)
    with (root / "nbgov.toml").open("a") as fh:
        fh.write('cluster = "local:zero"\n')  # the tiny project's nbgov.toml ends in [execution]
    from_config = run_cli(root, "build", "c", "-q")
    assert from_config.returncode == 2 and "local:N" in from_config.stderr
    here = run_cli(root, "build", "c", "-q", "--cluster", "none", "--json")
    assert here.returncode == 0, here.stderr
    assert [t["outcome"] for t in json.loads(here.stdout)["tasks"]] == ["ran"]


def test_a_local_cluster_does_not_need_the_dashboards_port(git_repo: Path):
    """Port 8787 taken (a JupyterLab Dask panel, another build): the build prints no warning
    about it, and its scheduler serves nothing there."""
    import socket

    root = make_tiny(git_repo)
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 8787))
        holder.listen()
    except OSError:  # already taken by something else: the same situation
        pass
    try:
        proc = run_cli(root, "build", "c", "-q", "--cluster", "local:1", "--json")
    finally:
        holder.close()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [t["outcome"] for t in json.loads(proc.stdout)["tasks"]] == ["ran"]
    assert "already in use" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr

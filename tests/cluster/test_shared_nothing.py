"""Workers that share no disk with the driver (`NBGOV_WORKER_ROOT`: each worker builds from a
checkout of its own), products and their metadata in S3 (moto's server on 127.0.0.1, through
Ploomber's `S3Client`): the products and lineage digests equal a local build's, a rebuild is a
no-op, a source tampered with in a worker's checkout is refused there."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.build.conftest import mlflow_runs, run_cli
from tests.cluster.daskprocs import product_digests, start_scheduler, start_worker, stop, wait_for_workers
from tests.cluster.s3project import git, moto_s3, tiny_s3_project

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def s3_env():
    """moto's S3 on 127.0.0.1 with a bucket; the environment that reaches it."""
    with moto_s3() as env:
        yield env


@pytest.fixture(scope="module")
def setup(tmp_path_factory, s3_env):
    """(driver project, [worker checkouts], scheduler address): two `dask worker` processes,
    each in its own folder with its own clone of the project."""

    base = tmp_path_factory.mktemp("nothing")
    root = tiny_s3_project(base / "driver")
    address, scheduler = start_scheduler(cwd=base, env=s3_env)
    procs = [scheduler]
    checkouts = []
    for i in range(2):
        folder = base / f"worker-{i}"
        folder.mkdir()
        subprocess.run(["git", "clone", "-q", str(root), str(folder / "project")], check=True)
        checkouts.append(folder / "project")
        procs.append(start_worker(address, folder, {**s3_env, "NBGOV_WORKER_ROOT": str(folder / "project")}))
    try:
        wait_for_workers(address, 2)
        yield root, checkouts, address
    finally:
        stop(procs)


def test_workers_with_their_own_checkouts_build_through_storage(setup, s3_env, tmp_path: Path):
    root, checkouts, address = setup
    proc = run_cli(root, "build", "--cluster", address, "--json", env=s3_env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert {t["task"]: t["outcome"] for t in summary["tasks"]} == {"a": "ran", "b": "ran", "c": "ran"}
    # built in the workers' own folders, fetched here from storage: b read a's product from S3
    assert any((c / "products/a.txt").exists() for c in checkouts)
    assert (root / "products/b.txt").read_text() == "11"
    facts = json.loads((root / ".nbgov/cluster-last.json").read_text())
    assert {f["worker"] for f in facts.values()} <= set(facts[n]["worker"] for n in facts)
    runs = mlflow_runs(f"sqlite:///{root / 'mlflow.db'}", "tiny")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == summary["parent_run_id"]]
    assert sorted((c.data.tags["nbgov.task"], c.info.status) for c in children) == [
        ("a", "FINISHED"), ("b", "FINISHED"), ("c", "FINISHED")]
    record = json.loads((root / "products/b.lineage.json").read_text())
    assert {u["task"]: u["run_id"] for u in record["upstream"]} == {
        "a": next(t["run_id"] for t in summary["tasks"] if t["task"] == "a")}

    again = run_cli(root, "build", "--cluster", address, "--json", env=s3_env, timeout=600)
    assert {t["outcome"] for t in json.loads(again.stdout)["tasks"]} == {"skipped"}, again.stderr[-2000:]

    # the same digests as a local build of the same commit
    local = tmp_path / "local"
    subprocess.run(["git", "clone", "-q", str(root), str(local)], check=True)
    serial = run_cli(local, "build", "--json", "-q", env=s3_env, timeout=600)
    assert serial.returncode == 0, serial.stderr[-3000:]
    assert product_digests(root, ["a", "b", "c"]) == product_digests(local, ["a", "b", "c"])


def test_a_source_tampered_with_in_a_workers_checkout_is_refused(setup, s3_env):
    root, checkouts, address = setup
    for checkout in checkouts:
        nb = json.loads((checkout / "notebooks/c.ipynb").read_text())
        nb["cells"][-1]["source"] += "\nprint('tampered')"
        (checkout / "notebooks/c.ipynb").write_text(json.dumps(nb))
    try:
        proc = run_cli(root, "build", "c", "-f", "--cluster", address, "--json", env=s3_env, timeout=600)
        (task,) = json.loads(proc.stdout)["tasks"]
        assert proc.returncode == 1 and task["outcome"] == "failed"
        # the checkout is no longer the build's commit (checked before the source's digest)
        assert "refused on worker" in task["error"] and "notebooks/c.ipynb" in task["error"]
    finally:
        for checkout in checkouts:
            git(checkout, "checkout", "--", "notebooks/c.ipynb")


def test_a_spec_edited_only_in_a_workers_checkout_is_refused(setup, s3_env):
    """R10: the source file the gate approved is untouched, but the worker's own pipeline.yaml
    points the task at another notebook: the worker's checkout is not the build's commit."""
    root, checkouts, address = setup
    for checkout in checkouts:
        nb = json.loads((checkout / "notebooks/c.ipynb").read_text())
        nb["cells"][-1]["source"] += "\nprint('evil')"
        (checkout / "notebooks/evil.ipynb").write_text(json.dumps(nb))
        spec = checkout / "pipeline.yaml"
        spec.write_text(spec.read_text().replace("- source: notebooks/c.ipynb",
                                                 "- source: notebooks/evil.ipynb\n    name: c"))
    try:
        proc = run_cli(root, "build", "c", "-f", "--cluster", address, "--json", env=s3_env, timeout=600)
        (task,) = json.loads(proc.stdout)["tasks"]
        assert proc.returncode == 1 and task["outcome"] == "failed", proc.stderr[-2000:]
        assert "refused on worker" in task["error"] and "differs from commit" in task["error"]
        assert "pipeline.yaml" in task["error"]
    finally:
        for checkout in checkouts:
            git(checkout, "checkout", "--", "pipeline.yaml")
            (checkout / "notebooks/evil.ipynb").unlink()

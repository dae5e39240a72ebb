"""`nbgov build --cluster ADDR --repository URL` (issue 28): workers started in empty folders,
with no project and no `NBGOV_WORKER_ROOT`, fetch the build's commit from URL into caches of
their own and build there, products through the pipeline's File client (moto's S3 on
127.0.0.1): product and lineage digests equal a local build's, a rebuild is a no-op; a driver
with uncommitted changes, and a commit the repository does not have, are refused in one line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.build.conftest import run_cli
from tests.cluster.daskprocs import product_digests, start_scheduler, start_worker, stop, wait_for_workers
from tests.cluster.s3project import git, moto_s3, tiny_s3_project

from nbgov.core.config import load_config
from nbgov.core.errors import NbgovError
from nbgov.services.build.cluster import require_clean_commit
from nbgov.services.build.load import load_pipeline

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(driver project, its bare origin's file:// URL, scheduler address, environment, worker
    folders): a `dask scheduler` and two `dask worker` processes, each in an empty folder of its
    own with a cache of its own (NBGOV_CACHE_DIR) and nothing of the project."""
    base = tmp_path_factory.mktemp("fetch")
    with moto_s3() as s3:
        env = {**s3, "NBGOV_TEST_PREFIX": "fetched"}
        root = tiny_s3_project(base / "driver")
        origin = base / "origin.git"
        subprocess.run(["git", "clone", "-q", "--bare", str(root), str(origin)], check=True)
        (base / "scheduler").mkdir()
        address, scheduler = start_scheduler(cwd=base / "scheduler", env=env)
        procs = [scheduler]
        folders = [base / f"worker-{i}" for i in range(2)]
        for folder in folders:
            # its sources' cache in its folder; its bytecode in the user's cache, as any worker's
            # (compiling the installed packages once per test run, not once per worker)
            procs.append(start_worker(address, folder, {**env, "NBGOV_CACHE_DIR": str(folder / "cache")}))
        try:
            wait_for_workers(address, 2)
            yield root, f"file://{origin}", address, env, folders
        finally:
            stop(procs)


def _checkouts(folders: list[Path]) -> list[Path]:
    return [c for f in folders for c in (f / "cache/sources").glob("*/checkouts/*")]


def test_workers_without_the_project_fetch_the_builds_commit(world, tmp_path: Path):
    root, url, address, env, folders = world
    commit = git(root, "rev-parse", "HEAD").strip()
    proc = run_cli(root, "build", "--cluster", address, "--repository", url, "--json", env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert {t["task"]: t["outcome"] for t in summary["tasks"]} == {"a": "ran", "b": "ran", "c": "ran"}
    assert "subprocesses" not in proc.stderr  # warm: in the workers' processes
    facts = json.loads((root / ".nbgov/cluster-last.json").read_text())
    assert sorted(facts) == ["a", "b", "c"] and all(f["warm"] for f in facts.values())
    # built in checkouts the workers fetched into their own caches; b read a's product from S3
    checkouts = _checkouts(folders)
    assert checkouts and {git(c, "rev-parse", "HEAD").strip() for c in checkouts} == {commit}
    assert any((c / "products/a.txt").exists() for c in checkouts)
    assert (root / "products/b.txt").read_text() == "11"
    record = json.loads((root / "products/b.lineage.json").read_text())
    assert record["git"]["commit"] == commit and not record["git"]["dirty"]

    again = run_cli(root, "build", "--cluster", address, "--repository", url, "--json", env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert {t["outcome"] for t in json.loads(again.stdout)["tasks"]} == {"skipped"}

    # the same digests as a local build of the same commit (its own products in S3)
    local = tmp_path / "local"
    subprocess.run(["git", "clone", "-q", url, str(local)], check=True)
    serial = run_cli(local, "build", "--json", "-q", env={**env, "NBGOV_TEST_PREFIX": "fetched-local"}, timeout=600)
    assert serial.returncode == 0, serial.stderr[-3000:]
    assert product_digests(root, ["a", "b", "c"]) == product_digests(local, ["a", "b", "c"])


def test_a_driver_with_uncommitted_changes_is_refused(world, monkeypatch):
    """Checked after the gate, before any task is submitted (the cluster build calls it): what
    the workers fetch is exactly what the driver gated; products and lineage records aside."""
    root, url, _, env, _ = world
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config = load_config(root)
    infos = load_pipeline(config).tasks()
    assert require_clean_commit(config, url, infos) == git(root, "rev-parse", "HEAD").strip()
    # an untracked module beside the commit: the workers would not build what runs here
    (root / "helper.py").write_text("X = 1\n")
    try:
        with pytest.raises(NbgovError, match=r"--repository: the workers would fetch commit \w+, but .*helper\.py") \
                as refused:
            require_clean_commit(config, url, infos)
    finally:
        (root / "helper.py").unlink()
    assert "commit the changes" in refused.value.hint


def test_a_commit_the_repository_lacks_fails_its_task_naming_the_worker(world):
    root, url, address, env, _ = world
    # a commit made here and not pushed: each worker's fetch fails its task, naming the worker
    (root / "notes.md").write_text("not pushed\n")
    git(root, "add", "notes.md")
    git(root, "commit", "-qm", "not pushed")
    unpushed = git(root, "rev-parse", "HEAD").strip()
    try:
        proc = run_cli(root, "build", "c", "-f", "--cluster", address, "--repository", url, "--json", env=env,
                       timeout=600)
    finally:
        git(root, "reset", "-q", "--hard", "HEAD~1")
    (task,) = json.loads(proc.stdout)["tasks"]
    assert proc.returncode == 1 and task["outcome"] == "failed", proc.stderr[-2000:]
    assert task["error"].startswith("worker tcp://127.0.0.1:")
    assert "could not fetch the build's sources" in task["error"]
    assert f"has no commit {unpushed[:12]}" in task["error"] and "\n" not in task["error"]

"""`nbgov build --cluster ADDR --repository URL` on cold workers (issue 28): two `dask worker`
processes in empty folders, with no project, whose environment differs from the driver's (an
ipykernel distribution of another version first on their PYTHONPATH: what
:func:`nbgov.adapters.engines.facts.environment_facts` reads), so every task runs as
`nbgov build TASK --commit SHA --repository URL` in a subprocess that fetches the commit into
its worker's cache. Products through moto's S3 on 127.0.0.1, runs in a real `mlflow server`:
the same product digests as a local build, every task's lineage at the commit, b's naming a's run.
The subprocesses hand their lineage records back to the driver (services.build.coldrun), which
keeps them with the products it downloads: a rebuild is a no-op decided there."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
from tests.build.conftest import mlflow_runs, run_cli
from tests.cluster.daskprocs import product_digests, start_scheduler, start_worker, stop, wait_for_workers
from tests.cluster.s3project import git, moto_s3, tiny_s3_project
from tests.conftest import free_port
from tests.faults.conftest import start_mlflow_server
from tests.faults.conftest import stop as stop_server

from nbgov.core.digest import file_digest

pytestmark = pytest.mark.integration

PREFIX = "cold"  # the workers' products in S3 (NBGOV_TEST_PREFIX)


def _other_ipykernel(folder: Path) -> str:
    """A copy of the installed ipykernel's metadata in ``folder``, of another version (the
    distribution a worker whose PYTHONPATH starts with ``folder`` sees); that version."""
    dist = metadata.distribution("ipykernel")
    version = f"{dist.version}+cold"
    info = folder / f"ipykernel-{version}.dist-info"
    info.mkdir(parents=True)
    text = dist.read_text("METADATA")
    (info / "METADATA").write_text(text.replace(f"\nVersion: {dist.version}\n", f"\nVersion: {version}\n", 1))
    shutil.copy(Path(dist.locate_file("")) / f"ipykernel-{dist.version}.dist-info" / "WHEEL", info / "WHEEL")
    return version


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(driver project, its bare origin's file:// URL, scheduler address, environment, worker
    folders, ipykernel version the workers see)."""
    import os

    base = tmp_path_factory.mktemp("cold")
    with moto_s3() as s3:
        port = free_port()
        server = start_mlflow_server(base / "tracking", port)
        env = {**s3, "NBGOV_TEST_PREFIX": PREFIX, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"}
        root = tiny_s3_project(base / "driver")
        origin = base / "origin.git"
        subprocess.run(["git", "clone", "-q", "--bare", str(root), str(origin)], check=True)
        version = _other_ipykernel(base / "other-env")
        path = os.pathsep.join(p for p in (str(base / "other-env"), os.environ.get("PYTHONPATH")) if p)
        (base / "scheduler").mkdir()
        address, scheduler = start_scheduler(cwd=base / "scheduler", env=env)
        procs = [scheduler]
        folders = [base / f"worker-{i}" for i in range(2)]
        for folder in folders:
            procs.append(start_worker(address, folder, {**env, "NBGOV_CACHE_DIR": str(folder / "cache"),
                                                        "PYTHONPATH": path}))
        try:
            wait_for_workers(address, 2)
            yield root, f"file://{origin}", address, env, folders, version
        finally:
            stop(procs)
            stop_server(server)


def _lineage(uri: str, parent_id: str) -> dict[str, dict]:
    """task -> the lineage record of its run under the build run ``parent_id`` (the tracking server's)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    return {r.data.tags["nbgov.task"]: json.loads(Path(client.download_artifacts(
        r.info.run_id, "nbgov/lineage.json")).read_text())
        for r in mlflow_runs(uri, "tiny") if r.data.tags.get("mlflow.parentRunId") == parent_id}


def test_cold_workers_fetch_the_commit_in_each_tasks_subprocess(world, tmp_path: Path):
    root, url, address, env, folders, version = world
    commit = git(root, "rev-parse", "HEAD").strip()
    proc = run_cli(root, "build", "--cluster", address, "--repository", url, "--json", env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert {t["task"]: t["outcome"] for t in summary["tasks"]} == {"a": "ran", "b": "ran", "c": "ran"}
    # cold: the workers' ipykernel is not the driver's; each task a subprocess on its worker
    cold = [ln for ln in proc.stderr.splitlines() if "subprocesses (not warm)" in ln]
    assert len(cold) == 2 and all(f"ipykernel {version} (driver " in ln for ln in cold), proc.stderr[-2000:]
    assert not (root / ".nbgov/cluster-last.json").exists()  # (written by warm builds only)
    # each subprocess fetched into its worker's cache and removed its checkout: git's objects stay
    assert any((f / "cache/sources").is_dir() for f in folders)
    assert not [c for f in folders for c in (f / "cache/sources").glob("*/checkouts/*")]

    # every task's lineage, in the tracking server, at the build's commit, under the one build run
    records = _lineage(env["MLFLOW_TRACKING_URI"], summary["parent_run_id"])
    assert sorted(records) == ["a", "b", "c"]
    assert {r["git"]["commit"] for r in records.values()} == {commit}
    assert not any(r["git"]["dirty"] for r in records.values())
    digests = {task: {k: v["digest"] for k, v in rec["products"].items() if not v["path"].endswith(".ipynb")}
               for task, rec in records.items()}
    # b names its upstream task's run (the driver told b's subprocess: a's record stayed in a's
    # checkout) and read a's product as a made it (downloaded in b's own checkout)
    run_ids = {t["task"]: t["run_id"] for t in summary["tasks"]}
    assert [(u["task"], u["run_id"]) for u in records["b"]["upstream"]] == [("a", run_ids["a"])]
    # the driver keeps every task's record where a local build would, the store's copy, and the products
    for task in ("a", "b", "c"):
        kept = json.loads((root / f"products/{task}.lineage.json").read_text())
        assert kept["run_id"] == run_ids[task] and kept["upstream"] == records[task]["upstream"]
        assert file_digest(root / f"products/{task}.txt") == digests[task]["data"]
    assert {(i["task"], i["key"], i["digest"]) for i in records["b"]["inputs"]} == {("a", "data", digests["a"]["data"])}
    # the stored objects are what the lineage says: b read a's product (10) from storage
    import boto3

    s3 = boto3.client("s3", endpoint_url=env["NBGOV_TEST_S3"], aws_access_key_id="testing",
                      aws_secret_access_key="testing", region_name="us-east-1")
    stored = tmp_path / "b.txt"
    s3.download_file("nbgov", f"{PREFIX}/products/b.txt", str(stored))
    assert stored.read_text() == "11" and digests["b"]["data"] == file_digest(stored)

    # the same digests as a local build of the same commit (its own store, its own prefix)
    local = tmp_path / "local"
    subprocess.run(["git", "clone", "-q", url, str(local)], check=True)
    own_store = {k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"}
    serial = run_cli(local, "build", "--json", "-q", env={**own_store, "NBGOV_TEST_PREFIX": "cold-local"},
                     timeout=300)
    assert serial.returncode == 0, serial.stderr[-3000:]
    assert digests == product_digests(local, ["a", "b", "c"])


def test_a_rebuild_on_cold_fetching_workers_is_a_no_op(world):
    """After the build above: every task is skipped by the driver (no subprocess), each named by
    the run that made its products; one task selected (its upstream's products in storage) too."""
    root, url, address, env, _, _ = world
    kept = {t: json.loads((root / f"products/{t}.lineage.json").read_text())["run_id"] for t in ("a", "b", "c")}
    for selection in ([], ["c"]):
        again = run_cli(root, "build", *selection, "--cluster", address, "--repository", url, "--json", env=env,
                        timeout=300)
        assert again.returncode == 0, again.stderr[-2000:]
        tasks = json.loads(again.stdout)["tasks"]
        assert {t["task"]: (t["outcome"], t["run_id"]) for t in tasks} == \
            {t: ("skipped", kept[t]) for t in (selection or ["a", "b", "c"])}

"""One build across processes: `nbgov build TASK --build-id ID` on several "workers" records
under one parent run, which `nbgov close-build ID` ends; products kept by Ploomber's File client
reach a worker that has none of them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.build.conftest import make_tiny, mlflow_runs, run_cli

pytestmark = pytest.mark.integration


def _store(root: Path) -> str:
    return f"sqlite:///{root / 'mlflow.db'}"


def _build_runs(root: Path, build_id: str) -> tuple[list, list]:
    runs = mlflow_runs(_store(root), "tiny")
    parents = [r for r in runs if r.data.tags.get("nbgov.kind") == "build"
               and r.data.tags.get("nbgov.build_id") == build_id]
    ids = {p.info.run_id for p in parents}
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") in ids]
    return parents, children


def test_task_builds_with_one_build_id_share_one_parent(git_repo: Path):
    root = make_tiny(git_repo)
    opened = run_cli(root, "open-build", "b-1")
    assert opened.returncode == 0, opened.stderr
    parent_id = opened.stdout.strip()
    first = run_cli(root, "build", "a", "--build-id", "b-1", "--json", "-q")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["parent_run_id"] == parent_id
    # the id may come from the environment too (what an engine's worker sets)
    second = run_cli(root, "build", "b", "c", "--json", "-q", env={"NBGOV_BUILD_ID": "b-1"})
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["parent_run_id"] == parent_id
    parents, children = _build_runs(root, "b-1")
    assert [p.info.run_id for p in parents] == [parent_id]
    assert sorted(c.data.tags["nbgov.task"] for c in children) == ["a", "b", "c"]
    assert {c.data.tags["nbgov.build_id"] for c in children} == {"b-1"}
    assert parents[0].info.status == "RUNNING"  # left open for close-build
    # b's lineage names the run of a made in the other process
    record = json.loads((root / "products/b.lineage.json").read_text())
    a_run = next(c.info.run_id for c in children if c.data.tags["nbgov.task"] == "a")
    assert [(u["task"], u["run_id"]) for u in record["upstream"]] == [("a", a_run)] and record["build_id"] == "b-1"

    closed = run_cli(root, "close-build", "b-1")
    assert closed.returncode == 0, closed.stderr
    assert f"build run {parent_id} ended FINISHED" in closed.stdout
    parents, _ = _build_runs(root, "b-1")
    assert parents[0].info.status == "FINISHED" and parents[0].info.end_time
    # a build without --build-id still opens and ends its own parent
    own = run_cli(root, "build", "-f", "c", "--json", "-q")
    own_parent = json.loads(own.stdout)["parent_run_id"]
    assert own_parent != parent_id
    assert next(r for r in mlflow_runs(_store(root), "tiny") if r.info.run_id == own_parent).info.status == "FINISHED"


def test_close_build_status_from_failed_task_and_explicit(git_repo: Path):
    root = make_tiny(git_repo)
    nb = json.loads((root / "notebooks/c.ipynb").read_text())
    nb["cells"].append({"cell_type": "code", "id": "boom", "metadata": {}, "outputs": [], "execution_count": None,
                        "source": "raise ValueError('broken on purpose')"})
    (root / "notebooks/c.ipynb").write_text(json.dumps(nb))
    failed = run_cli(root, "build", "c", "--build-id", "b-2", "-q")
    assert failed.returncode == 1
    closed = run_cli(root, "close-build", "b-2")
    assert "ended FAILED" in closed.stdout, closed.stdout + closed.stderr
    run_cli(root, "build", "a", "--build-id", "b-3", "-q")
    killed = run_cli(root, "close-build", "b-3", "--status", "killed")
    assert "ended KILLED" in killed.stdout
    parents, _ = _build_runs(root, "b-3")
    assert parents[0].info.status == "KILLED"
    nothing = run_cli(root, "close-build", "never-opened")
    assert nothing.returncode == 0 and "nothing to close" in nothing.stdout
    bad = run_cli(root, "close-build", "b-3", "--status", "done")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


CLIENT = '''from ploomber.clients import LocalStorageClient


def get_client():
    """Products kept in a folder every worker reaches (S3, GCS... in a real team)."""
    return LocalStorageClient({storage!r}, path_to_project_root={root!r})
'''


def _worker_copy(src: Path, dest: Path) -> Path:
    """The project as a fresh worker sees it: the committed files, no products, no store."""
    subprocess.run(["git", "clone", "-q", str(src), str(dest)], check=True)
    return dest


def test_upstream_products_come_from_the_file_client(git_repo: Path, tmp_path: Path):
    root = make_tiny(git_repo)
    storage = tmp_path / "storage"
    storage.mkdir()
    spec = (root / "pipeline.yaml").read_text()
    (root / "pipeline.yaml").write_text("clients:\n  File: storage_client.get_client\n" + spec)
    (root / "storage_client.py").write_text(CLIENT.format(storage=str(storage), root=str(root)))
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), "commit", "-qm", "products in storage"], check=True)
    built = run_cli(root, "build", "a", "-q")
    assert built.returncode == 0, built.stderr
    assert any(p.name == "a.txt" for p in storage.rglob("*")), "Ploomber uploaded nothing"

    worker = _worker_copy(root, tmp_path / "worker")
    # the worker's client keeps the same storage, relative to its own checkout
    (worker / "storage_client.py").write_text(CLIENT.format(storage=str(storage), root=str(worker)))
    assert not (worker / "products").exists()
    proc = run_cli(worker, "build", "b", "-q", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (worker / "products/b.txt").read_text() == "11"  # a's product (10) came from storage
    assert [t["outcome"] for t in json.loads(proc.stdout)["tasks"]] == ["ran"]

    # without a File client the same worker situation is refused, naming what is missing
    plain = tmp_path / "plain"
    shutil.copytree(git_repo, plain, ignore=shutil.ignore_patterns("products", "mlflow.db", "mlruns"))
    (plain / "pipeline.yaml").write_text(spec)
    refused = run_cli(plain, "build", "b", "-q")
    assert refused.returncode == 2 and "upstream task(s) not built: a" in refused.stderr

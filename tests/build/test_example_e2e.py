"""The README's promise: the example project builds end to end, against the embedded store and
against a real MLflow tracking server on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from tests.conftest import BuiltExample, free_port

from .conftest import mlflow_runs, run_cli

pytestmark = pytest.mark.integration


def test_example_builds_end_to_end_on_the_embedded_store(built_example: BuiltExample):
    """The session's shared build (tests/conftest.py): its first ``nbgov build --json``, then a
    no-op rebuild, which runs nothing and records nothing (so the shared project is unchanged)."""
    root, summary = built_example.root, built_example.summary
    ran = [t["task"] for t in summary["tasks"] if t["outcome"] == "ran"]
    assert {"ingest", "profile", "features", "train", "evaluate"} <= set(ran)
    runs = mlflow_runs(built_example.store, "nbgov-example")
    tasks = {r.data.tags["nbgov.task"]: r for r in runs if r.data.tags.get("nbgov.kind") == "task"}
    # metrics glued with the real scrapbook in the example notebooks
    evaluate = tasks["evaluate"]
    assert evaluate.data.metrics["f1"] > 0.9
    assert 0 < evaluate.data.metrics["latency_ms"] < 1000
    assert tasks["ingest"].data.metrics["n_rows"] == 569.0
    assert tasks["train"].data.params == {"C": "1.0", "max_iter": "1000"}
    assert (root / "products/metrics.json").is_file() and (root / "mlruns").is_dir()
    # a no-op rebuild runs nothing and records nothing
    proc = run_cli(root, "build", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert {t["outcome"] for t in json.loads(proc.stdout)["tasks"]} == {"skipped"}
    assert len(mlflow_runs(built_example.store, "nbgov-example")) == len(runs)
    status = json.loads(run_cli(root, "status", "--json").stdout)
    assert {t["state"] for t in status["tasks"]} == {"up-to-date"}


@pytest.fixture
def mlflow_server(tmp_path: Path):
    """A real `mlflow server` on 127.0.0.1 with its own SQLite store and served artifacts."""
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server-artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180  # 90 s was not always enough on a loaded 2-core machine
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
        if proc.poll() is not None:
            pytest.fail(f"mlflow server exited: {proc.stderr.read()[-2000:]}")
    else:
        proc.kill()
        pytest.fail("mlflow server did not start in 180 s")
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_build_against_a_real_tracking_server(tiny: Path, mlflow_server: str):
    proc = run_cli(tiny, "build", "--json", env={"MLFLOW_TRACKING_URI": mlflow_server})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["tracking_uri"] == mlflow_server  # stdout is clean JSON
    assert not (tiny / "mlflow.db").exists()  # nothing went to the embedded store
    runs = mlflow_runs(mlflow_server, "tiny")
    tasks = {r.data.tags["nbgov.task"]: r for r in runs if r.data.tags.get("nbgov.kind") == "task"}
    assert set(tasks) == {"a", "b", "c"}
    assert tasks["a"].data.metrics["value"] == 10.0
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server)
    assert "notebook/a.ipynb" in [f.path for f in client.list_artifacts(tasks["a"].info.run_id, "notebook")]
    local = client.download_artifacts(tasks["b"].info.run_id, "nbgov/lineage.json", str(tiny / "dl"))
    lineage = json.loads(Path(local).read_text())
    assert lineage["upstream"][0]["run_id"] == tasks["a"].info.run_id
    assert lineage["tracking_uri"] == mlflow_server

"""The example end to end against real MLflow: build -> register -> promote (refused while a
notebook is unapproved, accepted after approval) -> serve -> monitor (ok batch, drifted batch)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from tests.conftest import wait_http

from .conftest import MODEL, REVIEWER, run_cli, server_port, store

pytestmark = pytest.mark.integration

#: the notebooks in the registered model's lineage (profile and monitor are not upstream of it)
LINEAGE_NOTEBOOKS = ["notebooks/ingest.ipynb", "notebooks/features.ipynb", "notebooks/train.ipynb",
                     "notebooks/register.ipynb", "notebooks/evaluate.ipynb"]


def alias_version(root: Path, alias: str) -> str | None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store(root), registry_uri=store(root))
    version = client.get_registered_model(MODEL).aliases.get(alias)
    return None if version is None else str(version)


@pytest.fixture(scope="module")
def walkthrough(example) -> dict:
    """Promote before approval (dry run, then for real), approve, promote again."""
    root, uri = example["root"], f"models:/{MODEL}/{example['version']}"
    steps = {"uri": uri}
    steps["dry_refused"] = run_cli(root, "promote", uri, "--alias", "champion", "--dry-run")
    steps["refused"] = run_cli(root, "promote", uri, "--alias", "champion")
    steps["alias_after_refusal"] = alias_version(root, "champion")
    # approve all but evaluate: still refused, naming only evaluate
    steps["approve"] = run_cli(root, "review", "approve", *LINEAGE_NOTEBOOKS[:-1],
                               env={"NBGOV_REVIEWER": REVIEWER})
    steps["refused_one"] = run_cli(root, "promote", uri, "--alias", "champion", "--json")
    run_cli(root, "review", "approve", LINEAGE_NOTEBOOKS[-1], env={"NBGOV_REVIEWER": REVIEWER})
    steps["dry_ok"] = run_cli(root, "promote", uri, "--alias", "champion", "--dry-run")
    steps["alias_after_dry_run"] = alias_version(root, "champion")
    steps["accepted"] = run_cli(root, "promote", uri, "--alias", "champion", "--note", "first",
                                env={"NBGOV_REVIEWER": REVIEWER})
    steps["alias_after"] = alias_version(root, "champion")
    return steps


def test_promotion_refused_while_notebooks_unapproved(walkthrough):
    dry, real = walkthrough["dry_refused"], walkthrough["refused"]
    assert dry.returncode == 1 and real.returncode == 1, dry.stderr + real.stderr
    assert "would refuse" in dry.stdout
    for nb in LINEAGE_NOTEBOOKS:
        # every reason: which notebook, which status
        assert f"{nb} (task " in dry.stdout and "unreviewed" in dry.stdout
        assert nb in real.stderr
    assert real.stderr.count(": unreviewed") == len(LINEAGE_NOTEBOOKS)
    assert "profile.ipynb" not in real.stderr  # not in the model's lineage
    assert "Traceback" not in real.stderr
    assert walkthrough["alias_after_refusal"] is None
    # the metric checks that passed are explained too
    assert "f1 = " in dry.stdout and "meets >= 0.9" in dry.stdout


def test_refusal_names_only_the_notebook_still_unapproved(walkthrough):
    proc = walkthrough["refused_one"]
    assert walkthrough["approve"].returncode == 0, walkthrough["approve"].stderr
    assert proc.returncode == 1
    reasons = json.loads(proc.stdout)["reasons"]
    assert len(reasons) == 1 and reasons[0].startswith("notebooks/evaluate.ipynb (task evaluate)")


def test_promotion_accepted_after_approval_and_recorded(walkthrough, example):
    root = example["root"]
    dry = walkthrough["dry_ok"]
    assert dry.returncode == 0, dry.stderr
    assert "would set alias 'champion'" in dry.stdout
    assert walkthrough["alias_after_dry_run"] is None  # a dry run changes nothing
    proc = walkthrough["accepted"]
    assert proc.returncode == 0, proc.stderr
    assert walkthrough["alias_after"] == example["version"]
    lines = (root / ".nbgov/promotions.jsonl").read_text().splitlines()
    record = json.loads(lines[-1])
    assert record["model"] == MODEL and record["version"] == example["version"]
    assert record["alias"] == "champion" and record["previous"] is None
    assert record["by"] == REVIEWER and record["note"] == "first"
    assert any(c.startswith("f1 = ") for c in record["checks"])
    status = run_cli(root, "status")
    assert status.returncode == 0, status.stderr
    assert f"champion: models:/{MODEL}/{example['version']}" in status.stdout


def test_threshold_refusal_lists_value_and_threshold(walkthrough, example):
    proc = run_cli(example["root"], "promote", walkthrough["uri"], "--alias", "strict")
    assert proc.returncode == 1
    err = proc.stderr
    assert "needs >= 0.999" in err and "f1 = 0.9" in err
    assert "auc_pr: not recorded, needs >= 0.5" in err
    assert "evaluate.latency_ms" not in err  # a task-qualified rule that holds is not a reason
    assert alias_version(example["root"], "strict") is None


def test_serve_champion_answers_invocations(walkthrough, example):
    import pandas as pd

    assert walkthrough["alias_after"] == example["version"]
    root, port = example["root"], server_port()
    proc = subprocess.Popen([sys.executable, "-m", "nbgov", "serve", f"models:/{MODEL}@champion",
                             "--port", str(port)], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    from nbgov.adapters.mlflow.registry import ModelVersion
    from nbgov.services.models.serve import ModelServer

    server = ModelServer(ModelVersion(MODEL, example["version"], None, ""),
                         f"http://127.0.0.1:{port}", proc)
    try:
        server.wait_ready(timeout=120)
        rows = pd.read_csv(root / "data/batches/batch-01-ok.csv").head(5)
        body = json.dumps({"dataframe_split": rows.drop(columns="target").to_dict(orient="split")})
        req = urllib.request.Request(f"{server.url}/invocations", data=body.encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            predictions = json.loads(resp.read())["predictions"]
    finally:
        code = server.stop()
    assert len(predictions) == 5 and set(predictions) <= {0, 1}
    with pytest.raises(ConnectionRefusedError):  # SIGTERM to nbgov serve stopped uvicorn too
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    # the served champion agrees with the labels on these rows most of the time
    assert sum(int(p == t) for p, t in zip(predictions, rows["target"], strict=True)) >= 4
    assert code == 0  # nbgov serve stopped its server and exited by itself on SIGTERM


def test_monitor_ok_batch_then_drifted_batch_alerts(walkthrough, example):
    root = example["root"]
    ok = run_cli(root, "monitor", "--batch", "data/batches/batch-01-ok.csv", "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    ok_result = json.loads(ok.stdout)
    assert ok_result["status"] == "ok"
    # no --model: [monitor] model, the champion
    assert ok_result["model"] == f"models:/{MODEL}/{example['version']}"
    assert ok_result["metrics"]["psi_max"] < 0.25 and "f1" in ok_result["metrics"]

    drift = run_cli(root, "monitor", "--batch", "data/batches/batch-03-drift.csv",
                    "--model", f"models:/{MODEL}@champion")
    assert drift.returncode == 1, drift.stdout + drift.stderr
    assert drift.stdout.startswith("alert:")
    assert "NO: psi_max = " in drift.stdout and "needs <= 0.25" in drift.stdout

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store(root), registry_uri=store(root))
    run_id = drift.stdout.split("(run ", 1)[1].split(",", 1)[0]
    tags = client.get_run(run_id).data.tags
    assert tags["nbgov.monitor.status"] == "alert"
    assert tags["nbgov.model_version"] == example["version"] and tags["nbgov.task"] == "monitor"
    mv = client.get_model_version(MODEL, example["version"])
    assert mv.tags["nbgov.monitor.run_id"] == run_id and mv.tags["nbgov.monitor.status"] == "alert"

    status = run_cli(root, "status", "--json")
    last = json.loads(status.stdout)["models"]["monitor"]
    assert last["status"] == "alert" and last["run_id"] == run_id


def test_monitor_refuses_batch_not_matching_signature(walkthrough, example, tmp_path):
    import pandas as pd

    root = example["root"]
    bad = tmp_path / "bad.csv"
    rows = pd.read_csv(root / "data/batches/batch-01-ok.csv").head(10)
    rows = rows.drop(columns=["mean_radius"]).rename(columns={"mean_area": "area"})
    rows.to_csv(bad, index=False)
    before = (root / "products/monitor.lineage.json").read_text()
    proc = run_cli(root, "monitor", "--batch", str(bad), "--model", f"models:/{MODEL}@champion")
    assert proc.returncode == 2
    assert "missing mean_radius, mean_area" in proc.stderr and "unexpected area" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (root / "products/monitor.lineage.json").read_text() == before  # nothing ran


def test_promote_through_a_tracking_server(walkthrough, example):
    """The same gate through a real ``mlflow server`` (REST) on the example's store, after
    monitor runs tagged the version (those runs are not part of the model's lineage)."""
    root, port = example["root"], server_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("mlflow")), "server", "--backend-store-uri",
         store(root), "--default-artifact-root", (root / "mlruns").as_uri(), "--host",
         "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_http(f"{url}/health", server)
        env = {"MLFLOW_TRACKING_URI": url, "NBGOV_REVIEWER": REVIEWER}
        proc = run_cli(root, "promote", walkthrough["uri"], "--alias", "challenger", env=env)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "monitor.ipynb" not in proc.stdout
    assert alias_version(root, "challenger") == example["version"]
    record = json.loads((root / ".nbgov/promotions.jsonl").read_text().splitlines()[-1])
    assert record["alias"] == "challenger" and record["tracking_uri"] == url
    status = run_cli(root, "status")
    assert "challenger: models:/" in status.stdout and "champion: models:/" in status.stdout

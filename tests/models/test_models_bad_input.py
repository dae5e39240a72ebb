"""Bad input to promote / serve / monitor: a clear message naming the problem, exit code 2, no
traceback, nothing changed. Runs against a real (empty) SQLite MLflow store where one is needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbgov.core.errors import ParameterError
from nbgov.core.thresholds import FAIL, MISSING, PASS, parse_rules
from nbgov.services.models.monitor import batch_columns, check_columns, judge

from .conftest import run_cli


def project(root: Path, extra: str = "") -> Path:
    (root / "nbgov.toml").write_text('experiment = "bad"\n' + extra)
    (root / "pipeline.yaml").write_text("tasks: []\n")
    return root


def failed(proc, *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


@pytest.mark.parametrize("rules, says", [
    ('["f1 >= high"]', "'high' is not a number"),
    ('["f1 => 0.9"]', "cannot parse rule 'f1 => 0.9'"),
    ('"f1 >= 0.9"', "[promote] thresholds must be a list"),
])
def test_promote_refuses_unparsable_thresholds(tmp_path, rules, says):
    root = project(tmp_path, f"[promote]\nthresholds = {rules}\n")
    failed(run_cli(root, "promote", "models:/m/1", "--alias", "champion"), says, "nbgov.toml")
    assert not (root / "mlflow.db").exists()  # refused before touching the store


def test_promote_bad_uri_and_alias(tmp_path):
    root = project(tmp_path, '[promote]\naliases = ["champion"]\n')
    failed(run_cli(root, "promote", "runs:/abc/model", "--alias", "champion"),
           "not a registered model URI", "models:/NAME/VERSION")
    failed(run_cli(root, "promote", "models:/m/1", "--alias", "staging"),
           "alias 'staging' is not allowed", "allowed: champion")
    failed(run_cli(root, "promote", "models:/m/1", "--alias", "bad alias!"), "not a valid alias")


def test_unknown_model_version_and_alias_in_a_real_store(tmp_path):
    from mlflow.tracking import MlflowClient

    root = project(tmp_path)
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
                          registry_uri=f"sqlite:///{root / 'mlflow.db'}")
    client.create_registered_model("m")
    # the registry exists, with a model that has no versions
    assert client.get_registered_model("m").name == "m"
    assert client.search_model_versions("name = 'm'") == []
    failed(run_cli(root, "promote", "models:/nope/1", "--alias", "champion"), "nope")
    failed(run_cli(root, "promote", "models:/m/3", "--alias", "champion"), "no model version")
    failed(run_cli(root, "serve", "models:/m@champion"), "model 'm' has no alias 'champion'")
    (tmp_path / "batch.csv").write_text("mean_radius\n14.7\n")  # a batch with a row: the model is what is wrong
    failed(run_cli(root, "monitor", "--batch", str(tmp_path / "batch.csv"), "--model",
                   "models:/m@champion"), "has no alias")
    assert client.get_registered_model("m").aliases == {}


def test_monitor_bad_batch_and_config(tmp_path):
    root = project(tmp_path)
    failed(run_cli(root, "monitor", "--batch", "missing.csv"), "batch file not found")
    (root / "empty.csv").write_text("")
    failed(run_cli(root, "monitor", "--batch", "empty.csv"), "batch is empty")
    (root / "nbgov.toml").write_text('[monitor]\nthresholds = ["psi_max <= lots"]\n')
    failed(run_cli(root, "monitor", "--batch", "empty.csv"), "[monitor] thresholds")
    (root / "nbgov.toml").write_text('[monitor]\nthreshold = ["psi_max <= 1"]\n')
    failed(run_cli(root, "monitor", "--batch", "empty.csv"), "unknown key(s) in [monitor]")


def test_check_columns_names_missing_and_unexpected(tmp_path):
    batch = tmp_path / "b.csv"
    batch.write_text("a,c,target\n1,2,0\n")
    columns = batch_columns(batch)
    assert columns == ["a", "c", "target"]
    check_columns(["a", "b", "target"][:2] + ["target"], ["a", "b"], batch, "x")  # labels allowed
    with pytest.raises(ParameterError) as err:
        check_columns(columns, ["a", "b"], batch, "the signature of models:/m/1")
    assert "missing b; unexpected c" in err.value.message
    assert "models:/m/1" in err.value.message and err.value.where.path == batch


def test_judge_alerts_only_on_recorded_metrics():
    rules = parse_rules(["psi_max <= 0.25", "f1 >= 0.9"])
    status, verdicts = judge(rules, {"psi_max": 0.1})
    assert status == "ok" and [v.outcome for v in verdicts] == [PASS, MISSING]
    status, verdicts = judge(rules, {"psi_max": 0.1, "f1": 0.8})
    assert status == "alert" and verdicts[1].outcome == FAIL


def test_unreachable_or_missing_store_fails_fast(tmp_path):
    root = project(tmp_path)
    proc = run_cli(root, "promote", "models:/m/1", "--alias", "champion",
                   env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"})
    failed(proc, "is not reachable")
    failed(run_cli(root, "serve", "models:/m@champion"), "does not exist")
    assert not (root / "mlflow.db").exists()  # no empty store created by asking

"""`nbgov export airflow` for real: the DAG imports in Airflow 3.3.2 (its own venv) and `airflow
dags test` runs the example, recorded as one MLflow parent run with one child run per task."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest
from tests.build.conftest import mlflow_runs, run_cli
from tests.export.conftest import AIRFLOW_VENV, nbgov_env, run, venv_python

pytestmark = [pytest.mark.integration, pytest.mark.airflow]

TASKS = ["ingest", "profile", "features", "train", "evaluate", "monitor", "register"]


@pytest.fixture
def airflow(tmp_path: Path, example: Path):
    """(airflow command, its environment) with AIRFLOW_HOME in a temp dir and a migrated db."""
    python = venv_python(AIRFLOW_VENV, "Airflow")
    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    env = nbgov_env({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                     "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"), "AIRFLOW__CORE__UNIT_TEST_MODE": "False"})
    # nbgov on PATH after Airflow's own bin: the DAG's tasks call `nbgov`, Airflow its python
    env["PATH"] = f"{python.parent}:{env['PATH']}"
    cmd = [python.parent / "airflow"]
    migrated = run([*cmd, "db", "migrate"], example, env)
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    return cmd, env, home / "dags"


def test_exported_dag_imports_and_runs_as_one_build(example: Path, airflow):
    cmd, env, dags = airflow
    exported = run_cli(example, "export", "airflow", "--allow-local-products", "-o", str(dags / "nbgov_example.py"))
    assert exported.returncode == 0, exported.stderr
    assert "7 tasks, 10 edges" in exported.stderr
    text = (dags / "nbgov_example.py").read_text()
    tree = ast.parse(text)
    assert tree is not None and "{{ run_id }}" in text

    errors = run([*cmd, "dags", "list-import-errors", "--local"], example, env)
    assert errors.returncode == 0, errors.stdout + errors.stderr
    listed = run([*cmd, "dags", "list", "--local", "-o", "plain"], example, env)
    assert "nbgov-example" in listed.stdout, listed.stdout + listed.stderr

    started = time.monotonic()
    test = run([*cmd, "dags", "test", "nbgov-example"], example, env, timeout=1800)
    wall = time.monotonic() - started
    assert test.returncode == 0, test.stdout[-3000:] + test.stderr[-3000:]
    print(f"airflow dags test: {wall:.0f} s")

    runs = mlflow_runs(f"sqlite:///{example / 'mlflow.db'}", "nbgov-example")
    parents = [r for r in runs if r.data.tags.get("nbgov.kind") == "build"]
    assert len(parents) == 1, [p.data.tags for p in parents]
    parent = parents[0]
    # the build id is Airflow's DAG run id
    assert parent.data.tags["nbgov.build_id"].startswith("manual__")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(c.data.tags["nbgov.task"] for c in children) == sorted(TASKS)
    assert {c.info.status for c in children} == {"FINISHED"}
    assert parent.info.status == "FINISHED" and parent.info.end_time  # ended by the teardown task


def test_broken_dag_is_reported(tmp_path: Path, airflow, example: Path):
    cmd, env, dags = airflow
    (dags / "broken.py").write_text("from airflow.sdk import DAG\nwith DAG(dag_id='x', schedule=None) as dag:\n"
                                    "    raise RuntimeError('broken on purpose')\n")
    errors = run([*cmd, "dags", "list-import-errors", "--local"], example, env)
    assert errors.returncode == 1 and "broken on purpose" in errors.stdout + errors.stderr

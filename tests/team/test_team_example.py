"""The example project end to end on a team's tracking server: PostgreSQL backend store, artifacts
served by the tracking server from S3. Builds with `-j 2` and new data repeat (the dataset race
of a PostgreSQL store, issue 14 bug 1), then lineage, promote and monitor read it all back, and
two workers recording one build at once share one parent run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from tests.build.conftest import copy_example, run_cli
from tests.team.conftest import s3_keys

pytestmark = pytest.mark.integration

MODEL = "nbgov-example-classifier"
CHAIN = {"ingest", "features", "train", "evaluate", "register"}
REVIEWER = "Rita Reviewer <rita@example.com>"
#: builds after the first one, each with new data (a new train/test split)
SEEDS = (7, 8)


def _client(server):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=server.tracking_uri, registry_uri=server.tracking_uri)


@pytest.fixture(scope="module")
def team_example(team_server, tmp_path_factory) -> dict:
    """The example built once with -j 2, then rebuilt with new data per seed, on the team server."""
    root = tmp_path_factory.mktemp("team") / "example"
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    for key, value in (("user.name", "Ada Author"), ("user.email", "ada@example.com"), ("commit.gpgsign", "false")):
        subprocess.run(["git", "-C", str(root), "config", key, value], check=True)
    copy_example(root)
    env = team_server.env()
    builds = [run_cli(root, "build", "-j", "2", "--json", "-q", env=env, timeout=900)]
    for seed in SEEDS:
        builds.append(run_cli(root, "build", "-j", "2", "--json", "-q", "--env", f"seed={seed}", env=env,
                              timeout=900))
    return {"root": root, "env": env, "builds": builds}


def test_parallel_builds_with_new_data_all_record(team_example, team_server):
    client = _client(team_server)
    for proc in team_example["builds"]:
        # the race made 3 of 6 such builds exit 2 ("UniqueViolation dataset_pk")
        assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-3000:]
        summary = json.loads(proc.stdout)
        ran = [t for t in summary["tasks"] if t["outcome"] == "ran"]
        assert summary["tracking_uri"] == team_server.tracking_uri and ran
        for task in ran:
            run = client.get_run(task["run_id"])
            assert run.info.status == "FINISHED"
            assert run.data.tags["mlflow.parentRunId"] == summary["parent_run_id"]
            # every input dataset of the lineage record is logged on the run
            with tempfile.TemporaryDirectory() as dl:
                record = json.loads(Path(client.download_artifacts(task["run_id"], "nbgov/lineage.json", dl))
                                    .read_text())
            names = sorted(f"{i['task']}.{i['key']}" for i in record["inputs"])
            assert sorted(i.dataset.name for i in run.inputs.dataset_inputs) == names, task["task"]
    # a new seed re-ran the tasks it reaches, so new datasets were logged at once by several runs
    later = {t["task"]: t["outcome"] for t in json.loads(team_example["builds"][-1].stdout)["tasks"]}
    assert later["features"] == later["train"] == later["evaluate"] == "ran"


def test_artifacts_are_served_from_s3(team_example, team_server):
    keys = s3_keys(team_server)
    summary = json.loads(team_example["builds"][0].stdout)
    train = next(t["run_id"] for t in summary["tasks"] if t["task"] == "train")
    ours = [k for k in keys if f"/{train}/artifacts/" in k]
    assert any(k.endswith("notebook/train.ipynb") for k in ours), ours
    assert any(k.endswith("products/model.pkl") for k in ours), ours
    assert any(k.endswith("nbgov/lineage.json") for k in ours), ours
    # nothing was written to a local artifact folder: the server served them all
    assert not (team_example["root"] / "mlruns").exists() and not (team_example["root"] / "mlartifacts").exists()


def test_lineage_promote_monitor_against_the_team_server(team_example, team_server):
    root, env = team_example["root"], team_example["env"]
    versions = _client(team_server).search_model_versions(f"name = '{MODEL}'")
    assert len(versions) == 1 + len(SEEDS)
    latest = str(max(int(v.version) for v in versions))

    proc = run_cli(root, "lineage", f"models:/{MODEL}/{latest}", "--json", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    payload = json.loads(proc.stdout)
    tasks = {n["task"]: n for n in payload["nodes"].values() if n["kind"] == "task"}
    assert set(tasks) == CHAIN and payload["missing"] == []
    record = json.loads((root / "products/register.lineage.json").read_text())
    assert tasks["register"]["run_id"] == record["run_id"]

    refused = run_cli(root, "promote", f"models:/{MODEL}/{latest}", "--alias", "champion", env=env)
    assert refused.returncode == 1 and "unreviewed" in refused.stderr
    approve = run_cli(root, "review", "approve", *(f"notebooks/{t}.ipynb" for t in sorted(CHAIN)),
                      env={**env, "NBGOV_REVIEWER": REVIEWER})
    assert approve.returncode == 0, approve.stderr
    promoted = run_cli(root, "promote", f"models:/{MODEL}/{latest}", "--alias", "champion",
                       env={**env, "NBGOV_REVIEWER": REVIEWER})
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert str(_client(team_server).get_registered_model(MODEL).aliases["champion"]) == latest

    # a registry URI left in the environment (another project's store; a test earlier in the
    # session that called mlflow.set_registry_uri) must not redirect nbgov: MLflow resolves
    # models:/ through it, and monitor failed with "Model Version ... not found"
    stray = f"sqlite:///{root.parent / 'another-project.db'}"
    ok = run_cli(root, "monitor", "--batch", "data/batches/batch-01-ok.csv", "--json",
                 env={**env, "MLFLOW_REGISTRY_URI": stray}, timeout=900)
    assert ok.returncode == 0, ok.stdout[-1500:] + ok.stderr[-2000:]
    result = json.loads(ok.stdout)
    assert result["status"] == "ok" and result["model"] == f"models:/{MODEL}/{latest}"
    tags = _client(team_server).get_model_version(MODEL, latest).tags
    assert tags["nbgov.monitor.status"] == "ok"


def test_concurrent_workers_of_one_build_share_one_parent(team_example, team_server):
    root, env = team_example["root"], team_example["env"]
    build_id = "team-shared-1"
    cmd = [sys.executable, "-m", "nbgov", "build", "-f", "-q", "--json", "--build-id", build_id]
    full = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    full.update(env)
    # two "workers" record at the same moment, neither finds a parent: find-before-create must
    # still end with one
    workers = [subprocess.Popen([*cmd, task], cwd=root, env=full, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for task in ("profile", "evaluate")]
    outs = [w.communicate(timeout=900) for w in workers]
    for worker, (out, err) in zip(workers, outs, strict=True):
        assert worker.returncode == 0, out[-1000:] + err[-2000:]
    parents = {json.loads(out)["parent_run_id"] for out, _ in outs}
    assert len(parents) == 1
    client = _client(team_server)
    exp = client.get_experiment_by_name("nbgov-example")
    alive = client.search_runs([exp.experiment_id], f"tags.`nbgov.build_id` = '{build_id}' "
                               "and tags.`nbgov.kind` = 'build'")
    assert [r.info.run_id for r in alive] == list(parents)
    children = client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{alive[0].info.run_id}'")
    assert sorted(c.data.tags["nbgov.task"] for c in children) == ["evaluate", "profile"]
    closed = run_cli(root, "close-build", build_id, env=env)
    assert closed.returncode == 0 and "ended FINISHED" in closed.stdout, closed.stdout + closed.stderr
    assert client.get_run(alive[0].info.run_id).info.status == "FINISHED"


def test_fixture_starts_fast(team_server):
    # PostgreSQL (initdb + start), moto and mlflow server on two busy cores
    assert team_server.startup_s < 90, team_server.startup_s

"""Issue 24 case 6: a reply lost after the tracking server created a run (``runs/create``
answered, the connection dropped) made MLflow's HTTP retry create a second run with the same
run key, left RUNNING forever. Through a proxy on 127.0.0.1 that loses replies, against a real
`mlflow server`: the live path's create, the whole build, and `nbgov sync`'s repair of the
duplicates an older nbgov left."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.build.conftest import make_tiny, run_cli
from tests.conftest import free_port
from tests.faults.conftest import start_mlflow_server, stop
from tests.faults.proxy import LossyProxy

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lost-replies")
    port = free_port()
    proc = start_mlflow_server(folder, port)
    proxy = LossyProxy(port)
    yield port, proxy
    proxy.close()
    stop(proc)


def _by_key(port: int, experiment: str, key: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"http://127.0.0.1:{port}")
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], f"tags.`nbgov.run_key` = '{key}'", max_results=10)


@pytest.mark.parametrize("lost", [1, 2])
def test_a_create_whose_reply_is_lost_makes_one_run(server, lost: int):
    """One lost reply: MLflow's retry creates a copy (deleted); two (the retry's too): nbgov
    looks the run up by its key instead of failing (or creating it again later)."""
    from nbgov.adapters.mlflow.tracker import RUN_KEY_TAG, Tracker

    port, proxy = server
    experiment = f"lost-{lost}"
    tracker = Tracker(proxy.uri, experiment)
    tracker.prepare()
    key = f"k-{lost}-{time.time_ns()}"
    before = proxy.dropped
    proxy.drop["runs/create"] = lost
    run_id = tracker.create_run("a", int(time.time() * 1000), None, {RUN_KEY_TAG: key})
    # the first reply is always lost; whether MLflow's HTTP retry sends the create again (and
    # loses the second) depends on how the dropped connection reads to urllib3: either way one run
    assert 1 <= proxy.dropped - before <= lost, proxy.seen[-6:]
    proxy.drop["runs/create"] = 0  # a reply left to lose is not the next test's
    runs = _by_key(port, experiment, key)
    assert [r.info.run_id for r in runs] == [run_id], [(r.info.run_id, r.info.status) for r in runs]


def test_a_build_through_a_lossy_connection_records_each_run_once(server, git_repo: Path):
    port, proxy = server
    root = make_tiny(git_repo)
    proxy.drop["runs/create"] = 3
    built = run_cli(root, "build", "-q", env={"MLFLOW_TRACKING_URI": proxy.uri})
    assert built.returncode == 0, built.stderr[-2000:]
    synced = run_cli(root, "sync", env={"MLFLOW_TRACKING_URI": proxy.uri})
    assert synced.returncode == 0, synced.stderr[-2000:]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"http://127.0.0.1:{port}")
    exp = client.get_experiment_by_name("tiny")
    runs = client.search_runs([exp.experiment_id], max_results=100)
    keys = [r.data.tags.get("nbgov.run_key") for r in runs]
    assert len(keys) == len(set(keys)) == 4, keys  # a parent and 3 tasks, once each
    assert [r.info.run_name for r in runs if r.info.status == "RUNNING"] == []


def test_sync_repairs_duplicates_an_older_nbgov_left(server, git_repo: Path):
    """A RUNNING copy of a run the store also has closed under the same key is deleted."""
    from mlflow.tracking import MlflowClient

    port, _ = server
    root = make_tiny(git_repo)
    uri = f"http://127.0.0.1:{port}"
    built = run_cli(root, "build", "-q", env={"MLFLOW_TRACKING_URI": uri})
    assert built.returncode == 0, built.stderr[-2000:]
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("tiny")
    task = next(r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("nbgov.task") == "a")
    copy = client.create_run(exp.experiment_id, tags={**task.data.tags}, run_name="a")  # the old bug's copy
    synced = run_cli(root, "sync", env={"MLFLOW_TRACKING_URI": uri})
    assert synced.returncode == 0, synced.stderr[-2000:]
    assert "deleted 1 duplicate" in synced.stdout, synced.stdout
    assert client.get_run(copy.info.run_id).info.lifecycle_stage == "deleted"
    assert client.get_run(task.info.run_id).info.lifecycle_stage == "active"

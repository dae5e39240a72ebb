"""``GET nbgov/api/pipeline`` reports the runs kept in the local journal: a real ``nbgov build``
against a tracking server that is down (a closed port on 127.0.0.1) journals its runs, the
server counts them (``unsynced``), marks each task's last run not synced (in the pipeline and
in a notebook's review answer, for the toolbar badge) and draws their
lineage from the local records; after a real
``mlflow server`` comes up on that port and ``nbgov sync`` sends them, the same server says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import free_port, run_nbgov
from tests.faults.conftest import start_mlflow_server, stop
from tests.server.conftest import build_project, commit_all


@pytest.fixture
def store_uri() -> str:
    """A tracking URI nothing listens on (yet)."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def jp_root_dir(git_repo: Path, store_uri: str) -> Path:
    """The two-task project, built while its tracking server is down: both runs journaled."""
    build_project(git_repo)
    commit_all(git_repo, "project")
    built = run_nbgov(git_repo, "build", "--json", env={"MLFLOW_TRACKING_URI": store_uri})
    assert built.returncode == 0, built.stderr[-2000:]
    assert json.loads(built.stdout)["pending"] == 2, built.stdout
    assert list((git_repo / ".nbgov" / "journal").glob("*.jsonl")), "the runs are not journaled"
    return git_repo


async def test_pipeline_counts_runs_not_yet_synced_until_nbgov_sync(api, jp_root_dir, store_uri, tmp_path):
    status, body = await api("pipeline")
    assert status == 200, body
    assert body["unsynced"] == 2
    runs = {t["name"]: t["last_run"] for t in body["tasks"]}
    assert set(runs) == {"load", "train"}
    for name, run in runs.items():
        assert run is not None and run["outcome"] == "succeeded", (name, run)
        assert run["synced"] is False and not run["run_id"], (name, run)

    # the notebook's review answer says it too (the toolbar badge shows "not synced")
    status, review = await api("review", params={"path": "notebooks/train.ipynb"})
    assert status == 200 and review["task"] == "train", review
    assert review["last_run_synced"] is False, review

    # the lineage of train finds load's run by its key (it has no run id before the sync),
    # from the local records only: the store is down and is not asked
    status, lineage = await api("lineage", params={"target": "train"})
    assert status == 200, lineage
    assert lineage["missing"] == [], lineage["missing"]
    load = lineage["nodes"]["task:load"]
    assert (load["kind"], load["origin"], load["run_id"]) == ("task", "local", None)
    assert lineage["nodes"]["task:train"]["upstream"] == ["task:load"]

    # the command line says the same (the count line had gone with the payload's count)
    cli = run_nbgov(jp_root_dir, "status")
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert "2 run(s) kept locally, not yet in the tracking store: `nbgov sync` sends them" in cli.stdout
    assert cli.stdout.count("(not synced)") == 2, cli.stdout

    server = start_mlflow_server(tmp_path / "store", int(store_uri.rsplit(":", 1)[1]))
    try:
        synced = run_nbgov(jp_root_dir, "sync", "--json", env={"MLFLOW_TRACKING_URI": store_uri})
        assert synced.returncode == 0, synced.stderr[-2000:]
        assert json.loads(synced.stdout)["runs_sent"] == 2
    finally:
        stop(server)

    # the same server process (its pipeline cache included) sees the sync at once
    status, body = await api("pipeline")
    assert status == 200, body
    assert body["unsynced"] == 0
    for task in body["tasks"]:
        assert task["last_run"]["synced"] is True and task["last_run"]["run_id"], task
    _, review = await api("review", params={"path": "notebooks/train.ipynb"})
    assert review["last_run_synced"] is True, review
    _, lineage = await api("lineage", params={"target": "train"})
    assert lineage["missing"] == [] and all(n["run_id"] for n in lineage["nodes"].values()), lineage
    cli = run_nbgov(jp_root_dir, "status")
    assert "kept locally" not in cli.stdout and "(not synced)" not in cli.stdout, cli.stdout


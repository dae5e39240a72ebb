"""``nbgov lineage`` of runs kept in the local journal: a real ``nbgov build`` against a tracking
server that is down (a closed port on 127.0.0.1) journals both runs; the lineage of ``train``
(and of its upstream ``load``) says the runs are kept locally, not yet in the store, in text
and in ``--json``; after a real ``mlflow server`` comes up on that port and ``nbgov sync``
sends them, the same command shows their MLflow run ids."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import free_port, run_nbgov
from tests.faults.conftest import start_mlflow_server, stop
from tests.server.conftest import build_project, commit_all

NOT_SYNCED = "run (not synced yet: kept in .nbgov/journal; run `nbgov sync`)"


def _lineage(root: Path, env: dict[str, str]) -> tuple[str, dict]:
    text = run_nbgov(root, "lineage", "train", env=env)
    assert text.returncode == 0, text.stderr[-2000:]
    as_json = run_nbgov(root, "lineage", "train", "--json", env=env)
    assert as_json.returncode == 0, as_json.stderr[-2000:]
    return text.stdout, json.loads(as_json.stdout)


def test_lineage_says_runs_are_not_synced_until_nbgov_sync(git_repo: Path, tmp_path: Path):
    port = free_port()
    env = {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"}
    build_project(git_repo)
    commit_all(git_repo, "project")
    built = run_nbgov(git_repo, "build", "--json", env=env)
    assert built.returncode == 0, built.stderr[-2000:]
    assert json.loads(built.stdout)["pending"] == 2, built.stdout

    text, payload = _lineage(git_repo, env)
    assert "None" not in text, text
    # the target's line, and its upstream's line in the tree below it
    train = next(line for line in text.splitlines() if line.startswith("train "))
    load = next(line for line in text.splitlines() if "── load " in line)
    assert NOT_SYNCED in train and NOT_SYNCED in load, text
    nodes = payload["nodes"]
    assert set(nodes) == {"task:train", "task:load"}, nodes
    for name in ("train", "load"):
        node = nodes[f"task:{name}"]
        assert node["synced"] is False and node["run_id"] is None, node
        assert node["run_key"] and node["run_key"].endswith(f"/{name}"), node

    server = start_mlflow_server(tmp_path / "store", port)
    try:
        synced = run_nbgov(git_repo, "sync", "--json", env=env)
        assert synced.returncode == 0, synced.stderr[-2000:]
        assert json.loads(synced.stdout)["runs_sent"] == 2
        text, payload = _lineage(git_repo, env)
    finally:
        stop(server)

    assert "not synced" not in text and "None" not in text, text
    for node in payload["nodes"].values():
        assert node["synced"] is True and re.fullmatch(r"[0-9a-f]{32}", node["run_id"]), node
        assert f"run {node['run_id']}" in text, text

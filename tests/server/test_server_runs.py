"""``GET nbgov/api/runs`` and ``GET nbgov/api/compare`` against a real Jupyter server and a
project really built three times: twice into its embedded MLflow store (the second of one
task, with another seed), then once while its tracking server is down (the run stays in the journal).
The history merges both, links store runs to the MLflow UI, and two runs compare with their
params, metrics and executed notebooks (nbdime)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.conftest import free_port, run_nbgov
from tests.server.conftest import build_project, commit_all
from tests.server.test_server_security import raw_fetch  # noqa: F401

UI = "http://127.0.0.1:5000/#/experiments/"
COMMAND = "mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs") / "repo"
    root.mkdir()
    for args in (["init", "-q", "-b", "main"], ["config", "user.name", "Ada Author"],
                 ["config", "user.email", "ada@example.com"], ["config", "commit.gpgsign", "false"]):
        subprocess.run(["git", "-C", str(root), *args], check=True)
    build_project(root)
    commit_all(root, "project")
    first = run_nbgov(root, "build", "-q")
    assert first.returncode == 0, first.stderr[-2000:]
    # then load alone (a build of one task is half the time), with another seed
    second = run_nbgov(root, "build", "-q", "--force", "load", "-p", "load.seed=4")
    assert second.returncode == 0, second.stderr[-2000:]
    offline = run_nbgov(root, "build", "-q", "--force", "load", "-p", "load.seed=4",
                        env={"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"})
    assert offline.returncode == 0, offline.stderr[-2000:]
    return root


@pytest.fixture
def jp_root_dir(built: Path) -> Path:
    return built


async def _history(api, task: str = "load") -> dict:
    status, body = await api("runs", params={"task": task})
    assert status == 200, body
    return body


async def test_history_merges_the_store_and_the_journal(api, built):
    body = await _history(api)
    runs = body["runs"]
    assert len(runs) == 3, [r["id"] for r in runs]
    assert body["store_error"] is None
    local, newer, older = runs  # newest first: the journaled run, then the store's two
    assert local["synced"] is False and local["id"].startswith("local:") and local["run_id"] is None
    assert local["url"] is None and local["params"]["seed"] in ("4", 4)
    for run in (newer, older):
        assert run["synced"] is True and run["id"] == run["run_id"]
        assert run["url"].startswith(UI) and run["url"].endswith(f"/runs/{run['run_id']}")
        assert run["outcome"] == "succeeded" and run["notebook_version"].startswith("nbv1:")
    assert (newer["params"]["seed"], older["params"]["seed"]) == ("4", "3")
    # the embedded store: how to open its UI, bound to 127.0.0.1, and no server path
    assert body["ui"] == {"url": "http://127.0.0.1:5000", "command": COMMAND}
    assert str(built) not in json.dumps(body)


async def test_two_store_runs_compare_params_metrics_and_notebooks(api):
    _, newer, older = (await _history(api))["runs"]
    status, body = await api("compare", params={"task": "load", "a": older["id"], "b": newer["id"]})
    assert status == 200, body
    assert (body["a"]["params"]["seed"], body["b"]["params"]["seed"]) == ("3", "4")
    assert body["notebooks"] is not None and body["notebooks_note"] is None
    assert body["notebooks"]["base"]["cells"], "no executed notebook"
    # papermill's injected parameters are kept (they are what differs): nbdime patches the seed
    injected = [i for i, c in enumerate(body["notebooks"]["base"]["cells"])
                if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == 1, body["notebooks"]["base"]["cells"]
    assert "seed = 3" in body["notebooks"]["base"]["cells"][injected[0]]["source"]
    (cells,) = [d for d in body["notebooks"]["diff"] if d["key"] == "cells"]
    patched = {d["key"]: json.dumps(d) for d in cells["diff"]}
    assert '"valuelist": "4"' in patched[injected[0]], patched


async def test_a_journal_run_compares_without_notebooks(api):
    local, newer, _ = (await _history(api))["runs"]
    status, body = await api("compare", params={"task": "load", "a": newer["id"], "b": local["id"]})
    assert status == 200, body
    assert body["notebooks"] is None and "local journal" in body["notebooks_note"]
    assert body["b"]["synced"] is False


@pytest.mark.parametrize("params,code", [
    ({"task": "load", "a": "nosuchrun", "b": "nosuchrun2"}, 404),
    ({"task": "load", "a": "x"}, 400),
    ({"task": "load", "a": "<script>", "b": "x"}, 400),
])
async def test_bad_compare_requests(api, params, code):
    status, body = await api("compare", params=params)
    assert status == code, body
    assert body["message"]


async def test_runs_routes_need_a_token_are_get_only_and_stay_in_the_root(api, raw_fetch, built):  # noqa: F811
    for route in ("runs?task=load", "compare?task=load&a=x&b=y"):
        response = await raw_fetch(f"nbgov/api/{route}")
        assert response.code == 403, route
    for route in ("runs", "compare"):
        status, _ = await api(route, method="POST", body={"task": "load"})
        assert status == 405
    status, body = await api("runs", params={"task": "load", "path": "../elsewhere"})
    assert status == 400 and body["error"] == "PathRefusedError"
    status, _ = await api("runs", params={})
    assert status == 400


async def test_a_configured_ui_address_is_used(api, built):
    toml = built / "nbgov.toml"
    original = toml.read_text()
    try:
        toml.write_text(original + '[tracking]\nui_url = "https://mlflow.example.org/"\n')
        body = await _history(api, "train")
        assert body["ui"]["url"] == "https://mlflow.example.org"
        assert all(r["url"].startswith("https://mlflow.example.org/#/experiments/")
                   for r in body["runs"] if r["synced"])
        toml.write_text(original + '[tracking]\nui_url = "javascript:alert(1)"\n')
        status, body = await api("runs", params={"task": "train"})
        assert status == 400 and "ui_url" in body["message"], body
    finally:
        toml.write_text(original)

"""The real Jupyter server (pytest-jupyter, nbgov.server on) answers GET pipeline and review for
a grid / placeholder project from the build plan, with Ploomber made unloadable: the first
answer after start never waits for a DAG load, and a GET runs no project code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def jp_root_dir(built_scripts: Path, tmp_path: Path) -> Path:
    root = tmp_path / "served"
    shutil.copytree(built_scripts, root)
    return root


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {
        "nbgov.server": True, "ploomber": False, "ploomber_extension": False,
        "jupyter_server_terminals": False}}}


@pytest.fixture
def no_ploomber(monkeypatch):
    """Loading a pipeline through Ploomber fails loudly for the rest of the test."""
    from nbgov.adapters.ploomber import pipeline

    def refuse(*args, **kwargs):
        raise AssertionError("a GET loaded the pipeline through Ploomber")

    monkeypatch.setattr(pipeline.Pipeline, "__init__", refuse)


@pytest.fixture
def api(jp_fetch):
    from tornado.httpclient import HTTPClientError

    async def call(route: str, params: dict | None = None):
        try:
            response = await jp_fetch("nbgov", "api", route, method="GET", params=params)
        except HTTPClientError as exc:
            response = exc.response
        return response.code, json.loads(response.body or b"null")

    return call


async def test_pipeline_of_a_grid_comes_from_the_plan(no_ploomber, api):
    status, body = await api("pipeline")
    assert status == 200, body
    assert body["plan"] == "current" and body["hints"] == []
    tasks = {t["name"]: t for t in body["tasks"]}
    assert list(tasks) == ["load", "fit-0.1", "fit-0.5"]
    assert tasks["load"]["products"]["data"] == "products/dev/load.csv"
    assert tasks["fit-0.5"]["upstream"] == ["load"]
    assert {t["state"] for t in tasks.values()} == {"up-to-date"}
    assert all(t["last_run"]["run_id"] for t in tasks.values())


async def test_review_names_the_task_from_the_plan(no_ploomber, api):
    status, body = await api("review", params={"path": "scripts/load.py"})
    assert status == 200, body
    assert body["task"] == "load"


async def test_a_changed_spec_shows_the_last_plan_and_says_so(no_ploomber, api, jp_root_dir):
    spec = jp_root_dir / "pipeline.yaml"
    spec.write_text(spec.read_text() + "\n# edited\n")
    status, body = await api("pipeline")
    assert status == 200, body
    assert body["plan"] == "stale"
    assert [t["name"] for t in body["tasks"]] == ["load", "fit-0.1", "fit-0.5"]
    assert any("nbgov status" in hint for hint in body["hints"])
    assert not (jp_root_dir / ".nbgov/cache/plan.json").read_text().count("# edited")

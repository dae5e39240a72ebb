"""Every nbgov REST route against a real Jupyter server, a real git repository and the real
review and pipeline services (the same ledger and config the CLI reads)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jupyter_server.auth.identity import IdentityProvider, User

from nbgov.core.config import load_config
from nbgov.core.identity import notebook_version
from nbgov.core.redact import REDACTED

LOAD = "notebooks/load.ipynb"
TRAIN = "notebooks/train.ipynb"


class RitaProvider(IdentityProvider):
    """A multi-user style provider: every token holder is the user "Rita Reviewer"."""

    def generate_anonymous_user(self, handler):
        return User("Rita Reviewer", "Rita Reviewer", "Rita Reviewer", "RR", None, None)


class AdaProvider(IdentityProvider):
    """The notebooks' git author, logged in to Jupyter."""

    def generate_anonymous_user(self, handler):
        return User("Ada Author", "Ada Author", "Ada Author", "AA", None, None)


@pytest.fixture
def as_rita(jp_server_config):
    jp_server_config["ServerApp"]["identity_provider_class"] = RitaProvider
    return jp_server_config


@pytest.fixture
def as_ada(jp_server_config):
    jp_server_config["ServerApp"]["identity_provider_class"] = AdaProvider
    return jp_server_config


def version_on_disk(root: Path, rel: str) -> str:
    return notebook_version(json.loads((root / rel).read_text()))


async def test_review_of_a_new_notebook_is_unreviewed(api, jp_root_dir):
    status, body = await api("review", params={"path": LOAD})
    assert status == 200
    assert body["path"] == LOAD
    assert body["status"] == "unreviewed"
    assert body["version"] == version_on_disk(jp_root_dir, LOAD)
    assert body["approved_version"] is None and body["last"] is None
    assert body["task"] == "load"


async def test_approval_is_recorded_by_the_server_user(as_rita, api, jp_root_dir):
    status, body = await api("review", method="POST",
                             body={"path": LOAD, "decision": "approved", "note": "looks right"})
    assert status == 201, body
    assert body["status"] == "approved" and body["path"] == LOAD and body["task"] == "load"
    assert body["last"]["reviewer"] == "Rita Reviewer"
    assert body["last"]["note"] == "looks right"
    assert body["approved_version"] == version_on_disk(jp_root_dir, LOAD)

    # one source of truth: the CLI's service reads what the server wrote
    from nbgov.services.review.state import review_state

    assert review_state(load_config(jp_root_dir), LOAD).status == "approved"
    status, again = await api("review", params={"path": LOAD})
    assert (status, again["status"], again["last"]) == (200, "approved", body["last"])


async def test_a_client_cannot_choose_the_reviewer(as_rita, api):
    _, info = await api("info")
    assert info["reviewer"] == "Rita Reviewer"
    status, body = await api("review", method="POST",
                             body={"path": LOAD, "decision": "comment", "note": "n",
                                   "reviewer": "Someone Else"})
    assert status == 201, body
    assert body["last"]["reviewer"] == "Rita Reviewer"


async def test_self_approval_is_409_naming_the_author(as_ada, api, jp_root_dir):
    status, body = await api("review", method="POST", body={"path": LOAD, "decision": "approved"})
    assert status == 409, body
    assert body["error"] == "ReviewError"
    assert "Ada Author" in body["message"]


async def test_single_user_server_reviewer_is_the_owner(api, jp_root_dir):
    """Token-only server: the reviewer is the owner's git identity, so four-eyes still holds."""
    status, body = await api("review", method="POST", body={"path": LOAD, "decision": "approved"})
    assert status == 409 and "Ada Author" in body["message"]
    status, body = await api("review", method="POST",
                             body={"path": LOAD, "decision": "changes_requested", "note": "x"})
    assert status == 201, body
    assert body["status"] == "changes-requested"
    assert body["last"]["reviewer"].startswith("Ada Author")


async def test_diff_against_the_approved_snapshot(as_rita, api, jp_root_dir):
    status, body = await api("diff", params={"path": LOAD})
    assert status == 409 and "never approved" in body["message"]

    await api("review", method="POST", body={"path": LOAD, "decision": "approved"})
    status, body = await api("diff", params={"path": LOAD})
    assert status == 200 and body["diff"] == []

    nb_path = jp_root_dir / LOAD
    nb = json.loads(nb_path.read_text())
    nb["cells"][1]["source"] = "print('changed')"
    nb_path.write_text(json.dumps(nb))
    status, review = await api("review", params={"path": LOAD})
    assert review["status"] == "stale"
    status, body = await api("diff", params={"path": LOAD, "outputs": "1"})
    assert status == 200
    assert body["path"] == LOAD
    assert body["approved_version"] == review["approved_version"]
    assert body["current_version"] == review["version"] != review["approved_version"]
    assert body["base"]["cells"][1]["source"] != "print('changed')"
    assert body["diff"], "an edited cell must show in the diff"
    status, body = await api("diff", params={"path": LOAD, "outputs": "yes"})
    assert status == 400


async def test_pipeline_lists_tasks_with_state_review_and_runs(as_rita, api):
    await api("review", method="POST", body={"path": TRAIN, "decision": "approved"})
    status, body = await api("pipeline")
    assert status == 200, body
    assert body["pipeline"] == "pipeline.yaml"
    tasks = {t["name"]: t for t in body["tasks"]}
    assert list(tasks) == ["load", "train"]
    assert tasks["load"]["source"] == LOAD
    assert tasks["load"]["products"] == {"nb": "products/load.ipynb", "data": "products/data.csv"}
    assert tasks["train"]["upstream"] == ["load"]
    assert tasks["load"]["state"] == "never-run" and tasks["load"]["last_run"] is None
    assert body["unsynced"] == 0  # nothing journaled, nothing waiting for `nbgov sync`
    assert tasks["load"]["review"]["status"] == "unreviewed"
    assert tasks["train"]["review"]["status"] == "approved"


async def test_task_context_gives_upstream_and_product_values(api, jp_root_dir):
    status, body = await api("task-context", params={"path": TRAIN})
    assert status == 200, body
    assert body["task"] == "train"
    assert body["upstream"] == {"load": {"nb": str(jp_root_dir / "products/load.ipynb"),
                                         "data": str(jp_root_dir / "products/data.csv")}}
    assert body["product"] == {"nb": str(jp_root_dir / "products/train.ipynb")}
    status, load = await api("task-context", params={"path": LOAD})
    assert load["params"] == {"seed": 3} and load["upstream"] == {}


async def test_task_context_masks_secret_params(api, jp_root_dir):
    """R5: the server never hands out a secret parameter's value (by its name, at any depth, or
    by the value rules); it names them, so that a client injects none of them and the notebook
    keeps its own default (the user supplies the secret their own way)."""
    spec = (jp_root_dir / "pipeline.yaml").read_text()
    (jp_root_dir / "pipeline.yaml").write_text(spec.replace(
        "      seed: 3\n", "      seed: 3\n      db_password: Hunter2-Plain-xyz\n"
        "      conn: {api_token: tok-9dK2mQ7vX4pL, host: db}\n"
        "      header: Bearer 7f3kQ9xLm2Pz8RtY4wVb0nQ\n"))
    status, body = await api("task-context", params={"path": LOAD})
    assert status == 200, body
    assert body["params"] == {"seed": 3, "db_password": REDACTED, "conn": {"api_token": REDACTED, "host": "db"},
                              "header": f"Bearer {REDACTED}"}
    assert body["secret_params"] == ["conn", "db_password", "header"]
    text = json.dumps(body)
    assert not any(s in text for s in ("Hunter2-Plain-xyz", "tok-9dK2mQ7vX4pL", "7f3kQ9xLm2Pz8RtY4wVb0nQ"))


async def test_task_context_of_a_notebook_outside_the_pipeline_is_404(api, jp_root_dir):
    (jp_root_dir / "scratch.ipynb").write_text((jp_root_dir / LOAD).read_text())
    status, body = await api("task-context", params={"path": "scratch.ipynb"})
    assert status == 404, body
    status, body = await api("review", params={"path": "scratch.ipynb"})
    assert status == 200 and body["task"] is None


async def test_project_in_a_subfolder_answers_with_server_root_paths(as_rita, api, jp_root_dir):
    """The server root holds several projects: paths in replies stay server-root relative."""
    from tests.server.conftest import build_project

    build_project(jp_root_dir / "sub")
    status, body = await api("pipeline", params={"path": "sub"})
    assert status == 200, body
    assert body["pipeline"] == "sub/pipeline.yaml"
    assert body["tasks"][0]["source"] == "sub/notebooks/load.ipynb"
    assert body["tasks"][0]["products"]["nb"] == "sub/products/load.ipynb"
    status, body = await api("review", method="POST",
                             body={"path": "sub/notebooks/load.ipynb", "decision": "approved"})
    assert status == 201 and body["path"] == "sub/notebooks/load.ipynb"
    # the decision went to the sub-project's ledger, not the outer one
    assert (jp_root_dir / "sub" / ".nbgov" / "reviews.jsonl").is_file()
    assert not (jp_root_dir / ".nbgov" / "reviews.jsonl").exists()


async def test_pipeline_reply_follows_runs_and_reviews(as_rita, api, jp_root_dir):
    """The server reuses pipeline payloads: a new product or a new review must still show."""
    _, before = await api("pipeline")
    assert before["tasks"][0]["state"] == "never-run"
    products = jp_root_dir / "products"
    products.mkdir()
    (products / "load.ipynb").write_text((jp_root_dir / LOAD).read_text())
    (products / "data.csv").write_text("x\n3\n")
    _, after = await api("pipeline")
    assert after["tasks"][0]["state"] != "never-run"
    await api("review", method="POST", body={"path": LOAD, "decision": "approved"})
    _, reviewed = await api("pipeline")
    assert reviewed["tasks"][0]["review"]["status"] == "approved"


async def test_a_broken_pipeline_is_a_400_but_reviews_still_answer(api, jp_root_dir):
    (jp_root_dir / "pipeline.yaml").write_text("tasks: [\n")
    status, body = await api("pipeline")
    assert status == 400 and body["error"] == "PipelineError", body
    status, body = await api("task-context", params={"path": TRAIN})
    assert status == 400 and body["error"] == "PipelineError"
    status, body = await api("review", params={"path": TRAIN})
    assert status == 200 and body["status"] == "unreviewed" and body["task"] is None


async def test_lineage_route_follows_the_lineage_service(api, jp_root_dir):
    from nbgov.server.handlers import service_available

    _, info = await api("info")
    status, body = await api("lineage", params={"target": "../elsewhere/model.pkl"})
    if not service_available("lineage"):
        assert info["lineage"] is False and status == 404
        assert "no such nbgov API route" in body["message"]
        return
    assert info["lineage"] is True
    assert status == 400 and body["error"] == "PathRefusedError"
    status, body = await api("lineage", params={"target": "nosuchtask"})
    assert status == 404 and body["error"] == "LineageError", body
    assert "load, train" in body["message"]  # the service saw this project's pipeline
    status, body = await api("lineage", params={"target": ""})
    assert status == 400


async def test_error_locations_are_server_relative(api, jp_root_dir):
    """A service error naming an absolute file says where relative to the root, like replies."""
    (jp_root_dir / "notebooks" / "broken.ipynb").write_text("{not json")
    status, body = await api("review", params={"path": "notebooks/broken.ipynb"})
    assert status == 400 and body["error"] == "NotebookError", body
    assert body["where"]["path"] == "notebooks/broken.ipynb"
    assert str(jp_root_dir) not in json.dumps(body)


async def test_saving_or_reviewing_does_not_reload_the_dag(as_rita, api, jp_serverapp,
                                                           jp_root_dir):
    """The panels refresh on every save and decision: neither may cost a Ploomber DAG load."""
    cache = jp_serverapp.web_app.settings["nbgov_pipeline_cache"]
    await api("pipeline")
    await api("review", params={"path": LOAD})
    loads = cache.misses
    nb_path = jp_root_dir / LOAD
    nb = json.loads(nb_path.read_text())
    nb["cells"][1]["source"] += "\nprint('edited')"
    nb_path.write_text(json.dumps(nb))
    status, body = await api("review", params={"path": LOAD})
    assert (status, body["task"], body["version"]) == (200, "load", notebook_version(nb))
    status, body = await api("review", method="POST", body={"path": TRAIN, "decision": "approved"})
    assert status == 201 and body["task"] == "train"
    assert cache.misses == loads
    _, pipeline = await api("pipeline")  # the edit made the DAG stale: one reload, reviews fresh
    assert {t["name"]: t["review"]["status"] for t in pipeline["tasks"]} == {
        "load": "unreviewed", "train": "approved"}


async def test_a_pipeline_outside_the_server_root_is_refused(api, jp_root_dir, tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text((jp_root_dir / "pipeline.yaml").read_text())
    (jp_root_dir / "nbgov.toml").write_text(f'pipeline = "{outside}"\n')
    status, body = await api("pipeline")
    assert status == 400 and body["error"] == "PathRefusedError"
    assert str(tmp_path) not in json.dumps(body)
    status, body = await api("task-context", params={"path": TRAIN})
    assert status == 400 and body["error"] == "PathRefusedError"
    _, info = await api("info")
    assert info["pipeline"] is None
    status, body = await api("review", params={"path": TRAIN})
    assert status == 200 and body["task"] is None

"""``GET nbgov/api/models`` and ``POST nbgov/api/models/promote`` against a real Jupyter server
serving a private copy of the built example (its real embedded MLflow store holds the version
the register task registered): the overview lists it with the gate's verdict, a promotion goes
through the CLI's gate (refused with its reasons, nothing changed; accepted once the lineage is
approved, recorded in the promotion ledger), and only an authenticated POST with XSRF promotes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import copy_built_example
from tests.server.test_server_security import _cookie_session, raw_fetch  # noqa: F401

MODEL = "nbgov-example-classifier"
REVIEWER = "Rita Reviewer <rita@example.com>"
#: the notebooks in the registered model's lineage (as tests/models/test_models_walkthrough.py)
LINEAGE = ["notebooks/ingest.ipynb", "notebooks/features.ipynb", "notebooks/train.ipynb",
           "notebooks/register.ipynb", "notebooks/evaluate.ipynb"]
#: an alias whose bar the example cannot meet: refused whatever is approved
STRICT = '\n[promote.alias.strict]\nthresholds = ["f1 >= 0.999"]\n'


def _alias(root: Path, alias: str) -> str | None:
    from mlflow.tracking import MlflowClient

    store = f"sqlite:///{root / 'mlflow.db'}"
    version = MlflowClient(tracking_uri=store, registry_uri=store).get_registered_model(MODEL).aliases.get(alias)
    return None if version is None else str(version)


@pytest.fixture(scope="module")
def example(built_example, tmp_path_factory) -> Path:
    root = copy_built_example(built_example, tmp_path_factory.mktemp("models-api") / "example")
    with (root / "nbgov.toml").open("a") as fh:
        fh.write(STRICT)
    subprocess.run(["git", "-C", str(root), "commit", "-qam", "strict alias"], check=True)
    return root


@pytest.fixture
def jp_root_dir(example: Path) -> Path:
    return example


@pytest.fixture(autouse=True)
def _owner(monkeypatch):
    # the token-only server promotes as its owner: git's user of the repository (Ada)
    monkeypatch.delenv("NBGOV_REVIEWER", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


async def test_overview_lists_the_model_its_versions_and_the_gate(api, example):
    status, body = await api("models")
    assert status == 200, body
    assert body["alias"] == "champion" and body["aliases"] == ["champion", "challenger"]
    (model,) = body["models"]
    assert model["name"] == MODEL and model["aliases"] == {}
    newest = model["versions"][0]
    assert newest["uri"] == f"models:/{MODEL}/{newest['version']}"
    gate = newest["gate"]
    # the CLI's gate: bound to the register task's run, refused while notebooks are unreviewed
    assert gate["accepted"] is False and gate["origin"], gate
    assert any("notebooks/train.ipynb (task train)" in r and "unreviewed" in r for r in gate["reasons"])
    assert any(c.startswith("f1 = ") for c in gate["checks"]), gate["checks"]
    assert str(example) not in json.dumps(body)
    # another alias is judged by its own rules
    status, strict = await api("models", params={"alias": "strict"})
    assert status == 200 and strict["alias"] == "strict"
    assert any("needs >= 0.999" in r for r in strict["models"][0]["versions"][0]["gate"]["reasons"])


async def test_a_refused_promotion_says_why_and_changes_nothing(api, example):
    status, body = await api("models")
    version = body["models"][0]["versions"][0]["version"]
    status, refused = await api("models/promote", method="POST",
                                body={"model": f"models:/{MODEL}/{version}", "alias": "strict"})
    assert status == 409, refused
    assert refused["error"] == "GateError" and refused["accepted"] is False
    assert "refused" in refused["message"] and refused["hint"]
    assert any("needs >= 0.999" in r for r in refused["reasons"]), refused["reasons"]
    assert _alias(example, "strict") is None
    assert not (example / ".nbgov" / "promotions.jsonl").exists()


async def test_models_routes_need_a_token_a_post_and_xsrf(api, raw_fetch, jp_fetch, example):  # noqa: F811
    assert (await raw_fetch("nbgov/api/models")).code == 403
    body = json.dumps({"model": f"models:/{MODEL}/1", "alias": "champion"})
    assert (await raw_fetch("nbgov/api/models/promote", method="POST", body=body)).code == 403
    cookies = await _cookie_session(jp_fetch)
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items() if k != "_xsrf")
    refused = await raw_fetch("nbgov/api/models/promote", method="POST", body=body,
                              headers={"Cookie": cookie})
    assert refused.code == 403 and "xsrf" in json.loads(refused.body)["message"].lower()
    # no state change on GET: the promote route is POST only, the overview GET only
    status, _ = await api("models/promote", params={"model": f"models:/{MODEL}/1", "alias": "champion"})
    assert status == 405
    status, _ = await api("models", method="POST", body={})
    assert status == 405
    assert _alias(example, "champion") is None


@pytest.mark.parametrize("body,code", [
    ({"model": "runs:/abc/model", "alias": "champion"}, 400),
    ({"model": f"models:/{MODEL}/1", "alias": "<b>x</b>"}, 400),
    ({"model": f"models:/{MODEL}/1"}, 400),
    ({"model": f"models:/{MODEL}/1", "alias": "champion", "note": 3}, 400),
    ({"model": f"models:/{MODEL}/1", "alias": "champion", "path": "../elsewhere"}, 400),
    ({"model": f"models:/{MODEL}/999", "alias": "champion"}, 404),
    ({"model": f"models:/{MODEL}/1", "alias": "nope"}, 400),  # not in [promote] aliases
])
async def test_bad_promotions_change_nothing(api, example, body, code):
    status, reply = await api("models/promote", method="POST", body=body)
    assert status == code, reply
    assert reply["message"] and "Traceback" not in json.dumps(reply)
    assert not (example / ".nbgov" / "promotions.jsonl").exists()


async def test_an_approved_lineage_is_promoted_and_recorded(api, example):
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI",)}
    approve = subprocess.run([sys.executable, "-m", "nbgov", "review", "approve", *LINEAGE],
                             cwd=example, capture_output=True, text=True,
                             env={**env, "NBGOV_REVIEWER": REVIEWER})
    assert approve.returncode == 0, approve.stderr
    status, body = await api("models")
    version = body["models"][0]["versions"][0]["version"]
    assert body["models"][0]["versions"][0]["gate"]["accepted"] is True, body
    status, plan = await api("models/promote", method="POST",
                             body={"model": f"models:/{MODEL}/{version}", "alias": "champion",
                                   "note": "from JupyterLab"})
    assert status == 201, plan
    assert plan["done"] is True and plan["accepted"] is True and plan["previous"] is None
    assert _alias(example, "champion") == version
    (line,) = (example / ".nbgov" / "promotions.jsonl").read_text().splitlines()
    record = json.loads(line)
    assert (record["alias"], record["version"], record["note"]) == ("champion", version, "from JupyterLab")
    assert record["by"] == "Ada Author <ada@example.com>"  # the server's owner, never the client
    status, after = await api("models")
    assert after["models"][0]["aliases"] == {"champion": version}
    assert after["models"][0]["versions"][0]["aliases"] == ["champion"]
    assert [(p["alias"], p["version"]) for p in after["promotions"]] == [("champion", version)]


async def test_lineage_nodes_say_signed_only_where_the_project_signs(api, example):
    target = {"target": f"models:/{MODEL}/1"}
    status, body = await api("lineage", params=target)
    assert status == 200, body
    tasks = [n for n in body["nodes"].values() if n["kind"] == "task"]
    assert tasks and body["signing"] is False
    assert all("signed" not in n["notebook"] for n in tasks)  # every record is unsigned: unsaid
    signers = example / ".nbgov" / "allowed_signers"
    signers.write_text("")  # the project has allowed signers: it signs
    try:
        status, body = await api("lineage", params=target)
        assert status == 200 and body["signing"] is True, body
        tasks = [n for n in body["nodes"].values() if n["kind"] == "task"]
        assert tasks and all(n["notebook"]["signed"] is False for n in tasks), tasks
    finally:
        signers.unlink()

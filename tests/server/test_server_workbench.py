"""The workbench routes (docs/security.md, W1-W4) against a real Jupyter server: the panel's
Refresh re-plans through the real ``nbgov status`` in a child process, only on an
authenticated POST with XSRF, inside the server root, without blocking the event loop; the
review payload says whether the project signs decisions."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from tests.server.test_server_security import _cookie_session, raw_fetch  # noqa: F401

PLAN = Path(".nbgov") / "cache" / "plan.json"
STALE = "run `nbgov status` to refresh it"


def _edit_spec(root: Path) -> None:
    spec = root / "pipeline.yaml"
    spec.write_text(spec.read_text().replace("seed: 3", "seed: 4"))


async def test_refresh_replans_on_the_server_and_the_stale_hint_goes(api, jp_root_dir):
    status, body = await api("plan", method="POST", body={})
    assert status == 200, body
    assert body == {"plan": "current", "pipeline": "pipeline.yaml"}
    assert (jp_root_dir / PLAN).is_file()
    _edit_spec(jp_root_dir)
    _, pipeline = await api("pipeline")
    assert pipeline["plan"] == "stale" and any(STALE in h for h in pipeline["hints"]), pipeline
    # what the Refresh button does: POST plan (the real `nbgov status`), then GET pipeline
    status, body = await api("plan", method="POST", body={"path": "notebooks/load.ipynb"})
    assert status == 200, body
    _, pipeline = await api("pipeline")
    assert pipeline["plan"] == "current", pipeline
    assert not any(STALE in h for h in pipeline["hints"]), pipeline["hints"]


async def test_replanning_never_blocks_the_event_loop(api, jp_root_dir):
    """A hook module that takes 3 s to import (loading the spec imports it; nbgov's silent
    render runs no hook) loads in the child: the server answers meanwhile."""
    (jp_root_dir / "slow_hook.py").write_text("import time\n\ntime.sleep(3)\n\n\ndef hook():\n    pass\n")
    spec = jp_root_dir / "pipeline.yaml"
    spec.write_text(spec.read_text().replace("tasks:", "on_render: slow_hook.hook\ntasks:", 1))
    started = time.monotonic()
    planning = asyncio.ensure_future(api("plan", method="POST", body={}))
    await asyncio.sleep(0.3)
    status, info = await api("info")
    answered = time.monotonic() - started
    assert status == 200 and not planning.done(), info
    assert answered < 2.5, f"GET info waited {answered:.1f} s for the re-plan"
    status, body = await planning
    assert status == 200, body
    assert time.monotonic() - started >= 3


async def test_a_pipeline_that_does_not_load_is_a_clear_error(api, jp_root_dir):
    (jp_root_dir / "pipeline.yaml").write_text("tasks:\n  - source: notebooks/nope.ipynb\n"
                                               "    product: products/nope.ipynb\n")
    status, body = await api("plan", method="POST", body={})
    assert status == 400, body
    assert body["error"] == "PipelineError" and "nbgov status" in body["message"], body
    assert "nope.ipynb" in body["message"], body
    assert str(jp_root_dir) not in json.dumps(body), "an absolute server path in the reply"


async def test_plan_needs_a_token_a_post_and_xsrf(api, raw_fetch, jp_fetch, jp_root_dir):  # noqa: F811
    response = await raw_fetch("nbgov/api/plan", method="POST", body="{}")
    assert response.code == 403
    status, _ = await api("plan")  # GET changes nothing: not served
    assert status == 405
    cookies = await _cookie_session(jp_fetch)
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items() if k != "_xsrf")
    refused = await raw_fetch("nbgov/api/plan", method="POST", body="{}",
                              headers={"Cookie": cookie})
    assert refused.code == 403 and "xsrf" in json.loads(refused.body)["message"].lower()
    assert not (jp_root_dir / PLAN).exists(), "a refused request re-planned"


@pytest.mark.parametrize("bad", ["../elsewhere", "/etc", "notebooks/../../x", 3])
async def test_plan_paths_outside_the_root_are_refused(api, jp_root_dir, bad):
    status, body = await api("plan", method="POST", body={"path": bad})
    assert status == 400, body
    assert not (jp_root_dir / PLAN).exists()


async def test_review_payload_says_whether_the_project_signs(api, jp_root_dir):
    _, review = await api("review", params={"path": "notebooks/load.ipynb"})
    assert review["signing"] is False, review
    toml = jp_root_dir / "nbgov.toml"
    toml.write_text(toml.read_text() + "[review]\nrequire_signed = true\n")
    _, review = await api("review", params={"path": "notebooks/load.ipynb"})
    assert review["signing"] is True, review

"""Builds from JupyterLab (docs/security.md, W5-W7) against a real Jupyter server: ``POST
nbgov/api/build`` runs the real ``nbgov build`` (progress from its journal, its log, its JSON
summary), a failing task's log reaches the panel, a build is cancelled (SIGINT to its process
group), the build lock's refusal (a terminal build holds it) is the job's message, one build
at a time per project, and only an authenticated POST with XSRF starts or cancels one."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.server.test_server_security import _cookie_session, raw_fetch  # noqa: F401

LOAD = "notebooks/load.ipynb"


def _set_code(root: Path, code: str) -> None:
    """Give load.ipynb a second cell running ``code`` (then commit nothing: a dirty tree)."""
    path = root / LOAD
    nb = json.loads(path.read_text())
    nb["cells"][1]["source"] = code + "\n" + "".join(nb["cells"][1]["source"])
    path.write_text(json.dumps(nb, indent=1))


async def _until(api, predicate, timeout: float = 240.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status, job = await api("build")
        assert status == 200, job
        if predicate(job):
            return job
        assert time.monotonic() < deadline, f"build still {job['state']}: {job['log'][-2000:]}"
        await asyncio.sleep(0.5)


async def test_a_build_from_the_panel_is_the_real_nbgov_build(api, jp_root_dir):
    status, job = await api("build", method="POST", body={"tasks": ["load"]})
    assert status == 202, job
    assert job["state"] == "running" and job["tasks"] == ["load"]
    job = await _until(api, lambda j: j["state"] != "running")
    assert job["state"] == "succeeded", job["log"][-2000:]
    assert job["returncode"] == 0 and job["progress"] == {"load": "ran"}, job
    assert [t["task"] for t in job["summary"]["tasks"] if t["outcome"] == "ran"] == ["load"]
    assert (jp_root_dir / "products" / "data.csv").is_file()
    assert str(jp_root_dir) not in json.dumps(job), "an absolute server path in the reply"
    status, pipeline = await api("pipeline")
    states = {t["name"]: t["state"] for t in pipeline["tasks"]}
    assert states["load"] == "up-to-date", states


async def test_a_failing_task_gives_its_log(api, jp_root_dir):
    _set_code(jp_root_dir, "raise ValueError('boom-from-the-notebook')")
    status, job = await api("build", method="POST", body={"tasks": ["load"], "downstream": True})
    assert status == 202, job
    job = await _until(api, lambda j: j["state"] != "running")
    assert job["state"] == "failed" and job["returncode"] != 0, job
    # the failing task's error, as the executed notebook recorded it (the summary's), and the log
    assert [f["task"] for f in job["failures"]] == ["load"], job
    assert "boom-from-the-notebook" in job["failures"][0]["error"], job["failures"]
    assert job["progress"].get("load") == "failed", job["progress"]


async def test_lock_refusal_one_at_a_time_and_cancel(api, jp_root_dir):
    _set_code(jp_root_dir, "import time\ntime.sleep(120)")
    # a build from a terminal holds the project's build lock: the panel's is refused, saying so
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    terminal = subprocess.Popen([sys.executable, "-m", "nbgov", "build", "-q", "load"],
                                cwd=jp_root_dir, env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lock = jp_root_dir / ".nbgov"
        deadline = time.monotonic() + 120
        while not list(lock.glob("journal/*.jsonl")):
            assert time.monotonic() < deadline and terminal.poll() is None, "terminal build did not start"
            await asyncio.sleep(0.5)
        status, job = await api("build", method="POST", body={"tasks": ["load"]})
        assert status == 202, job
        job = await _until(api, lambda j: j["state"] != "running", timeout=60)
        assert job["state"] == "refused", job
        assert "is running in this project" in job["message"], job
    finally:
        os.killpg(terminal.pid, 15)
        terminal.wait(timeout=60)

    status, job = await api("build", method="POST", body={"tasks": ["load"]})
    assert status == 202, job
    pid = job["id"]
    status, second = await api("build", method="POST", body={})
    assert status == 409 and "running" in second["message"], second
    await _until(api, lambda j: j["progress"].get("load") == "running", timeout=120)
    started = time.monotonic()
    status, job = await api("build/cancel", method="POST", body={})
    assert status == 200, job
    assert job["state"] == "cancelled" and job["id"] == pid and job["returncode"] != 0, job
    assert time.monotonic() - started < 30, "cancel waited for the sleeping task"
    status, again = await api("build/cancel", method="POST", body={})
    assert status == 409, again


async def test_build_routes_need_a_token_a_post_and_xsrf(api, raw_fetch, jp_fetch, jp_root_dir):  # noqa: F811
    for route in ("build", "build/cancel"):
        response = await raw_fetch(f"nbgov/api/{route}", method="POST", body="{}")
        assert response.code == 403, route
    cookies = await _cookie_session(jp_fetch)
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items() if k != "_xsrf")
    refused = await raw_fetch("nbgov/api/build", method="POST", body="{}", headers={"Cookie": cookie})
    assert refused.code == 403 and "xsrf" in json.loads(refused.body)["message"].lower()
    # a GET starts nothing: no build yet, and the cancel route is POST only
    status, body = await api("build", params={"tasks": "load"})
    assert status == 404, body
    status, _ = await api("build/cancel")
    assert status == 405
    assert not (jp_root_dir / "products").exists() and not (jp_root_dir / ".nbgov" / "journal").exists()


@pytest.mark.parametrize("body", [
    {"tasks": ["nosuch"]},
    {"tasks": ["--cluster=tcp://127.0.0.1:1"]},
    {"tasks": "load"},
    {"downstream": True},
    {"tasks": ["load"], "path": "../elsewhere"},
    {"tasks": ["load"], "path": "/etc"},
])
async def test_bad_build_requests_start_nothing(api, jp_root_dir, body):
    status, reply = await api("build", method="POST", body=body)
    assert status == 400, reply
    assert not (jp_root_dir / ".nbgov" / "journal").exists()

"""The cold fallback of ``nbgov build --cluster`` (a worker in another environment runs ``nbgov
build TASK`` in a subprocess): the subprocess checks what the driver's gate approved (R10), and
a build whose subprocesses would record in workers' own embedded stores is refused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.build.conftest import make_tiny

from nbgov.core.config import load_config
from nbgov.core.errors import NbgovError
from nbgov.services.build.cluster import _cold_build
from nbgov.services.build.gate import EXPECT_VAR, check_driver_approved, driver_expectation
from nbgov.services.build.load import load_pipeline
from nbgov.services.build.options import BuildOptions


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cold")
    for args in (["init", "-q"], ["config", "user.name", "A"], ["config", "user.email", "a@example.com"],
                 ["config", "commit.gpgsign", "false"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)
    make_tiny(root)
    return root


def _load(root: Path):
    pipeline = load_pipeline(load_config(root))
    return pipeline, pipeline.tasks()


def test_the_subprocess_refuses_what_the_gate_did_not_approve(tiny: Path, monkeypatch):
    pipeline, infos = _load(tiny)
    expect = json.loads(driver_expectation(pipeline, infos))
    monkeypatch.setenv(EXPECT_VAR, json.dumps(expect))
    check_driver_approved(pipeline, infos, ["c"])  # the same content: runs
    # the worker's notebook differs (its file, or the content Ploomber loaded from it)
    for key in ("sources", "loaded"):
        monkeypatch.setenv(EXPECT_VAR, json.dumps({**expect, key: {**expect[key], "c": "sha256:0"}}))
        with pytest.raises(NbgovError, match="task c's source differs from the one the build's gate approved"):
            check_driver_approved(pipeline, infos, ["c"])
        check_driver_approved(pipeline, infos, ["a"])  # not selected: not this subprocess's task
    # the worker's spec / env.yaml differ (an env value changed there)
    monkeypatch.setenv(EXPECT_VAR, json.dumps({**expect, "spec": "sha256:0"}))
    with pytest.raises(NbgovError, match="spec / env file differ"):
        check_driver_approved(pipeline, infos, ["c"])
    monkeypatch.delenv(EXPECT_VAR)
    check_driver_approved(pipeline, infos, ["c"])  # a plain `nbgov build`: nothing to compare


def test_an_env_value_changed_on_the_worker_changes_the_spec_digest(tiny: Path):
    before = _load(tiny)[0].spec_digest
    env = tiny / "env.yaml"
    text = env.read_text()
    try:
        env.write_text(text.replace("s3cr3t-value", "other"))
        assert _load(tiny)[0].spec_digest != before
    finally:
        env.write_text(text)


def test_cold_tasks_in_workers_own_checkouts_with_an_embedded_store_are_refused(tiny: Path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(NbgovError, match="each worker's own tracking store"):
        _cold_build(load_config(tiny), BuildOptions(), None, 0.0, ["worker tcp://w:1: its checkout is /w"])

"""Fixtures for lineage tests: the repository's example project built once per session (shared
through tests/conftest.py), in a real git repo with the embedded MLflow store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

MODEL = "nbgov-example-classifier"


def nbgov(root: Path, *args: str, env: dict | None = None, timeout: float = 600):
    """Run the real ``nbgov`` CLI in ``root`` (MLFLOW_TRACKING_URI only when given)."""
    full_env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    full_env.update({"PLOOMBER_STATS_ENABLED": "false", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "nbgov", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )


def lineage_json(root: Path, target: str, env: dict | None = None) -> dict:
    """``nbgov lineage TARGET --json``, asserted to succeed and to match the payload schema."""
    import jsonschema

    from nbgov.core.lineage_graph import PAYLOAD_SCHEMA_FILE

    proc = nbgov(root, "lineage", target, "--json", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    payload = json.loads(proc.stdout)
    # every answer the tests see matches the published schema of the API payload
    jsonschema.validate(payload, json.loads(PAYLOAD_SCHEMA_FILE.read_text()))
    return payload


@pytest.fixture(scope="session")
def example(built_example) -> Path:
    """The example project built once per session (tests/conftest.py ``built_example``, shared
    with tests/build and tests/models). Read-only: a test that moves a file puts it back."""
    return built_example.root


@pytest.fixture(scope="session")
def store(example: Path) -> str:
    """The example's embedded tracking URI."""
    return f"sqlite:///{example / 'mlflow.db'}"

"""Fixtures for promote / serve / monitor tests: a private copy of the repository's example
project built once per session (tests/conftest.py), with a registered model version in its real
MLflow store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import copy_built_example

MODEL = "nbgov-example-classifier"
AUTHOR = "Ada Author <ada@example.com>"
REVIEWER = "Rita Reviewer <rita@example.com>"

#: Extra rules for the tests: an alias whose bar the example cannot meet.
EXTRA_CONFIG = """
[promote.alias.strict]
thresholds = ["f1 >= 0.999", "evaluate.latency_ms <= 50", "auc_pr >= 0.5"]
"""


def store(root: Path) -> str:
    """The example's embedded MLflow store."""
    return f"sqlite:///{root / 'mlflow.db'}"


def run_cli(root: Path, *args: str, env: dict | None = None, timeout: float = 600):
    """The real ``nbgov`` CLI in ``root`` (a clean environment: no inherited tracking URI)."""
    drop = ("MLFLOW_TRACKING_URI", "NBGOV_REVIEWER")
    full = {k: v for k, v in os.environ.items() if k not in drop}
    full.update({"PLOOMBER_STATS_ENABLED": "false", **(env or {})})
    return subprocess.run([sys.executable, "-m", "nbgov", *args], cwd=root, capture_output=True,
                          text=True, env=full, timeout=timeout)


def server_port() -> int:
    """A free port below the ephemeral range: a server that takes 20 s to start must not find
    its port taken by a kernel (kernels bind ephemeral ports) meanwhile."""
    import random
    import socket

    for port in random.sample(range(20000, 32000), 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-32000")


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def latest_version(root: Path) -> str | None:
    """The newest registered version of the example model, if any."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store(root), registry_uri=store(root))
    try:
        versions = client.search_model_versions(f"name = '{MODEL}'")
    except Exception:
        return None
    return str(max(int(v.version) for v in versions)) if versions else None


@pytest.fixture(scope="session")
def example(built_example, tmp_path_factory) -> dict:
    """A private copy of the session's built example (these tests promote, approve and monitor:
    they change the project and its store), with the extra rules above committed:
    ``{"root", "version"}`` (the registered model version)."""
    root = copy_built_example(built_example, tmp_path_factory.mktemp("models") / "example")
    with (root / "nbgov.toml").open("a") as fh:
        fh.write(EXTRA_CONFIG)
    _git(root, "commit", "-qam", "strict alias for the tests")
    version = latest_version(root)  # registered by the pipeline's register task
    assert version, "the build registered no model version"
    return {"root": root, "version": version}

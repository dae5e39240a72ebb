"""Fixtures for promote / serve / monitor tests: the repository's example project, built once
per session in a tmp git repo, with a registered model version in its real MLflow store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
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


def _tracked(name: str) -> bool:
    out = subprocess.run(["git", "-C", str(REPO), "ls-files", "--", name], capture_output=True,
                         text=True).stdout
    return bool(out.strip())


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
def example(tmp_path_factory) -> dict:
    """The example project built once: ``{"root", "version"}`` (the registered model version)."""
    root = tmp_path_factory.mktemp("models") / "example"
    root.mkdir()
    # the committed example (HEAD), not the working tree other work may be editing right now
    names = [n for n in ("notebooks", "data", "pipeline.yaml", "env.yaml", "nbgov.toml",
                         ".gitignore", "environment.yml") if _tracked(n)]
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "HEAD", *names],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    with (root / "nbgov.toml").open("a") as fh:
        fh.write(EXTRA_CONFIG)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.name", "Ada Author")
    _git(root, "config", "user.email", "ada@example.com")
    _git(root, "config", "commit.gpgsign", "false")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "example")
    proc = run_cli(root, "build", "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    version = latest_version(root)  # registered by the pipeline's register task
    assert version, "the build registered no model version"
    return {"root": root, "version": version}

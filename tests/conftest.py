"""Fixtures shared by every test area. Each area (build, review, check, server, lineage, models)
keeps its own conftest.py in its folder."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# nbgov and the tests must not phone home
os.environ["PLOOMBER_STATS_ENABLED"] = "false"
os.environ["PLOOMBER_VERSION_CHECK_DISABLED"] = "true"


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (tests only bind loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """An empty git repository in a temp dir with a configured author."""
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "config", "user.name", "Ada Author"], check=True)
    subprocess.run(["git", "-C", str(root), "config", "user.email", "ada@example.com"], check=True)
    subprocess.run(["git", "-C", str(root), "config", "commit.gpgsign", "false"], check=True)
    return root


@pytest.fixture(autouse=True)
def _no_tracking_uri_leaks(monkeypatch):
    """Each test starts without MLFLOW_TRACKING_URI, and whatever a test (or mlflow's
    set_tracking_uri, which exports it) leaves in os.environ is undone afterwards."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "unset")  # records the original state for teardown
    monkeypatch.delenv("MLFLOW_TRACKING_URI")

"""Fixtures for lineage tests: one built copy of the repository's example project per session
(the full build takes 30-90 s), in a real git repo with the embedded MLflow store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODEL = "nbgov-example-classifier"
EXAMPLE_FILES = (
    "notebooks",
    "data",
    "pipeline.yaml",
    "env.yaml",
    "nbgov.toml",
    "environment.yml",
    ".gitignore",
)


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

    from nbgov.services.lineage import PAYLOAD_SCHEMA_FILE

    proc = nbgov(root, "lineage", target, "--json", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    payload = json.loads(proc.stdout)
    # every answer the tests see matches the published schema of the API payload
    jsonschema.validate(payload, json.loads(PAYLOAD_SCHEMA_FILE.read_text()))
    return payload


@pytest.fixture(scope="session")
def example(tmp_path_factory) -> Path:
    """The example project, built once with ``nbgov build`` (register task included)."""
    root = tmp_path_factory.mktemp("lineage") / "example"
    root.mkdir()
    for name in EXAMPLE_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, root / name)
        elif src.exists():
            shutil.copy(src, root / name)
    git = ["git", "-C", str(root)]
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    subprocess.run(
        [*git, "-c", "user.name=Ada", "-c", "user.email=ada@example.com", "add", "-A"], check=True
    )
    subprocess.run(
        [
            *git,
            "-c",
            "user.name=Ada",
            "-c",
            "user.email=ada@example.com",
            "-c",
            "commit.gpgsign=false",
            "commit",
            "-qm",
            "example",
        ],
        check=True,
    )
    proc = nbgov(root, "build", "--json", "-q")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return root


@pytest.fixture(scope="session")
def store(example: Path) -> str:
    """The example's embedded tracking URI."""
    return f"sqlite:///{example / 'mlflow.db'}"

"""Fixtures for engine exports: the example project in a git repo, and the engines' own venvs
(Airflow and KFP live in separate venvs: they must not change nbgov's dev environment)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: Airflow 3.3.2 in its own venv (.ci/run creates it; so does `make airflow-venv`)
AIRFLOW_VENV = Path(os.environ.get("NBGOV_AIRFLOW_VENV", REPO / ".venv-airflow"))
#: the KFP SDK in its own venv (kfp downgrades protobuf)
KFP_VENV = Path(os.environ.get("NBGOV_KFP_VENV", REPO / ".venv-kfp"))


def venv_python(venv: Path, what: str) -> Path:
    python = venv / "bin/python"
    if not python.exists():
        pytest.skip(f"{what} venv missing at {venv} (created by .ci/run)")
    return python


@pytest.fixture
def example(git_repo: Path) -> Path:
    """The repository's example project in a fresh git repo."""
    from tests.build.conftest import copy_example

    return copy_example(git_repo)


def nbgov_env(extra: dict | None = None) -> dict:
    """The environment of a worker: nbgov on PATH (this venv), no inherited tracking URI."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra or {})
    return env


def run(argv: list, cwd: Path, env: dict, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)

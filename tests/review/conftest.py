"""Fixtures of the review area: a project in a real git repository, and a CLI runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).parent / "notebooks"
BOB = "Bob Reviewer <bob@example.com>"


def run_git(root: Path, *args: str) -> str:
    """Run git in ``root`` and return its stdout."""
    return subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def project(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A committed project (nbgov.toml + notebooks/train.ipynb) authored by Ada; cwd is its root."""
    (git_repo / "nbgov.toml").write_text('experiment = "review-tests"\n')
    (git_repo / "notebooks").mkdir()
    shutil.copy(NOTEBOOKS / "train.ipynb", git_repo / "notebooks" / "train.ipynb")
    run_git(git_repo, "add", ".")
    run_git(git_repo, "commit", "-q", "-m", "add train notebook")
    monkeypatch.chdir(git_repo)
    monkeypatch.delenv("NBGOV_REVIEWER", raising=False)
    monkeypatch.delenv("NBGOV_ENV", raising=False)
    return git_repo


@dataclass
class Run:
    """What a ``nbgov`` process did."""

    code: int
    out: str
    err: str


@pytest.fixture
def nbgov(project: Path):
    """Run the real ``nbgov`` command (``python -m nbgov ARGS...``) in the project."""

    def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Run:
        proc = subprocess.run(
            [sys.executable, "-m", "nbgov", *args],
            cwd=cwd or project,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **(env or {})},
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def git(project: Path):
    """``git(*args)`` in the project; returns stdout."""
    return lambda *args: run_git(project, *args)


@pytest.fixture
def fixture_nb():
    """Path of a fixture notebook under tests/review/notebooks by file name."""
    return lambda name: NOTEBOOKS / name


@pytest.fixture
def bob() -> str:
    """A reviewer who is not the author of the project's commits."""
    return BOB


@pytest.fixture
def git_as_bob(project: Path):
    """``git_as_bob(*args)``: git in the project with Bob as the author (e.g. to commit)."""
    return lambda *args: run_git(
        project, "-c", "user.name=Bob Reviewer", "-c", "user.email=bob@example.com", *args
    )

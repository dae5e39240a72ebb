"""Fixtures of the check area: throw-away projects built from the real fixture notebooks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
NBGOV = [sys.executable, "-m", "nbgov"]


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """Build a project: ``make_project("a--b.ipynb", config="...", pipeline="...")``.

    The notebooks are copied into ``notebooks/``; ``config`` is written to nbgov.toml and
    ``pipeline`` (when given) to pipeline.yaml. Returns the project root.
    """

    def make(*names: str, config: str = "", pipeline: str | None = None) -> Path:
        root = tmp_path / "proj"
        (root / "notebooks").mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copy(FIXTURES / name, root / "notebooks" / name)
        (root / "nbgov.toml").write_text(config)
        if pipeline is not None:
            (root / "pipeline.yaml").write_text(pipeline)
        return root

    return make


def _task_spec(*names: str) -> str:
    lines = ["tasks:"]
    for name in names:
        stem = name.removesuffix(".ipynb")
        lines += [
            f"  - source: notebooks/{name}",
            "    product:",
            f"      nb: products/{stem}.ipynb",
        ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def task_spec() -> Callable[..., str]:
    """``task_spec("a.ipynb", ...)``: a pipeline.yaml with one notebook task (and product) each."""
    return _task_spec


@pytest.fixture
def run_cli() -> Callable[..., subprocess.CompletedProcess]:
    """Run the real ``nbgov`` CLI in a subprocess: ``run_cli(root, "check", ...)``."""

    def run(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        full_env = {**os.environ, **(env or {})}
        return subprocess.run(
            [*NBGOV, *args], cwd=cwd, capture_output=True, text=True, env=full_env, timeout=120
        )

    return run

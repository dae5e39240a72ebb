"""Small real Ploomber projects for the build plan and the fast paths: py:percent scripts, a
grid with ``[[...]]`` names, ``{{env}}`` in product paths, function tasks. Each is written to a
temp folder and run with the real ``nbgov`` / ``ploomber`` command lines."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# pytest-jupyter's fixtures and hooks (async tests against a real Jupyter server), for this
# folder only, as tests/server does
from pytest_jupyter.jupyter_server import *  # noqa: E402,F403

SCRIPT_LOAD = """\
# %% tags=["parameters"]
upstream = None
product = None
n = 3

# %%
from pathlib import Path

Path(product["data"]).write_text("\\n".join(str(i) for i in range(n)))
"""

SCRIPT_FIT = """\
# %% tags=["parameters"]
upstream = ["load"]
product = None
alpha = 0.1

# %%
from pathlib import Path

rows = Path(upstream["load"]["data"]).read_text().split()
Path(product["data"]).write_text(str(len(rows) * alpha))
"""

SCRIPTS_SPEC = """\
tasks:
  - source: scripts/load.py
    name: load
    product:
      nb: products/{{stage}}/load.ipynb
      data: products/{{stage}}/load.csv
    params:
      n: 4
  - source: scripts/fit.py
    name: fit-[[alpha]]
    product:
      nb: products/fit-[[alpha]].ipynb
      data: products/fit-[[alpha]].txt
    grid:
      alpha: [0.1, 0.5]
"""

FUNCTIONS_PY = """\
from pathlib import Path


def get(product, n):
    Path(str(product)).write_text("\\n".join(str(i) for i in range(n)))


def double(product, upstream):
    rows = Path(str(upstream["get"])).read_text().split()
    Path(str(product)).write_text("\\n".join(str(2 * int(r)) for r in rows))
"""

FUNCTIONS_SPEC = """\
tasks:
  - source: tasks.raw.get
    product: products/raw.csv
    params:
      n: 5
  - source: tasks.raw.double
    product: products/double.csv
"""


def make_scripts(root: Path) -> Path:
    """Two py:percent script tasks: ``load`` (products under ``{{stage}}`` from env.yaml) and a
    grid ``fit-[[alpha]]`` of two generated tasks."""
    (root / "scripts").mkdir(parents=True)
    (root / "scripts/load.py").write_text(SCRIPT_LOAD)
    (root / "scripts/fit.py").write_text(SCRIPT_FIT)
    (root / "pipeline.yaml").write_text(SCRIPTS_SPEC)
    (root / "env.yaml").write_text("stage: dev\n")
    (root / "nbgov.toml").write_text('experiment = "plan-scripts"\n')
    return root


def make_functions(root: Path) -> Path:
    """Two function tasks (``source: tasks.raw.get``) in one module."""
    (root / "tasks").mkdir(parents=True)
    (root / "tasks/__init__.py").write_text("")
    (root / "tasks/raw.py").write_text(FUNCTIONS_PY)
    (root / "pipeline.yaml").write_text(FUNCTIONS_SPEC)
    (root / "nbgov.toml").write_text('experiment = "plan-functions"\n')
    return root


def run(root: Path, *args: str, tool: str = "nbgov", timeout: float = 600,
        env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real ``nbgov`` (or ``ploomber``) command line in ``root``."""
    full = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    # the project's own modules (function tasks) importable, as `ploomber build` finds them
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    full.update({"PLOOMBER_STATS_ENABLED": "false", "PYTHONPATH": path, **(env or {})})
    if tool == "nbgov":
        cmd = [sys.executable, "-m", "nbgov", *args]
    else:
        cmd = [str(Path(sys.executable).parent / "ploomber"), *args]
    return subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=full,
                          timeout=timeout)


def git_init(root: Path) -> None:
    """Make ``root`` a git repository with everything committed."""
    for args in (["init", "-q", "-b", "main"], ["config", "user.name", "T"],
                 ["config", "user.email", "t@example.com"], ["config", "commit.gpgsign", "false"],
                 ["add", "-A"], ["commit", "-qm", "init"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def built_scripts(tmp_path_factory) -> Path:
    """The scripts project, built once with the real ``nbgov build``."""
    root = make_scripts(tmp_path_factory.mktemp("scripts") / "project")
    proc = run(root, "build", "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root


@pytest.fixture
def scripts(built_scripts: Path, tmp_path: Path) -> Path:
    """A fresh copy of the built scripts project (tests may change it)."""
    copy = tmp_path / "project"
    shutil.copytree(built_scripts, copy)
    # the plan names its root: a copy is another project until it renders again
    from nbgov.core.config import load_config
    from nbgov.services.pipeline.plan import plan_path

    plan = plan_path(load_config(copy))
    if plan.is_file():
        plan.write_text(plan.read_text().replace(str(built_scripts), str(copy)))
    return copy


def dedent(text: str) -> str:
    """``textwrap.dedent`` (kept here so tests read like the specs they write)."""
    return textwrap.dedent(text)

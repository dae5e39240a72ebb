"""Fixtures of the server tests: a real Jupyter server (pytest-jupyter) with nbgov.server
enabled, serving a real git repository that holds a small nbgov project."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

# pytest-jupyter's fixtures and hooks, for this folder only. `pytest_plugins` would do the same
# from the root conftest; pytest refuses it in a sub-folder's conftest.
from pytest_jupyter.jupyter_server import *  # noqa: E402,F403

FIXTURES = Path(__file__).parent / "fixtures"

PIPELINE = """\
meta:
  extract_upstream: true
  extract_product: false
tasks:
  - source: notebooks/load.ipynb
    product:
      nb: products/load.ipynb
      data: products/data.csv
    params:
      seed: 3
  - source: notebooks/train.ipynb
    product:
      nb: products/train.ipynb
"""

NBGOV_TOML = 'pipeline = "pipeline.yaml"\nexperiment = "server-tests"\n'


def commit_all(root: Path, message: str) -> None:
    """Stage and commit everything in ``root`` (a test repository)."""
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), "commit", "-q", "-m", message], check=True)


def build_project(root: Path) -> Path:
    """Write the two-task project (fixture notebooks + pipeline.yaml + nbgov.toml) into ``root``."""
    (root / "notebooks").mkdir(parents=True, exist_ok=True)
    for name in ("load.ipynb", "train.ipynb"):
        shutil.copy(FIXTURES / name, root / "notebooks" / name)
    (root / "pipeline.yaml").write_text(PIPELINE)
    (root / "nbgov.toml").write_text(NBGOV_TOML)
    (root / ".gitignore").write_text("products/\nmlflow.db\nmlruns/\n")
    return root


def generated_project(root: Path, n_tasks: int) -> Path:
    """A chain of ``n_tasks`` notebook tasks (each reading its predecessor), for latency runs."""
    template = json.loads((FIXTURES / "train.ipynb").read_text())
    lines = ["meta:", "  extract_upstream: true", "  extract_product: false", "tasks:"]
    (root / "notebooks").mkdir(parents=True, exist_ok=True)
    for i in range(n_tasks):
        nb = json.loads(json.dumps(template))
        upstream = f"['t{i - 1:03d}']" if i else "None"
        nb["cells"][0]["source"] = f"upstream = {upstream}\nproduct = None\nC = {i}"
        (root / "notebooks" / f"t{i:03d}.ipynb").write_text(json.dumps(nb, indent=1))
        lines += [f"  - source: notebooks/t{i:03d}.ipynb", "    product:",
                  f"      nb: products/t{i:03d}.ipynb"]
    (root / "pipeline.yaml").write_text("\n".join(lines) + "\n")
    (root / "nbgov.toml").write_text(NBGOV_TOML)
    return root


@pytest.fixture
def jp_root_dir(git_repo: Path) -> Path:
    """The Jupyter server root: a git repository holding the two-task project, committed."""
    build_project(git_repo)
    commit_all(git_repo, "project")
    return git_repo


@pytest.fixture
def jp_server_config():
    """nbgov.server on; Ploomber's own extensions off (tests enable them on purpose)."""
    return {"ServerApp": {"jpserver_extensions": {
        "nbgov.server": True, "ploomber": False, "ploomber_extension": False,
        "jupyter_server_terminals": False}}}


@pytest.fixture
def api(jp_fetch):
    """Call ``nbgov/api/<route>`` with the test token; returns (status, JSON body), never raises
    for an HTTP error status. Patient: a route's first call may import MLflow and walk a lineage
    in the store, which took over 20 s (tornado's default timeout) on a loaded 2-core machine."""
    from tornado.httpclient import HTTPClientError

    async def call(route: str, method: str = "GET", params: dict | None = None,
                   body: dict | None = None, headers: dict | None = None):
        kwargs = {"method": method, "params": params, "headers": headers, "request_timeout": 120}
        if method in ("POST", "PUT", "PATCH"):
            kwargs["body"] = json.dumps(body if body is not None else {})
        try:
            response = await jp_fetch("nbgov", "api", route, **kwargs)
        except HTTPClientError as exc:
            response = exc.response
            assert response is not None, exc
        return response.code, json.loads(response.body or b"null")

    return call

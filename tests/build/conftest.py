"""Fixtures for build tests: a tiny real project (fast kernels, no heavy imports) in a git repo,
and helpers to run the real CLI and read the MLflow store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# A scrap written exactly as scrapbook's sb.glue writes it, without importing scrapbook in the
# kernel (1.9 s per task); the example project's e2e test covers real sb.glue.
GLUE = '''from IPython.display import display
def glue(name, value):
    display({"application/scrapbook.scrap.json+json": {"name": name, "data": value, "encoder": "json", "version": 1}},
            metadata={"scrapbook": {"name": name, "data": True, "display": False}}, raw=True)'''

KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
          "language_info": {"name": "python"}}


def notebook(params: str, *cells: str) -> dict:
    """A real nbformat 4.5 notebook: a parameters cell, then code cells."""
    out = [{"cell_type": "code", "id": "p0", "metadata": {"tags": ["parameters"]}, "source": params,
            "outputs": [], "execution_count": None}]
    for i, src in enumerate(cells):
        out.append({"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": src, "outputs": [],
                    "execution_count": None})
    return {"cells": out, "metadata": KERNEL, "nbformat": 4, "nbformat_minor": 5}


def write_nb(path: Path, nb: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1))


TINY_SPEC = """
meta:
  extract_upstream: true
  extract_product: false
on_render: nbgov.hooks.on_render
on_finish: nbgov.hooks.on_finish
on_failure: nbgov.hooks.on_failure
tasks:
  - source: notebooks/a.ipynb
    product: {nb: products/a.ipynb, data: products/a.txt}
    params: {x: 1, api_token: "{{token}}"}
  - source: notebooks/b.ipynb
    product: {nb: products/b.ipynb, data: products/b.txt}
  - source: notebooks/c.ipynb
    product: {nb: products/c.ipynb, data: products/c.txt}
"""


def make_tiny(root: Path) -> Path:
    """a -> b, and c independent. Each writes its product and glues numbers."""
    write_nb(root / "notebooks/a.ipynb", notebook(
        "upstream = None\nproduct = None\nx = 0\napi_token = ''",
        GLUE,
        "from pathlib import Path\nPath(product['data']).parent.mkdir(parents=True, exist_ok=True)\n"
        "Path(product['data']).write_text(str(x * 10))",
        "glue('value', x * 10)\nglue('label', 'ten')\nglue('shape', [1, 2])"))
    write_nb(root / "notebooks/b.ipynb", notebook(
        "upstream = ['a']\nproduct = None",
        GLUE,
        "from pathlib import Path\nv = int(Path(upstream['a']['data']).read_text())\n"
        "Path(product['data']).write_text(str(v + 1))",
        "glue('b_value', v + 1)"))
    write_nb(root / "notebooks/c.ipynb", notebook(
        "upstream = None\nproduct = None",
        "from pathlib import Path\nPath(product['data']).write_text('c')"))
    (root / "pipeline.yaml").write_text(TINY_SPEC)
    (root / "env.yaml").write_text("token: s3cr3t-value\n")
    (root / "nbgov.toml").write_text('experiment = "tiny"\n[execution]\ncell_timeout = 20\n')
    (root / ".gitignore").write_text("products/\nmlflow.db\nmlruns/\n")
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), "commit", "-qm", "tiny project"], check=True)
    return root


@pytest.fixture
def tiny(git_repo: Path) -> Path:
    """A fresh tiny project in a git repo."""
    return make_tiny(git_repo)


def run_cli(root: Path, *args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real ``nbgov`` CLI in ``root``."""
    full_env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    full_env.update({"PLOOMBER_STATS_ENABLED": "false", **(env or {})})
    return subprocess.run([sys.executable, "-m", "nbgov", *args], cwd=root, capture_output=True, text=True,
                          env=full_env, timeout=timeout)


def mlflow_runs(uri: str, experiment: str) -> list:
    """All runs of an experiment, oldest first."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    return list(reversed(client.search_runs([exp.experiment_id], max_results=500)))


def copy_example(dest: Path) -> Path:
    """The repository's example project (notebooks, pipeline, config) in ``dest``, a git repo,
    committed, not built (for tests that build it their own way)."""
    from tests.conftest import copy_example_files

    copy_example_files(dest)
    subprocess.run(["git", "-C", str(dest), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(dest), "commit", "-qm", "example"], check=True)
    return dest

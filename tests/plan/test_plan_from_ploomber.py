"""Coming from Ploomber: a project built by a plain ``ploomber build`` (products and Ploomber's
metadata, no nbgov store or records). nbgov says to record the products with
``nbgov build --force`` instead of complaining about a missing tracking store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import make_scripts, run

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ploomber_built(tmp_path_factory) -> Path:
    root = make_scripts(tmp_path_factory.mktemp("adopt") / "project")
    proc = run(root, "build", tool="ploomber")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (root / "products/dev/load.csv").is_file()
    assert not (root / "mlflow.db").exists()
    return root


def test_status_says_to_record_with_force(ploomber_built: Path):
    proc = run(ploomber_built, "status")
    assert proc.returncode == 0, proc.stderr
    assert "nbgov build --force" in proc.stderr
    assert "load, fit-0.1, fit-0.5" in proc.stderr
    state = json.loads(run(ploomber_built, "status", "--json").stdout)
    assert any("nbgov build --force" in h for h in state["hints"])
    assert all(t["last_run"] is None for t in state["tasks"])


@pytest.mark.parametrize("target", ["fit-0.1", "products/dev/load.csv"])
def test_lineage_says_to_record_with_force(ploomber_built: Path, target: str):
    proc = run(ploomber_built, "lineage", target)
    assert proc.returncode == 2
    assert "nbgov build --force" in proc.stderr
    assert "MLFLOW_TRACKING_URI" not in proc.stderr and "does not exist" not in proc.stderr
    assert not (ploomber_built / "mlflow.db").exists()  # a query creates no store


def test_a_plain_build_records_them(ploomber_built: Path, tmp_path: Path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(ploomber_built, root)
    # products without an nbgov record are never up to date on Ploomber's word (a run nbgov
    # cannot vouch for): a plain build runs them again, recorded; --force does the same
    proc = run(root, "build", "-q", "--json")
    assert proc.returncode == 0, proc.stderr
    assert {t["outcome"] for t in json.loads(proc.stdout)["tasks"]} == {"ran"}
    proc = run(root, "build", "-q", "--json")
    assert {t["outcome"] for t in json.loads(proc.stdout)["tasks"]} == {"skipped"}
    proc = run(root, "lineage", "fit-0.1", "--json")
    assert proc.returncode == 0, proc.stderr
    proc = run(root, "status")
    assert "nbgov build --force" not in proc.stderr

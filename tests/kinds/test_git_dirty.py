"""git_dirty tells the truth: untracked files and what builds write are not changes to the code;
a modified or staged tracked file is."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from nbgov.adapters.environment import git_state

pytestmark = pytest.mark.integration


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


@pytest.fixture
def checkout(git_repo: Path) -> Path:
    (git_repo / "notebooks").mkdir()
    (git_repo / "notebooks/train.py").write_text("x = 1\n")
    (git_repo / "pipeline.yaml").write_text("tasks: []\n")
    # a project that commits one product and a lineage record (it happens): builds rewrite them
    (git_repo / "products").mkdir()
    (git_repo / "products/report.html").write_text("<p>old</p>")
    (git_repo / "products/train.lineage.json").write_text("{}")
    _git(git_repo, "add", "-A")
    _git(git_repo, "commit", "-qm", "project")
    return git_repo


def test_a_fresh_checkout_is_clean(checkout):
    state = git_state(checkout)
    assert state["dirty"] is False and state["branch"] == "main" and len(state["commit"]) == 40


def test_untracked_files_and_nbgovs_own_store_are_not_dirty(checkout):
    for rel in ("mlflow.db", "mlruns/0/meta.yaml", ".nbgov/journal/build.jsonl", ".nbgov/cache/plan.json",
                ".nbgov/lineage/make.lineage.json", "products/new.csv", "scratch.txt", "notebooks/new.ipynb"):
        path = checkout / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    # a build rewrites tracked products and records: still the same code
    (checkout / "products/report.html").write_text("<p>new</p>")
    (checkout / "products/train.lineage.json").write_text('{"run": 2}')
    assert git_state(checkout)["dirty"] is False


def test_a_modified_tracked_file_is_dirty(checkout):
    (checkout / "notebooks/train.py").write_text("x = 2\n")
    assert git_state(checkout)["dirty"] is True


def test_a_staged_change_is_dirty(checkout):
    (checkout / "notebooks/train.py").write_text("x = 3\n")
    _git(checkout, "add", "notebooks/train.py")
    assert git_state(checkout)["dirty"] is True


def test_a_deleted_tracked_file_is_dirty(checkout):
    (checkout / "pipeline.yaml").unlink()
    assert git_state(checkout)["dirty"] is True


def test_extra_outputs_can_be_excluded(checkout):
    (checkout / "notebooks/train.py").write_text("x = 4\n")
    assert git_state(checkout, outputs=["notebooks/train.py"])["dirty"] is False


def test_outside_git(tmp_path):
    assert git_state(tmp_path) == {"commit": None, "dirty": None, "branch": None}

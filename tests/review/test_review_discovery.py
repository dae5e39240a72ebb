"""Which notebooks `review status` and `review gate` look at (``discover_notebooks``), in
process: a notebook the gate does not find is a notebook it lets through unreviewed."""

from __future__ import annotations

import pytest

from nbgov.core.config import load_config
from nbgov.core.errors import NotebookError
from nbgov.services.review.discovery import discover_notebooks
from nbgov.services.review.state import record_decision

PERCENT = "# %%\nx = 1\n"


def write(root, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def tree(project, git):
    write(project, "notebooks/percent.py", PERCENT)
    write(project, "notebooks/later.py", '"""doc"""\nimport os\n\n# %% [markdown]\n# text\n')
    write(project, "notebooks/jt.py", "# ---\n# jupyter:\n#   jupytext:\n#     formats: py:percent\n# ---\nx = 1\n")
    write(project, "notebooks/plain.py", "import os\nprint('# %% not at a line start')\n")
    write(project, "notebooks/data.csv", "a\n1\n")
    write(project, ".hidden/h.ipynb", "{}")
    write(project, "notebooks/.ipynb_checkpoints/train-checkpoint.ipynb", "{}")
    write(project, "ignored/i.ipynb", "{}")
    write(project, ".gitignore", "ignored/\n")
    git("add", "notebooks/percent.py", ".gitignore")
    git("commit", "-qm", "percent")
    write(project, "notebooks/untracked.ipynb", (project / "notebooks/train.ipynb").read_text())
    return project


EXPECTED = ["notebooks/jt.py", "notebooks/later.py", "notebooks/percent.py", "notebooks/train.ipynb",
            "notebooks/untracked.ipynb"]


def test_git_project_finds_tracked_and_untracked_notebooks_only(tree):
    config = load_config(tree)
    assert discover_notebooks(config) == EXPECTED
    assert discover_notebooks(config, ["notebooks"]) == EXPECTED
    # a file is taken as given, whatever it holds
    assert discover_notebooks(config, ["notebooks/plain.py", "notebooks/train.ipynb"]) == [
        "notebooks/plain.py", "notebooks/train.ipynb"]
    with pytest.raises(NotebookError) as err:
        discover_notebooks(config, ["notebooks/none.ipynb"])
    assert err.value.message == "notebook not found" and str(err.value.where) == "notebooks/none.ipynb"


def test_outside_git_every_file_is_walked_but_hidden_and_tool_folders(tree):
    import shutil

    shutil.rmtree(tree / ".git")
    write(tree, "node_modules/pkg/n.ipynb", "{}")
    write(tree, "venv/lib/n.ipynb", "{}")
    write(tree, "__pycache__/n.ipynb", "{}")
    config = load_config(tree)
    assert discover_notebooks(config) == sorted([*EXPECTED, "ignored/i.ipynb"])


def test_review_paths_restrict_and_the_ledger_adds_reviewed_notebooks(tree, bob):
    config = load_config(tree)
    record_decision(config, "notebooks/percent.py", "approved", "", bob)
    write(tree, "ignored/o.ipynb", (tree / "notebooks/train.ipynb").read_text())
    record_decision(load_config(tree), "ignored/o.ipynb", "comment", "", bob)
    # by default: the project, and what the ledger names (still on disk), even in an ignored folder
    assert "ignored/o.ipynb" in discover_notebooks(load_config(tree))
    (tree / "nbgov.toml").write_text('[review]\npaths = ["notebooks"]\n')
    # [review] paths: only there, the ledger adds nothing
    assert discover_notebooks(load_config(tree)) == EXPECTED
    (tree / "ignored/o.ipynb").unlink()
    (tree / "nbgov.toml").write_text("")
    assert "ignored/o.ipynb" not in discover_notebooks(load_config(tree))

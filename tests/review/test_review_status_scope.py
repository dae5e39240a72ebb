"""Which notebooks ``nbgov review status`` and ``gate`` look at, and where the ledger lives."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from nbgov.core import ledger as core_ledger
from nbgov.core.config import load_config
from nbgov.services.review.discovery import discover_notebooks

pytestmark = pytest.mark.integration


@pytest.fixture
def spread(project, fixture_nb):
    """notebooks/train.ipynb (committed), plus: a py:percent notebook, a plain script, a notebook
    in a hidden folder, an ignored product, and a folder outside [review] paths."""
    (project / "scratch").mkdir()
    shutil.copy(fixture_nb("train.ipynb"), project / "scratch" / "try.ipynb")
    shutil.copy(fixture_nb("train.py"), project / "notebooks" / "twin.py")
    (project / "notebooks" / "helpers.py").write_text("def f():\n    return 1\n")
    (project / ".ipynb_checkpoints").mkdir()
    shutil.copy(
        fixture_nb("train.ipynb"), project / ".ipynb_checkpoints" / "train-checkpoint.ipynb"
    )
    (project / "products").mkdir()
    shutil.copy(fixture_nb("train--executed.ipynb"), project / "products" / "train.ipynb")
    (project / ".gitignore").write_text("products/\n")
    return project


def test_default_scope_is_the_project_as_git_sees_it(spread):
    assert discover_notebooks(load_config(spread)) == [
        "notebooks/train.ipynb",
        "notebooks/twin.py",
        "scratch/try.ipynb",
    ]
    assert discover_notebooks(load_config(spread), [spread / "notebooks"]) == [
        "notebooks/train.ipynb",
        "notebooks/twin.py",
    ]


def test_review_paths_config_narrows_the_default(spread, nbgov):
    (spread / "nbgov.toml").write_text('[review]\npaths = ["notebooks"]\n')
    table = nbgov("review", "status")
    assert table.code == 0 and "scratch" not in table.out and "twin.py" in table.out
    gate = nbgov("review", "gate")
    assert gate.code == 1
    assert gate.err.count(": unreviewed") == 2
    (spread / "nbgov.toml").write_text("[review]\npaths = [1]\n")
    bad = nbgov("review", "status")
    assert bad.code == 2 and "[review] paths must be a list of paths" in bad.err
    assert "Traceback" not in bad.err


def test_one_broken_notebook_does_not_hide_the_others(spread, nbgov):
    (spread / "scratch" / "broken.ipynb").write_text("{not json")
    result = nbgov("review", "status", "--json")
    assert result.code == 2
    assert [s["path"] for s in json.loads(result.out)] == [
        "notebooks/train.ipynb",
        "notebooks/twin.py",
        "scratch/try.ipynb",
    ]
    assert "broken.ipynb" in result.err and "not valid JSON" in result.err
    missing = nbgov("review", "status", "nowhere")
    assert missing.code == 2 and "not found" in missing.err


def test_custom_ledger_location_and_schema_of_written_records(project, nbgov, bob):
    (project / "nbgov.toml").write_text(
        '[review]\nledger = "governance/reviews.jsonl"\nsnapshots = "governance/approved"\n'
    )
    assert nbgov("review", "approve", "notebooks/train.ipynb", "--reviewer", bob).code == 0
    assert nbgov("review", "comment", "notebooks/train.ipynb", "-m", "ünïcode ✓").code == 0
    ledger = project / "governance" / "reviews.jsonl"
    assert not (project / ".nbgov").exists()
    assert len(list((project / "governance" / "approved").glob("*.ipynb"))) == 1
    schema_path = Path(core_ledger.__file__).parent / "schemas" / "review-record.v1.json"
    schema = json.loads(schema_path.read_text())
    for line in ledger.read_text(encoding="utf-8").splitlines():
        jsonschema.validate(json.loads(line), schema)
    assert nbgov("ledger", "verify").code == 0

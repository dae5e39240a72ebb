"""Bad input: binary, empty, damaged, huge and unknown-version notebooks are findings for that
file, and the run goes on with the others."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import jsonschema
import nbformat
import pytest

from nbgov.core.checks.validate import parse_notebook
from nbgov.services.check.engine import run_check

FIXTURES = Path(__file__).parent / "fixtures"
INVALID = sorted(p.name for p in FIXTURES.glob("invalid--*.ipynb"))


def test_each_bad_file_is_one_finding_and_the_run_goes_on(make_project):
    root = make_project(*INVALID, "clean--task.ipynb", "secrets--source.ipynb")
    report = run_check(root=root, plugins=False, select=["NBG001", "NBG501"])
    assert report.files == len(INVALID) + 2
    bad = {f.path.rsplit("/", 1)[-1] for f in report.findings if f.rule == "NBG001"}
    assert bad == set(INVALID)
    # the files after the bad ones were still checked
    assert any(f.rule == "NBG501" for f in report.findings)
    assert report.exit_code == 1 and report.errors == []


@pytest.mark.parametrize(
    ("name", "cell", "text"),
    [
        ("invalid--binary.ipynb", None, "binary file"),
        ("invalid--empty.ipynb", None, "empty file"),
        ("invalid--json.ipynb", 1, "not valid JSON"),
        ("invalid--nbformat3.ipynb", None, "unknown nbformat version 3"),
        ("invalid--nbformat5.ipynb", None, "unknown nbformat version 5"),
        ("invalid--structure.ipynb", 1, "unknown cell_type 'sql'"),
        ("invalid--no-ids.ipynb", 0, "no 'id'"),
    ],
)
def test_message_points_at_the_cell(make_project, name, cell, text):
    root = make_project(name)
    report = run_check(root=root, plugins=False)
    first = report.findings[0]
    assert (first.rule, first.cell) == ("NBG001", cell)
    assert text in first.message
    assert "{" not in first.message  # a message, not a JSON dump


def test_soft_problems_do_not_stop_the_other_rules(make_project):
    # a 4.5 notebook without cell ids is still read: its other problems are reported too
    root = make_project("invalid--no-ids.ipynb")
    path = root / "notebooks" / "invalid--no-ids.ipynb"
    nb = json.loads(path.read_text())
    nb["cells"][2]["source"] = "open('/home/ada/x.csv')"
    path.write_text(json.dumps(nb))
    report = run_check(root=root, plugins=False)
    assert {f.rule for f in report.findings} == {"NBG001", "NBG401"}


def _nbformat_valid(path: Path) -> bool:
    try:
        nb = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError):
        return False
    if not isinstance(nb, dict) or nb.get("nbformat") != 4:
        return False
    minor = nb.get("nbformat_minor", 0)
    schema_file = Path(nbformat.__file__).parent / "v4" / f"nbformat.v4.{minor}.schema.json"
    schema = json.loads(schema_file.read_text())
    # the schema itself, with jsonschema: nbformat.validate would also repair the notebook
    return jsonschema.validators.validator_for(schema)(schema).is_valid(nb)


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.ipynb")))
def test_structure_check_agrees_with_nbformat_schema(name):
    path = FIXTURES / name
    nb, problems = parse_notebook(path.read_bytes())
    assert (nb is not None and not problems) == _nbformat_valid(path)


def test_huge_notebook_is_checked(make_project):
    root = make_project()
    cells = [
        {
            "cell_type": "code",
            "id": f"c{i}",
            "metadata": {},
            "source": f"x{i} = {i}",
            "execution_count": i + 1,
            "outputs": [{"output_type": "stream", "name": "stdout", "text": "y" * 20_000}],
        }
        for i in range(1500)
    ]
    cells[1200]["outputs"][0]["text"] += "\npassword: https://etl:Xk29vLq0pw@warehouse/dw\n"
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    }
    path = root / "notebooks" / "huge.ipynb"
    path.write_text(json.dumps(nb))
    assert path.stat().st_size > 30_000_000
    report = run_check(root=root, plugins=False)
    assert sum(f.rule == "NBG201" for f in report.findings) == 1500
    assert [(f.rule, f.cell) for f in report.findings if f.rule == "NBG502"] == [("NBG502", 1200)]


def test_a_named_file_that_is_not_ipynb_is_skipped_with_a_note(make_project):
    root = make_project("clean--task.ipynb")
    other = root / "notes.txt"
    other.write_text("just text")
    report = run_check([root / "notebooks" / "clean--task.ipynb", other], root=root, plugins=False)
    assert report.findings == [] and report.files == 1
    assert report.notes == [f"{other}: skipped, not a .ipynb notebook"]


def test_a_binary_file_named_ipynb_is_a_finding(make_project):
    root = make_project("clean--task.ipynb")
    (root / "notebooks" / "picture.ipynb").write_bytes(bytes(range(256)) * 4)
    report = run_check(root=root, plugins=False)
    assert [(f.rule, f.path) for f in report.findings] == [("NBG001", "notebooks/picture.ipynb")]


def test_nbformat_reads_what_the_fixtures_claim():
    # guard the fixtures themselves: the clean ones are valid notebooks for nbformat too
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ("clean--task.ipynb", "secrets--source.ipynb", "outputs--committed.ipynb"):
            nbformat.validate(nbformat.read(FIXTURES / name, as_version=4))

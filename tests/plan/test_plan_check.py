"""``nbgov check`` on a project of every task kind: scripts and function modules are checked,
products never are, and a notebook that is not a task gets hygiene rules only (unless
``[check] non-task-rules`` says otherwise). Real files, the real CLI for the end-to-end case."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nbgov.services.check.engine import run_check

from .conftest import SCRIPT_LOAD, run

FIXTURES = Path(__file__).parents[1] / "check" / "fixtures"

INJECTED = """\
# %% tags=["parameters"]
upstream = None
product = None

# %% tags=["injected-parameters"]
# Parameters
product = {"nb": "/Users/ada/project/products/load.ipynb"}

# %%
print(product)
"""

SPEC = """\
tasks:
  - source: scripts/load.py
    product:
      nb: output/load.ipynb
      data: output/load.csv
  - source: tasks.raw.get
    product: output/raw.csv
"""


def _project(root: Path) -> Path:
    (root / "scripts").mkdir(parents=True)
    (root / "scripts/load.py").write_text(INJECTED)
    (root / "tasks").mkdir()
    (root / "tasks/__init__.py").write_text("")
    (root / "tasks/raw.py").write_text(
        "def get(product):\n    open('/home/ada/raw.csv')  # a personal path\n")
    (root / "pipeline.yaml").write_text(SPEC)
    (root / "nbgov.toml").write_text('experiment = "check"\n')
    # a product outside products/ that breaks every rule: never checked
    (root / "output").mkdir()
    shutil.copy(FIXTURES / "secrets--source.ipynb", root / "output/load.ipynb")
    # a notebook that is not a task: committed outputs, no kernelspec
    readme = json.loads((FIXTURES / "outputs--committed.ipynb").read_text())
    readme["metadata"].pop("kernelspec", None)
    (root / "README.ipynb").write_text(json.dumps(readme))
    return root


def _where(report, path: str) -> list[tuple[str, int | None]]:
    return sorted((f.rule, f.line) for f in report.findings if f.path == path)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return _project(tmp_path / "p")


def test_a_committed_injected_cell_in_a_script_is_reported_at_its_line(project: Path):
    report = run_check(root=project, plugins=False)
    # only the path: a .py carries no kernelspec, and its cells parse as a notebook's
    assert _where(report, "scripts/load.py") == [("NBG401", 7)]


def test_a_function_module_is_checked_as_code(project: Path):
    report = run_check(root=project, plugins=False)
    assert _where(report, "tasks/raw.py") == [("NBG401", 2)]


def test_products_are_never_sources(project: Path):
    report = run_check(root=project, plugins=False)
    assert not [f for f in report.findings if f.path.startswith("output/")]
    named = run_check([project / "output/load.ipynb"], root=project, plugins=False)
    assert named.files == 0 and named.notes == [
        f"{project / 'output/load.ipynb'}: skipped, a product of the pipeline"]


def test_a_notebook_that_is_not_a_task_gets_hygiene_rules(project: Path):
    report = run_check(root=project, plugins=False)
    assert {r for r, _ in _where(report, "README.ipynb")} <= {"NBG001", "NBG401", "NBG501",
                                                             "NBG502", "NBG604"}
    assert _where(report, "README.ipynb") == []  # outputs and no kernel are fine here
    (project / "nbgov.toml").write_text('[check]\nnon-task-rules = ["ALL"]\n')
    strict = run_check(root=project, plugins=False)
    assert {"NBG201", "NBG301"} <= {r for r, _ in _where(strict, "README.ipynb")}


def test_a_secret_in_a_notebook_that_is_not_a_task_is_still_found(project: Path):
    shutil.copy(FIXTURES / "secrets--source.ipynb", project / "README.ipynb")
    report = run_check(root=project, plugins=False)
    assert "NBG501" in {r for r, _ in _where(report, "README.ipynb")}


def test_the_cli_reports_a_script_from_a_plain_spec(tmp_path: Path):
    root = tmp_path / "cli"
    (root / "scripts").mkdir(parents=True)
    (root / "scripts/load.py").write_text(
        SCRIPT_LOAD.replace("n = 3", "n = 3\ndata = '/Users/ada/x.csv'"))
    (root / "pipeline.yaml").write_text(
        "tasks:\n  - source: scripts/load.py\n    product: {nb: products/l.ipynb}\n")
    proc = run(root, "check", "--format", "json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    found = json.loads(proc.stdout)["findings"]
    assert [(f["rule"], f["path"], f["line"]) for f in found] == [("NBG401", "scripts/load.py", 5)]

"""`nbgov check` on every spec form Ploomber accepts (issue 29): a DAG built in Python
(`location:`), SQL read through `meta.source_loader`, partials, `meta.extract_product`,
ScriptRunner tasks; and never a file a build wrote (products, nbgov's sidecars, partial
outputs, a File client's backup copies)."""

from __future__ import annotations

import json
import shutil

from nbgov.adapters.ploomber.sources import check_sources, raw_tasks, source_files
from nbgov.adapters.specfile import read_spec
from nbgov.services.check.engine import run_check

from .conftest import FIXTURES


def rules(report) -> list[tuple[str, str]]:
    return [(f.rule, f.message) for f in report.findings]


def test_location_spec_is_no_invalid_pipeline(make_project):
    root = make_project(pipeline="location: my_pipeline.dag.make_dag\n")
    (root / "my_pipeline").mkdir()
    (root / "my_pipeline" / "__init__.py").write_text("")
    (root / "my_pipeline" / "dag.py").write_text("def make_dag():\n    return None\n")
    spec = read_spec(root / "pipeline.yaml")
    assert spec.location == "my_pipeline.dag.make_dag" and spec.tasks == []
    assert not [r for r in rules(run_check(root=root, plugins=False)) if r[0].startswith("NBG6")]
    # the factory's module is a review target before any build
    assert source_files(root / "pipeline.yaml") == [(root / "my_pipeline" / "dag.py").resolve()]


LOADER_SPEC = """\
meta:
  source_loader:
    path: sql
    module: warehouse
tasks:
  - source: totals.sql
    product: [totals, table]
    client: clients.get
"""


def _loader_project(make_project):
    root = make_project(pipeline=LOADER_SPEC)
    (root / "warehouse" / "sql").mkdir(parents=True)
    (root / "warehouse" / "__init__.py").write_text("")
    (root / "warehouse" / "sql" / "totals.sql").write_text("SELECT 1\n")
    return root


def test_source_loader_source_exists(make_project):
    root = _loader_project(make_project)
    spec = read_spec(root / "pipeline.yaml")
    assert spec.source_path(spec.tasks[0]) == (root / "warehouse" / "sql" / "totals.sql").resolve()
    assert not [r for r in rules(run_check(root=root, plugins=False)) if r[0] == "NBG602"]
    # what nbgov build checks before Ploomber sees the spec: no "source does not exist"
    import yaml

    check_sources(raw_tasks(yaml.safe_load(LOADER_SPEC), root / "pipeline.yaml"), root)
    assert (root / "warehouse" / "sql" / "totals.sql").resolve() in source_files(root / "pipeline.yaml")


def test_source_loader_missing_file_named_where_looked_for(make_project):
    root = _loader_project(make_project)
    (root / "warehouse" / "sql" / "totals.sql").unlink()
    report = run_check(root=root, plugins=False)
    assert [r for r in rules(report) if r[0] == "NBG602"]


def test_partial_tasks_are_read_relative_to_the_partial(make_project):
    root = make_project(pipeline="meta:\n  import_tasks_from: parts/features.yaml\ntasks: []\n")
    (root / "parts").mkdir()
    (root / "parts" / "features.yaml").write_text("- source: a.sql\n  product: [a, table]\n")
    (root / "parts" / "a.sql").write_text("SELECT 1\n")
    spec = read_spec(root / "pipeline.yaml")
    assert [t.name for t in spec.tasks] == ["a"]
    assert spec.source_path(spec.tasks[0]) == (root / "parts" / "a.sql").resolve()
    assert not [r for r in rules(run_check(root=root, plugins=False)) if r[0] == "NBG602"]


def test_script_runner_needs_no_nb_product(make_project):
    spec = "tasks:\n  - source: scripts/run.py\n    class: ScriptRunner\n    product:\n      data: out/x.csv\n"
    root = make_project(pipeline=spec)
    (root / "scripts").mkdir()
    (root / "scripts" / "run.py").write_text("# %% tags=['parameters']\nproduct = None\n")
    assert not [r for r in rules(run_check(root=root, plugins=False)) if r[0] == "NBG603"]


def test_notebook_runner_without_nb_product_still_reported(make_project):
    spec = "tasks:\n  - source: scripts/run.py\n    product:\n      data: out/x.csv\n"
    root = make_project(pipeline=spec)
    (root / "scripts").mkdir()
    (root / "scripts" / "run.py").write_text("# %% tags=['parameters']\nproduct = None\n")
    assert [r for r in rules(run_check(root=root, plugins=False)) if r[0] == "NBG603"]


def test_extract_product_is_no_missing_product(make_project):
    spec = "meta:\n  extract_product: true\ntasks:\n  - source: notebooks/clean--task.ipynb\n"
    root = make_project("clean--task.ipynb", pipeline=spec)
    assert not [r for r in rules(run_check(root=root, plugins=False)) if r[0] == "NBG603"]


def test_files_builds_write_are_not_linted(make_project):
    spec = ("tasks:\n  - source: notebooks/clean--task.ipynb\n    product:\n"
            "      nb: products/report.html\n")
    root = make_project("clean--task.ipynb", pipeline=spec)
    written = [
        "products/report.executed.ipynb",  # nbgov's copy of the executed notebook
        "products/report.ipynb",  # Ploomber's partial output of a failed html task
        "backup/products/report.ipynb",  # a File client's local backup (LocalStorageClient)
        "elsewhere/task.executed.ipynb",
    ]
    for rel in written:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(FIXTURES / "clean--executed.ipynb", root / rel)
    report = run_check(root=root, plugins=False)
    checked = {f.path for f in report.findings}
    assert not checked & set(written), report.findings
    assert report.files == 1


def test_the_other_specs_tasks_are_tasks(make_project):
    """A second pipeline next to pipeline.yaml (`pipeline.serve.yaml`, built with `-e`, as
    Ploomber's docs lay out): its notebooks are tasks (no NBG604, the task rules apply) and
    its problems name its own spec."""
    root = make_project("clean--task.ipynb", pipeline="tasks:\n  - source: notebooks/clean--task.ipynb\n"
                                                      "    product: {nb: products/train.ipynb}\n")
    shutil.copy(root / "notebooks" / "clean--task.ipynb", root / "notebooks" / "serve.ipynb")
    (root / "pipeline.serve.yaml").write_text(
        "tasks:\n  - source: notebooks/serve.ipynb\n    product: {nb: products/serve.ipynb}\n"
        "  - source: notebooks/gone.ipynb\n    product: {data: products/gone.csv}\n")
    (root / "pipeline.notes.txt").write_text("not a spec\n")
    found = rules(run_check(root=root, plugins=False))
    assert not [r for r in found if r[0] == "NBG604"], found
    report = run_check(root=root, plugins=False)
    where = {(f.rule, f.path) for f in report.findings}
    assert ("NBG602", "pipeline.serve.yaml") in where and ("NBG603", "pipeline.serve.yaml") in where, where


def test_products_declared_in_the_sources_are_never_linted(make_project):
    """`meta.extract_product` with `product_relative_to_source`, after a plain `ploomber build`
    (no nbgov build plan): the executed notebooks the parameters cells name are products (they
    hold absolute paths: NBG401 if they were linted)."""
    root = make_project(pipeline="meta:\n  extract_product: true\n  product_relative_to_source: true\n"
                                 "tasks:\n  - source: scripts/load.py\n")
    (root / "scripts" / "out").mkdir(parents=True)
    (root / "scripts" / "load.py").write_text(
        '# %% tags=["parameters"]\nupstream = None\nproduct = {"nb": "out/load.ipynb", "data": "out/load.csv"}\n'
        '\n# %%\nprint(product)\n')
    executed = {"cells": [{"cell_type": "code", "id": "a1", "metadata": {"tags": ["injected-parameters"]},
                           "source": f"product = {{'nb': '{root}/scripts/out/load.ipynb'}}\n",
                           "outputs": [], "execution_count": 1}],
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
                "nbformat": 4, "nbformat_minor": 5}
    (root / "scripts" / "out" / "load.ipynb").write_text(json.dumps(executed))
    report = run_check(root=root, plugins=False)
    assert not [f for f in report.findings if f.path.startswith("scripts/out/")], rules(report)

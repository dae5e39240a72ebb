"""Spec semantics as Ploomber defines them: function sources, undeclared params, partials,
pipeline.NAME.yaml with env.NAME.yaml, grids; and one-line errors for sources that do not exist."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from tests.kinds.conftest import RAW_PY, commit, copy_project, ploomber_build, run, write

from nbgov.core.errors import ParameterError, PipelineError

pytestmark = pytest.mark.integration


@pytest.fixture
def clean_modules():
    """Each test project has its own ``tasks`` package: forget the previous one's."""
    yield
    for name in [m for m in sys.modules if m == "tasks" or m.startswith("tasks.")]:
        del sys.modules[name]


def _function_project(root: Path, source: str, raw: str = RAW_PY) -> Path:
    spec = f"tasks:\n  - source: {source}\n    product: products/raw.txt\n    params: {{n: 3}}\n"
    write(root, {"tasks/__init__.py": "", "tasks/raw.py": raw, "pipeline.yaml": spec})
    return root


def test_unknown_function_names_what_the_module_defines(tmp_path, clean_modules):
    from nbgov.adapters.ploomber import Pipeline

    root = _function_project(tmp_path, "tasks.raw.gett")
    with pytest.raises(PipelineError) as err:
        Pipeline(root / "pipeline.yaml")
    assert "function 'tasks.raw.gett' not found: tasks.raw has no function 'gett'" in err.value.message
    assert err.value.hint == "raw.py defines: get"


def test_missing_module_says_which_file_to_create(tmp_path, clean_modules):
    from nbgov.adapters.ploomber import Pipeline

    root = _function_project(tmp_path, "tasks.rw.get")
    with pytest.raises(PipelineError) as err:
        Pipeline(root / "pipeline.yaml")
    assert "no module named 'tasks.rw'" in err.value.message
    assert "tasks/rw.py" in err.value.hint


def test_a_module_that_fails_to_import_is_named_with_its_line(tmp_path, clean_modules):
    from nbgov.adapters.ploomber import Pipeline

    broken = "import os\nBROKEN = 1 / 0\n\ndef get(product, n):\n    pass\n"
    root = _function_project(tmp_path, "tasks.raw.get", raw=broken)
    with pytest.raises(PipelineError) as err:
        Pipeline(root / "pipeline.yaml")
    assert "importing tasks.raw failed: ZeroDivisionError" in err.value.message
    assert err.value.where.path == root / "tasks/raw.py" and err.value.where.line == 2


def test_cli_refuses_a_bad_dotted_path_in_one_line(git_repo):
    _function_project(git_repo, "tasks.raw.gett")
    (git_repo / "nbgov.toml").write_text('experiment = "kinds"\n')
    commit(git_repo)
    proc = run(git_repo, "nbgov", "build")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "'gett'" in proc.stderr and "raw.py defines: get" in proc.stderr, proc.stderr
    assert "does not exist" not in proc.stderr


NB_PARAMS = {
    "cells": [
        {"cell_type": "code", "id": "p", "metadata": {"tags": ["parameters"]}, "outputs": [], "execution_count": None,
         "source": "upstream = None\nproduct = None\nx = 0"},
        {"cell_type": "code", "id": "c", "metadata": {}, "outputs": [], "execution_count": None,
         "source": "from pathlib import Path\nPath(product['data']).write_text(str(x + y))"},
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}


def _params_project(root: Path, params: str, extra: str = "") -> Path:
    write(root, {"nb.ipynb": json.dumps(NB_PARAMS),
                 "pipeline.yaml": "tasks:\n  - source: nb.ipynb\n"
                                  "    product: {nb: products/nb.ipynb, data: products/nb.txt}\n"
                                  f"    params: {params}\n{extra}"})
    return root


def test_undeclared_params_are_injected_as_ploomber_does(tmp_path):
    from nbgov.adapters.ploomber import Pipeline

    # y is not in the parameters cell but the code uses it: Ploomber injects it, no warning
    root = _params_project(tmp_path, "{x: 1, y: 2}")
    pipeline = Pipeline(root / "pipeline.yaml")
    assert pipeline.tasks()[0].params == {"x": 1, "y": 2}
    assert pipeline.warnings == []
    ploomber_build(copy_project(root, tmp_path / "copy"))
    assert (tmp_path / "copy/products/nb.txt").read_text() == "3"


def test_unused_params_warn_as_ploomber_does(tmp_path):
    from nbgov.adapters.ploomber import Pipeline

    root = _params_project(tmp_path, "{x: 1, y: 2, z: 3}")
    pipeline = Pipeline(root / "pipeline.yaml")
    assert pipeline.warnings == ["task nb: These parameters are not used in the task's source code: 'z'"]


def test_strict_static_analysis_refuses_undeclared_params_at_render(tmp_path):
    from nbgov.adapters.ploomber import Pipeline

    root = _params_project(tmp_path, "{x: 1, y: 2}", "    static_analysis: strict\n")
    with pytest.raises(PipelineError, match="Unexpected params: 'y'"):
        Pipeline(root / "pipeline.yaml")


def test_a_cli_override_must_still_name_a_parameter(tmp_path):
    from nbgov.adapters.ploomber import Pipeline

    root = _params_project(tmp_path, "{x: 1, y: 2}")
    Pipeline(root / "pipeline.yaml", params={"nb": {"y": 5}})  # y is in pipeline.yaml: allowed
    with pytest.raises(ParameterError, match="has no parameter\\(s\\) 'nope'"):
        Pipeline(root / "pipeline.yaml", params={"nb": {"nope": 1}})


PARTIAL = """- source: tasks.raw.get
  product: products/raw.txt
  params: {n: "{{n}}"}
- source: scripts/echo.sh
  product: products/echo.txt
"""


def test_partials_pipeline_name_and_env_name(git_repo, clean_modules):
    """pipeline.serve.yaml imports its tasks from a partial and takes env.serve.yaml (not
    env.yaml), as `ploomber build --entry-point pipeline.serve.yaml` does."""
    from nbgov.adapters.ploomber import Pipeline
    from nbgov.core.config import load_config
    from nbgov.services.build import load_pipeline

    write(git_repo, {
        "tasks/__init__.py": "", "tasks/raw.py": RAW_PY,
        "features/partial.yaml": PARTIAL, "features/scripts/echo.sh": 'cat {{upstream["get"]}} > {{product}}\n',
        "pipeline.serve.yaml": "meta:\n  import_tasks_from: features/partial.yaml\ntasks: []\n",
        "env.yaml": "n: 2\n", "env.serve.yaml": "n: 4\n",
        "nbgov.toml": 'experiment = "kinds"\npipeline = "pipeline.serve.yaml"\n',
    })
    commit(git_repo)
    pipeline = Pipeline(git_repo / "pipeline.serve.yaml")
    infos = {t.name: t for t in pipeline.tasks()}
    assert set(infos) == {"get", "echo"}
    assert infos["get"].params == {"n": 4}
    assert infos["echo"].kind == "shell" and infos["echo"].source_file == git_repo / "features/scripts/echo.sh"
    assert infos["get"].products == {"product": git_repo / "products/raw.txt"}
    # nbgov.toml's pipeline = "pipeline.serve.yaml" is what nbgov build loads
    loaded = load_pipeline(load_config(git_repo))
    assert loaded.spec_path == git_repo / "pipeline.serve.yaml"
    with pytest.raises(ParameterError, match="env.serve.yaml defines: n"):
        load_pipeline(load_config(git_repo), env=["nokey=1"])
    proc = ploomber_build(copy_project(git_repo, git_repo.parent / "copy"), "--entry-point", "pipeline.serve.yaml")
    assert (git_repo.parent / "copy/products/raw.txt").read_text() == "0,1,2,3", proc.stdout


GRID_SPEC = """tasks:
  - source: tasks.raw.get
    name: get-[[n]]
    product: products/raw-[[n]].txt
    grid: {n: [2, 3]}
"""


def test_grid_tasks_carry_their_group(tmp_path, clean_modules):
    from nbgov.adapters.ploomber import Pipeline

    write(tmp_path, {"tasks/__init__.py": "", "tasks/raw.py": RAW_PY, "pipeline.yaml": GRID_SPEC})
    infos = {t.name: t for t in Pipeline(tmp_path / "pipeline.yaml").tasks()}
    assert set(infos) == {"get-2", "get-3"}
    assert {t.group for t in infos.values()} == {"get-[[n]]"}
    assert infos["get-3"].params == {"n": 3} and infos["get-3"].record == tmp_path / "products/get-3.lineage.json"
    ploomber_build(copy_project(tmp_path, tmp_path.parent / "gridcopy"))


def test_links_and_inputs_of_a_python_dag(tmp_path):
    """Link and Input cannot be declared in a spec (Ploomber 0.23 passes them a `source`); a DAG
    made in Python, as a hook sees it, still describes them."""
    from ploomber import DAG
    from ploomber.clients import SQLAlchemyClient
    from ploomber.products import File, SQLiteRelation
    from ploomber.tasks import Input, Link, PythonCallable, SQLUpload

    def copy(upstream, product):
        Path(str(product)).write_text(Path(str(upstream["data"])).read_text())

    from nbgov.adapters.ploomber import describe_dag

    (tmp_path / "in.csv").write_text("a\n")
    (tmp_path / "model.pkl").write_bytes(b"m")
    dag = DAG()
    data = Input(File(tmp_path / "in.csv"), dag, name="data")
    Link(File(tmp_path / "model.pkl"), dag, name="model")
    copier = PythonCallable(copy, File(tmp_path / "out/copy.csv"), dag, name="copier")
    data >> copier
    client = SQLAlchemyClient(f"sqlite:///{tmp_path / 'up.db'}")
    SQLUpload(tmp_path / "in.csv", SQLiteRelation(("uploaded", "table"), client=client), dag, name="upload",
              client=client)
    dag.render(show_progress=False)
    infos = {t.name: t for t in describe_dag(dag, tmp_path)[0]}
    assert infos["data"].kind == "input" and infos["model"].kind == "link"
    assert infos["data"].source_file is None and infos["model"].source_file is None
    assert infos["data"].record == tmp_path / "data.lineage.json"
    assert infos["copier"].kind == "function" and infos["copier"].source_file == Path(__file__).resolve()
    assert infos["copier"].function.endswith("test_links_and_inputs_of_a_python_dag.<locals>.copy")
    assert infos["copier"].record == tmp_path / "out/copier.lineage.json"
    # an upload's source is the data it uploads: kept as `source`, not reviewed
    assert infos["upload"].kind == "upload" and infos["upload"].source_file is None
    assert infos["upload"].source == tmp_path / "in.csv"
    assert infos["upload"].relations == {"product": "uploaded"} and infos["upload"].client.startswith("sqlite:///")
    assert infos["upload"].record == tmp_path / ".nbgov/lineage/upload.lineage.json"

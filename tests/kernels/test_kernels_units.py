"""Warm kernels without kernels: what gets preloaded, the config key, where jupyter_client lives."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from nbgov.core.config import load_config
from nbgov.core.errors import ConfigError
from nbgov.core.imports import pipeline_imports, source_imports

SRC = Path(__file__).resolve().parents[2] / "src" / "nbgov"


def _nb(path: Path, *sources: str) -> Path:
    cells = [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": s, "outputs": [],
              "execution_count": None} for i, s in enumerate(sources)]
    cells.insert(1, {"cell_type": "markdown", "id": "m", "metadata": {}, "source": "import not_code"})
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_notebook_imports_are_read_cell_by_cell_skipping_ipython_syntax(tmp_path: Path):
    nb = _nb(tmp_path / "t.ipynb",
             "%matplotlib inline\nimport pandas as pd\nfrom sklearn.linear_model import LogisticRegression",
             "!pip install nothing\nimport numpy, os.path\nfrom . import local\nfrom .pkg import other",
             "%%bash\nimport not_python",
             "def broken(:\n    import never_seen",
             "try:\n    import mlflow.pyfunc\nexcept ImportError:\n    pass\nimport pandas")
    assert source_imports(nb) == ["pandas", "sklearn.linear_model", "numpy", "os.path", "mlflow.pyfunc"]


def test_script_imports_and_unreadable_sources(tmp_path: Path):
    script = tmp_path / "task.py"
    script.write_text("# %%\nimport scipy.stats\n# %%\nfrom json import dumps\n")
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    assert source_imports(script) == ["scipy.stats", "json"]
    assert source_imports(broken) == [] and source_imports(tmp_path / "missing.py") == []
    assert pipeline_imports([script, _nb(tmp_path / "b.ipynb", "import json\nimport pandas")]) == [
        "scipy.stats", "json", "pandas"]


def test_preload_list_extra_modules_first_and_false_switches_off(tmp_path: Path):
    from nbgov.adapters.kernels.template import preload_modules, spec_sources

    (tmp_path / "notebooks").mkdir()
    nb = _nb(tmp_path / "notebooks" / "a.ipynb", "import pandas\nimport scipy")
    (tmp_path / "pipeline.yaml").write_text(
        "tasks:\n  - source: notebooks/a.ipynb\n    product: out.ipynb\n"
        "  - source: '{{root}}/x.ipynb'\n    product: y.ipynb\n  - source: pkg.fn\n    product: z.csv\n")
    assert spec_sources(tmp_path / "pipeline.yaml") == [nb]
    assert preload_modules([nb], ["scipy", "statsmodels.api"]) == ["scipy", "statsmodels.api", "pandas"]
    assert preload_modules([nb], True) == ["pandas", "scipy"]
    assert preload_modules([nb], False) is None


@pytest.mark.parametrize("value, ok", [
    ("false", True), ("true", True), ('["pandas", "sklearn.linear_model"]', True),
    ('"pandas"', False), ('["pandas", 3]', False), ('["not a module"]', False), ('[""]', False),
])
def test_execution_preload_is_validated(tmp_path: Path, value: str, ok: bool):
    (tmp_path / "nbgov.toml").write_text(f"[execution]\npreload = {value}\n")
    if ok:
        assert load_config(tmp_path).section("execution")["preload"] is not None
    else:
        with pytest.raises(ConfigError, match=r"\[execution\] preload must be a list of module names"):
            load_config(tmp_path)


def test_jupyter_client_is_imported_only_by_the_kernels_adapter():
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.is_relative_to(SRC / "adapters" / "kernels"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(SRC)}: {n}" for n in names if n.split(".")[0] == "jupyter_client"]
    assert offenders == []


def test_the_template_module_imports_nothing_heavy():
    # it runs before anything is preloaded, and the build imports it before Ploomber and MLflow
    import subprocess
    import sys

    code = ("import sys, nbgov.adapters.kernels.template\n"
            "heavy = {'jupyter_client', 'ploomber', 'mlflow', 'papermill', 'zmq', 'IPython', 'ipykernel'}\n"
            "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

"""The task-kind registry (built-ins + entry-point plug-ins), source versions, file-safe names."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from nbgov.core import tasks
from nbgov.core.errors import NbgovWarning
from nbgov.core.tasks import KindRegistry, TaskKind


class _EntryPoint:
    def __init__(self, name, value, loaded):
        self.name, self.value, self._loaded = name, value, loaded

    def load(self):
        if isinstance(self._loaded, Exception):
            raise self._loaded
        return self._loaded


@pytest.fixture
def plugins(monkeypatch):
    """Install fake ``nbgov.task_kinds`` entry points for one test."""
    import importlib.metadata

    installed: list[_EntryPoint] = []

    def entry_points(group=None, **_):
        return list(installed) if group == tasks.ENTRY_POINT_GROUP else []

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    monkeypatch.setattr(tasks, "_REGISTRY", None)
    yield installed
    tasks._REGISTRY = None


def test_builtin_kinds():
    registry = tasks.load_kinds(plugins=False)
    by_name = {k.name: k for k in registry}
    assert {"notebook", "script", "function", "sql", "shell", "script-runner", "link", "input", "task"} <= set(by_name)
    assert by_name["notebook"].executes_notebook and by_name["script"].executes_notebook
    assert not by_name["script-runner"].executes_notebook and by_name["script-runner"].has_source_file
    assert not by_name["link"].has_source_file and not by_name["input"].has_source_file
    assert registry.for_class_names(["ploomber.tasks.sql.SQLDump", "SQLDump"]).name == "sql"
    assert registry.for_class_names(["acme.Custom", "Custom"]).name == "task"


def test_most_derived_class_wins():
    from nbgov.adapters.ploomber.kinds import class_names

    class PythonCallable:  # stands in for Ploomber's class of the same name
        pass

    class Timed(PythonCallable):
        pass

    registry = KindRegistry([*tasks.BUILTIN_KINDS, TaskKind("timed", False, True, ("Timed",))])
    assert registry.for_class_names(class_names(Timed)).name == "timed"
    assert tasks.load_kinds(plugins=False).for_class_names(class_names(Timed)).name == "function"


def test_a_plugin_adds_a_kind(plugins):
    plugins.append(_EntryPoint("acme", "acme:KINDS", [TaskKind("spark", False, True, ("acme.SparkTask",))]))
    registry = tasks.load_kinds()
    kind = registry.for_class_names(["acme.SparkTask", "SparkTask"])
    assert kind.name == "spark" and kind.origin == "plugin acme = acme:KINDS"


@pytest.mark.parametrize("loaded", [ImportError("no module acme"), "not a kind",
                                    [TaskKind("sql", False, True, ())],
                                    [TaskKind("other", False, True, ("SQLScript",))]])
def test_a_broken_plugin_warns_and_is_skipped(plugins, loaded):
    plugins.append(_EntryPoint("broken", "broken:KINDS", loaded))
    with pytest.warns(NbgovWarning, match="task-kind plug-in 'broken = broken:KINDS' skipped"):
        registry = tasks.load_kinds()
    assert registry.for_class_names(["SQLScript"]).name == "sql"
    assert {k.origin for k in registry} == {"builtin"}


def test_text_versions_are_the_exact_bytes():
    base = tasks.text_version("SELECT 1;\nSELECT 2;\n")
    assert base == "srcv2:" + hashlib.sha256(b"SELECT 1;\nSELECT 2;\n").hexdigest()
    # a CR is part of a bash comment, not a line end: line ends are meaning too (R4)
    assert tasks.text_version("SELECT 1;\r\nSELECT 2;\r\n") != base
    assert tasks.text_version("SELECT 1;\nSELECT 2;\n\n") != base
    assert tasks.text_version("SELECT 1;\nSELECT 3;\n") != base
    # the legacy srcv1 (old ledgers, snapshots) normalised them
    assert tasks.legacy_text_version("SELECT 1;\r\nSELECT 2;\r\n\r\n  \n") == tasks.legacy_text_version(
        "SELECT 1;\nSELECT 2;")


def test_source_version_of_files(tmp_path: Path):
    from nbgov.adapters.notebooks import source_version
    from nbgov.core.identity import notebook_version

    script = tmp_path / "clean.py"
    script.write_text('# %% tags=["parameters"]\nx = 1\n\n# %%\nprint(x)\n')
    twin = {"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "x = 1", "outputs": [],
                       "execution_count": None},
                      {"cell_type": "code", "metadata": {}, "source": "print(x)", "outputs": [],
                       "execution_count": None}],
            "metadata": {"kernelspec": {"name": "python3", "language": "python", "display_name": "P"}},
            "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "clean.ipynb").write_text(json.dumps(twin))
    assert source_version(tmp_path / "clean.ipynb") == notebook_version(twin)
    # a script is versioned by what Python reads, its bytes, not by jupytext's cells
    assert source_version(script) == tasks.text_version(script.read_text())
    sql = tmp_path / "q.sql"
    sql.write_bytes(b"SELECT 1;\r\n")
    assert source_version(sql) == "srcv2:" + hashlib.sha256(b"SELECT 1;\r\n").hexdigest()
    module = tmp_path / "raw.py"
    module.write_text("def get(product):\n    pass\n")
    assert source_version(module).startswith("srcv2:")


def test_file_safe_names_and_paths(tmp_path):
    assert tasks.file_safe("fit-[[model]]") == "fit-__model__"
    assert tasks.file_safe("a/b c") == "a_b_c"
    assert tasks.file_safe("..") == "_"
    assert tasks.record_file("fit-rf", tmp_path) == tmp_path / "fit-rf.lineage.json"
    assert tasks.evidence_file("report", tmp_path) == tmp_path / "report.executed.ipynb"

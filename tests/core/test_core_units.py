"""Unit tests of the pure core: parameters, executed-notebook reading, config, errors, atomic writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nbgov.core.atomic import atomic_write
from nbgov.core.config import load_config
from nbgov.core.errors import ConfigError, GateError, Location, NotebookError, ParameterError
from nbgov.core.executed import SCRAP_MIME, read_execution, split_scraps
from nbgov.core.params import parse_assignment, parse_value


@pytest.mark.parametrize("text, value", [
    ("0.5", 0.5), ("3", 3), ("true", True), ("null", None), ("[1, 2]", [1, 2]), ('{"a": 1}', {"a": 1}),
    ("True", True), ("'quoted'", "quoted"), ("plain text", "plain text"), ("2024-01-01", "2024-01-01"),
])
def test_parse_value(text, value):
    assert parse_value(text) == value


def test_parse_assignment_forms_and_errors():
    assert parse_assignment("train.C=0.5", dotted=True) == ("train", "C", 0.5)
    assert parse_assignment("seed=7", dotted=False) == (None, "seed", 7)
    assert parse_assignment("a.b.x=1", dotted=True) == ("a.b", "x", 1)
    for bad, dotted, needle in [("seed", False, "NAME=VALUE"), ("C=1", True, "which task"),
                                ("t.1x=1", True, "identifier"), ("t.x={1, 2}", True, "plain data"),
                                (".x=1", True, "empty task")]:
        with pytest.raises(ParameterError, match=needle) as info:
            parse_assignment(bad, dotted=dotted)
        assert info.value.exit_code == 2


def scrap(name, data, encoder="json"):
    return {"output_type": "display_data", "metadata": {},
            "data": {SCRAP_MIME: {"name": name, "data": data, "encoder": encoder, "version": 1}}}


def test_read_execution_scraps_times_and_error():
    nb = {"metadata": {"papermill": {"start_time": "2026-01-01T10:00:00.000001+00:00",
                                     "end_time": "2026-01-01T10:00:02+00:00", "duration": 2.0}},
          "cells": [
              {"cell_type": "markdown", "metadata": {"tags": ["papermill-error-cell-tag"]}, "source": "err"},
              {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "outputs": []},
              {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]}, "outputs": []},
              {"cell_type": "markdown", "metadata": {}, "source": "text"},
              {"cell_type": "code", "metadata": {}, "outputs": [scrap("f1", 0.9), scrap("df", "x", "pandas"),
                                                                scrap("ok", True), scrap("cm", [[1, 0]])]},
              {"cell_type": "code", "metadata": {"papermill": {"exception": True}},
               "outputs": [{"output_type": "error", "ename": "KeyError", "evalue": "'x'", "traceback": []}]},
          ]}
    ex = read_execution(nb)
    assert ex.scraps == {"f1": 0.9, "ok": True, "cm": [[1, 0]]}
    assert ex.unreadable_scraps == {"df": "pandas"}
    assert ex.duration_s == 2.0 and ex.start.year == 2026
    # index in the source notebook: the papermill error cell and injected cell do not count
    assert str(ex.error) == "cell 3: KeyError: 'x'"
    metrics, tags, other = split_scraps(ex.scraps)
    assert metrics == {"f1": 0.9} and tags == {"ok": "True"} and other == {"cm": [[1, 0]]}


def test_split_scraps_rejects_non_finite_numbers():
    metrics, tags, other = split_scraps({"a": float("nan"), "b": 2})
    assert metrics == {"b": 2.0} and list(other) == ["a"] and tags == {}


def test_config_defaults_env_and_errors(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    config = load_config(tmp_path)
    assert config.pipeline_path == tmp_path / "pipeline.yaml"
    assert config.resolved_tracking_uri() == f"sqlite:///{tmp_path}/mlflow.db"
    (tmp_path / "nbgov.toml").write_text('tracking_uri = "sqlite:///store/x.db"\n[environments.prod]\n'
                                         'require_approved = true\n')
    config = load_config(tmp_path)
    assert config.resolved_tracking_uri() == f"sqlite:///{tmp_path}/store/x.db"
    assert config.env_settings("prod") == {"require_approved": True}
    with pytest.raises(ConfigError, match="unknown environment 'staging'"):
        config.env_settings("staging")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert config.resolved_tracking_uri() == "http://127.0.0.1:5000"
    (tmp_path / "nbgov.toml").write_text("pipeline = 3\n")
    with pytest.raises(ConfigError, match="pipeline must be a string"):
        load_config(tmp_path)
    (tmp_path / "nbgov.toml").unlink()
    (tmp_path / "pyproject.toml").write_text('[tool.nbgov]\nexperiment = "from-pyproject"\n')
    assert load_config(tmp_path).experiment == "from-pyproject"


def test_errors_render_where_and_hint():
    err = NotebookError("not valid JSON", Location("a.ipynb", cell=2, line=7), hint="restore it")
    assert str(err) == "a.ipynb:cell 2:line 7: not valid JSON\n  hint: restore it"
    assert err.exit_code == 2 and err.to_dict()["where"] == {"path": "a.ipynb", "cell": 2, "line": 7}
    gate = GateError("2 notebooks are not approved", reasons=["a.ipynb: stale", "b.ipynb: unreviewed"])
    assert gate.exit_code == 1 and "  - a.ipynb: stale" in str(gate)


def test_atomic_write_keeps_old_content_on_failure(tmp_path: Path, monkeypatch):
    target = tmp_path / "sub" / "f.json"
    atomic_write(target, json.dumps({"v": 1}))
    assert json.loads(target.read_text()) == {"v": 1}

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write(target, "half")
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in target.parent.iterdir()] == ["f.json"]  # no temp file left

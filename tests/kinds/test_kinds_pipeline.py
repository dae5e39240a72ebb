"""Every task kind loaded through nbgov's Ploomber adapter: kind from the class, the reviewed
source file, function, redacted client, record and evidence paths, executor settings kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.kinds.conftest import copy_project, ploomber_build

pytestmark = pytest.mark.integration


def _infos(pipeline):
    return {t.name: t for t in pipeline.tasks()}


def test_every_kind_is_taken_from_the_task_class(mixed_loaded):
    root, pipeline = mixed_loaded
    infos = _infos(pipeline)
    assert {n: t.kind for n, t in infos.items()} == {
        "get": "function", "clean": "script", "light": "script", "runner": "script-runner",
        "make": "sql", "dump": "sql", "run": "shell"}
    assert infos["get"].source_file == root / "tasks/raw.py"
    assert infos["get"].function == "tasks.raw.get"
    for name, rel in (("clean", "scripts/clean.py"), ("light", "scripts/light.py"), ("runner", "scripts/runner.py"),
                      ("make", "sql/make.sql"), ("dump", "sql/dump.sql"), ("run", "scripts/run.sh")):
        assert infos[name].source_file == root / rel, name
        assert infos[name].function is None


def test_records_are_named_by_the_task_and_evidence_is_nbgovs_copy(mixed_loaded):
    root, pipeline = mixed_loaded
    infos = _infos(pipeline)
    products = root / "products"
    # notebook tasks: next to the notebook product; others: next to their first file product
    assert infos["clean"].record == products / "clean.lineage.json"
    assert infos["get"].record == products / "get.lineage.json"
    assert infos["dump"].record == products / "dump.lineage.json"
    # a SQL relation has no local file: the record goes under .nbgov/lineage
    assert infos["make"].record == root / ".nbgov/lineage/make.lineage.json"
    assert infos["make"].products == {} and infos["make"].relations == {"product": "numbers"}
    # html / md notebook products: evidence is nbgov's own executed .ipynb
    assert infos["clean"].notebook_product == products / "clean.html"
    assert infos["clean"].evidence == products / "clean.executed.ipynb"
    assert infos["light"].evidence == products / "light.executed.ipynb"
    for name in ("get", "runner", "make", "dump", "run"):
        assert infos[name].evidence is None and infos[name].notebook_product is None, name
    assert infos["get"].products == {"product": products / "raw.txt"}
    assert infos["clean"].products == {"nb": products / "clean.html", "data": products / "clean.txt"}


def test_sql_tasks_carry_their_client_uri(mixed_loaded):
    root, pipeline = mixed_loaded
    infos = _infos(pipeline)
    assert infos["make"].client == f"sqlite:///{root / 'data.db'}"
    assert infos["dump"].client == f"sqlite:///{root / 'data.db'}"
    assert infos["get"].client is None and infos["run"].client is None and infos["clean"].client is None


def test_client_passwords_are_redacted():
    from ploomber.clients import DBAPIClient, SQLAlchemyClient

    from nbgov.adapters.ploomber.kinds import _client_description, redact_uri

    pg = SQLAlchemyClient("postgresql://ann:s3cr3t@db.example.com:5432/sales")
    assert _client_description(pg) == "postgresql://ann:***@db.example.com:5432/sales"
    import sqlite3

    dbapi = DBAPIClient(sqlite3.connect, {"database": "x.db", "password": "hunter2"})
    described = _client_description(dbapi)
    assert "hunter2" not in described and described.startswith("dbapi:") and "database=x.db" in described
    assert redact_uri("mysql://u:p@h/db?password=zz") == "mysql://u:***@h/db?password=***"


def test_project_settings_are_kept_and_defaults_go_under_them(mixed_loaded):
    _, pipeline = mixed_loaded
    dag = pipeline._dag
    # papermill_params from pipeline.yaml survive; nbgov's defaults fill only what is unset
    assert dag["clean"].executor_params == {"shutdown_kernel": "immediate", "progress_bar": False,
                                            "log_output": True}
    assert dag["light"].executor_params == {"shutdown_kernel": "immediate", "progress_bar": False}
    # ScriptRunner takes no executor_params at all (Ploomber would fail on one)
    assert not hasattr(dag["runner"], "executor_params")


def test_timeouts_from_nbgov_go_under_the_tasks_own_settings(mixed, tmp_path):
    from nbgov.adapters.ploomber import Pipeline

    spec = (mixed / "pipeline.yaml").read_text().replace(
        "papermill_params: {log_output: True}", "executor_params: {log_output: True, execution_timeout: 7}")
    (mixed / "pipeline.yaml").write_text(spec)
    pipeline = Pipeline(mixed / "pipeline.yaml", executor_params={"execution_timeout": 99, "start_timeout": 30})
    assert pipeline._dag["clean"].executor_params == {
        "shutdown_kernel": "immediate", "progress_bar": False, "start_timeout": 30,
        "log_output": True, "execution_timeout": 7}
    assert pipeline._dag["light"].executor_params["execution_timeout"] == 99


def test_plain_ploomber_builds_the_mixed_project(mixed, tmp_path):
    copy = copy_project(mixed, tmp_path / "copy")
    ploomber_build(copy)
    for rel in ("raw.txt", "clean.html", "clean.txt", "light.md", "light.txt", "runner.txt", "numbers.csv",
                "hello.txt"):
        assert (copy / "products" / rel).is_file(), rel
    assert (copy / "products/runner.txt").read_text() == "0,1,2,3,4"
    assert (copy / "products/clean.txt").read_text() == "10"


def _build_with_evidence(pipeline, names):
    from nbgov.adapters.ploomber import evidence

    infos = _infos(pipeline)
    for name in names:
        with evidence.capturing(infos[name]):
            pipeline._dag[name].build(force=True)
    return infos


def test_evidence_of_an_html_product_has_scraps_and_timings(mixed):
    from nbgov.adapters.ploomber import Pipeline
    from nbgov.core.executed import read_execution

    pipeline = Pipeline(mixed / "pipeline.yaml")
    infos = _build_with_evidence(pipeline, ["get", "clean"])
    assert (mixed / "products/clean.html").read_text().lstrip().startswith("<!DOCTYPE html>")
    executed = read_execution(json.loads(Path(infos["clean"].evidence).read_text()))
    assert executed.scraps == {"total": 10}
    assert executed.duration_s is not None and executed.duration_s > 0
    assert executed.start is not None and executed.end is not None and executed.error is None


def test_evidence_of_a_failed_html_task_names_the_cell(mixed):
    from nbgov.adapters.ploomber import Pipeline
    from nbgov.core.executed import read_execution

    pipeline = Pipeline(mixed / "pipeline.yaml", params={"clean": {"fail": True}})
    infos = _infos(pipeline)
    evidence_path = Path(infos["clean"].evidence)
    evidence_path.parent.mkdir(parents=True, exist_ok=True)
    evidence_path.write_text("stale from an earlier run")
    with pytest.raises(Exception, match="clean"):
        _build_with_evidence(pipeline, ["get", "clean"])
    executed = read_execution(json.loads(evidence_path.read_text()))
    assert executed.scraps == {"total": 10}  # glued before the failing cell
    assert executed.error is not None
    assert str(executed.error) == "cell 3: ValueError: asked to fail"


def test_capturing_is_a_no_op_for_kinds_without_a_notebook(mixed_loaded):
    from nbgov.adapters.ploomber import evidence

    _, pipeline = mixed_loaded
    infos = _infos(pipeline)
    for name in ("get", "runner", "make", "run"):
        assert not evidence.needs_capture(infos[name])
    assert evidence.needs_capture(infos["clean"])


def test_source_versions_of_every_kind(mixed_loaded):
    from nbgov.adapters.notebooks import source_version

    root, pipeline = mixed_loaded
    versions = {t.name: source_version(t.source_file) for t in pipeline.tasks()}
    # .py sources (modules, scripts) are versioned by their bytes, like the other text sources
    for name in ("get", "clean", "light", "runner", "make", "dump", "run"):
        assert versions[name].startswith("srcv2:"), name
    assert len(set(versions.values())) == len(versions)

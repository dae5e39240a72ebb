"""Bad input to nbgov build: one clear message naming the file, exit 2, no traceback, nothing
written, nothing executed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import run_cli

pytestmark = pytest.mark.integration


def assert_refused(tiny: Path, proc, *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: "), proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr
    assert not (tiny / "products").exists(), "something was executed"
    assert not (tiny / "mlflow.db").exists(), "something was recorded"


def test_invalid_yaml(tiny: Path):
    (tiny / "pipeline.yaml").write_text("tasks:\n  - source: [unclosed\n")
    assert_refused(tiny, run_cli(tiny, "build"), "pipeline.yaml", "not valid YAML")


def test_missing_notebook(tiny: Path):
    (tiny / "notebooks/b.ipynb").unlink()
    assert_refused(tiny, run_cli(tiny, "build"), "pipeline.yaml", "notebooks/b.ipynb", "does not exist")


def test_notebook_not_json(tiny: Path):
    (tiny / "notebooks/a.ipynb").write_text('{"cells": [')
    proc = run_cli(tiny, "build")
    assert_refused(tiny, proc, "a.ipynb")


@pytest.mark.parametrize(("content", "reason"), [
    (b'{"cells": [', "not valid JSON"),
    (b"", "empty file"),
    (b"\x89PNG\r\n\x1a\n\x00", "not UTF-8"),
    (b'{"nbformat": 3, "worksheets": []}', "not a notebook"),
])
def test_damaged_notebook_without_parameters_is_named_with_the_reason(tiny: Path, content, reason):
    # b gets no parameters from pipeline.yaml: only the load itself reads it
    (tiny / "notebooks/b.ipynb").write_bytes(content)
    proc = run_cli(tiny, "build")
    assert_refused(tiny, proc, "notebooks/b.ipynb", reason)
    assert "pipeline.yaml" not in proc.stderr, proc.stderr


def test_unknown_parameter(tiny: Path):
    assert_refused(tiny, run_cli(tiny, "build", "-p", "a.nope=1"), "a.ipynb", "'nope'", "x")


def test_parameter_name_not_identifier(tiny: Path):
    assert_refused(tiny, run_cli(tiny, "build", "-p", "a.1x=2"), "not a valid parameter name")


def test_parameter_value_not_plain_data(tiny: Path):
    assert_refused(tiny, run_cli(tiny, "build", "-p", "a.x={1, 2}"), "not plain data")


def test_unknown_task_and_env_key(tiny: Path):
    assert_refused(tiny, run_cli(tiny, "build", "nosuchtask"), "unknown task 'nosuchtask'")
    assert_refused(tiny, run_cli(tiny, "build", "-p", "zz.x=1"), "unknown task 'zz'")
    assert_refused(tiny, run_cli(tiny, "build", "--env", "nokey=1"), "env.yaml", "nokey")


@pytest.mark.parametrize("jobs", ["0", "-1"])
def test_jobs_below_one_is_refused(tiny: Path, jobs: str):
    # -j 0 used to fall through to a full serial build
    proc = run_cli(tiny, "build", "-j", jobs)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "--jobs" in proc.stderr, proc.stderr
    assert not (tiny / "products").exists(), "something was executed"
    assert not (tiny / "mlflow.db").exists(), "something was recorded"


def test_selected_task_with_unbuilt_upstream_is_refused(tiny: Path):
    # b reads a's product: on a fresh project `nbgov build b` used to run b into a
    # FileNotFoundError (a failed MLflow run, exit 1) instead of saying what to build first
    proc = run_cli(tiny, "build", "b")
    assert_refused(tiny, proc, "upstream task(s) not built: a", "products/a.txt", "nbgov build a")


def test_spec_param_unknown_to_notebook_is_ploombers_business(tiny: Path):
    # as in Ploomber (static_analysis: regular): injected, with a warning when the code does not
    # use it; no longer refused (tests/kinds/test_kinds_spec.py covers strict mode too)
    from nbgov.adapters.ploomber import Pipeline

    spec = (tiny / "pipeline.yaml").read_text().replace("params: {x: 1,", "params: {x: 1, y: 2,")
    (tiny / "pipeline.yaml").write_text(spec)
    pipeline = Pipeline(tiny / "pipeline.yaml")
    assert pipeline.tasks()[0].params["y"] == 2
    assert any(w.startswith("task a: ") and "'y'" in w for w in pipeline.warnings), pipeline.warnings


@pytest.mark.parametrize(("extra", "reason"), [
    ("    nosuchkey: 1\n", "unexpected keyword argument 'nosuchkey'"),
    ("  - source: notebooks/c.ipynb\n    product: {nb: products/c2.ipynb}\n",
     "already has a task with name 'c'"),
])
def test_spec_error_says_why(tiny: Path, extra: str, reason: str):
    # Ploomber's own first line ("Failed to initialize NotebookRunner task ...") says no reason
    (tiny / "pipeline.yaml").write_text((tiny / "pipeline.yaml").read_text() + extra)
    assert_refused(tiny, run_cli(tiny, "build"), "pipeline.yaml", "notebooks/c.ipynb", reason)


def test_bad_config(tiny: Path):
    (tiny / "nbgov.toml").write_text("experiment = [\n")
    assert_refused(tiny, run_cli(tiny, "build"), "nbgov.toml", "not valid TOML")
    (tiny / "nbgov.toml").write_text('experimnt = "x"\n')
    assert_refused(tiny, run_cli(tiny, "build"), "unknown key(s): experimnt")


@pytest.mark.parametrize(("config", "needle"), [
    ("[execution]\ncell_timout = 5\n", "unknown key(s) in [execution]: cell_timout"),
    ("[kernel]\nexecution_timeout = 5\n", "kernel must be a kernelspec name"),
])
def test_misspelt_or_misplaced_timeout_is_refused(tiny: Path, config: str, needle: str):
    # a timeout that silently does not apply is worse than an error
    (tiny / "nbgov.toml").write_text(config)
    assert_refused(tiny, run_cli(tiny, "build"), "nbgov.toml", needle)


def test_unreachable_tracking_server_keeps_the_runs_and_says_so(tiny: Path):
    """Not bad input any more (issue 12): the build goes on, keeps its runs in the journal and
    ends with one warning line naming the store and `nbgov sync`, within seconds of detection."""
    import time

    from tests.conftest import free_port

    uri = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    proc = run_cli(tiny, "build", "c", env={"MLFLOW_TRACKING_URI": uri})
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"1 run(s) kept locally in .nbgov/journal (tracking server {uri} is not reachable" in proc.stderr
    assert "`nbgov sync` sends them" in proc.stderr
    assert (tiny / "products/c.lineage.json").is_file()  # recorded locally, run id to come
    assert json.loads((tiny / "products/c.lineage.json").read_text())["run_id"] is None
    assert time.monotonic() - started < 120


def test_status_json_before_any_build(tiny: Path):
    proc = run_cli(tiny, "status", "--json")
    assert proc.returncode == 0, proc.stderr
    assert {t["name"]: t["state"] for t in json.loads(proc.stdout)["tasks"]} == {
        "a": "never-run", "b": "never-run", "c": "never-run"}


def test_kernel_options_in_the_spec_are_dropped_with_a_warning(tiny: Path):
    """executor_params.extra_arguments (kernel command-line options, e.g. exec_files naming a
    file no review covers) never reach a kernel, and the build says so instead of ignoring it."""
    marker = tiny / "RAN_EXEC_FILE"
    (tiny / "setup_kernel.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    spec = (tiny / "pipeline.yaml").read_text().replace(
        "    product: {nb: products/c.ipynb, data: products/c.txt}\n",
        "    product: {nb: products/c.ipynb, data: products/c.txt}\n    executor_params:\n"
        "      extra_arguments: [\"--InteractiveShellApp.exec_files=['setup_kernel.py']\"]\n")
    (tiny / "pipeline.yaml").write_text(spec)
    from nbgov.adapters.ploomber import Pipeline

    pipeline = Pipeline(tiny / "pipeline.yaml")
    dag = pipeline._dag
    assert "extra_arguments" not in dag["c"].executor_params and "extra_arguments" not in dag["a"].executor_params
    assert [w for w in pipeline.warnings if "extra_arguments" in w] == [
        next(w for w in pipeline.warnings if w.startswith("task c: executor_params.extra_arguments ignored"))]
    proc = run_cli(tiny, "build", "c")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "warning: task c: executor_params.extra_arguments ignored" in proc.stderr, proc.stderr
    assert not marker.exists()

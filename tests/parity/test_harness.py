"""The parity checks themselves, on hand-made build results: each one fails when it should
(a check that cannot fail would let nbgov pass the suite without doing the work)."""

from __future__ import annotations

import json
from pathlib import Path

from .harness import (
    Expectation,
    Pair,
    Run,
    check_exit,
    check_noop,
    check_ploomber,
    check_products,
    is_nbgov_own,
    mlflow_str,
    parse_report,
    project_names,
)

# what `ploomber build` 0.23 prints (progress bars go to stderr)
REPORT = """Loading pipeline...
name    Ran?      Elapsed (s)    Percentage
------  ------  -------------  ------------
get     True         0.010785      94.1182
clean   False        0.000674       5.88184
"""


def _pair(tmp_path: Path, **runs) -> Pair:
    expect = Expectation(name="demo", pattern="demo", tasks={"get": {}, "clean": {}},
                         deterministic=["products/a.csv"])
    ok = Run(0, REPORT.replace("False", "True"), "", 1.0)
    noop = Run(0, REPORT.replace("True", "False"), "", 1.0)
    nb_ok = Run(0, json.dumps({"tasks": [{"task": "get", "outcome": "ran"}, {"task": "clean", "outcome": "ran"}]}),
                "", 1.0)
    nb_noop = Run(0, json.dumps({"tasks": [{"task": "get", "outcome": "skipped"},
                                           {"task": "clean", "outcome": "skipped"}]}), "", 0.2)
    p_root, n_root = tmp_path / "p", tmp_path / "n"
    for root in (p_root, n_root):
        (root / "products").mkdir(parents=True)
        (root / "products/a.csv").write_text("x\n1\n")
    fields = dict(ploomber=ok, ploomber_again=noop, nbgov=nb_ok, nbgov_again=nb_noop)
    fields.update(runs)
    files = {"products/a.csv", "products/.a.csv.metadata"}
    return Pair(expect, p_root, n_root, ploomber_files=set(files), nbgov_files=set(files), before=set(),
                **fields)


def test_noop_counts_stopped_as_ran_and_not_run_as_not(tmp_path):
    again = Run(0, json.dumps({"tasks": [{"task": "get", "outcome": "stopped"},
                                         {"task": "clean", "outcome": "not-run"}]}), "", 1.0)
    pair = _pair(tmp_path, nbgov_again=again)
    assert not check_noop(pair).ok
    pair.expect.second_build_ran = ["get"]
    assert check_noop(pair).ok


def test_every_project_has_expectations():
    names = project_names()
    assert len(names) >= 12
    for name in names:
        expect = Expectation.load(name)
        assert expect.tasks and expect.pattern, name


def test_parse_report():
    assert parse_report(REPORT) == {"get": True, "clean": False}
    assert parse_report("Loading pipeline...\n") is None


def test_mlflow_strings():
    assert [mlflow_str(v) for v in (5, 0.5, "dev", True)] == ["5", "0.5", "dev", "true"]


def test_nbgov_own_files():
    assert is_nbgov_own("mlflow.db") and is_nbgov_own("mlruns/1/x/meta.yaml")
    assert is_nbgov_own("products/report.lineage.json") and is_nbgov_own(".nbgov/journal/b.jsonl")
    assert not is_nbgov_own("products/report.html") and not is_nbgov_own("products/.report.html.metadata")


def test_checks_pass_on_a_matching_pair(tmp_path):
    pair = _pair(tmp_path)
    assert check_ploomber(pair).ok and check_exit(pair).ok and check_products(pair).ok and check_noop(pair).ok


def test_ploomber_side_fails_when_a_task_did_not_run(tmp_path):
    pair = _pair(tmp_path, ploomber=Run(0, REPORT, "", 1.0))
    check = check_ploomber(pair)
    assert not check.ok and "ran ['get']" in check.detail


def test_exit_class_differs(tmp_path):
    pair = _pair(tmp_path, nbgov=Run(2, "", "error: pipeline.yaml: task #1: no", 1.0))
    check = check_exit(pair)
    assert not check.ok and "nbgov exit 2" in check.detail and "task #1" in check.detail


def test_products_differ(tmp_path):
    pair = _pair(tmp_path)
    (pair.nbgov_root / "products/a.csv").write_text("x\n2\n")
    pair.nbgov_files.add("products/extra.ipynb")
    pair.nbgov_files.add("products/a.lineage.json")  # nbgov's own: not a difference
    detail = check_products(pair).detail
    assert "only nbgov wrote ['products/extra.ipynb']" in detail and "products/a.csv differs" in detail


def test_noop_that_reruns_fails(tmp_path):
    rerun = Run(0, json.dumps({"tasks": [{"task": "get", "outcome": "ran"}, {"task": "clean", "outcome": "skipped"}]}),
                "", 1.0)
    assert not check_noop(_pair(tmp_path, nbgov_again=rerun)).ok

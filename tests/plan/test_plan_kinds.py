"""Function tasks through the plan: status, the server payload and lineage name the module and
the function (there is no notebook to open), answered without Ploomber. The plan and the
lineage records are written by nbgov's own functions on real files (unit level: the build of
function tasks is covered by the parity suite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbgov.adapters.ploomber import TaskInfo
from nbgov.core.config import load_config
from nbgov.core.digest import file_digest
from nbgov.core.lineage import LineageRecord, write_record
from nbgov.services.pipeline.plan import source_version, write_plan

from .conftest import make_functions


@pytest.fixture
def functions(tmp_path: Path, monkeypatch) -> tuple[Path, list[TaskInfo]]:
    root = make_functions(tmp_path / "f")
    monkeypatch.chdir(root)
    (root / "products").mkdir()
    (root / "products/raw.csv").write_text("0\n1\n")
    (root / "products/double.csv").write_text("0\n2\n")
    module = root / "tasks/raw.py"
    infos = [
        TaskInfo("get", module, {"nb": root / "products/raw.csv"}, {"n": 5}, [], kind="function",
                 source_file=module, function="tasks.raw.get",
                 record=root / "products/get.lineage.json"),
        TaskInfo("double", module, {"nb": root / "products/double.csv"}, {}, ["get"],
                 kind="function", source_file=module, function="tasks.raw.double",
                 record=root / "products/double.lineage.json"),
    ]
    write_plan(load_config(root), infos)
    for i, info in enumerate(infos):
        product = info.products["nb"]
        inputs = [{"path": "products/raw.csv", "digest": file_digest(root / "products/raw.csv"),
                   "task": "get", "key": "nb"}] if info.upstream else []
        write_record(LineageRecord(
            task=info.name,
            notebook={"path": "tasks/raw.py", "version": source_version(info),
                      "review_status": "unreviewed"},
            params=info.params, upstream=[{"task": "get", "run_id": "a" * 32}] if i else [],
            inputs=inputs,
            products={"nb": {"path": f"products/{product.name}", "digest": file_digest(product),
                             "bytes": product.stat().st_size}},
            git={}, environment={}, started=None, ended=None, duration_s=0.1,
            outcome="succeeded", run_id=("a" if i == 0 else "b") * 32), info.record)
    return root, infos


def test_status_of_function_tasks_from_the_plan(functions):
    from nbgov.services.build.fastpath import fresh_records
    from nbgov.services.build.status import pipeline_state

    root, _ = functions
    config = load_config(root)
    assert fresh_records(config) is not None  # every task fresh: a no-op build
    state = pipeline_state(config)
    assert state["plan"] == "current"
    assert [(t["name"], t["kind"], t["source"], t["function"], t["state"]) for t in state["tasks"]] == [
        ("get", "function", "tasks/raw.py", "tasks.raw.get", "up-to-date"),
        ("double", "function", "tasks/raw.py", "tasks.raw.double", "up-to-date")]
    # the module changes: both are outdated (and the plan no longer holds)
    (root / "tasks/raw.py").write_text((root / "tasks/raw.py").read_text() + "\n# edit\n")
    assert fresh_records(config) is None
    served = pipeline_state(config, load=False)
    assert served["plan"] == "stale"
    assert {t["state"] for t in served["tasks"]} == {"outdated"}


def test_lineage_names_the_function(functions):
    from nbgov.core.lineage_graph import headline
    from nbgov.services.lineage.query import lineage

    root, _ = functions
    payload = lineage(load_config(root), "double")
    node = payload["nodes"][payload["roots"][0]]
    assert (node["task_kind"], node["function"]) == ("function", "tasks.raw.double")
    assert "tasks/raw.py (tasks.raw.double)" in headline(node)
    payload = lineage(load_config(root), "products/raw.csv")
    assert payload["nodes"][payload["roots"][0]]["function"] == "tasks.raw.get"


def test_the_badge_names_the_task_of_a_module(functions):
    from nbgov.services.build.status import task_for_notebook

    root, _ = functions
    assert task_for_notebook(load_config(root), "tasks/raw.py") == "get"


def test_an_input_task_never_runs_and_needs_no_record(functions):
    from nbgov.services.build.fastpath import fresh_records
    from nbgov.services.build.status import pipeline_state

    root, infos = functions
    (root / "data").mkdir()
    (root / "data/seed.csv").write_text("1\n")
    seed = TaskInfo("seed", root / "pipeline.yaml", {"nb": root / "data/seed.csv"}, {}, [],
                    kind="input", record=root / "data/seed.lineage.json")
    config = load_config(root)
    write_plan(config, [seed, *infos])
    assert fresh_records(config) is not None
    state = pipeline_state(config)
    assert state["hints"] == [] and state["tasks"][0]["state"] == "up-to-date"
    (root / "data/seed.csv").unlink()
    assert fresh_records(config) is None

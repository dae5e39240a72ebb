"""A project of py:percent scripts, a grid with ``[[...]]`` names and ``{{stage}}`` in product
paths, built with the real CLI: the no-op build, status, the server's pipeline payload and
lineage answer from the plan, without Ploomber."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import SCRIPT_FIT, run

pytestmark = pytest.mark.integration

GRID = ["load", "fit-0.1", "fit-0.5"]


def _in_process(root: Path, call: str) -> dict:
    """Run ``call`` (an expression over ``config``) in a fresh interpreter; its JSON result and
    whether Ploomber got imported."""
    code = (
        "import json, sys\n"
        "from nbgov.core.config import load_config\n"
        "from nbgov.services.build.status import pipeline_state, served_state\n"
        "from nbgov.services.build.fastpath import noop_summary\n"
        f"config = load_config({str(root)!r})\n"
        f"value = {call}\n"
        "print(json.dumps({'value': value, 'ploomber': 'ploomber' in sys.modules}, default=str))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_the_plan_holds_rendered_grid_names_and_placeholder_paths(scripts: Path):
    plan = json.loads((scripts / ".nbgov/cache/plan.json").read_text())
    tasks = {t["name"]: t for t in plan["tasks"]}
    assert list(tasks) == GRID
    assert tasks["load"]["products"]["data"] == "products/dev/load.csv"
    assert tasks["fit-0.5"]["params"] == {"alpha": 0.5}
    assert tasks["fit-0.5"]["upstream"] == ["load"]  # extracted from the script by Ploomber


def test_noop_build_and_status_answer_without_ploomber(scripts: Path):
    noop = _in_process(scripts, "[t.outcome for t in noop_summary(config, False, None, None, "
                                "[], [], 0.0).tasks]")
    assert noop == {"value": ["skipped"] * 3, "ploomber": False}
    status = _in_process(scripts, "pipeline_state(config)")
    assert status["ploomber"] is False
    assert status["value"]["plan"] == "current"
    assert [(t["name"], t["state"]) for t in status["value"]["tasks"]] == [
        (n, "up-to-date") for n in GRID]
    started = time.perf_counter()
    proc = run(scripts, "build", "-q", "--json")
    took = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["wall_s"] < 2.0, summary  # inside the process: no Ploomber load (3+ s)
    assert {t["outcome"] for t in summary["tasks"]} == {"skipped"}
    print(f"no-op build of the scripts project: {summary['wall_s']:.3f} s in-process, "
          f"{took:.2f} s wall")


def test_an_edited_script_reloads_once_then_status_is_fast_again(scripts: Path):
    (scripts / "scripts/fit.py").write_text(SCRIPT_FIT.replace("alpha = 0.1", "alpha = 0.2"))
    first = _in_process(scripts, "pipeline_state(config)")
    assert first["ploomber"] is True and first["value"]["plan"] == "loaded"
    states = {t["name"]: t["state"] for t in first["value"]["tasks"]}
    assert states == {"load": "up-to-date", "fit-0.1": "outdated", "fit-0.5": "outdated"}
    second = _in_process(scripts, "pipeline_state(config)")
    assert second["ploomber"] is False and second["value"]["plan"] == "current"
    assert {t["name"]: t["state"] for t in second["value"]["tasks"]} == states


def test_the_server_payload_never_loads_ploomber(scripts: Path):
    served = _in_process(scripts, "served_state(config)")
    assert served["ploomber"] is False
    assert [t["name"] for t in served["value"]["tasks"]] == GRID
    # after an edit the server shows the last plan, says so, and still loads nothing
    (scripts / "pipeline.yaml").write_text((scripts / "pipeline.yaml").read_text() + "\n# edit\n")
    stale = _in_process(scripts, "served_state(config)")
    assert stale["ploomber"] is False and stale["value"]["plan"] == "stale"
    assert [t["name"] for t in stale["value"]["tasks"]] == GRID
    assert any("nbgov status" in h for h in stale["value"]["hints"])
    # without any plan: the spec as written, a hint, still no Ploomber
    (scripts / ".nbgov/cache/plan.json").unlink()
    bare = _in_process(scripts, "served_state(config)")
    assert bare["ploomber"] is False and bare["value"]["plan"] == "missing"
    assert [t["name"] for t in bare["value"]["tasks"]] == ["load", "fit-[[alpha]]"]
    assert bare["value"]["tasks"][1]["upstream"] == ["load"]  # from the script's parameters


def test_lineage_of_a_grid_task_and_of_a_placeholder_product(scripts: Path):
    proc = run(scripts, "lineage", "fit-0.5", "--json")
    assert proc.returncode == 0, proc.stderr
    graph = json.loads(proc.stdout)
    tasks = {n["task"] for n in graph["nodes"].values() if n["kind"] == "task"}
    assert tasks == {"fit-0.5", "load"}
    proc = run(scripts, "lineage", "products/dev/load.csv", "--json")
    assert proc.returncode == 0, proc.stderr
    graph = json.loads(proc.stdout)
    assert graph["target"]["path"] == "products/dev/load.csv"
    assert [graph["nodes"][k]["task"] for k in graph["roots"]] == ["load"]


def test_status_cli_lists_every_generated_task(scripts: Path):
    proc = run(scripts, "status", "--json")
    assert proc.returncode == 0, proc.stderr
    state = json.loads(proc.stdout)
    assert [(t["name"], t["source"]) for t in state["tasks"]] == [
        ("load", "scripts/load.py"), ("fit-0.1", "scripts/fit.py"), ("fit-0.5", "scripts/fit.py")]
    # py:percent files are run as notebooks ("script" once the adapter tells them apart)
    assert {t["kind"] for t in state["tasks"]} <= {"notebook", "script"}

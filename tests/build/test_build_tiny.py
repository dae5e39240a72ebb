"""nbgov build on a tiny real project: tracking, incremental runs, failures, parallel, parity."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import mlflow_runs, notebook, run_cli, write_nb

pytestmark = pytest.mark.integration


def store(root: Path) -> str:
    return f"sqlite:///{root / 'mlflow.db'}"


def task_runs(root: Path, experiment: str = "tiny") -> dict[str, list]:
    out: dict[str, list] = {}
    for run in mlflow_runs(store(root), experiment):
        if run.data.tags.get("nbgov.kind") == "task":
            out.setdefault(run.data.tags["nbgov.task"], []).append(run)
    return out


def test_build_records_each_task_as_child_run(tiny: Path):
    proc = run_cli(tiny, "build", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert [t["outcome"] for t in summary["tasks"]] == ["ran", "ran", "ran"]
    runs = mlflow_runs(store(tiny), "tiny")
    parents = [r for r in runs if r.data.tags.get("nbgov.kind") == "build"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    children = task_runs(tiny)
    assert set(children) == {"a", "b", "c"}
    a = children["a"][0]
    assert a.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
    assert a.info.status == "FINISHED"
    # params as params; a secret param (api_token) is redacted in the params and absent from the
    # params and tags (only MLflow params and tags are checked here, not the artifacts)
    assert a.data.params["x"] == "1"
    assert a.data.params["api_token"] == "***redacted***"
    assert "s3cr3t-value" not in json.dumps(a.data.params) + json.dumps(a.data.tags)
    # numeric scraps are metrics, strings tags, the rest JSON artifacts
    assert a.data.metrics["value"] == 10.0
    assert a.data.tags["scrap.label"] == "ten"
    # tags: task, notebook, version, git commit, dirty flag, review status
    commit = subprocess.run(["git", "-C", str(tiny), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    assert a.data.tags["nbgov.task"] == "a"
    assert a.data.tags["nbgov.notebook"] == "notebooks/a.ipynb"
    assert a.data.tags["nbgov.notebook_version"].startswith("nbv1:")
    assert a.data.tags["nbgov.git_commit"] == commit
    assert a.data.tags["nbgov.git_dirty"] == "False"
    assert a.data.tags["nbgov.review_status"] == "unreviewed"
    # artifacts: the executed notebook, the products, the lineage record, non-numeric scraps
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store(tiny))
    top = {f.path for f in client.list_artifacts(a.info.run_id)}
    assert {"notebook", "products", "nbgov", "scraps.json"} <= top
    assert [f.path for f in client.list_artifacts(a.info.run_id, "products")] == ["products/a.txt"]
    assert [f.path for f in client.list_artifacts(a.info.run_id, "notebook")] == ["notebook/a.ipynb"]
    b = children["b"][0]
    assert b.data.metrics["b_value"] == 11.0
    # b's lineage record points at a's run and a's product digest
    record = json.loads((tiny / "products/b.lineage.json").read_text())
    assert [(u["task"], u["run_id"]) for u in record["upstream"]] == [("a", a.info.run_id)]
    assert record["run_key"] == b.data.tags["nbgov.run_key"]  # the key a re-sent run is found by
    assert record["inputs"][0]["path"] == "products/a.txt"
    assert record["inputs"][0]["digest"].startswith("sha256:")


def test_noop_rebuild_then_edit_reruns_downstream(tiny: Path):
    assert run_cli(tiny, "build", "-q").returncode == 0
    proc = run_cli(tiny, "build", "--json")
    assert proc.returncode == 0, proc.stderr
    outcomes = {t["task"]: t for t in json.loads(proc.stdout)["tasks"]}
    assert {n: t["outcome"] for n, t in outcomes.items()} == {"a": "skipped", "b": "skipped", "c": "skipped"}
    # skipped tasks point at the run that produced their products
    assert outcomes["a"]["run_id"] == task_runs(tiny)["a"][0].info.run_id
    # edit a so that its output changes: a and its downstream b re-run, c does not
    nb = json.loads((tiny / "notebooks/a.ipynb").read_text())
    nb["cells"][2]["source"] = nb["cells"][2]["source"].replace("str(x * 10)", "str(x * 10 + 1)")
    (tiny / "notebooks/a.ipynb").write_text(json.dumps(nb))
    proc = run_cli(tiny, "build", "--json")
    assert proc.returncode == 0, proc.stderr
    assert {t["task"]: t["outcome"] for t in json.loads(proc.stdout)["tasks"]} == {
        "a": "ran", "b": "ran", "c": "skipped"}
    assert (tiny / "products/b.txt").read_text() == "12"
    assert len(task_runs(tiny)["a"]) == 2 and len(task_runs(tiny)["c"]) == 1
    assert task_runs(tiny)["a"][-1].data.tags["nbgov.git_dirty"] == "True"


def test_param_override_and_selection(tiny: Path):
    assert run_cli(tiny, "build", "-q").returncode == 0
    proc = run_cli(tiny, "build", "--json", "-p", "a.x=3", "a+")
    assert proc.returncode == 0, proc.stderr
    assert {t["task"]: t["outcome"] for t in json.loads(proc.stdout)["tasks"]} == {"a": "ran", "b": "ran"}
    assert (tiny / "products/b.txt").read_text() == "31"
    assert task_runs(tiny)["a"][-1].data.params["x"] == "3"
    # one task alone, forced
    proc = run_cli(tiny, "build", "--json", "--force", "c")
    assert [t["outcome"] for t in json.loads(proc.stdout)["tasks"]] == ["ran"], proc.stdout + proc.stderr


def test_failing_task(tiny: Path):
    write_nb(tiny / "notebooks/a.ipynb", notebook(
        "upstream = None\nproduct = None\nx = 0\napi_token = ''",
        "from pathlib import Path\nPath(product['data']).parent.mkdir(parents=True, exist_ok=True)",
        "x / 0"))
    proc = run_cli(tiny, "build", "--json")
    assert proc.returncode == 1
    outcomes = {t["task"]: t for t in json.loads(proc.stdout)["tasks"]}
    assert outcomes["a"]["outcome"] == "failed"
    assert outcomes["b"]["outcome"] == "not-run"  # downstream does not run
    assert "Traceback" not in proc.stderr
    failed = task_runs(tiny)["a"][0]
    assert failed.info.status == "FAILED"
    assert failed.data.tags["nbgov.error"] == "cell 2: ZeroDivisionError: division by zero"
    assert "b" not in task_runs(tiny)
    # the partially executed notebook is kept and logged
    assert (tiny / "products/a.ipynb").is_file()
    from mlflow.tracking import MlflowClient

    arts = [f.path for f in MlflowClient(tracking_uri=store(tiny)).list_artifacts(failed.info.run_id, "notebook")]
    assert arts == ["notebook/a.ipynb"]
    parent = [r for r in mlflow_runs(store(tiny), "tiny") if r.data.tags.get("nbgov.kind") == "build"][0]
    assert parent.info.status == "FAILED"
    # the next build re-runs the failed task
    status = json.loads(run_cli(tiny, "status", "--json").stdout)
    assert {t["name"]: t["state"] for t in status["tasks"]}["a"] == "failed"
    proc = run_cli(tiny, "build", "--json")
    assert {t["task"]: t["outcome"] for t in json.loads(proc.stdout)["tasks"]}["a"] == "failed"
    assert len(task_runs(tiny)["a"]) == 2


def _kernels(root: Path) -> set[int]:
    """Kernel processes running in ``root`` (other jobs on the machine may run kernels too)."""
    out = subprocess.run(["pgrep", "-f", "ipykernel_launcher"], capture_output=True, text=True).stdout
    mine = set()
    for pid in map(int, out.split()):
        try:
            cwd = Path(f"/proc/{pid}/cwd").resolve()
        except OSError:
            continue
        if cwd == root or root in cwd.parents:
            mine.add(pid)
    return mine


@pytest.mark.parametrize("cell, error", [
    ("import time\ntime.sleep(60)", "Timeout"),
    ("import os\nos._exit(1)", "DeadKernel"),
])
def test_timeout_and_dead_kernel_are_failures(tiny: Path, cell: str, error: str):
    (tiny / "nbgov.toml").write_text('experiment = "tiny"\n[execution]\ncell_timeout = 3\n')
    write_nb(tiny / "notebooks/c.ipynb", notebook("upstream = None\nproduct = None", cell))
    started = time.monotonic()
    proc = run_cli(tiny, "build", "--json", "c")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert time.monotonic() - started < 45
    assert json.loads(proc.stdout)["tasks"][0]["outcome"] == "failed"
    run = task_runs(tiny)["c"][0]
    assert run.info.status == "FAILED"
    assert error.lower() in run.data.tags["nbgov.error"].lower().replace(" ", "")
    time.sleep(0.5)
    assert _kernels(tiny.resolve()) == set(), "a kernel process was left behind"


def test_parallel_build_on_fresh_store(tiny: Path):
    assert not (tiny / "mlflow.db").exists()
    proc = run_cli(tiny, "build", "--json", "-j", "2")
    assert proc.returncode == 0, proc.stderr
    assert [t["outcome"] for t in json.loads(proc.stdout)["tasks"]] == ["ran", "ran", "ran"]
    runs = task_runs(tiny)
    assert {n: len(r) for n, r in runs.items()} == {"a": 1, "b": 1, "c": 1}
    assert all(r[0].info.status == "FINISHED" for r in runs.values())
    # the text summary is the only thing on stdout (no "Remaining: ..." chatter per poll)
    again = run_cli(tiny, "build", "-j", "2", "--force")
    assert again.returncode == 0, again.stderr
    assert "Remaining" not in again.stdout and "Finished" not in again.stdout, again.stdout
    assert again.stdout.startswith("task "), again.stdout


def test_ploomber_build_with_hooks_records_the_same(tiny: Path, tmp_path: Path):
    # nbgov build in one copy, ploomber build in another: same tags, params and metrics
    assert run_cli(tiny, "build", "-q").returncode == 0
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(tiny), str(other)], check=True)
    env = {"PLOOMBER_STATS_ENABLED": "false"}
    import os

    proc = subprocess.run([str(Path(sys.executable).parent / "ploomber"), "build"], cwd=other, capture_output=True,
                          text=True, env={k: v for k, v in {**os.environ, **env}.items() if k != "MLFLOW_TRACKING_URI"},
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    ours, theirs = task_runs(tiny), task_runs(other)
    assert set(ours) == set(theirs) == {"a", "b", "c"}
    volatile = {"nbgov.build_id", "nbgov.runner", "nbgov.run_key", "mlflow.parentRunId", "mlflow.runName",
                "mlflow.user", "mlflow.source.name", "mlflow.source.type", "mlflow.source.git.commit"}
    for name in ours:
        a, b = ours[name][0], theirs[name][0]
        assert b.data.tags["nbgov.runner"] == "ploomber build"
        assert {k: v for k, v in a.data.tags.items() if k not in volatile} == \
               {k: v for k, v in b.data.tags.items() if k not in volatile}
        assert a.data.params == b.data.params
        assert a.data.metrics == b.data.metrics
    assert (other / "products/b.lineage.json").is_file()


def test_ploomber_build_applies_the_environment_gate(tiny: Path):
    import os

    (tiny / "nbgov.toml").write_text('experiment = "tiny"\n[environments.prod]\nrequire_approved = true\n')
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update({"PLOOMBER_STATS_ENABLED": "false", "NBGOV_ENV": "prod"})
    ploomber = str(Path(sys.executable).parent / "ploomber")
    # status renders the DAG too, but is never gated
    assert subprocess.run([ploomber, "status"], cwd=tiny, capture_output=True, text=True, env=env,
                          timeout=300).returncode == 0
    proc = subprocess.run([ploomber, "build"], cwd=tiny, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode != 0
    assert "notebooks/a.ipynb: unreviewed" in proc.stderr
    assert not (tiny / "products/a.txt").exists()  # refused before anything ran

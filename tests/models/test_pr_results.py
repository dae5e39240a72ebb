"""``nbgov review pr``: what the change did to the results, from a real tracking store.

The session's built example (a real ``nbgov build`` at the base commit) is copied; a branch
edits evaluate.ipynb, and task runs for evaluate at the head commit are written into the
same SQLite store (as a build on the branch would tag them: ``nbgov.task``,
``nbgov.git_commit``) with an f1 below the ``[promote]`` threshold. register, downstream of
evaluate, has no run at the head.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.conftest import BuiltExample, copy_built_example, run_nbgov


@pytest.fixture(scope="module")
def branch(built_example: BuiltExample, tmp_path_factory) -> Path:
    root = copy_built_example(built_example, tmp_path_factory.mktemp("results") / "example")
    git = ["git", "-C", str(root), "-c", "user.name=Ada Author", "-c", "user.email=ada@example.com"]
    subprocess.run([*git, "checkout", "-qb", "pr"], check=True)
    path = root / "notebooks" / "evaluate.ipynb"
    nb = json.loads(path.read_text())
    nb["cells"].append({"cell_type": "code", "id": "tweak", "metadata": {}, "outputs": [], "execution_count": None,
                        "source": ["# a tweak"]})
    path.write_text(json.dumps(nb, indent=1))
    subprocess.run([*git, "commit", "-qam", "tweak evaluate"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    from mlflow.tracking import MlflowClient

    from nbgov.adapters.notebooks import task_source_version

    client = MlflowClient(built_example.store.replace(str(built_example.root), str(root)))
    exp = client.get_experiment_by_name("nbgov-example")
    version = task_source_version(path)
    run = client.create_run(exp.experiment_id, tags={"nbgov.kind": "task", "nbgov.task": "evaluate",
                                                     "nbgov.git_commit": head, "nbgov.git_dirty": "False",
                                                     "nbgov.notebook_version": version})
    client.log_metric(run.info.run_id, "f1", 0.5)
    client.set_terminated(run.info.run_id)
    # G: newer runs tagged with the head commit but of another source version (an older run's
    # version, or code merged in from elsewhere) are not the head's result
    for task, f1 in (("evaluate", 0.99), ("register", 0.42)):
        other = client.create_run(exp.experiment_id, tags={
            "nbgov.kind": "task", "nbgov.task": task, "nbgov.git_commit": head, "nbgov.git_dirty": "False",
            "nbgov.notebook_version": "nbv1:" + "0" * 64})
        client.log_metric(other.info.run_id, "f1", f1)
        client.set_terminated(other.info.run_id)
    return root


def test_results_compare_base_and_head_runs(branch: Path) -> None:
    proc = run_nbgov(branch, "review", "pr", "--base", "main", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    results = report["results"]
    tasks = {t["task"]: t for t in results["tasks"]}
    assert list(tasks) == ["evaluate", "register"]
    assert tasks["evaluate"]["why"] == "notebooks/evaluate.ipynb changed"
    assert tasks["register"]["why"] == "downstream of evaluate"
    f1 = next(m for m in tasks["evaluate"]["metrics"] if m["name"] == "f1")
    assert f1["head"] == 0.5 and f1["base"] > 0.9
    assert f1["delta"] == pytest.approx(0.5 - f1["base"])
    assert f1["fails"] == ["f1 >= 0.9"] and f1["failed_at_base"] is False
    assert tasks["evaluate"]["note"] is None
    assert tasks["register"]["head_run"] is None and tasks["register"]["base_run"] is not None
    assert tasks["register"]["note"] == "no run at head for this version: run `nbgov build` on the branch"
    assert tasks["evaluate"]["head_run"]["commit"] == report["head"]["commit"]
    assert [m["via"] for m in results["models"]] == ["register"]
    assert results["models"][0]["name"] == "nbgov-example-classifier"

    from nbgov.services.review.pr_render import render_markdown

    md = render_markdown(report)  # the same JSON as the CLI's Markdown (a second run costs MLflow's import)
    assert "### What the change did to the results" in md
    assert "⚠️ f1 &gt;= 0.9" in md or "⚠️ f1 >= 0.9" in md
    assert "no run at head for this version: run \\`nbgov build\\` on the branch" in md
    assert f"head `{report['head']['commit'][:10]}`" in md  # the commit of each run is named


def test_a_store_the_branch_wrote_is_not_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """H: a tracking store committed in the repository and changed by the branch, or a
    tracking_uri the branch changed, gives no result and is named as a trust change."""
    from nbgov.core.config import load_config
    from nbgov.services.models import impact

    root = tmp_path
    git = ["git", "-C", str(root), "-c", "user.name=Ada", "-c", "user.email=ada@example.com", "-c",
           "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-qb", "main"], check=True)
    (root / "nbgov.toml").write_text('experiment = "e"\n')
    (root / "mlflow.db").write_bytes(b"base runs")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)

    def sha() -> str:
        return subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    base = sha()
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(impact, "affected_tasks", lambda config, report: {"train": "notebooks/train.ipynb changed"})

    def section(report_head: str) -> tuple[dict, dict]:
        report = {"base": {"commit": base}, "head": {"commit": report_head}, "targets": [], "trust_changes": []}
        return impact.results(load_config(root), report), report

    (root / "mlflow.db").write_bytes(b"forged runs: f1 = 1.0")
    subprocess.run([*git, "commit", "-qam", "forge"], check=True)
    res, report = section(sha())
    assert res["tasks"] == [] and "cannot be trusted" in res["notes"][0] and "mlflow.db" in res["untrusted"]
    assert report["trust_changes"] == ["mlflow.db"]

    subprocess.run([*git, "reset", "-q", "--hard", base], check=True)
    (root / "nbgov.toml").write_text('experiment = "e"\ntracking_uri = "sqlite:///branch.db"\n')
    subprocess.run([*git, "commit", "-qam", "own store"], check=True)
    res, report = section(sha())
    assert res["tasks"] == [] and report["trust_changes"] == ["nbgov.toml"]

    from nbgov.services.models.store_trust import untrusted_store

    subprocess.run([*git, "reset", "-q", "--hard", base], check=True)
    (root / "other.txt").write_text("x")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "unrelated"], check=True)
    assert untrusted_store(load_config(root), {"base": {"commit": base}, "head": {"commit": sha()}}) is None

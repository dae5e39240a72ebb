"""Content-aware incremental builds on a tiny real project (a -> b, c): a task whose inputs have
the same content is not re-run because an upstream re-ran, and a task whose input content changed
is re-run although no timestamp Ploomber looks at moved."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.build.conftest import make_tiny, mlflow_runs, run_cli

from nbgov.core.digest import file_digest

pytestmark = pytest.mark.integration


def build(root: Path, *args: str) -> dict[str, str]:
    proc = run_cli(root, "build", "--json", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {t["task"]: t["outcome"] for t in json.loads(proc.stdout)["tasks"]}


def states(root: Path) -> dict[str, str]:
    proc = run_cli(root, "status", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {t["name"]: t["state"] for t in json.loads(proc.stdout)["tasks"]}


def task_runs(root: Path, task: str) -> list:
    return [
        r
        for r in mlflow_runs(f"sqlite:///{root / 'mlflow.db'}", "tiny")
        if r.data.tags.get("nbgov.task") == task
    ]


def test_upstream_rerun_with_same_bytes_does_not_rerun_downstream(git_repo: Path):
    root = make_tiny(git_repo)
    assert build(root) == {"a": "ran", "b": "ran", "c": "ran"}
    b_record = json.loads((root / "products/b.lineage.json").read_text())
    assert build(root, "--force", "a") == {"a": "ran"}  # writes the same bytes again
    # Ploomber alone would call b outdated (its upstream's timestamp is newer); nbgov status
    # gives the content verdict the next build reaches
    assert states(root)["b"] == "up-to-date"
    assert build(root, "b") == {"b": "skipped"}  # a selected build checks content too
    assert build(root) == {"a": "skipped", "b": "skipped", "c": "skipped"}
    assert len(task_runs(root, "b")) == 1
    # b still points at the run that produced its products, and Ploomber agrees it is current now
    assert (
        json.loads((root / "products/b.lineage.json").read_text())["run_id"] == b_record["run_id"]
    )
    assert states(root)["b"] == "up-to-date"


def test_changed_input_content_reruns_downstream_without_a_timestamp_change(git_repo: Path):
    """A product changed behind nbgov's back (same size, mtime put back: Ploomber sees nothing)
    is caught by content: its producer is outdated (no recorded run wrote those bytes) and so is
    everything reading it; the next build makes the product again from its task, and what reads
    it runs only if the content it reads changed."""
    root = make_tiny(git_repo)
    assert build(root) == {"a": "ran", "b": "ran", "c": "ran"}
    data = root / "products/a.txt"
    stat = data.stat()
    data.write_text("70")  # same size, other content, mtime put back
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert states(root)["a"] == "outdated" and states(root)["b"] == "outdated"
    assert build(root) == {"a": "ran", "b": "skipped", "c": "skipped"}  # a wrote "10" again
    assert data.read_text() == "10" and (root / "products/b.txt").read_text() == "11"
    record = json.loads((root / "products/b.lineage.json").read_text())
    assert record["inputs"][0]["digest"] == file_digest(data)
    assert len(task_runs(root, "b")) == 1 and len(task_runs(root, "a")) == 2

"""``{{git_hash}}`` in a product path, through the real CLI: lineage resolves the rendered path,
the no-op build answers from a plan keyed on the commit, and a new commit invalidates it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .conftest import SCRIPT_LOAD, git_init, run

pytestmark = pytest.mark.integration


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          check=True).stdout.strip()

SPEC = """\
tasks:
  - source: scripts/load.py
    name: load
    product:
      nb: products/{{git_hash}}/load.ipynb
      data: products/{{git_hash}}/load.csv
"""


def test_a_git_hash_product_path(tmp_path: Path):
    root = tmp_path / "g"
    (root / "scripts").mkdir(parents=True)
    (root / "scripts/load.py").write_text(SCRIPT_LOAD)
    (root / "pipeline.yaml").write_text(SPEC)
    (root / ".gitignore").write_text("products/\nmlflow.db\nmlruns/\n.nbgov/\n")
    git_init(root)
    # the command Ploomber renders {{git_hash}} with (ploomber/repo.py), so ``head`` is the
    # value Ploomber itself would give now, whatever state the checkout is in
    head = git(root, "describe", "--tags", "--always", "--dirty=-dirty")
    proc = run(root, "build", "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    product = f"products/{head}/load.csv"
    wrote = sorted(str(p.relative_to(root)) for p in (root / "products").rglob("*"))
    assert (root / product).is_file(), (
        f"expected {product}; the build wrote {wrote}; git status: {git(root, 'status', '--porcelain')!r}; "
        f"describe now: {git(root, 'describe', '--tags', '--always', '--dirty=-dirty')}")
    plan = json.loads((root / ".nbgov/cache/plan.json").read_text())
    assert plan["placeholders"]["git_hash"] == head
    proc = run(root, "lineage", product, "--json")
    assert proc.returncode == 0, proc.stderr
    graph = json.loads(proc.stdout)
    assert [graph["nodes"][k]["task"] for k in graph["roots"]] == ["load"]
    proc = run(root, "build", "-q", "--json")
    assert json.loads(proc.stdout)["wall_s"] < 2.0  # the plan holds: no Ploomber (3+ s)
    # a new commit renders another product path: the plan no longer holds, the task must run
    (root / "notes.md").write_text("x")
    subprocess.run(["git", "-C", str(root), "add", "notes.md"], check=True)
    subprocess.run(["git", "-C", str(root), "commit", "-qm", "notes"], check=True)
    state = json.loads(run(root, "status", "--json").stdout)
    assert state["plan"] == "loaded"
    assert state["tasks"][0]["state"] == "never-run"
    assert state["tasks"][0]["products"]["data"] != product

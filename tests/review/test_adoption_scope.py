"""Adopting nbgov by the guide leaves no traps (issue 29): what review covers by default, a
`[review] paths` naming a missing folder, messages that name the kind of target, and a
`.nbgov/` whose `git add` commits only what a team shares."""

from __future__ import annotations

import shutil
import subprocess

from nbgov.core.config import load_config
from nbgov.core.localfiles import MACHINE_LOCAL, ignore_in_project
from nbgov.services.review.discovery import discover_notebooks

PIPELINE = """\
tasks:
  - source: notebooks/train.ipynb
    product: {nb: products/train.ipynb}
  - source: tasks/raw.py
    class: PythonCallable
    product: products/raw.csv
"""


def _with_pipeline(project, fixture_nb):
    (project / "pipeline.yaml").write_text(PIPELINE.replace("tasks/raw.py", "tasks.raw.get"))
    (project / "tasks").mkdir()
    (project / "tasks" / "__init__.py").write_text("")
    (project / "tasks" / "raw.py").write_text("def get(product):\n    pass\n")
    shutil.copy(fixture_nb("train.ipynb"), project / "README.ipynb")
    return project


def test_default_review_scope_is_the_pipelines_task_sources(project, fixture_nb):
    root = _with_pipeline(project, fixture_nb)
    # README.ipynb is no task: not a review target (the spec is: the review closure); the
    # package tasks/ at the root is importable by name from the kernel's folder (R4)
    assert discover_notebooks(load_config(root)) == ["notebooks/train.ipynb", "pipeline.yaml", "tasks/__init__.py",
                                                     "tasks/raw.py"]


def test_missing_review_paths_folder_points_to_the_config(project, nbgov):
    (project / "nbgov.toml").write_text('[review]\npaths = ["notebooks", "analysis"]\n')
    result = nbgov("review", "status")
    assert result.code == 2 and "Traceback" not in result.err
    assert "nbgov.toml" in result.err and "[review] paths: analysis does not exist" in result.err


def test_gate_names_the_kind_of_target(project, nbgov, fixture_nb):
    _with_pipeline(project, fixture_nb)
    gate = nbgov("review", "gate")
    assert gate.code == 1
    assert "2 modules, 1 notebook and 1 spec file not approved" in gate.err
    assert "notebook(s)" not in gate.err


def test_nbgov_folder_ignores_what_is_machine_local(project, git, nbgov):
    # the first review writes .nbgov/ (ledger, lock, .gitignore)
    assert nbgov("review", "comment", "notebooks/train.ipynb", "-m", "first look").code == 0
    nbgov_dir = project / ".nbgov"
    for rel in ("journal/b.jsonl", "lineage/t.lineage.json", "cache/plan.json", "build.lock",
                "cluster-last.json", "reviews.jsonl", "snapshots/abc.ipynb", "allowed_signers"):
        (nbgov_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (nbgov_dir / rel).write_text("x\n")
    git("add", ".nbgov")
    staged = subprocess.run(["git", "-C", str(project), "diff", "--cached", "--name-only"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert sorted(staged) == [".nbgov/.gitignore", ".nbgov/allowed_signers", ".nbgov/reviews.jsonl",
                              ".nbgov/snapshots/abc.ipynb"]


def test_an_older_gitignore_gets_the_missing_lines(project):
    nbgov_dir = project / ".nbgov"
    nbgov_dir.mkdir()
    (nbgov_dir / ".gitignore").write_text("*.lock\n.*.tmp\n")  # what an older nbgov wrote
    ignore_in_project(project)
    lines = (nbgov_dir / ".gitignore").read_text().splitlines()
    assert lines[:2] == ["*.lock", ".*.tmp"] and set(MACHINE_LOCAL) <= set(lines)
    ignore_in_project(project)
    assert (nbgov_dir / ".gitignore").read_text().splitlines() == lines


def test_messages_name_the_kind_of_target(project, nbgov):
    """A missing module or script is a "file", not a "notebook" (issue 29); a path outside the
    project is a path."""
    missing = nbgov("review", "status", "tasks/nope.py")
    assert missing.code == 2 and "file not found" in missing.err and "notebook" not in missing.err
    sql = nbgov("review", "approve", "queries/nope.sql", "-m", "x")
    assert sql.code == 2 and "SQL file not found" in sql.err, sql.err
    outside = nbgov("review", "status", "../elsewhere.ipynb")
    assert outside.code == 2 and "path is outside the project" in outside.err
    for command in ("approve", "request-changes", "comment"):
        usage = nbgov("review", command, "--help").out
        assert "[PATHS]..." in usage and "NOTEBOOKS" not in usage, usage


def test_the_other_specs_are_reviewed_too(project, fixture_nb, nbgov):
    """`pipeline.serve.yaml` next to pipeline.yaml (built with `nbgov build -e`): its tasks,
    the spec and its env file are review targets of `review status`/`gate` from the start (not
    only after a build of it), while a build's gate asks only for its own spec's."""
    from nbgov.services.review.targets import review_targets

    root = _with_pipeline(project, fixture_nb)
    shutil.copy(fixture_nb("train.ipynb"), root / "notebooks" / "serve.ipynb")
    (root / "pipeline.serve.yaml").write_text("tasks:\n  - source: notebooks/serve.ipynb\n"
                                              "    product: {nb: products/serve.ipynb}\n")
    (root / "env.serve.yaml").write_text("split: serve\n")
    config = load_config(root)
    assert discover_notebooks(config) == ["env.serve.yaml", "notebooks/serve.ipynb", "notebooks/train.ipynb",
                                          "pipeline.serve.yaml", "pipeline.yaml", "tasks/__init__.py",
                                          "tasks/raw.py"]
    gate = nbgov("review", "gate")
    assert "2 notebooks, 2 spec files, 2 modules and 1 env file not approved" in gate.err, gate.err
    build_gate = [t.path for t in review_targets(config, [root / "notebooks" / "train.ipynb"])]
    # the root's package tasks/ is importable by the notebook's kernel whichever task runs (R4)
    assert build_gate == ["notebooks/train.ipynb", "pipeline.yaml", "tasks/__init__.py", "tasks/raw.py"]


def test_an_env_file_is_an_env_file_and_reaches_every_task(tmp_path):
    """env.yaml is named "env file" (not "spec file"), and a PR that changes it affects every
    task, as a spec change does (review pr's results)."""
    from nbgov.core.targets import count, kind_of
    from nbgov.services.models.impact import affected_tasks

    assert [kind_of(p) for p in ("env.yaml", "env.serve.yml", "pipeline.serve.yaml")] == [
        "env file", "env file", "spec file"]
    assert count(["env file", "env file", "notebook"]) == "2 env files and 1 notebook"
    (tmp_path / "pipeline.yaml").write_text(
        "tasks:\n  - source: tasks.a\n    product: out/a.csv\n"
        "  - source: tasks.b\n    product: out/b.csv\n    upstream: [a]\n")
    (tmp_path / "nbgov.toml").write_text("")
    report = {"targets": [{"path": "env.yaml", "kind": "env file", "trust": False, "old_path": None}]}
    assert affected_tasks(load_config(tmp_path), report) == {"a": "env.yaml changed", "b": "env.yaml changed"}

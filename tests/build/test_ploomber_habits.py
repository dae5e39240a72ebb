"""Ploomber's habits under `nbgov build` (issue 29): `-e/--entry-point` selects a spec file as
in `ploomber build`; nbgov's environment is `--environment` (the old `-e NAME` still works for
a declared environment, with a note); a task's `on_render` hook runs once, its print shown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import run_cli

TASKS = '''\
from pathlib import Path


def write(product, text):
    Path(str(product)).parent.mkdir(parents=True, exist_ok=True)
    Path(str(product)).write_text(text)
'''

HOOKS = '''\
def announce():
    print("on_render: announced")
    with open("renders.log", "a") as f:
        f.write("render\\n")
'''


@pytest.fixture
def two_specs(git_repo: Path) -> Path:
    root = git_repo
    (root / "tasks.py").write_text(TASKS)
    (root / "hooks.py").write_text(HOOKS)
    (root / "pipeline.yaml").write_text(
        "tasks:\n  - source: tasks.write\n    name: train\n    product: products/train.txt\n"
        "    params: {text: train}\n")
    (root / "pipeline.serve.yaml").write_text(
        "tasks:\n  - source: tasks.write\n    name: serve\n    product: products/serve.txt\n"
        "    params: {text: serve}\n    on_render: hooks.announce\n")
    (root / "nbgov.toml").write_text('experiment = "habits"\n\n[environments.prod]\nrequire_approved = false\n')
    (root / ".gitignore").write_text("products/\nmlflow.db\nmlruns/\nrenders.log\n")
    return root


def test_entry_point_builds_that_spec_and_on_render_runs_once(two_specs):
    proc = run_cli(two_specs, "build", "-e", "pipeline.serve.yaml")
    assert proc.returncode == 0, proc.stderr
    assert (two_specs / "products" / "serve.txt").read_text() == "serve"
    assert not (two_specs / "products" / "train.txt").exists()
    # once, as under `ploomber build` (nbgov rendered twice: to describe, then to build)
    assert (two_specs / "renders.log").read_text() == "render\n"
    assert "on_render: announced" in proc.stdout
    status = run_cli(two_specs, "status", "--entry-point", "pipeline.serve.yaml")
    assert status.returncode == 0, status.stderr
    assert "serve" in status.stdout and "train" not in status.stdout


def test_entry_point_errors_and_the_old_environment_spelling(two_specs):
    missing = run_cli(two_specs, "build", "-e", "pipeline.nosuch.yaml")
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert "no such spec file" in missing.stderr and "--environment" in missing.stderr
    dotted = run_cli(two_specs, "build", "-e", "my_pkg.make_dag")
    assert dotted.returncode != 0 and "location: my_pkg.make_dag" in dotted.stderr
    old = run_cli(two_specs, "build", "-e", "prod", "-q")
    assert old.returncode == 0, old.stderr
    assert "deprecated" in old.stderr and "--environment prod" in old.stderr
    assert (two_specs / "products" / "train.txt").read_text() == "train"
    new = run_cli(two_specs, "build", "--environment", "prod", "-q")
    assert new.returncode == 0 and "deprecated" not in new.stderr


FACTORY = '''\
from ploomber import DAG
from ploomber.products import File
from ploomber.tasks import PythonCallable

from nbgov import hooks
from pkg import tasks


def make_dag():
    dag = DAG()
    PythonCallable(tasks.write, File("products/a.txt"), dag, name="a", params={"text": "a"})
    # Ploomber allows no key next to `location:`: the hooks are set here
    dag.on_render, dag.on_finish, dag.on_failure = hooks.on_render, hooks.on_finish, hooks.on_failure
    return dag
'''


def test_location_spec_under_ploomber_build_with_the_hooks(git_repo: Path):
    root = git_repo
    (root / "pkg").mkdir()
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "tasks.py").write_text(TASKS)
    (root / "pkg" / "dag.py").write_text(FACTORY)
    (root / "pipeline.yaml").write_text("location: pkg.dag.make_dag\n")
    (root / "nbgov.toml").write_text('experiment = "factory"\n')
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(PLOOMBER_STATS_ENABLED="false", PLOOMBER_VERSION_CHECK_DISABLED="true")
    ploomber = subprocess.run([str(Path(sys.executable).parent / "ploomber"), "build"], cwd=root,
                              capture_output=True, text=True, env=env, timeout=600)
    assert ploomber.returncode == 0, ploomber.stderr[-2000:]
    status = run_cli(root, "status", "--json")
    assert status.returncode == 0, status.stderr
    (task,) = json.loads(status.stdout)["tasks"]
    assert task["name"] == "a" and task["state"] == "up-to-date" and task["last_run"]["run_id"]
    check = run_cli(root, "check")
    assert check.returncode == 0, check.stdout + check.stderr  # no NBG601 for a `location:` spec


EVERY_HOOK = '''\
def log(what):
    with open("hooks.log", "a") as f:
        f.write(what + "\\n")
    print(f"hook: {what}")


def dag_render():
    log("dag on_render")


def dag_finish():
    log("dag on_finish")


def task_render():
    log("task on_render")


def task_finish():
    log("task on_finish")
'''


def test_every_hook_runs_once_and_prints_as_under_ploomber(git_repo: Path):
    """DAG- and task-level hooks under `nbgov build` run as under `ploomber build` (each once,
    the DAG's on_render was run twice), what they print is shown (a task's on_finish was
    silenced), and a build with nothing to do runs the render and finish hooks too (it skipped
    them, answered from the records); with --json standard output stays JSON."""
    root = git_repo
    (root / "tasks.py").write_text(TASKS)
    (root / "hooks.py").write_text(EVERY_HOOK)
    (root / "pipeline.yaml").write_text(
        "on_render: hooks.dag_render\non_finish: hooks.dag_finish\n"
        "tasks:\n  - source: tasks.write\n    name: a\n    product: products/a.txt\n    params: {text: a}\n"
        "    on_render: hooks.task_render\n    on_finish: hooks.task_finish\n")
    (root / "nbgov.toml").write_text('experiment = "hooks"\n')
    log = root / "hooks.log"
    first = run_cli(root, "build")
    assert first.returncode == 0, first.stderr
    expected = ["task on_render", "dag on_render", "task on_finish", "dag on_finish"]  # ploomber build's
    assert log.read_text().splitlines() == expected
    assert [line for line in first.stdout.splitlines() if line.startswith("hook: ")] == [
        f"hook: {h}" for h in expected]
    log.unlink()
    again = run_cli(root, "build")
    assert again.returncode == 0 and "0 ran, 1 skipped" in again.stdout, again.stdout + again.stderr
    assert log.read_text().splitlines() == ["task on_render", "dag on_render", "dag on_finish"]
    assert "hook: dag on_finish" in again.stdout
    quiet = run_cli(root, "build", "--json")
    assert quiet.returncode == 0 and json.loads(quiet.stdout)["tasks"][0]["outcome"] == "skipped"

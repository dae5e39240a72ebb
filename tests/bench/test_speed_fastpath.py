"""The no-op build fast path (nbgov.services.build.fastpath) against the normal path, on a real
project built once with the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

KERNEL = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
}
SPEC = """tasks:
  - source: notebooks/a.ipynb
    product: {nb: products/a.ipynb, data: products/a.txt}
    params: {x: 2}
  - source: notebooks/b.ipynb
    product: products/b.ipynb
"""


def _nb(params: str, body: str) -> str:
    cells = [
        {
            "cell_type": "code",
            "id": "p",
            "metadata": {"tags": ["parameters"]},
            "source": params,
            "outputs": [],
            "execution_count": None,
        },
        {
            "cell_type": "code",
            "id": "c",
            "metadata": {},
            "source": body,
            "outputs": [],
            "execution_count": None,
        },
    ]
    return json.dumps({"cells": cells, "metadata": KERNEL, "nbformat": 4, "nbformat_minor": 5})


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fastpath") / "project"
    (root / "notebooks").mkdir(parents=True)
    (root / "notebooks/a.ipynb").write_text(
        _nb(
            "upstream = None\nproduct = None\nx = 0",
            "from pathlib import Path\nPath(product['data']).write_text(str(x))",
        )
    )
    (root / "notebooks/b.ipynb").write_text(
        _nb("upstream = ['a']\nproduct = None", "print(open(upstream['a']['data']).read())")
    )
    (root / "pipeline.yaml").write_text(SPEC)
    (root / "nbgov.toml").write_text('experiment = "fastpath"\n')
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PLOOMBER_STATS_ENABLED"] = "false"
    proc = subprocess.run(
        [sys.executable, "-m", "nbgov", "build", "-q"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return root


@pytest.fixture
def project(built: Path, tmp_path: Path, monkeypatch) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(built, copy)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return copy


def _noop(root: Path, **options):
    from nbgov.core.config import load_config
    from nbgov.services.build.fastpath import noop_summary

    opts = {"force": False, "tasks": None, "jobs": None, "env": [], "params": [], **options}
    return noop_summary(load_config(root), started=0.0, **opts)


def test_noop_summary_matches_the_normal_path(project: Path, monkeypatch):
    import nbgov.services.build as build_service
    from nbgov.core.config import load_config
    from nbgov.services.build import fastpath

    fast = _noop(project)
    assert fast is not None and not fast.failed and fast.parent_run_id is None
    monkeypatch.setattr(fastpath, "noop_summary", lambda *a, **k: None)  # force the normal path
    slow = build_service.build(load_config(project), build_service.BuildOptions(progress=False))
    assert [(t.task, t.outcome, t.run_id) for t in fast.tasks] == [
        (t.task, t.outcome, t.run_id) for t in slow.tasks
    ]
    assert all(t.outcome == "skipped" and t.run_id for t in fast.tasks)
    assert fast.tracking_uri == slow.tracking_uri


@pytest.mark.parametrize(
    "options",
    [{"force": True}, {"tasks": ["a"]}, {"jobs": 2}, {"params": ["a.x=3"]}, {"env": ["k=v"]}],
)
def test_options_that_are_not_a_plain_rebuild_take_the_normal_path(project: Path, options):
    assert _noop(project, **options) is None


def _edit_code(root: Path) -> None:
    nb = json.loads((root / "notebooks/b.ipynb").read_text())
    nb["cells"][1]["source"] += "\nprint('changed')"
    (root / "notebooks/b.ipynb").write_text(json.dumps(nb))


def _edit_input(root: Path) -> None:
    (root / "products/a.txt").write_text("999")


def _edit_params(root: Path) -> None:
    (root / "pipeline.yaml").write_text(SPEC.replace("x: 2", "x: 5"))


def _placeholder(root: Path) -> None:
    # a placeholder whose env.yaml value differs from the recorded parameter
    (root / "env.yaml").write_text("n: 3\n")
    (root / "pipeline.yaml").write_text(SPEC.replace("x: 2", "x: '{{n}}'"))


def _new_task(root: Path) -> None:
    (root / "notebooks/c.ipynb").write_text(_nb("upstream = None\nproduct = None", "1"))
    (root / "pipeline.yaml").write_text(
        SPEC + "  - source: notebooks/c.ipynb\n    product: products/c.ipynb\n"
    )


@pytest.mark.parametrize(
    "change",
    [
        _edit_code,
        _edit_input,
        _edit_params,
        _placeholder,
        _new_task,
        lambda root: (root / "products/b.ipynb").unlink(),  # a product is missing
        lambda root: (root / "products/a.lineage.json").unlink(),  # no record: Ploomber decides
        lambda root: (root / "pipeline.yaml").write_text(
            SPEC.replace("tasks:", "clients: {}\ntasks:")
        ),
    ],
    ids=[
        "code",
        "input",
        "params",
        "placeholder",
        "new-task",
        "missing-product",
        "no-record",
        "unknown-spec-key",
    ],
)
def test_any_change_takes_the_normal_path(project: Path, change):
    assert _noop(project) is not None  # the untouched copy is a no-op
    change(project)
    assert _noop(project) is None


def test_placeholder_with_the_recorded_value_is_still_a_noop(project: Path):
    import nbgov.services.build as build_service
    from nbgov.core.config import load_config

    (project / "env.yaml").write_text("n: 2\n")
    (project / "pipeline.yaml").write_text(SPEC.replace("x: 2", "x: '{{n}}'"))
    assert _noop(project) is None  # the spec changed: its plan no longer holds
    # the normal path renders it again, skips every task (same content) and writes a new plan
    summary = build_service.build(load_config(project), build_service.BuildOptions(progress=False))
    assert {t.outcome for t in summary.tasks} == {"skipped"}
    assert _noop(project) is not None


def test_placeholders_that_change_with_time_or_git_are_never_cached():
    from nbgov.core.plan import defined_keys, key_placeholders, placeholders_in

    def verdict(spec: str, env: str = ""):
        return key_placeholders(placeholders_in([spec, env]), defined_keys([env]))

    assert verdict("x: '{{seed}}'", "seed: 42\n") == ([], None)  # env.yaml's digest keys it
    assert verdict("p: '{{here}}/data/{{name}}.csv'", "name: run\n") == (["here"], None)
    assert verdict("p: products/{{git}}/x.csv") == (["git"], None)
    assert verdict("t: '{{now}}'")[1] == "the spec uses {{now}}"
    assert verdict("t: '{{ env.HOME }}'")[1] == "the spec uses {{env}}"
    assert verdict("t: '{{now}}'", "now: fixed\n") == ([], None)  # a user value wins


def test_status_without_ploomber_matches_the_normal_path(project: Path):
    from nbgov.adapters.ploomber import Pipeline
    from nbgov.core.config import load_config
    from nbgov.services.build.status import _all_fresh, pipeline_state

    def by_name(state: dict) -> dict:
        return {t["name"]: t for t in state["tasks"]}

    config = load_config(project)
    assert _all_fresh(config) is not None
    fast = pipeline_state(config)
    slow = pipeline_state(config, Pipeline(config.pipeline_path))
    assert by_name(fast) == by_name(slow)
    assert {t["state"] for t in fast["tasks"]} == {"up-to-date"}
    # a change sends status through Ploomber, and the state follows it
    (project / "pipeline.yaml").write_text(SPEC.replace("x: 2", "x: 5"))
    config = load_config(project)
    assert _all_fresh(config) is None
    assert by_name(pipeline_state(config))["a"]["state"] == "outdated"

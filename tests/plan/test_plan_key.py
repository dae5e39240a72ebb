"""The build plan's key: what invalidates it, what makes a spec uncacheable, and that reading it
imports no Ploomber. Plans here are written from TaskInfo lists built by hand (every kind),
on real files in a temp project."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nbgov.adapters.ploomber import TaskInfo
from nbgov.core.config import load_config
from nbgov.services.pipeline.plan import plan_path, plan_tasks, read_plan, stale_reason, write_plan

from .conftest import SCRIPT_LOAD, git_init


def _project(root: Path, spec: str = "tasks: []\n") -> Path:
    (root / "scripts").mkdir(parents=True)
    (root / "scripts/load.py").write_text(SCRIPT_LOAD)
    (root / "tasks").mkdir()
    (root / "tasks/raw.py").write_text("def get(product):\n    pass\n")
    (root / "pipeline.yaml").write_text(spec)
    (root / "nbgov.toml").write_text('experiment = "k"\n')
    return root


def _infos(root: Path) -> list[TaskInfo]:
    return [
        TaskInfo(name="load", source=root / "scripts/load.py",
                 products={"nb": root / "products/load.ipynb", "data": root / "products/load.csv"},
                 params={"n": 4, "cols": ["a", "b"]}, upstream=[],
                 notebook_product=root / "products/load.ipynb", kind="script"),
        TaskInfo(name="get", source=root / "tasks/raw.py", products={"nb": root / "products/raw.csv"},
                 params={}, upstream=["load"], kind="function", source_file=root / "tasks/raw.py",
                 function="tasks.raw.get", record=root / "products/get.lineage.json",
                 group=None),
    ]


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    root = _project(tmp_path / "p")
    monkeypatch.chdir(root)
    return root


def test_a_plan_round_trips_every_field_with_relative_paths(project: Path):
    config = load_config(project)
    assert write_plan(config, _infos(project)) == plan_path(config)
    raw = json.loads(plan_path(config).read_text())
    assert raw["tasks"][0]["source"] == "scripts/load.py"
    assert raw["tasks"][1]["record"] == "products/get.lineage.json"
    assert set(raw["inputs"]) >= {"pipeline.yaml", "env.yaml", "scripts/load.py", "tasks/raw.py"}
    assert raw["inputs"]["env.yaml"] is None  # absent, and keyed as absent
    assert raw["versions"]["scripts/load.py"].startswith("srcv2:")
    assert (plan_path(config).parent / ".gitignore").read_text().endswith("*\n")  # never committed
    infos, _ = plan_tasks(config)
    for got, want in zip(infos, _infos(project), strict=True):
        for field in ("name", "source", "products", "params", "upstream", "notebook_product",
                      "kind", "source_file", "function", "group", "client", "evidence", "record"):
            assert getattr(got, field) == getattr(want, field), field


@pytest.mark.parametrize("change, reason", [
    (lambda r: (r / "pipeline.yaml").write_text("tasks: [] # edited\n"), "pipeline.yaml changed"),
    (lambda r: (r / "env.yaml").write_text("x: 1\n"), "env.yaml changed"),
    (lambda r: (r / "scripts/load.py").write_text(SCRIPT_LOAD + "\n# %%\n1\n"),
     "scripts/load.py changed"),
    (lambda r: (r / "tasks/raw.py").write_text("def get(product, upstream):\n    pass\n"),
     "tasks/raw.py changed"),
])
def test_any_rendering_input_invalidates_the_plan(project: Path, change, reason):
    config = load_config(project)
    write_plan(config, _infos(project))
    assert stale_reason(config, read_plan(config)) is None
    change(project)
    assert stale_reason(config, read_plan(config)) == reason
    assert plan_tasks(config) is None
    assert plan_tasks(config, stale_ok=True) is not None  # the server may still show it


def test_versions_of_nbgov_and_ploomber_and_the_format_join_the_key(project: Path):
    config = load_config(project)
    write_plan(config, _infos(project))
    raw = json.loads(plan_path(config).read_text())
    for key, value, reason in (("nbgov", "0.0.0", "nbgov was upgraded"),
                               ("ploomber", "0.1", "Ploomber was upgraded")):
        plan_path(config).write_text(json.dumps({**raw, key: value}))
        assert stale_reason(config, read_plan(config)) == reason
    plan_path(config).write_text(json.dumps({**raw, "format": 99}))
    assert read_plan(config) is None


def test_a_partial_is_part_of_the_key(project: Path):
    (project / "partial.yaml").write_text("- source: scripts/load.py\n  product: p.ipynb\n")
    (project / "pipeline.yaml").write_text("meta:\n  import_tasks_from: partial.yaml\ntasks: []\n")
    config = load_config(project)
    write_plan(config, _infos(project))
    assert "partial.yaml" in read_plan(config).inputs
    (project / "partial.yaml").write_text("- source: scripts/load.py\n  product: q.ipynb\n")
    assert stale_reason(config, read_plan(config)) == "partial.yaml changed"


def test_a_named_pipeline_keys_its_own_env_file(project: Path):
    (project / "pipeline.train.yaml").write_text("tasks: []\n")
    (project / "nbgov.toml").write_text('pipeline = "pipeline.train.yaml"\n')
    config = load_config(project)
    write_plan(config, _infos(project))
    assert {"pipeline.train.yaml", "env.train.yaml", "env.yaml"} <= set(read_plan(config).inputs)
    (project / "env.train.yaml").write_text("a: 1\n")
    assert stale_reason(config, read_plan(config)) == "env.train.yaml changed"


def test_now_is_never_cached_and_removes_an_old_plan(project: Path):
    config = load_config(project)
    write_plan(config, _infos(project))
    (project / "pipeline.yaml").write_text("tasks:\n  - source: a.ipynb\n    product: 'p/{{now}}.ipynb'\n")
    assert write_plan(config, _infos(project)) is None
    assert not plan_path(config).exists()


def test_git_placeholders_key_on_the_commit_and_the_dirty_state(project: Path):
    (project / "pipeline.yaml").write_text(
        "tasks:\n  - source: scripts/load.py\n    product: 'products/{{git_hash}}/l.ipynb'\n")
    git_init(project)
    config = load_config(project)
    write_plan(config, _infos(project))
    plan = read_plan(config)
    head = subprocess.run(["git", "-C", str(project), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    assert plan.placeholders["git_hash"].startswith(head[:7])
    assert stale_reason(config, plan) is None
    (project / "new.txt").write_text("x")
    subprocess.run(["git", "-C", str(project), "add", "new.txt"], check=True)
    subprocess.run(["git", "-C", str(project), "commit", "-qm", "more"], check=True)
    assert stale_reason(config, plan) == "{{git_hash}} changed"


def test_params_that_are_not_plain_json_are_not_cached(project: Path):
    import datetime

    infos = _infos(project)
    infos[0].params = {"day": datetime.date(2024, 1, 1)}
    assert write_plan(load_config(project), infos) is None


def test_reading_a_plan_imports_no_ploomber(project: Path):
    write_plan(load_config(project), _infos(project))
    code = (
        "import sys\n"
        "from nbgov.core.config import load_config\n"
        "from nbgov.services.pipeline.plan import plan_tasks\n"
        f"infos, _ = plan_tasks(load_config({str(project)!r}))\n"
        "print(len(infos), 'ploomber' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=project)
    assert out.stdout.split() == ["2", "False"], out.stderr

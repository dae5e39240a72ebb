"""Review closure of what the spec names (docs/security.md R4): a task source or a module named
by dotted path is a target wherever it is inside the project (a folder named venv/ or
node_modules/ included); placeholders in those paths are resolved as the spec is rendered
(env.yaml and the built-in placeholders), else reported and refused in a governed build; the
source loader's module and ``dotted_path`` params are targets; a governed build refuses a task
whose source is not a review target (a symlink leaving the project), naming it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from tests.build.conftest import notebook, run_cli, write_nb

from nbgov.core.config import load_config
from nbgov.services.review.targets import render_targets, review_targets, unreviewable

BOB = "Bob Reviewer <bob@example.com>"
NB = ("upstream = None\nproduct = None", "print(1)")


def _project(root: Path, spec: str, env: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pipeline.yaml").write_text(spec)
    if env is not None:
        (root / "env.yaml").write_text(env)
    (root / "nbgov.toml").write_text('experiment = "spec"\n[environments.prod]\nrequire_approved = true\n')
    return root


def _paths(root: Path, render: bool = False) -> set[str]:
    config = load_config(root)
    return {t.path for t in (render_targets(config) if render else review_targets(config))}


def test_named_sources_and_modules_in_excluded_folder_names_are_targets(tmp_path: Path):
    """Repros 1 and 4: venv/, node_modules/... are skipped by the blanket scan only."""
    root = _project(tmp_path, "on_render: node_modules.evil.render\ntasks:\n"
                    "  - source: venv/a.ipynb\n    product: out/a.ipynb\n"
                    "  - source: site-packages/b.ipynb\n    product: out/b.ipynb\n")
    write_nb(root / "venv/a.ipynb", notebook(*NB))
    write_nb(root / "site-packages/b.ipynb", notebook(*NB))
    (root / "node_modules").mkdir()
    (root / "node_modules/evil.py").write_text("def render():\n    pass\n")
    assert {"venv/a.ipynb", "site-packages/b.ipynb", "node_modules/evil.py"} <= _paths(root)
    assert "node_modules/evil.py" in _paths(root, render=True)
    assert "venv/a.ipynb" in {t.path for t in review_targets(load_config(root), [root / "venv/a.ipynb"])}


def test_placeholders_in_dotted_paths_and_function_sources_are_resolved(tmp_path: Path):
    """Repros 5 and 6: resolved from env.yaml (and {{here}}) like the rendered spec."""
    root = _project(tmp_path, 'on_render: "{{hook}}"\nmeta:\n  import_tasks_from: "{{here}}/partial.yaml"\n'
                    'tasks:\n  - source: "{{fn}}"\n    product: out/x.txt\n',
                    env="fn: mytasks.run\nhook: myhooks.render\n")
    (root / "partial.yaml").write_text("- source: \"{{here}}/nb/p.ipynb\"\n  product: out/p.ipynb\n")
    write_nb(root / "nb/p.ipynb", notebook(*NB))
    (root / "mytasks.py").write_text("def run(product):\n    pass\n")
    (root / "myhooks.py").write_text("def render():\n    pass\n")
    rendered = _paths(root, render=True)
    assert {"mytasks.py", "myhooks.py", "partial.yaml"} <= rendered
    assert {"mytasks.py", "myhooks.py", "partial.yaml", "nb/p.ipynb"} <= _paths(root)
    assert unreviewable(load_config(root)) == []


def test_a_placeholder_that_cannot_be_resolved_is_reported(tmp_path: Path):
    root = _project(tmp_path, 'on_finish: "{{nowhere}}"\ntasks:\n  - source: "{{fn}}.run"\n    product: o.txt\n')
    problems = unreviewable(load_config(root))
    assert len(problems) == 2 and all("cannot be resolved statically" in p for p in problems), problems
    assert any("on_finish" in p for p in problems)


def test_source_loader_module_and_dotted_path_params_are_targets(tmp_path: Path):
    """Repro 7: meta.source_loader.module is imported, dotted_path params and grids called."""
    root = _project(tmp_path, "meta:\n  source_loader:\n    module: srcpkg\ntasks:\n"
                    "  - source: notebooks/a.ipynb\n    product: out/a.ipynb\n"
                    "    params:\n      x:\n        dotted_path: paramfn::val\n"
                    "  - source: notebooks/a.ipynb\n    product: out/g-[[x]].ipynb\n    name: g-[[x]]\n"
                    "    grid:\n      - x: {dotted_path: gridfn.vals}\n")
    write_nb(root / "srcpkg/notebooks/a.ipynb", notebook(*NB))
    (root / "srcpkg/__init__.py").write_text("import loaderdep\n")
    (root / "loaderdep.py").write_text("")
    (root / "paramfn.py").write_text("def val():\n    return 5\n")
    (root / "gridfn.py").write_text("def vals():\n    return [1]\n")
    for found in (_paths(root), _paths(root, render=True)):
        assert {"srcpkg/__init__.py", "loaderdep.py", "paramfn.py", "gridfn.py"} <= found, found
    assert "srcpkg/notebooks/a.ipynb" in _paths(root)


def test_every_file_in_the_source_loaders_folder_is_a_target(tmp_path: Path):
    """Round 6, 12: Ploomber renders a loaded source with a Jinja file loader, so an
    ``{% include %}`` makes any file of the loader's folder part of what the task runs."""
    root = _project(tmp_path, "meta:\n  source_loader:\n    path: scripts\ntasks:\n"
                    "  - source: run.sh\n    product: out/run.txt\n")
    (root / "scripts").mkdir()
    (root / "scripts/run.sh").write_text("{% include 'common.sh' %}\necho run > {{product}}\n")
    (root / "scripts/common.sh").write_text("echo common\n")
    (root / "scripts/macros/m.sql").parent.mkdir()
    (root / "scripts/macros/m.sql").write_text("select 1\n")
    (root / "other.sh").write_text("echo not in the loader's folder\n")
    for found in (_paths(root), _paths(root, render=True)):
        assert {"scripts/common.sh", "scripts/macros/m.sql"} <= found, found
        assert "other.sh" not in found


def _commit(root: Path, message: str) -> None:
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), "commit", "-qm", message], check=True)


@pytest.mark.integration
def test_a_governed_build_refuses_a_source_outside_the_project(git_repo: Path, tmp_path: Path):
    """Repros 2 and 3 (b): a reviewed notebook replaced by a symlink leaving the project is
    refused by the build, naming the task and the source; never run, never silently dropped."""
    root = _project(git_repo, "tasks:\n  - source: nb/a.ipynb\n    product: products/a.ipynb\n")
    (root / ".gitignore").write_text("products/\nmlflow.db\nmlruns/\n.nbgov/journal/\n.nbgov/cache/\n")
    write_nb(root / "nb/a.ipynb", notebook(*NB))
    _commit(root, "project")
    assert run_cli(root, "review", "approve", "--all-changed", "--reviewer", BOB).returncode == 0
    _commit(root, "approvals")
    outside = tmp_path / "outside.ipynb"
    write_nb(outside, notebook("upstream = None\nproduct = None", "open('PWNED', 'w')"))
    os.remove(root / "nb/a.ipynb")
    os.symlink(outside, root / "nb/a.ipynb")
    _commit(root, "symlink")
    refused = run_cli(root, "build", "--environment", "prod", "-q")
    assert refused.returncode != 0, refused.stdout + refused.stderr
    assert "task a: its source" in refused.stderr and "outside the project" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (root / "PWNED").exists() and not (root / "products/a.ipynb").exists()


@pytest.mark.integration
def test_review_gate_and_status_report_what_cannot_be_reviewed(git_repo: Path):
    """Repro 3 and (c) in review: a source outside the project, an unresolvable placeholder."""
    root = _project(git_repo / "proj", 'on_finish: "{{nowhere}}"\ntasks:\n'
                    "  - source: ../shared.ipynb\n    product: products/a.ipynb\n")
    write_nb(git_repo / "shared.ipynb", notebook(*NB))
    _commit(git_repo, "project")
    assert run_cli(root, "review", "approve", "--all-changed", "--reviewer", BOB).returncode == 0
    gate = run_cli(root, "review", "gate")
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert "source ../shared.ipynb is outside the project" in gate.stderr, gate.stderr
    assert "'{{nowhere}}' cannot be resolved statically" in gate.stderr, gate.stderr
    status = run_cli(root, "review", "status")
    warned = "warning: task ../shared.ipynb: source ../shared.ipynb is outside the project"
    assert warned in status.stderr, status.stderr

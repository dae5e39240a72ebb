"""The .pre-commit-hooks.yaml manifest, and the hook run by the real pre-commit in a git repo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pre_commit import clientlib  # a dev dependency: a missing pre-commit fails, never skips

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
MANIFEST = REPO / ".pre-commit-hooks.yaml"


def test_manifest_is_valid_for_pre_commit():
    hooks = clientlib.load_manifest(str(MANIFEST))
    by_id = {h["id"]: h for h in hooks}
    assert by_id["nbgov-check"]["entry"] == "nbgov check"
    assert by_id["nbgov-check-fix"]["entry"] == "nbgov check --fix"
    assert all(h["types"] == ["jupyter"] for h in hooks)


@pytest.mark.integration
def test_hook_blocks_a_commit_then_fix_lets_it_through(git_repo, tmp_path):
    hooks = yaml.safe_load(MANIFEST.read_text())
    # run the manifest's hooks as `language: system` (installing nbgov into pre-commit's own
    # virtualenv would download the world); entry, types and options are the manifest's own
    # (the environment itself, measured: docs/how-to/ci.md, "pre-commit")
    local = [{**{k: v for k, v in h.items() if k != "additional_dependencies"}, "language": "system"}
             for h in hooks]
    config = {"repos": [{"repo": "local", "hooks": local}]}
    (git_repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    (git_repo / "nbgov.toml").write_text("")
    (git_repo / "notebooks").mkdir()
    for name in ("outputs--committed.ipynb", "clean--task.ipynb"):
        shutil.copy(FIXTURES / name, git_repo / "notebooks" / name)
    subprocess.run(["git", "-C", str(git_repo), "add", "."], check=True)
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
    }

    def pre_commit(hook: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "pre_commit", "run", hook, "--all-files"],
            cwd=git_repo,
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )

    check = pre_commit("nbgov-check")
    assert check.returncode == 1, check.stdout + check.stderr
    assert "notebooks/outputs--committed.ipynb:2 NBG201 [outputs-committed]" in check.stdout
    fixed = pre_commit("nbgov-check-fix")
    # pre-commit fails a hook that changed files, and the notebook is now clean
    assert "files were modified by this hook" in fixed.stdout
    subprocess.run(["git", "-C", str(git_repo), "add", "."], check=True)
    assert pre_commit("nbgov-check").returncode == 0


# what `nbgov check` may import besides nbgov and the standard library: exactly the hook's
# additional_dependencies (by import name), so that the hook's environment can be that small
HOOK_IMPORTS = {"click": "click", "yaml": "pyyaml"}

_IMPORTED = r"""
import sys
before = set(sys.modules)
from nbgov.cli import main
try:
    main(["check", "--extend-select", "ALL", "--fix", "--no-plugins"])
except SystemExit:
    pass
# modules loaded from a file (not nbgov's deferred stand-ins, not cython_runtime)
new = {m.split(".")[0] for m in set(sys.modules) - before if getattr(sys.modules[m], "__file__", None)}
sys.stderr.write("IMPORTED " + " ".join(sorted(m for m in new if m not in sys.stdlib_module_names
                                               and not m.startswith("_"))) + "\n")
"""


def test_hook_environment_holds_what_check_imports(tmp_path):
    hooks = yaml.safe_load(MANIFEST.read_text())
    for hook in hooks:
        deps = hook["additional_dependencies"]
        assert deps[0] == "--no-deps", hook["id"]  # nbgov itself without its 1.2 GB runtime
        assert sorted(d.split(">")[0].split("=")[0] for d in deps[1:]) == sorted(HOOK_IMPORTS.values())
    # a pipeline project with notebooks, every rule selected, --fix: the widest check there is
    project = tmp_path / "project"
    shutil.copytree(REPO / "notebooks", project / "notebooks")
    for name in ("pipeline.yaml", "env.yaml", "nbgov.toml"):
        shutil.copy(REPO / name, project / name)
    out = subprocess.run([sys.executable, "-c", _IMPORTED], cwd=project, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "NBG701" in out.stdout  # the review rule ran (it reads the ledger)
    imported = set(out.stderr.split("IMPORTED ")[-1].split()) - {"nbgov"}
    assert imported <= set(HOOK_IMPORTS), f"nbgov check imports {sorted(imported - set(HOOK_IMPORTS))}"

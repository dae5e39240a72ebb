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
    local = [{**h, "language": "system"} for h in hooks]
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

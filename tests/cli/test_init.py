"""``nbgov init`` in an existing Ploomber project: writes what is missing, idempotent, --dry-run."""

from __future__ import annotations

import json

import pytest
import yaml

from nbgov.cli import main

SPEC = "# my pipeline\ntasks:\n  - source: a.ipynb\n    product: out/a.ipynb  # the executed notebook\n"


def _run(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def ploomber_project(tmp_path):
    (tmp_path / "pipeline.yaml").write_text(SPEC)
    (tmp_path / ".gitignore").write_text("*.pyc")  # no newline at the end: kept, completed
    return tmp_path


def test_init_writes_what_is_missing_then_finds_nothing_to_do(ploomber_project, capsys):
    root = ploomber_project
    code, out, err = _run(["init", "--project", str(root)], capsys)
    assert code == 0, err
    files = _files(root)
    assert set(files) == {"pipeline.yaml", ".gitignore", "nbgov.toml", ".gitattributes",
                          ".pre-commit-config.yaml", ".github/workflows/nbgov.yml"}
    # the user's spec is kept as written (comments too), the hooks are added
    assert files["pipeline.yaml"].startswith(SPEC)
    spec = yaml.safe_load(files["pipeline.yaml"])
    assert spec["on_finish"] == "nbgov.hooks.on_finish" and spec["tasks"][0]["source"] == "a.ipynb"
    assert files[".gitignore"].splitlines()[0] == "*.pyc" and "/mlflow.db" in files[".gitignore"]
    assert yaml.safe_load(files[".pre-commit-config.yaml"])["repos"][0]["hooks"][0]["id"] == "nbgov-check"
    assert "nbgov review gate" in files[".github/workflows/nbgov.yml"]
    assert "nbgov.toml: created" in out
    # the project it made is one nbgov reads
    code, out, err = _run(["check", "--project", str(root), "--json"], capsys)
    assert code in (0, 1) and json.loads(out)["summary"], err  # a finding or not, never bad config
    # a second run: nothing changes, and it says so
    code, out, err = _run(["init", "--project", str(root)], capsys)
    assert code == 0 and out.strip() == "nothing to do: nbgov is already set up here"
    assert _files(root) == files


def test_dry_run_prints_and_changes_nothing(ploomber_project, capsys):
    before = _files(ploomber_project)
    code, out, err = _run(["init", "--dry-run", "--project", str(ploomber_project)], capsys)
    assert code == 0, err
    assert _files(ploomber_project) == before
    assert "nbgov.toml: would be created" in out and "  | on_finish: nbgov.hooks.on_finish" in out
    code, out, _ = _run(["init", "--dry-run", "--json", "--project", str(ploomber_project)], capsys)
    changes = {c["path"]: c["action"] for c in json.loads(out)["changes"]}
    assert changes["pipeline.yaml"] == "updated" and changes["nbgov.toml"] == "created"


def test_own_hooks_and_pre_commit_config_are_left_alone(ploomber_project, capsys):
    (ploomber_project / "pipeline.yaml").write_text(SPEC + "on_finish: my_hooks.done\n")
    (ploomber_project / ".pre-commit-config.yaml").write_text("repos: []\n")
    code, out, err = _run(["init", "--project", str(ploomber_project)], capsys)
    assert code == 0, err
    spec = yaml.safe_load((ploomber_project / "pipeline.yaml").read_text())
    assert spec["on_finish"] == "my_hooks.done" and spec["on_render"] == "nbgov.hooks.on_render"
    assert "note: pipeline.yaml: on_finish already set: call nbgov's from yours" in err
    assert (ploomber_project / ".pre-commit-config.yaml").read_text() == "repos: []\n"
    assert "note: .pre-commit-config.yaml: has no nbgov-check hook" in err


def test_refuses_where_there_is_no_pipeline(tmp_path, capsys):
    code, out, err = _run(["init", "--project", str(tmp_path)], capsys)
    assert code == 2 and out == ""
    assert err.startswith(f"error: no pipeline.yaml in {tmp_path}: nbgov init sets up an existing Ploomber project")
    assert list(tmp_path.iterdir()) == []

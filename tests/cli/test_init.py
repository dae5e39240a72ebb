"""``nbgov init`` in an existing Ploomber project: writes what is missing, idempotent, --dry-run."""

from __future__ import annotations

import json
import subprocess

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
    assert set(files) == {"pipeline.yaml", ".gitignore", "nbgov.toml", ".gitattributes", ".nbgov/.gitignore",
                          ".pre-commit-config.yaml", ".github/workflows/nbgov.yml"}
    # the user's spec is kept as written (comments too), the hooks are added
    assert files["pipeline.yaml"].startswith(SPEC)
    spec = yaml.safe_load(files["pipeline.yaml"])
    assert spec["on_finish"] == "nbgov.hooks.on_finish" and spec["tasks"][0]["source"] == "a.ipynb"
    assert files[".gitignore"].splitlines()[0] == "*.pyc" and "/mlflow.db" in files[".gitignore"]
    assert "/out/" in files[".gitignore"].splitlines()  # the product's folder
    assert {"journal/", "lineage/", "cache/"} <= set(files[".nbgov/.gitignore"].splitlines())
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


SPEC_PRODUCTS = """\
meta:
  product_relative_to_source: false
tasks:
  - source: notebooks/fit.ipynb
    product: {nb: products/fit.ipynb, model: products/models/model.pkl}
  - source: scripts/load.py          # a product next to the sources: ignored file by file
    product: {nb: scripts/load.ipynb}
  - source: tasks.split
    product: "{{root}}/splits/{{name}}/train.csv"
  - source: tasks.cached
    product: data/cache.csv          # data/ is ignored already
  - source: query.sql
    product: [sales, table]          # a table: nothing to ignore
"""


def test_init_ignores_what_builds_write_next_to_the_products(git_repo, capsys):
    """`git add -A` after `nbgov init` and a build commits no product, no Ploomber metadata,
    no lineage record (issue 29): init ignores the products' folders git does not ignore yet."""
    root = git_repo
    (root / "pipeline.yaml").write_text(SPEC_PRODUCTS)
    (root / "scripts").mkdir()
    (root / "scripts" / "load.py").write_text("# %%\nproduct = None\n")
    (root / ".gitignore").write_text("data/\n")  # not the line init would write: git is asked
    code, out, err = _run(["init", "--project", str(root)], capsys)
    assert code == 0, err
    lines = (root / ".gitignore").read_text().splitlines()
    added = lines[lines.index("# nbgov") + 1:]
    assert added == ["/mlflow.db", "/mlflow.db-*", "/mlruns/", "/products/", "/scripts/load.ipynb",
                     "/scripts/.load.ipynb.metadata", "/scripts/load.lineage.json",
                     "/scripts/load.executed.ipynb", "/splits/"], added
    # what a build writes is ignored, the sources are not
    for rel in ("products/models/model.pkl", "scripts/load.ipynb", "scripts/.load.ipynb.metadata",
                "scripts/load.lineage.json", "splits/a/train.csv", ".nbgov/journal/b.jsonl"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "-uall"], capture_output=True,
                            text=True, check=True).stdout
    assert sorted(line[3:] for line in status.splitlines()) == [
        ".gitattributes", ".github/workflows/nbgov.yml", ".gitignore", ".nbgov/.gitignore",
        ".pre-commit-config.yaml", "nbgov.toml", "pipeline.yaml", "scripts/load.py"], status


def test_init_says_when_the_products_are_not_in_the_spec(tmp_path, capsys):
    (tmp_path / "pipeline.yaml").write_text("location: pkg.dag.make_dag\n")
    code, out, err = _run(["init", "--project", str(tmp_path)], capsys)
    assert code == 0, err
    assert "note: .gitignore: the DAG is built in Python (pkg.dag.make_dag): add the folders of its products" in err

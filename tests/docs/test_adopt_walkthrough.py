"""docs/how-to/adopt.md, walked end to end (issue 29): on a fresh small Ploomber project in a
temp git repository, every command of the page runs in order, with the files the page says to
write taken from the page itself, and the outcomes the page states hold. A page edit that
breaks the walk breaks this test."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
PAGE = (REPO / "docs" / "how-to" / "adopt.md").read_text(encoding="utf-8")

pytestmark = pytest.mark.integration

BOB = ("Bob Builder", "bob@example.com")  # wrote the notebooks
ADA = ("Ada Adopter", "ada@example.com")  # adopts nbgov and reviews Bob's work

PIPELINE = """\
tasks:
  - source: notebooks/train.ipynb
    product:
      nb: output/train.ipynb
      model: output/model.txt
    params:
      rate: 2
"""


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", PAGE, re.S)


def _notebook(path: Path, cells: list[tuple[str, str, list[str]]]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for kind, source, tags in cells:
        cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def _ploomber_project(root: Path) -> None:
    """A small Ploomber project as its team had it before nbgov: one notebook task, a README
    notebook that is no task, outputs not ignored (`nbgov init` ignores them)."""
    (root / "pipeline.yaml").write_text(PIPELINE)
    _notebook(root / "notebooks" / "train.ipynb", [
        ("markdown", "Train a tiny model.", []),
        ("code", "upstream = None\nproduct = None\nrate = 1", ["parameters"]),
        ("code", "from pathlib import Path\n\nPath(product['model']).write_text(str(rate * 21))", []),
    ])
    _notebook(root / "README.ipynb", [("markdown", "# How to run this project", [])])
    (root / ".gitignore").write_text("*.pyc\n")


def _git(root: Path, *args: str, who: tuple[str, str] = ADA) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": who[0], "GIT_AUTHOR_EMAIL": who[1],
           "GIT_COMMITTER_NAME": who[0], "GIT_COMMITTER_EMAIL": who[1]}
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True,
                          env=env).stdout


def _run(root: Path, command: str) -> subprocess.CompletedProcess:
    """One command line of the page, run by the shell in the project (echo >>, git config, &&,
    VAR=value prefixes), with this interpreter's `nbgov` first on PATH."""
    line = command
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "NBGOV_REVIEWER", "NBGOV_ENV")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(PLOOMBER_STATS_ENABLED="false", PLOOMBER_VERSION_CHECK_DISABLED="true")
    env.update(GIT_AUTHOR_NAME=ADA[0], GIT_AUTHOR_EMAIL=ADA[1], GIT_COMMITTER_NAME=ADA[0],
               GIT_COMMITTER_EMAIL=ADA[1])
    return subprocess.run(line, shell=True, cwd=root, capture_output=True, text=True, env=env, timeout=600)


def _commands(block: str) -> list[str]:
    out = []
    for raw in block.strip().splitlines():
        # a trailing comment (two spaces then #) is the page talking, not the shell
        line = re.split(r"\s{2,}#", raw)[0].strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def test_adopt_page_end_to_end(git_repo: Path):
    root = git_repo
    _git(root, "config", "user.name", ADA[0])
    _git(root, "config", "user.email", ADA[1])
    _ploomber_project(root)
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "the team's Ploomber project", who=BOB)

    bash = _blocks("bash")
    install, init, check, build, review = bash[0], bash[1], bash[2], bash[3], bash[4]
    assert _commands(install)[0].startswith("pip install nbgov")  # step 1: installed already

    # step 2: nbgov init (a dry run first, which writes nothing), committed
    for command in _commands(init):
        if command.startswith("git add"):
            changed = sorted(_git(root, "status", "--porcelain").split()[1::2])
            assert changed == [".gitattributes", ".github/", ".gitignore", ".nbgov/", ".pre-commit-config.yaml",
                               "nbgov.toml", "pipeline.yaml"], changed
            assert "/output/" in (root / ".gitignore").read_text().splitlines()
        proc = _run(root, command)
        assert proc.returncode == 0, (command, proc.stdout, proc.stderr)
        if command == "nbgov init --dry-run":
            assert _git(root, "status", "--porcelain") == ""
    assert "nbgov.hooks.on_finish" in (root / "pipeline.yaml").read_text()
    assert "[review]" not in (root / "nbgov.toml").read_text()  # the default review scope

    # step 3: the checks; the notebooks are clean, --fix changes nothing
    for command in _commands(check):
        proc = _run(root, command)
        assert proc.returncode == 0, (command, proc.stdout, proc.stderr)
    assert _git(root, "status", "--porcelain", "--", "notebooks", "README.ipynb") == ""

    # step 4: build, tracked, with lineage; a second build has nothing to do
    for command in _commands(build):
        proc = _run(root, command)
        assert proc.returncode == 0, (command, proc.stdout, proc.stderr)
        assert "1 ran, 0 skipped, 0 failed" in proc.stdout
    assert (root / "output" / "model.txt").read_text() == "42"
    assert list((root / "output").glob("*.lineage.json"))
    again = _run(root, "nbgov build")
    assert again.returncode == 0 and "0 ran, 1 skipped" in again.stdout
    # what builds wrote is ignored (init ignored output/ and nbgov's journal, cache and locks):
    # `git add -A` would commit nothing
    new = sorted(_git(root, "status", "--porcelain", "-uall").split()[1::2])
    assert new == [], new

    # step 5: review; the README notebook is no task, so no review target
    results = [(command, _run(root, command)) for command in _commands(review)]
    for command, proc in results:
        assert proc.returncode == 0, (command, proc.stdout, proc.stderr)
    status = next(proc for command, proc in results if command == "nbgov review status")
    assert "notebooks/train.ipynb" in status.stdout and "README.ipynb" not in status.stdout
    committed = _git(root, "show", "--name-only", "--format=", "HEAD").split()
    assert ".nbgov/reviews.jsonl" in committed  # (.nbgov/.gitignore came with nbgov init)
    assert all(p == ".nbgov/reviews.jsonl" or p.startswith(".nbgov/snapshots/") for p in committed), committed
    assert any(p.startswith(".nbgov/snapshots/") for p in committed)
    gate = _run(root, "nbgov review gate")
    assert gate.returncode == 0 and "1 notebook and 1 spec file approved" in gate.stdout
    verify = _run(root, "nbgov ledger verify")
    assert verify.returncode == 0 and "signature: unsigned" in verify.stdout  # what the page explains
    # the page's "who approves": Ada cannot approve her own change, a second person can
    (root / "notebooks" / "train.ipynb").write_text(
        (root / "notebooks" / "train.ipynb").read_text().replace("rate * 21", "rate * 21 + 0"))
    _git(root, "commit", "-qam", "Ada edits train")
    own = _run(root, "nbgov review approve notebooks/train.ipynb -m mine")
    assert own.returncode != 0
    second = next(c for c in _commands(PAGE.split("**Who approves.**")[1].split("```bash")[1].split("```")[0]))
    assert second.startswith("NBGOV_REVIEWER=")
    assert _run(root, second).returncode == 0
    # Ann's approval: a record and a snapshot to commit, nothing else
    changed = _git(root, "status", "--porcelain", "-uall", "--", ".nbgov").splitlines()
    assert any(line.endswith(".nbgov/reviews.jsonl") for line in changed)
    assert all(line.endswith(".nbgov/reviews.jsonl") or ".nbgov/snapshots/" in line for line in changed), changed

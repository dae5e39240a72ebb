"""The git adapter on a real repository, and who counts as the same person."""

from __future__ import annotations

import subprocess

import pytest

from nbgov.adapters import git as g
from nbgov.core.errors import NbgovError


@pytest.mark.parametrize(
    "a, b, same",
    [
        ("Ada Author <ada@example.com>", "Ada Author <ada@example.com>", True),
        ("Ada Author <ADA@example.com>", "A. Author <ada@example.com>", True),  # same address
        ("ada author <ada@home.org>", "Ada  Author <ada@example.com>", True),  # same name
        ("ada", "Ada Author <ada@example.com>", True),  # a login name against the address
        ("Ada Author <ada@example.com>", "ada", True),
        ("bob", "Ada Author <ada@example.com>", False),
        ("Bob <bob@example.com>", "Ada Author <ada@example.com>", False),
        ("<ada@example.com>", "Ada Author <ada@example.com>", True),
    ],
)
def test_same_person(a, b, same):
    assert g.Person.parse(a).same_as(g.Person.parse(b)) is same


def test_git_facts(git_repo, tmp_path):
    nb = git_repo / "a.ipynb"
    nb.write_text("{}")
    assert g.repo_root(nb) == git_repo.resolve()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert g.repo_root(outside) is None and g.head(outside) == (None, False)
    assert g.user(git_repo) == g.Person("Ada Author", "ada@example.com")
    assert g.last_author(git_repo, nb) is None and g.is_modified(git_repo, nb)
    g_run = ["-C", str(git_repo)]
    subprocess.run(["git", *g_run, "add", "a.ipynb"], check=True)
    subprocess.run(
        ["git", *g_run, "-c", "user.name=Bob", "-c", "user.email=bob@x.org", "commit", "-qm", "a"],
        check=True,
    )
    author, sha = g.last_author(git_repo, nb)
    assert author == g.Person("Bob", "bob@x.org") and g.head(git_repo) == (sha, False)
    assert not g.is_modified(git_repo, nb) and g.is_tracked(git_repo, "a.ipynb")
    nb.write_text('{"x": 1}')
    assert g.is_modified(git_repo, nb) and g.head(git_repo) == (sha, True)
    assert g.show_file(git_repo, "HEAD", "a.ipynb") == b"{}"
    with pytest.raises(NbgovError, match="cannot read a.ipynb at 'nope'"):
        g.show_file(git_repo, "nope", "a.ipynb")
    assert g.ls_files(git_repo, "*.ipynb") == ["a.ipynb"]

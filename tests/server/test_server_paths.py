"""Unit tests of path confinement and project lookup (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbgov.server.paths import (
    NotebookNotFoundError,
    PathRefusedError,
    project_root,
    resolve_in_root,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "srv" / "a").mkdir(parents=True)
    (tmp_path / "srv" / "a" / "n.ipynb").write_text("{}")
    return tmp_path / "srv"


def test_a_plain_relative_path_resolves(root):
    assert resolve_in_root(root, "a/n.ipynb") == (root / "a" / "n.ipynb").resolve()
    assert resolve_in_root(root, "./a/n.ipynb") == (root / "a" / "n.ipynb").resolve()
    assert resolve_in_root(root, "a", kind="dir") == (root / "a").resolve()


@pytest.mark.parametrize("raw, why", [
    ("", "empty path"),
    ("  ", "empty path"),
    ("/etc/passwd", "absolute path"),
    ("C:/x.ipynb", "absolute path"),
    ("C:", "absolute path"),
    ("a/../../x", "'..' in path"),
    ("..", "'..' in path"),
    ("a\\n.ipynb", "NUL or backslash in path"),
    ("a/\x00", "NUL or backslash in path"),
    (".git/config", "hidden file or folder"),
    ("a/.hidden", "hidden file or folder"),
])
def test_refused(root, raw, why):
    """Each refusal for its own reason: a rule switched off must fail its own case, not be
    covered up by a later rule (an escape is also caught by the resolved-path check)."""
    with pytest.raises(PathRefusedError) as err:
        resolve_in_root(root, raw)
    assert err.value.message == f"path refused: {why}"
    assert "without '..'" in err.value.hint
    assert err.value.where.path == raw.strip()  # where: the path as sent ("" when empty)


@pytest.mark.parametrize("allow_hidden", [False, True])
@pytest.mark.parametrize("raw", ["a/../a/n.ipynb", "./a/../a", "a/..", "a/x/../../a/n.ipynb"])
def test_dotdot_is_refused_even_when_it_stays_inside_the_root(root, raw, allow_hidden):
    """The '..' rule on its own: these paths resolve inside the root, so only that rule refuses
    them (switching it off makes this test fail, whatever the resolved-path check does), also
    on a server that allows hidden files (where the hidden-part rule no longer catches '..')."""
    with pytest.raises(PathRefusedError) as err:
        resolve_in_root(root, raw, kind="any", allow_hidden=allow_hidden)
    assert err.value.message == "path refused: '..' in path"


def test_hidden_allowed_when_the_server_allows_it(root):
    (root / ".nbgov").mkdir()
    (root / ".nbgov" / "x.ipynb").write_text("{}")
    assert resolve_in_root(root, ".nbgov/x.ipynb", allow_hidden=True).name == "x.ipynb"


def test_symlinks_out_of_the_root_are_refused_and_inside_ones_followed(root, tmp_path):
    (tmp_path / "out.ipynb").write_text("{}")
    (root / "a" / "out.ipynb").symlink_to(tmp_path / "out.ipynb")
    (root / "inner.ipynb").symlink_to(root / "a" / "n.ipynb")
    with pytest.raises(PathRefusedError) as err:
        resolve_in_root(root, "a/out.ipynb")
    assert err.value.message == "path refused: outside the server root"
    assert err.value.where.path == "a/out.ipynb"
    assert resolve_in_root(root, "inner.ipynb") == (root / "a" / "n.ipynb").resolve()


def test_missing_and_wrong_kind(root):
    with pytest.raises(NotebookNotFoundError) as err:
        resolve_in_root(root, "a/none.ipynb")
    assert (err.value.message, err.value.where.path, err.value.hint) == ("not found", "a/none.ipynb",
                                                                          "check the path")
    assert resolve_in_root(root, "a/none.ipynb", must_exist=False).name == "none.ipynb"
    with pytest.raises(PathRefusedError) as err:
        resolve_in_root(root, "a")  # a folder where a file is expected
    assert (err.value.message, err.value.where.path) == ("not a file", "a")
    with pytest.raises(PathRefusedError) as err:
        resolve_in_root(root, "a/n.ipynb", kind="dir")
    assert (err.value.message, err.value.where.path) == ("not a folder", "a/n.ipynb")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", "..", ".", "n.ipynb", "/", "x", "%2e%2e", "~", ".h"]),
                min_size=1, max_size=6), st.booleans())
def test_whatever_is_accepted_is_inside_the_root(tmp_path_factory, parts, allow_hidden):
    """Refused exactly when a rule says so, and what is accepted resolves inside the root (a
    resolver that refuses everything fails here: plain relative paths must be accepted)."""
    root = tmp_path_factory.mktemp("srv")
    (root / "a").mkdir(exist_ok=True)
    raw = "/".join(parts)
    segments = [s for s in raw.split("/") if s]
    should_refuse = raw.startswith("/") or ".." in segments or (
        not allow_hidden and any(s.startswith(".") and s != "." for s in segments))
    try:
        found = resolve_in_root(root, raw, must_exist=False, kind="any", allow_hidden=allow_hidden)
    except PathRefusedError as err:
        assert should_refuse, f"{raw!r} refused: {err.message}"
        return
    assert not should_refuse, f"{raw!r} accepted as {found}"
    assert found == (root.resolve() / raw).resolve()
    assert found == root.resolve() or root.resolve() in found.parents


def test_project_root_is_the_nearest_marker_but_never_above_the_server_root(tmp_path):
    outer = tmp_path / "outer"
    srv = outer / "srv"
    (srv / "proj" / "nb").mkdir(parents=True)
    (outer / "nbgov.toml").write_text("")  # a project above the server root: ignored
    assert project_root(srv, srv / "proj" / "nb") == srv.resolve()
    (srv / "proj" / "pipeline.yaml").write_text("tasks: []\n")
    assert project_root(srv, srv / "proj" / "nb") == (srv / "proj").resolve()
    assert project_root(srv, srv / "proj") == (srv / "proj").resolve()
    (srv / "proj" / "nb" / "n.ipynb").write_text("{}")  # a file: its folder's project
    assert project_root(srv, srv / "proj" / "nb" / "n.ipynb") == (srv / "proj").resolve()
    (srv / "pyproject.toml").write_text("[tool.nbgov]\n")
    assert project_root(srv, srv) == srv.resolve()

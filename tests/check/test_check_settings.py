"""The [check] table, glob matching and rule selection (unit tests: no files needed)."""

from __future__ import annotations

import pytest

from nbgov.core.checks.registry import load_registry
from nbgov.core.checks.settings import matches_any, parse_settings
from nbgov.core.errors import ConfigError


@pytest.mark.parametrize(
    ("path", "pattern", "expected"),
    [
        ("notebooks/a.ipynb", "notebooks/*.ipynb", True),
        ("notebooks/sub/a.ipynb", "notebooks/*.ipynb", False),
        ("notebooks/sub/a.ipynb", "notebooks/**", True),
        ("notebooks/sub/a.ipynb", "notebooks/", True),
        ("deep/x/.ipynb_checkpoints/a.ipynb", "**/.ipynb_checkpoints/**", True),
        ("a.ipynb", "**/a.ipynb", True),
        ("notebooks/scratch-1.ipynb", "scratch-*.ipynb", True),  # no "/": matches the base name
        ("notebooks/a.ipynb", "b/*.ipynb", False),
    ],
)
def test_globs(path, pattern, expected):
    assert matches_any(path, [pattern]) is expected


def test_defaults_and_full_table():
    assert parse_settings({}).outputs == "forbid"
    s = parse_settings(
        {
            "select": "ALL",
            "ignore": ["NBG401"],
            "outputs": {"max_bytes": 10},
            "kernel": "ir",
            "notebooks": "nbs/",
            "not-tasks": ["nbs/x.ipynb"],
            "per-path-ignores": {"nbs/r/*": ["NBG201"]},
            "exclude": ["tmp/**"],
        },
        top_kernel="python3",
    )
    assert (s.select, s.outputs, s.kernel, s.notebooks_dir) == (["ALL"], 10, "ir", "nbs")
    assert s.path_ignores("nbs/r/a.ipynb") == ["NBG201"] and s.path_ignores("nbs/a.ipynb") == []
    assert s.is_excluded("tmp/a.ipynb") and s.is_excluded(".git/x.ipynb")
    assert parse_settings({}, top_kernel="python3").kernel == "python3"


@pytest.mark.parametrize(
    "table, says",
    [
        ({"select": 3}, "[check] select must be a list of strings"),
        ({"outputs": {"max_bytes": -1}}, "[check] outputs must be \"forbid\", \"allow\" or {max_bytes = N}, got"),
        ({"outputs": {"max": 1}}, "got {'max': 1}"),
        ({"kernel": 1}, "[check] kernel must be a kernelspec name (a string)"),
        ({"per-path-ignores": ["x"]}, "[check] per-path-ignores must be a table of glob = [rules]"),
        ({"notebooks": 1}, "[check] notebooks must be a folder name (a string)"),
        ({"colour": "red"}, "[check] unknown key(s): colour"),
    ],
)
def test_bad_values(table, says):
    with pytest.raises(ConfigError) as err:
        parse_settings(table, source="nbgov.toml")
    assert says in err.value.message, err.value.message
    assert str(err.value.where) == "nbgov.toml" and err.value.exit_code == 2


def test_a_bad_kernel_names_the_key_it_came_from():
    with pytest.raises(ConfigError, match=r"^\[check\] kernel must be"):
        parse_settings({"kernel": 1}, top_kernel="python3")
    # a [kernel] table (e.g. timeouts from an older config) is a top-level key, not [check]'s
    with pytest.raises(ConfigError, match=r"^kernel \(top level\) must be") as info:
        parse_settings({}, top_kernel={"execution_timeout": 600})
    assert "[execution]" in (info.value.hint or "")


def test_selection():
    registry = load_registry(plugins=False)
    default = {r.id for r in registry.select(None)}
    assert "NBG701" not in default and "NBG501" in default
    assert {r.id for r in registry.select(["ALL"])} == {r.id for r in registry}
    assert {r.id for r in registry.select(["NBG5", "absolute-path"])} == {
        "NBG401",
        "NBG501",
        "NBG502",
    }
    assert {r.id for r in registry.select(None, ["not-approved"], ["NBG2"])} == default - {
        "NBG201",
        "NBG202",
        "NBG203",
    } | {"NBG701"}
    with pytest.raises(ConfigError, match="unknown rule 'NBG9'"):
        registry.select(["NBG9"])

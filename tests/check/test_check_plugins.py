"""Third-party rules through the ``nbgov.checks`` entry-point group, installed for real (a
``.dist-info`` folder on the path, as pip would leave it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nbgov.core.checks.registry import load_registry
from nbgov.core.errors import NbgovWarning
from nbgov.services.check.engine import run_check

PLUGIN = """
from nbgov.core.checks import Rule

def _no_print(ctx):
    for index, _cell in ctx.code_cells():
        for lineno, line in enumerate(ctx.source(index).split("\\n"), 1):
            if line.startswith("print("):
                yield index, lineno, "print() call; use logging"

def _crash(ctx):
    raise RuntimeError("plug-in bug")
    yield

RULES = [Rule("ACME001", "no-print", "print() in a notebook", "use logging", _no_print)]
CRASHING = Rule("ACME002", "always-crashes", "crashes", "none", _crash)
DUPLICATE = Rule("NBG501", "my-secrets", "reuses a built-in id", "none", _no_print)
NOT_A_RULE = 42
"""


def install_plugin(site: Path, entry_points: dict[str, str]) -> Path:
    """Write a module and a .dist-info declaring ``entry_points`` in the nbgov.checks group."""
    site.mkdir(parents=True, exist_ok=True)
    (site / "acme_rules.py").write_text(PLUGIN)
    info = site / "acme_rules-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-rules\nVersion: 1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[nbgov.checks]\n{lines}")
    return site


def test_plugin_rules_run_like_builtins(make_project, tmp_path, monkeypatch):
    site = install_plugin(tmp_path / "site", {"acme": "acme_rules:RULES"})
    monkeypatch.syspath_prepend(str(site))
    root = make_project("clean--executed.ipynb", config='[check]\noutputs = "allow"\n')
    registry = load_registry()
    assert registry.get("no-print").origin == "plugin acme = acme_rules:RULES"
    report = run_check(root=root)
    assert [(f.rule, f.cell, f.line) for f in report.findings] == [("ACME001", 1, 1)]
    # selectable and ignorable by id or name, like a built-in
    assert run_check(root=root, ignore=["no-print"]).findings == []
    assert run_check(root=root, plugins=False).findings == []


@pytest.mark.parametrize(
    "target", ["acme_missing:RULES", "acme_rules:NOT_A_RULE", "acme_rules:DUPLICATE"]
)
def test_broken_plugin_warns_and_is_skipped(make_project, tmp_path, monkeypatch, target):
    site = install_plugin(tmp_path / "site", {"broken": target, "acme": "acme_rules:RULES"})
    monkeypatch.syspath_prepend(str(site))
    with pytest.warns(NbgovWarning, match="check plug-in 'broken = "):
        registry = load_registry()
    assert registry.get("ACME001") is not None  # the good plug-in still loaded
    assert registry.get("NBG501").origin == "builtin"


def test_plugin_crash_is_an_internal_error_exit_2(make_project, tmp_path, run_cli):
    site = install_plugin(
        tmp_path / "site",
        {
            "acme": "acme_rules:RULES",
            "crash": "acme_rules:CRASHING",
            "broken": "acme_missing:RULES",
        },
    )
    root = make_project("clean--executed.ipynb", config='[check]\noutputs = "allow"\n')
    env = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    proc = run_cli(root, "check", env=env)
    assert proc.returncode == 2
    assert (
        "note: check plug-in 'broken = acme_missing:RULES' skipped: ModuleNotFoundError"
        in proc.stderr
    )
    assert (
        "error: rule ACME002 (plugin crash = acme_rules:CRASHING) failed on notebooks/clean--"
        in proc.stderr
    )
    # the other rules' findings are still reported
    assert "ACME001 [no-print]" in proc.stdout
    listed = run_cli(root, "check", "--list-rules", env=env)
    assert "ACME002" in listed.stdout and "[plugin crash = acme_rules:CRASHING]" in listed.stdout
    assert listed.stderr.startswith("note: check plug-in 'broken = acme_missing:RULES' skipped")

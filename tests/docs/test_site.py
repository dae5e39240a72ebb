"""The documentation site builds strictly, and its generated pages cover the code.

`mkdocs build --strict` fails on a broken link, a missing page or image, a page left out of the
nav, or an unknown generated-content marker. The generated pages are then read back: every
command of ``nbgov.cli.COMMANDS`` (and every sub-command of a group), every built-in check rule
and every JSON schema must be on the site.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MKDOCS = [sys.executable, "-m", "mkdocs"]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built once for this module with --strict into a temp folder."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [*MKDOCS, "build", "--strict", "--site-dir", str(out), "--config-file", str(REPO / "mkdocs.yml")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stderr[-4000:]}"
    return out


def _anchors(page: Path) -> set[str]:
    return set(re.findall(r'<h[1-6] id="([^"]+)"', page.read_text(encoding="utf-8")))


def _nav_files(nav) -> list[str]:
    files: list[str] = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        files += _nav_files(value) if isinstance(value, list) else [value]
    return files


def test_every_nav_page_is_built(site):
    # mkdocs.yml uses !!python tags nowhere, so safe_load reads it
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    pages = _nav_files(config["nav"])
    assert len(pages) >= 25
    for page in pages:
        assert (site / page).with_suffix(".html").is_file(), page


def test_cli_reference_has_every_command_and_subcommand(site):
    from nbgov.cli import COMMANDS, LazyGroup

    anchors = _anchors(site / "reference" / "cli.html")
    missing = []
    for name in COMMANDS:
        # the LazyGroup hides a command whose module cannot be imported: the site must not
        if f"nbgov-{name}" not in anchors:
            missing.append(name)
            continue
        command = LazyGroup._load(name)
        if isinstance(command, click.Group):
            missing += [f"{name} {sub}" for sub in command.commands if f"nbgov-{name}-{sub}" not in anchors]
    assert not missing, f"commands missing from the CLI reference: {missing}"


def test_cli_reference_shows_options(site):
    text = (site / "reference" / "cli.html").read_text(encoding="utf-8")
    for option in ("--require-approved", "--extend-select", "--against", "--dry-run", "--batch"):
        assert option in text
    assert "UNSET" not in text  # click's sentinel for "no default"


def test_check_reference_lists_every_builtin_rule(site):
    from nbgov.core.checks.registry import load_registry

    page = site / "reference" / "checks.html"
    anchors = _anchors(page)
    text = page.read_text(encoding="utf-8")
    rules = list(load_registry(plugins=False))
    assert len(rules) >= 16
    for rule in rules:
        assert rule.id.lower() in anchors, rule.id
        assert rule.name in text, rule.name
    assert "nbgov:rules" not in text  # the marker was replaced


def test_schema_reference_lists_every_schema(site):
    text = (site / "reference" / "schemas.html").read_text(encoding="utf-8")
    schemas = sorted((REPO / "src" / "nbgov" / "core" / "schemas").glob("*.json"))
    assert schemas
    for path in schemas:
        schema = json.loads(path.read_text())
        assert schema["title"] in text, path.name
        for field in schema.get("properties", {}):
            assert f"<code>{field}</code>" in text, f"{path.name}: {field}"


def test_screenshots_are_on_the_site(site):
    shots = sorted((REPO / "docs" / "assets" / "screenshots").glob("*.png"))
    assert {p.stem for p in shots} >= {"pipeline-panel", "badge", "context-menu", "diff", "lineage"}
    html = (site / "how-to" / "jupyterlab.html").read_text(encoding="utf-8")
    for shot in shots:
        assert (site / "assets" / "screenshots" / shot.name).is_file()
        assert f"assets/screenshots/{shot.name}" in html, f"{shot.name} is not shown in the JupyterLab guide"


def test_galata_specs_take_the_screenshots_the_docs_show():
    # the specs and their shared helpers (which hold the screenshot folder)
    specs = sorted((REPO / "extensions" / "jupyterlab-nbgov" / "ui-tests" / "tests").glob("*.ts"))
    spec = "\n".join(path.read_text() for path in specs)
    assert "NBGOV_SCREENSHOT_DIR" in spec
    guide = (REPO / "docs" / "how-to" / "jupyterlab.md").read_text()
    shown = set(re.findall(r"assets/screenshots/([a-z-]+)\.png", guide))
    assert len(shown) >= 5
    untaken = sorted(name for name in shown if f"'{name}'" not in spec)
    assert not untaken, f"pictures the docs show that no galata spec takes: {untaken}"


def test_unknown_marker_fails_the_build(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# x\n\n<!-- nbgov:rulez -->\n")
    (tmp_path / "mkdocs.yml").write_text(
        "site_name: t\ndocs_dir: docs\nhooks:\n  - " + str(REPO / "docs" / "_hooks" / "nbgov_docs.py") + "\n"
    )
    proc = subprocess.run([*MKDOCS, "build", "--strict", "-d", str(tmp_path / "out")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode != 0
    assert "unknown marker nbgov:rulez" in proc.stderr


def test_site_loads_nothing_from_other_hosts(site):
    # read from disk on machines without internet access: styles, scripts, fonts are local
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        remote = re.findall(r'<(?:script|img)[^>]+src="(https?://[^"]+)"', text)
        remote += re.findall(r'<link[^>]+href="(https?://[^"]+)"[^>]*rel="(?:stylesheet|preconnect)"', text)
        remote += re.findall(r'<link[^>]+rel="(?:stylesheet|preconnect)"[^>]*href="(https?://[^"]+)"', text)
        assert not remote, f"{page.relative_to(site)} loads {remote}"

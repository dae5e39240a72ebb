"""The layering of DESIGN.md, checked on every test run (import-linter contracts in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    proc = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=REPO, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "BROKEN" not in proc.stdout and proc.stdout.count("KEPT") >= 3


def test_cli_help_does_not_import_heavy_tools():
    code = ("import sys\nfrom nbgov.cli import cli\n"
            "heavy = [m for m in ('mlflow', 'ploomber', 'nbformat', 'papermill', 'nbdime') if m in sys.modules]\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_ruff_is_clean():
    proc = subprocess.run([str(Path(sys.executable).parent / "ruff"), "check", "src", "tests", "benchmarks"],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:]

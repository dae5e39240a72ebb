"""nbgov's own processes started in a project folder never import from it (R4: only reviewed
code runs): a project's ``nbgov/`` package or a module named like the standard library's
(``selectors.py``) must not replace nbgov or Python in the server's `nbgov build`, a cluster
task's `nbgov build` or the warm-kernel template, which start before the approval gate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

MARK = "open({marker!r}, 'a').write(__name__ + '\\n')\n"


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[Path, Path]:
    """(project folder shadowing nbgov and the stdlib's selectors, the marker they write)."""
    project, marker = tmp_path / "project", tmp_path / "PWNED"
    (project / "nbgov").mkdir(parents=True)
    for name in ("nbgov/__init__.py", "nbgov/__main__.py", "selectors.py"):
        (project / name).write_text(MARK.format(marker=str(marker)))
    return project, marker


def test_the_servers_nbgov_command_runs_the_installed_nbgov(hostile):
    from nbgov.server.subproc import nbgov_command

    project, marker = hostile
    proc = subprocess.run(nbgov_command("--version"), cwd=project, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists(), marker.read_text()


def test_a_cluster_tasks_command_runs_the_installed_nbgov(hostile):
    from nbgov.adapters.engines.dask import PYTHON
    from nbgov.services.build.cluster import _task_argv
    from nbgov.services.build.options import BuildOptions

    project, marker = hostile
    argv = [sys.executable if a == PYTHON else a for a in _task_argv("a", "b" * 32, BuildOptions())]
    # the same interpreter options, asking only for the version
    proc = subprocess.run([*argv[: argv.index("nbgov") + 1], "--version"], cwd=project, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists(), marker.read_text()


def test_the_kernel_template_imports_nothing_from_the_project(hostile):
    from nbgov.adapters.kernels.template import start_template, stop_template

    project, marker = hostile
    tpl = start_template(project, [], ["json"])
    assert tpl is not None
    try:
        assert "json" in tpl.wait_preloaded()["preloaded"]
    finally:
        stop_template()
    assert not marker.exists(), marker.read_text()

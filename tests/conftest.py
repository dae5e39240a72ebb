"""Fixtures shared by every test area. Each area (build, review, check, server, lineage, models)
keeps its own conftest.py in its folder."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# nbgov and the tests must not phone home
os.environ["PLOOMBER_STATS_ENABLED"] = "false"
os.environ["PLOOMBER_VERSION_CHECK_DISABLED"] = "true"


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (tests only bind loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """An empty git repository in a temp dir with a configured author."""
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "config", "user.name", "Ada Author"], check=True)
    subprocess.run(["git", "-C", str(root), "config", "user.email", "ada@example.com"], check=True)
    subprocess.run(["git", "-C", str(root), "config", "commit.gpgsign", "false"], check=True)
    return root


@pytest.fixture(autouse=True)
def _no_tracking_uri_leaks(monkeypatch):
    """Each test starts without MLFLOW_TRACKING_URI, and whatever a test (or mlflow's
    set_tracking_uri, which exports it) leaves in os.environ is undone afterwards."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "unset")  # records the original state for teardown
    monkeypatch.delenv("MLFLOW_TRACKING_URI")


# -- the suite tells the truth: every test file is collected, no unexplained skips in CI --------
_collected_files: set[Path] = set()


def pytest_collectreport(report) -> None:
    """Remember each test module that was collected (whatever -k later deselects)."""
    path = getattr(report, "fspath", None) or report.nodeid.split("::")[0]
    if report.outcome == "passed" and str(path).endswith(".py"):
        _collected_files.add(Path(str(path)).resolve())


def _requested_test_files(config) -> set[Path]:
    """Every tests/**/test_*.py under the folders (or files) this run was asked to collect."""
    wanted: set[Path] = set()
    for arg in config.args or [str(REPO / "tests")]:
        target = Path(str(arg).split("::")[0])
        target = (target if target.is_absolute() else Path(config.invocation_params.dir) / target).resolve()
        if target.is_dir():
            wanted.update(p.resolve() for p in target.rglob("test_*.py") if "node_modules" not in p.parts)
        elif target.name.startswith("test_") and target.suffix == ".py":
            wanted.add(target)
    return wanted


def pytest_collection_finish(session) -> None:
    """Fail the run when a test file under the requested folders was not collected (a
    norecursedirs pattern, a module-level skip, an import error that was swallowed)."""
    if session.config.option.collectonly and os.environ.get("NBGOV_ALLOW_PARTIAL_COLLECTION"):
        return
    missing = sorted(_requested_test_files(session.config) - _collected_files)
    if missing:
        names = "\n  ".join(str(p.relative_to(REPO)) if p.is_relative_to(REPO) else str(p) for p in missing)
        raise pytest.UsageError(f"{len(missing)} test file(s) were not collected:\n  {names}\n"
                                "fix norecursedirs in pyproject.toml or the module's import/skip")


#: Skips CI may see, by test node id prefix; anything else skipped in CI fails the run.
ALLOWED_CI_SKIPS: dict[str, str] = {}


def _ci_skips(config) -> list:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    stats = reporter.stats.get("skipped", []) if reporter else []
    return [r for r in stats if not any(r.nodeid.startswith(p) for p in ALLOWED_CI_SKIPS)]


def pytest_sessionfinish(session, exitstatus) -> None:
    """With NBGOV_NO_SKIPS=1 (set by .ci/run), a skipped test fails the run: every tool a test
    needs is installed in CI, so a skip there hides a test that never ran."""
    if os.environ.get("NBGOV_NO_SKIPS") and _ci_skips(session.config) and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not os.environ.get("NBGOV_NO_SKIPS"):
        return
    skipped = _ci_skips(config)
    if skipped:
        terminalreporter.write_line(f"NBGOV_NO_SKIPS: {len(skipped)} test(s) skipped; the run fails:", red=True)
        for r in skipped:
            reason = r.longrepr[2] if isinstance(r.longrepr, tuple) else str(r.longrepr)
            terminalreporter.write_line(f"  {r.nodeid}: {reason}")

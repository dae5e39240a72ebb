"""Fixtures shared by every test area. Each area (build, review, check, server, lineage, models)
keeps its own conftest.py in its folder."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# A suite started with SIGINT ignored (`nohup make test`, a CI runner that backgrounds its jobs)
# would pass that on to every process it starts, and the tests that send a child SIGINT (a
# Ctrl-C) would test nothing: give SIGINT its default disposition here, and so to the children
# (a handled signal is reset to the default across exec; an ignored one stays ignored).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parents[1]

# The CLI's output goes to pipes here, where a table keeps each row on one line; an exported
# COLUMNS (pytest-xdist's workers have one) would fit it to that width instead
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)

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
def _ctrl_c_as_python_starts():
    """Each test starts with Ctrl-C's default handler, which the processes it starts inherit: a
    test (or a library) that ignored or replaced it must not decide a later test's result in the
    same process (pytest-xdist runs the files in no fixed order)."""
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread: nothing to reset there
        pass
    yield


@pytest.fixture(autouse=True)
def _no_tracking_uri_leaks(monkeypatch):
    """Each test starts without MLFLOW_TRACKING_URI, and whatever a test (or mlflow's
    set_tracking_uri, which exports it) leaves in os.environ is undone afterwards."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "unset")  # records the original state for teardown
    monkeypatch.delenv("MLFLOW_TRACKING_URI")


@pytest.fixture(autouse=True)
def _no_bytecode_prefix_leaks(monkeypatch):
    """Whatever bytecode settings an in-process governed build made (services.build sets
    ``sys.pycache_prefix`` and ``PYTHONPYCACHEPREFIX`` for the rest of its process, and lifts
    ``PYTHONDONTWRITEBYTECODE``) are undone after the test: a later test's ``nbgov`` subprocess
    in the same worker must start as a user's shell would (an ungoverned build there read the
    prefix, not a forged ``__pycache__`` file it was meant to load)."""
    for name in ("PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE"):
        original = os.environ.get(name)
        monkeypatch.setenv(name, original or "")  # records the original state for teardown
        if original is None:
            monkeypatch.delenv(name)
    monkeypatch.setattr(sys, "pycache_prefix", sys.pycache_prefix)
    monkeypatch.setattr(sys, "dont_write_bytecode", sys.dont_write_bytecode)



# -- the example project, built once per session and shared -------------------------------------
#: What makes the repository's example project (copied from the working tree).
EXAMPLE_FILES = ("notebooks", "data", "pipeline.yaml", "env.yaml", "nbgov.toml", "environment.yml", ".gitignore")


def copy_example_files(dest: Path) -> None:
    """The repository's example project files (:data:`EXAMPLE_FILES`) copied into ``dest``."""
    for name in EXAMPLE_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        elif src.exists():
            shutil.copy(src, dest / name)


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 120, log: Path | None = None) -> None:
    """Wait until ``url`` answers 200, failing early (with the log's tail) when the server died."""
    import time
    import urllib.request

    def tail() -> str:
        return log.read_text()[-3000:] if log is not None and log.exists() else ""

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:3]} exited {proc.returncode}:\n{tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout} s:\n{tail()}")


@dataclass(frozen=True)
class BuiltExample:
    """The example project after one ``nbgov build --json`` in a git repo of its own."""

    root: Path
    #: the JSON summary printed by that first build
    summary: dict

    @property
    def store(self) -> str:
        """The embedded tracking URI (the project's mlflow.db)."""
        return f"sqlite:///{self.root / 'mlflow.db'}"


def run_nbgov(root: Path, *args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """The real ``nbgov`` CLI in ``root``, without an inherited tracking URI or reviewer."""
    drop = ("MLFLOW_TRACKING_URI", "NBGOV_REVIEWER")
    full = {k: v for k, v in os.environ.items() if k not in drop}
    full.update({"PLOOMBER_STATS_ENABLED": "false", **(env or {})})
    return subprocess.run([sys.executable, "-m", "nbgov", *args], cwd=root, capture_output=True, text=True,
                          env=full, timeout=timeout)


def _commit_all(root: Path, message: str) -> None:
    git = ["git", "-C", str(root), "-c", "user.name=Ada Author", "-c", "user.email=ada@example.com",
           "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "add", "-A"], check=True, capture_output=True)
    subprocess.run([*git, "commit", "-qm", message], check=True, capture_output=True)


@pytest.fixture(scope="session")
def built_example(tmp_path_factory) -> BuiltExample:
    """The repository's example project built once for the whole session (30-90 s): shared by
    tests/build (end to end), tests/lineage and tests/models. READ-ONLY: a test that changes the
    project or its store (promote, approve, monitor) works on :func:`copy_built_example`; a test
    that moves a file for a moment puts it back in a ``finally``."""
    root = tmp_path_factory.mktemp("example") / "example"
    root.mkdir()
    copy_example_files(root)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "config", "user.name", "Ada Author"], check=True)
    subprocess.run(["git", "-C", str(root), "config", "user.email", "ada@example.com"], check=True)
    subprocess.run(["git", "-C", str(root), "config", "commit.gpgsign", "false"], check=True)
    _commit_all(root, "example")
    proc = run_nbgov(root, "build", "--json")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return BuiltExample(root, json.loads(proc.stdout))


def copy_built_example(built: BuiltExample, dest: Path) -> Path:
    """A private copy of the built example (git repo, products, mlflow.db, mlruns/) at ``dest``.

    MLflow's SQLite store holds absolute artifact locations (``file:///.../mlruns``): they are
    rewritten to the copy, so that what a test logs or reads goes to the copy's own mlruns/ and
    never to the shared build's.
    """
    shutil.copytree(built.root, dest, symlinks=True)
    old, new = str(built.root), str(dest)
    with sqlite3.connect(dest / "mlflow.db") as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for column in db.execute(f'PRAGMA table_info("{table}")').fetchall():
                if column[2].upper().startswith(("VARCHAR", "TEXT")):
                    db.execute(f'UPDATE "{table}" SET "{column[1]}" = replace("{column[1]}", ?, ?) '
                               f'WHERE "{column[1]}" LIKE ?', (old, new, f"%{old}%"))
    return dest

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

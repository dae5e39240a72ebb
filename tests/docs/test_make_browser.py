"""`make test` provides the browser of the browser tests itself (the README's second command is
green on a fresh machine), and without root says what to run and skips only those tests.

The Makefile's logic runs for real, with `id` and `apt-get` replaced by fakes on PATH and
CHROMIUM pointing into a temp folder: no package is installed or removed by this test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def _fake(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


@pytest.fixture
def machine(tmp_path):
    """A fake machine: `id -u` answers UID, apt-get logs its calls and 'installs' CHROMIUM."""

    def run(target: str, uid: int, extra_env: dict | None = None, apt_ok: bool = True):
        bin_dir = tmp_path / f"bin-{uid}-{apt_ok}"
        bin_dir.mkdir(exist_ok=True)
        chromium = tmp_path / "chromium"
        _fake(bin_dir, "id", f"echo {uid}\n")
        install = f'printf "#!/bin/sh\\n" > {chromium}; chmod +x {chromium}' if apt_ok else "exit 100"
        _fake(bin_dir, "apt-get", f'echo "$*" >> {tmp_path}/apt.log\ncase "$*" in *install*) {install};; esac\n')
        env = {k: v for k, v in os.environ.items() if k not in ("NBGOV_NO_SKIPS", "MAKEFLAGS", "MAKELEVEL")}
        env.update(extra_env or {})
        env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
        proc = subprocess.run([MAKE, "--no-print-directory", "-C", str(REPO), target, f"CHROMIUM={chromium}"],
                              env=env, capture_output=True, text=True, timeout=120)
        log = tmp_path / "apt.log"
        return proc, chromium, (log.read_text().splitlines() if log.exists() else [])

    return run


def test_root_installs_debian_chromium(machine):
    proc, chromium, apt = machine("browser", uid=0)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "installing Debian's chromium" in proc.stdout
    assert any(call.endswith("update -qq") for call in apt)
    assert any(call.endswith("install -y -qq chromium") for call in apt)
    assert os.access(chromium, os.X_OK)
    # present now: nothing more is installed
    proc, _, apt_again = machine("browser", uid=0)
    assert proc.returncode == 0 and apt_again == apt


def test_root_install_failure_fails(machine):
    proc, chromium, _ = machine("browser", uid=0, apt_ok=False)
    assert proc.returncode != 0
    assert "apt-get install chromium failed" in proc.stdout
    assert not chromium.exists()


def test_without_root_the_browser_tests_are_skipped_with_the_command_to_run(machine):
    proc, chromium, apt = machine("test-browser", uid=1000)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sudo apt-get install -y chromium && make test-browser" in proc.stdout
    assert "SKIPPED the browser tests (galata) only" in proc.stdout
    assert apt == [] and not chromium.exists()
    # nothing was built or run for them
    assert "playwright" not in proc.stdout and "jlpm" not in proc.stdout


def test_without_root_a_ci_run_fails_instead_of_skipping(machine):
    proc, _, _ = machine("test-browser", uid=1000, extra_env={"NBGOV_NO_SKIPS": "1"})
    assert proc.returncode != 0
    assert "may not be skipped" in proc.stdout


def test_asking_for_the_browser_without_root_fails(machine):
    proc, _, _ = machine("browser", uid=1000)
    assert proc.returncode != 0
    assert "installing one needs root" in proc.stdout


def test_test_target_runs_the_browser_step_last():
    # `make test` = setup, Python, JS, then the browser step that provides Chromium itself
    makefile = (REPO / "Makefile").read_text()
    line = next(x for x in makefile.splitlines() if x.startswith("test:"))
    assert line.split("##")[0].split(":", 1)[1].split() == ["setup", "test-py", "test-js", "test-browser"]
    playwright_config = REPO / "extensions" / "jupyterlab-nbgov" / "ui-tests" / "playwright.config.js"
    assert "CHROMIUM_PATH" in playwright_config.read_text()

"""``nbgov diff --web`` serves nbdime's web diff on 127.0.0.1 only (started for real, stopped)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from tests.conftest import free_port

from nbgov.adapters.nbdime import web_command
from nbgov.core.config import load_config
from nbgov.services.review.state import record_decision

pytestmark = pytest.mark.integration

NB = "notebooks/train.ipynb"
NO_BROWSER = "nbgov-test-no-browser"  # an unknown browser name: nbdime opens none


def listening_addresses(port: int) -> set[str]:
    """Local addresses of sockets in LISTEN state on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for row in Path(table).read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, hexport = local.split(":")
            if state == "0A" and int(hexport, 16) == port:
                found.add(address)
    return found


def wait_for_http(url: str, seconds: float = 30) -> str:
    deadline = time.time() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read().decode("utf-8", errors="replace")
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def test_web_command_binds_loopback_only(tmp_path):
    cmd = web_command(tmp_path / "a.ipynb", tmp_path / "b.ipynb", 8123, NO_BROWSER)
    assert cmd[cmd.index("--ip") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--port") + 1] == "8123"
    assert "0.0.0.0" not in cmd


def test_nbgov_diff_web_serves_on_loopback(project, bob, fixture_nb):
    record_decision(load_config(project), NB, "approved", "", bob)
    shutil.copy(fixture_nb("train--edited.ipynb"), project / NB)
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nbgov",
            "diff",
            NB,
            "--web",
            "--port",
            str(port),
            "--browser",
            NO_BROWSER,
        ],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        command = proc.stdout.readline().split(": ", 1)[1].split()
        base, remote = command[-2:]
        assert Path(base).name == "train--approved.ipynb"
        assert Path(remote).name == "train--current.ipynb"
        query = urllib.parse.urlencode({"base": base, "remote": remote})
        page = wait_for_http(f"http://127.0.0.1:{port}/diff?{query}")
        assert "nbdime" in page.lower()
        # 0100007F is 127.0.0.1 in /proc/net/tcp's byte order: nothing else listens on the port
        assert listening_addresses(port) == {"0100007F"}
        # the page is nbdime's diff of the approved snapshot against the working copy
        assert base in page and remote in page
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert command[command.index("--ip") + 1] == "127.0.0.1"
    assert not Path(base).exists(), "the compared copies are removed with the server"
    time.sleep(0.2)
    assert listening_addresses(port) == set(), "the nbdime server must stop with nbgov"

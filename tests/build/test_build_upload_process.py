"""The build process never imports MLflow: its upload process sends the runs (real build, real
SQLite store, real kernels)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.build.conftest import mlflow_runs

pytestmark = pytest.mark.integration

PROBE = """
import atexit, json, sys
def report():
    mods = {m: type(sys.modules[m]).__name__ if m in sys.modules else None
            for m in ("mlflow", "pandas", "matplotlib.pyplot", "sqlalchemy")}
    sys.stderr.write("PROBE " + json.dumps(mods) + "\\n")
atexit.register(report)
sys.argv = ["nbgov", "build", "-q"]
from nbgov.cli import main
main()
"""


def test_build_process_leaves_mlflow_and_ploombers_extras_unimported(tiny: Path):
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=tiny, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    probe = json.loads(next(line for line in proc.stderr.splitlines() if line.startswith("PROBE "))[6:])
    # MLflow lives in the upload process only; Ploomber's optional extras are never executed here
    assert probe["mlflow"] is None
    assert probe["pandas"] in (None, "_LazyModule") and probe["sqlalchemy"] in (None, "_LazyModule")
    runs = mlflow_runs(f"sqlite:///{tiny / 'mlflow.db'}", "tiny")
    children = [r for r in runs if r.data.tags.get("nbgov.kind") == "task"]
    parent = next(r for r in runs if r.data.tags.get("nbgov.kind") == "build")
    assert children and all(r.info.status == "FINISHED" for r in children)
    # records written before the store answered were given their run ids by the upload process
    for record_path in sorted((tiny / "products").glob("*.lineage.json")):
        record = json.loads(record_path.read_text())
        run = next(r for r in children if r.info.run_id == record["run_id"])
        assert run.data.tags["nbgov.task"] == record["task"]
        assert record["parent_run_id"] == parent.info.run_id
        assert all(up["run_id"] for up in record["upstream"])


def test_upload_process_ignores_ctrl_c_and_ends_with_its_build(tmp_path: Path):
    """Killing the build (SIGKILL) takes the upload process with it, even one that is busy (here:
    stopped, so that it cannot notice its input closing): no orphan keeps sending after its build."""
    import os
    import signal
    import time

    script = tmp_path / "owner.py"
    script.write_text(
        "import time\n"
        "from nbgov.services.recording.uploader import Uploader\n"
        f"u = Uploader({{'root': {str(tmp_path)!r}, 'uri': 'sqlite:///{tmp_path}/m.db', 'experiment': 'x',"
        f" 'journal_folder': {str(tmp_path)!r}, 'journal': 'j'}}, {{}})\n"
        "u.start()\n"
        "print(u._process.pid, flush=True)\n"
        "time.sleep(120)\n")
    owner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    child = int(owner.stdout.readline())
    try:
        time.sleep(1)
        os.kill(child, signal.SIGINT)  # a terminal's Ctrl-C is the build's to handle
        time.sleep(0.5)
        assert _alive(child)
        os.kill(child, signal.SIGSTOP)
        owner.kill()
        owner.wait()
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)
    finally:
        owner.kill()
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os_stat = Path(f"/proc/{pid}/stat").read_text().split()
    except OSError:
        return False
    return os_stat[2] != "Z"

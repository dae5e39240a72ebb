"""A `dask scheduler` and `dask worker` processes on 127.0.0.1, each in a session of its own,
for the cluster tests (the real CLIs of the venv the tests run in)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port

BIN = Path(sys.executable).parent


def start_scheduler(cwd: Path | None = None, env: dict | None = None) -> tuple[str, subprocess.Popen]:
    """(address, process) of a scheduler on a free port."""
    port = free_port()
    proc = subprocess.Popen([BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                            cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, **(env or {})})
    return f"tcp://127.0.0.1:{port}", proc


def start_worker(address: str, folder: Path | None = None, env: dict | None = None) -> subprocess.Popen:
    """One single-threaded worker; with ``folder``, working (and spilling) there."""
    where: list[str] = []
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        where = ["--local-directory", str(folder)]
    return subprocess.Popen([BIN / "dask", "worker", address, "--nthreads", "1", "--nworkers", "1", "--host",
                             "127.0.0.1", "--no-dashboard", *where], cwd=folder, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, env={**os.environ, **(env or {})})


def wait_for_workers(address: str, n: int = 2) -> None:
    """Until ``n`` workers have joined the scheduler at ``address``."""
    from distributed import Client  # dask's client: only the cluster tests need it

    with Client(address, timeout=60) as client:
        client.wait_for_workers(n, timeout=120)


def stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM each process group (workers first), SIGKILL what is still there after 20 s."""
    for proc in reversed(procs):
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def product_digests(root: Path, tasks: list[str]) -> dict:
    """task -> {product key: digest} from the lineage records (executed notebooks left out)."""
    out = {}
    for task in tasks:
        record = json.loads((root / f"products/{task}.lineage.json").read_text())
        out[task] = {k: v["digest"] for k, v in record["products"].items() if not v["path"].endswith(".ipynb")}
    return out

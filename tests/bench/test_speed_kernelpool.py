"""Kernels booted ahead of their task (nbgov.adapters.kernels.pool), with real kernels."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

KERNEL = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
}


def _notebook(path: Path, *sources: str) -> Path:
    cells = [
        {
            "cell_type": "code",
            "id": f"c{i}",
            "metadata": {},
            "source": src,
            "outputs": [],
            "execution_count": None,
        }
        for i, src in enumerate(sources)
    ]
    path.write_text(
        json.dumps({"cells": cells, "metadata": KERNEL, "nbformat": 4, "nbformat_minor": 5})
    )
    return path


PROBE = (
    "import os, json\n"
    "print(json.dumps({'pid': os.getpid(), 'cwd': os.getcwd(),\n"
    "                  'fresh': 'seen' not in globals()}))\n"
    "seen = True"
)


def _probe(nb) -> dict:
    return json.loads(nb.cells[0].outputs[0]["text"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); its state in /proc says it is gone
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def _gone(pid: int, within: float = 10) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_every_task_gets_its_own_fresh_booted_kernel(tmp_path, monkeypatch):
    import papermill as pm
    from papermill.engines import papermill_engines

    from nbgov.adapters.kernels.pool import kernel_pool

    monkeypatch.chdir(tmp_path)
    nb = _notebook(tmp_path / "probe.ipynb", PROBE)
    default = papermill_engines.get_engine(None)
    seen = []
    with kernel_pool() as pool:
        assert papermill_engines.get_engine(None) is not default
        for i in range(3):
            out = pm.execute_notebook(
                str(nb),
                str(tmp_path / f"out{i}.ipynb"),
                progress_bar=False,
                shutdown_kernel="immediate",
            )
            seen.append(_probe(out))
        spare_pid = pool._spare[1].provisioner.process.pid
    assert papermill_engines.get_engine(None) is default  # papermill's own engine again
    assert (pool.hits, pool.misses) == (2, 1)  # the first task had nothing booted for it
    pids = [s["pid"] for s in seen]
    assert len(set(pids)) == 3 and all(s["fresh"] for s in seen)
    assert all(s["cwd"] == str(tmp_path) for s in seen)
    assert all(_gone(pid) for pid in [*pids, spare_pid])  # no kernel outlives the block


def test_dead_or_mismatched_spare_falls_back_to_a_fresh_start(tmp_path, monkeypatch):
    import papermill as pm

    from nbgov.adapters.kernels.pool import kernel_pool

    monkeypatch.chdir(tmp_path)
    nb = _notebook(tmp_path / "probe.ipynb", PROBE)
    other = tmp_path / "elsewhere"
    other.mkdir()
    with kernel_pool() as pool:
        pm.execute_notebook(str(nb), str(tmp_path / "a.ipynb"), progress_bar=False)
        os.kill(pool._spare[1].provisioner.process.pid, signal.SIGKILL)  # the spare dies
        b = _probe(pm.execute_notebook(str(nb), str(tmp_path / "b.ipynb"), progress_bar=False))
        # the next spare was booted here; a task in another folder must not take it
        c = _probe(
            pm.execute_notebook(
                str(nb), str(tmp_path / "c.ipynb"), progress_bar=False, cwd=str(other)
            )
        )
    assert (pool.hits, pool.misses) == (0, 3)
    assert b["fresh"] and c["cwd"] == str(other)


def test_a_failing_notebook_fails_as_with_papermill_and_its_kernel_ends(tmp_path, monkeypatch):
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from nbgov.adapters.kernels.pool import kernel_pool

    monkeypatch.chdir(tmp_path)
    ok = _notebook(tmp_path / "ok.ipynb", PROBE)
    bad = _notebook(tmp_path / "bad.ipynb", "import os\nprint(os.getpid())", "1 / 0")
    with kernel_pool() as pool:
        pm.execute_notebook(str(ok), str(tmp_path / "ok-out.ipynb"), progress_bar=False)
        with pytest.raises(PapermillExecutionError) as exc:
            pm.execute_notebook(str(bad), str(tmp_path / "bad-out.ipynb"), progress_bar=False)
        after = _probe(
            pm.execute_notebook(str(ok), str(tmp_path / "ok2.ipynb"), progress_bar=False)
        )
    assert exc.value.ename == "ZeroDivisionError"
    assert pool.hits == 2
    executed = json.loads((tmp_path / "bad-out.ipynb").read_text())
    # papermill puts an error banner (markdown) first: the pid is the first code cell's output
    first = next(c for c in executed["cells"] if c["cell_type"] == "code")
    failed_pid = int("".join(first["outputs"][0]["text"]).strip())
    assert _gone(failed_pid) and after["fresh"] and after["pid"] != failed_pid

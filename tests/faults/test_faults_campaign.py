"""The fault campaign: seeded random kills of the build (SIGKILL, SIGINT), of the tracking
server and of ``nbgov sync``, trial after trial on one project against a real `mlflow server`.

After every trial the project is repaired the way a user would (restart the server, ``nbgov
sync``, ``nbgov build``) and then nothing may be lost: every task run the journals say
finished is in the store exactly once (by its key), closed, with its params, metrics and
lineage artifact; no run is RUNNING; every task is up to date with a record naming a closed
run. ``make faults`` runs 100+ trials (NBGOV_FAULT_TRIALS); the test suite runs a few.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from tests.build.conftest import GLUE, make_tiny, notebook, run_cli, write_nb
from tests.conftest import free_port
from tests.faults.conftest import start_mlflow_server, stop

pytestmark = pytest.mark.integration

TRIALS = int(os.environ.get("NBGOV_FAULT_TRIALS", "4"))  # one of each fault in `make test`
SEED = int(os.environ.get("NBGOV_FAULT_SEED", "20261129"))
FAULTS = ("kill_build", "sigint_build", "kill_server", "kill_sync")


def _popen(root: Path, uri: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PLOOMBER_STATS_ENABLED": "false", "MLFLOW_TRACKING_URI": uri}
    return subprocess.Popen([sys.executable, "-m", "nbgov", *args], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _journal_events(root: Path) -> list[dict]:
    from nbgov.core.journal import AppendLog

    events = []
    for folder in (root / ".nbgov/journal", root / ".nbgov/journal/done"):
        for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
            events += AppendLog(path).read()[0]
    return events


def check_nothing_lost(root: Path, uri: str) -> dict:
    """The campaign's invariants; returns counts."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("tiny")
    runs = client.search_runs([exp.experiment_id], max_results=5000)
    assert [r.info.run_name for r in runs if r.info.status == "RUNNING"] == [], "a run left RUNNING"
    keys = Counter(r.data.tags.get("nbgov.run_key") for r in runs)
    assert [k for k, n in keys.items() if n > 1] == [], "a run sent twice"
    by_key = {r.data.tags.get("nbgov.run_key"): r for r in runs}
    finished = [e for e in _journal_events(root) if e["event"] == "task_finished" and e.get("outcome") == "ran"]
    for event in finished:
        run = by_key.get(event["key"])
        assert run is not None, f"run {event['key']} lost"
        assert run.info.status == "FINISHED", (event["key"], run.info.status)
        if event["task"] == "a":
            assert run.data.params.get("x") == "1" and run.data.metrics.get("value") == 10.0
        assert "nbgov" in {f.path for f in client.list_artifacts(run.info.run_id)}, event["key"]
    status = json.loads(run_cli(root, "status", "--json", env={"MLFLOW_TRACKING_URI": uri}).stdout)
    assert {t["state"] for t in status["tasks"]} == {"up-to-date"}, status["tasks"]
    by_id = {r.info.run_id: r for r in runs}
    for task in status["tasks"]:
        run_id = task["last_run"]["run_id"]
        assert run_id in by_id and by_id[run_id].info.status == "FINISHED", task
    return {"runs": len(runs), "finished_task_runs": len(finished)}


def test_fault_campaign(git_repo: Path, tmp_path: Path):
    root = make_tiny(git_repo)
    # b takes a moment, so that kills land inside tasks as often as between them
    write_nb(root / "notebooks/b.ipynb", notebook(
        "upstream = ['a']\nproduct = None", GLUE,
        "import time, random\nfrom pathlib import Path\nPath(product['data']).write_text('partial')\n"
        "time.sleep(random.uniform(0.5, 2.5))",
        "v = int(Path(upstream['a']['data']).read_text())\nPath(product['data']).write_text(str(v + 1))",
        "glue('b_value', v + 1)"))
    subprocess.run(["git", "-C", str(root), "commit", "-qam", "b sleeps"], check=True)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = start_mlflow_server(tmp_path, port)
    rng = random.Random(SEED)
    done = Counter()
    try:
        for trial in range(TRIALS):
            fault = FAULTS[trial % len(FAULTS)] if trial < len(FAULTS) else rng.choice(FAULTS)
            delay = rng.uniform(0.5, 12.0)
            if fault == "kill_sync":
                stop(server, kill=True)  # a build with the store down leaves runs to sync
                assert run_cli(root, "build", "-q", "--force", env={"MLFLOW_TRACKING_URI": uri}).returncode == 0
                server = start_mlflow_server(tmp_path, port)
                proc = _popen(root, uri, "sync")
                time.sleep(rng.uniform(0.0, 3.0))
                proc.kill()
                proc.communicate()
            else:
                proc = _popen(root, uri, "build", "-q", "--force")
                time.sleep(delay)
                if fault == "kill_build":
                    proc.kill()
                elif fault == "sigint_build":
                    proc.send_signal(signal.SIGINT)
                else:
                    stop(server, kill=True)
                out, err = proc.communicate(timeout=300)
                if fault == "kill_server":
                    assert proc.returncode in (0, None) or proc.returncode == 0, err[-2000:]
                    server = start_mlflow_server(tmp_path, port)
                elif fault == "sigint_build" and proc.returncode not in (0, 130):
                    pytest.fail(f"SIGINT: exit {proc.returncode}: {err[-2000:]}")
                assert "Traceback" not in err, err[-3000:]
            # repair as a user would, then nothing may be lost
            synced = run_cli(root, "sync", env={"MLFLOW_TRACKING_URI": uri})
            assert synced.returncode == 0, synced.stderr[-2000:]
            rebuilt = run_cli(root, "build", "-q", env={"MLFLOW_TRACKING_URI": uri})
            assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
            counts = check_nothing_lost(root, uri)
            done[fault] += 1
            print(f"trial {trial + 1}/{TRIALS}: {fault} after {delay:.1f} s: repaired, "
                  f"{counts['finished_task_runs']} finished task runs, 0 lost", flush=True)
        print(f"\nfault campaign: {sum(done.values())} trials {dict(done)}, seed {SEED}, "
              f"{counts['finished_task_runs']} finished task runs, {counts['runs']} runs in the store, 0 lost")
    finally:
        stop(server)

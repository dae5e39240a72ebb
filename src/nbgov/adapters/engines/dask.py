"""Dask as an engine: each pipeline task runs as ``nbgov build TASK --build-id ID --json -q`` in a
subprocess on a Dask worker, submitted with its upstream tasks' futures as dependencies, so the
cluster runs them as parallel as the DAG allows. Every task records its run (same gate, tracking
and lineage as a local build) under the one parent run of the build id; the driver schedules,
collects each task's ``--json`` summary and, for a task built in a checkout other than its folder,
the lineage record it hands back (``core.lineage.HAND_BACK_VAR``), telling each task the runs that
made its upstream products (``core.lineage.UPSTREAM_RUNS_VAR``).

Dask is imported here only (an import contract); ``--cluster local:N`` starts a LocalCluster of
N single-threaded worker processes on 127.0.0.1, any other address is a running scheduler.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from nbgov.adapters.engines.checkout import checkout_problem, private_bytecode
from nbgov.core.errors import NbgovError, ParameterError
from nbgov.core.lineage import HAND_BACK_VAR, UPSTREAM_RUNS_VAR

#: argv[0] of a task command: replaced on the worker by that worker's own Python
PYTHON = "{python}"
#: env var of a cold task for workers with checkouts of their own (JSON): the build's commit and
#: its products (what the checkout may hold beyond the commit), checked before the subprocess
CHECKOUT_VAR = "NBGOV_CLUSTER_CHECKOUT"


@dataclass
class RemoteTask:
    """One task to run on the cluster."""

    name: str
    upstream: list[str]
    argv: list[str]  # PYTHON -m nbgov build NAME --build-id ID --json -q ... -- NAME
    #: ``--commit SHA --repository URL``: added before ``--`` on a worker without a checkout of its own
    fetch: list[str] = field(default_factory=list)
    #: upstream task not submitted (fresh, or not selected) -> [run id, run key] of the run that
    #: made its products (the driver's lineage record): named in this task's lineage
    upstream_runs: dict[str, list] = field(default_factory=dict)


@dataclass
class RemoteOutcome:
    """What one task did on its worker (from its ``--json`` summary)."""

    name: str
    outcome: str  # ran | skipped | failed | not-run
    seconds: float | None = None
    run_id: str | None = None
    error: str | None = None
    worker: str | None = None
    extra: dict = field(default_factory=dict)


def run_task(task: RemoteTask, cwd: str, env: dict[str, str], *upstream: RemoteOutcome) -> RemoteOutcome:
    """Run one task in a subprocess (on a worker). Not run when an upstream task failed."""
    import socket

    blocked = [u.name for u in upstream if u.outcome in ("failed", "not-run")]
    if blocked:
        return RemoteOutcome(task.name, "not-run", error=f"upstream failed: {', '.join(blocked)}")
    argv = [sys.executable if a == PYTHON else a for a in task.argv]
    worker = f"{socket.gethostname()}:{os.getpid()}"
    where = ""  # a subprocess that fetched the sources: its error names this worker
    elsewhere = False  # the subprocess builds in a checkout that is not the driver's folder
    # a worker with its own checkout of the project names it (engines.warm.WORKER_ROOT_VAR)
    own = os.environ.get("NBGOV_WORKER_ROOT")
    if own and Path(own).resolve() != Path(cwd).resolve():
        refusal = _own_checkout_refusal(own, env)
        if refusal:
            return RemoteOutcome(task.name, "failed", error=f"refused on worker {worker}: {refusal}; a worker runs "
                                                            "only the reviewed content", worker=worker)
        cwd, elsewhere = own, True
    elif task.fetch and not own:
        # the subprocess fetches the build's commit into this worker's cache and builds there
        # (services.build.sources); the driver's folder is not on this worker
        argv = [*argv[:-2], *task.fetch, *argv[-2:]]
        cwd, elsewhere = os.getcwd(), True
        where = f"on worker {worker}: "
    env = {**env, UPSTREAM_RUNS_VAR: json.dumps(upstream_runs(task, upstream))}
    if elsewhere:
        # its lineage records stay in a checkout the driver cannot see (a fetched one is even
        # removed): the summary carries them back (services.build.coldrun.take_back)
        env[HAND_BACK_VAR] = "1"
    proc = subprocess.run(argv, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True)
    try:
        summary = json.loads(proc.stdout)
        mine = next(t for t in summary["tasks"] if t["task"] == task.name)
    except (ValueError, KeyError, StopIteration):
        # refused before running (exit 2: a gate, a missing upstream) or crashed: its message
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        first = (lines[0] if lines else f"exit {proc.returncode}")[:500]
        return RemoteOutcome(task.name, "failed", error=where + first, worker=worker)
    extra = {"parent_run_id": summary.get("parent_run_id")}
    record = (summary.get("records") or {}).get(task.name) if elsewhere else None
    if isinstance(record, dict):
        extra["record"] = record
    return RemoteOutcome(task.name, mine["outcome"], mine.get("seconds"), mine.get("run_id"), mine.get("error"),
                         worker, extra)


def upstream_runs(task: RemoteTask, upstream: tuple[RemoteOutcome, ...]) -> dict[str, list]:
    """Upstream task -> [run id, run key] of the run whose products ``task`` reads: the ones the
    driver named, and those of the upstream tasks that ran in this build (their outcomes)."""
    out = dict(task.upstream_runs)
    for u in upstream:
        record = u.extra.get("record") or {}
        out[u.name] = [record.get("run_id") or u.run_id, record.get("run_key")]
    return out


def _own_checkout_refusal(root: str, env: dict[str, str]) -> str | None:
    """Why the task must not run in this worker's own checkout ``root`` (None: it is the
    build's commit byte for byte, :data:`CHECKOUT_VAR`); the subprocess keeps its bytecode
    outside the checkout (engines.checkout.private_bytecode sets it in this process's env)."""
    try:
        expect = json.loads(env.get(CHECKOUT_VAR) or "{}")
    except ValueError:
        expect = {}
    problem = checkout_problem(root, expect.get("commit"), tuple(expect.get("products") or ()))
    if problem is None:
        private_bytecode(root)
    return problem


def _connect(address: str):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise NbgovError("--cluster needs Dask distributed", hint="pip install 'nbgov[dask]'") from None
    if address.startswith("local:"):
        count = address.split(":", 1)[1]
        if not count.isdigit() or int(count) < 1:
            raise ParameterError(f"--cluster {address!r}: write local:N with N workers, e.g. local:2")
        import dask

        # forked from this process: the workers start with nbgov, Ploomber and papermill
        # imported and the kernel template's address (as -j N workers do), in a fraction of
        # the seconds a spawned interpreter needs to import them again
        with dask.config.set({"distributed.worker.multiprocessing-method": "fork"}):
            # no dashboard, and the scheduler's HTTP routes on a free loopback port: its default
            # (8787) may be taken (a JupyterLab Dask panel, another build), which printed a warning
            cluster = LocalCluster(n_workers=int(count), threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=None,
                                   scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"})
        return Client(cluster), cluster
    try:
        return Client(address, timeout=30), None
    except OSError as exc:
        raise NbgovError(f"cannot reach the Dask scheduler at {address}: {exc}",
                         hint="start one (dask scheduler) or use --cluster local:N") from None


@contextlib.contextmanager
def dask_cluster(address: str):
    """A Dask client of the cluster at ``address`` (``local:N`` starts and ends a LocalCluster)."""
    client, cluster = _connect(address)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_on_cluster(client, tasks: list[RemoteTask], cwd: Path, env: dict[str, str] | None = None,
                   ) -> list[RemoteOutcome]:
    """Run ``tasks`` (topological order; upstream outside the list must be built) through
    ``client``; returns one outcome per task, in the same order."""
    futures: dict = {}
    token = uuid.uuid4().hex[:8]
    for task in tasks:
        deps = [futures[u] for u in task.upstream if u in futures]
        # one try per task: a retry would run the notebook twice under one build
        futures[task.name] = client.submit(run_task, task, str(cwd), dict(env or {}), *deps,
                                           key=f"nbgov-{task.name}-{token}", pure=False, retries=0)
    try:
        return client.gather([futures[t.name] for t in tasks])
    except Exception as exc:  # a worker died, the scheduler went away
        raise NbgovError(f"the Dask cluster lost the build: {type(exc).__name__}: {str(exc)[:300]}",
                         hint="see the scheduler's and workers' logs; rerun the build (finished tasks are skipped)"
                         ) from None

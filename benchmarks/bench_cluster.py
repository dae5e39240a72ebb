"""Benchmark 9: ``nbgov build --cluster local:2`` against the local serial ``nbgov build``, side by side.

Each case runs in one temporary folder per contender, from scratch (products removed before
every run), the contenders alternating:

- ``trivial``: 10 independent trivial notebooks: ``--cluster local:2`` against the local serial
  build (target <= 0.7x), and against Ploomber's ``executor: parallel`` (for orientation);
- ``example``: the repository's example (7 ML notebooks): ``--cluster local:2`` against the local
  serial build (target <= 1.2x);
- ``warm start``: per task of the trivial case on a warm worker (not the first task a worker
  ran), from the task reaching its worker to its kernel being ready (the first cell's start in
  the executed notebook), median (target <= 0.3 s); ``dispatch``: from the driver submitting a
  task to a free worker starting it, median of the tasks that did not queue.

Every command includes the cluster's start and end (``local:2`` starts a LocalCluster of two
worker processes per build), as a user waits for it, except in the last case:

- ``fetching workers`` (for orientation, issue 28: the per-task overhead with workers in separate
  folders, no shared disk): a running cluster, started once before the rounds, of a ``dask
  scheduler`` and two ``dask worker`` processes on 127.0.0.1, each in an empty folder of its own
  with a source cache of its own (``NBGOV_CACHE_DIR``); the trivial project, its products in S3
  (moto's server, from the dev extras) and committed to git, pushed to a bare repository; ``nbgov
  build -q --cluster ADDR --repository file://...`` (the workers fetch the commit once, at their
  first task) against the local serial ``nbgov build -q`` of a clone of it (products in S3 too),
  products removed here and in S3 before every run; and the warm start of a task on those
  workers (as above).

``NBGOV_BENCH_CLUSTER_ROUNDS`` sets the rounds (default 3).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.bench_example import example_project
from benchmarks.projects import git_init, pipeline_project
from benchmarks.runner import BIN, alternate, quiet_env, row, timed_command
from benchmarks.servers import DaskScheduler, DaskWorker, MotoS3

TARGETS = {"trivial": 0.7, "example": 1.2, "start": 0.3}

#: the fetching case's File client: Ploomber's S3Client on moto (bucket ``bench``)
STORAGE = """import os

from ploomber.clients import S3Client


def get():
    return S3Client(bucket_name="bench", parent=os.environ["NBGOV_BENCH_PREFIX"],
                    endpoint_url=os.environ["NBGOV_BENCH_S3"])
"""


def _ready_times(root: Path) -> tuple[list[float], list[float]]:
    """(worker start -> kernel ready, submitted -> worker start) per task of the last cluster
    build in ``root`` (see ``.nbgov/cluster-last.json``)."""
    try:
        facts = json.loads((root / ".nbgov" / "cluster-last.json").read_text())
    except (OSError, ValueError):  # an nbgov without warm workers writes none
        return [], []
    first = {}
    for name, f in sorted(facts.items(), key=lambda kv: kv[1]["started"]):
        first.setdefault(f["worker"], name)
    ready, dispatch = [], []
    for name, f in facts.items():
        nb = json.loads((root / "products" / f"{name}.ipynb").read_text())
        cells = [c for c in nb["cells"] if c.get("cell_type") == "code"]
        start = cells[0].get("metadata", {}).get("papermill", {}).get("start_time") if cells else None
        if not start:
            continue
        at = datetime.fromisoformat(start)
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        if first[f["worker"]] != name and f.get("warm"):
            ready.append(at.timestamp() - f["started"])
        if f["started"] - f["submitted"] < 0.5:  # it did not wait for a busy worker
            dispatch.append(f["started"] - f["submitted"])
    return ready, dispatch


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children and what they waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _case(name: str, dirs: dict[str, Path], commands: dict[str, list[str]], rounds: int, warmup: int,
          starts: list[list[float]] | None = None, cpu: dict[str, list[float]] | None = None,
          ) -> dict[str, list[float]]:
    """Wall seconds per contender; ``cpu`` (when given) gets each run's CPU seconds: on 2 cores a
    build whose CPU is twice its wall time has nothing left for a cluster to parallelize."""
    def contender(key: str):
        def once() -> float:
            before_cpu = _children_cpu()
            seconds = timed_command(commands[key], dirs[key])
            if cpu is not None:
                cpu.setdefault(key, []).append(_children_cpu() - before_cpu)
            if key == "cluster" and starts is not None:
                starts.append(list(_ready_times(dirs[key])))
            return seconds
        return once

    def before(key: str) -> None:
        shutil.rmtree(dirs[key] / "products", ignore_errors=True)

    return alternate({k: contender(k) for k in commands}, rounds, warmup=warmup, before=before)


def _cpu_medians(cpu: dict[str, list[float]], rounds: int) -> dict[str, float]:
    """Median CPU seconds of each contender's timed runs (the last ``rounds``: after the warm-up)."""
    return {key: round(statistics.median(runs[-rounds:]), 2) for key, runs in cpu.items() if runs}


def run(quick: bool = False) -> list[dict]:
    """Rows: trivial tasks and the example on ``--cluster local:2`` against a local serial build,
    the warm start of a task (``quick``: 2 tasks, 1 round, no example)."""
    n, rounds, warmup = (2, 1, 0) if quick else (10, int(os.environ.get("NBGOV_BENCH_CLUSTER_ROUNDS", "3")), 1)
    base = Path(tempfile.mkdtemp(prefix="nbgov-bench-cluster-"))
    nbgov = str(BIN / "nbgov")
    rows = []
    try:
        dirs = {"cluster": pipeline_project(base / "cluster", n, linear=False),
                "local": pipeline_project(base / "local", n, linear=False),
                "ploomber": pipeline_project(base / "ploomber", n, linear=False, nbgov=False)}
        spec = dirs["ploomber"] / "pipeline.yaml"
        spec.write_text("executor: parallel\n" + spec.read_text())
        for key in ("cluster", "local"):
            git_init(dirs[key])
        commands = {"cluster": [nbgov, "build", "-q", "--cluster", "local:2"], "local": [nbgov, "build", "-q"],
                    "ploomber": [str(BIN / "ploomber"), "build"]}
        starts: list[list[float]] = []
        cpu: dict[str, list[float]] = {}
        times = _case("trivial", dirs, commands, rounds, warmup, starts, cpu)
        result = row("cluster", f"trivial: {n} independent tasks, local:2 vs local serial", times["cluster"],
                     times["local"], "nbgov build, serial", target=f"<= {TARGETS['trivial']}x",
                     cpu_s=_cpu_medians(cpu, rounds))
        result["met"] = result["ratio"] <= TARGETS["trivial"]
        rows.append(result)
        rows.append(row("cluster", f"trivial: {n} independent tasks, local:2 vs ploomber parallel",
                        times["cluster"], times["ploomber"], "ploomber build, executor: parallel"))
        ready = [x for s in starts[-rounds:] for x in s[0]]
        dispatch = [x for s in starts[-rounds:] for x in s[1]]
        if ready:
            rows.append(row("cluster", "warm start: on its worker -> kernel ready, median", ready, None, "",
                            target=f"<= {TARGETS['start']} s", met=statistics.median(ready) <= TARGETS["start"],
                            dispatch_s=round(statistics.median(dispatch), 3) if dispatch else None))
        rows += _fetching(base, n, rounds, warmup)
        if not quick:
            edirs = {"cluster": example_project(base / "ex-cluster", hooks=True),
                     "local": example_project(base / "ex-local", hooks=True)}
            for d in edirs.values():
                git_init(d)
            ecpu: dict[str, list[float]] = {}
            etimes = _case("example", edirs, {k: commands[k] for k in ("cluster", "local")}, rounds, 0, cpu=ecpu)
            result = row("cluster", "example: 7 ML notebooks, local:2 vs local serial", etimes["cluster"],
                         etimes["local"], "nbgov build, serial", target=f"<= {TARGETS['example']}x",
                         cpu_s=_cpu_medians(ecpu, rounds))
            result["met"] = result["ratio"] <= TARGETS["example"]
            rows.append(result)
        return rows
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _storage_project(base: Path, n: int) -> tuple[Path, Path, str]:
    """(driver project, a clone of it for the local build, the bare repository's file:// URL):
    ``n`` independent trivial tasks, products through :data:`STORAGE`, committed and pushed."""
    root = pipeline_project(base / "fetch", n, linear=False)
    (root / "storage.py").write_text(STORAGE)
    spec = root / "pipeline.yaml"
    spec.write_text("clients:\n  File: storage.get\n" + spec.read_text())
    git_init(root)
    origin = base / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(root), str(origin)], check=True, capture_output=True)
    local = base / "fetch-local"
    subprocess.run(["git", "clone", "-q", str(origin), str(local)], check=True, capture_output=True)
    return root, local, f"file://{origin}"


def _fetching(base: Path, n: int, rounds: int, warmup: int) -> list[dict]:
    """Rows: ``n`` trivial tasks on a running cluster of two workers that fetch the build's commit
    into folders of their own against the local serial build, the warm start there (see the
    module docstring; for orientation, no target)."""
    import boto3
    from distributed import Client

    root, local, url = _storage_project(base, n)
    (base / "scheduler").mkdir()
    with contextlib.ExitStack() as stack:
        s3 = stack.enter_context(MotoS3(BIN, base / "moto.log"))
        aws = {"NBGOV_BENCH_S3": s3.url, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
               "AWS_DEFAULT_REGION": "us-east-1"}
        bucket = boto3.client("s3", endpoint_url=s3.url, aws_access_key_id="bench", aws_secret_access_key="bench",
                              region_name="us-east-1")
        bucket.create_bucket(Bucket="bench")
        scheduler = stack.enter_context(DaskScheduler(BIN, base / "scheduler.log", base / "scheduler",
                                                      quiet_env(**aws)))
        for i in range(2):
            folder = base / f"worker-{i}"
            stack.enter_context(DaskWorker(BIN, scheduler.address, base / f"worker-{i}.log", folder, quiet_env(
                **aws, NBGOV_BENCH_PREFIX="fetched", NBGOV_CACHE_DIR=str(folder / "cache"))))
        with Client(scheduler.address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        nbgov = str(BIN / "nbgov")
        runs = {"fetch": ([nbgov, "build", "-q", "--cluster", scheduler.address, "--repository", url], root,
                          "fetched"),
                "local": ([nbgov, "build", "-q"], local, "local")}
        starts: list[tuple[list[float], list[float]]] = []

        def contender(key: str):
            def once() -> float:
                cmd, cwd, prefix = runs[key]
                seconds = timed_command(cmd, cwd, quiet_env(**aws, NBGOV_BENCH_PREFIX=prefix))
                if key == "fetch":
                    starts.append(_ready_times(cwd))
                return seconds
            return once

        def before(key: str) -> None:
            _, cwd, prefix = runs[key]
            shutil.rmtree(cwd / "products", ignore_errors=True)
            stored = bucket.list_objects_v2(Bucket="bench", Prefix=f"{prefix}/").get("Contents", [])
            if stored:
                bucket.delete_objects(Bucket="bench", Delete={"Objects": [{"Key": o["Key"]} for o in stored]})

        times = alternate({k: contender(k) for k in runs}, rounds, warmup=warmup, before=before)
    rows = [row("cluster", f"fetching workers: {n} independent tasks, a running scheduler + 2 workers in folders "
                "of their own (--repository, products in S3) vs local serial", times["fetch"], times["local"],
                "nbgov build, serial, products in S3")]
    ready = [x for s in starts[-rounds:] for x in s[0]]
    dispatch = [x for s in starts[-rounds:] for x in s[1]]
    if ready:
        rows.append(row("cluster", "warm start on fetching workers (own folders): on its worker -> kernel ready, "
                        "median", ready, None, "",
                        dispatch_s=round(statistics.median(dispatch), 3) if dispatch else None))
    return rows

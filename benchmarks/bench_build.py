"""Benchmarks 1-3: ``nbgov build`` (tracking and lineage on) against plain ``ploomber build``.

Both run the same generated pipeline of trivial notebooks, each in its own temporary folder,
through their command lines (start-up included: that is what a user waits for):

1. ``linear``: a 10-task chain built from scratch (products removed before every run);
2. ``parallel``: 10 independent tasks from scratch, ``nbgov build --jobs 2`` against Ploomber's
   ``executor: parallel`` (2 cores here; its workers fork their kernels from the template too);
3. ``noop``: a rebuild with everything up to date.

nbgov's folder keeps its MLflow store between runs (runs accumulate, as in real use).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from benchmarks.projects import git_init, pipeline_project
from benchmarks.runner import BIN, alternate, row, timed_command

TARGETS = {"linear": 0.4, "parallel": 0.3, "noop": 0.05}  # issue 28 raised parallel (from 0.5)


def _projects(base: Path, n: int, linear: bool, parallel: bool) -> dict[str, Path]:
    ours = pipeline_project(base / "nbgov", n, linear)
    git_init(ours)
    plain = pipeline_project(base / "ploomber", n, linear, nbgov=False)
    if parallel:
        spec = plain / "pipeline.yaml"
        spec.write_text("executor: parallel\n" + spec.read_text())
    return {"nbgov": ours, "ploomber": plain}


def _compare(
    name: str, dirs: dict[str, Path], n: int, rounds: int, jobs: list[str], fresh: bool, warmup: int
) -> dict:
    commands = {
        "nbgov": [str(BIN / "nbgov"), "build", "-q", *jobs],
        "ploomber": [str(BIN / "ploomber"), "build"],
    }
    contenders = {k: (lambda k=k: timed_command(commands[k], dirs[k])) for k in commands}

    def before(k: str) -> None:
        if fresh:
            shutil.rmtree(dirs[k] / "products", ignore_errors=True)

    times = alternate(contenders, rounds, warmup=warmup, before=before)
    target = TARGETS[name]
    result = row(
        "build",
        f"{name}: {n} tasks" + (", 2 jobs" if jobs else ""),
        times["nbgov"],
        times["ploomber"],
        "ploomber build",
        target=f"<= {target}x" if target else "",
    )
    result["met"] = result["ratio"] <= target if target else None
    result["per_task_s"] = round(result["nbgov"] / n, 3)
    return result


def run(quick: bool = False) -> list[dict]:
    """Rows for the three build benchmarks (``quick``: 2 tasks, 1 round, no warm-up)."""
    n, rounds, warmup = (2, 1, 0) if quick else (10, 3, 1)
    base = Path(tempfile.mkdtemp(prefix="nbgov-bench-build-"))
    try:
        chain = _projects(base / "linear", n, linear=True, parallel=False)
        # the warm-up creates the tracking store and fills the .pyc and file caches
        rows = [_compare("linear", chain, n, rounds, [], fresh=True, warmup=warmup)]
        # the chain's products are there now: every task is up to date
        rows.append(_compare("noop", chain, n, rounds if quick else 5, [], fresh=False, warmup=0))
        wide = _projects(base / "parallel", n, linear=False, parallel=True)
        rows.insert(
            1, _compare("parallel", wide, n, rounds, ["--jobs", "2"], fresh=True, warmup=warmup)
        )
        return rows
    finally:
        shutil.rmtree(base, ignore_errors=True)

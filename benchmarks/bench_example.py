"""Benchmark 4: the example pipeline (7 real ML notebooks) from scratch, ``nbgov build`` against
plain ``ploomber build`` of the same project with nbgov's hooks removed.

Both copies get the repository's notebooks, data and configuration in their own temporary
folder; products are removed before every run; the two alternate, and medians are compared.
Per task, from the output notebooks papermill writes (the same clock for both sides):

- ``kernel_ready_s``: from papermill's notebook start to its first cell's start (kernel start,
  connection, ``kernel_info``);
- ``first_import_s``: the run time of the first code cell that imports something.
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
from datetime import datetime
from pathlib import Path

from benchmarks.projects import git_init
from benchmarks.runner import BIN, alternate, row, timed_command

REPO = Path(__file__).resolve().parents[1]
TARGET = 0.15  # issue 28 raised it (from 0.25)
HOOKS = ("on_render:", "on_finish:", "on_failure:")


def example_project(dest: Path, hooks: bool) -> Path:
    """A copy of the repository's example project (``hooks=False``: pipeline.yaml without
    nbgov's hooks, as a plain Ploomber user would have it)."""
    dest.mkdir(parents=True)
    for name in ("notebooks", "data", "pipeline.yaml", "env.yaml", "nbgov.toml"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        else:
            shutil.copy(src, dest / name)
    if not hooks:
        spec = dest / "pipeline.yaml"
        spec.write_text("".join(line for line in spec.read_text().splitlines(keepends=True)
                                if not line.startswith(HOOKS)))
    return dest


def task_timings(products: Path) -> dict[str, dict[str, float]]:
    """Per task (output notebook name): kernel-ready and first-import seconds."""
    out = {}
    for path in sorted(products.glob("*.ipynb")):
        nb = json.loads(path.read_text())
        started = nb.get("metadata", {}).get("papermill", {}).get("start_time")
        cells = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
        if not started or not cells:
            continue
        first = cells[0].get("metadata", {}).get("papermill", {}).get("start_time")
        importing = next((c for c in cells if "import" in "".join(c.get("source", ""))), None)
        entry = {}
        if first:
            entry["kernel_ready_s"] = round(
                (datetime.fromisoformat(first) - datetime.fromisoformat(started)).total_seconds(), 3)
        if importing is not None:
            duration = importing.get("metadata", {}).get("papermill", {}).get("duration")
            if duration is not None:
                entry["first_import_s"] = round(duration, 3)
        out[path.stem] = entry
    return out


def _medians(samples: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    tasks = sorted({t for s in samples for t in s})
    return {t: {k: round(statistics.median([s[t][k] for s in samples if k in s.get(t, {})]), 3)
                for k in ("kernel_ready_s", "first_import_s")
                if any(k in s.get(t, {}) for s in samples)} for t in tasks}


def run(quick: bool = False) -> list[dict]:
    """One row: the example from scratch (``quick``: 1 round), with per-task timings."""
    rounds = 1 if quick else 3
    base = Path(tempfile.mkdtemp(prefix="nbgov-bench-example-"))
    try:
        dirs = {"nbgov": example_project(base / "nbgov", hooks=True),
                "ploomber": example_project(base / "ploomber", hooks=False)}
        git_init(dirs["nbgov"])
        commands = {"nbgov": [str(BIN / "nbgov"), "build", "-q"], "ploomber": [str(BIN / "ploomber"), "build"]}
        per_task: dict[str, list] = {"nbgov": [], "ploomber": []}

        def contender(name: str):
            def once() -> float:
                seconds = timed_command(commands[name], dirs[name])
                per_task[name].append(task_timings(dirs[name] / "products"))
                return seconds
            return once

        def before(name: str) -> None:
            shutil.rmtree(dirs[name] / "products", ignore_errors=True)

        times = alternate({k: contender(k) for k in commands}, rounds, before=before)
        result = row("build", "example: 7 ML notebooks", times["nbgov"], times["ploomber"], "ploomber build",
                     target=f"<= {TARGET}x", per_task={k: _medians(v) for k, v in per_task.items()})
        result["met"] = result["ratio"] <= TARGET
        return [result]
    finally:
        shutil.rmtree(base, ignore_errors=True)

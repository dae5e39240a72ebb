"""Benchmark 6: ``nbgov diff`` of a 200-cell notebook against the ``nbdiff`` command line.

A generated 200-cell notebook is committed to a git repository, then edited (a tenth of the
cells changed, two added, one removed). ``nbgov diff NB --rev HEAD`` and ``nbdiff BASE NB``
(the committed version, written out) print the same change; both are timed as commands,
start-up included, alternating. The cells have no outputs, so both compare the same content.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from pathlib import Path

from benchmarks.projects import KERNEL, code_cell, git_init
from benchmarks.runner import BIN, alternate, row, timed_command

TARGET = 0.5


def big_notebook(cells: int, seed: int = 3) -> dict:
    """A notebook of ``cells`` code and markdown cells with a few lines each."""
    rng = random.Random(seed)
    body = [code_cell("params", "seed = 1\nupstream = None\nproduct = None", ["parameters"])]
    for i in range(cells - 1):
        if i % 5 == 0:
            body.append(
                {
                    "cell_type": "markdown",
                    "id": f"m{i}",
                    "metadata": {},
                    "source": f"## Step {i}\nWhat happens in step {i}.",
                }
            )
        else:
            lines = [
                f"v{i}_{j} = {rng.randint(0, 999)} * seed + {j}" for j in range(rng.randint(2, 8))
            ]
            body.append(code_cell(f"c{i}", "\n".join(lines)))
    return {"cells": body, "metadata": KERNEL, "nbformat": 4, "nbformat_minor": 5}


def edited(nb: dict, seed: int = 5) -> dict:
    """A copy with a tenth of the cells changed, two cells added and one removed."""
    rng = random.Random(seed)
    out = json.loads(json.dumps(nb))
    cells = out["cells"]
    for index in rng.sample(range(1, len(cells)), len(cells) // 10):
        cells[index]["source"] += f"\nchanged_{index} = True"
    cells.insert(50, code_cell("new1", "added = 1"))
    cells.insert(120, code_cell("new2", "added = 2"))
    del cells[170]
    return out


def run(quick: bool = False) -> list[dict]:
    """One row: medians of both commands (``quick``: 1 round)."""
    rounds, warmup = (1, 0) if quick else (7, 1)
    cells = 200
    base = Path(tempfile.mkdtemp(prefix="nbgov-bench-diff-"))
    try:
        root = base / "project"
        (root / "notebooks").mkdir(parents=True)
        (root / "nbgov.toml").write_text('experiment = "bench"\n')
        nb_path = root / "notebooks" / "big.ipynb"
        original = big_notebook(cells)
        nb_path.write_text(json.dumps(original, indent=1))
        git_init(root)
        nb_path.write_text(json.dumps(edited(original), indent=1))
        committed = base / "big-committed.ipynb"
        committed.write_text(json.dumps(original, indent=1))
        rel = "notebooks/big.ipynb"
        commands = {
            "nbgov": [str(BIN / "nbgov"), "diff", rel, "--rev", "HEAD"],
            "nbdiff": [str(BIN / "nbdiff"), str(committed), rel],
        }
        times = alternate(
            {k: (lambda k=k: timed_command(commands[k], root)) for k in commands},
            rounds,
            warmup=warmup,
        )
        result = row(
            "diff",
            f"{cells}-cell notebook, CLI",
            times["nbgov"],
            times["nbdiff"],
            "nbdiff",
            target=f"<= {TARGET}x",
        )
        result["met"] = result["ratio"] <= TARGET
        return [result]
    finally:
        shutil.rmtree(base, ignore_errors=True)

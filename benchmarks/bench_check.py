"""Benchmark: ``nbgov check`` (all default rules) against ``nbstripout --verify``, side by side.

Generates notebooks of mixed sizes into a temporary folder (small clean ones, executed ones
with text outputs, large ones with PNG figures, a few huge ones), then runs both commands on
the same files, alternating which goes first, several times, and prints the medians and the
ratio. Start-up time is included on purpose: that is what a pre-commit hook pays.

    python benchmarks/bench_check.py            # 1,000 notebooks, 5 rounds
    python benchmarks/bench_check.py --quick    # 200 notebooks, 3 rounds

A suite runner calls :func:`run` and gets a dict back.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
#: share of notebooks by kind: (kind, share, cells range)
MIX = [
    ("small", 0.60, (4, 15)),
    ("executed", 0.25, (20, 60)),
    ("large", 0.12, (80, 160)),
    ("huge", 0.03, (250, 400)),
]
WORDS = "data frame model train test score feature mean value plot result seed split".split()


def _source(rng: random.Random) -> list[str]:
    lines = [
        f"{rng.choice(WORDS)}_{i} = {rng.choice(WORDS)}.{rng.choice(WORDS)}({rng.randint(0, 99)})\n"
        for i in range(rng.randint(1, 12))
    ]
    if rng.random() < 0.05:
        lines.append("path = 'data/raw.csv'\n")
    return lines


def _outputs(rng: random.Random, kind: str, count: int) -> list[dict]:
    if kind == "small":
        return []
    out: list[dict] = [
        {
            "output_type": "stream",
            "name": "stdout",
            "text": [
                f"{rng.choice(WORDS)} {rng.random():.6f}\n" for _ in range(rng.randint(1, 40))
            ],
        }
    ]
    if kind in ("large", "huge") and rng.random() < (0.08 if kind == "large" else 0.05):
        size = 30_000 if kind == "large" else 150_000
        png = base64.b64encode(rng.randbytes(size)).decode()
        out.append(
            {
                "output_type": "display_data",
                "metadata": {},
                "data": {"image/png": png, "text/plain": ["<Figure size 640x480 with 1 Axes>"]},
            }
        )
    if rng.random() < 0.2:
        out.append(
            {
                "output_type": "execute_result",
                "execution_count": count,
                "metadata": {},
                "data": {
                    "text/plain": [f"{rng.random():.4f}"],
                    "text/html": ["<table>" + "<tr><td>1</td></tr>" * 30 + "</table>"],
                },
            }
        )
    return out


def make_notebook(rng: random.Random, kind: str, cells: int) -> dict:
    """One nbformat 4.5 notebook of the given kind, as a dict."""
    body = [
        {"cell_type": "markdown", "id": "intro", "metadata": {}, "source": ["# Notebook\n"]},
        {
            "cell_type": "code",
            "id": "params",
            "metadata": {"tags": ["parameters"]},
            "execution_count": None,
            "outputs": [],
            "source": ["seed = 42\n", "upstream = None\n"],
        },
    ]
    for i in range(cells):
        executed = kind != "small"
        body.append(
            {
                "cell_type": "code",
                "id": f"c{i}",
                "metadata": {},
                "execution_count": i + 1 if executed else None,
                "outputs": _outputs(rng, kind, i + 1),
                "source": _source(rng),
            }
        )
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "cells": body,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
    }


def generate(folder: Path, n: int, seed: int = 7) -> tuple[list[Path], int]:
    """Write ``n`` notebooks of mixed sizes under ``folder/notebooks``; return paths, bytes."""
    rng = random.Random(seed)
    nbdir = folder / "notebooks"
    nbdir.mkdir(parents=True)
    (folder / "nbgov.toml").write_text('[check]\nkernel = "python3"\n')
    kinds = [k for k, share, _ in MIX for _ in range(round(share * n))][:n]
    kinds += ["small"] * (n - len(kinds))
    rng.shuffle(kinds)
    ranges = {k: r for k, _, r in MIX}
    paths, total = [], 0
    for i, kind in enumerate(kinds):
        path = nbdir / f"nb{i:04d}-{kind}.ipynb"
        text = json.dumps(make_notebook(rng, kind, rng.randint(*ranges[kind])), indent=1) + "\n"
        path.write_text(text)
        paths.append(path)
        total += len(text)
    # a pipeline listing every notebook, so the pipeline rules have work to do
    tasks = "".join(
        f"  - source: notebooks/{p.name}\n    product:\n      nb: products/{p.name}\n"
        for p in paths
    )
    (folder / "pipeline.yaml").write_text("tasks:\n" + tasks)
    return paths, total


def _time(cmd: list[str], cwd: Path) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, proc.returncode


def run(quick: bool = False, n: int | None = None, rounds: int | None = None) -> dict:
    """Generate the notebooks, time both tools alternately, return medians and the ratio.

    Args:
        quick: 200 notebooks and 3 rounds instead of 1,000 and 5.
        n: number of notebooks (overrides ``quick``).
        rounds: timed rounds per tool (overrides ``quick``).
    """
    n = n or (200 if quick else 1000)
    rounds = rounds or (3 if quick else 5)
    folder = Path(tempfile.mkdtemp(prefix="nbgov-bench-check-"))
    try:
        paths, total = generate(folder, n)
        names = [str(p.relative_to(folder)) for p in paths]
        commands = {
            "nbgov check": [str(BIN / "nbgov"), "check", *names],
            "nbstripout --verify": [str(BIN / "nbstripout"), "--verify", *names],
        }
        codes = {}
        for name, cmd in commands.items():  # warm-up: file cache, .pyc files
            codes[name] = _time(cmd, folder)[1]
        times: dict[str, list[float]] = {name: [] for name in commands}
        order = list(commands)
        for i in range(rounds):
            for name in order if i % 2 == 0 else reversed(order):
                times[name].append(_time(commands[name], folder)[0])
        nbgov_s = statistics.median(times["nbgov check"])
        strip_s = statistics.median(times["nbstripout --verify"])
        return {
            "benchmark": "check",
            "notebooks": n,
            "megabytes": round(total / 1e6, 1),
            "rounds": rounds,
            "nbgov_check_s": round(nbgov_s, 3),
            "nbstripout_verify_s": round(strip_s, 3),
            "ratio": round(strip_s / nbgov_s, 2),
            "nbgov_faster": nbgov_s < strip_s,
            "exit_codes": codes,
            "times": {k: [round(t, 3) for t in v] for k, v in times.items()},
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    """Command line: print the result as a small table and as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("-n", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    result = run(args.quick, args.n, args.rounds)
    size = f"{result['notebooks']} notebooks, {result['megabytes']} MB"
    print(f"{size}, median of {result['rounds']} rounds")
    print(f"  nbgov check          {result['nbgov_check_s']:.3f} s")
    print(f"  nbstripout --verify  {result['nbstripout_verify_s']:.3f} s")
    print(f"  ratio (nbstripout / nbgov) {result['ratio']}x")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Benchmark 5: ``nbgov check`` on generated notebooks against ``nbstripout --verify``.

The measurement is :mod:`benchmarks.bench_check` (written with ``nbgov check``); this module
turns its result into the suite's rows.
"""

from __future__ import annotations

from benchmarks import bench_check
from benchmarks.runner import row


def run(quick: bool = False) -> list[dict]:
    """One row (``quick``: 50 notebooks, 1 round; full: 1,000 notebooks, 5 rounds)."""
    result = bench_check.run(quick=quick, n=50 if quick else 1000, rounds=1 if quick else 5)
    times = result["times"]
    out = row(
        "check",
        f"{result['notebooks']} notebooks, {result['megabytes']} MB",
        times["nbgov check"],
        times["nbstripout --verify"],
        "nbstripout --verify",
        target="< 1x (faster)",
    )
    out["met"] = out["ratio"] < 1
    out["exit_codes"] = result["exit_codes"]
    return [out]

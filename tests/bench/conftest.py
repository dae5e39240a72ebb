"""Smoke tests of the benchmark suite: every benchmark still runs (quick mode) and reports sane
rows. No timing assertion here: speed is judged by ``make bench``, not by the test suite."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # `benchmarks` is a top-level package of the repository
    sys.path.insert(0, str(REPO))


def check_row(row: dict) -> None:
    """A result row is complete and self-consistent."""
    for key in (
        "benchmark",
        "case",
        "unit",
        "nbgov",
        "anchor",
        "anchor_name",
        "ratio",
        "target",
        "met",
    ):
        assert key in row, key
    assert row["nbgov"] > 0 and row["anchor"] > 0
    assert abs(row["ratio"] - row["nbgov"] / row["anchor"]) < 0.01 * row["ratio"] + 1e-3
    assert row["met"] in (True, False, None)
    assert len(row["samples"]["nbgov"]) == row["rounds"]

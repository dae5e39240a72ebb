"""Parity: every project under tests/parity/projects builds with `nbgov build` as it does with
plain `ploomber build` (same exit, same products), and nbgov tracks each task run (one FINISHED
child run with params and glued metrics, a lineage record) and rebuilds nothing on a second run.

`test_ploomber_side` checks the project itself: plain Ploomber does what its parity.yaml says.

The checks live here; test_parity_1.py .. test_parity_3.py each run them over a third of the
projects, so that the suite's processes (pytest-xdist, a file per process) share the builds."""

from __future__ import annotations

import pytest

from .harness import (
    check_exit,
    check_lineage,
    check_lint,
    check_noop,
    check_ploomber,
    check_products,
    check_runs,
    check_status,
    project_names,
)

SHARDS = 3


def shard(n: int) -> list:
    """The marks of shard ``n`` (of :data:`SHARDS`): every third project, from the ``n``-th."""
    return [pytest.mark.integration,
            pytest.mark.parametrize("pair", project_names()[n::SHARDS], indirect=True)]


def test_ploomber_side(pair):
    check = check_ploomber(pair)
    assert check.ok, f"{pair.expect.name}: plain ploomber build: {check.detail}\n{pair.ploomber.stderr[-2000:]}"


def test_nbgov_build_ends_like_ploomber(pair):
    check = check_exit(pair)
    assert check.ok, f"{pair.expect.name}: {check.detail}"


def test_same_products(pair):
    check = check_products(pair)
    assert check.ok, f"{pair.expect.name}: {check.detail}"


def test_runs_tracked(pair):
    check = check_runs(pair)
    assert check.ok, f"{pair.expect.name}: {check.detail}"


def test_lineage_record_per_task(pair):
    check = check_lineage(pair)
    assert check.ok, f"{pair.expect.name}: {check.detail}"


def test_noop_rebuild(pair):
    check = check_noop(pair)
    assert check.ok, f"{pair.expect.name}: {check.detail}"


def test_status_agrees(pair):
    check = check_status(pair)
    assert check.ok, f"{pair.expect.name}: nbgov status after the builds: {check.detail}"


def test_check_clean(pair):
    check = check_lint(pair)
    assert check.ok, f"{pair.expect.name}: nbgov check after the builds: {check.detail}"

"""Parity: every project under tests/parity/projects builds with `nbgov build` as it does with
plain `ploomber build` (same exit, same products), and nbgov tracks each task run (one FINISHED
child run with params and glued metrics, a lineage record) and rebuilds nothing on a second run.

`test_ploomber_side` checks the project itself: plain Ploomber does what its parity.yaml says."""

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
    project_names,
)

pytestmark = [pytest.mark.integration,
              pytest.mark.parametrize("pair", project_names(), indirect=True)]


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


def test_check_clean(pair):
    check = check_lint(pair)
    assert check.ok, f"{pair.expect.name}: nbgov check after the builds: {check.detail}"

"""Every benchmark in quick mode: real commands, real kernels, real servers, tiny sizes."""

from __future__ import annotations

import pytest
from tests.bench.conftest import check_row

pytestmark = pytest.mark.integration


def test_diff_smoke():
    from benchmarks import bench_diff

    [row] = bench_diff.run(quick=True)
    check_row(row)
    assert row["anchor_name"] == "nbdiff"


def test_diff_fixture_changes_what_it_says():
    from benchmarks.bench_diff import big_notebook, edited

    nb = big_notebook(200)
    changed = edited(nb)
    assert len(nb["cells"]) == 200 and len(changed["cells"]) == 201
    differing = sum(
        a["source"] != b["source"]
        for a, b in zip(nb["cells"][:50], changed["cells"][:50], strict=True)
    )
    assert differing >= 1


def test_check_smoke():
    from benchmarks import bench_check_suite

    [row] = bench_check_suite.run(quick=True)
    check_row(row)
    assert "50 notebooks" in row["case"]


def test_server_smoke():
    from benchmarks import bench_server

    rows = bench_server.run(quick=True)
    assert [r["case"].split(",")[0] for r in rows] == ["GET review (status)", "GET pipeline"]
    for row in rows:
        check_row(row)
        assert row["p50_ms"] <= row["p95_ms"]


def test_tracking_smoke():
    from benchmarks import bench_tracking

    rows = bench_tracking.run(quick=True)
    assert [r["case"].split(":")[0] for r in rows] == ["sqlite", "http"]
    for row in rows:
        check_row(row)
        assert row["unit"] == "ms"


def test_build_smoke():
    from benchmarks import bench_build

    rows = bench_build.run(quick=True)
    assert [r["case"].split(":")[0] for r in rows] == ["linear", "parallel", "noop"]
    for row in rows:
        check_row(row)
        assert row["anchor_name"] == "ploomber build"

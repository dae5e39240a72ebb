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


def test_example_bench_helpers(tmp_path):
    # the full example build runs in tests/build/test_example_e2e.py and `make bench`; here: the
    # plain copy loses nbgov's hooks, and per-task timings come out of papermill's metadata
    import json

    from benchmarks.bench_example import example_project, task_timings

    plain = example_project(tmp_path / "plain", hooks=False)
    ours = example_project(tmp_path / "ours", hooks=True)
    assert "nbgov.hooks" not in (plain / "pipeline.yaml").read_text()
    assert "nbgov.hooks.on_render" in (ours / "pipeline.yaml").read_text()
    assert (plain / "nbgov.toml").is_file() and (plain / "notebooks" / "train.ipynb").is_file()
    pm = {"papermill": {"start_time": "2026-01-01T00:00:00.000000+00:00"}}
    cells = [{"cell_type": "code", "source": "x = 1", "metadata": {"papermill": {
                  "start_time": "2026-01-01T00:00:00.400000+00:00", "duration": 0.01}}},
             {"cell_type": "code", "source": ["import pandas"], "metadata": {"papermill": {"duration": 1.5}}}]
    (tmp_path / "products").mkdir()
    (tmp_path / "products" / "train.ipynb").write_text(json.dumps({"cells": cells, "metadata": pm}))
    assert task_timings(tmp_path / "products") == {"train": {"kernel_ready_s": 0.4, "first_import_s": 1.5}}

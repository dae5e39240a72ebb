"""The runner's own logic: alternation, medians and ratios, the table, the JSON file."""

from __future__ import annotations

import json
import sys
import types

import pytest
from benchmarks import runner
from tests.bench.conftest import check_row


def test_alternate_swaps_order_every_round_and_calls_before():
    calls = []

    def contender(name):
        return lambda: calls.append(name) or float(len(calls))

    prepared = []
    times = runner.alternate(
        {"a": contender("a"), "b": contender("b")}, rounds=3, warmup=1, before=prepared.append
    )
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]
    assert prepared == calls  # set-up before every run, warm-up included
    assert times == {"a": [3.0, 6.0, 7.0], "b": [4.0, 5.0, 8.0]}  # warm-up not counted


def test_row_medians_ratio_and_render():
    row = runner.row(
        "x", "case", [3.0, 1.0, 2.0], [4.0, 8.0, 6.0], "tool", target="<= 0.5x", met=True
    )
    assert (row["nbgov"], row["anchor"], row["ratio"]) == (2.0, 6.0, round(2 / 6, 3))
    check_row(row)
    table = runner.render([row, runner.row("y", "ms case", [12.0], None, "", unit="ms")])
    lines = table.splitlines()
    assert lines[0].split() == ["benchmark", "case", "nbgov", "anchor", "ratio", "target", "met"]
    assert (
        "2.00 s" in lines[2]
        and "6.00 s (tool)" in lines[2]
        and "0.33x" in lines[2]
        and "yes" in lines[2]
    )
    assert "12.0 ms" in lines[3]


def test_main_writes_json_and_reports_a_broken_benchmark(tmp_path, monkeypatch, capsys):
    good = types.ModuleType("bench_good")
    good.run = lambda quick: [runner.row("good", "c", [1.0], [2.0], "anchor", met=quick)]
    bad = types.ModuleType("bench_bad")

    def boom(quick):
        raise ValueError("broken on purpose")

    bad.run = boom
    monkeypatch.setitem(sys.modules, "bench_good", good)
    monkeypatch.setitem(sys.modules, "bench_bad", bad)
    monkeypatch.setattr(runner, "BENCHMARKS", {"good": "bench_good", "bad": "bench_bad"})
    out = tmp_path / "res" / "latest.json"
    with pytest.raises(SystemExit) as exc:
        runner.main(["--quick", "--output", str(out)])
    assert exc.value.code == 1  # a failed benchmark fails the run, after the others reported
    data = json.loads(out.read_text())
    assert data["quick"] is True and [r["benchmark"] for r in data["rows"]] == ["good"]
    assert data["errors"] == {"bad": "ValueError: broken on purpose"}
    assert data["machine"]["cores"] >= 1
    assert "good" in capsys.readouterr().out


def test_unknown_benchmark_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        runner.main(["--only", "nope"])
    assert exc.value.code == 2
    assert "known: diff, check" in capsys.readouterr().err


def test_markdown_table_names_machine_and_failures():
    result = {
        "rows": [
            runner.row("diff", "200 cells", [0.5], [1.5], "nbdiff", target="<= 0.5x", met=True)
        ],
        "machine": runner.machine(),
        "errors": {"server": "RuntimeError: no port\nmore"},
        "started": "2026-01-01T00:00:00+00:00",
        "total_s": 3.0,
        "quick": False,
    }
    text = runner.markdown(result)
    assert "| diff | 200 cells | 0.50 s | 1.50 s (nbdiff) | 0.33x | <= 0.5x | yes |" in text
    assert f"{result['machine']['cores']} cores" in text
    assert "**server failed**: `RuntimeError: no port`" in text

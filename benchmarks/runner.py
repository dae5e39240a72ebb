"""The suite runner: alternate two contenders, take medians, print one table, write JSON.

Every benchmark module exposes ``run(quick: bool) -> list[dict]``; each dict is one row built
by :func:`row` (nbgov's median, the anchor's median, their ratio, the target and whether it is
met). Timing assertions stay out of the test suite: the smoke tests only check that every
benchmark still runs and reports sane rows.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
RESULTS = HERE / "results" / "latest.json"

#: benchmark name -> module; run in this order (cheap ones first, so a broken one shows early)
BENCHMARKS = {
    "diff": "benchmarks.bench_diff",
    "check": "benchmarks.bench_check_suite",
    "server": "benchmarks.bench_server",
    "tracking": "benchmarks.bench_tracking",
    "build": "benchmarks.bench_build",
    "example": "benchmarks.bench_example",
    "cluster": "benchmarks.bench_cluster",
}


def quiet_env(**extra: str) -> dict[str, str]:
    """The environment every timed command gets: no telemetry, no update checks, no tracking
    server inherited from the caller."""
    env = {
        k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"
    }  # each project's own store
    env.update(
        PLOOMBER_STATS_ENABLED="false",
        PLOOMBER_VERSION_CHECK_DISABLED="true",
        MLFLOW_ENABLE_TRACING="false",
        PYTHONWARNINGS="ignore",
        **extra,
    )
    return env


def timed_command(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None, check: bool = True
) -> float:
    """Wall seconds of one command; raises with its output when it fails and ``check`` is set."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env or quiet_env(), capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd[:3])} failed ({proc.returncode}) in {cwd}:\n"
            f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        )
    return elapsed


def alternate(
    contenders: dict[str, Callable[[], float]],
    rounds: int,
    warmup: int = 0,
    before: Callable[[str], None] | None = None,
) -> dict[str, list[float]]:
    """Time each contender ``rounds`` times, alternating which goes first in every round.

    Args:
        contenders: name -> a function doing one timed run and returning its seconds.
        rounds: timed runs per contender.
        warmup: untimed runs per contender first (file cache, .pyc files).
        before: called with the contender's name before each run (untimed set-up, e.g.
            removing the products of the previous build).
    """
    names = list(contenders)
    for _ in range(warmup):
        for name in names:
            if before:
                before(name)
            contenders[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(rounds):
        for name in names if i % 2 == 0 else list(reversed(names)):
            if before:
                before(name)
            times[name].append(contenders[name]())
    return times


def row(
    benchmark: str,
    case: str,
    nbgov: list[float],
    anchor: list[float] | None,
    anchor_name: str,
    unit: str = "s",
    target: str = "",
    met: bool | None = None,
    **extra,
) -> dict:
    """One result row: medians, ratio nbgov/anchor, the target and whether it is met."""
    nb_med = statistics.median(nbgov)
    an_med = statistics.median(anchor) if anchor else None
    return {
        "benchmark": benchmark,
        "case": case,
        "unit": unit,
        "nbgov": round(nb_med, 4),
        "anchor": round(an_med, 4) if an_med is not None else None,
        "anchor_name": anchor_name,
        "ratio": round(nb_med / an_med, 3) if an_med else None,
        "target": target,
        "met": met,
        "rounds": len(nbgov),
        "samples": {
            "nbgov": [round(t, 4) for t in nbgov],
            "anchor": [round(t, 4) for t in anchor or []],
        },
        **extra,
    }


def machine() -> dict:
    """Where the numbers came from."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    mem = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mem = round(pages / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_avg_at_start": [round(x, 2) for x in load],
    }


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.2f} s" if value >= 0.1 else f"{value * 1000:.0f} ms"
    return f"{value:.1f} {unit}"


def render(rows: list[dict]) -> str:
    """The results as a fixed-width table."""
    header = ["benchmark", "case", "nbgov", "anchor", "ratio", "target", "met"]
    lines = [
        [
            r["benchmark"],
            r["case"],
            _fmt(r["nbgov"], r["unit"]),
            f"{_fmt(r['anchor'], r['unit'])} ({r['anchor_name']})" if r["anchor_name"] else "-",
            f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-",
            r["target"] or "-",
            {True: "yes", False: "NO", None: "-"}[r["met"]],
        ]
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=True)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


def markdown(result: dict) -> str:
    """The results as a Markdown table with the machine they came from."""
    m = result["machine"]
    lines = [
        "| benchmark | case | nbgov | anchor | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        anchor = f"{_fmt(r['anchor'], r['unit'])} ({r['anchor_name']})" if r["anchor_name"] else "-"
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-"
        met = {True: "yes", False: "**no**", None: "-"}[r["met"]]
        lines.append(
            f"| {r['benchmark']} | {r['case']} | {_fmt(r['nbgov'], r['unit'])} | {anchor} "
            f"| {ratio} | {r['target'] or '-'} | {met} |"
        )
    lines += [
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB RAM, {m['os']}, Python "
        f"{m['python']}; load average at start {m['load_avg_at_start']}. Run started "
        f"{result['started']}, took {result['total_s']} s"
        + (" (quick mode: smoke sizes, not a measurement)." if result["quick"] else "."),
    ]
    for name, error in result["errors"].items():
        lines.append(f"\n**{name} failed**: `{error.splitlines()[0]}`")
    return "\n".join(lines) + "\n"


def run_all(names: list[str], quick: bool, log=print) -> dict:
    """Run the named benchmarks; a benchmark that crashes is reported, the others still run."""
    started = time.perf_counter()
    result = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "machine": machine(),
        "rows": [],
        "errors": {},
        "seconds": {},
    }
    for name in names:
        t0 = time.perf_counter()
        log(f"[bench] {name} ...", file=sys.stderr)
        try:
            module = importlib.import_module(BENCHMARKS[name])
            result["rows"] += module.run(quick=quick)
        except Exception as exc:  # one broken benchmark must not hide the others' numbers
            result["errors"][name] = f"{type(exc).__name__}: {exc}"[:3000]
            log(f"[bench] {name} failed: {result['errors'][name]}", file=sys.stderr)
        result["seconds"][name] = round(time.perf_counter() - t0, 1)
    result["total_s"] = round(time.perf_counter() - started, 1)
    return result


def main(argv: list[str] | None = None) -> None:
    """Command line of ``python -m benchmarks``."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few rounds (a smoke run)")
    parser.add_argument(
        "--only", default="", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    parser.add_argument(
        "--markdown", type=Path, default=None, help="also write the table as Markdown to this file"
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    result = run_all(names, args.quick)
    print(render(result["rows"]))
    m = result["machine"]
    print(
        f"\n{m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}, "
        f"load {m['load_avg_at_start']}; {result['total_s']} s in all"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(args.output)
    print(f"results: {args.output}")
    if args.markdown:
        args.markdown.write_text(markdown(result))
        print(f"markdown: {args.markdown}")
    if result["errors"]:
        sys.exit(1)

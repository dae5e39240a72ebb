"""Mutation scores per module from mutmut's results in mutants/ (``make mutate`` prints them).

Not a test module: run ``python tests/mutation_scores.py [--function NAME]...`` after
``mutmut run``. A mutant is counted in its source file; ``--function redact_params`` restricts a
file's row to the mutants of the named functions (tracking.py is mutated whole, but only its
redaction guards something).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

#: mutmut's exit codes (mutmut.stats.status_by_exit_code), folded into what the table shows
KILLED = {1, 3, 37}
SURVIVED = {0}
TIMEOUT = {36, -24, 24, 152, 255}
NO_TESTS = {5, 33}


def scores(mutants: Path, functions: set[str] | None = None) -> dict[str, Counter]:
    """``{source file: Counter(killed=, survived=, timeout=, no_tests=, other=, total=)}``."""
    table: dict[str, Counter] = {}
    for meta in sorted(mutants.glob("src/**/*.py.meta")):
        source = meta.relative_to(mutants).as_posix()[: -len(".meta")]
        row = Counter()
        for key, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            function = key.rsplit(".", 1)[-1].split("__mutmut_")[0].removeprefix("x_")
            function = function.split("ǁ")[-1]  # methods: x_ǁClassǁmethod
            if functions and "services/tracking.py" in source and function not in functions:
                continue
            kind = ("killed" if code in KILLED else "survived" if code in SURVIVED else
                    "timeout" if code in TIMEOUT else "no_tests" if code in NO_TESTS else
                    "not_checked" if code is None else "other")
            row[kind] += 1
            row["total"] += 1
        table[source] = row
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=Path, default=Path("mutants"))
    parser.add_argument("--function", action="append", default=None,
                        help="in services/tracking.py, count only these functions")
    args = parser.parse_args(argv)
    if not args.mutants.is_dir():
        print(f"{args.mutants}/ not found: run `make mutate` first", file=sys.stderr)
        return 2
    table = scores(args.mutants, set(args.function) if args.function else None)
    print(f"{'module':45s} {'killed':>7s} {'survived':>8s} {'timeout':>7s} {'no tests':>8s} "
          f"{'total':>6s} {'score':>6s}")
    for source, row in table.items():
        tested = row["killed"] + row["survived"] + row["timeout"]
        score = f"{100 * (row['killed'] + row['timeout']) / tested:.0f}%" if tested else "-"
        print(f"{source:45s} {row['killed']:7d} {row['survived']:8d} {row['timeout']:7d} "
              f"{row['no_tests']:8d} {row['total']:6d} {score:>6s}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

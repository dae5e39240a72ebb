"""``make mutate``: mutmut over each module that guards something, one module at a time, each
against its own focused in-process unit tests (docs/development/mutation.md).

Not a test module. ``python tests/mutate.py [NAME...]`` runs the named targets (default: all),
each in ``.mutmut/NAME/`` (a generated pyproject.toml, ``src`` and ``tests`` linked to the
repository's), then prints killed / survived / no tests / total per target. mutmut keeps its
results there and re-checks only what changed on the next run; ``--fresh`` starts over.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / ".mutmut"

#: target -> (module, its focused unit tests, the functions that matter or None for all).
#: Tests that run ``nbgov`` in a subprocess cannot see a mutant, so they are not listed.
TARGETS: dict[str, tuple[str, list[str], list[str] | None]] = {
    "ledger": ("src/nbgov/core/ledger.py", ["tests/review/test_ledger_chain.py",
                                            "tests/review/test_ledger_merge.py",
                                            "tests/review/test_ledger_guards.py"], None),
    "identity": ("src/nbgov/core/identity.py", ["tests/review/test_identity_nbv1.py"], None),
    "freshness": ("src/nbgov/core/freshness.py", ["tests/lineage/test_lineage_graph.py",
                                                  "tests/lineage/test_freshness_rules.py"], None),
    "review": ("src/nbgov/services/review/state.py", ["tests/review/test_review_api.py",
                                                "tests/review/test_ledger_guards.py",
                                                "tests/review/test_review_discovery.py",
                                                "tests/review/test_review_status_scope.py"], None),
    "review_store": ("src/nbgov/services/review/store.py", ["tests/review/test_ledger_guards.py",
                                                            "tests/review/test_review_api.py"], None),
    "redaction": ("src/nbgov/core/redact.py", ["tests/build/test_redaction.py",
                                               "tests/security/test_check_secrets.py"], None),
    "paths": ("src/nbgov/server/paths.py", ["tests/server/test_server_paths.py"], None),
    "promote": ("src/nbgov/services/models/promote.py", ["tests/models/test_promote_gate.py",
                                                  "tests/models/test_promote_approvals.py"], None),
    "thresholds": ("src/nbgov/core/thresholds.py", ["tests/models/test_thresholds_rules.py"], None),
}

#: mutmut's exit codes (mutmut.stats.status_by_exit_code), folded into the table's columns
KILLED, SURVIVED, NO_TESTS, TIMEOUT = {1, 3, 37}, {0}, {5, 33}, {36, -24, 24, 152, 255}


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def prepare(name: str, fresh: bool) -> Path:
    """``.mutmut/NAME`` with a pyproject.toml for mutmut and the repository's pytest options."""
    module, tests, _ = TARGETS[name]
    work = WORK / name
    if fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    for link in ("src", "tests"):
        if not (work / link).exists():
            (work / link).symlink_to(REPO / link, target_is_directory=True)
    pytest_ini = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    lines = ["[tool.mutmut]", 'source_paths = ["src/nbgov"]', f'only_mutate = ["{module}"]',
             f"pytest_add_cli_args_test_selection = {_toml_list(tests)}",
             # the speed tests measure wall time, which mutants (and a busy machine) distort
             'pytest_add_cli_args = ["-p", "no:cacheprovider", "-x", "-q", "-k", '
             '"not speed and not light_and_fast"]', "", "[tool.pytest.ini_options]"]
    for key in ("addopts", "markers", "filterwarnings"):
        value = pytest_ini[key]
        lines.append(f"{key} = {_toml_list(value) if isinstance(value, list) else repr(value)}")
    (work / "pyproject.toml").write_text("\n".join(lines) + "\n")
    return work


def score(name: str) -> Counter:
    """Killed / survived / timeout / no tests / total of a target's mutants (its functions)."""
    import json

    module, _, functions = TARGETS[name]
    meta = WORK / name / "mutants" / (module + ".meta")
    row: Counter = Counter()
    if not meta.exists():
        return row
    for key, code in json.loads(meta.read_text())["exit_code_by_key"].items():
        function = key.rsplit(".", 1)[-1].split("__mutmut_")[0].removeprefix("x_").split("ǁ")[-1]
        if functions and function not in functions:
            continue
        row["killed" if code in KILLED else "survived" if code in SURVIVED else "no tests"
            if code in NO_TESTS else "timeout" if code in TIMEOUT else "not checked"] += 1
        row["total"] += 1
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help=f"default: all of {', '.join(TARGETS)}")
    parser.add_argument("--fresh", action="store_true", help="forget earlier results")
    parser.add_argument("--scores-only", action="store_true", help="print the table, run nothing")
    parser.add_argument("--max-children", default="2")
    args = parser.parse_args(argv)
    names = args.targets or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    failed = []
    for name in names:
        if args.scores_only:
            continue
        work = prepare(name, args.fresh)
        print(f"== mutmut: {name} ({TARGETS[name][0]})", flush=True)
        mutmut = Path(sys.executable).with_name("mutmut")
        if subprocess.run([str(mutmut), "run", "--max-children", args.max_children], cwd=work).returncode:
            failed.append(name)
    print(f"\n{'target':13s} {'module':36s} {'killed':>6s} {'survived':>8s} {'timeout':>7s} "
          f"{'no tests':>8s} {'total':>5s} {'score':>5s}")
    for name in names:
        row = score(name)
        tested = row["killed"] + row["survived"] + row["timeout"]
        pct = f"{100 * (row['killed'] + row['timeout']) / tested:.0f}%" if tested else "-"
        print(f"{name:13s} {TARGETS[name][0].removeprefix('src/nbgov/'):36s} {row['killed']:6d} "
              f"{row['survived']:8d} {row['timeout']:7d} {row['no tests']:8d} {row['total']:5d} {pct:>5s}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The parity table for the closing note: ``python -m tests.parity.table [PROJECT...]`` builds
each project with both tools (as the tests do) and prints one Markdown row per pattern. The
test session prints the same table in its summary."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `tests.parity` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    __package__ = "tests.parity"

from .harness import CHECKS, Pair, build_pair, project_names  # noqa: E402


def _cell(check) -> str:
    return "yes" if check.ok else "**no**"


def render(pairs: list[Pair], details: bool = True) -> str:
    """The Markdown table (and, below it, what each failed check said)."""
    head = ["pattern", "project", *CHECKS, "no-op time (s)"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    notes = []
    for pair in pairs:
        results = {name: fn(pair) for name, fn in CHECKS.items()}
        noop = f"{pair.nbgov_again.seconds:.2f}" if results["no-op rebuild"].ok else "-"
        rows.append("| " + " | ".join([pair.expect.pattern.replace("|", "/"), pair.expect.name,
                                       *(_cell(c) for c in results.values()), noop]) + " |")
        notes += [f"- {pair.expect.name} / {name}: {c.detail}" for name, c in results.items() if not c.ok]
    return "\n".join(rows + ([""] + notes if details and notes else []))


def main(argv: list[str]) -> int:
    names = argv or project_names()
    pairs = []
    with tempfile.TemporaryDirectory(prefix="nbgov-parity-") as tmp:
        for name in names:
            print(f"building {name} ...", file=sys.stderr, flush=True)
            pairs.append(build_pair(name, Path(tmp) / name))
        print(render(pairs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

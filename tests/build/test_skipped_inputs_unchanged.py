"""The freshness rule, said where it happens (issue 29): a task Ploomber would run again (its
upstream was rebuilt) but whose inputs have the same digests is skipped, and the build summary
names it with the reason."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import run_cli

RAW = '''\
from pathlib import Path


def raw(product):
    Path(str(product)).parent.mkdir(parents=True, exist_ok=True)
    Path(str(product)).write_text("1\\n2\\n3\\n")
'''

REPORT = '''\
from pathlib import Path


def total(product, upstream):
    numbers = [int(v) for v in Path(str(upstream["raw"])).read_text().split()]
    Path(str(product)).write_text(str(sum(numbers)))
'''


DOUBLE = '''\
from pathlib import Path


def double(product, upstream):
    Path(str(product)).write_text(str(2 * int(Path(str(upstream["total"])).read_text())))
'''


def test_summary_names_tasks_skipped_because_their_inputs_did_not_change(git_repo: Path):
    root = git_repo
    (root / "ingest.py").write_text(RAW)
    (root / "report.py").write_text(REPORT + "\n\n" + DOUBLE)
    (root / "pipeline.yaml").write_text(
        "meta:\n  extract_upstream: false\ntasks:\n  - source: ingest.raw\n    product: products/raw.txt\n"
        "  - source: report.total\n    upstream: [raw]\n    product: products/total.txt\n"
        # two steps down: Ploomber runs it too (its upstream is outdated), nbgov skips it
        "  - source: report.double\n    upstream: [total]\n    product: products/double.txt\n")
    (root / "nbgov.toml").write_text('experiment = "unchanged"\n')
    assert run_cli(root, "build", "-q").returncode == 0
    # a comment-only edit upstream: `raw` runs again and writes the same bytes
    (root / "ingest.py").write_text("# reads nothing\n" + RAW)
    again = run_cli(root, "build", "--json")
    assert again.returncode == 0, again.stderr
    tasks = {t["task"]: t for t in json.loads(again.stdout)["tasks"]}
    assert tasks["raw"]["outcome"] == "ran" and tasks["raw"]["reason"] is None
    assert tasks["total"]["outcome"] == "skipped" and tasks["total"]["reason"] == "inputs unchanged"
    assert tasks["double"]["outcome"] == "skipped" and tasks["double"]["reason"] == "inputs unchanged"
    (root / "ingest.py").write_text("# reads nothing, twice\n" + RAW)
    text = run_cli(root, "build", "-q")
    assert text.returncode == 0, text.stderr
    assert "skipped: inputs unchanged: total, double" in text.stderr

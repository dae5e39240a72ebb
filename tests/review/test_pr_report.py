"""``nbgov review pr``: the report of a real pull request in a real git repository.

The example project is committed on ``main`` (one approval by Bob, an image output in
train.ipynb); the branch ``pr`` then edits train.ipynb (a cell added with an HTML payload in
it, a cell changed to print ``<script>``, a cell moved, the image output changed), moves
profile.ipynb, deletes monitor.ipynb, edits features.ipynb (approved at the base: stale now),
and turns on ``allow_self_approval`` in nbgov.toml (a trust setting). Bob approves train.ipynb
on the branch. Built once per module; each test reads it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import copy_example_files
from tests.review.conftest import BOB, run_git

RED = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
BLUE = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPj/HwADBwIAMCbHYQAAAABJRU5ErkJggg=="
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"


def _nbgov(root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("NBGOV_REVIEWER", "MLFLOW_TRACKING_URI")}
    return subprocess.run([sys.executable, "-m", "nbgov", *args], cwd=root, capture_output=True, text=True,
                          env={**full, **(env or {})}, timeout=120)


def _edit_nb(path: Path, change) -> None:
    nb = json.loads(path.read_text())
    change(nb["cells"])
    path.write_text(json.dumps(nb, indent=1))


def _image(b64: str) -> list[dict]:
    return [{"output_type": "display_data", "metadata": {}, "data": {"image/png": b64, "text/plain": "<Figure>"}}]


@pytest.fixture(scope="module")
def pr_repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pr") / "project"
    root.mkdir()
    copy_example_files(root)
    run_git(root, "init", "-q", "-b", "main")
    for key, value in (("user.name", "Ada Author"), ("user.email", "ada@example.com"), ("commit.gpgsign", "false")):
        run_git(root, "config", key, value)

    def set_image(cells):
        cells[3]["outputs"] = _image(RED)
    _edit_nb(root / "notebooks" / "train.ipynb", set_image)
    run_git(root, "add", "-A")
    run_git(root, "commit", "-qm", "base")
    assert _nbgov(root, "review", "approve", "notebooks/features.ipynb", "--reviewer", BOB).returncode == 0
    first = json.loads((root / "notebooks" / "monitor.ipynb").read_text())["cells"][0]["id"]
    assert _nbgov(root, "review", "comment", "notebooks/monitor.ipynb", "--cell", first, "-m", "drift?",
                  "--reviewer", BOB).returncode == 0
    run_git(root, "add", "-A")
    run_git(root, "commit", "-qm", "approve features")
    run_git(root, "checkout", "-qb", "pr")

    def edit_train(cells):
        cells.insert(1, {"cell_type": "markdown", "id": "added1", "metadata": {}, "source": [f"# new {IMG}"]})
        cells[-1]["source"] = [f'print("{SCRIPT}")\n']
        cells.append(cells.pop(3))  # c02 to the end
        next(c for c in cells if c["id"] == "c03")["outputs"] = _image(BLUE)
    _edit_nb(root / "notebooks" / "train.ipynb", edit_train)
    _edit_nb(root / "notebooks" / "features.ipynb", lambda cells: cells[-1]["source"].append("\n# tweak"))
    run_git(root, "mv", "notebooks/profile.ipynb", "notebooks/profiling.ipynb")
    spec = (root / "pipeline.yaml").read_text().replace("notebooks/profile.ipynb", "notebooks/profiling.ipynb")
    spec = spec[: spec.index("  # production monitoring")]
    (root / "pipeline.yaml").write_text(spec)
    run_git(root, "rm", "-q", "notebooks/monitor.ipynb")
    config = (root / "nbgov.toml").read_text().replace('[review]\n', '[review]\nallow_self_approval = true\n')
    (root / "nbgov.toml").write_text(config)
    run_git(root, "add", "-A")
    run_git(root, "commit", "-qm", "the change")
    assert _nbgov(root, "review", "approve", "notebooks/train.ipynb", "--reviewer", BOB).returncode == 0
    assert _nbgov(root, "review", "comment", "notebooks/train.ipynb", "--cell", "c02", "-m", f"moved? {SCRIPT}",
                  "--reviewer", BOB).returncode == 0
    run_git(root, "add", "-A")
    run_git(root, "commit", "-qm", "approve train")
    return root


@pytest.fixture(scope="module")
def report(pr_repo: Path) -> dict:
    proc = _nbgov(pr_repo, "review", "pr", "--base", "main", "--format", "json", "--no-results")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _target(report: dict, path: str) -> dict:
    return next(t for t in report["targets"] if t["path"] == path)


def test_json_report_field_by_field(report: dict, pr_repo: Path) -> None:
    assert report["schema"] == "nbgov.pr-report/1"
    assert report["base"] == {"ref": "main", "commit": run_git(pr_repo, "rev-parse", "main").strip()}
    assert report["head"]["commit"] == run_git(pr_repo, "rev-parse", "HEAD").strip()
    assert report["head"]["ref"] == "pr (working tree)"
    # the trust setting first, and the gate (read at the base) refuses until it is approved
    assert report["trust_changes"] == ["nbgov.toml"]
    assert report["targets"][0]["path"] == "nbgov.toml" and report["targets"][0]["trust"] is True
    assert report["gate"]["passes"] is False
    assert any(r.startswith("nbgov.toml: unreviewed (trust settings changed since main)")
               for r in report["gate"]["reasons"])
    paths = [t["path"] for t in report["targets"]]
    assert paths == ["nbgov.toml", "notebooks/features.ipynb", "notebooks/monitor.ipynb",
                     "notebooks/profiling.ipynb", "notebooks/train.ipynb", "pipeline.yaml"]

    moved = _target(report, "notebooks/profiling.ipynb")
    assert (moved["change"], moved["old_path"], moved["diff"]["cells"]) == ("moved", "notebooks/profile.ipynb", [])
    assert moved["base_version"] == moved["head_version"]

    deleted = _target(report, "notebooks/monitor.ipynb")
    assert (deleted["change"], deleted["head_version"], deleted["review"]["status"]) == ("deleted", None, "deleted")
    assert [(t["outdated"], t["resolved"], t["comments"][0]["text"]) for t in deleted["threads"]] == [
        (True, False, "drift?")]
    assert deleted["diff"]["counts"]["removed"] > 0

    stale = _target(report, "notebooks/features.ipynb")
    assert stale["review"]["status"] == "stale"
    assert stale["review"]["approved_by"] == []  # Bob approved the base's version, not this one
    assert stale["review"]["changed_by"] == ["Ada Author <ada@example.com>"]
    assert stale["review"]["may_approve"] == "anyone but Ada Author <ada@example.com>"

    train = _target(report, "notebooks/train.ipynb")
    assert train["review"]["status"] == "approved" and train["review"]["approved_by"] == [BOB]
    assert train["diff"]["counts"] == {"added": 1, "removed": 0, "changed": 1, "moved": 1, "outputs_changed": 1}
    cells = {c["id"]: c for c in train["diff"]["cells"]}
    assert cells["added1"]["change"] == "added"
    assert cells["c05"]["change"] == "changed" and f'+print("{SCRIPT}")' in cells["c05"]["source_diff"]
    assert cells["c02"]["change"] == "moved" and cells["c02"]["moved"] and not cells["c02"]["source_changed"]
    image = cells["c03"]
    assert image["change"] == "unchanged" and image["outputs_changed"]
    assert [(o["type"], o["mime"], o["data"]) for o in image["base_outputs"]] == [("image", "image/png", RED)]
    assert [(o["type"], o["mime"], o["data"]) for o in image["head_outputs"]] == [("image", "image/png", BLUE)]

    [thread] = train["threads"]
    assert (thread["cell"], thread["outdated"], thread["author"]) == ("c02", False, BOB)

    spec = _target(report, "pipeline.yaml")
    assert spec["diff"]["format"] == "text" and "+  - source: notebooks/profiling.ipynb" in spec["diff"]["lines"]
    assert report["summary"] == {"targets": 6, "approved": 1, "not_approved": 4, "deleted": 1, "open_threads": 2}


def test_head_ref_gives_the_same_report(pr_repo: Path, report: dict) -> None:
    proc = _nbgov(pr_repo, "review", "pr", "--base", "main", "--head", "pr", "--format", "json", "--no-results")
    assert proc.returncode == 0, proc.stderr
    other = json.loads(proc.stdout)
    assert other["head"]["ref"] == "pr"
    assert other["targets"] == report["targets"]
    assert "nbgov-pr-" not in run_git(pr_repo, "worktree", "list")  # temporary checkouts removed


def test_markdown_renders_on_github_as_text(pr_repo: Path) -> None:
    cmarkgfm = pytest.importorskip("cmarkgfm")
    from cmarkgfm.cmark import Options

    proc = _nbgov(pr_repo, "review", "pr", "--base", "main", "--no-results")
    assert proc.returncode == 0, proc.stderr
    md = proc.stdout
    assert len(md) < 65_536
    # unsafe: the raw HTML we emit is kept, so any user text that slipped through would show
    out = cmarkgfm.github_flavored_markdown_to_html(md, options=Options.CMARK_OPT_UNSAFE)
    assert "<script" not in out and "<img" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out and "&lt;img src=x onerror=alert(2)&gt;" in out
    assert out.index("Trust settings changed") < out.index("notebooks/features.ipynb")
    assert "<table>" in out and out.count("<details>") == 6
    assert "before 1 image/png; after 1 image/png" in out


def test_html_is_self_contained_and_shows_user_text_as_text(pr_repo: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    proc = _nbgov(pr_repo, "review", "pr", "--base", "main", "--no-results", "--format", "html", "-o", str(page))
    assert proc.returncode == 0, proc.stderr
    text = page.read_text()
    # nothing to fetch: every src is a data: URI, no link to a stylesheet or script
    assert re.findall(r'src="(?!data:image/png;base64,)', text) == [] and "<link" not in text
    assert f'src="data:image/png;base64,{RED}"' in text and f'src="data:image/png;base64,{BLUE}"' in text
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("headless Chromium not installed (make browser)")
    dom = subprocess.run([str(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                          page.as_uri()], capture_output=True, text=True, timeout=60).stdout
    assert "<script" not in dom.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom and "&lt;img src=x onerror=alert(2)&gt;" in dom
    assert dom.count("<img") == 2  # the two outputs, nothing a cell's text made


def test_unknown_base_is_one_line(pr_repo: Path) -> None:
    proc = _nbgov(pr_repo, "review", "pr", "--base", "no-such-branch")
    assert proc.returncode == 2
    assert "unknown git revision 'no-such-branch' (--base)" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_markdown_of_a_huge_change_fits_one_comment() -> None:
    from nbgov.services.review.pr_render import MARKDOWN_LIMIT, render_markdown

    cell = {"id": "c", "cell_type": "code", "change": "changed", "moved": False, "source_changed": True,
            "outputs_changed": False, "base_index": 0, "head_index": 0, "base_outputs": [], "head_outputs": [],
            "source_diff": [f"+line {i} ```` | <b>" for i in range(500)]}
    review = {"status": "unreviewed", "approved_by": [], "approved_version": None, "changes_requested_by": [],
              "last": None, "changed_by": [], "may_approve": "anyone", "eligible": None}
    targets = [{"path": f"notebooks/n{i:03}.ipynb", "old_path": None, "change": "modified", "kind": "notebook",
                "trust": False, "in_gate": True, "base_version": None, "head_version": None, "threads": [],
                "diff": {"format": "cells", "cells": [cell] * 5, "lines": [],
                         "counts": {"added": 0, "removed": 0, "changed": 5, "moved": 0, "outputs_changed": 0}},
                "review": review} for i in range(300)]
    report = {"schema": "nbgov.pr-report/1", "base": {"ref": "main", "commit": "a" * 40},
              "head": {"ref": "pr", "commit": "b" * 40}, "trust_changes": [], "gate": {"passes": True, "reasons": []},
              "summary": {"targets": 300, "approved": 0, "not_approved": 300, "deleted": 0, "open_threads": 0},
              "targets": targets, "results": None}
    md = render_markdown(report, link="https://ci.example/artifacts/1")
    assert len(md) <= MARKDOWN_LIMIT
    assert "https://ci.example/artifacts/1" in md
    assert "do not fit in one comment" in md or "cut here" in md
    small = render_markdown({**report, "targets": targets[:1]})
    assert "more line(s) in the full report" in small and "do not fit" not in small
    # a fence longer than the content's backtick runs: the diff stays one code block
    assert "`````diff" in small


def test_markdown_escapes_user_text_outside_code() -> None:
    cmarkgfm = pytest.importorskip("cmarkgfm")
    from cmarkgfm.cmark import Options

    from nbgov.services.review.pr_render import render_markdown

    evil = "<img src=x onerror=alert(3)> **bold** [link](http://x.example) |"
    review = {"status": "approved", "approved_by": [f"Eve {evil} <eve@x.org>"], "approved_version": None,
              "changes_requested_by": [evil], "last": None, "changed_by": [evil], "may_approve": evil, "eligible": None}
    target = {"path": f"n/{evil}.ipynb", "old_path": f"o/{evil}.ipynb", "change": "moved", "kind": "notebook",
              "trust": True, "in_gate": True, "base_version": None, "head_version": None, "threads": [],
              "diff": {"format": "cells", "cells": [], "lines": [],
                       "counts": {"added": 0, "removed": 0, "changed": 0, "moved": 0, "outputs_changed": 0}},
              "review": review}
    report = {"schema": "nbgov.pr-report/1", "base": {"ref": evil, "commit": "a" * 40},
              "head": {"ref": evil, "commit": "b" * 40}, "trust_changes": [target["path"]],
              "gate": {"passes": False, "reasons": [evil]},
              "summary": {"targets": 1, "approved": 1, "not_approved": 0, "deleted": 0, "open_threads": 0},
              "targets": [target], "results": None}
    out = cmarkgfm.github_flavored_markdown_to_html(render_markdown(report), options=Options.CMARK_OPT_UNSAFE)
    assert "<img" not in out and "<strong>bold" not in out and ">link</a>" not in out
    assert out.count("<tr>") == 2  # the | in user text did not split the table's cells


_EVIL_PATH = "n/a\n\n# Fake heading\n\n[link](http://evil.example) ![i](http://evil.example/x.png)\n\n`b`|c.ipynb"
_LIVE = "ping @alice and @org/team, see https://evil.example/x or www.evil.example or a@evil.example"


def _evil_report() -> dict:
    cell = {"id": "c`1\n\n# cell", "cell_type": "code", "change": "changed", "moved": False, "source_changed": True,
            "outputs_changed": False, "base_index": 0, "head_index": 0, "base_outputs": [], "head_outputs": [],
            "source_diff": ["+x = 1\u2028# not a heading", "+y = '@bob www.x.example'", "+z\x1c\n# split"]}
    review = {"status": "unreviewed", "approved_by": [], "approved_version": None, "changes_requested_by": [],
              "last": None, "changed_by": [], "may_approve": _LIVE, "eligible": None}
    thread = {"id": "abcdef123456", "notebook": _EVIL_PATH, "cell": "c`1\n\n# cell", "author": "Bob @bob",
              "at": "", "resolved": False, "resolved_by": None, "resolved_at": None, "outdated": False,
              "path": _EVIL_PATH, "moved_from": None,
              "comments": [{"author": "Bob", "at": "", "text": _LIVE + "\n\n# Heading in a comment"}]}
    target = {"path": _EVIL_PATH, "old_path": _EVIL_PATH + "\r\n\r\n## old", "change": "moved", "kind": "notebook",
              "trust": False, "in_gate": True, "base_version": None, "head_version": None, "threads": [thread],
              "diff": {"format": "cells", "cells": [cell], "lines": [],
                       "counts": {"added": 0, "removed": 0, "changed": 1, "moved": 0, "outputs_changed": 0}},
              "review": review}
    results = {"notes": [_LIVE], "models": [], "tasks": [
        {"task": "t\n\n# task", "why": "changed", "note": None, "base_run": {"commit": "c" * 40},
         "head_run": {"commit": "d\n\n# x"},
         "metrics": [{"name": _LIVE + "\n\n# metric", "base": 1.0, "head": 2.0, "delta": 1.0, "fails": []}]}]}
    reasons = [f"{_EVIL_PATH}: unreviewed", "odd: path: with colons.ipynb: stale"]
    return {"schema": "nbgov.pr-report/1", "base": {"ref": "main\n\n# base", "commit": "a" * 40},
            "head": {"ref": "pr", "commit": "b" * 40}, "trust_changes": [],
            "gate": {"passes": False, "reasons": reasons, "paths": [_EVIL_PATH, "odd: path: with colons.ipynb"]},
            "summary": {"targets": 1, "approved": 0, "not_approved": 1, "deleted": 0, "open_threads": 1},
            "targets": [target], "results": results}


def test_markdown_user_strings_cannot_leave_their_context() -> None:
    """C, D: newlines/controls in paths, cell ids, comments, metric names end no HTML block, table
    row or code span (rendered as GitHub does); mentions and autolinks are inert, code blocks kept."""
    cmarkgfm = pytest.importorskip("cmarkgfm")
    from cmarkgfm.cmark import Options

    from nbgov.services.review.pr_render import render_markdown

    md = render_markdown(_evil_report())
    out = cmarkgfm.github_flavored_markdown_to_html(md, options=Options.CMARK_OPT_UNSAFE)
    headings = re.findall(r"<h\d>(.*?)</h\d>", out)
    assert len(headings) == 3 and all("nbgov review" in h or h in ("Changes", "What the change did to the results")
                                      for h in headings), headings
    assert "<a " not in out and "<img" not in out
    assert out.count("<table>") == 2 and out.count("<tr>") == 4  # the targets' and the results' tables
    assert "@alice" not in out and "@org/team" not in out and "@\u200dalice" in out  # no ping
    assert "<details>" in out and out.count("</details>") == 1
    # gate reasons counted by their path, not by splitting on ": "
    assert "2 target(s) not approved at their current version (1 of them not changed here)" in out
    # code blocks are verbatim (no joiner inserted), control characters shown as escapes
    assert "+y = '@bob www.x.example'" in out and "\\u2028# not a heading" in out

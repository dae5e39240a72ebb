"""A source file without outputs (a .py module or script, shell, SQL, any text target) is
versioned by its exact bytes (``srcv2``): two files that Python or a shell runs differently never
share a version (docs/security.md, R4 "what the version binds"). Attacks from the sixth review:
a UTF-7 coding cookie in a ``# %%`` cell title, a form feed (or \\x0b, \\x1c, U+0085, U+2028) that
str.splitlines ends a line at but Python does not, a CR inside a bash comment, a ``# x`` line of a
``# %% [markdown]`` cell turned into code. In-process, no project: ~0.1 s."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from nbgov.adapters.notebooks import source_version
from nbgov.core.identity import notebook_version
from nbgov.core.tasks import legacy_text_version, visible_lines
from nbgov.services.review import store
from nbgov.services.review.diff import _text_diff, render_diff
from nbgov.services.review.pr import _diff

HELPER = "# Helpers\n# %% loading\ndef go():\n    print('v1')\n"
UTF7 = "# Helpers\n# %% coding: utf-7 +AAo-import os+ADs-os.system(+ACI-id+ACI-)\ndef go():\n    print('v1')\n"

#: (name, reviewed text, edited text that runs differently)
PAIRS = [
    ("utf7-cookie-in-cell-title", "helper.py", HELPER, UTF7),
    *[(f"line-end-{hex(ord(ch))}", "helper.py", f"def go():\n    pass\n# note{ch}payload()\n",
       "def go():\n    pass\n# note\npayload()\n") for ch in "\x0c\x0b\x1c\x85\u2028"],
    ("cr-in-a-shell-comment", "run.sh", "echo hi\n# note\rrm -rf products\n", "echo hi\n# note\nrm -rf products\n"),
    ("markdown-cell-comment-to-code", "helper.py", "# %%\nx = 1\n\n# %% [markdown]\n# payload()\n",
     "# %%\nx = 1\n\n# %% [markdown]\npayload()\n"),
    ("trailing-blank-line", "q.sql", "SELECT 1;\n", "SELECT 1;\n\n"),
]


@pytest.mark.parametrize(("name", "file", "before", "after"), PAIRS, ids=[p[0] for p in PAIRS])
def test_files_that_run_differently_have_different_versions(tmp_path: Path, name, file, before, after):
    path = tmp_path / file
    path.write_bytes(before.encode("utf-8"))
    reviewed = source_version(path)
    assert reviewed == "srcv2:" + hashlib.sha256(before.encode("utf-8")).hexdigest()  # the documented rule
    path.write_bytes(after.encode("utf-8"))
    assert source_version(path) != reviewed, name


def test_a_notebook_keeps_its_cell_version(tmp_path: Path):
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1", "outputs": [], "execution_count": 3}],
          "metadata": {"kernelspec": {"name": "python3", "language": "python", "display_name": "P"}},
          "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "a.ipynb").write_text(json.dumps(nb))
    assert source_version(tmp_path / "a.ipynb") == notebook_version(nb)  # outputs do not count


def test_a_text_snapshot_keeps_every_byte_and_old_snapshots_still_read(tmp_path: Path):
    text = "echo hi\r\n# note\x0cpayload\n\n"
    version = source_version_of(tmp_path, text)
    store.write_snapshot(tmp_path / "snaps", version, text)
    assert store.read_snapshot(tmp_path / "snaps", version) == text
    # a srcv1 snapshot (normalised text, written before srcv2) is still read and checked
    old = legacy_text_version(text)
    store.snapshot_path(tmp_path / "snaps", old).write_text("echo hi\n# note\x0cpayload\n")
    assert store.read_snapshot(tmp_path / "snaps", old).startswith("echo hi\n")


def source_version_of(folder: Path, text: str) -> str:
    (folder / "f.sh").write_bytes(text.encode("utf-8"))
    return source_version(folder / "f.sh")


def test_diffs_show_the_byte_that_changed():
    before, after = "# note\x0cpayload()\n", "# note\npayload()\n"
    assert visible_lines(before) == ["# note\\x0cpayload()", ""]
    shown = render_diff(_text_diff("helper.py", None, "srcv2:x", before, after, "approved"))
    assert "-# note\\x0cpayload()" in shown and "+payload()" in shown, shown
    pr = _diff("run.sh", "a\rb\n", "a\nb\n", "a\rb\n", "a\nb\n")
    assert "-a\\x0db" in pr["lines"] and "+b" in pr["lines"], pr["lines"]

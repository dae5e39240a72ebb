"""The attacks an independent tester made on the PR gate (issue 23's attack round), each a
script under attacks/ run in a real git repository with real ssh keys: every one must now be
refused. The scripts are the tester's reproductions, cut at the CI gate."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "attacks"

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs OpenSSH's ssh-keygen")


def _attack(name: str, tmp_path: Path) -> dict[str, list[str]]:
    env = {**os.environ, "NBGOV_BIN": str(Path(sys.executable).parent), "ATTACK_DIR": str(tmp_path)}
    proc = subprocess.run(["bash", str(HERE / name)], capture_output=True, text=True, env=env, timeout=600)
    found: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and key in ("GATE_RC", "VERIFY_RC", "VERSION"):
            found.setdefault(key, []).append(value)
    assert found, proc.stdout[-2000:] + proc.stderr[-2000:]
    return found


def test_a_symlinked_ledger_cannot_hide_committed_records(tmp_path):
    # the PR points .nbgov/reviews.jsonl at a copy without the base's changes request
    out = _attack("r1_ledger_symlink.sh", tmp_path)
    assert out["VERIFY_RC"] != ["0"] and out["GATE_RC"] != ["0"]


def test_a_merge_that_brings_back_a_signers_own_change_is_his_change(tmp_path):
    # Bob's change comes back through a `-s ours` merge that git's default log would skip
    assert _attack("r2_i6_merge.sh", tmp_path)["GATE_RC"] == ["1"]


def test_reverting_a_trust_file_needs_a_new_approval(tmp_path):
    # a revoked (leaked) key put back into allowed_signers: its old approval does not count
    assert _attack("r3_trustfile_revert.sh", tmp_path)["GATE_RC"] == ["1"]


def test_tags_written_as_a_string_change_the_version(tmp_path):
    out = _attack("r4_string_tags.sh", tmp_path)
    assert len(set(out["VERSION"])) == 2 and out["GATE_RC"] == ["1"]


def test_a_module_a_notebook_imports_is_gated_even_with_review_paths(tmp_path):
    # [review] paths = ["notebooks"]: the closure (helper.py) is still a review target
    assert _attack("r5_imported_module.sh", tmp_path)["GATE_RC"] == ["1"]

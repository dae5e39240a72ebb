"""Invariant I13 as a property: whatever a branch's commits do to the ledger (append records,
drop one and re-chain the rest, edit one and re-chain), the history check fails exactly when
some commit lost or changed a record, naming the first such commit. Real git repositories;
records re-chained so that every ledger on the way verifies on its own."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbgov.core.errors import LedgerError
from nbgov.core.ledger import GENESIS, ReviewRecord, new_record, parse_ledger, record_hash
from nbgov.services.review.history import check_history
from nbgov.services.review.store import ReviewSettings

LEDGER = ".nbgov/reviews.jsonl"
_V = "nbv1:" + "a" * 64


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout


def _write(root: Path, records: list[ReviewRecord]) -> None:
    """Re-chain ``records`` (new seq, prev, hash: the attacker's rechain.py) and write them."""
    out, prev = [], GENESIS
    for n, rec in enumerate(records, start=1):
        body = {**rec.to_dict(), "seq": n, "prev": prev}
        body.pop("hash")
        prev = record_hash(body)
        out.append(ReviewRecord(**{**body, "hash": prev}))
    (root / LEDGER).write_text("".join(r.to_line() for r in out))
    parse_ledger((root / LEDGER).read_text())  # every version verifies on its own


def _commit(root: Path, message: str) -> str:
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", message)
    return _git(root, "rev-parse", "HEAD").strip()


OPS = st.lists(st.tuples(st.sampled_from(["append", "append", "drop", "edit"]), st.integers(0, 20)),
               min_size=1, max_size=5)


@settings(max_examples=12, deadline=None)
@given(base_size=st.integers(0, 2), ops=OPS)
def test_history_fails_exactly_when_a_commit_lost_a_record(base_size: int, ops) -> None:
    with tempfile.TemporaryDirectory(prefix="nbgov-history-") as tmp:
        root = Path(tmp)
        _git(root, "init", "-q", "-b", "main")
        _git(root, "config", "user.name", "T")
        _git(root, "config", "user.email", "t@example.com")
        _git(root, "config", "commit.gpgsign", "false")
        (root / ".nbgov").mkdir()
        records: list[ReviewRecord] = []
        for i in range(base_size):
            records.append(new_record(None, notebook="a.ipynb", version=_V, decision="approved",
                                      reviewer=f"r{i}", note=f"base {i}"))
        _write(root, records)
        _commit(root, "base")
        _git(root, "checkout", "-qb", "pr")
        first_bad = None
        for n, (op, i) in enumerate(ops):
            if op != "append" and records:
                i %= len(records)
                if op == "drop":
                    records.pop(i)
                else:
                    old = records[i]
                    records[i] = ReviewRecord(**{**old.to_dict(), "note": old.note + " (edited)"})
            else:
                records.append(new_record(None, notebook="a.ipynb", version=_V, decision="comment",
                                          reviewer="bob", note=f"op {n}"))
                op = "append"
            _write(root, records)
            sha = _commit(root, f"op {n}: {op}")
            if op != "append" and first_bad is None:
                first_bad = sha
        ledger_settings = ReviewSettings(ledger=root / LEDGER, snapshots=root / ".nbgov" / "snapshots")
        if first_bad is None:
            assert check_history(root, ledger_settings, "main") == len(ops)
        else:
            with pytest.raises(LedgerError, match=f"commit {first_bad[:10]} .* removed or changed record"):
                check_history(root, ledger_settings, "main")


def test_a_conflicted_ledger_committed_then_fixed_passes(tmp_path: Path) -> None:
    """git's conflict markers committed by mistake and resolved in the next commit keep every
    record: no false alarm; resolving by dropping one side's record is one."""
    root = tmp_path
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.name", "T")
    _git(root, "config", "user.email", "t@example.com")
    _git(root, "config", "commit.gpgsign", "false")
    (root / ".nbgov").mkdir()
    one = new_record(None, notebook="a.ipynb", version=_V, decision="comment", reviewer="a", note="1")
    _write(root, [one])
    _commit(root, "base")
    _git(root, "checkout", "-qb", "pr")
    two = new_record(None, notebook="a.ipynb", version=_V, decision="comment", reviewer="b", note="2")
    _write(root, [one, two])
    lines = (root / LEDGER).read_text().splitlines()
    (root / LEDGER).write_text("\n".join([lines[0], "<<<<<<< HEAD", lines[1], "=======", ">>>>>>> side"]) + "\n")
    _commit(root, "conflict committed")
    _write(root, [one, two])
    _commit(root, "conflict fixed")
    ledger_settings = ReviewSettings(ledger=root / LEDGER, snapshots=root / ".nbgov" / "snapshots")
    assert check_history(root, ledger_settings, "main") == 2
    _write(root, [one])
    bad = _commit(root, "drop b")
    with pytest.raises(LedgerError, match=f"commit {bad[:10]} .* record 2 .* recorded by b "):
        check_history(root, ledger_settings, "main")

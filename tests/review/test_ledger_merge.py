"""Two branches that both recorded reviews merge through ``nbgov ledger merge`` as git's merge
driver: nothing lost, the chain still verifies."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys

import pytest

from nbgov.core.errors import LedgerError
from nbgov.core.ledger import new_record, parse_ledger
from nbgov.core.ledger_merge import merge_ledgers

pytestmark = pytest.mark.integration

LEDGER = ".nbgov/reviews.jsonl"


def test_merge_driver_in_a_real_repository(project, nbgov, git, fixture_nb, bob):
    (project / ".gitattributes").write_text(f"{LEDGER} merge=nbgov-ledger\n")
    git("config", "merge.nbgov-ledger.driver", f"{sys.executable} -m nbgov ledger merge %O %A %B")
    assert nbgov("review", "approve", "notebooks/train.ipynb", "--reviewer", bob).code == 0
    git("add", ".")
    git("commit", "-q", "-m", "approve train")

    git("checkout", "-q", "-b", "feature")
    shutil.copy(fixture_nb("train.ipynb"), project / "notebooks" / "eval.ipynb")
    git("add", ".")
    git("commit", "-q", "-m", "add eval")
    assert nbgov("review", "approve", "notebooks/eval.ipynb", "--reviewer", bob).code == 0
    git("add", ".")
    git("commit", "-q", "-m", "approve eval")

    git("checkout", "-q", "main")
    note = nbgov("review", "comment", "notebooks/train.ipynb", "-m", "on main", "--reviewer", bob)
    assert note.code == 0, note.err
    assert "on main" in (project / ".nbgov/reviews.jsonl").read_text()
    git("add", ".")
    git("commit", "-q", "-m", "comment on main")

    git("merge", "-q", "--no-edit", "feature")
    records = parse_ledger((project / LEDGER).read_text())
    assert [(r.notebook, r.decision) for r in records] == [
        ("notebooks/train.ipynb", "approved"),
        ("notebooks/train.ipynb", "comment"),
        ("notebooks/eval.ipynb", "approved"),
    ]
    assert nbgov("ledger", "verify").code == 0
    states = json.loads(nbgov("review", "status", "--json").out)
    assert {s["path"]: s["status"] for s in states} == {
        "notebooks/eval.ipynb": "approved",
        "notebooks/train.ipynb": "approved",
    }


def _chain(prev, *notes):
    out = list(prev)
    for note in notes:
        out.append(
            new_record(
                out[-1] if out else None,
                notebook="a.ipynb",
                version="nbv1:" + "1" * 64,
                decision="comment",
                reviewer="bob",
                note=note,
                at="2026-11-26T08:00:00Z",
                nonce=hashlib.md5(note.encode()).hexdigest(),  # one note: the same record
            )
        )
    return out


def test_merge_rules():
    base = _chain([], "b1")
    ours, theirs = _chain(base, "o1"), _chain(base, "t1", "o1")
    merged = merge_ledgers(base, ours, theirs)
    assert [r.note for r in merged] == ["b1", "o1", "t1"]  # o1 reached both sides: kept once
    assert merged[:2] == ours
    assert parse_ledger("".join(r.to_line() for r in merged)) == merged
    with pytest.raises(LedgerError, match="record 1 differs from the common ancestor"):
        merge_ledgers(base, _chain([], "other"), theirs)


def test_merge_refuses_a_tampered_side(tmp_path, project, nbgov):
    base, ours, theirs = (tmp_path / n for n in ("base", "ours", "theirs"))
    base.write_text("".join(r.to_line() for r in _chain([], "b1")))
    ours.write_text("".join(r.to_line() for r in _chain(_chain([], "b1"), "o1")))
    theirs.write_text(base.read_text().replace("b1", "b2"))
    before = ours.read_bytes()
    result = nbgov("ledger", "merge", str(base), str(ours), str(theirs))
    assert result.code == 2 and "record 1 was edited" in result.err
    assert ours.read_bytes() == before


def test_merge_refuses_missing_files(tmp_path, project, nbgov):
    # a typo in a path used to create an empty OURS and report "0 record(s) appended", exit 0
    base = tmp_path / "base"
    base.write_text("")
    result = nbgov("ledger", "merge", str(base), str(tmp_path / "ours"), str(tmp_path / "theirs"))
    assert result.code == 2 and "does not exist" in result.err, result.err
    assert "Traceback" not in result.err
    assert not (tmp_path / "ours").exists()

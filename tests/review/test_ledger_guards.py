"""The guards of the review ledger and gate, in process (found by `make mutate`): the
append-only check against an older copy, the merge of two branches' ledgers, and the gate's
refusal text."""

from __future__ import annotations

import hashlib

import pytest

from nbgov.core.config import load_config
from nbgov.core.errors import ConfigError, GateError, LedgerError
from nbgov.core.ledger import GENESIS, check_prefix, new_record, parse_ledger, record_hash
from nbgov.core.ledger_merge import merge_ledgers
from nbgov.services.review.state import gate_required, record_decision, require_approved

NB = "notebooks/train.ipynb"


def chain(*notes: str, start=None) -> list:
    records, previous = [], start
    for note in notes:
        previous = new_record(previous, notebook=NB, version="nbv1:" + "a" * 64, decision="comment",
                              reviewer="Rita <r@x.org>", note=note, at="2026-01-01T00:00:00Z",
                              # one note, one decision: the same record on both sides of a merge
                              nonce=hashlib.md5(note.encode()).hexdigest())
        records.append(previous)
    return records


def test_check_prefix_accepts_an_extension_and_names_what_was_lost_or_changed():
    older = chain("one", "two")
    newer = older + chain("three", start=older[-1])
    check_prefix(older, newer)  # an extension
    check_prefix(older, list(older))  # the same ledger
    check_prefix([], newer)
    with pytest.raises(LedgerError) as err:
        check_prefix(older, older[:1], source="reviews.jsonl")
    assert err.value.message == "record 2 (present in the older ledger) was removed"
    assert str(err.value.where) == "reviews.jsonl"
    assert err.value.hint == "records are append-only; restore the ledger from git"
    rewritten = [older[0], *chain("TWO", start=older[0])]
    with pytest.raises(LedgerError) as err:
        check_prefix(older, rewritten, source="reviews.jsonl", label="HEAD")
    assert err.value.message == "record 2 differs from HEAD"
    assert (err.value.where.path, err.value.where.line) == ("reviews.jsonl", 2)
    assert err.value.hint == "records are append-only; restore the ledger from git"
    with pytest.raises(LedgerError, match="record 1 differs"):
        check_prefix(older, chain("ONE", "two"))


def test_merge_keeps_ours_then_appends_only_theirs_rechained():
    base = chain("base")
    ours = base + chain("ours-1", "both", start=base[-1])
    theirs = base + chain("theirs-1", start=base[-1])
    theirs += chain("both", "theirs-2", start=theirs[-1])
    merged = merge_ledgers(base, ours, theirs)
    assert [r.note for r in merged] == ["base", "ours-1", "both", "theirs-1", "theirs-2"]
    assert merged[:3] == ours  # ours stays a prefix: it verifies against this branch's copy
    assert [r.seq for r in merged] == [1, 2, 3, 4, 5]
    assert merged[3].prev == merged[2].hash and merged[4].prev == merged[3].hash
    for rec in merged[3:]:
        body = {k: v for k, v in rec.to_dict().items() if k != "hash"}
        assert rec.hash == record_hash(body)
        assert rec.reviewer == "Rita <r@x.org>" and rec.at == "2026-01-01T00:00:00Z"
    assert parse_ledger("".join(r.to_line() for r in merged)) == merged  # the chain verifies
    # nothing in common: theirs' records land after ours; an empty side takes the other's
    assert merge_ledgers([], [], chain("x"))[0].prev == GENESIS
    assert merge_ledgers(base, base, theirs)[-1].note == "theirs-2"
    assert merge_ledgers(base, ours, base) == ours


def test_merge_refuses_a_side_that_does_not_extend_the_base():
    base = chain("base", "more")
    with pytest.raises(LedgerError) as err:
        merge_ledgers(base, base[:1], base)
    assert err.value.message == "record 2 (present in the common ancestor (ours)) was removed"
    with pytest.raises(LedgerError) as err:
        merge_ledgers(base, base, chain("other", "more"))
    assert err.value.message == "record 1 differs from the common ancestor (theirs)"


def test_the_gate_lists_each_notebook_that_is_not_approved(project, bob):
    (project / "notebooks/other.ipynb").write_text((project / NB).read_text())
    config = load_config(project)
    with pytest.raises(GateError) as err:
        require_approved(config, [NB, "notebooks/other.ipynb"])
    assert err.value.message == "2 notebooks not approved at their current version"
    assert err.value.reasons == [f"{NB}: unreviewed", "notebooks/other.ipynb: unreviewed"]
    assert err.value.hint == "see what changed: nbgov diff PATH; then: nbgov review approve PATH"
    assert err.value.exit_code == 1
    record_decision(config, NB, "approved", "", bob)
    with pytest.raises(GateError) as err:
        require_approved(config, [NB, "notebooks/other.ipynb"])
    assert err.value.reasons == ["notebooks/other.ipynb: unreviewed"]
    assert require_approved(config, [NB]) is None


def test_a_non_boolean_switch_names_its_environment(project):
    (project / "nbgov.toml").write_text("[environments.odd]\nrequire_approved = 'yes'\n")
    with pytest.raises(ConfigError) as err:
        gate_required(load_config(project), "odd")
    assert err.value.message == "[environments.odd] require_approved must be true or false"
    assert err.value.where.path == load_config(project).source


def test_an_approved_snapshot_is_read_only_when_it_hashes_to_its_version(tmp_path, fixture_nb):
    import json

    from nbgov.core.identity import notebook_version
    from nbgov.services.review.store import read_snapshot, snapshot_path, write_snapshot

    nb = json.loads(fixture_nb("train.ipynb").read_text())
    version = notebook_version(nb)
    snapshots = tmp_path / "snapshots"
    assert read_snapshot(snapshots, version) is None  # none yet
    path = write_snapshot(snapshots, version, nb)
    assert path == snapshot_path(snapshots, version) == snapshots / (version.split(":", 1)[1] + ".ipynb")
    assert notebook_version(read_snapshot(snapshots, version)) == version
    # edited by hand: its content no longer hashes to the version it claims
    edited = json.loads(path.read_text())
    edited["cells"][1]["source"] = "seed = 1 + 0\n"
    path.write_text(json.dumps(edited))
    with pytest.raises(LedgerError) as err:
        read_snapshot(snapshots, version)
    assert err.value.message == "approved snapshot does not match its version (edited?)"
    assert err.value.where.path == path and err.value.hint == "restore it from git"
    path.write_text("[]")
    with pytest.raises(LedgerError, match="does not match its version"):
        read_snapshot(snapshots, version)
    path.write_text('{\n  "cells": [,\n')
    with pytest.raises(LedgerError) as err:
        read_snapshot(snapshots, version)
    assert err.value.message.startswith("approved snapshot is not valid JSON: ")
    assert (err.value.where.path, err.value.where.line) == (path, 2)
    assert err.value.hint == "restore it from git"
    with pytest.raises(LedgerError, match="internal error"):
        write_snapshot(snapshots, "nbv1:" + "0" * 64, nb)


def test_verify_ledger_against_the_committed_copy(project, bob, git):
    from nbgov.services.review.verify import verify_ledger

    config = load_config(project)
    empty = verify_ledger(config)
    assert empty == {"path": str(project / ".nbgov/reviews.jsonl"), "records": 0, "notebooks": 0,
                     "head": None, "checked_against_git": None, "missing_snapshots": [],
                     "require_signed": False, "signatures": [], "trust_base": None}
    record_decision(config, NB, "approved", "one", bob)
    record_decision(config, NB, "comment", "two", bob)
    git("add", "-A")
    git("commit", "-qm", "reviews")
    ledger = project / ".nbgov/reviews.jsonl"
    committed = ledger.read_text()
    record_decision(config, NB, "comment", "three", bob)  # appended after the commit: fine
    report = verify_ledger(config)
    assert report["records"] == 3 and report["notebooks"] == 1 and report["checked_against_git"] == "HEAD"
    assert report["head"] == parse_ledger(ledger.read_text())[-1].hash and report["missing_snapshots"] == []
    # a rewritten history (a record dropped and the rest re-chained) no longer extends HEAD's copy
    records = parse_ledger(committed)
    rechained = merge_ledgers([], records[:1], [records[0], *chain("forged", start=records[0])])
    ledger.write_text("".join(r.to_line() for r in rechained))
    with pytest.raises(LedgerError) as err:
        verify_ledger(config)
    assert err.value.message == "record 2 differs from the ledger committed at HEAD"
    ledger.write_text("".join(r.to_line() for r in records[:1]))
    with pytest.raises(LedgerError) as err:
        verify_ledger(config)
    assert err.value.message == "record 2 (present in the ledger committed at HEAD) was removed"
    ledger.write_text(committed)
    with pytest.raises(LedgerError) as err:
        verify_ledger(config, against="no-such-branch")
    assert err.value.message == "unknown git revision 'no-such-branch'"
    # an approval whose snapshot is gone is reported, not hidden
    approved = records[0].version
    (project / ".nbgov/snapshots" / (approved.split(":", 1)[1] + ".ipynb")).unlink()
    assert verify_ledger(config)["missing_snapshots"] == [approved]


def test_the_git_merge_driver_writes_ours_and_counts_theirs(tmp_path):
    from nbgov.services.review.verify import merge_ledger

    base = chain("base")
    ours_records = base + chain("ours", start=base[-1])
    theirs_records = base + chain("theirs-1", "theirs-2", start=base[-1])
    paths = {}
    for name, records in (("base", base), ("ours", ours_records), ("theirs", theirs_records)):
        paths[name] = tmp_path / f"{name}.jsonl"
        paths[name].write_text("".join(r.to_line() for r in records))
    assert merge_ledger(paths["base"], paths["ours"], paths["theirs"]) == 2
    merged = parse_ledger(paths["ours"].read_text())
    assert [r.note for r in merged] == ["base", "ours", "theirs-1", "theirs-2"]
    # sides that do not share the base: ours is left byte for byte, git reports a conflict
    before = paths["ours"].read_bytes()
    paths["base"].write_text("".join(r.to_line() for r in chain("other")))
    with pytest.raises(LedgerError, match="record 1 differs from the common ancestor"):
        merge_ledger(paths["base"], paths["ours"], paths["theirs"])
    assert paths["ours"].read_bytes() == before
    # no common ancestor file (both sides added the ledger): an empty base; theirs' records are
    # in ours since the merge above, so a second merge adds nothing (decisions kept once)
    paths["base"].unlink()
    assert merge_ledger(tmp_path / "base.jsonl", paths["ours"], paths["theirs"]) == 0


def test_record_hash_and_line_format_are_pinned():
    """The hash input and the ledger line, byte for byte: a record written by an older nbgov
    must still verify (found by `make mutate`: ensure_ascii and key order were untested)."""
    import hashlib
    import json

    body = {"seq": 1, "prev": GENESIS, "notebook": NB, "version": "nbv1:" + "a" * 64,
            "decision": "approved", "reviewer": "Renée <r@x.org>", "note": "ça va", "at": "2026-01-01T00:00:00Z"}
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert "Renée" in raw and "ça va" in raw
    assert record_hash(body) == "sha256:" + hashlib.sha256(raw.encode("utf-8")).hexdigest()
    # the value itself, as computed when this test was written: a change here breaks old ledgers
    assert record_hash(body) == "sha256:6803a57d7cbf067db486fe556b4149024a210d5047b8b5a63f2e36c3a2dbe52d"
    (rec,) = chain("ça va")
    line = rec.to_line()
    assert line.endswith("}\n") and "ça va" in line and "\\u00e7" not in line
    keys = list(json.loads(line))
    assert keys == sorted(keys)
    assert parse_ledger(line) == [rec]

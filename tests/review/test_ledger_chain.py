"""The ledger's hash chain (pure): records, schema, tamper detection, status computation."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from nbgov.core.errors import LedgerError
from nbgov.core.ledger import (
    GENESIS,
    ReviewRecord,
    check_prefix,
    new_record,
    parse_ledger,
    status_of,
)

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "src/nbgov/core/schemas/review-record.v1.json").read_text()
)
V1, V2 = "nbv1:" + "1" * 64, "nbv1:" + "2" * 64


def chain(*decisions: tuple[str, str, str]) -> list[ReviewRecord]:
    """Records for (notebook, version, decision) triples, chained in order."""
    out: list[ReviewRecord] = []
    for notebook, version, decision in decisions:
        out.append(
            new_record(
                out[-1] if out else None,
                notebook=notebook,
                version=version,
                decision=decision,
                reviewer="Bob <bob@example.com>",
                note="n",
                commit="c" * 40,
                dirty=False,
                author="Ada <ada@example.com>",
                at="2026-11-26T08:00:00Z",
                nonce=format(len(out) + 1, "032x"),  # deterministic: equal chains compare equal
            )
        )
    return out


def text(records: list[ReviewRecord]) -> str:
    return "".join(r.to_line() for r in records)


def lines(records: list[ReviewRecord]) -> list[str]:
    return text(records).splitlines(keepends=True)


THREE = chain(("a.ipynb", V1, "approved"), ("b.ipynb", V1, "comment"), ("a.ipynb", V2, "approved"))


def test_records_round_trip_and_match_the_schema():
    assert THREE[0].prev == GENESIS and THREE[1].prev == THREE[0].hash
    assert [r.seq for r in THREE] == [1, 2, 3]
    assert parse_ledger(text(THREE)) == THREE
    for record in THREE:
        jsonschema.validate(record.to_dict(), SCHEMA)
    assert parse_ledger("") == []


def test_schema_rejects_what_the_parser_rejects():
    bad = {**THREE[0].to_dict(), "decision": "merged"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)
    with pytest.raises(LedgerError, match="record 1"):
        parse_ledger(json.dumps(bad) + "\n")


def _edited() -> str:
    rows = lines(THREE)
    rows[1] = rows[1].replace('"note": "n"', '"note": "changed"')
    return "".join(rows)


def _removed() -> str:
    rows = lines(THREE)
    del rows[1]
    return "".join(rows)


def _reordered() -> str:
    rows = lines(THREE)
    rows[1], rows[2] = rows[2], rows[1]
    return "".join(rows)


def _truncated() -> str:
    return text(THREE)[:-40]


def _rehashed_edit() -> str:
    # a forger who recomputes the edited record's hash still breaks the next record's link
    edited = {**THREE[1].to_dict(), "decision": "approved"}
    from nbgov.core.ledger import record_hash

    edited["hash"] = record_hash(edited)
    rows = lines(THREE)
    rows[1] = json.dumps(edited, sort_keys=True) + "\n"
    return "".join(rows)


@pytest.mark.parametrize(
    "tamper, first_bad, words",
    [
        (_edited, 2, "was edited"),
        (_removed, 2, "seq 3"),
        (_reordered, 2, "seq 3"),
        (_truncated, 3, "not valid JSON"),
        (_rehashed_edit, 3, "chain is broken"),
        (lambda: text(THREE).replace("\n", "\n\n", 1), 2, "not valid JSON"),
        (
            lambda: text(THREE).replace("nbgov.review-record/1", "nbgov.review-record/9", 1),
            1,
            "schema",
        ),
    ],
)
def test_tampering_names_the_first_bad_record(tamper, first_bad, words):
    with pytest.raises(LedgerError) as info:
        parse_ledger(tamper(), "reviews.jsonl")
    assert info.value.message.startswith(f"record {first_bad} ")
    assert words in info.value.message
    assert info.value.where.line == first_bad


def test_field_formats_are_checked_even_when_rehashed():
    from nbgov.core.ledger import record_hash

    forged = {**THREE[0].to_dict(), "version": "nbv1:../../etc/passwd"}
    forged["hash"] = record_hash(forged)
    with pytest.raises(LedgerError, match="record 1: field 'version' is malformed"):
        parse_ledger(json.dumps(forged) + "\n")


def test_removing_the_last_record_shows_against_an_older_copy():
    shorter = THREE[:2]
    assert parse_ledger(text(shorter)) == shorter  # a chain alone cannot tell
    with pytest.raises(LedgerError, match="record 3 .* was removed"):
        check_prefix(THREE, shorter, label="HEAD")
    other = chain(("a.ipynb", V1, "approved"), ("b.ipynb", V2, "comment"))
    with pytest.raises(LedgerError, match="record 2 differs from HEAD"):
        check_prefix(THREE, other, label="HEAD")
    check_prefix(THREE[:2], THREE)


def test_new_record_refuses_bad_fields():
    with pytest.raises(LedgerError, match="unknown decision"):
        new_record(None, notebook="a", version=V1, decision="lgtm", reviewer="bob")
    with pytest.raises(LedgerError, match="empty reviewer"):
        new_record(None, notebook="a", version=V1, decision="approved", reviewer="  ")


@pytest.mark.parametrize(
    "decisions, current, status, approved",
    [
        ([], V1, "unreviewed", None),
        ([(V1, "comment")], V1, "unreviewed", None),
        ([(V1, "approved")], V1, "approved", V1),
        ([(V1, "approved")], V2, "stale", V1),
        ([(V1, "approved"), (V1, "changes_requested")], V1, "changes-requested", V1),
        ([(V1, "changes_requested"), (V2, "approved")], V2, "approved", V2),
        (
            [(V1, "approved"), (V2, "approved")],
            V1,
            "approved",
            V2,
        ),  # reverted to an approved version
        ([(V1, "approved"), (V1, "changes_requested"), (V2, "approved")], V1, "stale", V2),
        ([(V1, "approved"), (V2, "comment")], V2, "stale", V1),
    ],
)
def test_status_of(decisions, current, status, approved):
    records = chain(*[("a.ipynb", v, d) for v, d in decisions])
    got, approved_version, last = status_of(records, current)
    assert (got, approved_version) == (status, approved)
    assert last == (records[-1] if records else None)

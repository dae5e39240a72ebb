"""The ledger's invariants (docs/security.md, I1 I3 I4 I5 I6), property-tested on generated
ledgers, record sequences and identities (pure: no git, no ssh).

Bounded for the normal suite; ``NBGOV_HYPOTHESIS_EXAMPLES=2000`` runs more.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nbgov.core.errors import LedgerError
from nbgov.core.four_eyes import shared_identity
from nbgov.core.ledger import (
    APPROVED,
    CHANGES_REQUESTED,
    STALE,
    UNREVIEWED,
    ReviewRecord,
    check_prefix,
    new_record,
    parse_ledger,
    record_hash,
    signed_payload,
    status_of,
)

EXAMPLES = int(os.environ.get("NBGOV_HYPOTHESIS_EXAMPLES", "50"))
BOUNDED = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VERSIONS = ["nbv1:" + c * 64 for c in "123"]
T0 = datetime(2026, 11, 26, 8, 0, 0, tzinfo=UTC)
NB = "notebooks/a.ipynb"

# one step of a history: (decision, version index, seconds after T0 (may go back: merges,
# skewed clocks), a fraction of a second or none, reviewer index)
steps = st.lists(
    st.tuples(st.sampled_from(["approved", "changes_requested", "comment"]), st.integers(0, 2),
              st.integers(0, 30), st.sampled_from(["", ".5", ".25", ".000001"]), st.integers(0, 2)),
    max_size=12,
)
REVIEWERS = ["Bob <bob@example.com>", "Cy <cy@example.com>", "Di <di@example.com>"]


def _at(seconds: int, fraction: str) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def build(history) -> list[ReviewRecord]:
    out: list[ReviewRecord] = []
    for decision, version, seconds, fraction, reviewer in history:
        out.append(new_record(out[-1] if out else None, notebook=NB, version=VERSIONS[version],
                              decision=decision, reviewer=REVIEWERS[reviewer], note="n",
                              commit="c" * 40, dirty=False, author="Ada <ada@example.com>",
                              at=_at(seconds, fraction)))
    return out


def text(records) -> str:
    return "".join(r.to_line() for r in records)


def rechain(records: list[ReviewRecord], extra: dict) -> list[ReviewRecord]:
    """``records`` + a copy of ``extra`` (a record dict) appended with a new seq/prev/hash:
    what someone without any key can do to a ledger."""
    last = records[-1] if records else None
    body = {**extra, "seq": (last.seq + 1) if last else 1, "prev": last.hash if last else "sha256:" + "0" * 64}
    body.pop("hash", None)
    return [*records, ReviewRecord(**{**body, "hash": record_hash(body)})]


# -- the reference model (oracle) of a notebook's review status ---------------------------------

def _when(at: str) -> tuple[datetime, Decimal]:
    whole, _, fraction = at[:-1].partition(".")
    return datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S"), Decimal("0." + (fraction or "0"))


def oracle(records: list[ReviewRecord], current: str) -> str:
    """The status from the invariants' words, written without the implementation's loop:
    repeats count once (I3); an approval counts only if made at or after every changes
    request before it in the ledger (I4); a request stands until a counted approval follows."""
    seen, unique = [], []
    for r in records:
        key = {k: v for k, v in r.to_dict().items() if k not in ("seq", "prev", "hash", "signature")}
        if key not in seen:
            seen.append(key)
            unique.append(r)
    requests = [i for i, r in enumerate(unique) if r.decision == "changes_requested"]
    counted = [i for i, r in enumerate(unique) if r.decision == "approved"
               and all(_when(unique[k].at) <= _when(r.at) for k in requests if k < i)]
    if not requests and not counted:
        return UNREVIEWED
    since = [i for i in counted if not requests or i > requests[-1]]
    if not since:
        return CHANGES_REQUESTED
    return APPROVED if current in {unique[i].version for i in since} else STALE


@BOUNDED
@given(steps, st.integers(0, 2))
def test_status_equals_the_reference_model(history, current):
    records = build(history)
    assert status_of(records, VERSIONS[current])[0] == oracle(records, VERSIONS[current])


@BOUNDED
@given(steps, st.integers(0, 2), st.data())
def test_a_replayed_record_never_changes_a_decision(history, current, data):
    """I3: any record appended again, re-chained (new seq/prev/hash), its signature re-wrapped
    or not, leaves every status as it was, and the ledger still verifies."""
    records = build(history)
    assume(records)
    before = status_of(records, VERSIONS[current])[0]
    copy = data.draw(st.sampled_from(records)).to_dict()
    if data.draw(st.booleans()):
        copy["signature"] = "-----BEGIN SSH SIGNATURE-----\nre-wrapped\n-----END SSH SIGNATURE-----\n"
    replayed = rechain(records, copy)
    assert parse_ledger(text(replayed)) == replayed  # the chain is fine: only uniqueness tells
    assert status_of(replayed, VERSIONS[current])[0] == before


@BOUNDED
@given(steps, st.integers(0, 2), st.integers(0, 30))
def test_an_older_approval_never_clears_a_newer_request(history, version, earlier):
    """I4: after a changes request, an approval made before it (any version) leaves it standing."""
    records = build([*history, ("changes_requested", 0, 31, "", 1)])
    late = build([("approved", version, earlier, "", 0)])[0].to_dict()
    assert status_of(rechain(records, late), VERSIONS[version])[0] == CHANGES_REQUESTED


# -- I1: tampering ---------------------------------------------------------------------------------

FIELDS = ["schema", "seq", "at", "notebook", "version", "decision", "reviewer", "note", "commit",
          "dirty", "author", "prev", "hash", "nonce", "authors", "signature"]


def _other(field: str, value):
    """A different value of the same kind for ``field``."""
    if field == "seq":
        return value + 1
    if field == "dirty":
        return not value
    if field == "authors":
        return [*value, "Mallory <m@example.com>"]
    if field in ("version", "prev", "hash"):
        return value[:-1] + ("0" if value[-1] != "0" else "1")
    if field == "nonce":
        return ("0" if value[0] != "0" else "1") + value[1:]
    if field == "at":
        return value.replace("2026", "2025", 1)
    if field == "decision":
        return "approved" if value != "approved" else "comment"
    return value + "x"


def _signed(records) -> list[ReviewRecord]:
    """The same history with every optional field present (authors, a signature string)."""
    out: list[ReviewRecord] = []
    for r in records:
        out.append(new_record(out[-1] if out else None, notebook=r.notebook, version=r.version,
                              decision=r.decision, reviewer=r.reviewer, note=r.note, at=r.at,
                              commit=r.commit, dirty=r.dirty, author=r.author,
                              authors=["Ada <ada@example.com>", "Eve <eve@example.com>"],
                              sign=lambda payload: "-----BEGIN SSH SIGNATURE-----\nsig\n"))
    return out


@pytest.mark.parametrize("field", FIELDS)  # each field, so none is left to chance
@settings(max_examples=max(10, EXAMPLES // 4), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=steps.filter(bool), data=st.data())
def test_any_single_field_edit_is_detected(field, history, data):
    """I1: editing any one field of any record (the reviewer as much as the note) breaks the
    ledger; a forger who recomputes the edited record's hash breaks the next record's link."""
    records = _signed(build(history))
    i = data.draw(st.integers(0, len(records) - 1))
    rows = [r.to_dict() for r in records]
    rows[i][field] = _other(field, rows[i][field])
    lines = [json.dumps(r, sort_keys=True) + "\n" for r in rows]
    with pytest.raises(LedgerError, match=f"record {i + 1}"):
        parse_ledger("".join(lines))
    if i < len(records) - 1 and field not in ("hash", "seq", "prev"):
        rows[i]["hash"] = record_hash(rows[i])
        lines[i] = json.dumps(rows[i], sort_keys=True) + "\n"
        # (a field the parser checks on its own, e.g. the schema, is refused at the record itself)
        with pytest.raises(LedgerError, match=f"record ({i + 1}|{i + 2})"):
            parse_ledger("".join(lines))


@BOUNDED
@given(steps.filter(lambda h: len(h) >= 2), st.data())
def test_deleting_reordering_or_inserting_is_detected(history, data):
    """I1 (and I8 for the end): every deletion, swap or insertion breaks the chain, or, at the
    end, shows against the older copy."""
    records = build(history)
    lines = text(records).splitlines(keepends=True)
    i = data.draw(st.integers(0, len(lines) - 1))
    deleted = lines[:i] + lines[i + 1:]
    if i < len(lines) - 1:
        with pytest.raises(LedgerError):
            parse_ledger("".join(deleted))
    else:
        with pytest.raises(LedgerError, match="was removed"):
            check_prefix(records, parse_ledger("".join(deleted)))
    j = data.draw(st.integers(0, len(lines) - 1).filter(lambda j: j != i))
    swapped = list(lines)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    with pytest.raises(LedgerError):
        parse_ledger("".join(swapped))
    inserted = lines[:i] + [data.draw(st.sampled_from(lines))] + lines[i:]
    with pytest.raises(LedgerError):
        parse_ledger("".join(inserted))


@pytest.mark.parametrize("field", [f for f in FIELDS if f not in ("seq", "prev", "hash", "signature")])
@settings(max_examples=10, deadline=None)
@given(history=steps.filter(bool), data=st.data())
def test_the_signed_payload_covers_every_field_but_the_chain_position(field, history, data):
    """I5: a signature covers each field but seq/prev/hash/itself, the nonce and time included;
    the chain position is left out, so renumbering (merges) keeps signatures valid."""
    record = _signed(build(history))[data.draw(st.integers(0, len(history) - 1))].to_dict()
    edited = {**record, field: _other(field, record[field])}
    assert signed_payload(edited) != signed_payload(record)
    moved = {**record, "seq": record["seq"] + 7, "prev": "sha256:" + "9" * 64, "hash": "sha256:" + "8" * 64}
    assert signed_payload(moved) == signed_payload(record)
    # format 1 (no nonce) and format 2 cannot pass as each other
    old = {k: v for k, v in record.items() if k != "nonce"}
    assert signed_payload(old) != signed_payload(record)
    assert b'"nonce"' in signed_payload(record)


def test_old_records_without_a_nonce_still_parse_and_keep_their_hash():
    """Ledgers written before nonces (payload format 1) verify unchanged."""
    line = ('{"at": "2026-11-26T08:00:00Z", "author": null, "commit": null, "decision": "approved", '
            '"dirty": null, "hash": "H", "note": "", "notebook": "a.ipynb", "prev": "sha256:' + "0" * 64
            + '", "reviewer": "bob", "schema": "nbgov.review-record/1", "seq": 1, "version": "' + VERSIONS[0] + '"}')
    raw = json.loads(line)
    raw["hash"] = record_hash(raw)
    (record,) = parse_ledger(json.dumps(raw) + "\n")
    assert record.nonce is None and record.to_dict() == raw
    assert b"nonce" not in signed_payload(raw)


def test_new_records_are_unique_even_when_everything_else_is_equal():
    a, b = (new_record(None, notebook=NB, version=VERSIONS[0], decision="approved", reviewer="bob",
                       at="2026-11-26T08:00:00Z") for _ in range(2))
    assert a.nonce != b.nonce and signed_payload(a.to_dict()) != signed_payload(b.to_dict())
    with pytest.raises(LedgerError, match="field 'nonce' is malformed"):
        bad = {**a.to_dict(), "nonce": "../x"}
        bad["hash"] = record_hash(bad)
        parse_ledger(json.dumps(bad) + "\n")


@pytest.mark.parametrize("history, current, expected", [
    # a request at :10, then an approval signed at :05 (older) appended after it: still requested
    ([("approved", 0, 0, "", 0), ("changes_requested", 0, 10, "", 1), ("approved", 0, 5, "", 0)], 0,
     CHANGES_REQUESTED),
    # same second, the approval later in the ledger: it counts (at or after)
    ([("changes_requested", 0, 10, "", 1), ("approved", 0, 10, "", 0)], 0, APPROVED),
    # sub-second precision compares as time, not as text ("Z" sorts after ".")
    ([("changes_requested", 0, 10, ".5", 1), ("approved", 0, 10, "", 0)], 0, CHANGES_REQUESTED),
    ([("changes_requested", 0, 10, "", 1), ("approved", 0, 10, ".5", 0)], 0, APPROVED),
    # a request later in the ledger but older in time still stands until an approval follows it
    ([("approved", 0, 10, "", 0), ("changes_requested", 0, 5, "", 1)], 0, CHANGES_REQUESTED),
    # two requests: an approval must be after the newest one in time
    ([("changes_requested", 0, 20, "", 1), ("changes_requested", 0, 5, "", 2), ("approved", 0, 10, "", 0)], 0,
     CHANGES_REQUESTED),
])
def test_changes_requested_is_cleared_only_by_a_later_approval(history, current, expected):
    records = build(history)
    assert status_of(records, VERSIONS[current])[0] == expected == oracle(records, VERSIONS[current])


def test_a_replayed_approval_does_not_override_a_later_request():
    """Issue 23 item 3, at the core: approve, request changes, then a copy of the approval."""
    records = build([("approved", 0, 0, "", 0), ("changes_requested", 0, 10, "", 1)])
    replayed = rechain(records, records[0].to_dict())
    assert status_of(replayed, VERSIONS[0])[0] == CHANGES_REQUESTED


# -- I6: four-eyes over identities ------------------------------------------------------------------

local = st.text("abcdefghij.-_", min_size=1, max_size=8).filter(lambda s: s.strip(".-_"))
domains = st.sampled_from(["example.com", "corp.example", "x.org"])
names = st.text("abcdefg ", min_size=1, max_size=10).filter(lambda s: s.strip())


def _case(data, s: str) -> str:
    return "".join(c.upper() if data.draw(st.booleans()) else c for c in s)


@BOUNDED
@given(st.lists(st.tuples(local, domains), min_size=1, max_size=4), st.data())
def test_four_eyes_never_lets_any_principal_of_an_author_approve(emails, data):
    """I6: whichever principal of the signer's line an author used, in whatever case, and with
    whatever display name, the pair is found."""
    principals = [f"{u}@{d}" for u, d in emails]
    line = ",".join(principals)  # one allowed-signers line, several principals
    used = data.draw(st.sampled_from(principals))
    name = data.draw(names)
    form = data.draw(st.sampled_from(["{n} <{e}>", "<{e}>", "{e}"]))
    author = form.format(n=name, e=_case(data, used))
    others = data.draw(st.lists(st.sampled_from(["Ann <ann@else.org>", "Zed <zed@else.org>"]), max_size=2))
    identities = data.draw(st.permutations([*others, author]))
    assert shared_identity([line], identities) is not None
    assert shared_identity(principals[::-1], identities) is not None


@BOUNDED
@given(st.lists(st.tuples(local, domains), min_size=1, max_size=3), st.data())
def test_four_eyes_lets_someone_else_approve(emails, data):
    principals = [f"{u}@{d}" for u, d in emails]
    author = "Ann Other <ann.other@else.org>"
    assume(all(u.casefold() != "ann.other" for u, _ in emails))
    assert shared_identity([",".join(principals)], [author]) is None


@pytest.mark.parametrize("principal, identity", [
    ("bob@example.com", "Bob <BOB@Example.com>"),           # e-mails are case-blind
    ("BOB@EXAMPLE.COM", "bob@example.com"),
    ("bob@example.com,robert@corp.example", "Robert <Robert@Corp.Example>"),  # the second principal
    ("bob", "Bob Builder <bob@example.com>"),                 # a login name: the local part
    ("*@example.com", "Bob <bob@EXAMPLE.com>"),               # a pattern admits the author
    ('"bob@example.com,rob@x.org"', "rob@X.org"),            # a quoted principals field
])
def test_four_eyes_matches(principal, identity):
    assert shared_identity([principal], [identity]) is not None


def test_four_eyes_does_not_match_strangers():
    assert shared_identity(["bob@example.com"], ["Bobby <bobby@example.com>", "bob@example.org"]) is None
    assert shared_identity(["!bob@example.com"], ["bob@example.com"]) is None  # a negation is no principal

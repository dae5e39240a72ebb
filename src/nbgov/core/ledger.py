"""The review ledger: append-only, hash-chained review records. Pure: text in, records out.

The ledger is a JSON Lines file (default ``.nbgov/reviews.jsonl``) committed with the code.
Each line is one :class:`ReviewRecord`; the format is the JSON Schema
``nbgov/core/schemas/review-record.v1.json``. Records are chained:

- ``seq`` counts records from 1, in file order;
- ``prev`` is the ``hash`` of the record before (``GENESIS`` for the first);
- ``hash`` is ``"sha256:"`` + SHA-256 of the record's JSON object *without* its ``hash`` key,
  serialised with sorted keys, no spaces, UTF-8 (the same canonical form as ``nbv1``).

So editing a record breaks its ``hash``, removing or reordering records breaks ``seq`` and
``prev`` of the record after, and a torn last line does not parse: :func:`parse_ledger`
names the first bad record in every case. Removing records from the *end* is only visible
against an older copy (e.g. the ledger at git HEAD): :func:`check_prefix`.

Replays: a chain proves order, not uniqueness; anyone can append a copy of an earlier signed
record with a new ``seq``/``prev``/``hash``. So a record carries a random ``nonce`` (signed
with its time), a record whose signed payload repeats an earlier one counts once
(:func:`unique_records`), and a "changes requested" is cleared only by an approval that comes
after it in the ledger *and* was made at or after its time (:func:`status_of`).

This module does no I/O; the service layer reads and writes the file under a lock.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nbgov.core.errors import LedgerError, Location

SCHEMA = "nbgov.review-record/1"
GENESIS = "sha256:" + "0" * 64

#: Decisions a record can carry. ``comment`` never changes a notebook's status.
DECISIONS = ("approved", "changes_requested", "comment")
#: Comment-thread records (docs/security.md, R9): open a thread on a cell, reply, resolve.
#: They never change a status either.
THREAD_KINDS = ("thread", "reply", "resolve")


def decision_name(value: object) -> object:
    """A decision as given on input: ``changes-requested`` (the status's spelling, the one
    users see) is accepted for ``changes_requested`` (the record's)."""
    return "changes_requested" if value == "changes-requested" else value

#: Review statuses of a notebook now.
APPROVED, STALE, CHANGES_REQUESTED, UNREVIEWED = (
    "approved",
    "stale",
    "changes-requested",
    "unreviewed",
)
STATUSES = (APPROVED, STALE, CHANGES_REQUESTED, UNREVIEWED)

_REQUIRED = {
    "schema": str,
    "seq": int,
    "at": str,
    "notebook": str,
    "version": str,
    "decision": str,
    "reviewer": str,
    "note": str,
    "prev": str,
    "hash": str,
}
#: Field formats (the same as in the JSON Schema), so a re-hashed forgery cannot smuggle a path
#: or a non-version into the fields that name files.
_PATTERNS = {
    "version": re.compile(r"(?:nbv1|srcv1|srcv2):[0-9a-f]{64}"),  # notebooks; text sources (core.tasks)
    "prev": re.compile(r"sha256:[0-9a-f]{64}"),
    "hash": re.compile(r"sha256:[0-9a-f]{64}"),
    "at": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z"),
}
_OPTIONAL = {"commit": (str, type(None)), "dirty": (bool, type(None)), "author": (str, type(None)),
             "signature": (str,), "nonce": (str,), "authors": (list,), "cell": (str,), "thread": (str,)}
_NONCE = re.compile(r"[0-9a-f]{32}")
#: Fields a signature does not cover: the chain position, which a merge of two branches'
#: ledgers rewrites (:func:`nbgov.core.ledger_merge.merge_ledgers`), and the signature itself. What makes a record
#: unique is signed instead: its ``nonce`` and its time ``at``.
_UNSIGNED_FIELDS = ("seq", "prev", "hash", "signature")


@dataclass(frozen=True)
class ReviewRecord:
    """One decision on one notebook version. Plain data; ``to_dict`` is its JSON form.

    Attributes:
        seq: position in the ledger, from 1.
        at: when, ISO 8601 UTC with a ``Z`` suffix.
        notebook: notebook path relative to the project root, posix.
        version: the ``nbv1`` (notebook) or ``srcv2`` (text source; legacy ``srcv1``) version decided on.
        decision: one of :data:`DECISIONS`.
        reviewer: who decided, ``Name <email>`` or a user name.
        note: free text (may be empty).
        commit: git HEAD when the decision was made, if in a git repository.
        dirty: whether the notebook had uncommitted changes then.
        author: who authored the notebook's latest change (four-eyes evidence).
        prev: hash of the previous record.
        hash: this record's hash.
        schema: the record format, :data:`SCHEMA`.
        signature: an armoured SSH signature (``ssh-keygen -Y sign -n nbgov-review``) of
            :func:`signed_payload`, or None (the key is then absent from the stored line).
        nonce: 128 random bits (hex) that make the record unique; None in records written
            before nbgov had it (their signatures use payload format 1, see
            :func:`signed_payload`).
        authors: every author and committer identity of the commits that changed the target
            since its previous approval (four-eyes evidence), or None in older records.
    """

    seq: int
    at: str
    notebook: str
    version: str
    decision: str
    reviewer: str
    note: str = ""
    commit: str | None = None
    dirty: bool | None = None
    author: str | None = None
    prev: str = GENESIS
    hash: str = ""
    schema: str = SCHEMA
    signature: str | None = None
    nonce: str | None = None
    authors: tuple[str, ...] | None = None
    cell: str | None = None
    thread: str | None = None
    #: Not stored: the allowed-signers principal the record's verified signature binds its
    #: ``reviewer`` to (docs/security.md, I12), set by the service layer on records that count
    #: under ``require_signed``; None for records read from the file.
    signer: str | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self) -> None:
        # a list from JSON becomes a tuple, so records stay hashable and compare equal
        if isinstance(self.authors, list):
            object.__setattr__(self, "authors", tuple(self.authors))

    def to_dict(self) -> dict[str, Any]:
        """The record as it is stored (JSON-ready); absent optional keys (``signature``,
        ``nonce``, ``authors``) stay absent, so older records keep their hash."""
        out = asdict(self)
        del out["signer"]  # a verification result, not part of the record
        for key in ("signature", "nonce", "authors", "cell", "thread"):
            if out[key] is None:
                del out[key]
        if "authors" in out:
            out["authors"] = list(out["authors"])
        return out

    def identities(self) -> tuple[str, ...]:
        """Every identity recorded as having changed what this record decides on."""
        found = [*(self.authors or ()), *([self.author] if self.author else [])]
        return tuple(dict.fromkeys(found))

    @property
    def person(self) -> str:
        """Who made the record, for every rule that compares people (thread author and
        resolver, approvals shown): the verified signer's principal when the record counted by
        its signature, else the ``reviewer`` it claims (a claim: docs/security.md, I12)."""
        return self.signer or self.reviewer

    def to_line(self) -> str:
        """One ledger line, newline included."""
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False) + "\n"

    def summary(self) -> dict[str, Any]:
        """The short form front ends show as "last decision"."""
        out = {
            "decision": self.decision,
            "reviewer": self.reviewer,
            "at": self.at,
            "note": self.note,
            "version": self.version,
        }
        if self.signer:
            out["signer"] = self.signer  # who the signature says it is (I12)
        return out


_SIGNED_NAMES = tuple(f.name for f in dataclasses.fields(ReviewRecord)
                      if f.name not in (*_UNSIGNED_FIELDS, "signer"))


def record_hash(fields: Mapping[str, Any]) -> str:
    """The chain hash of a record given as a dict (its ``hash`` key, if any, is left out)."""
    body = {k: v for k, v in fields.items() if k != "hash"}
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(raw.encode("utf-8")).hexdigest()


def signed_payload(fields: Mapping[str, Any]) -> bytes:
    """The bytes a review signature covers: the record without its chain position, hash and
    signature, as canonical JSON (sorted keys, no spaces, UTF-8; null fields left out).

    The payload is versioned by the record itself: format 2 (records with a ``nonce``) covers
    the nonce and the time, so no two records share a payload; format 1 (older records,
    no ``nonce``) is the same JSON without it and still verifies. Neither can pass as the
    other: adding or removing the nonce changes the bytes signed.
    """
    body = {k: v for k, v in fields.items() if k not in _UNSIGNED_FIELDS and v is not None}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def utc_now() -> str:
    """Now as ISO 8601 UTC, second precision, ``Z`` suffix (the ledger's time format)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_nonce() -> str:
    """128 random bits as 32 hex digits: what makes a record unique (see :func:`signed_payload`)."""
    return secrets.token_hex(16)


def instant(at: str) -> tuple[str, str]:
    """A sortable key of a ledger time (``at``): whole seconds, then the fraction's digits.

    Times of different precision compare right (``...:00Z`` before ``...:00.5Z``), which a
    plain string comparison gets wrong (``Z`` sorts after ``.``).
    """
    whole, _, fraction = at.rstrip("Z").partition(".")
    return whole, fraction.rstrip("0")


def new_record(
    previous: ReviewRecord | None,
    *,
    notebook: str,
    version: str,
    decision: str,
    reviewer: str,
    note: str = "",
    at: str | None = None,
    commit: str | None = None,
    dirty: bool | None = None,
    author: str | None = None,
    authors: Iterable[str] | None = None,
    sign: Callable[[bytes], str] | None = None,
    nonce: str | None = None,
    cell: str | None = None,
    thread: str | None = None,
) -> ReviewRecord:
    """Build the record that follows ``previous`` (None for the first), chained and hashed;
    signed with ``sign(payload) -> armoured signature`` when given (see :func:`signed_payload`).
    ``nonce`` defaults to a fresh random one (:func:`new_nonce`).

    Raises:
        LedgerError: the decision is unknown or a field is empty.
    """
    if decision not in DECISIONS + THREAD_KINDS:
        raise LedgerError(f"unknown decision {decision!r}", hint=f"one of: {', '.join(DECISIONS)}")
    if (decision in THREAD_KINDS) != bool(cell) or (decision in ("reply", "resolve")) != bool(thread):
        raise LedgerError(f"a {decision!r} record: thread records need a cell id, replies and resolutions "
                          "a thread id too, decisions neither")
    if not reviewer.strip():
        raise LedgerError(
            "empty reviewer name", hint="set git config user.name or [review] reviewer"
        )
    if not notebook or not version:
        raise LedgerError("a record needs a notebook path and a version")
    fields = ReviewRecord(
        seq=(previous.seq + 1) if previous else 1,
        at=at or utc_now(),
        notebook=notebook,
        version=version,
        decision=decision,
        reviewer=reviewer.strip(),
        note=note,
        commit=commit,
        dirty=dirty,
        author=author,
        authors=tuple(dict.fromkeys(authors)) if authors is not None else None,
        prev=previous.hash if previous else GENESIS,
        nonce=nonce or new_nonce(),
        cell=cell,
        thread=thread,
    ).to_dict()
    if sign is not None:
        fields["signature"] = sign(signed_payload(fields))
    return ReviewRecord(**{**fields, "hash": record_hash(fields)})


def _check_fields(raw: Any, where: Location, n: int) -> None:
    if not isinstance(raw, dict):
        raise LedgerError(f"record {n} is not a JSON object", where)
    schema = raw.get("schema")
    if schema != SCHEMA:
        raise LedgerError(
            f"record {n} has schema {schema!r}; this nbgov reads {SCHEMA!r}",
            where,
            hint="upgrade nbgov if the ledger was written by a newer one",
        )
    missing = sorted(set(_REQUIRED) - set(raw))
    if missing:
        raise LedgerError(f"record {n} lacks field(s): {', '.join(missing)}", where)
    unknown = sorted(set(raw) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise LedgerError(f"record {n} has unknown field(s): {', '.join(unknown)}", where)
    for key, kind in {**_REQUIRED, **_OPTIONAL}.items():
        value = raw.get(key)
        # bool is an int in Python; seq must be a real integer
        if key in raw and (
            not isinstance(value, kind) or (key == "seq" and isinstance(value, bool))
        ):
            raise LedgerError(f"record {n}: field {key!r} has the wrong type", where)
    if raw["decision"] not in DECISIONS + THREAD_KINDS:
        raise LedgerError(f"record {n}: unknown decision {raw['decision']!r}", where)
    for key, pattern in _PATTERNS.items():
        if not pattern.fullmatch(raw[key]):
            raise LedgerError(f"record {n}: field {key!r} is malformed: {raw[key]!r}", where)
    if "thread" in raw and not _NONCE.fullmatch(raw["thread"]):
        raise LedgerError(f"record {n}: field 'thread' is malformed: {raw['thread']!r}", where)
    if "nonce" in raw and not _NONCE.fullmatch(raw["nonce"]):
        raise LedgerError(f"record {n}: field 'nonce' is malformed: {raw['nonce']!r}", where)
    if "authors" in raw and not all(isinstance(a, str) for a in raw["authors"]):
        raise LedgerError(f"record {n}: field 'authors' must be a list of identities", where)


def parse_ledger(text: str, source: str | Path | None = None) -> list[ReviewRecord]:
    """Parse and verify a whole ledger; return its records in order.

    Raises:
        LedgerError: naming the first bad record (1-based, equal to its line number) when a
            line does not parse, a field is wrong, or the chain is broken (a record was edited,
            removed, reordered or inserted).
    """
    records: list[ReviewRecord] = []
    prev_hash = GENESIS
    hint = "restore the ledger from git (git checkout -- <ledger>); records are append-only"
    # nonce -> (first record's number, its signed fields): a nonce names one record (and a
    # thread's id is its opening record's nonce), so two different records sharing one is a
    # forgery (a thread id taken over, docs/security.md R9); an exact repeat is a replay (I3)
    nonces: dict[str, tuple[int, tuple[Any, ...]]] = {}
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for n, line in enumerate(lines, start=1):
        where = Location(source, line=n)
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            torn = " (a torn or truncated write?)" if n == len(lines) else ""
            raise LedgerError(
                f"record {n} is not valid JSON: {exc.msg}{torn}", where, hint
            ) from None
        _check_fields(raw, where, n)
        if raw["hash"] != record_hash(raw):
            raise LedgerError(
                f"record {n} was edited: its hash does not match its content", where, hint
            )
        if raw["seq"] != n:
            raise LedgerError(
                f"record {n} has seq {raw['seq']}: records were removed, reordered "
                "or inserted before it",
                where,
                hint,
            )
        if raw["prev"] != prev_hash:
            raise LedgerError(
                f"record {n} does not follow record {n - 1}: the chain is broken "
                "(a record was removed, reordered or replaced)",
                where,
                hint,
            )
        prev_hash = raw["hash"]
        rec = ReviewRecord(**raw)
        if rec.nonce:
            signed = tuple(getattr(rec, name) for name in _SIGNED_NAMES)
            first = nonces.setdefault(rec.nonce, (n, signed))
            if first[1] != signed:
                raise LedgerError(
                    f"record {n} reuses the nonce of record {first[0]} with other content "
                    "(a record's nonce, and so a thread's id, is unique: a forged record?)",
                    where,
                    hint,
                )
        records.append(rec)
    return records


def check_prefix(
    older: list[ReviewRecord],
    newer: list[ReviewRecord],
    source: str | Path | None = None,
    label: str = "the older ledger",
) -> None:
    """Check that ``newer`` extends ``older`` (append-only across copies, e.g. git HEAD).

    Raises:
        LedgerError: naming the first record of ``older`` that ``newer`` lost or changed.
    """
    for old in older:
        if old.seq > len(newer):
            raise LedgerError(
                f"record {old.seq} (present in {label}) was removed",
                Location(source),
                hint="records are append-only; restore the ledger from git",
            )
        if newer[old.seq - 1].hash != old.hash:
            raise LedgerError(
                f"record {old.seq} differs from {label}",
                Location(source, line=old.seq),
                hint="records are append-only; restore the ledger from git",
            )


def by_notebook(records: Iterable[ReviewRecord]) -> dict[str, list[ReviewRecord]]:
    """Records grouped by notebook path, each list in ledger order."""
    out: dict[str, list[ReviewRecord]] = {}
    for rec in records:
        out.setdefault(rec.notebook, []).append(rec)
    return out


def unique_records(records: Iterable[ReviewRecord]) -> list[ReviewRecord]:
    """``records`` without repeats: a record whose signed payload (:func:`signed_payload`:
    everything but its chain position, hash and signature) equals an earlier one's is a
    replay, and only the first counts."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for rec in records:
        # the signed fields' values: equal exactly when the signed payloads are (and cheaper
        # than serialising each record: statuses are computed per request)
        key = tuple(getattr(rec, name) for name in _SIGNED_NAMES)
        if key not in seen:
            seen.add(key)
            out.append(rec)
    return out


def status_of(
    records: list[ReviewRecord], current_version: str
) -> tuple[str, str | None, ReviewRecord | None]:
    """The review status of one notebook now, from its records (in ledger order).

    Repeated records count once (:func:`unique_records`). Then (comments never count):

    - an approval counts only if it was made at or after the time of every changes request
      that precedes it in the ledger: an older approval, copied in or merged from another
      branch, never clears a newer request;
    - a changes request stands until an approval that counts follows it in the ledger;
    - no decision: ``unreviewed``; a standing request: ``changes-requested``;
    - else ``approved`` if the current version has an approval that counts since the last
      request (so reverting to an approved version is approved again), ``stale`` if not.

    Returns:
        (status, version of the latest approval that counted or None, latest record of any
        kind or None).
    """
    # thread records (comments on cells) are no decisions: they are not the "last decision" either
    records = [r for r in unique_records(records) if r.decision in DECISIONS]
    last = records[-1] if records else None
    newest_request: tuple[str, str] | None = None  # time of the newest request so far
    approved_since: set[str] = set()
    approved_version: str | None = None
    requested = decided = False
    for rec in records:
        if rec.decision == "changes_requested":
            when = instant(rec.at)
            newest_request = max(newest_request, when) if newest_request else when
            approved_since, requested, decided = set(), True, True
        elif rec.decision == "approved":
            if newest_request is not None and instant(rec.at) < newest_request:
                continue  # made before a request it would clear: a replay or a stale copy
            approved_since.add(rec.version)
            approved_version, decided = rec.version, True
    if not decided:
        return UNREVIEWED, approved_version, last
    if requested and not approved_since:
        return CHANGES_REQUESTED, approved_version, last
    return (APPROVED if current_version in approved_since else STALE), approved_version, last

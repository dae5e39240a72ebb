"""The promotion ledger: who moved which alias to which model version, when, replacing which.

A sibling of the review ledger (``.nbgov/promotions.jsonl`` by default, committed with the
code), chained exactly like it with :func:`nbgov.core.ledger.record_hash`: each line carries
``seq``, ``prev`` (the previous line's hash, ``GENESIS`` for the first) and its own ``hash``, so
an edited, removed or reordered record is detected. Appends hold the same OS lock as review
appends (:func:`nbgov.services.review.store.locked`) and replace the file atomically.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nbgov.core.atomic import atomic_write
from nbgov.core.errors import LedgerError, Location
from nbgov.core.ledger import GENESIS, record_hash, utc_now
from nbgov.services.review.store import locked

SCHEMA = "nbgov.promotion-record/1"
DEFAULT_PROMOTIONS = ".nbgov/promotions.jsonl"
_HINT = "restore it from git (git checkout -- <file>); promotion records are append-only"


@dataclass(frozen=True)
class PromotionRecord:
    """One accepted promotion.

    Attributes:
        seq: position in the file, from 1.
        at: when (ISO 8601 UTC, ``Z``).
        model: registered model name.
        version: the version the alias now points at.
        alias: the alias moved (e.g. ``champion``).
        previous: the version the alias pointed at before, or None.
        by: who promoted (same identity rules as reviewers).
        run_id: the MLflow run that logged the model.
        checks: the explanations of every check that passed (thresholds, approvals).
        tracking_uri: the store the registry lives in (no credentials).
        note: free text.
    """

    seq: int
    at: str
    model: str
    version: str
    alias: str
    previous: str | None
    by: str
    run_id: str | None = None
    checks: list[str] = field(default_factory=list)
    tracking_uri: str | None = None
    note: str = ""
    prev: str = GENESIS
    hash: str = ""
    schema: str = SCHEMA

    def to_dict(self) -> dict[str, Any]:
        """The stored JSON form."""
        return asdict(self)


def parse_promotions(text: str, source: str | Path | None = None) -> list[PromotionRecord]:
    """Parse and verify the promotion ledger.

    Raises:
        LedgerError: naming the first record (= line) that does not parse or breaks the chain.
    """
    records: list[PromotionRecord] = []
    prev = GENESIS
    known = set(PromotionRecord.__dataclass_fields__)
    for n, line in enumerate(text.splitlines(), start=1):
        where = Location(source, line=n)
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LedgerError(
                f"promotion record {n} is not valid JSON: {exc.msg}", where, _HINT
            ) from None
        if not isinstance(raw, dict) or raw.get("schema") != SCHEMA or set(raw) - known:
            raise LedgerError(f"promotion record {n} is not a {SCHEMA} record", where, _HINT)
        if raw.get("hash") != record_hash(raw):
            raise LedgerError(
                f"promotion record {n} was edited: its hash does not match", where, _HINT
            )
        if raw.get("seq") != n or raw.get("prev") != prev:
            raise LedgerError(
                f"promotion record {n} does not follow record {n - 1}: the chain is "
                "broken (a record was removed, reordered or inserted)",
                where,
                _HINT,
            )
        try:
            records.append(PromotionRecord(**raw))
        except TypeError:
            raise LedgerError(f"promotion record {n} lacks fields", where, _HINT) from None
        prev = raw["hash"]
    return records


def read_promotions(path: Path) -> list[PromotionRecord]:
    """The verified records (``[]`` when the file does not exist). Raises LedgerError."""
    if not path.exists():
        return []
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise LedgerError("promotion ledger is not UTF-8 text", Location(path), _HINT) from None
    return parse_promotions(text, path)


def append_promotion(path: Path, apply, **fields: Any) -> PromotionRecord:
    """Verify the ledger, run ``apply()`` (the registry change) and append its record, all under
    the ledger lock, so a broken ledger refuses before anything changes and concurrent
    promotions queue up.

    Args:
        path: the promotion ledger.
        apply: a callable making the change; its exception leaves the ledger untouched.
        **fields: the record's fields except ``seq``, ``at``, ``prev``, ``hash``, ``schema``.

    Raises:
        LedgerError: the ledger does not verify (nothing was changed).
    """
    with locked(path):
        text = path.read_bytes().decode("utf-8", errors="replace") if path.exists() else ""
        records = parse_promotions(text, path)
        apply()
        last = records[-1] if records else None
        body = PromotionRecord(
            seq=len(records) + 1, at=utc_now(), prev=last.hash if last else GENESIS, **fields
        ).to_dict()
        record = PromotionRecord(**{**body, "hash": record_hash(body)})
        if text and not text.endswith("\n"):
            text += "\n"
        atomic_write(
            path, text + json.dumps(record.to_dict(), sort_keys=True, ensure_ascii=False) + "\n"
        )
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself must reach the disk
        finally:
            os.close(dir_fd)
    return record


def current_aliases(records: list[PromotionRecord]) -> dict[str, dict[str, PromotionRecord]]:
    """The latest promotion per model and alias: ``{model: {alias: record}}``."""
    out: dict[str, dict[str, PromotionRecord]] = {}
    for rec in records:
        out.setdefault(rec.model, {})[rec.alias] = rec
    return out

"""Merging two review ledgers that grew apart on two git branches. Pure: records in, records out.

The result keeps one side as a prefix (so it still verifies against the copy committed on that
branch) and re-chains the other side's new records after it; see :func:`merge_ledgers`.
"""

from __future__ import annotations

from typing import Any

from nbgov.core.ledger import GENESIS, ReviewRecord, check_prefix, record_hash


def merge_ledgers(
    base: list[ReviewRecord], ours: list[ReviewRecord], theirs: list[ReviewRecord]
) -> list[ReviewRecord]:
    """Merge two ledgers that grew apart from a common ``base`` (e.g. two git branches).

    Both sides must extend ``base``. The result is ``ours`` followed by the records only
    ``theirs`` has, in their order, re-chained (new ``seq``, ``prev`` and ``hash``; every other
    field kept). ``ours`` stays a prefix, so it still verifies against the copy committed on
    this branch.

    Raises:
        LedgerError: a side does not extend ``base``.
    """
    check_prefix(base, ours, label="the common ancestor (ours)")
    check_prefix(base, theirs, label="the common ancestor (theirs)")

    def content(rec: ReviewRecord) -> dict[str, Any]:
        return {k: v for k, v in rec.to_dict().items() if k not in ("seq", "prev", "hash")}

    # the same decision can reach both sides (e.g. a cherry-picked commit): keep it once
    mine = [content(r) for r in ours[len(base) :]]
    merged = list(ours)
    for rec in theirs[len(base) :]:
        fields = content(rec)
        if fields in mine:
            continue
        previous = merged[-1] if merged else None
        body = {
            **fields,
            "seq": previous.seq + 1 if previous else 1,
            "prev": previous.hash if previous else GENESIS,
        }
        merged.append(ReviewRecord(**{**body, "hash": record_hash(body)}))
    return merged

"""Checks of the ledger as a whole: ``nbgov ledger verify`` (the chain, what is committed, each
record's signature, by the working tree's or a trust base's rules) and ``nbgov ledger merge``
(git's merge driver)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nbgov.adapters import git
from nbgov.core.config import Config
from nbgov.core.ledger import check_prefix, parse_ledger
from nbgov.services.review import store, trust
from nbgov.services.review.base import trust_base
from nbgov.services.review.store import ReviewSettings


def verify_ledger(config: Config, against: str | None = None) -> dict[str, Any]:
    """Verify the ledger's chain, and that it extends the ledger committed at git ``against``.

    Args:
        config: the project.
        against: a git revision whose ledger must be a prefix of this one (None: ``HEAD``);
            in CI, e.g. ``origin/main`` catches a branch that rewrote reviews, and the trust
            settings (where the ledger is, the allowed signers) are read there too
            (:mod:`.base`). No prefix check when the ledger is not in git at that revision.

    Returns:
        ``{"path", "records", "notebooks", "head", "checked_against_git", "missing_snapshots",
        "signatures", "require_signed", "trust_base"}`` (``checked_against_git`` is the
        revision checked, or None).

    Raises:
        LedgerError: naming the first bad record.
    """
    # with a revision, trust_base also checks every commit since it (I13)
    settings = trust_base(config, against).settings if against else ReviewSettings.from_config(config)
    records = store.read_records(settings.ledger)
    if against:
        trust.check_committed(config, settings, records)  # and what is committed at HEAD (I8)
    against = against or "HEAD"
    checked = None
    repo = git.repo_root(config.root)
    if repo is not None:
        rel = Path(os.path.relpath(settings.ledger, repo)).as_posix()
        if git.is_tracked(repo, rel, against):
            committed = git.show_file(repo, against, rel).decode("utf-8", errors="replace")
            label = f"the ledger committed at {against}"
            check_prefix(
                parse_ledger(committed, f"{against}:{rel}"), records, settings.ledger, label
            )
            checked = against
    approved = {r.version for r in records if r.decision == "approved"}
    missing = sorted(v for v in approved if not store.snapshot_path(settings.snapshots, v).exists())
    signatures = trust.signature_report(config, settings)
    return {
        "signatures": signatures,
        "require_signed": settings.require_signed,
        "trust_base": settings.base,
        "path": str(settings.ledger),
        "records": len(records),
        "notebooks": len({r.notebook for r in records}),
        "head": records[-1].hash if records else None,
        "checked_against_git": checked,
        "missing_snapshots": missing,
    }


def merge_ledger(base: str | Path, ours: str | Path, theirs: str | Path) -> int:
    """Merge two branches' ledgers into ``ours``; the git merge driver (``%O %A %B``).

    Returns:
        How many records were taken from ``theirs``.

    Raises:
        LedgerError: a copy does not verify or they do not share ``base`` (``ours`` untouched).
    """
    return store.merge_files(Path(base), Path(ours), Path(theirs))

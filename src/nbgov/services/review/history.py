"""Reviews are append-only through a branch's whole history, not only between its ends
(docs/security.md, invariant I13).

Signatures do not cover a record's chain position (``seq``, ``prev``): the ledger merge driver
renumbers the other branch's records (:func:`nbgov.core.ledger_merge.merge_ledgers`). So a PR author
without any key can drop a reviewer's record committed on the branch, re-chain the rest (every
signature stays valid) and commit that: comparing the base's ledger with the ledger at ``HEAD``
sees nothing, since the dropped record was on neither. :func:`check_history` compares every
commit of ``REF..HEAD`` that changes the ledger with each of its parents: every record of the
parent's ledger (its content: every field but ``seq``, ``prev`` and ``hash``) must still be in
the commit's, unchanged. A merge keeps both sides' records (the merge driver does), so merges
pass; a record removed or edited by any commit, on any side of a merge, is named.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from nbgov.adapters import git
from nbgov.core.errors import LedgerError, Location
from nbgov.services.review.store import ReviewSettings

_HINT = ("reviews are append-only: restore the removed record (git show COMMIT^:LEDGER), or ask the "
         "reviewer to record their decision again")

# blob id -> [(content key, record number, description)]
_PARSED: dict[str, list[tuple[str, int, str]]] = {}


def _content(line: str, n: int) -> tuple[str, int, str] | None:
    """A record's content key (every field but its chain position and hash), its number and
    what it was, for the message; None for a line that is no record. Lenient: a commit in the
    middle may hold a broken ledger (e.g. git's conflict markers, fixed in the next commit).
    Ignoring such lines loses nothing: a record that became one was lost in that commit."""
    try:
        raw = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(raw, dict):
        return None
    body = {k: v for k, v in raw.items() if k not in ("seq", "prev", "hash")}
    what = (f"a {raw.get('decision', '?')} on {raw.get('notebook', '?')} recorded by "
            f"{raw.get('reviewer', '?')} at {raw.get('at', '?')}")
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False), n, what


def _records(repo: Path, blob: str) -> list[tuple[str, int, str]]:
    if blob not in _PARSED:
        data = git.read_blob(repo, blob)
        if data is None:
            raise LedgerError(f"cannot read the ledger blob {blob[:10]} from git", Location(repo))
        lines = [ln for ln in data.decode("utf-8", errors="replace").split("\n") if ln.strip()]
        _PARSED[blob] = [rec for n, line in enumerate(lines, start=1) if (rec := _content(line, n))]
    return _PARSED[blob]


def check_history(repo: Path, settings: ReviewSettings, rev: str) -> int:
    """Check that no commit of ``rev..HEAD`` removed or changed a ledger record (I13).

    Returns:
        How many commits changed the ledger (each checked against every parent).

    Raises:
        LedgerError: naming the commit, the record (its number in the parent's ledger, what it
            was, who recorded it) and the parent; or the history cannot be read (a shallow clone).
    """
    rel = Path(os.path.relpath(settings.ledger, repo)).as_posix()
    commits = git.commits_between(repo, rev, "HEAD")
    if commits is None:
        raise LedgerError(f"cannot list the commits between {rev} and HEAD", Location(repo))
    if not commits:
        return 0
    if git.is_shallow(repo):
        raise LedgerError(f"this clone is shallow: the ledger's history since {rev} cannot be checked",
                          Location(repo), hint="fetch the whole history (git fetch --unshallow; in CI "
                          "actions/checkout with fetch-depth: 0)")
    revs = list(dict.fromkeys([c for c, _ in commits] + [p for _, ps in commits for p in ps]))
    blobs = git.blob_ids(repo, revs, rel)
    if blobs is None:
        raise LedgerError(f"cannot read {rel} in the commits between {rev} and HEAD", Location(repo))
    changed = 0
    for commit, parents in commits:
        new = blobs[commit]
        olds = [(p, old) for p in parents if (old := blobs[p]) is not None and old != new]
        changed += bool(olds)
        kept = {key for key, _, _ in _records(repo, new)} if new and olds else set()
        for parent, old in olds:
            for key, n, what in _records(repo, old):
                if key not in kept:
                    verb = "deleted the ledger, and with it" if new is None else "removed or changed"
                    raise LedgerError(
                        f"commit {commit[:10]} ({git.subject(repo, commit)!r}) {verb} record {n} of "
                        f"{rel} as it was at {parent[:10]}: {what}; a branch must not rewrite reviews",
                        Location(settings.ledger), hint=_HINT)
    return changed

"""Which review records count: against what was committed, and (optionally) only signed ones.

The ledger's hash chain makes edits in the middle visible, but not records dropped from the
end, and anyone who can write the file can append a record with recomputed hashes. So every
status, gate and promotion reads its records through :func:`counted_records`:

- the records committed at git ``HEAD`` must be a prefix of the working ledger (a dropped or
  changed committed record, e.g. a "changes requested", is a :class:`LedgerError`, never a
  silently easier gate);
- with ``[review] require_signed = true``, only records whose SSH signature verifies against
  the allowed-signers file (the trust base's, with ``--base``) count, and an approval counts
  only when no principal of its signer is one of the people who changed what it approves
  (principals compared with e-mails and names, not display names).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from nbgov.adapters import git, sshsig
from nbgov.core.config import Config
from nbgov.core.errors import LedgerError, Location, ReviewError
from nbgov.core.four_eyes import bound_principal, shared_identity
from nbgov.core.ledger import ReviewRecord, check_prefix, parse_ledger, signed_payload
from nbgov.services.review import store
from nbgov.services.review.store import ReviewSettings

# (repo, blob id, ledger path) -> the records of that committed content
_COMMITTED: dict[tuple[str, str, str], list[ReviewRecord]] = {}


def committed_records(config: Config, settings: ReviewSettings, against: str = "HEAD"
                      ) -> tuple[list[ReviewRecord], str] | None:
    """The ledger committed at git ``against`` and its label, None outside git or when the
    ledger is not committed there.

    Raises:
        LedgerError: the committed ledger itself does not verify.
    """
    repo = git.repo_root(config.root)
    if repo is None:
        return None
    rel = Path(os.path.relpath(settings.ledger, repo)).as_posix()
    blob = git.blob_id(repo, against, rel)
    if blob is None:
        return None
    key = (str(repo), blob, rel)
    if key not in _COMMITTED:
        text = git.show_file(repo, against, rel).decode("utf-8", errors="replace")
        _COMMITTED[key] = parse_ledger(text, f"{against}:{rel}")
    records = _COMMITTED[key]
    return records, f"the ledger committed at {against}"


def check_committed(config: Config, settings: ReviewSettings, records: list[ReviewRecord]) -> None:
    """Raise unless ``records`` (the working ledger) extend the ledger committed at HEAD.

    Raises:
        LedgerError: a committed record is missing or changed, naming it.
    """
    found = committed_records(config, settings)
    if found is None:
        return
    committed, label = found
    try:
        check_prefix(committed, records, settings.ledger, label)
    except LedgerError as exc:
        raise LedgerError(f"{exc.message}: the working ledger lost reviews that are committed; "
                          "refusing to decide from it", exc.where,
                          hint="restore it: git checkout HEAD -- " + _rel(config, settings.ledger)) from None


def _rel(config: Config, path: Path) -> str:
    try:
        return path.relative_to(config.root.resolve()).as_posix()
    except ValueError:
        return path.name


def verdict(record: ReviewRecord, settings: ReviewSettings) -> sshsig.Verdict:
    """The signature state of one record against the allowed signers (the trust base's
    content when the settings were read there).

    A good signature is ``valid`` only when the record's ``reviewer`` names one of the
    signing key's principals (invariant I12); the principal it names comes first in the
    verdict's principals. A record that claims someone else is ``invalid``, with a reason
    naming the record, the reviewer and the signer.
    """
    if not record.signature:
        return sshsig.Verdict(sshsig.UNSIGNED)
    allowed = settings.allowed_content if settings.allowed_content is not None else settings.allowed_signers
    found = sshsig.verify(signed_payload(record.to_dict()), record.signature, allowed)
    if found.state != sshsig.VALID:
        return found
    bound = bound_principal(record.reviewer, found.principals)
    if bound is None:
        return sshsig.Verdict(sshsig.INVALID, found.principals, reason=(
            f"record {record.seq} says its reviewer is {record.reviewer!r}, but it is signed by the key of "
            f"{', '.join(found.principals)}: a signed record's reviewer must be one of its signer's principals"))
    return sshsig.Verdict(sshsig.VALID, tuple(dict.fromkeys([bound, *found.principals])))


# (repo, HEAD, path, since) -> identities that changed path after since
_CHANGED: dict[tuple[str, str, str, str | None], tuple[str, ...]] = {}


def changed_by(config: Config, rel: str, since: str | None, head: str | None = None) -> tuple[str, ...]:
    """Every author and committer (``Name <email>``) of the commits that changed ``rel`` after
    commit ``since`` (its whole history when None), from git; ``()`` outside git. ``head``:
    the HEAD commit when the caller knows it (spares asking git per record)."""
    repo = git.repo_root(config.root)
    if repo is None:
        return ()
    if head is None:
        head = git.rev_parse(repo, "HEAD")
    path = (config.root / rel).resolve()
    key = (str(repo), head or "", str(path), since)
    if key not in _CHANGED:
        if len(_CHANGED) > 10_000:  # a long-running server sees many HEADs: start afresh
            _CHANGED.clear()
        found = git.change_identities(repo, path, since) or []
        _CHANGED[key] = tuple(str(p) for p in found)
    return _CHANGED[key]


def self_signed(record: ReviewRecord, principals: tuple[str, ...], changed: tuple[str, ...] = ()
                ) -> tuple[str, str] | None:
    """The (principal, identity) pair that makes an approval a self-approval: any principal
    of its signer against any identity that changed what it approves (the record's own
    ``author``/``authors`` and ``changed``, from git), or None."""
    return shared_identity(principals, [*record.identities(), *changed])


def _self_named(record: ReviewRecord) -> bool:
    me = git.Person.parse(record.reviewer)
    return any(git.Person.parse(i).same_as(me) for i in record.identities())


def counted_records(config: Config, settings: ReviewSettings | None = None) -> list[ReviewRecord]:
    """The working ledger's records that count for statuses and gates (see the module doc).

    With ``require_signed``, an approval's four-eyes evidence is not only what the record
    claims (its signer wrote it) but git's: every identity that changed the target since the
    previous approval that counted (invariant I6).

    Raises:
        LedgerError: the ledger does not verify, or lost committed records.
    """
    settings = settings or ReviewSettings.from_config(config)
    records = store.read_records(settings.ledger)
    check_committed(config, settings, records)
    if not settings.require_signed:
        if settings.allow_self_approval:
            return records
        # names are claims here, but an approval whose own record names its reviewer among
        # the people who changed the target is a self-approval by its own account (e.g. made
        # under a branch's allow_self_approval, judged by a base without it)
        return [r for r in records if not (r.decision == "approved" and _self_named(r))]
    counted = []
    anchors: dict[str, str | None] = {}  # target -> commit of its last approval that counted
    repo = git.repo_root(config.root)
    head = git.rev_parse(repo, "HEAD") if repo else None
    for record in records:
        found = verdict(record, settings)
        if found.state != sshsig.VALID:
            continue
        if record.decision == "approved" and not settings.allow_self_approval:
            changed = changed_by(config, record.notebook, anchors.get(record.notebook), head)
            if self_signed(record, found.principals, changed):
                continue
            anchors[record.notebook] = record.commit
        # every rule that compares people uses the verified principal, not the claimed name
        counted.append(dataclasses.replace(record, signer=found.principal))
    return counted


def signature_report(config: Config, settings: ReviewSettings | None = None) -> list[dict[str, Any]]:
    """Per record: ``{"seq", "notebook", "decision", "reviewer", "signature", "signer",
    "repeats"}`` where ``signature`` is valid / invalid / unknown key / unsigned, ``signer``
    the principal, ``repeats`` the seq of the earlier record it repeats (it then counts
    once, invariant I3), or None, and ``reason`` why an invalid signature is invalid when it
    is more than altered content (a reviewer that is not the signer, I12), or None."""
    settings = settings or ReviewSettings.from_config(config)
    out = []
    first: dict[bytes, int] = {}
    for record in store.read_records(settings.ledger):
        found = verdict(record, settings)
        payload = signed_payload(record.to_dict())
        out.append({"seq": record.seq, "notebook": record.notebook, "decision": record.decision,
                    "reviewer": record.reviewer, "signature": found.state, "signer": found.principal,
                    "repeats": first.get(payload), "reason": found.reason or None})
        first.setdefault(payload, record.seq)
    return out


def signing_key(settings: ReviewSettings, given: str | Path | None) -> Path | None:
    """The key to sign with: ``given`` (``--sign-key``), else ``[review] signing_key``."""
    if given:
        return Path(given).expanduser().resolve()
    return settings.signing_key


def require_signing_key(settings: ReviewSettings, key: Path | None) -> None:
    """With ``require_signed``, a decision without a key would not count: refuse it up front.

    Raises:
        LedgerError: no key while signatures are required.
    """
    if settings.require_signed and key is None:
        raise LedgerError("[review] require_signed = true: an unsigned decision would not count",
                          Location(settings.ledger),
                          hint="sign it: --sign-key ~/.ssh/id_ed25519 (or a .pub in ssh-agent), "
                          "or set [review] signing_key")


def signer(key: Path | None):
    """``sign(payload) -> signature`` with ``key``, or None (unsigned)."""
    if key is None:
        return None
    return lambda payload: sshsig.sign(payload, key)


def signed_record(settings: ReviewSettings, key: Path | None, record: ReviewRecord) -> ReviewRecord:
    """``record`` checked before it is appended: with ``require_signed``, its signature must
    verify against the allowed signers, and an approval's signer must not be the author.

    Raises:
        ReviewError: the key is not an allowed signer, or the approval is a self-approval.
    """
    if key is None:
        return record
    found = verdict(record, settings)
    if found.reason:  # signed as someone else: refused whether or not signatures are required (I12)
        raise ReviewError(f"the reviewer {record.reviewer!r} is not the signer: the key {key.name} belongs to "
                          f"{', '.join(found.principals)} in {_rel_any(settings.allowed_signers)}",
                          Location(key), hint="record it under your own name (--reviewer, [review] reviewer) "
                          "or sign with your own key")
    if not settings.require_signed:
        return record
    if found.state != sshsig.VALID:
        raise ReviewError(f"the signature by {key.name} is {found.state} against "
                          f"{_rel_any(settings.allowed_signers)}: the decision would not count",
                          Location(key), hint="add your public key to the allowed signers (in a "
                          "reviewed commit), or sign with a key listed there")
    pair = self_signed(record, found.principals)
    if record.decision == "approved" and not settings.allow_self_approval and pair:
        raise ReviewError(f"refusing self-approval: the signer {pair[0]} changed {record.notebook} "
                          f"since its last approval (as {pair[1]})", Location(record.notebook),
                          hint="ask another reviewer to approve", exit_code=1)
    return record


def _rel_any(path: Path | None) -> str:
    return path.name if path is not None else "the allowed signers"

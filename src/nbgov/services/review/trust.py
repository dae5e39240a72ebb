"""Which review records count: against what was committed, and (optionally) only signed ones.

The ledger's hash chain makes edits in the middle visible, but not records dropped from the
end, and anyone who can write the file can append a record with recomputed hashes. So every
status, gate and promotion reads its records through :func:`counted_records`:

- the records committed at git ``HEAD`` must be a prefix of the working ledger (a dropped or
  changed committed record, e.g. a "changes requested", is a :class:`LedgerError`, never a
  silently easier gate);
- with ``[review] require_signed = true``, only records whose SSH signature verifies against
  the committed allowed-signers file count, and an approval counts only when its signer is
  not the author of the change it approves (principals compared, not display names).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nbgov.adapters import git, sshsig
from nbgov.core.config import Config
from nbgov.core.errors import LedgerError, Location, ReviewError
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
    """The signature state of one record against the allowed signers."""
    if not record.signature:
        return sshsig.Verdict(sshsig.UNSIGNED)
    return sshsig.verify(signed_payload(record.to_dict()), record.signature, settings.allowed_signers)


def _email(identity: str | None) -> set[str]:
    """The names a person goes by in a ``Name <email>`` identity, lower-cased."""
    if not identity:
        return set()
    person = git.Person.parse(identity)
    return {v.strip().lower() for v in (person.name, person.email) if v and v.strip()}


def self_signed(record: ReviewRecord, principal: str | None) -> bool:
    """Whether the signer of an approval is the author of the change it approves."""
    return bool(principal) and principal.strip().lower() in _email(record.author)


def counted_records(config: Config, settings: ReviewSettings | None = None) -> list[ReviewRecord]:
    """The working ledger's records that count for statuses and gates (see the module doc).

    Raises:
        LedgerError: the ledger does not verify, or lost committed records.
    """
    settings = settings or ReviewSettings.from_config(config)
    records = store.read_records(settings.ledger)
    check_committed(config, settings, records)
    if not settings.require_signed:
        return records
    counted = []
    for record in records:
        found = verdict(record, settings)
        if found.state != sshsig.VALID:
            continue
        if record.decision == "approved" and not settings.allow_self_approval and self_signed(
                record, found.principal):
            continue
        counted.append(record)
    return counted


def signature_report(config: Config, settings: ReviewSettings | None = None) -> list[dict[str, Any]]:
    """Per record: ``{"seq", "notebook", "decision", "reviewer", "signature", "signer"}`` where
    ``signature`` is valid / invalid / unknown key / unsigned and ``signer`` the principal."""
    settings = settings or ReviewSettings.from_config(config)
    out = []
    for record in store.read_records(settings.ledger):
        found = verdict(record, settings)
        out.append({"seq": record.seq, "notebook": record.notebook, "decision": record.decision,
                    "reviewer": record.reviewer, "signature": found.state, "signer": found.principal})
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
    if key is None or not settings.require_signed:
        return record

    found = verdict(record, settings)
    if found.state != sshsig.VALID:
        raise ReviewError(f"the signature by {key.name} is {found.state} against "
                          f"{_rel_any(settings.allowed_signers)}: the decision would not count",
                          Location(key), hint="add your public key to the allowed signers (in a "
                          "reviewed commit), or sign with a key listed there")
    if record.decision == "approved" and not settings.allow_self_approval and self_signed(
            record, found.principal):
        raise ReviewError(f"refusing self-approval: the signer {found.principal} authored the latest "
                          f"change ({record.author})", Location(record.notebook),
                          hint="ask another reviewer to approve")
    return record


def _rel_any(path: Path | None) -> str:
    return path.name if path is not None else "the allowed signers"

"""The four-eyes rule on identities: does a signer's principal name one of the people who
changed what they approve? Pure string logic, no git and no ssh.

A signer is known by *every* principal of their allowed-signers line(s) (a line may list
several, comma-separated: ``bob@example.com,robert@corp.example``); the people who changed a
target by *every* author and committer identity (``Name <email>``) of the commits that changed
it since its last approval. The rule refuses when any principal matches any identity:

- e-mails compare case-blind (``Bob@Example.COM`` is ``bob@example.com``), names
  whitespace- and case-blind;
- a principal that is not an e-mail (a login name) matches an identity's name or the local
  part of its e-mail (``bob`` matches ``bob@example.com``), and the other way round;
- a principal with ``*`` / ``?`` (git's allowed-signers patterns, e.g. ``*@example.com``)
  matches every identity it would admit as a signer.

Any match counts: the rule errs towards refusing.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def parts(identity: str) -> tuple[str, str]:
    """(name, e-mail) of ``Name <email>``, ``<email>``, a bare e-mail or a bare name,
    normalised (case-blind, single spaces); a missing part is ``""``."""
    text = identity.strip()
    if text.endswith(">") and "<" in text:
        name, _, email = text[:-1].rpartition("<")
        return _norm(name), _norm(email)
    if "@" in text and not any(c.isspace() for c in text):
        return "", _norm(text)
    return _norm(text), ""


def principal_names(field: str) -> list[str]:
    """The principals of an allowed-signers principals field (comma-separated, maybe quoted),
    negations (``!x``) left out."""
    return [p.strip() for p in field.strip().strip('"').split(",") if p.strip() and not p.strip().startswith("!")]


def _matches(principal: str, identity: str) -> bool:
    p_name, p_email = parts(principal)
    name, email = parts(identity)
    if any(c in principal for c in "*?"):
        pattern = p_email or p_name
        return any(v and fnmatch.fnmatchcase(v, pattern) for v in (email, name))
    if p_email and email and p_email == email:
        return True
    if p_name and name and p_name == name:
        return True
    # a login name against an address: its local part (either side may be the login)
    if p_name and not p_email and email and p_name == email.split("@")[0]:
        return True
    if name and not email and p_email and name == p_email.split("@")[0]:
        return True
    return False


def same_person(one: str, other: str) -> bool:
    """Whether two identities (``Name <email>``, ``<email>``, a bare e-mail or name) are the
    same person by the rules above (symmetric)."""
    return _matches(one, other) or _matches(other, one)


def shared_identity(principals: Iterable[str], identities: Iterable[str]) -> tuple[str, str] | None:
    """The first (principal, identity) pair naming the same person, or None when the signer
    is none of the people who changed the target (then the approval passes four-eyes)."""
    found = [i for i in identities if i and i.strip()]
    for principal in principals:
        for name in principal_names(principal):
            for identity in found:
                if _matches(name, identity):
                    return name, identity
    return None


def bound_principal(reviewer: str, principals: Iterable[str]) -> str | None:
    """The principal a signed record's ``reviewer`` names, or None when it names none of the
    signer's ``principals`` (docs/security.md, I12): the record then claims someone else.

    Stricter than :func:`same_person`, which errs towards "the same person" (right for
    refusing a self-approval, wrong for admitting a name): a reviewer with an e-mail
    (``Name <email>``, a bare e-mail) is bound by that e-mail alone, equal case-blind to a
    principal or admitted by a principal pattern (``*@example.com``); the display name is not
    evidence. A reviewer without an e-mail (a login, e.g. a JupyterHub user) must equal a
    principal or the local part of a principal's e-mail.
    """
    name, email = parts(reviewer)
    for principal in principals:
        for candidate in principal_names(principal):
            p_name, p_email = parts(candidate)
            if any(c in candidate for c in "*?"):
                if email and fnmatch.fnmatchcase(email, p_email or p_name):
                    return email
                continue
            if email:
                if p_email == email:
                    return candidate
            elif name and (p_name == name or (p_email and p_email.split("@")[0] == name)):
                return candidate
    return None

"""Which records count (services.review.trust), property-tested with generated signers,
identities and ledgers (I3, I6). ssh-keygen is faked here (a unit test): a signature names its
key, and the verdict lists every principal of that key's allowed-signers lines, as the real
adapter does (tests/security/test_four_eyes.py checks that against the real ssh-keygen).

Bounded for the normal suite; ``NBGOV_HYPOTHESIS_EXAMPLES=2000`` runs more.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbgov.adapters import sshsig
from nbgov.core.config import load_config
from nbgov.core.ledger import new_record, record_hash, status_of
from nbgov.services.review import trust

EXAMPLES = int(os.environ.get("NBGOV_HYPOTHESIS_EXAMPLES", "50"))
NB = "notebooks/a.ipynb"
V = "nbv1:" + "1" * 64

users = st.sampled_from(["ann", "bob", "cy", "di"])
domains = st.sampled_from(["example.com", "corp.example"])


def _email(data, user: str) -> str:
    email = f"{user}@{data.draw(domains)}"
    return "".join(c.upper() if data.draw(st.booleans()) else c for c in email)


def _emails_of(identity: str) -> set[str]:
    """The e-mail in an identity, lower-cased: an independent reading for the check."""
    text = identity.strip()
    if text.endswith(">") and "<" in text:
        text = text[:-1].rpartition("<")[2]
    return {text.strip().lower()} if "@" in text else set()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_no_counted_approval_is_signed_by_anyone_who_changed_it(data):
    """I6: whatever the principals of each key's line(s), and whichever of them (in whatever
    case, with whatever display name) the author used, a counted approval's signer is none of
    the people recorded as changing the target; and I3: appending copies changes nothing."""
    keys = {k: sorted({f"{u}@example.com" for u in data.draw(st.lists(users, min_size=1, max_size=2))}
                      | {f"{u}@corp.example" for u in data.draw(st.lists(users, max_size=1))})
            for k in ("k1", "k2", "k3")}
    allowed = "".join(f"{','.join(p)} ssh-ed25519 {k}\n" for k, p in keys.items())

    def fake_verify(payload, signature, allowed_signers):
        key = signature.split("KEY:")[1].split()[0]
        return sshsig.Verdict(sshsig.VALID, tuple(keys[key]))

    records = []
    for _ in range(data.draw(st.integers(1, 8))):
        key = data.draw(st.sampled_from(sorted(keys)))
        author = _email(data, data.draw(users))
        form = data.draw(st.sampled_from(["Some Name <{e}>", "{e}", "<{e}>"]))
        extra = [_email(data, data.draw(users)) for _ in range(data.draw(st.integers(0, 2)))]
        decision = data.draw(st.sampled_from(["approved", "approved", "changes_requested", "comment"]))
        records.append(new_record(records[-1] if records else None, notebook=NB, version=V, decision=decision,
                                  reviewer="whoever", author=form.format(e=author), authors=extra,
                                  sign=lambda payload, key=key: f"-----BEGIN SSH SIGNATURE-----\nKEY:{key}\n"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "nbgov.toml").write_text('[review]\nrequire_signed = true\n')
        (root / ".nbgov").mkdir()
        (root / ".nbgov" / "allowed_signers").write_text(allowed)
        ledger = root / ".nbgov" / "reviews.jsonl"
        ledger.write_text("".join(r.to_line() for r in records))
        original = sshsig.verify
        sshsig.verify = fake_verify
        try:
            config = load_config(root)
            counted = trust.counted_records(config)
            for rec in counted:
                if rec.decision != "approved":
                    continue
                signer = {p.lower() for p in keys[rec.signature.split("KEY:")[1].split()[0]]}
                changed = set().union(*(_emails_of(i) for i in rec.identities()))
                assert not signer & changed, (signer, changed)
            before = status_of(counted, V)[0]
            # append copies of any records (re-chained): the decision stays
            copies = data.draw(st.lists(st.sampled_from(records), max_size=3))
            grown = list(records)
            for copy in copies:
                body = {**copy.to_dict(), "seq": grown[-1].seq + 1, "prev": grown[-1].hash}
                body["hash"] = record_hash(body)
                grown.append(type(copy)(**body))
            ledger.write_text("".join(r.to_line() for r in grown))
            assert status_of(trust.counted_records(config), V)[0] == before
        finally:
            sshsig.verify = original

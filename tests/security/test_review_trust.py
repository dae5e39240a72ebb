"""Attacks 4 and 5 of issue 13: gates trusted a ledger that lost committed records, and
approvals could be forged (unsigned records with recomputed hashes, names chosen by the caller).

Real git repositories, the real CLI and the real ``ssh-keygen``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.security.conftest import BOB, allowed_signers, git, nbgov

from nbgov.core.config import load_config
from nbgov.core.errors import LedgerError
from nbgov.core.ledger import new_nonce, parse_ledger, record_hash

LEDGER = ".nbgov/reviews.jsonl"
NB = "notebooks/train.ipynb"


def _drop_last(root: Path) -> None:
    lines = (root / LEDGER).read_text().splitlines(keepends=True)
    (root / LEDGER).write_text("".join(lines[:-1]))


def _committed_then_dropped(root: Path) -> None:
    """Bob approves, then requests changes; both committed; the working copy loses the last."""
    assert nbgov(root, "review", "approve", NB, "--reviewer", BOB).returncode == 0
    assert nbgov(root, "review", "request-changes", NB, "--reviewer", BOB, "-m", "leaks data").returncode == 0
    git(root, "add", ".nbgov")
    git(root, "commit", "-qm", "reviews")
    _drop_last(root)
    # the chain of what is left still verifies on its own: only git knows a record went
    parse_ledger((root / LEDGER).read_text())


def test_gate_refuses_a_ledger_that_lost_a_committed_record(reviewed: Path) -> None:
    _committed_then_dropped(reviewed)
    gate = nbgov(reviewed, "review", "gate")
    assert gate.returncode == 2, gate.stdout + gate.stderr
    assert "record 2" in gate.stderr and "committed" in gate.stderr
    assert "Traceback" not in gate.stderr
    status = nbgov(reviewed, "review", "status", "--json")
    assert status.returncode == 2  # no status is shown from a ledger that lost reviews


def test_promote_gate_refuses_a_ledger_that_lost_a_committed_record(reviewed: Path) -> None:
    from nbgov.adapters.notebooks import read_notebook
    from nbgov.core.identity import notebook_version
    from nbgov.services.models.promote import ModelLineage, approval_reasons

    _committed_then_dropped(reviewed)
    version = notebook_version(read_notebook(reviewed / NB))
    lineage = ModelLineage(records=[{"task": "train", "outcome": "succeeded", "run_id": "r1",
                                     "notebook": {"path": NB, "version": version}}])
    with pytest.raises(LedgerError, match="committed"):
        approval_reasons(load_config(reviewed), lineage)


def test_build_require_approved_refuses_a_ledger_that_lost_a_committed_record(git_repo: Path) -> None:
    from tests.build.conftest import make_tiny

    root = make_tiny(git_repo)
    for nb in ("a", "b", "c"):
        assert nbgov(root, "review", "approve", f"notebooks/{nb}.ipynb", "--reviewer", BOB).returncode == 0
    assert nbgov(root, "review", "request-changes", "notebooks/c.ipynb", "--reviewer", BOB).returncode == 0
    git(root, "add", ".nbgov")
    git(root, "commit", "-qm", "reviews")
    _drop_last(root)
    build = nbgov(root, "build", "--require-approved")
    assert build.returncode == 2, build.stdout + build.stderr
    assert "committed" in build.stderr
    assert not (root / "products").exists()  # refused before anything ran


def _forge_approval(root: Path, reviewer: str, signature: str | None = None) -> None:
    """Append an approval of the current version with recomputed seq, prev and hash and a fresh
    nonce (a record reusing another's nonce makes the whole ledger invalid)."""
    records = parse_ledger((root / LEDGER).read_text())
    last = records[-1]
    fields = {**last.to_dict(), "seq": last.seq + 1, "prev": last.hash, "decision": "approved",
              "reviewer": reviewer, "note": "lgtm", "nonce": new_nonce()}
    fields.pop("signature", None)
    if signature:
        fields["signature"] = signature
    fields["hash"] = record_hash(fields)
    with (root / LEDGER).open("a") as f:
        f.write(json.dumps(fields, sort_keys=True) + "\n")


def _require_signed(root: Path, extra: str = "") -> None:
    (root / "nbgov.toml").write_text('experiment = "security"\n[review]\npaths = ["notebooks"]\n'
                                     f'require_signed = true\n{extra}')


def test_forged_unsigned_approval_does_not_count(reviewed: Path, keys) -> None:
    allowed_signers(reviewed, keys, "bob")
    _require_signed(reviewed)
    assert nbgov(reviewed, "review", "request-changes", NB, "--reviewer", BOB,
                 "--sign-key", str(keys["bob"])).returncode == 0
    git(reviewed, "add", ".")
    git(reviewed, "commit", "-qm", "signed review")
    _forge_approval(reviewed, BOB)
    assert nbgov(reviewed, "ledger", "verify").returncode == 0  # the chain itself is fine...
    gate = nbgov(reviewed, "review", "gate")
    assert gate.returncode == 1 and "changes-requested" in gate.stderr  # ...but it does not count
    verify = nbgov(reviewed, "ledger", "verify")
    assert "#1  changes-requested" in verify.stdout and "signature: valid by bob@example.com" in verify.stdout
    assert "#2  approved" in verify.stdout and "signature: unsigned" in verify.stdout


def test_signature_by_a_key_not_in_allowed_signers_does_not_count(reviewed: Path, keys) -> None:
    allowed_signers(reviewed, keys, "bob")
    _require_signed(reviewed)
    refused = nbgov(reviewed, "review", "approve", NB, "--reviewer", BOB, "--sign-key", str(keys["mallory"]))
    assert refused.returncode == 2 and "unknown key" in refused.stderr
    assert not (reviewed / LEDGER).exists() or not (reviewed / LEDGER).read_text()
    # written by hand: a real signature, by a stranger's key
    from nbgov.adapters import sshsig
    from nbgov.core.ledger import new_record

    forged = new_record(None, notebook=NB, version=_version(reviewed), decision="approved", reviewer=BOB,
                        sign=lambda payload: sshsig.sign(payload, keys["mallory"]))
    (reviewed / LEDGER).parent.mkdir(exist_ok=True)
    (reviewed / LEDGER).write_text(forged.to_line())
    assert nbgov(reviewed, "review", "gate").returncode == 1
    verify = nbgov(reviewed, "ledger", "verify")
    assert "signature: unknown key" in verify.stdout


def test_valid_signature_on_altered_content_is_invalid(reviewed: Path, keys) -> None:
    allowed_signers(reviewed, keys, "bob")
    _require_signed(reviewed)
    assert nbgov(reviewed, "review", "comment", NB, "--reviewer", BOB, "-m", "looks risky",
                 "--sign-key", str(keys["bob"])).returncode == 0
    # turn the signed comment into an approval, keep Bob's signature, recompute the hash
    raw = json.loads((reviewed / LEDGER).read_text())
    raw["decision"] = "approved"
    raw["hash"] = record_hash(raw)
    (reviewed / LEDGER).write_text(json.dumps(raw, sort_keys=True) + "\n")
    assert nbgov(reviewed, "review", "gate").returncode == 1
    verify = nbgov(reviewed, "ledger", "verify")
    assert verify.returncode == 1 and "signature: invalid" in verify.stdout


def test_self_approval_with_a_valid_signature_does_not_count(reviewed: Path, keys) -> None:
    allowed_signers(reviewed, keys, "bob", "ada")
    _require_signed(reviewed)
    # Ada authored the notebook; she claims to be Bob, and signs with her own key: her key
    # cannot sign as Bob (I12)
    refused = nbgov(reviewed, "review", "approve", NB, "--reviewer", BOB, "--sign-key", str(keys["ada"]))
    assert refused.returncode == 2 and "is not the signer" in refused.stderr, refused.stderr
    # under her own name, the four-eyes rule refuses
    refused = nbgov(reviewed, "review", "approve", NB, "--reviewer", "ada@example.com", "--sign-key", str(keys["ada"]))
    assert refused.returncode == 1 and "self-approval" in refused.stderr, refused.stderr
    # appended by hand with her valid signature: the signer is the author, so it does not count
    from nbgov.adapters import sshsig
    from nbgov.core.ledger import new_record

    rec = new_record(None, notebook=NB, version=_version(reviewed), decision="approved", reviewer="ada@example.com",
                     author="Bob Reviewer <bob@example.com>", sign=lambda p: sshsig.sign(p, keys["ada"]))
    (reviewed / LEDGER).parent.mkdir(exist_ok=True)
    (reviewed / LEDGER).write_text(rec.to_line())
    assert "signature: valid by ada@example.com" in nbgov(reviewed, "ledger", "verify").stdout
    assert nbgov(reviewed, "review", "gate").returncode == 1


def test_signed_approval_by_another_reviewer_counts(reviewed: Path, keys) -> None:
    allowed_signers(reviewed, keys, "bob", "ada")
    _require_signed(reviewed, f'signing_key = "{keys["bob"]}"\n')
    approve = nbgov(reviewed, "review", "approve", NB, "--reviewer", BOB)
    assert approve.returncode == 0, approve.stderr
    assert "signature valid" in approve.stdout
    assert nbgov(reviewed, "review", "gate").returncode == 0
    record = json.loads((reviewed / LEDGER).read_text())
    assert record["signature"].startswith("-----BEGIN SSH SIGNATURE-----")


def test_unsigned_decision_is_refused_when_signatures_are_required(reviewed: Path, keys) -> None:
    allowed_signers(reviewed, keys, "bob")
    _require_signed(reviewed)
    refused = nbgov(reviewed, "review", "approve", NB, "--reviewer", BOB)
    assert refused.returncode == 2 and "require_signed" in refused.stderr


def _version(root: Path) -> str:
    from nbgov.adapters.notebooks import read_notebook
    from nbgov.core.identity import notebook_version

    return notebook_version(read_notebook(root / NB))


def test_signing_through_ssh_agent_with_a_public_key(reviewed: Path, keys, tmp_path: Path) -> None:
    """``--sign-key KEY.pub``: ssh-keygen -Y sign -U asks the (real) ssh-agent to sign."""
    import os
    import re
    import signal
    import subprocess

    allowed_signers(reviewed, keys, "bob")
    _require_signed(reviewed)
    sock = tmp_path / "agent.sock"
    out = subprocess.run(["ssh-agent", "-s", "-a", str(sock)], check=True, capture_output=True, text=True).stdout
    pid = int(re.search(r"SSH_AGENT_PID=(\d+)", out).group(1))
    try:
        env = {"SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(keys["bob"])], check=True, env={**os.environ, **env})
        pub = keys["bob"].with_suffix(".pub")
        approve = nbgov(reviewed, "review", "approve", NB, "--reviewer", BOB, "--sign-key", str(pub), env=env)
        assert approve.returncode == 0, approve.stderr
        assert "signature valid" in approve.stdout
        assert nbgov(reviewed, "review", "gate").returncode == 0
    finally:
        os.kill(pid, signal.SIGTERM)

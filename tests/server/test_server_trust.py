"""Gates in the server verify against what was committed, and a server signs for its user
(attacks 4 and 5 of issue 13, through a real Jupyter server)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.server.conftest import commit_all

LOAD = "notebooks/load.ipynb"


async def test_review_refuses_a_ledger_that_lost_a_committed_record(api, jp_root_dir):
    for decision in ("comment", "changes_requested"):
        status, body = await api("review", method="POST", body={"path": LOAD, "decision": decision})
        assert status == 201, body
    commit_all(jp_root_dir, "reviews")
    ledger = jp_root_dir / ".nbgov" / "reviews.jsonl"
    ledger.write_text(ledger.read_text().splitlines(keepends=True)[0])  # drop the change request
    status, body = await api("review", params={"path": LOAD})
    assert status == 409 and body["error"] == "LedgerError", body
    assert "committed" in body["message"] and str(jp_root_dir) not in json.dumps(body)
    status, body = await api("review", method="POST", body={"path": LOAD, "decision": "comment"})
    assert status == 409, body  # nor does it append to it


def _key(folder: Path, name: str) -> Path:
    key = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    return key


async def test_server_signs_with_the_configured_key_or_refuses_unsigned(api, jp_root_dir, tmp_path):
    rita = _key(tmp_path, "rita")
    signers = jp_root_dir / ".nbgov" / "allowed_signers"
    signers.parent.mkdir()
    signers.write_text(f"rita@example.com {rita.with_suffix('.pub').read_text().strip()}\n")
    base = 'experiment = "x"\n[review]\nrequire_signed = true\n'
    (jp_root_dir / "nbgov.toml").write_text(base)
    status, body = await api("review", method="POST", body={"path": LOAD, "decision": "comment"})
    assert status == 409 and "require_signed" in body["message"], body
    (jp_root_dir / "nbgov.toml").write_text(base + f'signing_key = "{rita}"\n')
    # the server's user (the token's owner: git's Ada) cannot sign with Rita's key (I12)
    status, body = await api("review", method="POST", body={"path": LOAD, "decision": "comment"})
    assert status == 409 and "is not the signer" in body["message"] and "rita@example.com" in body["message"], body
    signers.write_text(f"ada@example.com {rita.with_suffix('.pub').read_text().strip()}\n")  # the key is Ada's
    status, body = await api("review", method="POST", body={"path": LOAD, "decision": "comment"})
    assert status == 201, body
    assert body["last"]["signature"] == "valid"
    status, body = await api("review", params={"path": LOAD})
    assert status == 200 and body["last"]["signature"] == "valid"

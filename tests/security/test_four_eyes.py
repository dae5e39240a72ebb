"""Four-eyes by every principal and every identity (issue 23 item 5, invariant I6), through the
real CLI, real git commits and the real ssh-keygen.

The reviewer strings here differ from the git identities on purpose (case, display name, a
second e-mail): a plain string comparison lets every one of these self-approvals through.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from tests.security.conftest import git, nbgov

LEDGER = ".nbgov/reviews.jsonl"
NB = "notebooks/train.ipynb"


def commit_as(root: Path, author: str, email: str, message: str, committer: tuple[str, str] | None = None) -> None:
    """Commit everything staged-or-not with the given author (and committer, default the same)."""
    name, mail = committer or (author, email)
    env = {**os.environ, "GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": email,
           "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": mail}
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), "commit", "-qm", message], check=True, env=env)


def edit(root: Path, text: str) -> None:
    nb = json.loads((root / NB).read_text())
    nb["cells"].append({"cell_type": "code", "metadata": {}, "source": text, "outputs": [], "execution_count": None})
    (root / NB).write_text(json.dumps(nb))


# -- without signatures: the reviewer string against git's identities -------------------------------

@pytest.mark.parametrize("reviewer", [
    "Bob <BOB@Example.com>",   # the e-mail in another case, another display name
    "bob@EXAMPLE.COM",         # a bare e-mail
    "bob",                     # a login name: the e-mail's local part
    "BOB BUILDER <b@other.org>",  # the same name, another address
])
def test_self_approval_is_refused_whatever_the_reviewer_string(reviewed: Path, reviewer: str) -> None:
    edit(reviewed, "x = 1")
    commit_as(reviewed, "Bob Builder", "bob@example.com", "bob's change")
    refused = nbgov(reviewed, "review", "approve", NB, "--reviewer", reviewer)
    assert refused.returncode == 1, refused.stdout + refused.stderr  # a refusal, not bad input
    assert "refusing self-approval" in refused.stderr and "Traceback" not in refused.stderr
    assert not (reviewed / LEDGER).exists()


def test_every_author_since_the_last_approval_counts_not_only_the_latest(reviewed: Path) -> None:
    """Bob changes the notebook, Ada changes it after him: Bob may not approve (his change is
    in what he would approve), Cy may."""
    assert nbgov(reviewed, "review", "approve", NB, "--reviewer", "Cy <cy@example.com>").returncode == 0
    git(reviewed, "add", "-A")
    git(reviewed, "commit", "-qm", "approval")
    edit(reviewed, "x = 1")
    commit_as(reviewed, "Bob Builder", "bob@example.com", "bob's change")
    edit(reviewed, "y = 2")
    commit_as(reviewed, "Ada Author", "ada@example.com", "ada's change")
    refused = nbgov(reviewed, "review", "approve", NB, "--reviewer", "Bob <BOB@example.com>")
    assert refused.returncode == 1 and "refusing self-approval" in refused.stderr, refused.stderr
    assert "Bob Builder <bob@example.com>" in refused.stderr
    ok = nbgov(reviewed, "review", "approve", NB, "--reviewer", "Cy <cy@example.com>")
    assert ok.returncode == 0, ok.stderr
    record = json.loads((reviewed / LEDGER).read_text().splitlines()[-1])
    assert {"Bob Builder <bob@example.com>", "Ada Author <ada@example.com>"} <= set(record["authors"])
    assert "Cy" not in " ".join(record["authors"])  # only changes since Cy's last approval


def test_the_committer_counts_as_well_as_the_author(reviewed: Path) -> None:
    edit(reviewed, "x = 1")
    commit_as(reviewed, "Ada Author", "ada@example.com", "ada's change, committed by bob",
              committer=("Bob Builder", "bob@example.com"))
    refused = nbgov(reviewed, "review", "approve", NB, "--reviewer", "Bob <bob@example.com>")
    assert refused.returncode == 1 and "refusing self-approval" in refused.stderr, refused.stderr


# -- with signatures: every principal of the signer's line -----------------------------------------

def _signers(root: Path, keys, lines: list[str]) -> None:
    path = root / ".nbgov" / "allowed_signers"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    (root / "nbgov.toml").write_text('experiment = "security"\n[review]\npaths = ["notebooks"]\n'
                                     'require_signed = true\n')


def _pub(keys, name: str) -> str:
    return keys[name].with_suffix(".pub").read_text().strip()


def test_a_signer_cannot_approve_a_change_made_under_their_second_email(reviewed: Path, keys) -> None:
    """Bob's line lists two e-mails; he commits under the second, in another case, then signs an
    approval: refused when recording, and not counted when appended by hand."""
    _signers(reviewed, keys, [f'bob@example.com,Robert@Corp.Example namespaces="nbgov-review" {_pub(keys, "bob")}',
                              f'ada@example.com {_pub(keys, "ada")}'])
    commit_as(reviewed, "Ada Author", "ada@example.com", "trust")
    edit(reviewed, "x = 1")
    commit_as(reviewed, "Robert B", "robert@CORP.example", "bob's change under his other address")
    refused = nbgov(reviewed, "review", "approve", NB, "--reviewer", "Bob <bob@example.com>",
                    "--sign-key", str(keys["bob"]))
    assert refused.returncode == 1 and "refusing self-approval" in refused.stderr, refused.stdout + refused.stderr

    from nbgov.adapters import sshsig
    from nbgov.adapters.notebooks import read_notebook
    from nbgov.core.identity import notebook_version
    from nbgov.core.ledger import new_record

    # by hand, claiming the change was Ada's: the record's own claim is not believed over git
    version = notebook_version(read_notebook(reviewed / NB))
    rec = new_record(None, notebook=NB, version=version, decision="approved", reviewer="Bob <bob@example.com>",
                     author="Ada Author <ada@example.com>", sign=lambda p: sshsig.sign(p, keys["bob"]))
    (reviewed / LEDGER).write_text(rec.to_line())
    verify = nbgov(reviewed, "ledger", "verify")
    assert "signature: valid by bob@example.com" in verify.stdout, verify.stdout
    gate = nbgov(reviewed, "review", "gate")
    assert gate.returncode == 1 and f"{NB}: unreviewed" in gate.stderr, gate.stdout + gate.stderr


def test_a_signer_whose_key_is_on_two_lines_is_known_by_both(reviewed: Path, keys) -> None:
    _signers(reviewed, keys, [f'bob@example.com {_pub(keys, "bob")}',
                              f'bob.alt@example.com {_pub(keys, "bob")}'])
    commit_as(reviewed, "Ada Author", "ada@example.com", "trust")
    edit(reviewed, "x = 1")
    commit_as(reviewed, "B", "BOB.ALT@example.com", "bob's change")
    refused = nbgov(reviewed, "review", "approve", NB, "--reviewer", "Bob <bob@example.com>",
                    "--sign-key", str(keys["bob"]))
    assert refused.returncode == 1 and "refusing self-approval" in refused.stderr, refused.stdout + refused.stderr


def test_signer_versus_author_ignores_case(reviewed: Path, keys) -> None:
    """The signer's principal in lower case, the git author in mixed case."""
    _signers(reviewed, keys, [f'bob@example.com {_pub(keys, "bob")}', f'mal@example.com {_pub(keys, "mallory")}'])
    commit_as(reviewed, "Ada Author", "ada@example.com", "trust")
    edit(reviewed, "x = 1")
    commit_as(reviewed, "Bob", "Bob@EXAMPLE.com", "bob's change")
    refused = nbgov(reviewed, "review", "approve", NB, "--reviewer", "bob@example.com",
                    "--sign-key", str(keys["bob"]))
    assert refused.returncode == 1 and "refusing self-approval" in refused.stderr, refused.stderr
    # by hand, the record claiming Ada changed it: only the signer's principal (against git's
    # mixed-case author) can refuse this
    from nbgov.adapters import sshsig
    from nbgov.adapters.notebooks import read_notebook
    from nbgov.core.identity import notebook_version
    from nbgov.core.ledger import new_record

    rec = new_record(None, notebook=NB, version=notebook_version(read_notebook(reviewed / NB)), decision="approved",
                     reviewer="bob@example.com", author="Ada Author <ada@example.com>",
                     sign=lambda p: sshsig.sign(p, keys["bob"]))
    (reviewed / LEDGER).write_text(rec.to_line())
    assert "signature: valid by bob@example.com" in nbgov(reviewed, "ledger", "verify").stdout
    assert nbgov(reviewed, "review", "gate").returncode == 1
    (reviewed / LEDGER).unlink()
    # Ada wrote the notebook, Bob changed it: a third signer approves
    ok = nbgov(reviewed, "review", "approve", NB, "--reviewer", "Mal <mal@example.com>",
               "--sign-key", str(keys["mallory"]))
    assert ok.returncode == 0, ok.stderr
    assert nbgov(reviewed, "review", "gate").returncode == 0

"""Trust anchored outside the change (issue 23 items 3 and 4, invariants I3 I4 I7): a pull
request cannot rewrite the rules it is judged by, nor replay an approval.

Real git repositories (a protected ``main``, a PR branch by Mallory), the real CLI and the real
``ssh-keygen``. Each test plays the PR author: everything on the branch is theirs to edit, the
keys of Bob and Ada (trusted at main) are not.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.security.conftest import BOB, git, nbgov

from nbgov.core.ledger import parse_ledger, record_hash

LEDGER = ".nbgov/reviews.jsonl"
NB = "notebooks/train.ipynb"
SIGNERS = ".nbgov/allowed_signers"
TOML = 'experiment = "security"\n[review]\npaths = ["notebooks"]\nrequire_signed = true\n'


def _pub(keys, name: str) -> str:
    return keys[name].with_suffix(".pub").read_text().strip()


def _edit(root: Path, text: str, path: str = NB) -> None:
    nb = json.loads((root / path).read_text())
    nb["cells"].append({"cell_type": "code", "metadata": {}, "source": text, "outputs": [], "execution_count": None})
    (root / path).write_text(json.dumps(nb))


@pytest.fixture
def pr(reviewed: Path, keys) -> Path:
    """main: signatures required, Bob and Ada trusted, the notebook approved by Bob; then a
    branch ``pr`` checked out with Mallory as the git user."""
    (reviewed / "nbgov.toml").write_text(TOML)
    (reviewed / SIGNERS).parent.mkdir(exist_ok=True)
    (reviewed / SIGNERS).write_text(f"bob@example.com {_pub(keys, 'bob')}\nada@example.com {_pub(keys, 'ada')}\n")
    approve = nbgov(reviewed, "review", "approve", NB, "--reviewer", BOB, "--sign-key", str(keys["bob"]))
    assert approve.returncode == 0, approve.stderr
    git(reviewed, "add", "-A")
    git(reviewed, "commit", "-qm", "trust and the approved notebook")
    assert nbgov(reviewed, "review", "gate", "--base", "main").returncode == 0
    git(reviewed, "checkout", "-qb", "pr")
    git(reviewed, "config", "user.name", "Mallory")
    git(reviewed, "config", "user.email", "mallory@example.com")
    return reviewed


def _commit(root: Path, message: str = "pr") -> None:
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)


def _gate(root: Path, *args: str):
    out = nbgov(root, "review", "gate", *args)
    assert "Traceback" not in out.stderr, out.stderr
    return out


def test_a_pr_that_adds_its_authors_key_gains_nothing(pr: Path, keys) -> None:
    _edit(pr, "open('PWNED', 'w')")
    with (pr / SIGNERS).open("a") as f:
        f.write(f"notmallory@example.com {_pub(keys, 'mallory')}\n")
    approve = nbgov(pr, "review", "approve", NB, SIGNERS, "--reviewer", "Not Mallory <notmallory@example.com>",
                    "--sign-key", str(keys["mallory"]))
    assert approve.returncode == 0, approve.stderr  # the branch's own rules let it through...
    _commit(pr)
    assert _gate(pr).returncode == 0
    gate = _gate(pr, "--base", "main")  # ...the base's do not
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert f"{NB}: stale" in gate.stderr
    assert f"{SIGNERS}: unreviewed (trust settings changed since main)" in gate.stderr
    verify = nbgov(pr, "ledger", "verify", "--against", "main")
    assert "signature: unknown key" in verify.stdout, verify.stdout


def test_a_pr_that_switches_signatures_off_gains_nothing(pr: Path) -> None:
    _edit(pr, "open('PWNED', 'w')")
    (pr / "nbgov.toml").write_text(TOML.replace("require_signed = true", "require_signed = false"))
    assert nbgov(pr, "review", "approve", NB, "nbgov.toml", "--reviewer", BOB).returncode == 0
    _commit(pr)
    assert _gate(pr).returncode == 0
    gate = _gate(pr, "--base", "main")
    assert gate.returncode == 1
    assert f"{NB}: stale" in gate.stderr and "nbgov.toml: unreviewed (trust settings changed since main)" in gate.stderr


def test_a_pr_that_narrows_review_paths_gains_nothing(pr: Path) -> None:
    (pr / "notebooks" / "evil.ipynb").write_text((pr / NB).read_text())
    _edit(pr, "open('PWNED', 'w')", "notebooks/evil.ipynb")
    (pr / "nbgov.toml").write_text(TOML.replace('paths = ["notebooks"]', f'paths = ["{NB}"]'))
    _commit(pr)
    assert _gate(pr).returncode == 0
    gate = _gate(pr, "--base", "main")
    assert gate.returncode == 1
    assert "notebooks/evil.ipynb: unreviewed" in gate.stderr and "nbgov.toml: unreviewed" in gate.stderr


def test_a_pr_that_moves_the_ledger_gains_nothing(pr: Path) -> None:
    """A fresh ledger elsewhere would not have to extend main's: the base says where it is."""
    _edit(pr, "x = 1")
    moved = TOML.replace("require_signed = true", 'require_signed = false\nledger = "fresh.jsonl"')
    (pr / "nbgov.toml").write_text(moved)
    assert nbgov(pr, "review", "approve", NB, "nbgov.toml", "--reviewer", BOB).returncode == 0
    _commit(pr)
    gate = _gate(pr, "--base", "main")
    assert gate.returncode == 1 and f"{NB}: stale" in gate.stderr


def test_trust_changes_approved_by_a_signer_trusted_at_the_base_pass(pr: Path, keys) -> None:
    _edit(pr, "x = 1")
    (pr / "nbgov.toml").write_text(TOML + "[environments.prod]\nrequire_approved = true\n")
    _commit(pr)
    only_nb = nbgov(pr, "review", "approve", NB, "--reviewer", BOB, "--sign-key", str(keys["bob"]))
    assert only_nb.returncode == 0, only_nb.stderr
    _commit(pr, "approval of the notebook")
    gate = _gate(pr, "--base", "main")
    assert gate.returncode == 1 and "nbgov.toml: unreviewed (trust settings changed since main)" in gate.stderr
    assert NB not in gate.stderr
    both = nbgov(pr, "review", "approve", "nbgov.toml", "--reviewer", BOB, "--sign-key", str(keys["bob"]))
    assert both.returncode == 0, both.stderr
    _commit(pr, "approval of the settings")
    gate = _gate(pr, "--base", "main")
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert gate.stdout.strip() == ("1 notebook and 1 file approved at their current version "
                                   "(trust settings read at main; changed and approved: nbgov.toml)")


def test_gate_base_must_be_a_revision(pr: Path) -> None:
    gate = _gate(pr, "--base", "no-such-branch")
    assert gate.returncode == 2 and "no-such-branch" in gate.stderr, gate.stderr


# -- item 3: replays -----------------------------------------------------------------------------

def _replay(root: Path, seq: int) -> None:
    """Append a copy of record ``seq`` with a new seq/prev/hash: no key needed."""
    records = parse_ledger((root / LEDGER).read_text())
    last = records[-1]
    fields = {**records[seq - 1].to_dict(), "seq": last.seq + 1, "prev": last.hash}
    fields["hash"] = record_hash(fields)
    with (root / LEDGER).open("a") as f:
        f.write(json.dumps(fields, sort_keys=True) + "\n")


def test_a_replayed_signed_approval_does_not_override_a_later_changes_request(pr: Path, keys) -> None:
    """Bob approved (record 1, on main); Ada requests changes; a copy of Bob's approval is
    appended: it verifies as "valid by bob" but counts once, so changes stay requested."""
    requested = nbgov(pr, "review", "request-changes", NB, "--reviewer", "Ada <ada@example.com>",
                      "--sign-key", str(keys["ada"]), "-m", "leaks the test set")
    assert requested.returncode == 0, requested.stderr
    _replay(pr, 1)
    gate = _gate(pr)
    assert gate.returncode == 1 and f"{NB}: changes-requested" in gate.stderr, gate.stdout + gate.stderr
    status = json.loads(nbgov(pr, "review", "status", "--json").stdout)
    assert status[0]["status"] == "changes-requested"
    verify = nbgov(pr, "ledger", "verify")
    assert verify.returncode == 0, verify.stderr
    assert "#3  approved" in verify.stdout and "valid by bob@example.com (repeats #1: counts once)" in verify.stdout


def test_an_approval_a_slow_clock_would_date_before_the_request_is_refused(reviewed: Path) -> None:
    """I4 from the honest side: a reviewer whose clock is behind the newest changes request
    is told so, instead of recording an approval that silently does not count."""
    from nbgov.adapters.notebooks import read_notebook
    from nbgov.core.identity import notebook_version
    from nbgov.core.ledger import new_record

    version = notebook_version(read_notebook(reviewed / NB))
    ahead = new_record(None, notebook=NB, version=version, decision="changes_requested",
                       reviewer="Cy <cy@example.com>", at="2099-01-01T00:00:00Z")
    (reviewed / LEDGER).parent.mkdir(exist_ok=True)
    (reviewed / LEDGER).write_text(ahead.to_line())
    refused = nbgov(reviewed, "review", "approve", NB, "--reviewer", BOB)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "clock" in refused.stderr and "2099-01-01T00:00:00Z" in refused.stderr and "Traceback" not in refused.stderr
    assert len((reviewed / LEDGER).read_text().splitlines()) == 1  # nothing appended


def test_a_config_first_added_by_the_pr_is_a_target_under_the_bases_defaults(git_repo: Path) -> None:
    """No nbgov.toml at the base: its defaults rule, and the new file must be approved."""
    import shutil

    from tests.security.conftest import REVIEW_NB

    (git_repo / "notebooks").mkdir()
    shutil.copy(REVIEW_NB, git_repo / NB)
    _commit(git_repo, "notebook, no configuration")
    git(git_repo, "checkout", "-qb", "pr")
    (git_repo / "nbgov.toml").write_text('[review]\npaths = ["notebooks"]\nallow_self_approval = true\n')
    _commit(git_repo, "configuration")
    gate = _gate(git_repo, "--base", "main")
    assert gate.returncode == 1 and "nbgov.toml: unreviewed (trust settings changed since main)" in gate.stderr
    # the PR's allow_self_approval does not apply: the base's default (false) does
    refused = nbgov(git_repo, "review", "approve", "nbgov.toml")
    assert refused.returncode == 0  # recorded by the branch's own rules (self-approval allowed there)...
    _commit(git_repo, "self-approval")
    gate = _gate(git_repo, "--base", "main")
    # ...but it does not count at the base: its own record says Ada approved Ada's change
    assert gate.returncode == 1 and "nbgov.toml: unreviewed (trust settings changed since" in gate.stderr, gate.stderr
    assert nbgov(git_repo, "review", "approve", NB, "nbgov.toml", "--reviewer", BOB).returncode == 0
    _commit(git_repo, "bob approves")
    gate = _gate(git_repo, "--base", "main")
    assert gate.returncode == 0, gate.stdout + gate.stderr

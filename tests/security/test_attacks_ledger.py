"""The third attack round on the review ledger (invariants I12 and I13): a trusted signer who
signs with her own key but names another reviewer, and a PR author without a key who drops a
reviewer's records committed on the branch and re-chains the rest, in a new commit.

Played as the attacker did: real git repositories (a protected ``main``, a branch ``pr`` by
Mallory), the real CLI and the real ``ssh-keygen``; the dropped records are re-chained like
the attacker's ``rechain.py`` (new ``seq``, ``prev`` and ``hash``: every signature stays valid).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.security.conftest import BOB, git, nbgov

from nbgov.core.ledger import GENESIS, new_record, parse_ledger, record_hash

LEDGER = ".nbgov/reviews.jsonl"
NB = "notebooks/train.ipynb"
SIGNERS = ".nbgov/allowed_signers"
ADA = "Ada Author <ada@example.com>"
MALLORY = "Mallory <mallory@example.com>"
TOML = 'experiment = "security"\n[review]\npaths = ["notebooks"]\nrequire_signed = true\n'


def _edit(root: Path, text: str) -> None:
    nb = json.loads((root / NB).read_text())
    nb["cells"].append({"cell_type": "code", "id": "m1", "metadata": {}, "source": text, "outputs": [],
                        "execution_count": None})
    (root / NB).write_text(json.dumps(nb))


def _ok(run: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert run.returncode == 0, run.stdout + run.stderr
    return run


def _commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)
    return git(root, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> tuple[Path, dict[str, Path], str]:
    """main: signatures required; Bob, Ada and Mallory trusted signers; Bob approved the
    notebook. Branch ``pr`` (git user Mallory): Mallory's change; Ada approves it, then Bob
    opens a thread on a cell and requests changes, all signed and committed. Returns (repo,
    keys, the thread's id). Built once; each test works on a copy."""
    base = tmp_path_factory.mktemp("ledger-attacks")
    keys = {}
    for name in ("bob", "ada", "mallory"):
        keys[name] = base / name
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(keys[name])], check=True)
    root = base / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Ada Author")
    git(root, "config", "user.email", "ada@example.com")
    git(root, "config", "commit.gpgsign", "false")
    (root / "nbgov.toml").write_text(TOML)
    (root / "notebooks").mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "review" / "notebooks" / "train.ipynb", root / NB)
    (root / ".nbgov").mkdir()
    (root / SIGNERS).write_text("".join(f"{n}@example.com {keys[n].with_suffix('.pub').read_text().strip()}\n"
                                        for n in ("bob", "ada", "mallory")))
    _commit(root, "notebook and trust")
    _ok(nbgov(root, "review", "approve", NB, "--reviewer", BOB, "--sign-key", str(keys["bob"])))
    _commit(root, "bob approves")
    git(root, "checkout", "-qb", "pr")
    git(root, "config", "user.name", "Mallory")
    git(root, "config", "user.email", "mallory@example.com")
    _edit(root, "x = 1")
    _commit(root, "mallory's change")
    _ok(nbgov(root, "review", "approve", NB, "--reviewer", ADA, "--sign-key", str(keys["ada"])))
    thread = json.loads(_ok(nbgov(root, "review", "comment", NB, "--cell", "m1", "-m", "why?", "--reviewer", BOB,
                                  "--sign-key", str(keys["bob"]), "--json")).stdout)["id"]
    _ok(nbgov(root, "review", "request-changes", NB, "-m", "leaks", "--reviewer", BOB,
              "--sign-key", str(keys["bob"])))
    _commit(root, "reviews")
    return root, keys, thread


@pytest.fixture
def repo(scene, tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(scene[0], copy, symlinks=True)
    return copy


def _forge(root: Path, key: Path, kind: str, reviewer: str, **fields: str) -> None:
    """Append a record signed with ``key`` that names ``reviewer`` (what Mallory did with
    ``--reviewer bob@example.com --sign-key <her key>``)."""
    from nbgov.adapters import sshsig

    records = parse_ledger((root / LEDGER).read_text())
    last = records[-1]
    rec = new_record(last, notebook=NB, version=last.version, decision=kind, reviewer=reviewer, note="done",
                     at=last.at, sign=lambda payload: sshsig.sign(payload, key), **fields)
    with (root / LEDGER).open("a") as f:
        f.write(rec.to_line())


def _rechain(root: Path, drop: set[int]) -> None:
    """The attacker's rechain.py: drop records by seq, re-chain the rest (signatures stay valid)."""
    recs = [json.loads(line) for line in (root / LEDGER).read_text().splitlines() if line.strip()]
    out, prev = [], GENESIS
    for r in recs:
        if r["seq"] in drop:
            continue
        r["seq"], r["prev"] = len(out) + 1, prev
        r.pop("hash")
        r["hash"] = prev = record_hash(r)
        out.append(r)
    (root / LEDGER).write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in out))


# -- I12: a signed record's reviewer is its signer --------------------------------------------


def test_mallory_cannot_record_as_bob_with_her_key(repo: Path, scene) -> None:
    _, keys, thread = scene
    refused = nbgov(repo, "review", "resolve", thread[:8], "--reviewer", "bob@example.com",
                    "--sign-key", str(keys["mallory"]))
    assert refused.returncode != 0, refused.stdout
    assert "'bob@example.com' is not the signer" in refused.stderr and "mallory@example.com" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_resolve_reply_and_approval_signed_by_mallory_as_others_count_for_nothing(repo: Path, scene) -> None:
    _, keys, thread = scene
    _forge(repo, keys["mallory"], "reply", "bob@example.com", cell="m1", thread=thread)
    _forge(repo, keys["mallory"], "resolve", "bob@example.com", cell="m1", thread=thread)
    _forge(repo, keys["mallory"], "approved", ADA)
    _commit(repo, "mallory as bob and ada")
    verify = nbgov(repo, "ledger", "verify", "--against", "main")
    assert verify.returncode == 1, verify.stdout + verify.stderr
    for n, who in ((5, "bob@example.com"), (6, "bob@example.com"), (7, ADA)):
        assert f"record {n} says its reviewer is {who!r}, but it is signed by the key of mallory@example.com" \
            in verify.stderr, verify.stderr
        assert f"#{n}  " in verify.stdout and "signature: invalid" in verify.stdout
    gate = nbgov(repo, "review", "gate", "--base", "main", "--require-resolved-threads")
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert f"{NB}: changes-requested" in gate.stderr  # no "approved by Ada" from Mallory's key
    threads = json.loads(_ok(nbgov(repo, "review", "threads", "--json")).stdout)
    [th] = threads
    assert not th["resolved"] and th["author"] == "bob@example.com"
    assert [c["author"] for c in th["comments"]] == ["bob@example.com"]  # no reply shown as Bob's


def test_rules_compare_the_verified_principal_not_the_display_name(repo: Path, scene) -> None:
    # Mallory's own e-mail binds the record to her key, but "Bob Reviewer" as a display name
    # must not make her the thread's author (same_person matches display names)
    _, keys, thread = scene
    _forge(repo, keys["mallory"], "resolve", "Bob Reviewer <mallory@example.com>", cell="m1", thread=thread)
    _commit(repo, "mallory named Bob")
    assert _ok(nbgov(repo, "ledger", "verify", "--against", "main")).returncode == 0  # a valid record...
    [th] = json.loads(_ok(nbgov(repo, "review", "threads", "--json")).stdout)
    assert not th["resolved"]  # ...that resolves nothing


# -- I13: append-only through every commit of the branch ----------------------------------------


def test_a_branch_commit_that_drops_bobs_records_fails_gate_and_verify(repo: Path) -> None:
    # Bob's thread (record 3) and changes request (record 4) go; Ada's approval stays
    _rechain(repo, {3, 4})
    parse_ledger((repo / LEDGER).read_text())  # the rest still verifies on its own
    commit = _commit(repo, "tidy the ledger")
    for args in (("review", "gate", "--base", "main", "--require-resolved-threads"),
                 ("ledger", "verify", "--against", "main")):
        run = nbgov(repo, *args)
        assert run.returncode == 2, (args, run.stdout, run.stderr)
        assert f"commit {commit[:10]} ('tidy the ledger') removed or changed record 3 of {LEDGER}" in run.stderr
        assert f"a thread on {NB} recorded by {BOB}" in run.stderr and "Traceback" not in run.stderr


def test_a_dropped_record_hidden_behind_a_later_commit_and_a_merge_is_found(repo: Path, scene) -> None:
    _, keys, _ = scene
    _rechain(repo, {4})
    commit = _commit(repo, "drop")
    # more commits and a merge of main afterwards do not hide it
    git(repo, "checkout", "-q", "main")
    (repo / "README").write_text("main moves on\n")
    _commit(repo, "main moves on")
    git(repo, "checkout", "-q", "pr")
    git(repo, "merge", "-q", "--no-edit", "main")
    run = nbgov(repo, "review", "gate", "--base", "main")
    assert run.returncode == 2 and f"commit {commit[:10]} ('drop') removed or changed record 4" in run.stderr, \
        run.stderr


def test_an_edited_record_is_found_and_appends_and_merges_pass(repo: Path, scene) -> None:
    _, keys, _ = scene
    _ok(nbgov(repo, "ledger", "verify", "--against", "main"))  # the honest branch passes
    # two lines of the branch add reviews; a merge (nbgov's merge driver) renumbers one side's
    git(repo, "config", "merge.nbgov-ledger.driver", f"{sys.executable} -m nbgov ledger merge %O %A %B")
    (repo / ".gitattributes").write_text(f"{LEDGER} merge=nbgov-ledger\n")
    _commit(repo, "merge driver")
    git(repo, "checkout", "-qb", "side")
    _ok(nbgov(repo, "review", "comment", NB, "--cell", "a4", "-m", "on the side", "--reviewer", ADA,
              "--sign-key", str(keys["ada"])))
    _commit(repo, "a comment on the side")
    git(repo, "checkout", "-q", "pr")
    _ok(nbgov(repo, "review", "comment", NB, "--cell", "a2", "-m", "on pr", "--reviewer", BOB,
              "--sign-key", str(keys["bob"])))
    _commit(repo, "a comment on pr")
    git(repo, "merge", "-q", "--no-edit", "side")
    verify = _ok(nbgov(repo, "ledger", "verify", "--against", "main"))
    assert "ok: 6 record(s)" in verify.stdout, verify.stdout
    # an edit (Bob's note), the chain recomputed, removes the original
    lines = (repo / LEDGER).read_text().splitlines()
    rec = json.loads(lines[3])
    assert rec["decision"] == "changes_requested"
    rec["note"] = "fine by me"
    lines[3] = json.dumps(rec, sort_keys=True)
    (repo / LEDGER).write_text("\n".join(lines) + "\n")
    _rechain(repo, set())
    commit = _commit(repo, "edit")
    run = nbgov(repo, "ledger", "verify", "--against", "main")
    assert run.returncode == 2 and f"commit {commit[:10]} ('edit') removed or changed record 4" in run.stderr, \
        run.stderr


def test_a_merge_that_drops_the_other_sides_review_is_found(repo: Path, scene) -> None:
    # Bob reviews on a side branch; Mallory merges it with "-s ours", which keeps her ledger:
    # every commit's ledger verifies and HEAD's extends main's, but Bob's request is gone
    _, keys, _ = scene
    git(repo, "checkout", "-qb", "side")
    _ok(nbgov(repo, "review", "request-changes", NB, "-m", "still leaks", "--reviewer", BOB,
              "--sign-key", str(keys["bob"])))
    _commit(repo, "bob on the side")
    git(repo, "checkout", "-q", "pr")
    git(repo, "merge", "-q", "--no-edit", "-s", "ours", "side")
    merge = git(repo, "rev-parse", "HEAD").strip()
    run = nbgov(repo, "ledger", "verify", "--against", "main")
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"commit {merge[:10]}" in run.stderr and "removed or changed record 5" in run.stderr, run.stderr
    assert f"a changes_requested on {NB} recorded by {BOB}" in run.stderr


_LOCAL = st.text("abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=8)
_NAME = st.text(st.characters(codec="utf-8", exclude_characters="<>\n\r,"), max_size=12)


@settings(max_examples=60, deadline=None)
@given(mine=_LOCAL, theirs=_LOCAL, display=_NAME, upper=st.booleans(), bare=st.booleans())
def test_a_reviewer_binds_only_to_a_principal_with_its_email(mine, theirs, display, upper, bare) -> None:
    """Whatever the display name (another person's, a principal's), a reviewer naming an e-mail
    binds only to a principal with that e-mail (case-blind), and a login only to its own."""
    from nbgov.core.four_eyes import bound_principal

    email = f"{theirs}@example.com"
    shown = email.upper() if upper else email
    reviewer = shown if bare or not display.strip() else f"{display} <{shown}>"
    signer = [f"{mine}@example.com,{mine}@corp.example"]
    assert (bound_principal(reviewer, signer) is not None) == (mine == theirs)
    assert (bound_principal(theirs, signer) is not None) == (mine == theirs)  # a login: local part

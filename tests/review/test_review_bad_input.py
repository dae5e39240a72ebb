"""Bad input through the real ``nbgov`` command: a clear message, a non-zero exit, and the ledger
left byte for byte as it was. Tampered ledgers through ``nbgov ledger verify``."""

from __future__ import annotations

import pytest

from nbgov.core.config import load_config
from nbgov.core.ledger import new_record, parse_ledger
from nbgov.services.review.state import record_decision, review_state

pytestmark = pytest.mark.integration

NB = "notebooks/train.ipynb"
LEDGER = ".nbgov/reviews.jsonl"


@pytest.fixture
def reviewed(project, bob):
    """The project with three records in its ledger: approve, comment, approve (after an edit)."""
    config = load_config(project)
    record_decision(config, NB, "approved", "ok", bob)
    record_decision(config, NB, "comment", "nit", bob)
    path = project / NB
    path.write_text(path.read_text().replace("seed = 0", "seed = 3"))
    record_decision(config, NB, "approved", "ok again", bob)
    return project


def lines(project) -> list[str]:
    return (project / LEDGER).read_text().splitlines(keepends=True)


def test_unknown_and_broken_notebooks(reviewed, nbgov, bob):
    before = (reviewed / LEDGER).read_bytes()
    missing = nbgov("review", "approve", "notebooks/nope.ipynb", "--reviewer", bob)
    assert missing.code == 2 and "notebook not found" in missing.err
    assert "Traceback" not in missing.err
    (reviewed / "notebooks" / "bad.ipynb").write_text('{"cells": [')
    bad = nbgov("review", "approve", "notebooks/bad.ipynb", "--reviewer", bob)
    assert bad.code == 2 and "not valid JSON" in bad.err and "bad.ipynb" in bad.err
    assert nbgov("review", "status", "notebooks/bad.ipynb").code == 2
    assert nbgov("version", "notebooks/bad.ipynb").code == 2
    outside = nbgov("review", "approve", "../elsewhere.ipynb", "--reviewer", bob)
    assert outside.code == 2 and "outside the project" in outside.err
    assert (reviewed / LEDGER).read_bytes() == before


@pytest.mark.parametrize(
    "config, words",
    [
        ("[review]\nreviewers = ['x']\n", "unknown key(s) in [review]: reviewers"),
        ("[review]\nreviewer = 42\n", "[review] reviewer must be a str"),
        ("[review]\nreviewer = '  '\n", "[review] reviewer is empty"),
        ("[review]\nallow_self_approval = 'yes'\n", "allow_self_approval must be a bool"),
        ("[review\n", "not valid TOML"),
    ],
)
def test_bad_review_config(reviewed, nbgov, bob, config, words):
    before = (reviewed / LEDGER).read_bytes()
    (reviewed / "nbgov.toml").write_text(config)
    result = nbgov("review", "approve", NB, "--reviewer", bob)
    assert result.code == 2 and words in result.err
    assert (reviewed / LEDGER).read_bytes() == before


def test_no_reviewer_identity(project, nbgov, git):
    git("config", "--unset", "user.name")
    git("config", "--unset", "user.email")
    result = nbgov(
        "review", "comment", NB, env={"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
    )
    assert result.code == 2 and "no reviewer identity" in result.err
    assert not (project / LEDGER).exists()


def _edit(rows):
    rows[1] = rows[1].replace('"note": "nit"', '"note": "nice"')


def _remove(rows):
    del rows[1]


def _reorder(rows):
    rows[0], rows[1] = rows[1], rows[0]


def _truncate(rows):
    rows[2] = rows[2][: len(rows[2]) // 2]


@pytest.mark.parametrize(
    "tamper, message",
    [
        (_edit, "record 2 was edited"),
        (_remove, "record 2 has seq 3"),
        (_reorder, "record 1 has seq 2"),
        (_truncate, "record 3 is not valid JSON"),
    ],
)
def test_tampered_ledger_fails_verify_and_refuses_appends(reviewed, nbgov, bob, tamper, message):
    assert nbgov("ledger", "verify").code == 0
    rows = lines(reviewed)
    tamper(rows)
    (reviewed / LEDGER).write_text("".join(rows))
    tampered = (reviewed / LEDGER).read_bytes()
    verify = nbgov("ledger", "verify")
    assert verify.code == 2 and message in verify.err and LEDGER in verify.err
    assert nbgov("review", "status").code == 2
    assert nbgov("review", "gate", NB).code == 2
    refused = nbgov("review", "comment", NB, "-m", "more", "--reviewer", bob)
    assert refused.code == 2 and message in refused.err
    assert (reviewed / LEDGER).read_bytes() == tampered


def test_removing_committed_records_is_caught_against_head(reviewed, nbgov, git):
    git("add", ".nbgov")
    git("commit", "-q", "-m", "reviews")
    ok = nbgov("ledger", "verify")
    assert ok.code == 0 and "extends the ledger at git HEAD" in ok.out
    (reviewed / LEDGER).write_text("".join(lines(reviewed)[:2]))
    result = nbgov("ledger", "verify")
    assert (
        result.code == 2
        and "record 3 (present in the ledger committed at HEAD) was removed" in result.err
    )


def test_damaged_snapshot_is_reported(reviewed, nbgov):
    approved = review_state(load_config(reviewed), NB).approved_version
    snapshot = reviewed / ".nbgov" / "snapshots" / (approved.split(":")[1] + ".ipynb")
    snapshot.write_text(snapshot.read_text().replace("seed = ", "seed = 1 + "))
    path = reviewed / NB
    path.write_text(path.read_text().replace("seed = 3", "seed = 4"))
    result = nbgov("diff", NB)
    assert result.code == 2 and "does not match its version" in result.err


def test_a_branch_that_rewrites_reviews_fails_against_main(reviewed, nbgov, git):
    git("add", ".nbgov")
    git("commit", "-q", "-m", "reviews")
    git("checkout", "-q", "-b", "rewrite")
    # a careful forger re-chains every record after editing one: the chain alone verifies...
    records = parse_ledger((reviewed / LEDGER).read_text())
    forged = []
    for rec in records:
        fields = {k: v for k, v in rec.to_dict().items() if k not in ("seq", "prev", "hash")}
        if rec.seq == 2:
            fields["note"] = "rewritten"
        forged.append(
            new_record(
                forged[-1] if forged else None, **{k: v for k, v in fields.items() if k != "schema"}
            )
        )
    (reviewed / LEDGER).write_text("".join(r.to_line() for r in forged))
    git("commit", "-q", "-am", "tidy reviews")
    own = nbgov("ledger", "verify")  # against HEAD: the forged copy is what was committed
    assert own.code == 0, own.err
    assert own.out.strip().splitlines()[0] == "ok: 3 record(s) on 1 target(s), extends the ledger at git HEAD"
    # then each record's signature state (signed reviews, docs/security.md)
    assert [line.split()[-1] for line in own.out.strip().splitlines()[1:]] == ["unsigned"] * 3
    # ...but not against the branch it must extend
    result = nbgov("ledger", "verify", "--against", "main")
    assert result.code == 2
    assert "record 2 differs from the ledger committed at main" in result.err
    unknown = nbgov("ledger", "verify", "--against", "no-such-branch")
    assert unknown.code == 2 and "unknown git revision 'no-such-branch'" in unknown.err

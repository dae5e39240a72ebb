"""The reviewer's path end to end through the real ``nbgov`` command in a real git repository:
edit -> status stale -> diff -> approve -> gate passes; plus the four-eyes rule."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from nbgov.core.config import load_config
from nbgov.services.review.state import require_approved

pytestmark = pytest.mark.integration

NB = "notebooks/train.ipynb"


def status_row(run, path: str = NB) -> dict:
    result = run("review", "status", "--json")
    assert result.code == 0, result.err
    return next(s for s in json.loads(result.out) if s["path"] == path)


def test_edit_stale_diff_approve_gate(project, nbgov, fixture_nb, bob):
    assert status_row(nbgov)["status"] == "unreviewed"
    first = nbgov("review", "approve", NB, "-m", "first look", "--reviewer", bob)
    assert first.code == 0, first.err
    approved = status_row(nbgov)
    assert approved["status"] == "approved"
    assert approved["last"]["reviewer"] == bob and approved["last"]["note"] == "first look"

    # Ada edits the notebook (the approval itself is not committed: the snapshot serves the diff)
    shutil.copy(fixture_nb("train--edited.ipynb"), project / NB)
    stale = status_row(nbgov)
    assert stale["status"] == "stale"
    assert stale["approved_version"] == approved["version"] != stale["version"]
    table = nbgov("review", "status").out
    assert "stale" in table and "LAST DECISION" in table

    text = nbgov("diff", NB)
    assert text.code == 0, text.err
    assert "-score = round(random.random() * C, 3)" in text.out
    assert "+score = round(random.random() * C * 2, 3)" in text.out
    machine = json.loads(nbgov("diff", NB, "--json").out)
    assert machine["approved_version"] == approved["version"]
    assert machine["current_version"] == stale["version"]
    assert machine["diff"], "a source change must show in the diff"

    gate = nbgov("review", "gate", NB)
    assert gate.code == 1
    assert f"{NB}: stale" in gate.err

    # Ada authored the change (uncommitted, so: the current git user): she may not approve it
    mine = nbgov("review", "approve", NB)
    assert mine.code != 0
    assert "Ada Author <ada@example.com>" in mine.err and "self-approval" in mine.err

    assert nbgov("review", "approve", NB, "--reviewer", bob).code == 0
    assert status_row(nbgov)["status"] == "approved"
    assert nbgov("review", "gate", NB).code == 0
    require_approved(load_config(project), [NB])  # the build's gate call passes too
    same = nbgov("diff", NB).out.strip()
    assert same.endswith(f"no changes since approved {stale['version'][5:17]}")

    log = json.loads(nbgov("review", "log", NB, "--json").out)
    assert [r["decision"] for r in log] == ["approved", "approved"]
    assert log[1]["dirty"] is True and log[1]["author"] == "Ada Author <ada@example.com>"
    verify = nbgov("ledger", "verify")
    assert verify.code == 0 and "2 record(s)" in verify.out


def test_self_approval_of_a_commit_names_its_author(project, nbgov):
    refused = nbgov("review", "approve", NB)
    assert refused.code == 1  # a refusal (the four-eyes rule), not bad input
    assert "authored by Ada Author <ada@example.com> (commit " in refused.err
    assert "allow_self_approval" in refused.err
    assert not (project / ".nbgov" / "reviews.jsonl").exists()


def test_uncommitted_changes_are_authored_by_the_current_user(
    project, nbgov, git_as_bob, fixture_nb, bob
):
    # Bob approves Ada's notebook, then changes it and commits; Ada's working copy changes it
    # again: Ada is the author now. (Without Bob's approval first, Ada could not approve Bob's
    # commit either: she changed the notebook since its last approval, i.e. ever.)
    assert nbgov("review", "approve", NB, "--reviewer", bob).code == 0
    shutil.copy(fixture_nb("train--edited.ipynb"), project / NB)
    git_as_bob(
        "commit",
        "-q",
        "-am",
        "Bob edits",
    )
    assert nbgov("review", "approve", NB, "--reviewer", bob).code == 1
    assert nbgov("review", "approve", NB).code == 0  # Ada approves Bob's commit
    (project / NB).write_text((project / NB).read_text().replace("seed = 0", "seed = 1"))
    refused = nbgov("review", "approve", NB)
    assert refused.code == 1 and "uncommitted changes" in refused.err
    assert nbgov("review", "approve", NB, "--reviewer", bob).code == 0


def test_self_approval_allowed_by_config_and_reviewer_from_env(project, nbgov):
    (project / "nbgov.toml").write_text("[review]\nallow_self_approval = true\n")
    assert nbgov("review", "approve", NB).code == 0
    other = nbgov("review", "comment", NB, "-m", "looks fine", env={"NBGOV_REVIEWER": "carol"})
    assert other.code == 0
    log = json.loads(nbgov("review", "log", NB, "--json").out)
    assert [(r["decision"], r["reviewer"]) for r in log] == [
        ("approved", "Ada Author <ada@example.com>"),
        ("comment", "carol"),
    ]


def test_request_changes_then_approve(project, nbgov, bob):
    assert nbgov("review", "request-changes", NB, "-m", "seed?", "--reviewer", bob).code == 0
    assert status_row(nbgov)["status"] == "changes-requested"
    assert nbgov("review", "comment", NB, "-m", "see thread", "--reviewer", bob).code == 0
    assert status_row(nbgov)["status"] == "changes-requested"
    assert nbgov("review", "approve", NB, "--reviewer", bob).code == 0
    assert status_row(nbgov)["status"] == "approved"


def test_outputs_only_change_keeps_approval_and_diff_hides_it(project, nbgov, fixture_nb, bob):
    assert nbgov("review", "approve", NB, "--reviewer", bob).code == 0
    shutil.copy(fixture_nb("train--executed.ipynb"), project / NB)  # outputs, counts, injected cell
    assert status_row(nbgov)["status"] == "approved"
    quiet = nbgov("diff", NB, "--json")
    assert json.loads(quiet.out)["diff"] == []
    noisy = nbgov("diff", NB, "--include-outputs")
    assert "0.422" in noisy.out


def test_diff_against_a_git_revision(project, nbgov, git, fixture_nb):
    shutil.copy(fixture_nb("train--edited.ipynb"), project / NB)
    git("commit", "-q", "-am", "double the score")
    result = nbgov("diff", NB, "--rev", "HEAD~1")
    assert result.code == 0, result.err
    assert "+score = round(random.random() * C * 2, 3)" in result.out
    assert json.loads(nbgov("diff", NB, "--rev", "HEAD", "--json").out)["diff"] == []
    missing = nbgov("diff", NB, "--rev", "no-such-rev")
    assert missing.code != 0 and "no-such-rev" in missing.err
    never = nbgov("diff", NB)
    assert never.code != 0 and "never approved" in never.err and "--rev" in never.err


def test_py_percent_twin_is_versioned_by_its_bytes(project, nbgov, fixture_nb):
    shutil.copy(fixture_nb("train.py"), project / "notebooks" / "train.py")
    out = nbgov("version", NB, "notebooks/train.py", "--json")
    versions = json.loads(out.out)
    # a .py file is what Python reads, not jupytext's cells (docs/security.md, R1)
    assert versions[NB].startswith("nbv1:") and versions["notebooks/train.py"] == "srcv2:" + hashlib.sha256(
        (project / "notebooks/train.py").read_bytes()).hexdigest()
    paths = [s["path"] for s in json.loads(nbgov("review", "status", "--json").out)]
    assert paths == ["notebooks/train.ipynb", "notebooks/train.py"]


def test_several_notebooks_are_decided_all_or_none(project, nbgov, git, git_as_bob, fixture_nb):
    shutil.copy(fixture_nb("train--edited.ipynb"), project / "notebooks" / "other.ipynb")
    git("add", ".")
    git_as_bob(
        "commit",
        "-q",
        "-m",
        "Bob adds other",
    )
    # Ada may approve Bob's notebook but not her own: the pair is refused as a whole
    refused = nbgov("review", "approve", "notebooks/other.ipynb", NB)
    assert refused.code == 1 and "notebooks/train.ipynb" in refused.err
    assert not (project / ".nbgov" / "reviews.jsonl").exists()
    both = nbgov("review", "comment", "notebooks/other.ipynb", NB, "-m", "read both")
    assert both.code == 0 and both.out.count("comment by Ada Author") == 2
    assert nbgov("review", "approve", "notebooks/other.ipynb").code == 0
    states = {s["path"]: s["status"] for s in json.loads(nbgov("review", "status", "--json").out)}
    assert states == {"notebooks/other.ipynb": "approved", NB: "unreviewed"}

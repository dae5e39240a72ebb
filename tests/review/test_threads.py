"""Cell comment threads (docs/security.md, R9): anchored to cell ids through edits, moves and
deletes; only the opener resolves; the thread gate; records moved or replayed count for no thread."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbgov.core.errors import LedgerError
from nbgov.core.ledger import new_record, parse_ledger
from nbgov.services.review.threads import fold

ADA = "Ada Author <ada@example.com>"


def _nb(project: Path) -> Path:
    return project / "notebooks" / "train.ipynb"


def _cells(project: Path, change) -> None:
    path = _nb(project)
    nb = json.loads(path.read_text())
    change(nb["cells"])
    path.write_text(json.dumps(nb, indent=1))


def _threads(nbgov) -> list[dict]:
    run = nbgov("review", "threads", "--json")
    assert run.code == 0, run.err
    return json.loads(run.out)


def test_thread_follows_its_cell_through_edit_move_and_delete(project: Path, nbgov, bob: str) -> None:
    run = nbgov("review", "comment", "notebooks/train.ipynb", "--cell", "a3", "-m", "why <b>this</b>?",
                "--reviewer", bob, "--json")
    assert run.code == 0, run.err
    tid = json.loads(run.out)["id"]
    assert nbgov("review", "comment", "--reply", tid[:8], "-m", "see a4", "--reviewer", ADA).code == 0

    def edit_and_move(cells):
        cell = next(c for c in cells if c["id"] == "a3")
        cell["source"] = "x = 1  # edited\n"
        cells.remove(cell)
        cells.append(cell)
    _cells(project, edit_and_move)
    [th] = _threads(nbgov)
    assert (th["id"], th["cell"], th["outdated"], th["resolved"]) == (tid, "a3", False, False)
    assert [c["text"] for c in th["comments"]] == ["why <b>this</b>?", "see a4"]

    _cells(project, lambda cells: cells.remove(next(c for c in cells if c["id"] == "a3")))
    [th] = _threads(nbgov)
    assert th["outdated"] is True
    assert "outdated" in nbgov("review", "threads").out

    bad = nbgov("review", "comment", "notebooks/train.ipynb", "--cell", "nope", "-m", "x", "--reviewer", bob)
    assert bad.code == 2 and "no cell with id 'nope'" in bad.err and "Traceback" not in bad.err


def test_only_the_opener_resolves_and_the_gate_waits_for_it(project: Path, nbgov, bob: str, git) -> None:
    tid = json.loads(nbgov("review", "comment", "notebooks/train.ipynb", "--cell", "a2", "-m", "check",
                           "--reviewer", bob, "--json").out)["id"]
    assert nbgov("review", "approve", "notebooks/train.ipynb", "--reviewer", bob).code == 0
    assert nbgov("review", "gate").code == 0  # threads do not gate unless asked
    refused = nbgov("review", "gate", "--require-resolved-threads")
    assert refused.code == 1 and f"thread {tid[:8]} on cell a2 open" in refused.err

    by_author = nbgov("review", "resolve", tid[:8], "--reviewer", ADA)
    assert by_author.code == 1 and "only the thread's author" in by_author.err
    assert nbgov("review", "gate", "--require-resolved-threads").code == 1

    # the setting, as a team would commit it
    config = project / "nbgov.toml"
    config.write_text(config.read_text() + "\n[review]\nrequire_resolved_threads = true\n")
    assert nbgov("review", "gate").code == 1
    assert nbgov("review", "resolve", tid[:8], "--reviewer", bob).code == 0
    ok = nbgov("review", "gate")
    assert ok.code == 0, ok.err
    [th] = _threads(nbgov)
    assert th["resolved"] and th["resolved_by"] == bob
    # thread records never change a status
    [state] = json.loads(nbgov("review", "status", "--json").out)
    assert state["status"] == "approved" and state["last"]["decision"] == "approved"  # not "resolve"


# -- R9 as a property: records moved to another notebook/cell, or replayed, count for no thread --

_V = "nbv1:" + "0" * 64
_PEOPLE = ["Ann <ann@x.org>", "Bob <bob@x.org>", "ann@x.org"]
_op = st.tuples(st.sampled_from(["thread", "reply", "resolve"]), st.sampled_from(["a.ipynb", "b.ipynb"]),
                st.sampled_from(["c1", "c2"]), st.sampled_from(_PEOPLE), st.integers(0, 5))


def _build(ops) -> list:
    records, opened = [], []
    for kind, nb, cell, who, pick in ops:
        prev = records[-1] if records else None
        if kind == "thread":
            rec = new_record(prev, notebook=nb, version=_V, decision="thread", reviewer=who, note="n", cell=cell,
                             at="2026-01-01T00:00:00Z")
            opened.append(rec)
        elif opened:
            th = opened[pick % len(opened)]
            rec = new_record(prev, notebook=th.notebook, version=_V, decision=kind, reviewer=who, note="r",
                             cell=th.cell, thread=th.nonce, at="2026-01-01T00:00:01Z")
        else:
            continue
        records.append(rec)
    return records


def _view(records) -> list:
    return [(t.id, t.notebook, t.cell, t.resolved_by, tuple(c["text"] for c in t.comments)) for t in fold(records)]


@settings(max_examples=60, deadline=None)
@given(st.lists(_op, max_size=12), st.integers(0, 20), st.sampled_from(["notebook", "cell", "replay"]))
def test_moved_or_replayed_records_change_no_thread(ops, pick, how) -> None:
    records = _build(ops)
    before = _view(records)
    for th in fold(records):  # only the opener resolves
        assert th.resolved_by is None or th.resolved_by.split("<")[-1].strip(">") in th.author
    answers = [r for r in records if r.decision in ("reply", "resolve")]
    if not answers:
        return
    victim = answers[pick % len(answers)]
    fields = victim.to_dict()
    if how == "notebook":
        fields["notebook"] = "b.ipynb" if victim.notebook == "a.ipynb" else "a.ipynb"
    elif how == "cell":
        fields["cell"] = "c2" if victim.cell == "c1" else "c1"
    copy = new_record(records[-1], **{k: fields[k] for k in ("notebook", "version", "decision", "reviewer", "note",
                                                             "at", "cell", "thread", "nonce")})
    assert _view([*records, copy]) == before


def test_a_thread_id_cannot_be_taken_over_by_a_record_reusing_its_nonce() -> None:
    """Final review, item 1: Ada inserts, before Bob's thread record, a thread record of her own with
    Bob's nonce on another notebook (or on Bob's cell) and resolves it: Bob's thread stays open,
    and the re-chained ledger does not parse (naming both records)."""
    bob = new_record(None, notebook="a.ipynb", version=_V, decision="thread", reviewer="Bob <bob@x.org>",
                     note="why?", cell="c1", at="2026-01-01T00:00:00Z")
    for where in [("b.ipynb", "c2"), ("a.ipynb", "c1")]:
        chain: list = []
        for fields in [dict(decision="thread", note="nit", nonce=bob.nonce),
                       dict(decision="resolve", note="done", thread=bob.nonce)]:
            chain.append(new_record(chain[-1] if chain else None, notebook=where[0], version=_V,
                                    reviewer="Ada <ada@x.org>", cell=where[1], at=bob.at, **fields))
        bobs = new_record(chain[-1], **{k: getattr(bob, k) for k in (
            "notebook", "version", "decision", "reviewer", "note", "cell", "at", "nonce")})
        records = [*chain, bobs]
        [open_] = [th for th in fold(records) if th.author == "Bob <bob@x.org>"]
        assert open_.resolved_by is None and open_.id == bob.nonce
        with pytest.raises(LedgerError, match="record 3 reuses the nonce of record 1"):
            parse_ledger("".join(r.to_line() for r in records))
    # a replay (the same record again) stays a repeat that counts once (I3), not an error
    again = new_record(bob, **{k: getattr(bob, k) for k in (
        "notebook", "version", "decision", "reviewer", "note", "cell", "at", "nonce")})
    assert len(parse_ledger(bob.to_line() + again.to_line())) == 2


def test_with_signatures_only_the_openers_exact_principal_resolves() -> None:
    """Final review, item 6: a login principal ``bob`` is not ``bob@contractor.example``."""
    opened = dataclasses.replace(new_record(None, notebook="a.ipynb", version=_V, decision="thread",
                                            reviewer="bob@contractor.example", note="why?", cell="c1",
                                            at="2026-01-01T00:00:00Z"), signer="bob@contractor.example")
    for who, closes in [("bob", False), ("BOB@contractor.example", True)]:
        res = dataclasses.replace(new_record(opened, notebook="a.ipynb", version=_V, decision="resolve",
                                             reviewer=who, note="", cell="c1", thread=opened.nonce,
                                             at="2026-01-01T00:00:01Z"), signer=who)
        [th] = fold([opened, res])
        assert (th.resolved_by is not None) == closes, who


def test_diff_shows_the_threads(project: Path, nbgov, bob: str) -> None:
    assert nbgov("review", "comment", "notebooks/train.ipynb", "--cell", "a4", "-m", "hm", "--reviewer", bob).code == 0
    run = nbgov("diff", "notebooks/train.ipynb", "--rev", "HEAD")
    assert run.code == 0, run.err
    assert "on notebooks/train.ipynb cell a4 (open, 1 comment(s))" in run.out


def _open_thread_on_a_branch(project: Path, nbgov, bob: str, git) -> str:
    """Turn the thread gate on (committed on main), then on branch ``pr`` open a thread on cell a2
    of notebooks/train.ipynb as ``bob`` and commit it; the thread's id."""
    config = project / "nbgov.toml"
    config.write_text(config.read_text() + "\n[review]\nrequire_resolved_threads = true\n")
    git("add", "-A")
    git("commit", "-qm", "threads gate")
    git("checkout", "-qb", "pr")
    tid = json.loads(nbgov("review", "comment", "notebooks/train.ipynb", "--cell", "a2", "-m", "check",
                           "--reviewer", bob, "--json").out)["id"]
    git("add", "-A")
    git("commit", "-qm", "a thread")
    return tid


def test_a_renamed_or_deleted_notebook_keeps_its_open_thread(project: Path, nbgov, bob: str, git) -> None:
    """Threads follow a rename (git's rename detection); on a deleted notebook they block as outdated;
    `nbgov review pr` gives the gate's verdict, threads included."""
    tid = _open_thread_on_a_branch(project, nbgov, bob, git)
    git("mv", "notebooks/train.ipynb", "notebooks/trained.ipynb")
    git("commit", "-qm", "rename")
    assert nbgov("review", "approve", "notebooks/trained.ipynb", "--reviewer", bob).code == 0
    refused = nbgov("review", "gate", "--base", "main")
    assert refused.code == 1, refused.err
    assert f"notebooks/trained.ipynb: thread {tid[:8]} on cell a2 open" in refused.err
    [th] = json.loads(nbgov("review", "threads", "notebooks/trained.ipynb", "--json").out)
    assert (th["id"], th["path"], th["moved_from"], th["outdated"]) == (tid, "notebooks/trained.ipynb",
                                                                       "notebooks/train.ipynb", False)
    # B: the report's verdict is the gate's, threads included
    report = json.loads(nbgov("review", "pr", "--base", "main", "--format", "json", "--no-results").out)
    assert report["gate"]["passes"] is False
    assert any(f"thread {tid[:8]}" in r for r in report["gate"]["reasons"])
    [target] = [t for t in report["targets"] if t["path"] == "notebooks/trained.ipynb"]
    assert [t["id"] for t in target["threads"]] == [tid]
    md = nbgov("review", "pr", "--base", "main", "--no-results").out
    assert "Gate: ✅" not in md and "1 comment thread(s) open" in md

    git("rm", "-q", "notebooks/trained.ipynb")
    gone = nbgov("review", "gate", "--base", "main")
    assert gone.code == 1 and f"thread {tid[:8]} on cell a2 open" in gone.err and "notebook is gone" in gone.err
    assert nbgov("review", "resolve", tid[:8], "--reviewer", bob).code == 0
    ok = nbgov("review", "gate", "--base", "main")
    assert "thread" not in ok.err, ok.err


def test_a_rename_with_a_symlink_left_at_the_old_path_keeps_the_thread_blocking(project: Path, nbgov, bob: str,
                                                                                git) -> None:
    """Final review, item 2: `git mv train train2; ln -s train2 train`: the symlink is not the
    notebook (the gate leaves symlinks out), so the thread is not left on it: the gate refuses."""
    tid = _open_thread_on_a_branch(project, nbgov, bob, git)
    git("mv", "notebooks/train.ipynb", "notebooks/train2.ipynb")
    (project / "notebooks" / "train.ipynb").symlink_to("train2.ipynb")
    git("add", "-A")
    git("commit", "-qm", "rename, symlink at the old path")
    assert nbgov("review", "approve", "notebooks/train2.ipynb", "--reviewer", bob).code == 0
    refused = nbgov("review", "gate", "--base", "main")
    assert refused.code == 1 and f"thread {tid[:8]} on cell a2 open" in refused.err, refused.err
    [th] = [t for t in _threads(nbgov) if t["id"] == tid]
    assert th["path"] != "notebooks/train.ipynb" and not th["resolved"]


def test_odd_file_names_are_gated_listed_and_reported(project: Path, nbgov, bob: str, git) -> None:
    """E: git lists paths with -z: a notebook named with non-ASCII, a tab or a newline is a target."""
    names = ["notebooks/café.ipynb", "notebooks/tab\there.ipynb", "notebooks/new\nline.ipynb", "notebooks/a[1].ipynb"]
    assert nbgov("review", "approve", "notebooks/train.ipynb", "--reviewer", bob).code == 0
    git("add", "-A")
    git("commit", "-qm", "approved")
    git("checkout", "-qb", "odd")
    for name in names:
        (project / name).write_bytes(_nb(project).read_bytes())
    listed = {s["path"] for s in json.loads(nbgov("review", "status", "--json").out)}
    assert set(names) <= listed, listed
    refused = nbgov("review", "gate")
    assert refused.code == 1 and all(f"{n}: unreviewed" in refused.err for n in names), refused.err
    git("add", "-A")
    git("commit", "-qm", "odd names")
    report = json.loads(nbgov("review", "pr", "--base", "main", "--format", "json", "--no-results").out)
    assert set(names) <= {t["path"] for t in report["targets"]}
    assert not report["gate"]["passes"] and set(names) <= set(report["gate"]["paths"])


def test_ci_files_are_trust_changes_called_out_first(project: Path, nbgov, git) -> None:
    """I: a changed CI definition is a trust change of the report, listed before all others."""
    git("checkout", "-qb", "ci")
    (project / ".github" / "workflows").mkdir(parents=True)
    (project / ".github" / "workflows" / "ci.yml").write_text("on: push\njobs: {}\n")
    (project / ".gitlab-ci.yml").write_text("job:\n  script: [true]\n")
    config = project / "nbgov.toml"
    config.write_text(config.read_text() + "\n[review]\nallow_self_approval = true\n")
    git("add", "-A")
    git("commit", "-qm", "ci")
    report = json.loads(nbgov("review", "pr", "--base", "main", "--format", "json", "--no-results").out)
    assert report["trust_changes"][:2] == [".github/workflows/ci.yml", ".gitlab-ci.yml"]
    assert "nbgov.toml" in report["trust_changes"]
    assert [t["path"] for t in report["targets"]][:2] == report["trust_changes"][:2]
    md = nbgov("review", "pr", "--base", "main", "--no-results").out
    assert md.index("CI files changed") < md.index("Trust settings changed")


def test_a_damaged_notebook_is_named_not_a_crash(project: Path, nbgov, bob: str, git) -> None:
    """J: an output that is not an object is reported as damaged (no traceback, the other
    targets still reported, the gate refuses it); the author stays out of "may approve" after an
    approval on the branch; --project naming no folder says so."""
    git("checkout", "-qb", "pr")
    good = project / "notebooks" / "good.ipynb"
    good.write_bytes(_nb(project).read_bytes())
    _cells(project, lambda cells: next(c for c in cells if c["cell_type"] == "code").update(outputs=["oops", 3]))
    git("add", "-A")
    git("commit", "-qm", "a damaged notebook")
    assert nbgov("review", "approve", "notebooks/good.ipynb", "--reviewer", bob).code == 0
    git("add", "-A")
    git("commit", "-qm", "approve good")
    run = nbgov("review", "pr", "--base", "main", "--format", "json", "--no-results")
    assert run.code == 0 and "Traceback" not in run.err, run.err
    report = json.loads(run.out)
    targets = {t["path"]: t for t in report["targets"]}
    assert "not an object" in targets["notebooks/train.ipynb"]["damaged"]
    assert targets["notebooks/good.ipynb"]["damaged"] is None
    assert "notebooks/train.ipynb" in report["gate"]["paths"] and "notebooks/good.ipynb" not in report["gate"]["paths"]
    assert targets["notebooks/good.ipynb"]["review"]["status"] == "approved"
    assert "Ada Author" in targets["notebooks/good.ipynb"]["review"]["may_approve"]  # the author, since the base
    md = nbgov("review", "pr", "--base", "main", "--no-results").out
    assert "damaged notebook at head" in md
    missing = nbgov("review", "pr", "--base", "main", "--project", "/nonexistent/folder")
    assert missing.code == 2 and "does not exist" in missing.err and "Traceback" not in missing.err


def test_checkouts_are_removed_on_sigterm_and_stale_ones_pruned(project: Path, git) -> None:
    """J: SIGTERM during the report removes its temporary work tree; one left by a run that died
    (its pid gone) is removed by the next run."""
    import os
    import signal
    import subprocess
    import sys
    import tempfile

    import pytest

    from nbgov.core.config import load_config
    from nbgov.services.review import pr

    seen = []
    with pytest.raises(SystemExit), pr._terminate_as_exit(), pr._checkout(project, "HEAD") as tree:
        seen.append(tree)
        os.kill(os.getpid(), signal.SIGTERM)
    assert seen and not seen[0].parent.exists() and "nbgov-pr-" not in git("worktree", "list")

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = Path(tempfile.mkdtemp(prefix="nbgov-pr-"))
    (stale / "pid").write_text(str(dead.pid))
    git("worktree", "add", "--detach", "-q", str(stale / "tree"), "HEAD")
    pr.pr_report(load_config(project), "HEAD")
    assert not stale.exists() and "nbgov-pr-" not in git("worktree", "list")

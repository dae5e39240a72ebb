"""An exported task's sources by commit (adapters/engines/fetch.py), without nbgov's CLI: a
fresh checkout per task from a cache of git objects, checked with the warm worker's
``checkout_problem`` (one function for both), removed afterwards."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from nbgov.adapters.engines import checkout, fetch, warm
from nbgov.core.errors import NbgovError


def _repo(root: Path) -> str:
    root.mkdir()
    for args in (["init", "-q", "-b", "main"], ["config", "user.email", "a@example.com"],
                 ["config", "user.name", "A"], ["config", "commit.gpgsign", "false"]):
        subprocess.run(["git", "-C", str(root), *args], check=True)
    (root / "pipeline.yaml").write_text("tasks: []\n")
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), "commit", "-qm", "one"], check=True)
    return checkout.head_commit(root)


def test_a_fresh_checkout_per_task_from_one_cache(tmp_path: Path):
    commit = _repo(tmp_path / "repo")
    assert warm.checkout_problem is checkout.checkout_problem is fetch.checkout_problem  # one check, not a copy
    first = fetch.fetch_checkout(str(tmp_path / "repo"), commit, tmp_path / "cache")
    second = fetch.fetch_checkout(str(tmp_path / "repo"), commit, tmp_path / "cache")
    assert first != second and first.parent == second.parent
    assert (first / "pipeline.yaml").read_text() == "tasks: []\n"
    assert checkout.head_commit(second) == commit
    fetch.drop_checkout(first)
    fetch.drop_checkout(second)
    assert not first.exists() and not second.exists() and not any(first.parent.iterdir())


def test_a_checkout_that_is_not_the_commit_is_refused_and_removed(tmp_path: Path, monkeypatch):
    commit = _repo(tmp_path / "repo")
    made = []

    def tampered(repo, rev, dest):  # someone else's file lands in the checkout before the check
        subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", "-q", str(dest), rev], check=True)
        (Path(dest) / "evil.py").write_text("import os\n")
        made.append(Path(dest))

    monkeypatch.setattr(fetch, "add_worktree", tampered)
    with pytest.raises(NbgovError, match=r"not commit .*differs from commit .*evil\.py"):
        fetch.fetch_checkout(str(tmp_path / "repo"), commit, tmp_path / "cache")
    assert made and not made[0].exists()


@pytest.mark.parametrize("repository,commit,message", [
    ("REPO", "main", "not a full git commit id"),
    ("REPO", "abc123", "not a full git commit id"),
    ("--upload-pack=touch /tmp/x", "a" * 40, "not a repository address"),
    ("", "a" * 40, "not a repository address"),
])
def test_what_cannot_be_fetched_safely_is_refused(tmp_path: Path, repository, commit, message):
    repo = str(tmp_path / "repo") if repository == "REPO" else repository
    with pytest.raises(NbgovError, match=message):
        fetch.fetch_checkout(repo, commit, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_the_tasks_folder_is_removed_unless_its_journal_waits(tmp_path: Path, monkeypatch, capsys):
    from nbgov.services.build import sources

    folder = tmp_path / "checkout"
    folder.mkdir()
    (folder / "nbgov.toml").write_text('experiment = "x"\ntracking_uri = "http://127.0.0.1:9"\n')
    dropped = []
    monkeypatch.setattr(sources, "fetch_checkout", lambda repository, commit, build=None: folder)
    monkeypatch.setattr(sources, "drop_checkout", dropped.append)
    with sources.fetched_project("REPO", "a" * 40, needs_files=False) as root:
        assert root == folder
    assert dropped == [folder]

    with sources.fetched_project("REPO", "a" * 40, needs_files=False):
        journal = folder / ".nbgov/journal"
        journal.mkdir(parents=True)
        (journal / "b-1.1234.jsonl").write_text("")  # runs the tracking server has not got
    assert dropped == [folder] and f"kept the task's checkout {folder}" in capsys.readouterr().err

    (folder / "nbgov.toml").write_text('experiment = "x"\n')  # the embedded store: in the folder
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(NbgovError, match="a store on this worker"):
        with sources.fetched_project("REPO", "a" * 40, needs_files=False):
            pass

    # a build's products must travel through storage: the spec is read as data, nothing of it runs
    (folder / "nbgov.toml").write_text('experiment = "x"\ntracking_uri = "http://127.0.0.1:9"\n')
    (folder / "pipeline.yaml").write_text("clients:\n  SQLScript: db.get\ntasks: []\n")
    with pytest.raises(NbgovError, match="keeps its products in the task's checkout"):
        with sources.fetched_project("REPO", "a" * 40):
            pass
    (folder / "pipeline.yaml").write_text("clients:\n  File: storage.get\ntasks: []\n")
    with sources.fetched_project("REPO", "a" * 40):
        pass


def test_a_failed_fetch_is_remembered_for_the_builds_other_tasks(tmp_path: Path, monkeypatch):
    """Each exported or cold task is a process of its own: the failure is kept in the cache (per
    commit and build) for FETCH_RETRY_S, so the build's later tasks fail at once with its line
    instead of each waiting for git; another build, or after that while, fetches again."""
    commit = _repo(tmp_path / "repo")
    missing = str(tmp_path / "gone")  # no repository there: git cannot fetch
    calls = []
    real = fetch._run

    def counting(repo, *args, **kw):
        calls.append(args[0])
        return real(repo, *args, **kw)

    monkeypatch.setattr(fetch, "_run", counting)
    cache = tmp_path / "cache"
    with pytest.raises(NbgovError, match="cannot fetch the project's sources") as first:
        fetch.fetch_checkout(missing, commit, cache, build="b1")
    assert "earlier task" not in first.value.message and calls.count("fetch") == 2
    calls.clear()
    with pytest.raises(NbgovError, match=r"an earlier task's fetch failed \d+ s ago") as again:
        fetch.fetch_checkout(missing, commit, cache, build="b1")
    assert again.value.message.startswith(first.value.message) and again.value.hint == first.value.hint
    assert calls == []  # not even the lock's git: nothing ran
    with pytest.raises(NbgovError) as other:  # another build tries for itself
        fetch.fetch_checkout(missing, commit, cache, build="b2")
    assert "earlier task" not in other.value.message and "fetch" in calls
    monkeypatch.setattr(fetch, "FETCH_RETRY_S", 0)  # the while is over: b1 tries again
    calls.clear()
    with pytest.raises(NbgovError) as later:
        fetch.fetch_checkout(missing, commit, cache, build="b1")
    assert "earlier task" not in later.value.message and "fetch" in calls
    # the repository appears at that address: the next try fetches, and forgets the failure
    subprocess.run(["git", "clone", "-q", "--bare", str(tmp_path / "repo"), missing], check=True)
    good = fetch.fetch_checkout(missing, commit, cache, build="b1")
    assert checkout.head_commit(good) == commit
    fetch.drop_checkout(good)
    markers = sorted(m.name for m in (cache / "sources").glob("*/failed/*.json"))
    assert markers == [f"{commit}-{hashlib.sha256(b'b2').hexdigest()[:16]}.json"]  # b1's forgotten, b2's kept


def test_a_killed_tasks_journal_goes_only_to_its_own_store_and_sent_means_sent(tmp_path: Path, monkeypatch, capsys):
    """Twelfth attack round, 06: the next task on a worker sends a dead checkout's journal only
    when its runs belong to the store this task records in (a staging run is not sent to
    production), and says "sent" only when the store took everything."""
    from nbgov.core.journal import Journal, journal_folder
    from nbgov.services.build import sources
    from nbgov.services.recording import sync as sync_module

    checkouts = tmp_path / "checkouts"
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    def checkout(name: str, store: str | None) -> Path:
        folder = checkouts / name
        folder.mkdir(parents=True)
        (folder / "nbgov.toml").write_text(f'experiment = "x"\ntracking_uri = "{store or "http://127.0.0.1:7"}"\n')
        if store is not None or name == "old":
            journal = Journal(journal_folder(folder), f"{name}-1")
            journal.hold()
            fields = {"store": store} if store is not None else {}
            journal.append("build_opened", key="k", **fields)
            journal.release()  # its writer is gone
        return folder

    new = checkout("new", None)
    staging = checkout("staging", "http://127.0.0.1:8001")
    old = checkout("old", None)  # an older nbgov's journal: no store named
    (new / "nbgov.toml").write_text('experiment = "x"\ntracking_uri = "http://user:pw@127.0.0.1:8002"\n')
    same = checkout("same", "http://127.0.0.1:8002")  # credentials are never written in a journal
    synced, reports = [], [sync_module.SyncReport(failed=[("same-1", "RESOURCE_DOES_NOT_EXIST")]),
                           sync_module.SyncReport(runs_sent=1)]

    def fake_sync(config, wait=60, resend=False, say=None):
        synced.append(config.root.name)
        report = reports.pop(0)
        if not report.failed:
            for path in journal_folder(config.root).glob("*.jsonl"):
                path.unlink()
        return report

    monkeypatch.setattr(sync_module, "sync", fake_sync)
    dropped = []
    monkeypatch.setattr(sources, "drop_checkout", dropped.append)

    assert sources.send_what_killed_tasks_left(new) == 0
    err = capsys.readouterr().err
    assert synced == ["same"] and dropped == []
    assert f"left what a killed task left in {staging}: its runs belong to http://127.0.0.1:8001" in err
    assert f"left what a killed task left in {old}: its runs belong to an unnamed store" in err
    assert f"could not send what a killed task left in {same} (same-1: RESOURCE_DOES_NOT_EXIST)" in err
    assert "sent what a killed task left" not in err.replace("could not send what", "")
    assert "pw" not in err

    assert sources.send_what_killed_tasks_left(new) == 1
    assert f"nbgov: sent what a killed task left in {same}" in capsys.readouterr().err
    assert synced == ["same", "same"] and dropped == [same]

    # thirteenth round, 04: its journal names this task's store, but its checkout's own settings
    # would send it elsewhere: left, with the command that names the store
    other_settings = checkout("settings", "http://127.0.0.1:8002")
    (other_settings / "nbgov.toml").write_text('experiment = "x"\ntracking_uri = "http://127.0.0.1:8003"\n')
    assert sources.send_what_killed_tasks_left(new) == 0
    err = capsys.readouterr().err
    assert synced == ["same", "same"]
    assert "that checkout's settings would send them to http://127.0.0.1:8003" in err
    assert f"MLFLOW_TRACKING_URI=http://127.0.0.1:8002 nbgov sync --project {other_settings}" in err

"""What a build takes from files a commit can bring (docs/security.md, J8-J10), in process:

- J8: a journal git tracks is not this machine's: never sent, never used to write records;
- J9: every path read from a journal (artifacts, record_path) stays inside the project;
- J10: a governed build never skips as fresh a task whose record or product git tracks, or
  whose recorded run the tracking store does not have.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from tests.faults.fakestore import FakeStore

from nbgov.core.atomic import private_dir
from nbgov.core.digest import file_digest
from nbgov.core.errors import NbgovError, StateLinkError
from nbgov.core.journal import BUILD_ID_RULE, Journal, journal_folder
from nbgov.core.journal_states import set_record_aside
from nbgov.core.lock import build_lock
from nbgov.services.build.options import BuildOptions
from nbgov.services.recording.recorder import Recorder
from nbgov.services.recording.sender import Sender, SendState, stage_artifacts, staged_name
from nbgov.services.recording.sync import machine_journals, restore_records, sync, sync_journals


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "products").mkdir(parents=True)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.email", "a@example.com")
    _git(root, "config", "user.name", "A")
    (root / ".gitignore").write_text("products/\n.nbgov/journal/\nmlflow.db\n")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "base")
    return root


def _config(root: Path, db: Path | None = None) -> SimpleNamespace:
    return SimpleNamespace(root=root, secrets_policy="redact", section=lambda name: {},
                           resolved_tracking_uri=lambda: f"sqlite:///{db or root / 'mlflow.db'}")


def _record(task: str, products: dict, run_id: str | None = None) -> dict:
    return {"schema": "nbgov.lineage-record/1", "task": task, "notebook": {}, "params": {}, "upstream": [],
            "inputs": [], "git": {}, "environment": {}, "started": None, "ended": None, "duration_s": 1.0,
            "outcome": "succeeded", "run_key": f"b1/{task}", "run_id": run_id, "products": products}


def _journal(root: Path, artifacts: list, record_path: str | None = None, record: dict | None = None) -> Journal:
    journal = Journal(journal_folder(root), "b1.x")
    journal.append("build_opened", key="build:b1", name="build b1")
    journal.append("task_started", key="b1.x/a", task="a", name="a", parent_key="build:b1")
    journal.append("task_finished", key="b1.x/a", task="a", outcome="ran", status="FINISHED",
                   metrics={"f1": 0.999}, artifacts=artifacts, record=record, record_path=record_path)
    journal.append("build_closed", key="build:b1", status="FINISHED")
    journal.release()
    return journal


def test_a_journal_git_tracks_is_never_sent_nor_restored(project: Path):
    """J8: a committed journal (``git add -f``) sends no run and writes no record; the same
    journal, no longer tracked, is sent (the check is what stops it)."""
    (project / "products/a.txt").write_text("10")
    record = _record("a", {"data": {"path": "products/a.txt", "digest": file_digest(project / "products/a.txt")}})
    _journal(project, [], "products/a.lineage.json", record)
    _git(project, "add", "-f", ".nbgov/journal")
    store = FakeStore()
    report = sync_journals(_config(project), store)
    assert store.active() == [] and report.restored == [] and not (project / "products/a.lineage.json").exists()
    assert list(report.refused) == ["b1.x"]
    assert any("git tracks .nbgov/journal/b1.x.jsonl" in line for line in report.problems())
    _git(project, "rm", "-rq", "--cached", ".nbgov/journal")
    report = sync_journals(_config(project), store)
    assert report.refused == {} and report.runs_sent == 1 and report.restored == ["products/a.lineage.json"]


def test_a_committed_journal_behind_a_linked_journal_folder_is_neither_listed_nor_synced(project: Path):
    """J8, round 7 #12: ``.nbgov/journal -> ../products/jrnl`` committed with the journal under
    it: ``git ls-files .nbgov/journal`` names only the link. Git is asked by the resolved path
    too (the journal is refused), and a sync refuses the link before anything else."""
    _journal(project, [{"path": ".env", "dir": "products", "digest": None}])
    (project / ".nbgov/journal").rename(project / "products/jrnl")
    (project / ".nbgov/journal").symlink_to("../products/jrnl")
    _git(project, "add", "-f", ".nbgov/journal", "products/jrnl")
    refused: dict[str, str] = {}
    assert machine_journals(project, refused) == [] and list(refused) == ["b1.x"]
    assert refused["b1.x"].startswith("products/jrnl/b1.x")
    with pytest.raises(StateLinkError) as err:
        sync(_config(project), wait=0)
    assert ".nbgov/journal is a symbolic link (to ../products/jrnl)" in str(err.value)
    assert "remove it" in str(err.value) and "\n" not in str(err.value)


def test_nothing_is_written_nor_chmodded_through_a_linked_state_folder(project: Path, tmp_path: Path):
    """Round 7 #08: committed ``.nbgov/cache`` / ``.nbgov/journal`` (or ``.nbgov``) links leading
    out of the project: a build's lock refuses them, and ``private_dir`` (lstat, O_NOFOLLOW)
    neither creates nor chmods anything through them."""
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o755)
    (project / ".nbgov").mkdir()
    (project / ".nbgov/cache").symlink_to(outside)
    for path in (project / ".nbgov/cache", project / ".nbgov/cache/sub"):
        with pytest.raises(StateLinkError, match="cache is a symbolic link"):
            private_dir(path)
    assert list(outside.iterdir()) == [] and outside.stat().st_mode & 0o777 == 0o755
    with pytest.raises(StateLinkError, match="cache is a symbolic link"):
        build_lock(project)
    (project / ".nbgov/cache").unlink()
    build_lock(project)  # real folders (or none yet): fine
    (project / ".nbgov").rename(tmp_path / "state")
    (project / ".nbgov").symlink_to(tmp_path / "state")
    with pytest.raises(StateLinkError, match=r"\.nbgov is a symbolic link"):
        private_dir(project / ".nbgov/journal/x.files")
    assert not (tmp_path / "state/journal").exists()


def test_artifact_paths_from_a_journal_stay_inside_the_project(project: Path, tmp_path: Path):
    """J9: an absolute path, ``..``, a symlink leaving the project, a folder the journal does
    not call a folder product, a staged copy's ``dir`` of ``..``: none is uploaded or copied."""
    secret = tmp_path / "home-ssh"
    secret.mkdir()
    (secret / "credentials").write_text("password")
    (project / "products/link").symlink_to(secret / "credentials")
    (project / "products/folder").mkdir()
    (project / "products/model.pkl").write_bytes(b"ok")
    items = [{"path": str(secret), "dir": "products"}, {"path": "../home-ssh/credentials", "dir": "products"},
             {"path": "products/link", "dir": "products"}, {"path": ".", "dir": "products"},
             {"path": "products/folder", "dir": "products", "digest": "sha256:0"},
             {"path": "products/model.pkl", "dir": "../../../../x",
              "digest": file_digest(project / "products/model.pkl")}]
    journal = _journal(project, items)
    event = {"seq": 3, "artifacts": items}
    out, changed = Sender(FakeStore(), project)._artifacts(SendState(journal), event)
    assert [p for p, _ in out] == [project / "products/model.pkl"]
    assert sum("refused: not a file of the project" in c for c in changed) == 5
    assert stage_artifacts(journal, event, project) == 1  # only the project's own file is kept
    staged = [p for p in journal.files.rglob("*") if p.is_file()]
    assert [p.is_relative_to(journal.files) for p in staged] == [True]
    assert staged_name(3, {"path": "/", "dir": ".."}) == "3/files/_"


def test_record_paths_from_a_journal_stay_inside_the_project(project: Path, tmp_path: Path):
    """J9: a journaled ``record_path`` (or product path) leaving the project is never written
    nor moved; an ordinary one still is."""
    outside = tmp_path / "escaped.json"
    config = _config(project)
    nbgov_toml = project / ".gitignore"  # any file of the project with a known digest
    record = _record("a", {"nb": {"path": ".gitignore", "digest": file_digest(nbgov_toml)}})
    journal = _journal(project, [], "../escaped.json", record)
    assert restore_records(config, [journal]) == [] and not outside.exists()
    outside.write_text('{"run_key": "b1.x/a"}')
    assert set_record_aside(project, "../escaped.json", "b1.x/a") is None and outside.exists()
    record["products"] = {"nb": {"path": "../escaped.json", "digest": file_digest(outside)}}
    other = Journal(journal_folder(project), "b2.x")
    other.append("task_finished", key="b2.x/a", task="a", outcome="ran", record=record,
                 record_path="products/a.lineage.json")
    other.release()
    assert restore_records(config, [other]) == []  # its product is outside: not vouched for
    record["products"] = {"nb": {"path": ".gitignore", "digest": file_digest(nbgov_toml)}}
    other.append("task_finished", key="b2.x/a", task="a", outcome="ran", record=record,
                 record_path="products/a.lineage.json")
    other.release()
    assert restore_records(config, [other]) == ["products/a.lineage.json"]


def _store_with(db: Path, run_ids: list[str]) -> None:
    """A store holding ``run_ids`` (the table ``missing_runs`` reads)."""
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE runs (run_uuid TEXT, lifecycle_stage TEXT)")
    con.executemany("INSERT INTO runs VALUES (?, 'active')", [(r,) for r in run_ids])
    con.commit()
    con.close()


def test_a_governed_build_skips_only_records_of_this_machine_with_their_run_in_the_store(project: Path):
    """J10: a record (or product) git tracks, a record whose run the store lacks, or names no
    run: not fresh. A record of this machine whose run the store has: trusted."""
    from nbgov.services.build.gate import content_check
    from nbgov.services.build.trust import distrusted

    _store_with(project / "mlflow.db", ["run-here"])
    tasks = {}
    for name, run_id in [("here", "run-here"), ("gone", "run-elsewhere"), ("none", None), ("committed", "run-here")]:
        product = project / "products" / f"{name}.pkl"
        product.write_bytes(name.encode())
        record = project / "products" / f"{name}.lineage.json"
        record.write_text(__import__("json").dumps(_record(name, {"model": {"path": f"products/{name}.pkl",
                                                                             "digest": file_digest(product)}}, run_id)))
        tasks[name] = SimpleNamespace(name=name, record=record, products={"model": product}, kind="notebook",
                                      upstream=[], params={}, notebook_product=None, source_file=None)
    _git(project, "add", "-f", "products/committed.pkl")
    untrusted = distrusted(_config(project), list(tasks.values()), ("link", "input"))
    assert set(untrusted) == {"gone", "none", "committed"}
    assert "git tracks products/committed.pkl" in untrusted["committed"]
    assert "run-elsewhere" in untrusted["gone"] and "not in the tracking store" in untrusted["gone"]
    check = content_check(_config(project), list(tasks.values()), untrusted=set(untrusted))
    assert check("committed", set()) is False and check("gone", set()) is False
    # a store that does not answer cannot confirm a run: not fresh either
    assert set(distrusted(_config(project, project / "nope" / "x.db"), [tasks["here"]])) == {"here"}


@pytest.mark.parametrize("value", ["../../x", "..", ".hidden", "a/b", "x\n", "x" * 129])
def test_a_build_id_that_is_not_a_plain_name_is_refused(project: Path, value: str):
    """Round 7 #19: ``--build-id ../../x`` (or ``NBGOV_BUILD_ID``) named the journal, its lock and
    its copies outside the project. Refused, naming the value and the rule, before any file."""
    for make in (lambda: BuildOptions(build_id=value), lambda: Recorder(_config(project), [], build_id=value)):
        with pytest.raises(NbgovError) as err:
            make()
        assert repr(value) in str(err.value) and BUILD_ID_RULE in str(err.value) and "\n" not in str(err.value)
    assert not (project / ".nbgov").exists()
    assert BuildOptions(build_id="manual__2024-01-01T00:00:00+00:00").build_id.startswith("manual")

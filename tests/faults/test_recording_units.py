"""The recording core's pieces, without kernels: the journal, the lock, store checks, clear
errors for damaged input, MLflow-safe names, a store that moved with its project."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from nbgov.core.errors import ParameterError, PipelineError, TrackingError
from nbgov.core.journal import AppendLog, Journal, open_journals, retire
from nbgov.core.lock import LockHeldError, ProjectLock


def test_journal_appends_durably_and_drops_only_a_torn_last_line(tmp_path: Path):
    journal = Journal(tmp_path, "b1.abc")
    first = journal.append("build_opened", key="build:b1")
    second = journal.append("task_started", key="b1.abc/a", task="a")
    assert (first["seq"], second["seq"]) == (1, 2) and second["build_id"] == "b1"
    with open(journal.path, "ab") as fh:  # a writer killed mid-line
        fh.write(b'1234abcd {"seq": 3, "event": "task_fin')
    assert [e["seq"] for e in journal.events()] == [1, 2]
    journal.release()  # its writer ends: another may take the journal over (one writer at a time)
    assert Journal(tmp_path, "b1.abc").append("build_closed", key="build:b1")["seq"] == 3
    # a damaged line in the middle is skipped and counted, the rest still read
    lines = journal.path.read_bytes().split(b"\n")
    lines[0] = lines[0].replace(b"build_opened", b"build_OPENED")  # checksum no longer matches
    journal.path.write_bytes(b"\n".join(lines))
    events, damaged = AppendLog(journal.path).read()
    assert [e["seq"] for e in events] == [2, 3] and damaged == 2  # the edited line and the torn one


def test_journal_confirmations_and_retire(tmp_path: Path):
    journal = Journal(tmp_path, "b2.abc")
    event = journal.append("build_opened", key="build:b2")
    journal.confirm(event["seq"], key="build:b2", run_id="r1")
    assert journal.confirmations()[1]["run_id"] == "r1"
    assert [j.build_id for j in open_journals(tmp_path.parent)] == []  # not the project layout
    retire(journal)
    assert not journal.path.exists() and (tmp_path / "done" / "b2.abc.jsonl").exists()


def test_unknown_event_is_a_programming_error(tmp_path: Path):
    with pytest.raises(ValueError, match="unknown journal event"):
        Journal(tmp_path, "b").append("task_exploded")


def test_lock_names_its_holder_and_is_released_when_the_holder_dies(tmp_path: Path):
    path = tmp_path / ".nbgov" / "build.lock"
    code = (f"import sys,time; sys.path.insert(0, {str(Path(__file__).parents[2] / 'src')!r});"
            "from nbgov.core.lock import ProjectLock; from pathlib import Path;"
            f"l = ProjectLock(Path({str(path)!r})); l.acquire(command='nbgov build'); print('held', flush=True);"
            "time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockHeldError) as info:
            ProjectLock(path).acquire(wait=0.3)
        assert f"pid {holder.pid}" in info.value.message and "nbgov build" in info.value.message
        assert "--wait" in info.value.hint and info.value.exit_code == 2
    finally:
        holder.kill()  # SIGKILL: the kernel releases the flock
        holder.wait()
    lock = ProjectLock(path)
    lock.acquire(wait=5)
    assert lock.holder()["pid"] == os.getpid()
    lock.release()


def test_empty_parameter_value_is_refused_and_quoted_empty_is_the_empty_string():
    from nbgov.core.params import parse_assignment

    with pytest.raises(ParameterError, match="empty value") as info:
        parse_assignment("a.x=", dotted=True)
    assert "a.x=''" in info.value.hint
    assert parse_assignment("a.x=''", dotted=True) == ("a", "x", "")


def test_non_utf8_spec_or_env_is_named_not_a_traceback(tmp_path: Path):
    from nbgov.adapters.ploomber import Pipeline

    (tmp_path / "pipeline.yaml").write_text("tasks: []\n")
    (tmp_path / "env.yaml").write_bytes(b"seed: 1\nname: caf\xe9\n")
    with pytest.raises(PipelineError) as info:
        Pipeline(tmp_path / "pipeline.yaml")
    assert "not UTF-8" in info.value.message and "0xe9" in info.value.message
    assert info.value.where.path == tmp_path / "env.yaml" and info.value.where.line == 2


def test_damaged_sqlite_store_is_a_tracking_error(tmp_path: Path):
    from nbgov.adapters.mlflow.stores import check_reachable

    db = tmp_path / "mlflow.db"
    db.write_bytes(os.urandom(4096))
    with pytest.raises(TrackingError, match="is damaged") as info:
        check_reachable(f"sqlite:///{db}")
    assert "nbgov build --force" in info.value.hint


def test_header_only_batch_is_refused_before_running(tmp_path: Path):
    from nbgov.services.models.monitor import batch_columns

    batch = tmp_path / "b.csv"
    batch.write_text("mean_radius,target\n\n")
    with pytest.raises(ParameterError, match="no rows"):
        batch_columns(batch)
    batch.write_text("mean_radius,target\n1.0,0\n")
    assert batch_columns(batch) == ["mean_radius", "target"]


def test_glue_names_mlflow_refuses_are_sanitized():
    from nbgov.services.recording.rundata import mlflow_name

    assert mlflow_name("f1 (macro)") == "f1 _macro_"
    assert mlflow_name("acc@k=5") == "acc_k_5"
    assert mlflow_name("train/loss.v2") == "train/loss.v2"
    assert mlflow_name("") == "_"


def test_a_copied_project_points_its_store_at_its_own_mlruns(tmp_path: Path):
    from nbgov.adapters.mlflow.stores import relocate_embedded_store

    old, new = tmp_path / "old", tmp_path / "new"
    new.mkdir()
    db = new / "mlflow.db"
    con = sqlite3.connect(db)
    con.executescript(
        "CREATE TABLE experiments (artifact_location TEXT);"
        "CREATE TABLE runs (artifact_uri TEXT);"
        "CREATE TABLE model_versions (source TEXT, storage_location TEXT);")
    con.execute("INSERT INTO experiments VALUES (?)", ((old / "mlruns").as_uri(),))
    con.execute("INSERT INTO runs VALUES (?)", ((old / "mlruns").as_uri() + "/r1/artifacts",))
    con.execute("INSERT INTO runs VALUES (?)", ("s3://bucket/elsewhere",))
    con.execute("INSERT INTO model_versions VALUES (?, ?)", ((old / "mlruns").as_uri() + "/r1/artifacts/model",
                                                            "mlflow-artifacts:/x"))
    con.commit()
    con.close()
    assert relocate_embedded_store(db, new) == old.as_uri()
    con = sqlite3.connect(db)
    runs = [r for (r,) in con.execute("SELECT artifact_uri FROM runs")]
    assert runs == [(new / "mlruns").as_uri() + "/r1/artifacts", "s3://bucket/elsewhere"]
    assert con.execute("SELECT source FROM model_versions").fetchone()[0].startswith((new / "mlruns").as_uri())
    assert con.execute("SELECT artifact_location FROM experiments").fetchone()[0] == (new / "mlruns").as_uri()
    con.close()
    assert relocate_embedded_store(db, new) is None  # already home: nothing to do


def test_a_started_task_without_an_end_in_a_closed_journal_is_ended_killed(tmp_path: Path):
    """Found by the fault campaign: a SIGINT landing right after the task_started fsync left a
    closed journal whose task never finished, and its run RUNNING forever."""
    from nbgov.core.journal_states import close_orphan, examine

    journal = Journal(tmp_path, "b3.abc")
    journal.append("build_opened", key="build:b3", pid=2 ** 22 + 12345, host="elsewhere-never")
    journal.append("task_started", key="b3.abc/a", task="a", parent_key="build:b3", start_ms=1)
    journal.append("build_closed", key="build:b3", status="KILLED")
    journal.release()  # its writer ended
    assert close_orphan(examine(journal)) == (["a (build b3)"], [])
    ends = [e for e in journal.events() if e["event"] == "task_finished"]
    assert [(e["key"], e["status"]) for e in ends] == [("b3.abc/a", "KILLED")]
    assert sum(e["event"] == "build_closed" for e in journal.events()) == 1  # not closed twice
    assert close_orphan(examine(journal)) == ([], [])  # idempotent


def test_a_build_id_with_dots_is_kept_whole(tmp_path: Path):
    """Airflow's run ids hold fractional seconds ("manual__2026-11-29T08:49:24.635550+00:00"): the
    journal's own suffix is split off at the last dot only, or one engine run made two parents."""
    journal = Journal(tmp_path, "manual__2026-11-29T08:49:24.635550+00:00.ab12cd34")
    assert journal.append("build_opened", key="k")["build_id"] == "manual__2026-11-29T08:49:24.635550+00:00"


def test_a_server_that_accepts_and_never_answers_fails_within_seconds():
    """A hung tracking server (it accepts connections, never replies) is found by the store
    check in about its answer timeout, not after MLflow's request timeout twice over; a 5xx
    (a proxy in front of a dead server) is not usable; any other answer is alive."""
    import http.server
    import socket
    import threading
    import time

    import pytest

    from nbgov.adapters.mlflow.stores import reachable
    from nbgov.core.errors import TrackingError

    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(8)
    try:
        t0 = time.monotonic()
        with pytest.raises(TrackingError, match="did not answer within 1 s"):
            reachable(f"http://127.0.0.1:{hole.getsockname()[1]}", answer_timeout=1.0)
        assert time.monotonic() - t0 < 5
    finally:
        hole.close()

    answers = {"code": 503}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            answers["path"] = self.path
            self.send_response(answers["code"])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    uri = f"http://127.0.0.1:{server.server_address[1]}/mlflow/"
    try:
        with pytest.raises(TrackingError, match="answered HTTP 503"):
            reachable(uri)
        assert answers["path"] == "/mlflow/health"
        answers["code"] = 404  # a proxy or auth layer that answers: the server is there
        reachable(uri)
    finally:
        server.shutdown()
        server.server_close()


def test_sync_writes_a_record_the_killed_build_journaled_but_never_wrote(tmp_path: Path):
    """A build killed between journaling a task's end and writing its lineage record: sync
    writes the record from the journal, only while the products still hold its digests, and
    never over an existing record."""
    from types import SimpleNamespace

    from nbgov.core.digest import file_digest
    from nbgov.core.lineage import read_record
    from nbgov.services.recording.sync import restore_records

    (tmp_path / "products").mkdir()
    data = tmp_path / "products/a.txt"
    data.write_text("10")
    record = {"schema": "nbgov.lineage-record/1", "task": "a", "notebook": {}, "params": {"x": 1},
              "upstream": [], "inputs": [], "git": {}, "environment": {}, "started": None, "ended": None,
              "duration_s": 1.0, "outcome": "succeeded", "run_key": "b1/a",
              "products": {"data": {"path": "products/a.txt", "digest": file_digest(data)}}}
    journal = Journal(tmp_path / ".nbgov/journal", "b1.x")
    journal.append("task_finished", key="b1/a", task="a", outcome="ran", record=record,
                   record_path="products/a.lineage.json")
    config = SimpleNamespace(root=tmp_path)
    target = tmp_path / "products/a.lineage.json"
    data.write_text("changed since")  # the products are not that run's any more: no record
    assert restore_records(config, [journal]) == [] and not target.exists()
    data.write_text("10")
    assert restore_records(config, [journal]) == ["products/a.lineage.json"]
    assert read_record(target).run_key == "b1/a"
    target.write_text('{"newer": true}')  # a record is there: never overwritten
    assert restore_records(config, [journal]) == [] and target.read_text() == '{"newer": true}'
    journal.confirm(1)  # the store has it: its record was written before it was sent
    target.unlink()
    assert restore_records(config, [journal]) == []


def _health_server(status: int):
    """A real HTTP server on 127.0.0.1 answering GET /health with ``status`` (a thread)."""
    import http.server
    import threading

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize("store", ["answers", "frozen"])
def test_the_build_end_waits_for_a_slow_store_not_for_a_frozen_one(tmp_path: Path, monkeypatch, store: str):
    """At the build's end the upload process has taken nothing for a while: a server that still
    answers /health is only slow (waited for), one that does not is frozen (the process is
    killed, the journal keeps the rest)."""
    import socket
    import time

    from nbgov.services.recording import uploader as up

    monkeypatch.setattr(up, "STALL_S", 0.5)
    if store == "answers":
        server = _health_server(200)
        uri = f"http://127.0.0.1:{server.server_address[1]}"
    else:
        hole = socket.socket()  # accepts connections, never answers: a SIGSTOPped server
        hole.bind(("127.0.0.1", 0))
        hole.listen(8)
        uri = f"http://127.0.0.1:{hole.getsockname()[1]}"
    u = up.Uploader({"root": str(tmp_path), "uri": uri}, {})
    u._process = subprocess.Popen(["sleep", "8"])  # an upload process busy with one request
    u._progress = time.monotonic() - 60
    t0 = time.monotonic()
    u.close(timeout=60)
    took = time.monotonic() - t0
    if store == "answers":
        server.shutdown()
        assert took >= 7.5 and u.offline_reason is None  # waited until it was done
        assert u._process.returncode == 0
    else:
        hole.close()
        assert took < 7 and u._process.returncode == -9  # health timeout 5 s, then killed
        assert "did not answer within 5 s" in u.offline_reason and "nothing taken for" in u.offline_reason

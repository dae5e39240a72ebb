"""A cold cluster build's driver keeps the lineage records (services.build.coldrun), without a
cluster: which tasks it submits, the upstream runs and the hand-back a task's subprocess gets,
and the records it writes (or refuses to) after checking the stored products."""

from __future__ import annotations

import json
from pathlib import Path

from nbgov.adapters.engines.dask import PYTHON, RemoteOutcome, RemoteTask, run_task
from nbgov.adapters.engines.warm import WORKER_ROOT_VAR
from nbgov.adapters.ploomber import TaskInfo
from nbgov.core.digest import file_digest
from nbgov.core.lineage import (
    HAND_BACK_VAR,
    UPSTREAM_RUNS_VAR,
    LineageRecord,
    handed_upstream_runs,
    read_record,
    write_record,
)
from nbgov.services.build.coldrun import hand_back, must_run, take_back, upstream_runs
from nbgov.services.build.options import TaskSummary

FETCH = ["--commit", "c" * 40, "--repository", "file:///nowhere.git"]


def _info(root: Path, name: str, upstream=(), outdated=False) -> TaskInfo:
    return TaskInfo(name, root / f"{name}.ipynb", {"nb": root / f"products/{name}.ipynb",
                                                   "data": root / f"products/{name}.txt"},
                    {}, list(upstream), outdated=outdated, notebook_product=root / f"products/{name}.ipynb")


def _record(name: str, run_id: str, digest: str | None) -> LineageRecord:
    return LineageRecord(task=name, notebook={}, params={}, upstream=[], inputs=[],
                         products={"data": {"path": f"products/{name}.txt", "digest": digest}}, git={},
                         environment={}, started=None, ended=None, duration_s=None, outcome="succeeded",
                         run_id=run_id, run_key=f"build/{name}")


def test_the_driver_submits_only_what_must_run(tmp_path: Path):
    # a -> b -> c, d alone
    infos = [_info(tmp_path, "a"), _info(tmp_path, "b", ["a"]), _info(tmp_path, "c", ["b"]),
             _info(tmp_path, "d", outdated=True)]
    verdicts = {"a": True, "b": True, "c": True, "d": None}
    check = lambda name, ran: verdicts[name]  # noqa: E731
    names = ["a", "b", "c", "d"]
    assert must_run(infos, names, check) == ["d"]  # Ploomber's status when the content check cannot judge
    verdicts["b"] = False
    assert must_run(infos, names, check) == ["b", "c", "d"]  # downstream of a task that runs runs too
    assert must_run(infos, ["a", "c"], check) == []  # (b not selected: c judged on its own)
    assert must_run(infos, names, check, force=True) == names
    verdicts["d"] = True
    assert must_run(infos, ["a", "d"], check) == []


def test_upstream_runs_come_from_the_drivers_records_and_from_upstream_outcomes(tmp_path: Path):
    infos = [_info(tmp_path, "a"), _info(tmp_path, "b", ["a"])]
    assert upstream_runs(infos, "b", []) == {}  # no record of a here
    write_record(_record("a", "run-a", None), infos[0].record)
    assert upstream_runs(infos, "b", []) == {"a": ["run-a", "build/a"]}
    assert upstream_runs(infos, "b", ["a"]) == {}  # a runs in this build: its outcome names the run


def test_handed_upstream_runs_take_plain_strings_only():
    ok = {HAND_BACK_VAR: "1",
          UPSTREAM_RUNS_VAR: json.dumps({"a": ["r1", "k1"], "b": [None, None], "c": [1, "k"], "d": "r"})}
    assert handed_upstream_runs(ok) == {"a": ("r1", "k1"), "b": (None, None)}
    assert handed_upstream_runs({HAND_BACK_VAR: "1", UPSTREAM_RUNS_VAR: "not json"}) == {}
    assert handed_upstream_runs({}) == {}
    # a variable left in a user's shell (no cold cluster subprocess) names no upstream run
    assert handed_upstream_runs({UPSTREAM_RUNS_VAR: ok[UPSTREAM_RUNS_VAR]}) == {}


# a stand-in for `nbgov build --json`: says the two variables it got, and hands a record back
ECHO = ("import json, os; print(json.dumps({'tasks': [{'task': 't', 'outcome': 'ran', 'run_id': 'run-t', "
        f"'error': json.dumps([os.environ.get({HAND_BACK_VAR!r}), json.loads(os.environ[{UPSTREAM_RUNS_VAR!r}])])}}], "
        "'records': {'t': {'task': 't', 'run_id': 'run-t'}}}))")


def test_a_task_in_another_checkout_hands_its_record_back(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(WORKER_ROOT_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    upstream = RemoteOutcome("a", "ran", run_id="run-a", extra={"record": {"run_id": "run-a", "run_key": "B/a"}})
    task = RemoteTask("t", ["a"], [PYTHON, "-c", ECHO, "--", "t"], list(FETCH), {"z": ["run-z", None]})
    outcome = run_task(task, "/the/drivers/folder", {}, upstream)
    assert json.loads(outcome.error) == ["1", {"z": ["run-z", None], "a": ["run-a", "B/a"]}]
    assert outcome.extra["record"] == {"task": "t", "run_id": "run-t"}
    # in the driver's own folder (shared disk): the subprocess wrote its record there itself
    task.fetch = []
    outcome = run_task(task, str(tmp_path), {}, upstream)
    assert json.loads(outcome.error)[0] is None and "record" not in outcome.extra


def test_a_subprocess_hands_back_its_records_only_when_asked(tmp_path: Path, monkeypatch):
    infos = [_info(tmp_path, "a")]
    write_record(_record("a", "run-a", None), infos[0].record)
    summaries = [TaskSummary("a", "ran", 1.0, "run-a")]
    monkeypatch.delenv(HAND_BACK_VAR, raising=False)
    assert hand_back(infos, summaries) == {}
    monkeypatch.setenv(HAND_BACK_VAR, "1")
    assert hand_back(infos, summaries)["a"]["run_id"] == "run-a"


class _Storage:
    """A pipeline whose File client holds ``stored`` (product path -> text)."""

    has_file_client = True

    def __init__(self, infos, stored: dict[str, str]):
        self.infos, self.stored = {t.name: t for t in infos}, stored

    def download_products(self, name: str) -> None:
        for path in self.infos[name].products.values():
            if str(path) in self.stored:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(self.stored[str(path)])


def test_the_driver_keeps_a_handed_back_record_whose_products_are_in_storage(tmp_path: Path):
    infos = [_info(tmp_path, "a"), _info(tmp_path, "b", ["a"])]
    made = tmp_path / "made.txt"
    made.write_text("10")
    storage = _Storage(infos, {str(infos[0].products["data"]): "10", str(infos[1].products["data"]): "overwritten"})
    outcomes = [RemoteOutcome("a", "ran", run_id="run-a", extra={"record": _record("a", "run-a",
                                                                                     file_digest(made)).to_dict()}),
                RemoteOutcome("b", "ran", run_id="run-b", worker="w1",
                              extra={"record": _record("b", "run-b", file_digest(made)).to_dict()})]
    take_back(storage, infos, outcomes)
    assert read_record(infos[0].record).run_id == "run-a" and outcomes[0].outcome == "ran"
    assert infos[0].products["data"].read_text() == "10"  # downloaded: the next build judges it
    # b's stored product is not what its run made: failed, no record (it runs again next time)
    assert outcomes[1].outcome == "failed" and "products/b.txt in storage is not the one" in outcomes[1].error
    assert read_record(infos[1].record) is None
    # a record of another task, or without a File client to vouch for the products: not kept
    other = [RemoteOutcome("b", "ran", run_id="run-b", extra={"record": _record("a", "run-b", None).to_dict()})]
    take_back(storage, infos, other)
    assert other[0].outcome == "failed" and read_record(infos[1].record) is None
    storage.has_file_client = False
    ok = [RemoteOutcome("b", "ran", run_id="run-b", extra={"record": _record("b", "run-b", None).to_dict()})]
    take_back(storage, infos, ok)
    assert ok[0].outcome == "ran" and read_record(infos[1].record) is None

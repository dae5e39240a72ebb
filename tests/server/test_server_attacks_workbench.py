"""The workbench routes against the independent attack round (docs/security.md W2, W3, W5, W7,
W8): task names read as options, two builds at once, a tracking password in replies, lineage
targets looked up in the server's working folder or through symlinks, and non-object bodies.

A real Jupyter server (pytest-jupyter), but no real build: ``subproc.start`` is replaced by a
fake child that records its argv (the real build is tested in test_server_builds.py)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path

import pytest
from tests.conftest import free_port
from tests.server.conftest import PIPELINE

from nbgov.server import builds


class _FakeChild:
    """What ``asyncio.create_subprocess_exec`` returns, for a build that ends when told."""

    def __init__(self) -> None:
        self.stdout, self.stderr = asyncio.StreamReader(), asyncio.StreamReader()
        self.returncode: int | None = None
        self.pid = None  # stop() is replaced too: nothing is ever signalled
        self._end = asyncio.Event()

    async def wait(self) -> int:
        await self._end.wait()
        return self.returncode or 0

    def end(self) -> None:
        if self._end.is_set():
            return
        self.returncode = self.returncode if self.returncode is not None else 0
        for stream in (self.stdout, self.stderr):
            stream.feed_eof()
        self._end.set()


@pytest.fixture
def children(monkeypatch):
    """Every build the server starts: (argv, fake child); each ended at teardown."""
    started: list[tuple[list[str], _FakeChild]] = []

    async def start(argv, cwd, merge=True):
        await asyncio.sleep(0.2)  # a child takes time to start: the window of item 2
        child = _FakeChild()
        started.append((list(argv), child))
        return child

    async def stop(child, grace_s=0.0):
        child.returncode = -2  # never a signal: the fake has no process group
        child.end()
        return child.returncode

    monkeypatch.setattr(builds.subproc, "start", start)
    monkeypatch.setattr(builds.subproc, "stop", stop)
    builds._JOBS.clear()
    yield started
    for _, child in started:
        child.end()
    builds._JOBS.clear()


def _dashed_pipeline(root: Path, name: str) -> None:
    (root / "pipeline.yaml").write_text(
        PIPELINE + f"  - source: notebooks/train.ipynb\n    name: '{name}'\n"
                   "    product:\n      nb: products/dashed.ipynb\n")


@pytest.mark.parametrize("name", ["--no-require-approved", "--project=/outside/proj"])
async def test_a_task_name_is_never_an_option(api, jp_root_dir, children, name):
    _dashed_pipeline(jp_root_dir, name)
    status, reply = await api("build", method="POST", body={"tasks": [name]})
    assert status == 400 and "starts with '-'" in reply["message"], reply
    assert children == []
    # a name that is a task: after `--`, so `nbgov build` can never read it as an option
    status, reply = await api("build", method="POST", body={"tasks": ["load"], "downstream": True})
    assert status == 202, reply
    (argv, _), = children
    assert argv[argv.index("--"):] == ["--", "load"] and "--downstream" in argv[:argv.index("--")]


async def test_two_builds_at_once_start_one(api, jp_root_dir, children):
    replies = await asyncio.gather(*(api("build", method="POST", body={"tasks": ["load"]})
                                     for _ in range(3)))
    assert sorted(status for status, _ in replies) == [202, 409, 409], replies
    assert len(children) == 1
    # the one started is the one the panel sees and can cancel
    status, job = await api("build")
    assert status == 200 and job["state"] == "running", job
    started = next(reply for status, reply in replies if status == 202)
    assert job["id"] == started["id"]


async def test_a_cancel_while_the_build_starts_is_409_then_cancels(api, jp_root_dir, children):
    started, cancel = await asyncio.gather(
        api("build", method="POST", body={"tasks": ["load"]}),
        api("build/cancel", method="POST", body={}))
    assert started[0] == 202, started
    assert cancel[0] == 409, cancel  # never a 500 on the reserved, not yet started job
    status, job = await api("build/cancel", method="POST", body={})
    assert status == 200 and job["state"] == "cancelled", job


async def test_a_refused_request_gives_the_slot_back(api, jp_root_dir, children):
    status, _ = await api("build", method="POST", body={"tasks": ["nosuch"]})
    assert status == 400
    status, _ = await api("build")
    assert status == 404  # no job was left behind by the refused one
    status, reply = await api("build", method="POST", body={"tasks": ["load"]})
    assert status == 202, reply


@pytest.mark.parametrize("route", ["build", "plan", "build/cancel"])
@pytest.mark.parametrize("body", ["[]", "null", "{\"path\": [\"a\"]}"])
async def test_a_body_that_is_not_an_object_is_400(jp_fetch, jp_root_dir, children, route, body):
    from tornado.httpclient import HTTPClientError

    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch("nbgov", "api", route, method="POST", body=body)
    assert refused.value.code == 400, (route, body)
    assert children == []


@pytest.mark.parametrize("secret", ["alice:S3cretPW@", "?access_token=S3cretPWtoken1"])
async def test_no_tracking_password_in_replies(api, jp_root_dir, monkeypatch, caplog, secret):
    """W7, and the final review's item 5: a token in the URI's query is masked like a password
    (runs' UI link and store error, compare and lineage errors, the server log)."""
    port = free_port()
    uri = (f"http://{secret}127.0.0.1:{port}" if secret.endswith("@") else f"http://127.0.0.1:{port}/{secret}")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    status, body = await api("runs", params={"task": "load"})
    assert status == 200, body
    assert "S3cretPW" not in json.dumps(body) and "alice" not in json.dumps(body), body
    assert body["ui"]["url"].startswith("http://127.0.0.1:"), body["ui"]
    replies = [body]
    for route, params in [("compare", {"task": "load", "a": "a" * 32, "b": "b" * 32}),
                          ("lineage", {"target": "load"})]:
        replies.append((await api(route, params=params))[1])
    text = json.dumps(replies) + caplog.text
    assert "S3cretPW" not in text, text
    assert "[nbgov] GET" in caplog.text, caplog.text


async def test_lineage_replies_carry_no_server_path_or_password(api, jp_root_dir, monkeypatch):
    from nbgov.services.lineage import query

    def fake(config, target, base=None, own_runs_only=False):
        return {"target": {"text": target, "kind": "product"}, "nodes": {},
                "tracking_uri": f"sqlite:///{config.root}/mlflow.db"}

    monkeypatch.setattr(query, "lineage", fake)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://alice:S3cretPW@127.0.0.1:1")
    (jp_root_dir / "products").mkdir()
    (jp_root_dir / "products" / "data.csv").write_text("a\n1\n")
    status, body = await api("lineage", params={"target": "products/data.csv"})
    assert status == 200, body
    text = json.dumps(body)
    assert str(jp_root_dir) not in text and "S3cretPW" not in text, body
    assert body["target"]["text"] == "products/data.csv"
    assert body["tracking_uri"] == "sqlite:///mlflow.db"


async def test_a_store_error_names_no_server_path(api, jp_root_dir, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("store-elsewhere")
    (jp_root_dir / "nbgov.toml").write_text(
        (jp_root_dir / "nbgov.toml").read_text() + f'tracking_uri = "file://{elsewhere}/x/mlruns"\n')
    (elsewhere / "x").write_text("a file where the store's folder should be")
    status, body = await api("runs", params={"task": "load"})
    assert status in (200, 503), body
    assert str(elsewhere) not in json.dumps(body) and str(jp_root_dir) not in json.dumps(body), body


async def test_a_lineage_target_is_never_looked_up_in_the_working_folder(
        api, jp_root_dir, tmp_path_factory, monkeypatch):
    cwd = tmp_path_factory.mktemp("server-cwd")
    (cwd / "secret.csv").write_text("outside the root\n")
    monkeypatch.chdir(cwd)
    status, body = await api("lineage", params={"target": "secret.csv"})
    assert status == 404, body
    assert "does not exist" in body["message"], body  # never read: no digest of it


def test_a_folder_target_refuses_symlinks_out_and_fifos(tmp_path):
    from nbgov.core.errors import LineageError
    from nbgov.services.lineage.query import _confined_digest

    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "products").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.txt").write_text("x")
    (root / "products" / "ok.txt").write_text("y")
    assert _confined_digest(root / "products", root).startswith("sha256:")
    (root / "products" / "link").symlink_to(outside / "secret.txt")
    with pytest.raises(LineageError, match="symbolic link leading outside"):
        _confined_digest(root / "products", root)
    (root / "products" / "link").unlink()
    os.mkfifo(root / "products" / "pipe")
    with pytest.raises(LineageError, match="not a regular file"):
        _confined_digest(root / "products", root)
    with pytest.raises(LineageError, match="not a regular file"):
        _confined_digest(root / "products" / "pipe", root)
    with pytest.raises(LineageError, match="outside the server root"):
        _confined_digest(outside / "secret.txt", root)


async def test_configuration_is_never_read_on_the_event_loop(api, jp_root_dir, children, monkeypatch):
    from nbgov.server import paths

    threads: list[str] = []
    real = paths.load_config

    def spy(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(paths, "load_config", spy)
    nb = "notebooks/load.ipynb"
    for route, params in [("info", None), ("pipeline", None), ("review", {"path": nb}),
                          ("diff", {"path": nb}), ("runs", {"task": "load"}), ("build", None),
                          ("lineage", {"target": "load"}), ("threads", {"path": nb}),
                          ("models", None)]:
        await api(route, params=params)
    for route, body in [("build", {"tasks": ["load"]}), ("build/cancel", {}),
                        ("review", {"path": nb, "decision": "approve"}),
                        ("models/promote", {"model": "models:/m/1", "alias": "champion"})]:
        await api(route, method="POST", body=body)
    assert threads, "no configuration was read"
    on_loop = [t for t in threads if t == threading.main_thread().name]
    assert not on_loop, threads


def test_a_cluster_worker_reads_its_task_as_a_name():
    from nbgov.services.build.cluster import _task_argv
    from nbgov.services.build.options import BuildOptions

    argv = _task_argv("--no-require-approved", "b1", BuildOptions(require_approved=True))
    assert argv[-2:] == ["--", "--no-require-approved"]
    assert "--require-approved" in argv[:-2] and "--no-require-approved" not in argv[:-2]


def test_the_lineage_of_another_experiments_run_is_not_served(tmp_path):
    from types import SimpleNamespace

    from nbgov.core.errors import LineageError
    from nbgov.services.lineage import query

    theirs, ours = "a" * 32, "b" * 32
    record = {"run_id": theirs, "task": "secret-task"}

    class Store:
        uri = "http://127.0.0.1:1"

        def run(self, run_id):
            return {"run_id": run_id, "experiment_id": "7" if run_id == theirs else "1",
                    "name": "x", "tags": {}}

        def experiment_ids(self, experiment):
            return ["1"] if experiment == "ours" else []

        def record(self, run_id):
            return {**record, "run_id": run_id}

    records = SimpleNamespace(by_run={}, config=SimpleNamespace(experiment="ours"), store=Store(),
                              fetch=lambda run_id: (Store().record(run_id), "mlflow"))
    with pytest.raises(LineageError, match="project's experiment"):
        query._run_starts(records, theirs, own_runs_only=True)
    assert query._run_starts(records, ours, own_runs_only=True)[0][0]["run_id"] == ours
    assert query._run_starts(records, theirs)[0][0]["run_id"] == theirs  # the CLI: any run


async def test_products_outside_the_root_are_never_read(api, jp_root_dir):
    outside = jp_root_dir.parent / "outside"
    outside.mkdir()
    (outside / "data.csv").write_text("a\n1\n")
    (jp_root_dir / "pipeline.yaml").write_text(
        PIPELINE + f"  - source: notebooks/train.ipynb\n    name: far\n    product:\n"
                   f"      nb: ../outside/far.ipynb\n      data: {outside}/data.csv\n")
    status, body = await api("pipeline")
    assert status == 200, body
    far = next(t for t in body["tasks"] if t["name"] == "far")
    assert far["state"] == "outside the server root" and far["last_run"] is None, far
    assert far["products"] == {"nb": "far.ipynb", "data": "data.csv"}, far
    assert str(outside) not in json.dumps(body) and str(jp_root_dir) not in json.dumps(body)
    load = next(t for t in body["tasks"] if t["name"] == "load")
    assert load["state"] == "never-run" and load["products"]["data"] == "products/data.csv"

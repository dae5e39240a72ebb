"""Workers that fetch the build's commit (``nbgov build --cluster ADDR --repository URL``), without
a cluster: which workers fetch, the cold subprocess's command line, a warm worker's fetch and its
one-line failure (real git repositories in temp folders), a failed fetch remembered a while
(a fake clock)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.cluster.s3project import git

from nbgov.adapters.engines import fetch
from nbgov.adapters.engines.dask import PYTHON, RemoteTask, run_task
from nbgov.adapters.engines.fetch import CACHE_VAR, FETCH_RETRY_S, WorkerSources
from nbgov.adapters.engines.warm import WORKER_ROOT_VAR, WarmWorker, compare, environment_facts, shares_folder
from nbgov.core.config import load_config
from nbgov.core.errors import NbgovError, ParameterError
from nbgov.services.build import BuildOptions, build

SHA = "c" * 40
FETCH = ["--commit", SHA, "--repository", "file:///nowhere.git"]
# a stand-in for `nbgov build`: its --json summary says the argv and folder it was given
ECHO = ("import json, os, sys; print(json.dumps({'tasks': [{'task': 't', 'outcome': 'ran', "
        "'error': json.dumps([sys.argv[1:], os.getcwd()])}]}))")


def test_workers_without_a_checkout_of_their_own_fetch(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(WORKER_ROOT_VAR, raising=False)
    driver = {**environment_facts(str(tmp_path)), "commit": "a" * 40}
    worker = environment_facts("/not/on/this/worker", fetching=True)
    assert worker["fetch"] and compare(driver, worker) == (None, None) and not shares_folder(driver, worker)
    older = {**worker, "packages": {**worker["packages"], "ploomber": "0.1"}}
    assert compare(driver, older)[1].startswith("ploomber 0.1")  # cold, still fetching
    monkeypatch.setenv(WORKER_ROOT_VAR, str(tmp_path))  # a checkout of its own: checked as before
    assert "fetch" not in environment_facts(str(tmp_path), fetching=True)


def test_a_cold_task_fetches_in_its_subprocess_unless_the_worker_has_a_checkout(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(WORKER_ROOT_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    task = RemoteTask("t", [], [PYTHON, "-c", ECHO, "--", "t"], list(FETCH))
    outcome = run_task(task, "/the/drivers/folder", {})
    assert outcome.outcome == "ran"
    assert json.loads(outcome.error) == [[*FETCH, "--", "t"], str(tmp_path)]  # before `--`, in the worker's folder
    monkeypatch.setenv(WORKER_ROOT_VAR, str(tmp_path))  # its own checkout (the driver's path here): no fetch
    assert json.loads(run_task(task, str(tmp_path), {}).error) == [["--", "t"], str(tmp_path)]
    monkeypatch.delenv(WORKER_ROOT_VAR)
    failing = RemoteTask("t", [], [PYTHON, "-c", "import sys; sys.exit('error: cannot fetch the sources')", "--",
                                   "t"], list(FETCH))
    outcome = run_task(failing, "/the/drivers/folder", {})
    assert outcome.outcome == "failed"
    assert outcome.error == f"on worker {outcome.worker}: error: cannot fetch the sources"


def _project(root: Path) -> str:
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "pipeline.yaml").write_text("tasks: []\n")
    git(root, "add", "-A")
    git(root, "-c", "user.name=A", "-c", "user.email=a@example.com", "-c", "commit.gpgsign=false", "commit", "-qm", "p")
    return git(root, "rev-parse", "HEAD").strip()


def test_a_warm_worker_fetches_once_and_says_why_it_cannot(tmp_path: Path, monkeypatch):
    monkeypatch.setenv(CACHE_VAR, str(tmp_path / "cache"))
    commit = _project(tmp_path / "origin")
    plugin = WarmWorker("/the/drivers/folder", "/the/drivers/folder/pipeline.yaml", False, "v",
                        (str(tmp_path / "origin"), commit))
    plugin._sources = WorkerSources(*plugin.source)  # what setup() makes on a worker without NBGOV_WORKER_ROOT
    assert plugin.own_checkout()
    assert plugin.fetch_sources("tcp://w:1") is None
    checkout = plugin.worker_root()
    assert checkout.is_relative_to(tmp_path / "cache") and git(checkout, "rev-parse", "HEAD").strip() == commit
    assert plugin.fetch_sources("tcp://w:1") is None and plugin.worker_root() == checkout  # kept for later tasks
    plugin.teardown()
    assert not checkout.exists()

    plugin._sources = WorkerSources(str(tmp_path / "origin"), "d" * 40)
    why = plugin.fetch_sources("tcp://w:1")
    assert why == (f"worker tcp://w:1 could not fetch the build's sources: the repository {tmp_path / 'origin'} "
                   f"has no commit dddddddddddd (not pushed?)")
    plugin._sources = WorkerSources(str(tmp_path / "nowhere"), commit)
    assert plugin.fetch_sources("tcp://w:1").startswith("worker tcp://w:1 could not fetch the build's sources: "
                                                        "cannot fetch the project's sources from")


def test_a_failed_fetch_is_remembered_a_while_for_the_builds_later_tasks(tmp_path: Path, monkeypatch):
    now = [1000.0]
    calls: list[str] = []
    outcomes = [NbgovError("cannot fetch the project's sources from file:///x.git: fatal: unreachable", hint="h"),
                NbgovError("refused: the fetched sources are not commit cccccccccccc: a.py differs"),
                tmp_path]

    def fake_fetch(repository: str, commit: str) -> Path:
        calls.append(commit)
        out = outcomes[len(calls) - 1]
        if isinstance(out, Exception):
            raise out
        return out

    monkeypatch.setattr(fetch, "monotonic", lambda: now[0])
    monkeypatch.setattr(fetch, "fetch_checkout", fake_fetch)
    plugin = WarmWorker("/the/drivers/folder", "/the/drivers/folder/pipeline.yaml", False, "v",
                        ("file:///x.git", SHA))
    plugin._sources = WorkerSources(*plugin.source)
    first = plugin.fetch_sources("tcp://w:1", "build-1")
    assert first == ("worker tcp://w:1 could not fetch the build's sources: cannot fetch the project's sources "
                     "from file:///x.git: fatal: unreachable") and len(calls) == 1
    now[0] += 12.4  # the build's later tasks on this worker: at once, the same line, said remembered
    assert plugin.fetch_sources("tcp://w:1", "build-1") == (
        f"{first} (an earlier task's fetch failed 12 s ago; retried after {FETCH_RETRY_S} s)")
    with pytest.raises(NbgovError) as again:
        plugin._sources.get("build-1")
    assert again.value.hint == "h" and "\n" not in again.value.message and len(calls) == 1
    # after FETCH_RETRY_S it tries again; fetched sources that are not the commit: remembered the same way
    now[0] += FETCH_RETRY_S
    refused = plugin.fetch_sources("tcp://w:1", "build-1")
    assert refused == "refused on worker tcp://w:1: the fetched sources are not commit cccccccccccc: a.py differs"
    assert len(calls) == 2
    now[0] += FETCH_RETRY_S - 1
    assert plugin.fetch_sources("tcp://w:1", "build-1") == (
        f"{refused} (an earlier task's fetch failed {FETCH_RETRY_S - 1} s ago; retried after {FETCH_RETRY_S} s)")
    assert len(calls) == 2
    # another build (the commit pushed since?) tries at once; a success is kept and forgets the failure
    monkeypatch.setattr("nbgov.adapters.engines.warm.private_bytecode", lambda root: None)
    assert plugin.fetch_sources("tcp://w:1", "build-2") is None and len(calls) == 3
    assert plugin.worker_root() == tmp_path and plugin._sources._failed is None
    assert plugin.fetch_sources("tcp://w:1", "build-2") is None and len(calls) == 3


def test_repository_without_a_cluster_is_refused(tmp_path: Path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "pipeline.yaml").write_text("tasks: []\n")
    with pytest.raises(ParameterError, match="--repository names where a cluster's workers fetch"):
        build(load_config(tmp_path), BuildOptions(repository="file:///x.git", cluster="none"))

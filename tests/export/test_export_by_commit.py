"""Exported tasks share nothing (issue 28): each fetches the project by the export's commit into
a folder of its own and moves products through the pipeline's File client (moto's S3 on
127.0.0.1), recording in a real `mlflow server`. The commands are the ones the engine runs:
Airflow's ``bash_command`` rendered by Jinja with a run id (Argo's container argv with the
workflow uid is the same argv); each runs in an empty working folder with a cache of its own.
Products and lineage digests equal a local build's; sources or a commit that cannot be had are
refused in one line."""

from __future__ import annotations

import ast
import json
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from tests.build.conftest import mlflow_runs, run_cli
from tests.cluster.daskprocs import product_digests
from tests.cluster.s3project import git, tiny_s3_project
from tests.conftest import free_port
from tests.export.conftest import nbgov_env, run
from tests.faults.conftest import start_mlflow_server
from tests.faults.conftest import stop as stop_server

from nbgov.core.digest import file_digest

pytestmark = pytest.mark.integration

RUN_ID = "manual__2026-12-07T10:00:00+00:00"  # Airflow's kind of run id (':' and '+' in it)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(project, its origin, environment reaching S3 and the tracking server, S3 client)."""
    import boto3
    from moto.server import ThreadedMotoServer

    base = tmp_path_factory.mktemp("bycommit")
    s3_port, mlflow_port = free_port(), free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=s3_port, verbose=False)
    moto.start()
    server = start_mlflow_server(base / "tracking", mlflow_port)
    env = {"NBGOV_TEST_S3": f"http://127.0.0.1:{s3_port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{mlflow_port}", "PLOOMBER_STATS_ENABLED": "false"}
    s3 = boto3.client("s3", endpoint_url=env["NBGOV_TEST_S3"], aws_access_key_id="testing",
                      aws_secret_access_key="testing", region_name="us-east-1")
    s3.create_bucket(Bucket="nbgov")
    root = tiny_s3_project(base / "project")
    origin = base / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(root), str(origin)], check=True)
    git(root, "remote", "add", "origin", str(origin))
    git(root, "fetch", "-q", "origin")
    try:
        yield root, origin, env, s3
    finally:
        stop_server(server)
        moto.stop()


def _worker(base: Path, name: str, env: dict, prefix: str) -> tuple[Path, dict]:
    """An empty working folder and the environment of a worker of its own (its own cache)."""
    folder = base / name
    folder.mkdir()
    return folder, nbgov_env({**env, "NBGOV_CACHE_DIR": str(base / f"cache-{name}"), "NBGOV_TEST_PREFIX": prefix})


def _airflow_commands(dag: str) -> dict[str, str]:
    """task id -> bash_command as Airflow renders it (Jinja, the run id filled in)."""
    import jinja2

    out = {}
    for node in ast.walk(ast.parse(dag)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "BashOperator":
            kw = {k.arg: k.value for k in node.keywords}
            out[kw["task_id"].value] = jinja2.Environment().from_string(kw["bash_command"].value).render(
                run_id=RUN_ID)
    return out


def _lineage(uri: str, build_id: str) -> tuple[object, dict[str, dict]]:
    """(the build's parent run, task -> its lineage record read from the tracking server)."""
    from mlflow.tracking import MlflowClient

    runs = mlflow_runs(uri, "tiny")
    (parent,) = [r for r in runs if r.data.tags.get("nbgov.kind") == "build"
                 and r.data.tags.get("nbgov.build_id") == build_id]
    client = MlflowClient(tracking_uri=uri)
    records = {}
    for child in (r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id):
        records[child.data.tags["nbgov.task"]] = json.loads(Path(
            client.download_artifacts(child.info.run_id, "nbgov/lineage.json")).read_text())
    return parent, records


def _digests(records: dict[str, dict]) -> dict[str, dict[str, str]]:
    return {task: {k: v["digest"] for k, v in rec["products"].items() if not v["path"].endswith(".ipynb")}
            for task, rec in records.items()}


def test_exported_tasks_build_in_folders_of_their_own_through_storage(world, tmp_path: Path):
    root, origin, env, s3 = world
    commit = git(root, "rev-parse", "HEAD").strip()
    dag_file = tmp_path / "dags" / "tiny.py"
    exported = run_cli(root, "export", "airflow", "-o", str(dag_file), env=env)
    assert exported.returncode == 0, exported.stderr
    assert "note:" not in exported.stderr  # the commit is on origin's branch
    commands = _airflow_commands(dag_file.read_text())
    assert f"--commit {commit} --repository {origin}" in commands["a"]
    assert "PROJECT = None" in dag_file.read_text()  # no shared project folder

    # the engine's commands, each in an empty folder of its own with a cache of its own
    for task in ["nbgov-open-build", "a", "b", "c", "nbgov-close-build"]:
        folder, worker_env = _worker(tmp_path, task, env, "exported")
        proc = run(["bash", "-c", commands[task]], folder, worker_env, timeout=600)
        assert proc.returncode == 0, f"{task}: {proc.stdout[-2000:]}{proc.stderr[-3000:]}"
        assert list(folder.iterdir()) == []  # nothing written where the engine started it
        # the task's checkout is gone with it (its runs reached the server): only git's objects stay
        (cache,) = (tmp_path / f"cache-{task}" / "sources").iterdir()
        assert not any((cache / "checkouts").iterdir())

    parent, records = _lineage(env["MLFLOW_TRACKING_URI"], RUN_ID)
    assert parent.info.status == "FINISHED"  # closed by the teardown task
    assert sorted(records) == ["a", "b", "c"]
    assert {r["git"]["commit"] for r in records.values()} == {commit}
    assert not any(r["git"]["dirty"] for r in records.values())
    # b read a's product from storage: a made 10, b wrote 11
    stored = tmp_path / "b.txt"
    s3.download_file("nbgov", "exported/products/b.txt", str(stored))
    assert stored.read_text() == "11"
    assert _digests(records)["b"]["data"] == file_digest(stored)

    # the same digests as a local build of the same commit (its own store, its own prefix)
    local = tmp_path / "local"
    subprocess.run(["git", "clone", "-q", str(origin), str(local)], check=True)
    own_store = {k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"}
    serial = run_cli(local, "build", "--json", "-q", env={**own_store, "NBGOV_TEST_PREFIX": "local"}, timeout=600)
    assert serial.returncode == 0, serial.stderr[-3000:]
    assert _digests(records) == product_digests(local, ["a", "b", "c"])

    # Argo's and Kubeflow's steps run the same entry point (the engine's run id in its place)
    argo = run_cli(root, "export", "argo", "-o", "-", env=env)
    assert argo.returncode == 0, argo.stderr
    templates = {t["name"]: t for t in yaml.safe_load(argo.stdout)["spec"]["templates"]}
    container = templates["task-c"]["container"]
    assert "workingDir" not in container
    argv = [a.replace("{{workflow.uid}}", RUN_ID) for a in container["command"] + container["args"]]
    assert argv == shlex.split(commands["c"])
    kfp = run_cli(root, "export", "kubeflow", "-o", "-", env=env)
    assert kfp.returncode == 0 and f"'--commit', {commit!r}, '--repository', {str(origin)!r}" in kfp.stdout


def test_sources_or_a_commit_that_cannot_be_had_are_refused(world, tmp_path: Path):
    root, origin, env, _ = world
    commit = git(root, "rev-parse", "HEAD").strip()
    folder, worker_env = _worker(tmp_path, "w", env, "refused")

    def build(*args: str) -> subprocess.CompletedProcess:
        return run(["nbgov", "build", "a", "--build-id", "r-1", "-q", *args], folder, worker_env)

    cases = [
        (build("--commit", "0" * 40, "--repository", str(origin)), f"the repository {origin} has no commit 000000"),
        (build("--commit", commit, "--repository", str(tmp_path / "nowhere")), "cannot fetch the project's sources"),
        (build("--commit", commit), "--commit and --repository go together"),
    ]
    local_store = run(["nbgov", "open-build", "r-1", "--commit", commit, "--repository", str(origin)], folder,
                      {k: v for k, v in worker_env.items() if k != "MLFLOW_TRACKING_URI"})
    cases.append((local_store, "a store on this worker"))
    for proc, message in cases:
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr and proc.stderr.startswith("error: ")
    assert list(folder.iterdir()) == []

    # the export refuses what its tasks could not fetch: uncommitted changes, no repository
    spec = root / "pipeline.yaml"
    text = spec.read_text()
    spec.write_text(text + "\n")
    try:
        dirty = run_cli(root, "export", "argo", "-o", "-", env=env)
        assert dirty.returncode == 2 and f"would build commit {commit[:12]}" in dirty.stderr, dirty.stderr
        assert "pipeline.yaml" in dirty.stderr
    finally:
        spec.write_text(text)
    git(root, "remote", "remove", "origin")
    try:  # (a branch name for --commit, a bad repository address: test_fetch_units.py)
        nowhere = run_cli(root, "export", "kubeflow", "-o", "-", env=env)
        assert nowhere.returncode == 2 and "no git remote 'origin'" in nowhere.stderr, nowhere.stderr
    finally:
        git(root, "remote", "add", "origin", str(origin))
        git(root, "fetch", "-q", "origin")


def test_a_killed_tasks_run_is_sent_by_the_next_task_on_its_machine(world, tmp_path: Path):
    """An exported task SIGKILLed mid-run (the OOM killer, a lost pod) cannot send its journal,
    and its checkout has no other owner: the engine's retry on the same machine sends it (the run
    is closed as killed in the store, not left RUNNING: J2), removes that checkout, then runs."""
    import os
    import signal
    import time

    root, origin, env, _ = world
    commit = git(root, "rev-parse", "HEAD").strip()
    folder, worker_env = _worker(tmp_path, "w", env, "killed")
    build = ["--build-id", "kill-1", "--commit", commit, "--repository", str(origin)]
    opened = run(["nbgov", "open-build", "kill-1", *build[2:]], folder, worker_env)
    assert opened.returncode == 0, opened.stderr[-2000:]
    checkouts = tmp_path / "cache-w" / "sources"

    def started() -> bool:
        return any("task_started" in p.read_text() for p in checkouts.glob("*/checkouts/*/.nbgov/journal/*.jsonl"))

    proc = subprocess.Popen(["nbgov", "build", "a", "-q", *build], cwd=folder, env=worker_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 300
    while not started() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, f"the task ended before it could be killed: {proc.stderr.read()[-2000:]}"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    (left,) = checkouts.glob("*/checkouts/*")

    uri = env["MLFLOW_TRACKING_URI"]
    retry = run(["nbgov", "build", "a", "-q", *build], folder, worker_env, timeout=600)
    assert retry.returncode == 0, retry.stderr[-3000:]
    runs = [r for r in mlflow_runs(uri, "tiny") if r.data.tags.get("nbgov.task") == "a"
            and r.data.tags.get("nbgov.build_id") == "kill-1"]
    assert sorted(r.info.status for r in runs) == ["FINISHED", "KILLED"], [(r.info.status, r.data.tags) for r in runs]
    assert f"sent what a killed task left in {left}" in retry.stderr, retry.stderr[-2000:]
    assert not left.exists() and not any(checkouts.glob("*/checkouts/*"))


def test_a_commit_that_tracks_a_journal_and_a_lock_folder_blocks_no_task(world, tmp_path: Path):
    """Round-12 03 (J4, J8): a PR commit tracks ``.nbgov/journal/x.jsonl`` and a folder
    ``x.lock/`` (``git add -f``). Its task did not keep its checkout for them (they are not this
    machine's), and a checkout of it left in the source cache (an older nbgov kept it) fails no
    later task of the machine: it is nobody's record, neither locked, sent nor removed."""
    root, origin, env, _ = world
    good = git(root, "rev-parse", "HEAD").strip()
    pr = tmp_path / "pr"
    subprocess.run(["git", "clone", "-q", str(origin), str(pr)], check=True)
    git(pr, "config", "user.name", "Mallory")
    git(pr, "config", "user.email", "m@example.com")
    journal = pr / ".nbgov" / "journal"
    (journal / "x.lock").mkdir(parents=True)
    (journal / "x.lock" / "keep").write_text("")
    (journal / "x.jsonl").write_text('{"not":"a record"}\n')
    git(pr, "add", "-f", ".nbgov")
    git(pr, "commit", "-qm", "an innocuous-looking change")
    bad = git(pr, "rev-parse", "HEAD").strip()
    git(pr, "push", "-q", "origin", "HEAD:refs/heads/pr-12")
    folder, worker_env = _worker(tmp_path, "w", env, "planted")
    checkouts = tmp_path / "cache-w" / "sources"

    opened = run(["nbgov", "open-build", "pr-1", "--commit", bad, "--repository", str(origin)], folder, worker_env)
    assert opened.returncode == 0, opened.stderr[-2000:]
    assert "kept the task's checkout" not in opened.stderr
    assert not any(checkouts.glob("*/checkouts/*"))

    (cache,) = checkouts.iterdir()
    leaked = cache / "checkouts" / "leaked"
    subprocess.run(["git", "clone", "-q", str(origin), str(leaked)], check=True)
    git(leaked, "checkout", "-q", bad)
    build = ["--commit", good, "--repository", str(origin)]
    for argv in (["open-build", "planted-1", *build], ["build", "a", "-q", "--build-id", "planted-1", *build],
                 ["close-build", "planted-1", *build]):
        proc = run(["nbgov", *argv], folder, worker_env, timeout=600)
        assert proc.returncode == 0, f"{argv[0]}: {proc.stderr[-3000:]}"
        assert "is a directory" not in proc.stderr and str(leaked) not in proc.stderr, proc.stderr[-2000:]
    assert sorted(checkouts.glob("*/checkouts/*")) == [leaked]  # nothing else kept, the leaked one untouched
    assert (leaked / ".nbgov/journal/x.lock").is_dir() and git(leaked, "status", "--porcelain") == ""
    runs = [r for r in mlflow_runs(env["MLFLOW_TRACKING_URI"], "tiny")
            if r.data.tags.get("nbgov.build_id") == "planted-1"]
    assert sorted(r.info.status for r in runs) == ["FINISHED", "FINISHED"]

"""Which workers run a cluster build warm, cold (a subprocess per task) or not at all
(:func:`nbgov.adapters.engines.warm.compare`), without a cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbgov.adapters.engines.warm import (
    checkout_problem,
    compare,
    environment_facts,
    own_checkout_refusal,
    project_commit,
    shares_folder,
)


def _facts(root: Path) -> dict:
    return environment_facts(str(root))


def test_the_same_environment_and_checkout_runs_warm(tmp_path: Path):
    facts = _facts(tmp_path)
    assert compare(facts, dict(facts)) == (None, None)


def test_another_commit_or_no_project_is_refused(tmp_path: Path):
    driver = {**_facts(tmp_path), "commit": "a" * 40}
    refuse, _ = compare(driver, {**driver, "commit": "b" * 40})
    assert refuse and "project version bbbbbbbbbbbb" in refuse and "the build is aaaaaaaaaaaa" in refuse
    refuse, _ = compare(driver, {**driver, "exists": False})
    assert refuse and "has no project folder" in refuse


def test_other_packages_run_cold_and_say_why(tmp_path: Path):
    driver = _facts(tmp_path)
    older = {**driver, "packages": {**driver["packages"], "ploomber": "0.1"}}
    assert compare(driver, older) == (None, f"ploomber 0.1 (driver {driver['packages']['ploomber']})")
    assert "Python 3.0.0" in compare(driver, {**driver, "python": "3.0.0"})[1]


def test_a_checkout_in_another_folder_runs_warm_from_it(tmp_path: Path):
    driver = _facts(tmp_path)
    elsewhere = {**driver, "root": "/elsewhere"}
    assert compare(driver, elsewhere) == (None, None)
    assert shares_folder(driver, driver) and not shares_folder(driver, elsewhere)


def test_a_worker_names_its_own_checkout(tmp_path: Path, monkeypatch):
    other = tmp_path / "mine"
    other.mkdir()
    monkeypatch.setenv("NBGOV_WORKER_ROOT", str(other))
    facts = _facts(tmp_path / "driver")
    assert facts["root"] == str(other.resolve()) and facts["exists"] and facts["commit"] is None


def _repo(root: Path) -> str:
    import subprocess

    root.mkdir(parents=True, exist_ok=True)
    for args in (["init", "-q"], ["config", "user.name", "A"], ["config", "user.email", "a@example.com"],
                 ["config", "commit.gpgsign", "false"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)
    (root / "pipeline.yaml").write_text("tasks: []\n")
    (root / "env.yaml").write_text("x: 1\n")
    (root / ".gitignore").write_text("ignored/\n")
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True, capture_output=True)
    subprocess.run(["git", "-C", str(root), "commit", "-qm", "c"], check=True, capture_output=True)
    return project_commit(root)


def test_a_workers_checkout_must_be_exactly_the_builds_commit(tmp_path: Path):
    """R10: an uncommitted spec/env/module change or an untracked file on a worker is refused;
    products, ignored files and caches are not changes."""
    commit = _repo(tmp_path)
    assert checkout_problem(tmp_path, commit) is None
    for name in ("ignored/x.csv", "__pycache__/m.cpython-311.pyc", "products/a.txt", "products/.a.txt.metadata"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert checkout_problem(tmp_path, commit, ("products/a.txt", "products/.a.txt.metadata")) is None
    (tmp_path / "env.yaml").write_text("x: 2\n")
    assert "differs from commit" in checkout_problem(tmp_path, commit) and "env.yaml" in checkout_problem(
        tmp_path, commit)
    (tmp_path / "env.yaml").write_text("x: 1\n")
    (tmp_path / "evil.py").write_text("")
    assert "evil.py" in checkout_problem(tmp_path, commit)
    assert "is at" in checkout_problem(tmp_path, "f" * 40)
    assert "not a git commit" in checkout_problem(tmp_path, None)


class _Pipeline:
    spec_path = Path("pipeline.yaml")

    def __init__(self, spec: str, loaded: str) -> None:
        self.spec_digest, self._loaded = spec, loaded

    def loaded_digest(self, name: str) -> str:
        return self._loaded


class _Plugin:
    def __init__(self, root: Path, *pipelines: _Pipeline) -> None:
        self.root, self.pipelines, self.loads = root, list(pipelines), 0

    def worker_root(self) -> Path:
        return self.root

    def pipeline(self, key, loader, reload=False):
        if reload or not self.loads:
            self.loads += 1
        return self.pipelines[self.loads - 1]


def test_the_worker_compares_what_it_loaded_not_the_file_now(tmp_path: Path):
    """R10 (check then use): the notebook content Ploomber read at the load is compared with
    the driver's; a spec/env digest that differs from the driver's loads again, then refuses."""
    commit = _repo(tmp_path)
    expect = {"commit": commit, "spec": "S", "loaded": {"b": "B"}}
    good = _Plugin(tmp_path, _Pipeline("S", "B"))
    assert own_checkout_refusal(good, "b", ("k", None), expect) == (None, good.pipelines[0])
    # loaded while b.ipynb held other content (restored since): refused
    why, _ = own_checkout_refusal(_Plugin(tmp_path, _Pipeline("S", "EVIL")), "b", ("k", None), expect)
    assert "as loaded here" in why
    why, _ = own_checkout_refusal(_Plugin(tmp_path, _Pipeline("S", "hot-reload:B")), "b", ("k", None),
                                  {**expect, "loaded": {"b": "hot-reload:B"}})
    assert "hot_reload" in why
    # rendered from another spec/env earlier: loaded again; still different: refused
    plugin = _Plugin(tmp_path, _Pipeline("OLD", "B"), _Pipeline("S", "B"))
    assert own_checkout_refusal(plugin, "b", ("k", None), expect)[0] is None and plugin.loads == 2
    why, _ = own_checkout_refusal(_Plugin(tmp_path, _Pipeline("X", "B"), _Pipeline("X", "B")), "b", ("k", None),
                                  expect)
    assert "differ from the ones the driver rendered" in why


def test_a_worker_whose_setup_failed_fails_tasks_at_once(tmp_path: Path, monkeypatch):
    """A worker without the driver's path (its own checkout elsewhere, or none): the template
    starts in the worker's root; a failing setup is reported by each task, never a 300 s wait."""
    import time

    from nbgov.adapters.engines import warm
    from nbgov.adapters.kernels import template

    started = []

    def start(root, spec, preload):
        started.append((root, spec))
        raise FileNotFoundError(f"no such folder: {root}")

    monkeypatch.setattr(template, "start_for_project", start)
    monkeypatch.setattr(template, "current_template", lambda: None)
    monkeypatch.setattr(warm, "private_bytecode", lambda root: started.append(("bytecode", root)))
    monkeypatch.setattr(warm, "WARM_MODULES", ())  # (imported by other tests: not waited for here)
    monkeypatch.setenv("NBGOV_WORKER_ROOT", str(tmp_path / "mine"))
    plugin = warm.WarmWorker("/driver/only/project", "/driver/only/project/pipeline.yaml", True, "v")
    plugin.setup(None)
    # its own checkout: bytecode kept outside it, nothing of it imported before a task's check
    assert started == [("bytecode", tmp_path / "mine")] and plugin.setup_error is None
    plugin.enter()  # (the first task, its checkout checked): the template starts, in its checkout
    assert started[1:] == [(tmp_path / "mine", tmp_path / "mine" / "pipeline.yaml")]
    assert "FileNotFoundError" in plugin.setup_error
    # a worker at the driver's path: the template starts at setup; a failure is not waited for
    started.clear()
    monkeypatch.setenv("NBGOV_WORKER_ROOT", "/driver/only/project")
    plugin = warm.WarmWorker("/driver/only/project", "/driver/only/project/pipeline.yaml", True, "v")
    plugin.setup(None)
    assert started == [(Path("/driver/only/project"), Path("/driver/only/project/pipeline.yaml"))]
    assert "FileNotFoundError" in plugin.setup_error
    t0 = time.perf_counter()
    plugin.enter()  # does not wait
    assert time.perf_counter() - t0 < 5


def test_an_engine_error_says_what_happened():
    from concurrent.futures import CancelledError
    from concurrent.futures.process import BrokenProcessPool

    from nbgov.adapters.ploomber.executor import engine_error

    assert "worker process died" in engine_error(BrokenProcessPool("gone"))
    assert "cancelled on the cluster" in engine_error(CancelledError())
    said = engine_error(FileNotFoundError("no such file: /driver/path"))
    assert "worker process died" not in said and said.startswith("FileNotFoundError: no such file")


class _Future:
    def __init__(self, result) -> None:
        self._result = result

    def result(self):
        return self._result

    def done(self) -> bool:
        return True

    def add_done_callback(self, fn) -> None:
        fn(self)


class _Client:
    def __init__(self, result) -> None:
        self.result, self.submitted = result, []

    def submit(self, fn, *args, **kwargs):
        self.submitted.append(args)
        return _Future(self.result)


def test_a_product_overwritten_in_storage_after_its_upload_fails_the_task():
    """R10 / fencing: the driver compares what it downloaded with what the worker made; the
    worker gets the driver's upstream digests (a late overwrite is seen at the next read)."""
    from nbgov.adapters.engines.warm import DaskEngine

    made = ("ok", None, {"worker": "w", "products": {"products/a.txt": "sha256:made"}})
    stored = {"a": {"products/a.txt": "sha256:orphan"}}
    engine = DaskEngine(_Client(made), 1, "p", loader=object(), fetch=lambda name: None)
    engine.approve({}, {}, {"spec": "S"})
    engine.digests, engine.upstream = stored.get, {"b": ["a"]}
    kind, payload = engine.submit("a", None).result()
    assert kind == "failed" and "products/a.txt in storage differ" in payload
    stored["a"] = {"products/a.txt": "sha256:made"}
    assert engine.submit("a", None).result() == ("ok", None)
    engine.submit("b", None)
    assert engine.client.submitted[-1][-1]["upstream"] == {"products/a.txt": "sha256:made"}


def test_the_worker_sees_a_downloaded_upstream_that_differs(tmp_path: Path):
    from nbgov.adapters.engines.warm import _differing
    from nbgov.core.digest import file_digest

    (tmp_path / "a.txt").write_text("1")
    good = file_digest(tmp_path / "a.txt")
    assert _differing(None, tmp_path, {"a.txt": good}) == ""
    assert _differing(None, tmp_path, {"a.txt": "sha256:other", "gone.txt": good}) == "a.txt, gone.txt"


def test_a_worker_with_its_own_checkout_is_refused_when_the_driver_has_no_commit(tmp_path: Path):
    from nbgov.adapters.engines.warm import check_workers

    class Client:
        def run(self, fn, root):
            return {"tcp://w:1": {**fn(root), "root": "/elsewhere"}}

    refusals, cold, own = check_workers(Client(), str(tmp_path))  # tmp_path: no git commit
    assert len(refusals) == 1 and "not a git commit" in refusals[0] and not own


def test_an_orphaned_task_does_not_upload(monkeypatch):
    """Fencing: a task whose build is gone (Dask cancelled its key on the worker) refuses to
    upload its products; a live one uploads."""
    from types import SimpleNamespace

    from distributed.worker import thread_state

    from nbgov.adapters.engines.warm import _fence
    from nbgov.adapters.ploomber.storage import fence_upload

    uploads = []
    product = SimpleNamespace(upload=lambda: uploads.append(1))
    worker = SimpleNamespace(state=SimpleNamespace(tasks={"nbgov-a-1": SimpleNamespace(state="executing")}))
    fence_upload(product, lambda: _fence(worker))
    monkeypatch.setattr(thread_state, "key", "nbgov-a-1", raising=False)
    product.upload()
    assert uploads == [1]
    worker.state.tasks["nbgov-a-1"].state = "cancelled"
    with pytest.raises(RuntimeError, match="cancelled.*not uploaded"):
        product.upload()
    assert uploads == [1]

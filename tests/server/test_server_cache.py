"""The pipeline cache: each kept value reused while its own input files are unchanged."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from nbgov.core.config import load_config
from nbgov.server.cache import PipelineCache, stamp, task_of


def project(root: Path) -> Path:
    (root / "notebooks").mkdir(parents=True)
    (root / "notebooks" / "a.ipynb").write_text("{}")
    (root / "pipeline.yaml").write_text("tasks: []\n")
    return root


class Counting:
    """A stand-in for pipeline_state that counts its calls (unit test: no Ploomber)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, config):
        self.calls += 1
        return {"pipeline": "pipeline.yaml", "tasks": [
            {"name": "a", "source": "notebooks/a.ipynb", "products": {"nb": "products/a.ipynb"},
             "review": {"status": "unreviewed", "version": "v0"}}]}


@dataclass
class State:
    path: str
    status: str
    version: str


class Reviews:
    """A stand-in for review_states."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, config, notebooks):
        self.calls += 1
        return [State(p.relative_to(config.root).as_posix(), "approved", "v1") for p in notebooks]


def bump(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def test_dag_reused_until_a_source_product_or_spec_changes(tmp_path):
    config = load_config(project(tmp_path))
    cache, compute = PipelineCache(), Counting()
    first = cache.dag(config, compute)
    assert cache.dag(config, compute) is first and compute.calls == 1
    bump(tmp_path / "notebooks" / "a.ipynb")  # a task source edited
    cache.dag(config, compute)
    assert compute.calls == 2
    (tmp_path / "products").mkdir()
    (tmp_path / "products" / "a.ipynb").write_text("{}")  # a run wrote a product
    cache.dag(config, compute)
    assert compute.calls == 3
    bump(tmp_path / "pipeline.yaml")
    cache.dag(config, compute)
    assert compute.calls == 4
    (tmp_path / ".nbgov").mkdir()
    (tmp_path / ".nbgov" / "reviews.jsonl").write_text("{}\n")  # a review: not a DAG input
    cache.dag(config, compute)
    assert compute.calls == 4
    assert (cache.hits, cache.misses) == (2, 4)


def test_task_map_survives_notebook_edits_but_not_spec_edits(tmp_path):
    config = load_config(project(tmp_path))
    cache, compute = PipelineCache(), Counting()
    notebook = (tmp_path / "notebooks" / "a.ipynb").resolve()
    assert task_of(cache.tasks(config, compute), config, notebook) == "a"
    bump(notebook)
    assert task_of(cache.tasks(config, compute), config, notebook) == "a"
    assert compute.calls == 1
    bump(tmp_path / "pipeline.yaml")
    cache.tasks(config, compute)
    assert compute.calls == 2
    assert task_of(cache.tasks(config, compute), config, tmp_path.parent / "x.ipynb") is None


def test_reviews_follow_the_ledger_without_reloading_the_dag(tmp_path):
    config = load_config(project(tmp_path))
    cache, compute, states = PipelineCache(), Counting(), Reviews()
    dag = cache.dag(config, compute)
    assert cache.reviews(config, dag, states) == {
        "notebooks/a.ipynb": {"status": "approved", "version": "v1"}}
    cache.reviews(config, dag, states)
    assert states.calls == 1
    (tmp_path / ".nbgov").mkdir()
    (tmp_path / ".nbgov" / "reviews.jsonl").write_text("{}\n")
    cache.reviews(config, cache.dag(config, compute), states)
    assert (states.calls, compute.calls) == (2, 1)


def test_max_age(tmp_path):
    config = load_config(project(tmp_path))
    compute = Counting()
    expired = PipelineCache(max_age_s=0)
    expired.dag(config, compute)
    expired.dag(config, compute)
    assert compute.calls == 2


def test_stamp_tells_missing_from_present(tmp_path):
    missing = stamp([tmp_path / "x"])
    (tmp_path / "x").write_text("1")
    assert stamp([tmp_path / "x"]) != missing
    assert missing == ((str(tmp_path / "x"),),)


def test_concurrent_misses_compute_once(tmp_path):
    config = load_config(project(tmp_path))
    cache = PipelineCache()
    inside = []

    class Slow(Counting):
        def __call__(self, config):
            inside.append(1)
            assert len(inside) == 1, "two computations at once"
            time.sleep(0.2)
            inside.pop()
            return super().__call__(config)

    compute = Slow()
    threads = [threading.Thread(target=cache.dag, args=(config, compute)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert compute.calls == 1 and cache.hits == 2


def test_dag_follows_the_build_journal(tmp_path):
    """The ``unsynced`` count is in the DAG payload: a run journaled while the store was down, a
    sync's confirmation (an append to an existing ``.sent``) and a retired journal all count."""
    config = load_config(project(tmp_path))
    cache, compute = PipelineCache(), Counting()
    cache.dag(config, compute)
    journal = tmp_path / ".nbgov" / "journal"
    journal.mkdir(parents=True)
    (journal / "b1.x.jsonl").write_text('{"event": "task_finished"}\n')  # a build journaled a run
    cache.dag(config, compute)
    assert compute.calls == 2
    (journal / "b1.x.sent").write_text("")
    cache.dag(config, compute)
    assert compute.calls == 3
    with open(journal / "b1.x.sent", "a") as sent:  # the store confirmed: the folder is unchanged
        sent.write('{"seq": 1}\n')
    cache.dag(config, compute)
    assert compute.calls == 4
    (journal / "done").mkdir()
    (journal / "b1.x.jsonl").rename(journal / "done" / "b1.x.jsonl")  # retired
    cache.dag(config, compute)
    assert compute.calls == 5
    assert cache.dag(config, compute) is not None and compute.calls == 5

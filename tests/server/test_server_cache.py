"""The pipeline payload cache: reused while its input files are unchanged, recomputed after."""

from __future__ import annotations

import os
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
            {"name": "a", "source": "notebooks/a.ipynb", "products": {"nb": "products/a.ipynb"}}]}


def bump(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def test_reused_until_an_input_changes(tmp_path):
    config = load_config(project(tmp_path))
    cache, compute = PipelineCache(), Counting()
    first = cache.get(config, compute)
    assert cache.get(config, compute) is first and compute.calls == 1
    bump(tmp_path / "notebooks" / "a.ipynb")  # a task source edited
    cache.get(config, compute)
    assert compute.calls == 2
    (tmp_path / "products").mkdir()
    (tmp_path / "products" / "a.ipynb").write_text("{}")  # a run wrote a product
    cache.get(config, compute)
    assert compute.calls == 3
    bump(tmp_path / "pipeline.yaml")
    cache.get(config, compute)
    assert compute.calls == 4
    assert (cache.hits, cache.misses) == (1, 4)


def test_forget_and_max_age(tmp_path):
    config = load_config(project(tmp_path))
    compute = Counting()
    cache = PipelineCache()
    cache.get(config, compute)
    cache.forget(config.root)
    cache.get(config, compute)
    assert compute.calls == 2
    expired = PipelineCache(max_age_s=0)
    expired.get(config, compute)
    expired.get(config, compute)
    assert compute.calls == 4


def test_stamp_tells_missing_from_present(tmp_path):
    missing = stamp([tmp_path / "x"])
    (tmp_path / "x").write_text("1")
    assert stamp([tmp_path / "x"]) != missing
    assert missing == ((str(tmp_path / "x"),),)


def test_task_of_matches_resolved_sources(tmp_path):
    config = load_config(project(tmp_path))
    payload = Counting()(config)
    assert task_of(payload, config, (tmp_path / "notebooks" / "a.ipynb").resolve()) == "a"
    assert task_of(payload, config, tmp_path / "other.ipynb") is None


def test_concurrent_misses_compute_once(tmp_path):
    import threading
    import time

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
    threads = [threading.Thread(target=cache.get, args=(config, compute)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert compute.calls == 1 and cache.hits == 2

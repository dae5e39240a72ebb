"""Several real processes appending at once lose nothing; a writer killed mid-append leaves the
ledger as it was."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from nbgov.core.config import load_config
from nbgov.core.ledger import parse_ledger
from nbgov.services.review.state import record_decision, review_state

pytestmark = pytest.mark.integration

NB = "notebooks/train.ipynb"
WORKERS, EACH = 4, 12


def _worker(root: str, worker: int, start_at: float) -> None:
    config = load_config(root)
    while time.time() < start_at:  # start together, so the appends really contend
        time.sleep(0.001)
    for i in range(EACH):
        decision = "approved" if i % 3 == 0 else "comment"
        record_decision(config, NB, decision, f"w{worker}-{i}", f"Rev {worker} <r{worker}@x.org>")


def test_concurrent_writers_lose_nothing(project):
    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 2.0
    procs = [ctx.Process(target=_worker, args=(str(project), w, start_at)) for w in range(WORKERS)]
    began = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    elapsed = time.perf_counter() - began
    assert [p.exitcode for p in procs] == [0] * WORKERS
    records = parse_ledger((project / ".nbgov" / "reviews.jsonl").read_text())
    assert len(records) == WORKERS * EACH
    assert sorted(r.note for r in records) == sorted(
        f"w{w}-{i}" for w in range(WORKERS) for i in range(EACH)
    )
    for w in range(WORKERS):  # each writer's own records keep their order
        mine = [r.note for r in records if r.note.startswith(f"w{w}-")]
        assert mine == [f"w{w}-{i}" for i in range(EACH)]
    assert review_state(load_config(project), NB).status == "approved"
    print(f"\n{WORKERS * EACH} concurrent appends by {WORKERS} processes in {elapsed:.2f}s")


CHILD = textwrap.dedent("""
    import os, sys, tempfile, time
    from nbgov.core.config import load_config
    from nbgov.services.review import store as review_store
    from nbgov.services.review import state as review

    def torn_write(path, data, **kw):
        # stand-in for a crash inside atomic_write: half the new ledger is in the temp file
        fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
        os.write(fd, data[: len(data) // 2].encode())
        print("writing", flush=True)
        time.sleep(60)

    if sys.argv[1] == "write":
        review_store.atomic_write = torn_write
        config = load_config()
        review.record_decision(config, "notebooks/train.ipynb", "comment", "lost", "Bob <b@x>")
    else:
        with review_store.locked(load_config().root / ".nbgov" / "reviews.jsonl"):
            print("writing", flush=True)
            time.sleep(60)
""")


@pytest.mark.parametrize("phase", ["write", "lock"])
def test_writer_killed_mid_append(project, bob, phase):
    config = load_config(project)
    record_decision(config, NB, "approved", "before", bob)
    ledger = project / ".nbgov" / "reviews.jsonl"
    before = ledger.read_bytes()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, phase], cwd=project, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "writing"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert ledger.read_bytes() == before
    assert review_state(config, NB).status == "approved"
    # the dead writer's lock is gone with it: the next append goes through
    record_decision(config, NB, "comment", "after", bob)
    assert [r.note for r in parse_ledger(ledger.read_text())] == ["before", "after"]
    # a crash can leave a torn temp file, never a torn ledger; git ignores both it and the lock
    leftovers = [p.name for p in ledger.parent.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == (1 if phase == "write" else 0)
    ignored = subprocess.run(
        ["git", "check-ignore", *leftovers, "reviews.jsonl.lock"],
        cwd=ledger.parent,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert sorted(ignored) == sorted([*leftovers, "reviews.jsonl.lock"])

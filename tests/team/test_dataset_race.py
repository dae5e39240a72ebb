"""The dataset race of a PostgreSQL-backed tracking server (issue 14, bug 1): runs that log the
same new dataset at once lose MLflow's check-then-insert with a UniqueViolation; nbgov retries
and counts "already exists" as done."""

from __future__ import annotations

import threading
import uuid

import pytest

from nbgov.adapters.mlflow.tracker import RunData, Tracker

pytestmark = pytest.mark.integration


def test_many_runs_log_one_new_dataset_at_once(team_server):
    tracker = Tracker(team_server.tracking_uri, f"race-{uuid.uuid4().hex[:8]}")
    tracker.prepare()
    rounds, width = 4, 8
    errors: list[BaseException] = []
    for round_ in range(rounds):
        digest = uuid.uuid4().hex  # a dataset no run has logged yet
        runs = [tracker.create_run(f"r{round_}-{i}", None) for i in range(width)]
        barrier = threading.Barrier(width)

        def upload(run_id: str, digest: str = digest, barrier: threading.Barrier = barrier) -> None:
            data = RunData(name="t", datasets=[{"name": "features.train", "digest": digest,
                                                "source": "products/train.csv", "context": "input"}])
            barrier.wait()  # every thread logs the same dataset in the same instant
            try:
                tracker.complete_run(run_id, data)
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=upload, args=(r,)) for r in runs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for run_id in runs:
            # every run has its input, whichever thread created the dataset row
            inputs = tracker.client.get_run(run_id).inputs.dataset_inputs
            assert [i.dataset.digest for i in inputs] == [digest[:36]], run_id
            assert tracker.client.get_run(run_id).info.status == "FINISHED"
    assert errors == []

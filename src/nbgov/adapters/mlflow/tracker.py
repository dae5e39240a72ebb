"""MLflow behind one door: prepare a store, create a build's parent run, log task runs in batches.

Each task run is written with few calls (create, one ``log_batch``, artifacts, terminate) because
every call is a round trip on a tracking server (measured: ~20 ms each over HTTP here).
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbgov.adapters.mlflow.stores import check_sqlite, quiet_mlflow, reachable, relocate_embedded_store, short_error
from nbgov.core.errors import TrackingError

#: MLflow limits: param values are cut at 6000 characters, tag values at 8000.
_PARAM_MAX = 6000
_TAG_MAX = 8000


@dataclass
class RunData:
    """Everything one task run records."""

    name: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: list[tuple[Path, str | None]] = field(default_factory=list)  # (path, artifact dir)
    json_artifacts: dict[str, Any] = field(default_factory=dict)  # artifact file name -> data
    start_ms: int | None = None
    end_ms: int | None = None
    status: str = "FINISHED"  # or FAILED
    datasets: list[dict[str, str]] = field(default_factory=list)  # {name, digest, source, context}


#: Tag holding a run's stable key: a re-sent run is found by it instead of created twice.
RUN_KEY_TAG = "nbgov.run_key"


def warm_imports(uri: str) -> None:
    """Import the MLflow modules a store at ``uri`` needs, touching no store (1-2 s of import:
    the upload process does it while the build loads its pipeline)."""
    quiet_mlflow()
    import importlib

    modules = ["mlflow.tracking"]
    if uri.startswith(("http://", "https://")):
        modules.append("mlflow.store.tracking.rest_store")
    elif "://" in uri and not uri.startswith("file:"):
        modules.append("mlflow.store.tracking.sqlalchemy_store")
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the real use reports a broken install
            return


class Tracker:
    """A tracking store (MLflow URI) and one experiment in it.

    Args:
        uri: MLflow tracking URI (``sqlite:///...``, ``http://127.0.0.1:5000``, ``file:...``).
        experiment: experiment name; created on :meth:`prepare` when missing.
        artifact_root: where a new experiment keeps artifacts (embedded stores only).
    """

    def __init__(self, uri: str, experiment: str, artifact_root: str | None = None) -> None:
        self.uri = uri
        self.experiment = experiment
        self.artifact_root = artifact_root
        self.experiment_id: str | None = None
        self.relocated_from: str | None = None  # the old root of a store that moved with its project
        self._client = None

    @property
    def client(self):
        if self._client is None:
            quiet_mlflow()
            from mlflow.tracking import MlflowClient

            quiet_mlflow()  # mlflow configures its loggers at import; quiet them again
            self._client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        return self._client

    def prepare(self) -> str:
        """Create the store's schema and the experiment; call in the main process before workers
        start (concurrent first use of a fresh SQLite store half-creates the schema).

        Raises:
            TrackingError: within seconds for a server that does not answer.
        """
        if self.experiment_id is not None:
            return self.experiment_id
        if self.uri.startswith("sqlite:///"):
            db = Path(self.uri[len("sqlite:///"):])
            db.parent.mkdir(parents=True, exist_ok=True)
            if db.is_file():
                check_sqlite(db)
                if self.artifact_root and self.artifact_root.startswith("file:"):
                    from urllib.parse import unquote, urlsplit

                    root = Path(unquote(urlsplit(self.artifact_root).path)).parent
                    if db.resolve().parent == root.resolve():  # the project's own embedded store
                        self.relocated_from = relocate_embedded_store(db, root)
        if self.uri.startswith(("http://", "https://")):
            reachable(self.uri)
        try:
            exp = self.client.get_experiment_by_name(self.experiment)
            if exp is None:
                artifact = self.artifact_root if not self.uri.startswith(("http://", "https://")) else None
                try:
                    self.experiment_id = self.client.create_experiment(self.experiment, artifact_location=artifact)
                except Exception as exc:
                    if not _DUPLICATE.search(str(exc)):
                        raise
                    # another worker of the same build created it a moment ago
                    self.experiment_id = self.client.get_experiment_by_name(self.experiment).experiment_id
            else:
                self.experiment_id = exp.experiment_id
        except Exception as exc:  # MlflowException, requests errors, sqlalchemy errors
            raise TrackingError(f"tracking store {self.uri} is not usable: {short_error(exc)}",
                                hint="check MLFLOW_TRACKING_URI / tracking_uri in nbgov.toml, "
                                     "or that the tracking server is running") from None
        return self.experiment_id

    def start_parent(self, name: str, tags: dict[str, str], start_ms: int) -> str:
        """Create the build's parent run and return its id."""
        return self.create_run(name, start_ms, None, tags)

    def end_run(self, run_id: str, status: str, end_ms: int) -> None:
        """Mark a run FINISHED, FAILED or KILLED."""
        try:
            self.client.set_terminated(run_id, status=status, end_time=end_ms)
        except Exception as exc:
            raise TrackingError(f"could not end run {run_id} in {self.uri}: {short_error(exc)}") from None

    def create_run(self, name: str, start_ms: int | None, parent_run_id: str | None = None,
                   tags: dict[str, str] | None = None) -> str:
        """Create a (child) run and return its id; fill it with :meth:`complete_run`.

        Idempotent for a run with a key (:data:`RUN_KEY_TAG`): when the call fails (the store
        may have created the run and the reply was lost), the run is looked up by its key
        before the error is raised, so no later retry creates it twice; on a tracking server,
        copies that MLflow's own HTTP retry made of a create whose reply was lost are deleted.
        """
        tags = {**(tags or {}), "mlflow.runName": name}
        key = tags.get(RUN_KEY_TAG)
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        try:
            run_id = self.client.create_run(self.prepare(), start_time=start_ms, tags=tags, run_name=name).info.run_id
        except TrackingError:
            raise
        except Exception as exc:
            found = self._find_quietly(key) if key else None
            if found is not None:  # created (maybe twice, by the HTTP retry); only the reply was lost
                self._drop_copies(key, found.info.run_id)
                return found.info.run_id
            raise TrackingError(f"could not create run {name!r} in {self.uri}: {short_error(exc)}") from None
        if key and self.uri.startswith(("http://", "https://")):
            self._drop_copies(key, run_id)
        return run_id

    def _find_quietly(self, key: str) -> Any | None:
        try:
            return self.find_run(key)
        except TrackingError:
            return None

    def _drop_copies(self, key: str, keep: str) -> None:
        """Delete RUNNING runs with key ``key`` other than ``keep`` (an HTTP retry of a create
        whose reply was lost made them); `nbgov sync` repairs any this misses."""
        try:
            for run in self.find_runs(key):
                if run.info.run_id != keep and run.info.status == "RUNNING":
                    self.client.delete_run(run.info.run_id)
        except Exception:  # noqa: BLE001, S110 - a repair: the run we keep is there
            pass

    def find_runs(self, key: str) -> list:
        """Every (not deleted) run tagged with stable key ``key``."""
        quoted = key.replace("'", "")
        try:
            return self.client.search_runs([self.prepare()], f"tags.`{RUN_KEY_TAG}` = '{quoted}'", max_results=50)
        except TrackingError:
            raise
        except Exception as exc:
            raise TrackingError(f"could not search runs in {self.uri}: {short_error(exc)}") from None

    def find_run(self, key: str) -> Any | None:
        """The run tagged with stable key ``key`` (see :data:`RUN_KEY_TAG`), if the store has one
        (of duplicates an older nbgov left, the closed one, else the oldest)."""
        runs = self.find_runs(key)
        runs.sort(key=lambda r: (r.info.status == "RUNNING", r.info.start_time or 0, r.info.run_id))
        return runs[0] if runs else None

    def running_keyed_runs(self) -> list:
        """RUNNING runs of the experiment that carry a run key (for `nbgov sync`'s sweep)."""
        try:
            runs = self.client.search_runs([self.prepare()], "attributes.status = 'RUNNING'", max_results=1000)
        except TrackingError:
            raise
        except Exception as exc:
            raise TrackingError(f"could not search runs in {self.uri}: {short_error(exc)}") from None
        return [r for r in runs if r.data.tags.get(RUN_KEY_TAG)]

    def delete_run(self, run_id: str) -> None:
        """Delete a run (a duplicate)."""
        try:
            self.client.delete_run(run_id)
        except Exception as exc:
            raise TrackingError(f"could not delete run {run_id} in {self.uri}: {short_error(exc)}") from None

    def alive(self) -> bool:
        """Whether the store answers now (after an error: was it the store, or what we sent?)."""
        if self.uri.startswith(("http://", "https://")):
            try:
                reachable(self.uri)
            except TrackingError:
                return False
            return True
        try:
            self.client.search_experiments(max_results=1)
        except Exception:  # noqa: BLE001 - a broken local store does not answer
            return False
        return True

    def run_status(self, run_id: str) -> str | None:
        """A run's status (RUNNING, FINISHED, ...), None when the store does not have it."""
        try:
            return self.client.get_run(run_id).info.status
        except Exception:
            return None

    def complete_run(self, run_id: str, data: RunData) -> None:
        """Log params, metrics, tags (one batch), datasets and artifacts, then terminate the run."""
        from mlflow.entities import Metric, Param, RunTag

        try:
            step_ts = data.end_ms or data.start_ms or 0
            self.client.log_batch(
                run_id,
                metrics=[Metric(k, float(v), step_ts, 0) for k, v in data.metrics.items()],
                params=[Param(k, str(v)[:_PARAM_MAX]) for k, v in data.params.items()],
                tags=[RunTag(k, str(v)[:_TAG_MAX]) for k, v in data.tags.items()],
            )
            if data.datasets:
                self._log_datasets(run_id, data.datasets)
            for name, value in data.json_artifacts.items():
                self.client.log_text(run_id, json.dumps(value, indent=2, sort_keys=True, default=str), name)
            for path, artifact_dir in data.artifacts:
                if path.is_dir():
                    self.client.log_artifacts(run_id, str(path), artifact_dir)
                elif path.is_file():
                    self.client.log_artifact(run_id, str(path), artifact_dir)
            self.client.set_terminated(run_id, status=data.status, end_time=data.end_ms)
        except Exception as exc:
            raise TrackingError(f"could not record run {data.name!r} in {self.uri}: {short_error(exc)}") from None

    def _log_datasets(self, run_id: str, datasets: list[dict[str, str]]) -> None:
        # MLflow's dataset inputs make the data show up in the MLflow UI, with their digests.
        from mlflow.entities import Dataset, DatasetInput, InputTag

        inputs = [
            DatasetInput(
                Dataset(name=d["name"], digest=d["digest"][:36], source_type="local",
                        source=json.dumps({"uri": d["source"]})),
                tags=[InputTag("mlflow.data.context", d.get("context", "input"))],
            )
            for d in datasets
        ]
        # concurrent runs (threads here, other workers elsewhere) logging the same new dataset race
        # in MLflow's check-then-insert: the loser gets a unique violation, and a retry finds the
        # dataset already there
        _retry_duplicate(lambda: self.client.log_inputs(run_id, inputs))

    def search_runs(self, filter_string: str, max_results: int = 100, order_by: list[str] | None = None):
        """Runs of this experiment matching an MLflow filter string (newest first by default)."""
        try:
            exp = self.client.get_experiment_by_name(self.experiment)
        except Exception as exc:
            raise TrackingError(f"tracking store {self.uri} is not reachable: {short_error(exc)}") from None
        if exp is None:
            return []
        return self.client.search_runs([exp.experiment_id], filter_string, max_results=max_results,
                                       order_by=order_by or ["attributes.start_time DESC"])

    # -- one build across processes (shared build id) -------------------------------------------
    def build_runs(self, build_id: str) -> list:
        """The parent runs tagged with ``build_id``, the canonical one (oldest) first."""
        quoted = build_id.replace("'", "")
        runs = self.search_runs(f"tags.`nbgov.kind` = 'build' and tags.`nbgov.build_id` = '{quoted}'",
                                max_results=50)
        return sorted(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id))

    def open_build(self, build_id: str, name: str, tags: dict[str, str]) -> str:
        """The parent run of build ``build_id``: found by its tag, else created (find before
        create). Two processes creating at once both see both runs afterwards and keep the
        oldest; the other is deleted, so every task of the build lands under one parent."""
        runs = self.build_runs(build_id)
        if runs:
            return runs[0].info.run_id
        mine = self.start_parent(name, {**tags, "nbgov.kind": "build", "nbgov.build_id": build_id},
                                 int(time.time() * 1000))
        runs = self.build_runs(build_id)
        keep = runs[0].info.run_id if runs else mine
        if keep != mine:
            self.client.delete_run(mine)
        return keep

    def close_build(self, build_id: str, status: str | None = None) -> tuple[str, str] | None:
        """End the parent run of ``build_id`` (``FINISHED`` / ``FAILED`` / ``KILLED``; None: FAILED
        when a child run failed, else FINISHED). Returns (run id, status), None when no run has
        that build id."""
        runs = self.build_runs(build_id)
        if not runs:
            return None
        parent = runs[0].info.run_id
        if status is None:
            children = self.search_runs(f"tags.`mlflow.parentRunId` = '{parent}'", max_results=1000)
            status = "FAILED" if any(c.info.status == "FAILED" for c in children) else "FINISHED"
        self.end_run(parent, status, int(time.time() * 1000))
        return parent, status


#: How a tracking store says that a row created concurrently already exists: MLflow's own
#: RESOURCE_ALREADY_EXISTS, PostgreSQL (psycopg2 UniqueViolation / "duplicate key value"), SQLite.
_DUPLICATE = re.compile(r"already exists|UniqueViolation|duplicate key value|UNIQUE constraint failed", re.I)


def _retry_duplicate(call, attempts: int = 5, pause_s: float = 0.05) -> None:
    """Run a create-if-missing ``call``; when it loses a race (the store reports a duplicate),
    run it again, and count a duplicate on the last attempt as done: the row exists."""
    for attempt in range(attempts):
        try:
            call()
            return
        except Exception as exc:
            if not _DUPLICATE.search(str(exc)):
                raise
            if attempt == attempts - 1:
                logging.getLogger(__name__).debug("treated as already done: %s", short_error(exc))
                return
            time.sleep(pause_s * (attempt + 1) * (1 + random.random()))



"""Lineage records in MLflow: read a run's ``nbgov/lineage.json``, find task runs, link a registered
model version to the task run that registered it.

Reads only: nothing here creates a store or an experiment (a lineage query against a missing
SQLite file must say so, not create an empty store). Services get plain dicts.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from nbgov.adapters.mlflow.registry import LINEAGE_ARTIFACT, Registry
from nbgov.adapters.mlflow.stores import check_reachable, short_error
from nbgov.core.errors import TrackingError

#: The string scrap a registering notebook glues (``sb.glue("registered_model", "models:/N/V")``);
#: the recorder turns it into the run tag ``scrap.registered_model``.
REGISTERED_SCRAP_TAG = "scrap.registered_model"
#: Model version tag naming the task run that registered the version.
VERSION_RUN_TAG = "nbgov.run_id"
_NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND")


class LineageStore:
    """Read access to lineage in one MLflow tracking store.

    Args:
        uri: the MLflow tracking (and registry) URI.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.registry = Registry(uri)
        self._records: dict[str, dict[str, Any] | None] = {}
        self._checked = False

    @property
    def client(self):
        """The MLflow client, once the store is known to be reachable."""
        if not self._checked:
            check_reachable(self.uri)
            self._checked = True
        return self.registry.client

    def _fail(self, what: str, exc: Exception) -> TrackingError:
        return TrackingError(
            f"{what}: tracking store {self.uri} failed: {short_error(exc)}",
            hint="check MLFLOW_TRACKING_URI / tracking_uri in nbgov.toml",
        )

    def run(self, run_id: str) -> dict[str, Any] | None:
        """A run's id, experiment, name, status and tags; None when there is no such run."""
        try:
            run = self.client.get_run(run_id)
        except TrackingError:
            raise
        except Exception as exc:
            if getattr(exc, "error_code", None) in _NOT_FOUND:
                return None
            raise self._fail(f"cannot read run {run_id}", exc) from None
        return {
            "run_id": run.info.run_id,
            "experiment_id": run.info.experiment_id,
            "name": run.info.run_name,
            "status": run.info.status,
            "tags": dict(run.data.tags),
        }

    def record(self, run_id: str) -> dict[str, Any] | None:
        """The ``nbgov/lineage.json`` artifact of a run (cached); None when the run has none."""
        if run_id not in self._records:
            client = self.client  # reachability errors are errors, not "no record"
            with tempfile.TemporaryDirectory(prefix="nbgov-lineage-") as tmp:
                try:
                    path = client.download_artifacts(run_id, LINEAGE_ARTIFACT, tmp)
                    self._records[run_id] = json.loads(Path(path).read_text(encoding="utf-8"))
                except Exception:  # no such run or artifact: the caller reports the gap
                    self._records[run_id] = None
        return self._records[run_id]

    def experiment_ids(self, experiment: str | None) -> list[str]:
        """The ids of experiment ``experiment`` (none when it does not exist; None: all)."""
        return self._experiment_ids(experiment)

    def _experiment_ids(self, experiment: str | None) -> list[str]:
        try:
            if experiment:
                exp = self.client.get_experiment_by_name(experiment)
                return [exp.experiment_id] if exp else []
            return [e.experiment_id for e in self.client.search_experiments()]
        except TrackingError:
            raise
        except Exception as exc:
            raise self._fail("cannot list experiments", exc) from None

    def search(
        self, filter_string: str, experiment: str | None = None, max_results: int = 50
    ) -> list[str]:
        """Ids of runs matching an MLflow filter, newest first (``experiment`` None: all)."""
        ids = self._experiment_ids(experiment)
        if not ids:
            return []
        try:
            runs = self.client.search_runs(
                ids, filter_string, max_results=max_results, order_by=["attributes.start_time DESC"]
            )
        except Exception as exc:
            raise self._fail("cannot search runs", exc) from None
        return [r.info.run_id for r in runs]

    def task_runs(
        self, task: str, experiment: str | None = None, max_results: int = 50
    ) -> list[str]:
        """Recorded runs of one pipeline task, newest first."""
        return self.search(
            f"tags.`nbgov.kind` = 'task' and tags.`nbgov.task` = '{_quote(task)}'",
            experiment,
            max_results,
        )

    def task_run_rows(self, task: str, experiment: str | None = None,
                      max_results: int = 50) -> list[dict[str, Any]]:
        """Recorded runs of one pipeline task with their data, newest first: ``run_id``,
        ``experiment_id``, ``status``, ``start_ms``, ``end_ms``, ``params``, ``metrics``,
        ``tags``."""
        ids = self._experiment_ids(experiment)
        if not ids:
            return []
        filter_string = f"tags.`nbgov.kind` = 'task' and tags.`nbgov.task` = '{_quote(task)}'"
        try:
            runs = self.client.search_runs(ids, filter_string, max_results=max_results,
                                           order_by=["attributes.start_time DESC"])
        except Exception as exc:
            raise self._fail("cannot search runs", exc) from None
        return [{"run_id": r.info.run_id, "experiment_id": r.info.experiment_id,
                 "status": r.info.status, "start_ms": r.info.start_time,
                 "end_ms": r.info.end_time, "params": dict(r.data.params),
                 "metrics": dict(r.data.metrics), "tags": dict(r.data.tags)} for r in runs]

    def executed_notebook(self, run_id: str) -> dict[str, Any] | None:
        """The executed notebook a task run uploaded (its ``notebook/`` artifact), parsed;
        None when the run has none."""
        client = self.client
        with tempfile.TemporaryDirectory(prefix="nbgov-run-nb-") as tmp:
            try:
                folder = Path(client.download_artifacts(run_id, "notebook", tmp))
            except Exception:  # no such run or artifact: the caller says so
                return None
            found = sorted(folder.rglob("*.ipynb")) if folder.is_dir() else [folder]
            for path in found:
                try:
                    return json.loads(path.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue
        return None

    def registering_runs(self, model_uri: str) -> list[str]:
        """Task runs that glued ``registered_model = model_uri`` (newest first)."""
        return self.search(f"tags.`{REGISTERED_SCRAP_TAG}` = '{_quote(model_uri)}'")

    def model_version(self, uri: str) -> dict[str, Any]:
        """The registered model version ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` names.

        Raises:
            ParameterError: not a model URI.
            LineageError: no such model, version or alias.
        """
        self.client  # noqa: B018 (fail fast when the store is unreachable)
        mv = self.registry.resolve(uri)
        return {
            "name": mv.name,
            "version": mv.version,
            "run_id": mv.run_id,
            "source": mv.source,
            "aliases": mv.aliases,
            "tags": mv.tags,
            "uri": mv.uri,
        }

    def tag_model_version(self, name: str, version: str, tags: dict[str, str]) -> None:
        """Set tags on a model version (values cut to MLflow's 5000 characters)."""
        self.registry.set_version_tags(name, version, {k: str(v)[:5000] for k, v in tags.items()})


def _quote(value: str) -> str:
    # MLflow filter strings quote with single quotes; a quote in a value cannot match anyway
    return value.replace("'", "")

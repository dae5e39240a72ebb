"""MLflow's model registry behind one door: resolve ``models:/`` URIs, aliases, signatures,
the lineage artifacts of runs, and the ``mlflow models serve`` command line.

Only this module (and :mod:`nbgov.adapters.mlflow.tracker`) touches MLflow's API; services get plain
data (:class:`ModelVersion`, dicts, lists of column names).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbgov.adapters.mlflow.stores import check_reachable, quiet_mlflow, short_error
from nbgov.core.errors import LineageError, ParameterError, TrackingError

_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[A-Za-z0-9_\-]+))$")
#: MLflow's lineage artifact of every nbgov task run (see services/recording/rundata.py).
LINEAGE_ARTIFACT = "nbgov/lineage.json"
#: MLflow 3's source of a version registered from a logged model: ``models:/m-<id>``
_LOGGED_MODEL = re.compile(r"^models:/(?P<id>m-[0-9a-f]+)/?$")
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND")


@dataclass(frozen=True)
class ModelRef:
    """A parsed ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``."""

    name: str
    version: str | None = None
    alias: str | None = None

    def __str__(self) -> str:
        return (
            f"models:/{self.name}/{self.version}"
            if self.version
            else f"models:/{self.name}@{self.alias}"
        )


@dataclass
class ModelVersion:
    """One registered model version, as plain data.

    Attributes:
        name: registered model name.
        version: version number as a string.
        run_id: the run that logged the model (may be empty for external models).
        source: where the model's files are.
        aliases: aliases pointing at this version.
        tags: the version's tags.
    """

    name: str
    version: str
    run_id: str | None
    source: str
    aliases: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        """``models:/NAME/VERSION``."""
        return f"models:/{self.name}/{self.version}"


def parse_model_uri(text: str) -> ModelRef:
    """Parse ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``.

    Raises:
        ParameterError: anything else, with the accepted forms in the hint.
    """
    match = _URI.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ParameterError(
            f"not a registered model URI: {text!r}",
            hint="write models:/NAME/VERSION or models:/NAME@ALIAS",
        )
    return ModelRef(match["name"], match["version"], match["alias"])


class Registry:
    """The model registry of one tracking store.

    Args:
        uri: the MLflow tracking (and registry) URI.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._client = None

    @property
    def client(self):
        if self._client is None:
            # fail fast instead of MLflow's minute of retries, and never create an empty store
            check_reachable(self.uri)
            # progress bars on stderr would garble the CLI's output
            os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
            quiet_mlflow()
            from mlflow.tracking import MlflowClient

            quiet_mlflow()
            self._client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        return self._client

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # MlflowException, requests and sqlalchemy errors
            from mlflow.exceptions import MlflowException

            if isinstance(exc, MlflowException) and exc.error_code in _NOT_FOUND:
                raise LineageError(
                    f"{what}: {short_error(exc)}",
                    hint="list registered models in the MLflow UI, or run "
                    "nbgov build to register one",
                ) from None
            raise TrackingError(
                f"{what}: tracking store {self.uri} failed: {short_error(exc)}",
                hint="check MLFLOW_TRACKING_URI / tracking_uri in nbgov.toml",
            ) from None

    def _version(self, mv) -> ModelVersion:
        return ModelVersion(
            mv.name,
            str(mv.version),
            mv.run_id or None,
            mv.source or "",
            list(getattr(mv, "aliases", []) or []),
            dict(mv.tags or {}),
        )

    def resolve(self, ref: ModelRef | str) -> ModelVersion:
        """The model version a URI names (an alias is resolved to its version).

        Raises:
            LineageError: the model, version or alias does not exist.
            TrackingError: the store is unreachable.
        """
        ref = parse_model_uri(ref) if isinstance(ref, str) else ref
        if ref.version:
            mv = self._call(
                f"no model version {ref}", self.client.get_model_version, ref.name, ref.version
            )
        else:
            self._call(
                f"no registered model {ref.name!r}", self.client.get_registered_model, ref.name
            )
            mv = self._call(
                f"model {ref.name!r} has no alias {ref.alias!r}",
                self.client.get_model_version_by_alias,
                ref.name,
                ref.alias,
            )
        return self._version(mv)

    def versions(self, max_results: int = 200) -> list[ModelVersion]:
        """Every registered model version of the store (up to ``max_results``), newest first
        per model, models by name.

        Raises:
            TrackingError: the store is unreachable or failed.
        """
        found = self._call(
            "cannot list registered model versions",
            self.client.search_model_versions,
            max_results=max_results,
        )
        out = [self._version(mv) for mv in found]
        # a search's versions carry no aliases in every store: the registered models do
        models = self._call(
            "cannot list registered models",
            self.client.search_registered_models,
            max_results=max_results,
        )
        aliases: dict[tuple[str, str], list[str]] = {}
        for model in models:
            for alias, version in (getattr(model, "aliases", None) or {}).items():
                aliases.setdefault((model.name, str(version)), []).append(alias)
        for version in out:
            version.aliases = sorted(set(version.aliases) | set(aliases.get((version.name, version.version), [])))
        return sorted(out, key=lambda v: (v.name, -int(v.version) if v.version.isdigit() else 0))

    def alias_target(self, name: str, alias: str) -> str | None:
        """The version an alias points at now, or None when the alias is not set."""
        model = self._call(f"no registered model {name!r}", self.client.get_registered_model, name)
        target = (getattr(model, "aliases", None) or {}).get(alias)
        return str(target) if target is not None else None

    def set_alias(self, name: str, alias: str, version: str) -> None:
        """Point ``alias`` of model ``name`` at ``version``."""
        self._call(
            f"could not set alias {alias!r} on models:/{name}/{version}",
            self.client.set_registered_model_alias,
            name,
            alias,
            version,
        )

    def set_version_tags(self, name: str, version: str, tags: dict[str, str]) -> None:
        """Set tags on a model version."""
        for key, value in tags.items():
            self._call(
                f"could not tag models:/{name}/{version}",
                self.client.set_model_version_tag,
                name,
                version,
                key,
                value,
            )

    def set_run_tags(self, run_id: str, tags: dict[str, str]) -> None:
        """Set tags on a run (one batch)."""
        from mlflow.entities import RunTag

        self._call(
            f"could not tag run {run_id}",
            self.client.log_batch,
            run_id,
            tags=[RunTag(k, str(v)) for k, v in tags.items()],
        )

    def run_info(self, run_id: str) -> dict[str, Any] | None:
        """A run's ``run_id``, ``experiment_id``, ``name``, ``tags`` and ``artifact_uri``; None
        when there is no such run.

        Raises:
            TrackingError: the store is unreachable or failed.
        """
        if not _RUN_ID.match(run_id or ""):
            return None  # MLflow's own error for a malformed id reads like a store failure
        try:
            run = self.client.get_run(run_id)
        except Exception as exc:
            if getattr(exc, "error_code", None) in _NOT_FOUND:
                return None
            raise TrackingError(
                f"cannot read run {run_id}: tracking store {self.uri} failed: {short_error(exc)}",
                hint="check MLFLOW_TRACKING_URI / tracking_uri in nbgov.toml",
            ) from None
        return {
            "run_id": run.info.run_id,
            "experiment_id": str(run.info.experiment_id),
            "name": run.info.run_name,
            "tags": dict(run.data.tags),
            "artifact_uri": run.info.artifact_uri,
        }

    def experiment_id(self, name: str) -> str | None:
        """The id of the experiment called ``name``; None when the store has none."""
        exp = self._call(
            f"cannot look up experiment {name!r}", self.client.get_experiment_by_name, name
        )
        return str(exp.experiment_id) if exp is not None else None

    def search_runs(self, experiment_id: str, filter_string: str, max_results: int = 20) -> list[str]:
        """Ids of the runs of one experiment matching an MLflow filter, newest first."""
        runs = self._call(
            "cannot search runs",
            self.client.search_runs,
            [experiment_id],
            filter_string,
            max_results=max_results,
            order_by=["attributes.start_time DESC"],
        )
        return [r.info.run_id for r in runs]

    def logged_model_run(self, model: ModelVersion) -> str | None:
        """The run that logged the MLflow 3 logged model a version's source names
        (``models:/m-ID``); None when the source is not a logged model or it has no run.

        Raises:
            LineageError: the source names a logged model the store does not have.
        """
        logged = _LOGGED_MODEL.match(model.source or "")
        if not logged:
            return None
        found = self._call(
            f"no logged model {logged['id']} behind {model.uri}",
            self.client.get_logged_model,
            logged["id"],
        )
        return getattr(found, "source_run_id", None) or None

    def lineage_record(self, run_id: str) -> dict[str, Any] | None:
        """The ``nbgov/lineage.json`` artifact of a run, or None when the run has none."""
        with tempfile.TemporaryDirectory(prefix="nbgov-lineage-") as tmp:
            try:
                path = self.client.download_artifacts(run_id, LINEAGE_ARTIFACT, tmp)
                return json.loads(Path(path).read_text(encoding="utf-8"))
            except Exception:  # no such run / artifact: the caller reports the gap
                return None

    def model_files_uri(self, model: ModelVersion) -> str:
        """Where the files of a model version are, resolved in this registry's store.

        MLflow 3.17 resolves a ``models:/`` URI (and a version's ``models:/m-ID`` source)
        through the process-wide registry and tracking URIs, not the ones it is given: a
        stray ``MLFLOW_REGISTRY_URI`` sent it to another store ("Model Version ... not
        found"). Asking this store's client for the download location avoids that.

        Raises:
            LineageError: the version or its logged model does not exist.
            TrackingError: the store is unreachable.
        """
        uri = self._call(
            f"no model version {model.uri}",
            self.client.get_model_version_download_uri,
            model.name,
            model.version,
        )
        logged = _LOGGED_MODEL.match(uri or "")
        if logged:
            uri = self._call(
                f"no logged model {logged['id']} behind {model.uri}",
                self.client.get_logged_model,
                logged["id"],
            ).artifact_location
        return str(uri).rstrip("/")

    def input_columns(self, model: ModelVersion) -> list[str] | None:
        """The input column names of the model's signature, or None when it has no signature.

        Raises:
            TrackingError: the model's files cannot be read.
        """
        from mlflow.artifacts import download_artifacts
        from mlflow.models import Model

        location = self.model_files_uri(model)
        with tempfile.TemporaryDirectory(prefix="nbgov-model-") as tmp:
            try:
                path = download_artifacts(
                    artifact_uri=f"{location}/MLmodel",
                    dst_path=tmp,
                    tracking_uri=self.uri,
                    registry_uri=self.uri,
                )
                signature = Model.load(path).signature
            except Exception as exc:
                raise TrackingError(
                    f"cannot read the MLmodel of {model.uri} ({location}): {short_error(exc)}"
                ) from None
        if signature is None or signature.inputs is None:
            return None
        names = signature.inputs.input_names()
        return [str(n) for n in names] if names and all(n is not None for n in names) else None


def serve_command(
    model_uri: str, port: int, host: str = "127.0.0.1", workers: int = 1
) -> list[str]:
    """The ``mlflow models serve`` command line: local environment, no conda/virtualenv."""
    exe = Path(sys.executable).with_name("mlflow")
    base = (
        [str(exe)]
        if exe.exists()
        else (
            [shutil.which("mlflow")] if shutil.which("mlflow") else [sys.executable, "-m", "mlflow"]
        )
    )
    return [
        *base,
        "models",
        "serve",
        "-m",
        model_uri,
        "--host",
        host,
        "-p",
        str(port),
        "--env-manager",
        "local",
        "--workers",
        str(workers),
    ]

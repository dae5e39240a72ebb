"""A model version's files are read from nbgov's store, whatever registry URI the process
environment names: MLflow 3.17 resolves ``models:/`` through the process-wide registry URI
(MLFLOW_REGISTRY_URI first), and a stray one sent `nbgov monitor` to another store ("Model
Version ... not found"). The team-server test covers it end to end; this one is a fast check on
an SQLite store, including a version whose location is its logged model (``models:/m-ID``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nbgov.adapters.mlflow.registry import Registry

NAME = "registry-uri-model"


#: logs and registers a model with a signature; run in a subprocess because MLflow's fluent API
#: sets process-wide URIs (and exports them as env vars) that would leak into later tests
LOG_MODEL = f"""
import mlflow, pandas as pd
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression
frame = pd.DataFrame({{"alpha": [0.0, 1.0, 2.0, 3.0], "beta": [1.0, 0.0, 1.0, 0.0]}})
model = LogisticRegression().fit(frame, [0, 1, 0, 1])
mlflow.set_experiment("registry-uri")
with mlflow.start_run():
    mlflow.sklearn.log_model(model, name="model", signature=infer_signature(frame, model.predict(frame)),
                             registered_model_name="{NAME}")
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """An SQLite store with one registered model version that has a signature."""
    base = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{base / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_REGISTRY_URI": uri}
    subprocess.run([sys.executable, "-c", LOG_MODEL], cwd=base, env=env, check=True, capture_output=True,
                   timeout=300)
    return uri


def test_signature_is_read_from_our_store_despite_a_stray_registry_uri(store, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", f"sqlite:///{tmp_path / 'another-project.db'}")
    registry = Registry(store)
    version = registry.resolve(f"models:/{NAME}/1")
    assert registry.input_columns(version) == ["alpha", "beta"]
    # nothing was looked up in the other store
    assert not (tmp_path / "another-project.db").exists()


def test_a_version_located_by_its_logged_model_is_read_from_our_store(store, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", f"sqlite:///{tmp_path / 'another-project.db'}")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'another-project.db'}")
    registry = Registry(store)
    version = registry.resolve(f"models:/{NAME}/1")
    assert version.source.startswith("models:/m-"), version.source
    # a store that gives the version's source (models:/m-ID), not a storage location
    monkeypatch.setattr(registry.client, "get_model_version_download_uri", lambda name, v: version.source)
    location = registry.model_files_uri(version)
    assert not location.startswith("models:/") and Path(location.removeprefix("file://")).joinpath("MLmodel").exists()
    assert registry.input_columns(version) == ["alpha", "beta"]
    assert not (tmp_path / "another-project.db").exists()

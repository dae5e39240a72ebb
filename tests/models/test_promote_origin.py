"""Promotion bound to origin (issue 23, item 6; I11 in docs/security.md), against real MLflow: a
version counts only when the nbgov task run of this project that registered it names it, with
its own source run, in its lineage record. Tags are descriptive, never proof.

The example is built once per session; this module works on its own copy (its store gains
versions registered outside nbgov), with every notebook of the model's lineage approved, so
that the version the pipeline registered is promotable and anything refused is refused for
its origin alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.conftest import copy_built_example, free_port
from tests.faults.conftest import start_mlflow_server, stop

from .conftest import MODEL, REVIEWER, latest_version, run_cli, store
from .test_models_walkthrough import LINEAGE_NOTEBOOKS

pytestmark = pytest.mark.integration
EXPERIMENT = "nbgov-example"
NOT_BOUND = "is not bound to an nbgov task run of experiment 'nbgov-example'"


def client(root: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=store(root), registry_uri=store(root))


@pytest.fixture(scope="module")
def project(built_example, tmp_path_factory) -> dict:
    """A private copy of the built example, every notebook of the model's lineage approved:
    ``{"root", "version", "tags", "model_run"}`` of the version its pipeline registered."""
    root = copy_built_example(built_example, tmp_path_factory.mktemp("origin") / "example")
    approved = run_cli(root, "review", "approve", *LINEAGE_NOTEBOOKS, env={"NBGOV_REVIEWER": REVIEWER})
    assert approved.returncode == 0, approved.stderr
    version = latest_version(root)
    mv = client(root).get_model_version(MODEL, version)
    assert mv.run_id and mv.tags.get("nbgov.run_id"), "the build did not tag its version"
    return {"root": root, "version": version, "model_run": mv.run_id, "source": mv.source,
            "tags": {k: v for k, v in mv.tags.items() if k.startswith("nbgov.")}}


def register_outside_nbgov(root: Path, tags: dict[str, str], run_id: str | None = None,
                           source: str | None = None, experiment: str = EXPERIMENT) -> str:
    """What anyone with write access to the store can do with plain MLflow: a run of their
    own (or an existing run's id), files of their own, a new version carrying any tags."""
    mlflow = client(root)
    if run_id is None:
        exp = mlflow.get_experiment_by_name(experiment) or mlflow.get_experiment(
            mlflow.create_experiment(experiment))
        run = mlflow.create_run(exp.experiment_id, run_name="not nbgov")
        mlflow.log_text(run.info.run_id, "artifact_path: model\n", "model/MLmodel")
        mlflow.set_terminated(run.info.run_id)
        run_id = run.info.run_id
    mv = mlflow.create_model_version(MODEL, source or f"runs:/{run_id}/model", run_id=run_id,
                                     tags=tags)
    return str(mv.version)


def assert_refused(proc, version: str, root: Path) -> str:
    out = proc.stdout + proc.stderr  # a refused dry run explains on stdout
    assert proc.returncode == 1, out
    assert "Traceback" not in out
    reason = next(line for line in out.splitlines() if NOT_BOUND in line)
    assert f"models:/{MODEL}/{version} {NOT_BOUND}" in reason
    assert "tags such as nbgov.run_id are descriptive, never proof" in reason
    if "would refuse" not in out:
        assert "notebooks/register.ipynb" in proc.stderr  # what to do
    assert "approved" not in out  # nothing of the claimed lineage was judged
    assert client(root).get_registered_model(MODEL).aliases.get("champion") is None
    return reason


def test_the_pipelines_version_is_promoted(project):
    root, version = project["root"], project["version"]
    proc = run_cli(root, "promote", f"models:/{MODEL}/{version}", "--alias", "champion", "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (f"ok: models:/{MODEL}/{version} was registered by task register (run "
            f"{project['tags']['nbgov.run_id']}, model run {project['model_run']}) of this project"
            ) in proc.stdout
    # the lineage record of the register task run names the version and its source run
    from nbgov.adapters.mlflow.registry import Registry

    record = Registry(store(root)).lineage_record(project["tags"]["nbgov.run_id"])
    (entry,) = record["registered_models"]
    assert (entry["name"], entry["version"], entry["run_id"]) == (MODEL, version, project["model_run"])
    assert entry["digest"] == record["products"]["registered_model"]["digest"]


def test_a_version_registered_outside_nbgov_with_an_approved_runs_tags_is_refused(project):
    """The attack of issue 23, item 6: before the fix this promoted (the tags led to the
    approved lineage)."""
    root = project["root"]
    version = register_outside_nbgov(root, project["tags"])
    for args in ((), ("--dry-run",)):
        proc = run_cli(root, "promote", f"models:/{MODEL}/{version}", "--alias", "champion", *args)
        reason = assert_refused(proc, version, root)
        assert "no nbgov task run's lineage record names it" in reason


def test_a_new_version_from_the_approved_model_run_is_refused(project):
    """Same source run as the approved version, another version number (other files): the
    register task's record names only the version it registered."""
    root = project["root"]
    version = register_outside_nbgov(root, project["tags"], run_id=project["model_run"],
                                     source=f"runs:/{project['model_run']}/model")
    proc = run_cli(root, "promote", f"models:/{MODEL}/{version}", "--alias", "champion")
    reason = assert_refused(proc, version, root)
    assert f"names no registration of models:/{MODEL}/{version}" in reason


def test_a_version_from_another_projects_nbgov_task_run_is_refused(project, tmp_path):
    """Another project (its own experiment) builds its register task into the same store: a
    real nbgov task run, approved notebooks, a lineage record naming the version. Promoted from
    this project, the version is refused; from its own project, its origin holds."""
    root = project["root"]
    other = tmp_path / "other"
    shutil.copytree(root, other, symlinks=True, ignore=shutil.ignore_patterns("mlflow.db", "mlruns"))
    toml = (other / "nbgov.toml").read_text().replace(
        f'experiment = "{EXPERIMENT}"', 'experiment = "other-project"')
    (other / "nbgov.toml").write_text(toml)
    env = {"MLFLOW_TRACKING_URI": store(root)}
    built = run_cli(other, "build", "register", "--force", env=env)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    version = latest_version(root)
    assert version != project["version"]
    mv = client(root).get_model_version(MODEL, version)
    exp = client(root).get_experiment(client(root).get_run(mv.run_id).info.experiment_id)
    assert exp.name == "other-project" and mv.tags.get("nbgov.run_id")

    proc = run_cli(root, "promote", f"models:/{MODEL}/{version}", "--alias", "champion")
    reason = assert_refused(proc, version, root)
    assert f"its source run {mv.run_id} belongs to another experiment" in reason
    own = run_cli(other, "promote", f"models:/{MODEL}/{version}", "--alias", "champion",
                  "--dry-run", env=env)
    assert f"ok: models:/{MODEL}/{version} was registered by task register" in own.stdout, (
        own.stdout + own.stderr)


def test_through_a_real_mlflow_server(project, tmp_path):
    """The same decisions through `mlflow server` (REST client) as through the SQLite store."""
    root = project["root"]
    attack = register_outside_nbgov(root, project["tags"])
    folder = tmp_path / "store"
    folder.mkdir()
    shutil.copy(root / "mlflow.db", folder / "server.db")  # artifacts stay where the runs say
    port = free_port()
    server = start_mlflow_server(folder, port)
    try:
        env = {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"}
        good = run_cli(root, "promote", f"models:/{MODEL}/{project['version']}", "--alias",
                       "champion", "--dry-run", env=env)
        bad = run_cli(root, "promote", f"models:/{MODEL}/{attack}", "--alias", "champion", env=env)
    finally:
        stop(server)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "was registered by task register" in good.stdout
    assert_refused(bad, attack, root)

"""`nbgov export argo|kubeflow` offline: the Argo Workflow validates against hera's models of
Argo's schema, the KFP pipeline compiles with the KFP SDK (its own venv), both name every task
and edge; [export] settings apply; exports refuse products that are not on shared storage."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest
import yaml
from tests.build.conftest import run_cli
from tests.export.conftest import KFP_VENV, nbgov_env, run, venv_python

TASKS = ["ingest", "profile", "features", "train", "evaluate", "monitor", "register"]
EDGES = {("ingest", "profile"), ("ingest", "features"), ("features", "train"), ("train", "evaluate"),
         ("features", "evaluate"), ("train", "monitor"), ("features", "monitor"), ("evaluate", "register"),
         ("train", "register"), ("features", "register")}

EXPORT_CONFIG = """
[export]
image = "registry.example.com/team/example:1"
retries = 2
retry_delay_s = 30
memory = "2Gi"
[export.tasks.train]
retries = 0
cpu = "2"
memory = "4Gi"
"""

CLIENT = '''from ploomber.clients import LocalStorageClient


def get_client():
    return LocalStorageClient("/shared/products", path_to_project_root=".")
'''


ORIGIN = "https://git.example.com/team/example.git"


@pytest.fixture
def shared(example: Path) -> Path:
    """The example with its products on shared storage (a File client) and [export] settings,
    committed, with a remote the exported tasks fetch that commit from."""
    spec = (example / "pipeline.yaml").read_text()
    (example / "pipeline.yaml").write_text("clients:\n  File: storage_client.get_client\n" + spec)
    (example / "storage_client.py").write_text(CLIENT)
    with (example / "nbgov.toml").open("a") as fh:
        fh.write(EXPORT_CONFIG)
    subprocess.run(["git", "-C", str(example), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(example), "commit", "-qm", "products on shared storage"], check=True)
    subprocess.run(["git", "-C", str(example), "remote", "add", "origin", ORIGIN], check=True)
    return example


def _commit(root: Path) -> str:
    return subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_argo_workflow_validates_and_names_every_task_and_edge(shared: Path):
    from hera.workflows.models import Workflow

    proc = run_cli(shared, "export", "argo", "--environment", "prod", "-o", "wf.yaml")
    assert proc.returncode == 0, proc.stderr
    data = yaml.safe_load((shared / "wf.yaml").read_text())
    workflow = Workflow.model_validate(data)  # raises on anything Argo's schema refuses
    assert workflow.kind == "Workflow" and workflow.spec.on_exit == "nbgov-close-build"
    templates = {t.name: t for t in workflow.spec.templates}
    dag = {t.name: t for t in templates["pipeline"].dag.tasks}
    assert set(dag) == {*TASKS, "nbgov-open-build"}
    edges = {(up, name) for name, t in dag.items() for up in (t.dependencies or []) if up != "nbgov-open-build"}
    assert edges == EDGES
    assert all("nbgov-open-build" in (dag[t].dependencies or []) for t in TASKS)
    train = templates["task-train"].container
    assert train.image == "registry.example.com/team/example:1"
    # the step fetches the exported commit (no shared project folder)
    assert train.args == ["build", "train", "--build-id", "{{workflow.uid}}", "-q", "--environment", "prod",
                          "--commit", _commit(shared), "--repository", ORIGIN]
    assert train.working_dir is None
    assert train.resources.limits["cpu"].root == "2" and train.resources.limits["memory"].root == "4Gi"
    assert templates["task-train"].retry_strategy is None  # [export.tasks.train] retries = 0
    ingest = templates["task-ingest"]
    assert ingest.retry_strategy.limit.root == "2" and ingest.container.resources.requests["memory"].root == "2Gi"
    close = templates["nbgov-close-build"].container
    assert "nbgov close-build '{{workflow.uid}}'" in close.args[-1] or "close-build {{workflow.uid}}" in close.args[-1]
    assert "{{workflow.status}}" in close.args[-1]


def test_kubeflow_pipeline_compiles_with_every_task_and_edge(shared: Path, tmp_path: Path):
    python = venv_python(KFP_VENV, "KFP")
    proc = run_cli(shared, "export", "kubeflow", "-o", "pipe_kfp.py")
    assert proc.returncode == 0, proc.stderr
    ast.parse((shared / "pipe_kfp.py").read_text())
    out = tmp_path / "pipeline.kfp.yaml"
    compiled = run([python, shared / "pipe_kfp.py", out], shared, nbgov_env())
    assert compiled.returncode == 0, compiled.stderr[-3000:]
    spec = yaml.safe_load(out.read_text())
    root = spec["root"]["dag"]["tasks"]
    assert set(root) == {"exit-handler-1", "nbgov-close-build"}
    assert root["nbgov-close-build"]["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED"
    inner = spec["components"]["comp-exit-handler-1"]["dag"]["tasks"]
    names = {k: v["taskInfo"]["name"] for k, v in inner.items()}
    assert set(names.values()) == {*TASKS, "nbgov-open-build"}
    key = {v: k for k, v in names.items()}
    edges = {(names[dep], name) for k, name in names.items() for dep in inner[k].get("dependentTasks", [])
             if names[dep] != "nbgov-open-build"}
    assert edges == EDGES
    train = inner[key["train"]]
    assert train["inputs"]["parameters"]["task"]["runtimeValue"]["constant"] == "train"
    assert "{{$.pipeline_job_uuid}}" in str(train["inputs"]["parameters"]["build_id"]) or \
        "pipeline_job" in str(train["inputs"]["parameters"]["build_id"])
    assert inner[key["ingest"]]["retryPolicy"]["maxRetryCount"] == 2
    # the step fetches the exported commit (no shared project folder, no `cd`)
    command = next(e["container"] for e in spec["deploymentSpec"]["executors"].values()
                   if "build" in e["container"].get("args", []))
    assert command["command"] == ["nbgov"] and command["args"][-4:] == ["--commit", _commit(shared), "--repository",
                                                                         ORIGIN]
    executors = spec["deploymentSpec"]["executors"]
    assert any(e["container"]["image"] == "registry.example.com/team/example:1" for e in executors.values())


def test_exports_refuse_local_products_and_bad_settings(example: Path):
    refused = run_cli(example, "export", "argo", "-o", "wf.yaml")
    assert refused.returncode == 2 and "not on shared storage" in refused.stderr
    assert "--allow-local-products" in refused.stderr and not (example / "wf.yaml").exists()
    unknown_env = run_cli(example, "export", "argo", "--allow-local-products", "--environment", "staging", "-o", "-")
    assert unknown_env.returncode == 2 and "unknown environment 'staging'" in unknown_env.stderr
    with (example / "nbgov.toml").open("a") as fh:
        fh.write('\n[export]\nretries = 1\nmemroy = "1Gi"\n')
    bad = run_cli(example, "export", "airflow", "--allow-local-products", "-o", "-")
    assert bad.returncode == 2 and "unknown key(s) in [export]: memroy" in bad.stderr
    assert "Traceback" not in bad.stderr
    engine = run_cli(example, "export", "prefect")
    assert engine.returncode == 2 and "airflow" in engine.stderr

"""`nbgov lineage` on the built example project: every kind of target, from the registered model
version back to the ingested data, from local records and from MLflow alone."""

from __future__ import annotations

import json
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from tests.conftest import free_port

from nbgov.adapters.notebooks import read_notebook
from nbgov.core.digest import file_digest
from nbgov.core.identity import notebook_version

from .conftest import MODEL, lineage_json, nbgov

pytestmark = pytest.mark.integration
CHAIN = {"register", "evaluate", "train", "features", "ingest"}


def tasks_of(payload: dict) -> dict[str, dict]:
    return {n["task"]: n for n in payload["nodes"].values() if n["kind"] == "task"}


def record(root: Path, task: str) -> dict:
    return json.loads((root / "products" / f"{task}.lineage.json").read_text())


def test_model_version_walks_back_to_the_ingested_data(example: Path, store: str):
    payload = lineage_json(example, f"models:/{MODEL}/1")
    assert payload["schema"] == "nbgov.lineage/1" and payload["missing"] == []
    (root,) = payload["roots"]
    model = payload["nodes"][root]
    assert model["kind"] == "model" and model["model"]["uri"] == f"models:/{MODEL}/1"
    tasks = tasks_of(payload)
    assert set(tasks) == CHAIN
    for name, node in tasks.items():
        # each notebook's version as it is in the repository, and its review status at run time
        assert node["notebook"]["version"] == notebook_version(
            read_notebook(example / f"notebooks/{name}.ipynb")
        )
        assert node["notebook"]["review_status"] == "unreviewed"
        assert node["run_id"] == record(example, name)["run_id"]
    assert model["upstream"] == [tasks["register"]["key"]]
    assert tasks["ingest"]["upstream"] == []
    assert tasks["ingest"]["products"]["data"]["digest"] == file_digest(
        example / "products/raw.csv"
    )
    assert tasks["train"]["params"] == {"C": 1.0, "max_iter": 1000}
    assert set(tasks["evaluate"]["upstream"]) == {tasks["train"]["key"], tasks["features"]["key"]}

    text = nbgov(example, "lineage", f"models:/{MODEL}/1")
    assert text.returncode == 0, text.stderr
    raw = file_digest(example / "products/raw.csv")
    assert raw[: len("sha256:") + 12] in text.stdout
    for name in CHAIN:
        assert f"notebooks/{name}.ipynb" in text.stdout
    assert "[unreviewed]" in text.stdout and tasks["register"]["run_id"] in text.stdout


def test_model_version_is_tagged_with_its_lineage(example: Path, store: str):
    from mlflow.tracking import MlflowClient

    version = MlflowClient(tracking_uri=store, registry_uri=store).get_model_version(MODEL, "1")
    tags = version.tags
    assert tags["nbgov.run_id"] == record(example, "register")["run_id"]
    assert set(tags["nbgov.lineage.runs"].split(",")) == {
        record(example, t)["run_id"] for t in CHAIN
    }
    assert json.loads(tags["nbgov.lineage.data_digest"])["ingest.data"] == file_digest(
        example / "products/raw.csv"
    )
    assert set(json.loads(tags["nbgov.lineage.notebooks"])) == CHAIN
    # the model was logged with a signature and an input example
    import mlflow

    mlflow.set_tracking_uri(store)
    mlflow.set_registry_uri(store)
    info = mlflow.models.get_model_info(f"models:/{MODEL}/1")
    assert info.signature is not None and "mean_radius" in info.signature.inputs.input_names()
    assert info.saved_input_example_info is not None


def test_alias_resolves_to_its_version(example: Path, store: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store, registry_uri=store)
    client.set_registered_model_alias(MODEL, "candidate", "1")
    try:  # the example is shared by the session: leave its registry as it was
        payload = lineage_json(example, f"models:/{MODEL}@candidate")
    finally:
        client.delete_registered_model_alias(MODEL, "candidate")
    assert payload["model"]["version"] == "1" and "candidate" in payload["model"]["aliases"]
    assert set(tasks_of(payload)) == CHAIN


def test_untagged_version_is_found_through_the_registering_run(example: Path, store: str):
    """`ploomber build` does not tag versions: the run tag glued by the register task suffices."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store, registry_uri=store)
    run_id = client.get_model_version(MODEL, "1").tags["nbgov.run_id"]
    client.delete_model_version_tag(MODEL, "1", "nbgov.run_id")
    try:
        payload = lineage_json(example, f"models:/{MODEL}/1")
    finally:
        client.set_model_version_tag(MODEL, "1", "nbgov.run_id", run_id)
    assert tasks_of(payload)["register"]["run_id"] == run_id and set(tasks_of(payload)) == CHAIN


def test_lineage_from_mlflow_alone_after_products_moved(example: Path, tmp_path: Path):
    moved = tmp_path / "products-elsewhere"
    shutil.move(example / "products", moved)
    try:
        payload = lineage_json(example, f"models:/{MODEL}/1")
        tasks = tasks_of(payload)
        assert set(tasks) == CHAIN and {n["origin"] for n in tasks.values()} == {"mlflow"}
        by_task = lineage_json(example, "train")  # newest successful run of the task in MLflow
        assert payload["nodes"][by_task["roots"][0]]["task"] == "train"
    finally:
        shutil.move(moved, example / "products")


def test_task_target_reads_local_records(example: Path):
    payload = lineage_json(example, "train")
    (root,) = payload["roots"]
    assert payload["nodes"][root]["task"] == "train" and root == record(example, "train")["run_id"]
    assert set(tasks_of(payload)) == {"train", "features", "ingest"}
    assert {n["origin"] for n in tasks_of(payload).values()} == {"local"}


def test_product_target_is_found_by_content(example: Path):
    payload = lineage_json(example, "products/model.pkl")
    assert payload["target"]["kind"] == "product"
    assert payload["target"]["digest"] == file_digest(example / "products/model.pkl")
    assert payload["nodes"][payload["roots"][0]]["task"] == "train"


def test_run_id_target(example: Path):
    run_id = record(example, "evaluate")["run_id"]
    payload = lineage_json(example, run_id)
    assert payload["roots"] == [run_id]
    assert set(tasks_of(payload)) == {"evaluate", "train", "features", "ingest"}


def test_build_run_target_lists_the_tasks_of_that_build(example: Path):
    parent = record(example, "register")["parent_run_id"]
    payload = lineage_json(example, parent)
    roots = {payload["nodes"][k]["task"] for k in payload["roots"]}
    # the tasks nothing else in the build consumed; everything else hangs below them
    assert "register" in roots and not roots & {"ingest", "features", "train", "evaluate"}
    assert CHAIN <= set(tasks_of(payload))


def test_missing_product_shows_its_last_producer_with_a_warning(example: Path, tmp_path: Path):
    from nbgov.core.config import load_config
    from nbgov.services.lineage.query import lineage

    metrics = example / "products" / "metrics.json"
    shutil.move(metrics, tmp_path / "metrics.json")
    try:
        payload = lineage(load_config(example), str(metrics))
    finally:
        shutil.move(tmp_path / "metrics.json", metrics)
    assert payload["nodes"][payload["roots"][0]]["task"] == "evaluate"
    assert payload["warnings"] == [
        "products/metrics.json does not exist any more; showing the run that last produced it"
    ]


def test_pictures_and_graph_formats(example: Path, tmp_path: Path):
    svg = tmp_path / "lineage.svg"
    proc = nbgov(example, "lineage", f"models:/{MODEL}/1", "--output", str(svg))
    assert proc.returncode == 0, proc.stderr
    tree = ET.parse(svg)
    texts = {t.text for t in tree.iter("{http://www.w3.org/2000/svg}text")}
    assert CHAIN <= texts and f"models:/{MODEL}/1" in texts
    mermaid = nbgov(example, "lineage", "evaluate", "--format", "mermaid").stdout
    assert (
        mermaid.startswith("flowchart LR") and mermaid.count("-->") == 4
    )  # ingest->features->train, 2 into evaluate
    dot = nbgov(example, "lineage", "evaluate", "--format", "dot").stdout
    assert dot.startswith("digraph lineage {") and dot.count("->") == 4
    assert (
        nbgov(example, "lineage", "evaluate", "--output", str(tmp_path / "x.gif")).returncode != 0
    )


@pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz is not installed (.ci/run installs it)"
)
def test_png_through_graphviz(example: Path, tmp_path: Path):
    png = tmp_path / "lineage.png"
    proc = nbgov(example, "lineage", "train", "-o", str(png))
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_record_matches_the_schema(example: Path, store: str):
    import jsonschema

    from nbgov.core.lineage import SCHEMA_FILE

    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    records = [json.loads(p.read_text()) for p in (example / "products").glob("*.lineage.json")]
    assert len(records) >= len(CHAIN) + 2
    for rec in records:
        jsonschema.validate(rec, schema)
        assert rec["environment"]["environment_yml_digest"] == file_digest(
            example / "environment.yml"
        )
        assert isinstance(rec["git"]["dirty"], bool)
    from nbgov.adapters.mlflow.lineage_store import LineageStore

    logged = LineageStore(store).record(record(example, "register")["run_id"])
    jsonschema.validate(logged, schema)
    assert logged == record(example, "register")


def test_bad_targets_fail_clearly(example: Path):
    proc = nbgov(example, "lineage", "no-such-task")
    assert proc.returncode == 2 and "unknown lineage target 'no-such-task'" in proc.stderr
    assert "Traceback" not in proc.stderr
    edited = example / "products" / "hand-made.csv"
    edited.write_text("a,b\n1,2\n")
    try:
        proc = nbgov(example, "lineage", "products/hand-made.csv")
        assert proc.returncode == 2 and "not produced by any recorded run" in proc.stderr
    finally:
        edited.unlink()
    proc = nbgov(example, "lineage", "0" * 32)
    assert proc.returncode == 2 and f"no run {'0' * 32}" in proc.stderr
    proc = nbgov(example, "lineage", f"models:/{MODEL}/99")
    assert proc.returncode == 2 and "no model version" in proc.stderr


def test_unreachable_store_fails_fast(example: Path, tmp_path: Path):
    started = time.monotonic()
    proc = nbgov(
        example, "lineage", "0" * 32, env={"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"}
    )
    assert proc.returncode == 2 and "is not reachable" in proc.stderr
    assert time.monotonic() - started < 30
    proc = nbgov(
        example,
        "lineage",
        f"models:/{MODEL}/1",
        env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'missing.db'}"},
    )
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    assert not (tmp_path / "missing.db").exists()

"""The pure parts: the upstream walk, its renderings, and content freshness."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from nbgov.core.freshness import decide
from nbgov.core.lineage_graph import (
    build_graph,
    model_node,
    render_dot,
    render_mermaid,
    render_svg,
    render_text,
    walk,
)

D = {name: "sha256:" + (c * 64) for name, c in (("raw", "a"), ("feat", "b"), ("model", "c"))}


def rec(
    task: str, run_id: str | None, upstream=(), inputs=(), products=None, status="approved"
) -> dict:
    return {
        "task": task,
        "run_id": run_id,
        "outcome": "succeeded",
        "notebook": {
            "path": f"notebooks/{task}.ipynb",
            "version": "nbv1:" + "1" * 64,
            "review_status": status,
        },
        "params": {"seed": 1},
        "upstream": [{"task": t, "run_id": r} for t, r in upstream],
        "inputs": [{"task": t, "key": k, "path": p, "digest": d} for t, k, p, d in inputs],
        "products": products or {},
        "git": {"commit": "f" * 40, "dirty": False},
        "environment": {},
    }


INGEST = rec(
    "ingest",
    "r1",
    products={
        "data": {"path": "products/raw.csv", "digest": D["raw"]},
        "nb": {"path": "products/ingest.ipynb", "digest": D["feat"]},
    },
)
FEATURES = rec(
    "features", "r2", [("ingest", "r1")], [("ingest", "data", "products/raw.csv", D["raw"])]
)
TRAIN = rec(
    "train", "r3", [("features", "r2")], [("features", "train", "products/train.csv", D["feat"])]
)
EVALUATE = rec(
    "evaluate",
    "r4",
    [("train", "r3"), ("features", "r2")],
    [
        ("train", "model", "products/model.pkl", D["model"]),
        ("features", "test", "products/test.csv", D["feat"]),
    ],
    status="stale",
)
STORE = {r["run_id"]: r for r in (INGEST, FEATURES, TRAIN, EVALUATE)}


def fetch(run_id):
    return STORE.get(run_id), "mlflow"


def test_walk_visits_a_diamond_once_and_keeps_edges():
    graph = build_graph([(EVALUATE, "local")], fetch)
    assert walk(graph) == ["r4", "r3", "r2", "r1"]
    assert (
        graph["nodes"]["r4"]["upstream"] == ["r3", "r2"]
        and graph["nodes"]["r4"]["origin"] == "local"
    )
    assert graph["nodes"]["r1"]["origin"] == "mlflow"
    text = render_text(graph)
    assert (
        text.count("features  notebooks/features.ipynb") == 1
        and "features (run r2, see above)" in text
    )
    assert "out products/raw.csv sha256:aaaaaaaaaaaa" in text and "[stale]" in text
    assert "products/ingest.ipynb" not in text  # the executed notebook is not data


def test_unreadable_and_unrecorded_upstream_become_missing_nodes():
    orphan = rec("train", "r9", [("features", "gone"), ("ingest", None)])
    graph = build_graph([(orphan, "local")], fetch)
    assert (
        graph["nodes"]["gone"]["kind"] == "missing"
        and graph["nodes"]["task:ingest"]["kind"] == "missing"
    )
    assert "no lineage record found" in render_text(graph)


def test_mermaid_dot_and_svg_name_every_node_and_edge():
    graph = build_graph([(EVALUATE, "local")], fetch)
    model = model_node(
        {"name": "m", "version": "3", "uri": "models:/m/3", "aliases": ["champion"], "run_id": "x"},
        graph["roots"],
    )
    graph["nodes"][model["key"]] = model
    graph["roots"] = [model["key"]]
    mermaid = render_mermaid(graph)
    assert mermaid.count("-->") == 5 and '|"model sha256:cccccccc"|' in mermaid
    assert "style n1 stroke:#c60" in mermaid  # evaluate is not approved at its version
    dot = render_dot(graph)
    assert dot.count("->") == 5 and 'label="models:/m/3\\nrun x"' in dot
    svg = ET.fromstring(render_svg(graph))
    texts = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert {"ingest", "features", "train", "evaluate", "models:/m/3"} <= set(texts)
    assert "model models:/m/3 @champion" in render_text(graph)


def test_svg_escapes_user_text():
    evil = rec('<script>alert("x")</script>', "r5")
    svg = render_svg(build_graph([(evil, "local")], fetch))
    ET.fromstring(svg)  # well-formed
    assert "<script>" not in svg


def now(record, **over):
    state = {
        "notebook_version": record["notebook"]["version"],
        "params": dict(record["params"]),
        "inputs": {i["path"]: i["digest"] for i in record["inputs"]},
        "products": {p["path"]: p["digest"] for p in record["products"].values()},
    }
    state.update(over)
    return decide(record, **state)


def test_freshness_by_content():
    assert now(FEATURES).fresh is True
    assert decide(None, "nbv1:x", {}, {}, {}).fresh is False  # unrecorded: never up to date
    assert now(FEATURES, notebook_version="nbv1:" + "2" * 64).reason == "notebook version changed"
    assert now(FEATURES, params={"seed": 2}).reason == "parameters changed"
    changed = now(FEATURES, inputs={"products/raw.csv": D["feat"]})
    assert changed.fresh is False and changed.reason == "input products/raw.csv changed"
    assert (
        now(FEATURES, inputs={"products/raw.csv": D["raw"], "products/new.csv": D["raw"]}).fresh
        is False
    )
    assert (
        now(INGEST, products={"products/raw.csv": None}).reason
        == "product products/raw.csv is missing"
    )
    # a product whose bytes differ from what its run wrote (a half-written file of a killed run,
    # an unrecorded run, a hand edit) makes its producer outdated: never called up to date
    edited = now(INGEST, products={"products/raw.csv": D["model"]})
    assert edited.fresh is False and edited.reason == "product products/raw.csv changed since its recorded run"
    assert now({**FEATURES, "outcome": "failed"}).fresh is False


def test_graph_payload_matches_its_schema():
    import json

    import jsonschema

    from nbgov.core.lineage_graph import PAYLOAD_SCHEMA_FILE
    from nbgov.services.lineage.query import PAYLOAD_SCHEMA

    schema = json.loads(PAYLOAD_SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    graph = build_graph(
        [(EVALUATE, "local"), (rec("train", "r9", [("features", "gone")]), "local")], fetch
    )
    payload = {
        "schema": PAYLOAD_SCHEMA,
        "target": {"text": "r4", "kind": "run"},
        "model": None,
        "missing": ["gone"],
        "warnings": [],
        "tracking_uri": "sqlite:///mlflow.db",
        **graph,
    }
    jsonschema.validate(payload, schema)
    payload["nodes"]["r4"].pop("notebook")
    try:
        jsonschema.validate(payload, schema)
    except jsonschema.ValidationError as exc:
        assert "'notebook' is a required property" in exc.message
    else:
        raise AssertionError("a task node without its notebook must not validate")


def test_an_upstream_not_yet_synced_is_fetched_by_its_run_key():
    """A run kept in the local journal has no run id until `nbgov sync`: its key finds it."""
    ingest = {**rec("ingest", None), "run_key": "b1.x/ingest"}
    features = rec("features", None)
    features["upstream"] = [{"task": "ingest", "run_id": None, "run_key": "b1.x/ingest"}]
    asked: list[str] = []

    def fetch(ref: str):
        asked.append(ref)
        return ({"b1.x/ingest": ingest}.get(ref), "local")

    graph = build_graph([(features, "local")], fetch)
    assert asked == ["b1.x/ingest"]
    assert graph["nodes"]["task:features"]["upstream"] == ["task:ingest"]
    assert graph["nodes"]["task:ingest"]["kind"] == "task"
    # without a key either, the upstream stays missing (nothing to fetch by)
    features["upstream"] = [{"task": "ingest", "run_id": None}]
    assert build_graph([(features, "local")], fetch)["nodes"]["task:ingest"]["kind"] == "missing"


def test_runs_kept_in_the_journal_say_not_synced_in_every_rendering():
    # a diamond of runs written while the store was down: no run id yet, a run key each
    journaled = {}
    for record in (INGEST, FEATURES, TRAIN, EVALUATE):
        key = f"b1/{record['task']}"
        journaled[key] = {**record, "run_id": None, "run_key": key, "upstream": [
            {"task": u["task"], "run_id": None, "run_key": f"b1/{u['task']}"}
            for u in record["upstream"]]}
    graph = build_graph([(journaled["b1/evaluate"], "local")],
                        lambda key: (journaled.get(key), "local"))
    assert all(not n["synced"] and n["run_key"] for n in graph["nodes"].values())
    text = render_text(graph)
    assert "None" not in text and "run -" not in text, text
    assert text.count("run (not synced yet: kept in .nbgov/journal; run `nbgov sync`)") == 4, text
    assert "features (run not synced, see above)" in text, text
    assert render_dot(graph).count("run not synced") == 4
    assert render_mermaid(graph).count("run not synced") == 4
    # a synced run says its id, and an old record without a run key makes no claim
    synced = build_graph([(INGEST, "local")], fetch)
    assert synced["nodes"]["r1"]["synced"] is True and "run r1" in render_text(synced)

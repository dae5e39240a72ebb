"""The promotion gate in process (``nbgov.services.models.promote``): which reasons refuse, what an
accepted promotion changes and records. The model registry is an in-memory stand-in with the
adapter's interface (the real MLflow store is exercised end to end in test_models_walkthrough);
the review ledger, the promotion ledger and the configuration are real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nbgov.adapters.mlflow.registry import ModelVersion, parse_model_uri
from nbgov.core.config import load_config
from nbgov.core.errors import ConfigError, GateError, LineageError, ParameterError
from nbgov.core.ledger import new_record
from nbgov.services.models import promote as gate
from nbgov.services.models.promote import (
    ModelLineage,
    PromoteSettings,
    model_lineage,
    plan_promotion,
    promote,
)
from nbgov.services.models.promotions import read_promotions

RUN = {t: f"{i:032x}" for i, t in enumerate(["ingest", "train", "register", "monitor"], start=1)}
VERSION = {t: "nbv1:" + c * 64 for t, c in zip(RUN, "abcd", strict=True)}
RITA = "Rita Reviewer <rita@example.com>"


def lineage_record(task: str, upstream: list[str], metrics: dict | None = None,
                   outcome: str = "succeeded") -> dict:
    return {"task": task, "run_id": RUN[task], "outcome": outcome, "metrics": metrics or {},
            "notebook": {"path": f"notebooks/{task}.ipynb", "version": VERSION[task]},
            "upstream": [{"task": u, "run_id": RUN[u]} for u in upstream]}


class FakeRegistry:
    """The slice of nbgov.adapters.mlflow.registry.Registry the gate uses, over plain dicts."""

    models: dict[str, ModelVersion] = {}
    records: dict[str, dict] = {}
    aliases: dict[tuple[str, str], str] = {}

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def resolve(self, ref):
        ref = parse_model_uri(ref) if isinstance(ref, str) else ref
        key = ref.version or self.aliases.get((ref.name, ref.alias))
        if (ref.name, key) not in self.models:
            raise LineageError(f"no model version {ref}")
        return self.models[(ref.name, key)]

    def alias_target(self, name: str, alias: str) -> str | None:
        return self.aliases.get((name, alias))

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.aliases[(name, alias)] = version

    def lineage_record(self, run_id: str) -> dict | None:
        return self.records.get(run_id)


@pytest.fixture
def registry(monkeypatch) -> type[FakeRegistry]:
    """Version 1 of model m, registered by the register task (ingest -> train -> register), with
    f1 0.95 glued by train; a monitor run tags the version too (not part of its lineage)."""
    FakeRegistry.records = {
        RUN["ingest"]: lineage_record("ingest", []),
        RUN["train"]: lineage_record("train", ["ingest"], {"f1": 0.95, "latency_ms": 20.0}),
        RUN["register"]: lineage_record("register", ["train", "ingest"]),
        RUN["monitor"]: lineage_record("monitor", ["register"]),
    }
    FakeRegistry.models = {("m", "1"): ModelVersion(
        "m", "1", RUN["register"], "runs:/x/model",
        tags={"nbgov.run_id": RUN["register"], "nbgov.monitor.run_id": RUN["monitor"]})}
    FakeRegistry.aliases = {}
    monkeypatch.setattr(gate, "Registry", FakeRegistry)
    return FakeRegistry


def project(root: Path, promote_table: str = "", approved: tuple[str, ...] = ()) -> Path:
    (root / "nbgov.toml").write_text(f'tracking_uri = "sqlite:///{root}/mlflow.db"\n'
                                     f"[promote]\n{promote_table}\n")
    previous, lines = None, []
    for task in approved:
        previous = new_record(previous, notebook=f"notebooks/{task}.ipynb", version=VERSION[task],
                              decision="approved", reviewer=RITA)
        lines.append(previous.to_line())
    if lines:
        (root / ".nbgov").mkdir(exist_ok=True)
        (root / ".nbgov/reviews.jsonl").write_text("".join(lines))
    return root


ALL = ("ingest", "train", "register")


def test_accepted_when_approved_and_thresholds_hold_then_recorded(tmp_path, registry):
    config = load_config(project(tmp_path, 'thresholds = ["f1 >= 0.9", "train.latency_ms <= 50"]',
                                 approved=ALL))
    plan = promote(config, "models:/m/1", "champion", dry_run=True)
    assert plan.accepted and not plan.done and plan.reasons == [] and plan.previous is None
    assert registry.aliases == {}  # a dry run changes nothing
    assert not (tmp_path / ".nbgov/promotions.jsonl").exists()
    assert plan.explain().splitlines()[0] == ("would set alias 'champion' to models:/m/1 "
                                              "(alias not set before)")
    assert plan.checks == [
        "notebooks/register.ipynb (task register) at version cccccccccccc: approved",
        "notebooks/train.ipynb (task train) at version bbbbbbbbbbbb: approved",
        "notebooks/ingest.ipynb (task ingest) at version aaaaaaaaaaaa: approved",
        *[v.explain() for v in plan.verdicts],
    ]
    assert len(plan.verdicts) == 2 and all(v.ok for v in plan.verdicts)

    done = promote(config, "models:/m/1", "champion", note="first", by=RITA)
    assert done.accepted and done.done and registry.aliases == {("m", "champion"): "1"}
    (record,) = read_promotions(tmp_path / ".nbgov/promotions.jsonl")
    assert (record.model, record.version, record.alias, record.previous) == ("m", "1", "champion", None)
    assert record.by == RITA and record.note == "first" and record.checks == done.checks
    assert done.record == record.to_dict()
    assert done.explain().startswith("alias 'champion' now points at models:/m/1")
    again = promote(config, "models:/m@champion", "champion", dry_run=True)
    assert again.previous == "1" and "(already there)" in again.explain()


def test_every_unapproved_notebook_and_failing_threshold_is_a_reason(tmp_path, registry):
    config = load_config(project(tmp_path, 'thresholds = ["f1 >= 0.99", "auc >= 0.5"]',
                                 approved=("ingest",)))
    with pytest.raises(GateError) as err:
        promote(config, "models:/m/1", "champion", by=RITA)
    reasons = err.value.reasons
    assert reasons[:2] == [
        "notebooks/register.ipynb (task register) at version cccccccccccc: unreviewed",
        "notebooks/train.ipynb (task train) at version bbbbbbbbbbbb: unreviewed",
    ]
    assert any(r.startswith("f1 = 0.95") and "needs >= 0.99" in r for r in reasons)
    assert any(r.startswith("auc: not recorded") for r in reasons)
    assert len(reasons) == 4 and "monitor" not in json.dumps(reasons)
    assert err.value.exit_code == 1 and "4 reason(s)" in err.value.message
    assert registry.aliases == {} and not (tmp_path / ".nbgov/promotions.jsonl").exists()
    plan = promote(config, "models:/m/1", "champion", dry_run=True)  # a dry run explains instead
    assert not plan.accepted and plan.reasons == reasons
    assert plan.explain().splitlines()[0] == "would refuse: 'champion' -> models:/m/1"
    assert "  NO: notebooks/train.ipynb (task train) at version bbbbbbbbbbbb: unreviewed" in plan.explain()
    assert "  ok: notebooks/ingest.ipynb (task ingest) at version aaaaaaaaaaaa: approved" in plan.explain()
    assert plan.to_dict()["accepted"] is False and plan.to_dict()["reasons"] == reasons


def test_a_failed_run_in_the_lineage_refuses_even_when_approved(tmp_path, registry):
    registry.records[RUN["train"]] = lineage_record("train", ["ingest"], outcome="failed")
    plan, _, _ = plan_promotion(load_config(project(tmp_path, approved=ALL)), "models:/m/1", "champion")
    assert plan.reasons == [f"task train run {RUN['train']} failed"] and not plan.accepted


def test_require_approved_false_skips_only_the_approvals(tmp_path, registry):
    config = load_config(project(tmp_path, 'require_approved = false\nthresholds = ["f1 >= 0.9"]'))
    plan, _, _ = plan_promotion(config, "models:/m/1", "champion")
    assert plan.accepted and [c.split(",")[0] for c in plan.checks] == ["f1 = 0.95"]
    config = load_config(project(tmp_path, 'require_approved = false\nthresholds = ["f1 >= 0.99"]'))
    assert not plan_promotion(config, "models:/m/1", "champion")[0].accepted


def test_per_alias_rules_replace_the_thresholds_and_allow_the_alias(tmp_path, registry):
    config = load_config(project(tmp_path, 'aliases = ["champion"]\nthresholds = ["f1 >= 0.99"]\n'
                                 '[promote.alias.challenger]\nthresholds = ["f1 >= 0.9"]',
                                 approved=ALL))
    assert plan_promotion(config, "models:/m/1", "challenger")[0].accepted
    assert not plan_promotion(config, "models:/m/1", "champion")[0].accepted
    with pytest.raises(ParameterError) as err:
        plan_promotion(config, "models:/m/1", "staging")
    assert err.value.message == "alias 'staging' is not allowed by [promote] aliases"
    assert err.value.hint == "allowed: champion"


@pytest.mark.parametrize("alias", ["", "3", "bad alias", "-x", "a/b"])
def test_malformed_aliases_are_refused(tmp_path, registry, alias):
    with pytest.raises(ParameterError) as err:
        plan_promotion(load_config(project(tmp_path, approved=ALL)), "models:/m/1", alias)
    assert err.value.message == f"not a valid alias: {alias!r}"


def test_no_lineage_or_a_missing_record_refuses(tmp_path, registry):
    config = load_config(project(tmp_path, approved=ALL))
    del registry.records[RUN["ingest"]]
    plan, _, _ = plan_promotion(config, "models:/m/1", "champion")
    assert plan.reasons == [f"lineage record of run {RUN['ingest']} is missing"]
    registry.records.clear()
    plan, _, _ = plan_promotion(config, "models:/m/1", "champion")
    assert plan.reasons[0] == (f"models:/m/1 has no nbgov lineage (run {RUN['register']} has no "
                               "nbgov/lineage.json): it was not registered by an nbgov build")
    assert not plan.accepted


def test_a_record_without_a_notebook_version_is_a_reason(tmp_path, registry):
    registry.records[RUN["ingest"]]["notebook"] = {"path": "notebooks/ingest.ipynb"}
    plan, _, _ = plan_promotion(load_config(project(tmp_path, approved=ALL)), "models:/m/1", "champion")
    assert plan.reasons == ["task ingest: its lineage record names no notebook version"]


def test_lineage_starts_at_the_version_tags_and_walks_upstream_once(registry):
    model = ModelVersion("m", "1", "f" * 32, "", tags={
        "nbgov.lineage.runs": f"{RUN['train']},{RUN['ingest']}", "nbgov.run_id": RUN["register"],
        "nbgov.monitor.run_id": RUN["monitor"], "other": RUN["monitor"]})
    found = model_lineage(FakeRegistry("memory"), model)
    # register first, then what its tags name, each run once; never the monitor run
    assert [r["task"] for r in found.records] == ["train", "ingest", "register"]
    assert found.missing == [] and found.metrics()["train"] == {"f1": 0.95, "latency_ms": 20.0}
    assert found.metrics()["ingest"] == {}
    assert gate._start_runs(model) == [RUN["train"], RUN["ingest"], RUN["register"]]
    assert gate._start_runs(ModelVersion("m", "1", None, "", tags={"nbgov.run_id": "not-a-run"})) == []
    assert ModelLineage().metrics() == {}


def test_promote_settings_refuse_bad_tables(tmp_path):
    bad = {'[promote.alias.x]\nthreshold = ["f1 >= 1"]': "[promote.alias.x] may only hold thresholds",
           'aliases = ["ok", "not ok"]': "[promote] aliases must be a list of alias names",
           'aliases = [3]': "[promote] aliases must be a list of alias names"}
    for table, says in bad.items():
        (tmp_path / "nbgov.toml").write_text(f"[promote]\n{table}\n")
        with pytest.raises(ConfigError) as err:
            PromoteSettings.from_config(load_config(tmp_path))
        assert err.value.message == says
    (tmp_path / "nbgov.toml").write_text("[promote]\n")
    settings = PromoteSettings.from_config(load_config(tmp_path))
    assert settings.require_approved is True and settings.aliases is None
    assert settings.ledger == (tmp_path / ".nbgov/promotions.jsonl").resolve()
    assert settings.thresholds == [] and settings.rules_for("any") == []


def test_a_missing_record_does_not_stop_the_walk_and_the_configured_store_is_asked(tmp_path, registry):
    del registry.records[RUN["train"]]  # in the middle: ingest is still reached through register
    plan, reg, _ = plan_promotion(load_config(project(tmp_path, approved=ALL)), "models:/m/1", "champion")
    assert plan.reasons == [f"lineage record of run {RUN['train']} is missing"]
    assert plan.checks[-1] == "notebooks/ingest.ipynb (task ingest) at version aaaaaaaaaaaa: approved"
    assert reg.uri == f"sqlite:///{tmp_path}/mlflow.db"  # the project's tracking_uri
    with pytest.raises(ParameterError) as err:
        plan_promotion(load_config(project(tmp_path, "aliases = []")), "models:/m/1", "champion")
    assert err.value.hint == "allowed: none"
    with pytest.raises(ParameterError) as err:
        plan_promotion(load_config(project(tmp_path)), "models:/m/1", "bad alias")
    assert err.value.hint == "letters, digits, _ and -; e.g. champion"

"""What binds a model version to its origin (``nbgov.services.models.origin``; I11 in
docs/security.md), case by case and as a property: whatever tags the version and the runs carry,
only the version that the register task run's own lineage record names, with its own source
run, is promoted. The registry is the in-memory stand-in of test_promote_gate (the real store:
test_promote_origin)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbgov.adapters.mlflow.registry import ModelVersion
from nbgov.core.config import load_config
from nbgov.core.errors import GateError
from nbgov.services.models import promote as gate
from nbgov.services.models.origin import UNBOUND_HINT
from nbgov.services.models.promote import plan_promotion, promote

from .test_promote_gate import ALL, MODEL_RUN, RUN, FakeRegistry, project, reset_fake

UNRELATED = "a" * 32  # a plain MLflow run of the project's experiment, outside nbgov
ELSEWHERE = "b" * 32  # an nbgov task run of another project (experiment "other")
NOT_BOUND = "models:/m/{v} is not bound to an nbgov task run of experiment 'nbgov': "
EXAMPLES = int(os.environ.get("NBGOV_HYPOTHESIS_EXAMPLES", "60"))


@pytest.fixture
def fake(monkeypatch) -> type[FakeRegistry]:
    """The store of test_promote_gate's ``registry`` fixture, in place of MLflow's."""
    reset_fake()
    monkeypatch.setattr(gate, "Registry", FakeRegistry)
    return FakeRegistry


def add_runs() -> None:
    FakeRegistry.runs[UNRELATED] = {"experiment_id": "1", "tags": {}}
    FakeRegistry.runs[ELSEWHERE] = {"experiment_id": "2", "tags": {"nbgov.kind": "task",
                                                                   "nbgov.task": "register"}}


def version(number: str, run_id: str | None, tags: dict[str, str] | None = None) -> str:
    FakeRegistry.models[("m", number)] = ModelVersion("m", number, run_id, f"runs:/{run_id}/model",
                                                      tags=dict(tags or {}))
    return f"models:/m/{number}"


def reasons(tmp_path, uri: str) -> list[str]:
    plan, _, _ = plan_promotion(load_config(project(tmp_path, approved=ALL)), uri, "champion")
    assert plan.accepted == (not plan.reasons)
    return plan.reasons


def test_the_attack_a_foreign_run_tagged_with_the_approved_run_is_refused(tmp_path, fake):
    add_runs()
    uri = version("2", UNRELATED, fake.models[("m", "1")].tags | {
        "nbgov.lineage.runs": ",".join(RUN.values())})
    config = load_config(project(tmp_path, approved=ALL))
    with pytest.raises(GateError) as err:
        promote(config, uri, "champion", by="x")
    assert err.value.hint == UNBOUND_HINT and err.value.exit_code == 1
    (reason,) = err.value.reasons
    assert reason.startswith(NOT_BOUND.format(v=2) + "no nbgov task run's lineage record names it")
    assert f"task run {RUN['register']}" in reason and "names no registration of models:/m/2" in reason
    assert fake.aliases == {}
    plan = promote(config, uri, "champion", dry_run=True)
    assert plan.checks == [] and plan.verdicts == [] and plan.origin is None


def test_the_record_must_name_the_versions_own_source_run(tmp_path, fake):
    fake.records[RUN["register"]]["registered_models"][0]["run_id"] = UNRELATED
    add_runs()
    (reason,) = reasons(tmp_path, "models:/m/1")
    assert f"registered version 1 from run {UNRELATED}, not from {MODEL_RUN}" in reason


def test_a_task_run_of_another_experiment_does_not_vouch(tmp_path, fake):
    # a genuine-looking task run, its record naming the version, but in another project
    add_runs()
    fake.records[ELSEWHERE] = {**fake.records.pop(RUN["register"]), "run_id": ELSEWHERE}
    fake.models[("m", "1")].tags["nbgov.run_id"] = ELSEWHERE
    (reason,) = reasons(tmp_path, "models:/m/1")
    assert f"run {ELSEWHERE} belongs to another experiment" in reason
    # and a version whose source run is that task run itself
    uri = version("3", ELSEWHERE)
    fake.records[ELSEWHERE]["registered_models"].append(
        {"name": "m", "version": "3", "run_id": None, "product": "registered_model",
         "digest": fake.records[ELSEWHERE]["products"]["registered_model"]["digest"]})
    (reason,) = reasons(tmp_path, uri)
    assert reason.startswith(NOT_BOUND.format(v=3) + f"its source run {ELSEWHERE} belongs to "
                             "another experiment (id 2)")


def test_a_record_copied_to_another_run_or_out_of_step_with_its_product_does_not_vouch(tmp_path, fake):
    fake.records[RUN["register"]]["products"]["registered_model"]["digest"] = "sha256:" + "0" * 64
    (reason,) = reasons(tmp_path, "models:/m/1")
    assert "record of version 1 does not match its product" in reason
    reset_fake()
    fake.records[RUN["register"]]["run_id"] = RUN["train"]
    (reason,) = reasons(tmp_path, "models:/m/1")
    assert f"task run {RUN['register']} has no lineage record of its own" in reason


def test_no_source_run_a_missing_one_a_disagreeing_logged_model_or_no_experiment(tmp_path, fake):
    assert reasons(tmp_path, version("4", None))[0] == (
        NOT_BOUND.format(v=4) + "it has no source run (registered from files, not from a run); "
        "tags such as nbgov.run_id are descriptive, never proof")
    assert "its source run " + "c" * 32 + " does not exist" in reasons(tmp_path, version("5", "c" * 32))[0]
    fake.logged_runs[("m", "1")] = UNRELATED
    assert f"is not the run {UNRELATED} that logged its model" in reasons(tmp_path, "models:/m/1")[0]
    fake.logged_runs.clear()
    fake.experiments = {}
    assert "the tracking store has no experiment 'nbgov'" in reasons(tmp_path, "models:/m/1")[0]


def test_a_version_logged_in_the_task_run_itself_is_bound(tmp_path, fake):
    # a task whose notebook logs into its own task run writes no model_run_id: run_id None
    entry = fake.records[RUN["register"]]["registered_models"][0]
    entry["run_id"] = None
    uri = version("1", RUN["register"])
    assert reasons(tmp_path, uri) == []


RUN_IDS = [MODEL_RUN, UNRELATED, ELSEWHERE, *RUN.values()]


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    number=st.sampled_from(["1", "2"]),
    source=st.sampled_from([*RUN_IDS, None]),
    tags=st.dictionaries(
        st.sampled_from(["nbgov.run_id", "nbgov.lineage.runs", "nbgov.lineage", "nbgov.model_digest"]),
        st.one_of(st.sampled_from(RUN_IDS), st.lists(st.sampled_from(RUN_IDS)).map(",".join),
                  st.text(max_size=40))),
    forged=st.lists(st.tuples(st.sampled_from(RUN_IDS), st.sampled_from(
        ["nbgov.kind", "scrap.registered_model", "nbgov.task"]),
        st.sampled_from(["task", "models:/m/1", "models:/m/2", "register"])), max_size=4),
)
def test_tags_never_decide(tmp_path, fake, number, source, tags, forged):
    """Any tags on the version and any tags set on any run: a version is promoted only when it
    is version 1 logged in the register notebook's run, which the task's record names; and that
    one is promoted whenever the register task run keeps its kind and one hint still leads to it
    (tags only say where to look: rewriting them can hide a genuine version, never admit
    another)."""
    reset_fake()
    add_runs()
    if number == "2" or source != MODEL_RUN:
        uri = version(number, source, tags)
    else:
        uri = "models:/m/1"
        fake.models[("m", "1")].tags.update(tags)
    for run_id, key, value in forged:
        fake.runs[run_id]["tags"][key] = value
    found = reasons(tmp_path, uri)
    genuine = number == "1" and source == MODEL_RUN
    register = fake.runs[RUN["register"]]["tags"]
    findable = register.get("nbgov.kind") == "task" and (
        fake.models[("m", number)].tags.get("nbgov.run_id") == RUN["register"]
        or register.get("scrap.registered_model") == "models:/m/1")
    if not genuine:
        assert len(found) == 1 and found[0].startswith(NOT_BOUND.format(v=number)), found
    elif findable:
        assert found == []


def test_a_version_whose_files_are_not_its_runs_artifacts_is_refused(tmp_path, fake):
    # a registry writer (no write to any run) re-creates version 1 with the approved model run as
    # its run and any model files behind it (the attack round's repro F)
    genuine = fake.models[("m", "1")]
    fake.models[("m", "1")] = ModelVersion("m", "1", genuine.run_id, "file:///tmp/evil", tags=dict(genuine.tags))
    (reason,) = reasons(tmp_path, "models:/m/1")
    assert reason.startswith(NOT_BOUND.format(v=1) + "its model files file:///tmp/evil are not artifacts")
    fake.models[("m", "1")] = genuine
    assert reasons(tmp_path, "models:/m/1") == []

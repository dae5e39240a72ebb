"""Threshold rules (nbgov.core.thresholds): parsing, evaluation, explanations."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbgov.core.errors import ConfigError
from nbgov.core.thresholds import (
    AMBIGUOUS,
    FAIL,
    MISSING,
    OPERATORS,
    PASS,
    evaluate,
    parse_rule,
    parse_rules,
)


@pytest.mark.parametrize("text, metric, op, value", [
    ("f1 >= 0.9", "f1", ">=", 0.9),
    ("latency_ms<=50", "latency_ms", "<=", 50.0),
    ("  evaluate.f1 > 0.8 ", "evaluate.f1", ">", 0.8),
    ("drift_share < 1e-1", "drift_share", "<", 0.1),
    ("n_rows == 200", "n_rows", "==", 200.0),
    ("psi-max != -1", "psi-max", "!=", -1.0),
])
def test_parse_rule(text, metric, op, value):
    rule = parse_rule(text)
    assert (rule.metric, rule.op, rule.value, rule.text) == (metric, op, value, text.strip())


@pytest.mark.parametrize("text, says", [
    ("f1 => 0.9", "cannot parse"),
    ("f1 >= ", "cannot parse"),
    (">= 0.9", "cannot parse"),
    ("f1 >= high", "'high' is not a number"),
    ("f1 >= nan", "NaN"),
    ("f1 >= 0.9 and f2", "cannot parse"),
    (0.9, "is not a string"),
])
def test_bad_rules_name_the_rule(text, says):
    with pytest.raises(ConfigError) as err:
        parse_rule(text, "nbgov.toml", "[promote] thresholds")
    assert says in err.value.message and "[promote] thresholds" in err.value.message
    assert str(err.value.where) == "nbgov.toml"  # where: the file the rule came from
    assert err.value.hint == 'write rules as "METRIC OP NUMBER", OP one of >= <= > < == !=, e.g. "f1 >= 0.9"'
    assert err.value.exit_code == 2


@pytest.mark.parametrize("value", ["f1 >= 0.9", {"f1": 0.9}, 3])
def test_thresholds_must_be_a_list(value):
    with pytest.raises(ConfigError, match="must be a list of rules"):
        parse_rules(value)


def test_no_rules():
    assert parse_rules(None) == []
    assert parse_rules([]) == [] and parse_rules(()) == []


def test_errors_name_the_file_the_key_and_the_type():
    with pytest.raises(ConfigError) as err:
        parse_rules({"f1": 0.9}, "nbgov.toml", "[monitor] thresholds")
    assert err.value.message == "[monitor] thresholds must be a list of rules, got dict"
    assert str(err.value.where) == "nbgov.toml"
    assert err.value.hint == 'e.g. thresholds = ["f1 >= 0.9", "latency_ms <= 50"]'
    with pytest.raises(ConfigError) as err:
        parse_rules(["f1 >= 0.9", "f1 >>= 1"], "nbgov.toml", "[promote] thresholds")
    assert err.value.message == "[promote] thresholds: cannot parse rule 'f1 >>= 1'"
    assert str(err.value.where) == "nbgov.toml"
    assert [r.text for r in parse_rules(("a > 1", "b < 2"))] == ["a > 1", "b < 2"]


def test_evaluate_explains_each_outcome():
    rules = parse_rules(["f1 >= 0.9", "latency_ms <= 50", "auc >= 0.5", "n_features > 10",
                         "train.n_features == 32"])
    metrics = {"evaluate": {"f1": 0.87, "latency_ms": 1.5}, "train": {"n_features": 32},
               "profile": {"n_features": 30}}
    verdicts = evaluate(rules, metrics)
    assert [v.outcome for v in verdicts] == [FAIL, PASS, MISSING, AMBIGUOUS, PASS]
    assert verdicts[0].explain() == "f1 = 0.87, needs >= 0.9 (evaluate)"
    assert verdicts[1].explain() == "latency_ms = 1.5, meets <= 50 (evaluate)"
    assert verdicts[2].explain() == "auc: not recorded, needs >= 0.5"
    assert verdicts[3].explain() == ("n_features: ambiguous, recorded with different values by "
                                     "train, profile; write TASK.n_features")
    assert verdicts[3].value is None and verdicts[3].found_in == ("train", "profile")
    (both,) = evaluate(parse_rules(["n >= 1"]), {"a": {"n": 2}, "b": {"n": 2}})
    assert both.explain() == "n = 2, meets >= 1 (a, b)"
    assert verdicts[4].value == 32 and verdicts[4].found_in == ("train",)
    assert verdicts[4].explain() == "train.n_features = 32, meets == 32 (train)"
    # the JSON form `nbgov promote --json` prints
    assert verdicts[0].to_dict() == {
        "rule": "f1 >= 0.9", "metric": "f1", "op": ">=", "threshold": 0.9, "outcome": FAIL,
        "value": 0.87, "found_in": ["evaluate"], "explanation": "f1 = 0.87, needs >= 0.9 (evaluate)"}
    assert verdicts[2].to_dict()["value"] is None and verdicts[2].to_dict()["found_in"] == []
    # a flat mapping of metrics, as monitor passes it: no origin to name
    (flat,) = evaluate(parse_rules(["f1 >= 0.9"]), {"": {"f1": 0.95}})
    assert flat.explain() == "f1 = 0.95, meets >= 0.9" and flat.found_in == ()


def test_same_value_from_two_tasks_is_not_ambiguous():
    (verdict,) = evaluate(parse_rules(["n >= 1"]), {"a": {"n": 2}, "b": {"n": 2}})
    assert verdict.outcome == PASS and verdict.found_in == ("a", "b")


def test_nan_never_passes():
    (verdict,) = evaluate(parse_rules(["f1 <= 1"]), {"": {"f1": math.nan}})
    assert verdict.outcome == FAIL


@given(op=st.sampled_from(sorted(OPERATORS)),
       threshold=st.floats(allow_nan=False, allow_infinity=False, width=32),
       measured=st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_rule_agrees_with_python_comparison(op, threshold, measured):
    rule = parse_rule(f"m {op} {threshold!r}")
    (verdict,) = evaluate([rule], {"": {"m": measured}})
    expected = eval(f"{measured!r} {op} {threshold!r}")  # noqa: S307 - floats and an operator only
    assert verdict.ok is expected

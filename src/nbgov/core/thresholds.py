"""Threshold rules: ``"f1 >= 0.9"``, ``"latency_ms <= 50"``, ``"evaluate.f1 > 0.8"``. Pure.

Promotion gates (``[promote] thresholds``) and monitoring (``[monitor] thresholds``) declare
rules as strings in nbgov.toml. :func:`parse_rules` turns them into :class:`Rule` objects (a
rule that does not parse is a :class:`~nbgov.core.errors.ConfigError` naming the rule), and
:func:`evaluate` checks them against a ``{metric name: number}`` mapping, giving one
:class:`Verdict` per rule that explains itself ("f1 = 0.87, needs >= 0.9").

A metric name may be qualified by the task that glued it (``evaluate.f1``); an unqualified
name matches the metric of that name whichever task glued it, and is ambiguous when two
tasks glued different values under it.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from nbgov.core.errors import ConfigError, Location

#: Comparison operators a rule may use, longest first so that ``>=`` wins over ``>``.
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}

_RULE = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][\w.\-]*)\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<value>[^\s<>=!]\S*)\s*$"
)

#: Verdict outcomes.
PASS, FAIL, MISSING, AMBIGUOUS = "pass", "fail", "missing", "ambiguous"


@dataclass(frozen=True)
class Rule:
    """One threshold: ``metric op value``.

    Attributes:
        metric: the metric name, optionally ``task.name``.
        op: one of :data:`OPERATORS`.
        value: the threshold.
        text: the rule as written in the configuration.
    """

    metric: str
    op: str
    value: float
    text: str

    def holds(self, measured: float) -> bool:
        """Whether ``measured`` satisfies the rule (NaN never does)."""
        return not math.isnan(measured) and OPERATORS[self.op](measured, self.value)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one rule against measured metrics.

    Attributes:
        rule: the rule checked.
        outcome: ``pass`` | ``fail`` | ``missing`` | ``ambiguous``.
        value: the measured value, when there is exactly one.
        found_in: where the value(s) came from (e.g. task names), for explanations.
    """

    rule: Rule
    outcome: str
    value: float | None = None
    found_in: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True only for ``pass``."""
        return self.outcome == PASS

    def explain(self) -> str:
        """One line for humans, e.g. ``"f1 = 0.87, needs >= 0.9 (evaluate)"``."""
        rule = self.rule
        where = f" ({', '.join(self.found_in)})" if self.found_in else ""
        if self.outcome == MISSING:
            return f"{rule.metric}: not recorded, needs {rule.op} {rule.value:g}"
        if self.outcome == AMBIGUOUS:
            return (
                f"{rule.metric}: ambiguous, recorded with different values by "
                f"{', '.join(self.found_in)}; write TASK.{rule.metric}"
            )
        word = "meets" if self.ok else "needs"
        return f"{rule.metric} = {self.value:g}, {word} {rule.op} {rule.value:g}{where}"

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "rule": self.rule.text,
            "metric": self.rule.metric,
            "op": self.rule.op,
            "threshold": self.rule.value,
            "outcome": self.outcome,
            "value": self.value,
            "found_in": list(self.found_in),
            "explanation": self.explain(),
        }


def parse_rule(text: object, source: str | Path | None = None, key: str = "thresholds") -> Rule:
    """Parse one rule such as ``"f1 >= 0.9"``.

    Raises:
        ConfigError: naming the rule and saying what a rule looks like.
    """
    hint = 'write rules as "METRIC OP NUMBER", OP one of >= <= > < == !=, e.g. "f1 >= 0.9"'
    if not isinstance(text, str):
        raise ConfigError(f"{key}: rule {text!r} is not a string", Location(source), hint=hint)
    match = _RULE.match(text)
    if not match:
        raise ConfigError(f"{key}: cannot parse rule {text!r}", Location(source), hint=hint)
    try:
        value = float(match["value"])
    except ValueError:
        raise ConfigError(
            f"{key}: rule {text!r}: {match['value']!r} is not a number", Location(source), hint=hint
        ) from None
    if math.isnan(value):
        raise ConfigError(f"{key}: rule {text!r} compares with NaN", Location(source), hint=hint)
    return Rule(match["metric"], match["op"], value, text.strip())


def parse_rules(
    value: object, source: str | Path | None = None, key: str = "thresholds"
) -> list[Rule]:
    """Parse a list of rules (the value of a ``thresholds`` key); ``None`` means no rules.

    Raises:
        ConfigError: the value is not a list of strings, or a rule does not parse.
    """
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(
            f"{key} must be a list of rules, got {type(value).__name__}",
            Location(source),
            hint='e.g. thresholds = ["f1 >= 0.9", "latency_ms <= 50"]',
        )
    return [parse_rule(item, source, key) for item in value]


def lookup(
    metrics: Mapping[str, Mapping[str, float]], name: str
) -> tuple[list[float], tuple[str, ...]]:
    """Values of metric ``name`` in ``{origin: {metric: value}}`` and where they were found.

    ``task.metric`` looks in that origin only; a plain name looks in every origin.
    """
    if "." in name:
        origin, _, short = name.partition(".")
        if origin in metrics and short in metrics[origin]:
            return [float(metrics[origin][short])], (origin,)
    found = [(o, float(m[name])) for o, m in metrics.items() if name in m]
    return [v for _, v in found], tuple(o for o, _ in found)


def evaluate(rules: Iterable[Rule], metrics: Mapping[str, Mapping[str, float]]) -> list[Verdict]:
    """Check every rule against metrics grouped by origin (``{task: {name: value}}``).

    A flat ``{name: value}`` mapping can be passed as ``{"": metrics}``.

    Returns:
        One :class:`Verdict` per rule, in rule order.
    """
    verdicts = []
    for rule in rules:
        values, origins = lookup(metrics, rule.metric)
        origins = tuple(o for o in origins if o)
        distinct = {v for v in values if not math.isnan(v)}
        if not values:
            verdicts.append(Verdict(rule, MISSING))
        elif len(distinct) > 1:
            verdicts.append(Verdict(rule, AMBIGUOUS, None, origins))
        else:
            value = values[0]
            verdicts.append(Verdict(rule, PASS if rule.holds(value) else FAIL, value, origins))
    return verdicts

"""Promotion gate: move a model alias (e.g. ``champion``) only when the model's lineage is fully
approved and its evaluation meets the thresholds of ``[promote]`` in nbgov.toml.

The gate reads the model version's lineage from MLflow alone (the ``nbgov/lineage.json``
artifact of the run that logged it, then of every upstream run), so it works after the products
moved or were deleted. Each notebook in it must be approved *at the version that ran* (checked
against the review ledger now, so approving after the build is enough; editing the notebook
since is not a problem for this model). A refusal lists every reason; an accepted promotion is
appended to the promotion ledger (:mod:`nbgov.services.models.promotions`).

``[promote]`` keys::

    thresholds = ["f1 >= 0.9", "latency_ms <= 50"]   # every alias
    aliases = ["champion", "challenger"]              # allowed aliases (default: any)
    require_approved = true                           # default true
    ledger = ".nbgov/promotions.jsonl"
    [promote.alias.challenger]                        # per-alias rules replace `thresholds`
    thresholds = ["f1 >= 0.8"]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbgov.adapters.mlflow.lineage_store import LineageStore
from nbgov.adapters.mlflow.registry import ModelVersion, Registry, parse_model_uri
from nbgov.core.config import Config
from nbgov.core.errors import ConfigError, GateError, Location, ParameterError
from nbgov.core.identity import short_version
from nbgov.core.ledger import APPROVED, by_notebook, status_of
from nbgov.core.redact import safe_uri
from nbgov.core.thresholds import Rule, Verdict, evaluate, parse_rules
from nbgov.services.models import promotions
from nbgov.services.review.state import resolve_reviewer
from nbgov.services.review.store import ReviewSettings
from nbgov.services.review.trust import counted_records

_KEYS = {
    "thresholds": list,
    "aliases": list,
    "require_approved": bool,
    "ledger": str,
    "alias": dict,
}
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def checked_section(config: Config, name: str, keys: dict[str, type]) -> dict[str, Any]:
    """A table of nbgov.toml whose keys are all known and of the right type (see
    :meth:`Config.checked_section`)."""
    return config.checked_section(name, keys)


@dataclass(frozen=True)
class PromoteSettings:
    """The ``[promote]`` table, resolved and checked."""

    thresholds: list[Rule]
    aliases: list[str] | None
    require_approved: bool
    ledger: Path
    per_alias: dict[str, list[Rule]]

    @classmethod
    def from_config(cls, config: Config) -> PromoteSettings:
        """Read ``[promote]``. Raises ConfigError naming the bad key or rule."""
        table = checked_section(config, "promote", _KEYS)
        where = Location(config.source)
        per_alias = {}
        for alias, sub in table.get("alias", {}).items():
            if not isinstance(sub, dict) or set(sub) - {"thresholds"}:
                raise ConfigError(f"[promote.alias.{alias}] may only hold thresholds", where)
            per_alias[alias] = parse_rules(
                sub.get("thresholds"), config.source, f"[promote.alias.{alias}] thresholds"
            )
        aliases = table.get("aliases")
        if aliases is not None and not all(isinstance(a, str) and _ALIAS.match(a) for a in aliases):
            raise ConfigError("[promote] aliases must be a list of alias names", where)
        return cls(
            thresholds=parse_rules(table.get("thresholds"), config.source, "[promote] thresholds"),
            aliases=aliases,
            require_approved=table.get("require_approved", True),
            ledger=(config.root / table.get("ledger", promotions.DEFAULT_PROMOTIONS)).resolve(),
            per_alias=per_alias,
        )

    def rules_for(self, alias: str) -> list[Rule]:
        """The threshold rules an alias must meet."""
        return self.per_alias.get(alias, self.thresholds)


@dataclass
class ModelLineage:
    """The lineage of a model version, as read from MLflow.

    Attributes:
        records: lineage records (dicts, schema ``nbgov.lineage-record/1``), nearest first.
        missing: run ids named in the lineage whose record could not be read.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def metrics(self) -> dict[str, dict[str, float]]:
        """Glued numeric metrics per task: ``{task: {name: value}}``."""
        return {r["task"]: dict(r.get("metrics") or {}) for r in self.records}


def _start_runs(model: ModelVersion) -> list[str]:
    # the task runs the build tagged the version with (``nbgov.run_id``: the registering task
    # run; ``nbgov.lineage*``: its lineage), else the run that logged the model. Other tags
    # (e.g. ``nbgov.monitor.run_id``) name runs that are not the model's lineage.
    found = []
    for key in sorted(model.tags):
        if key == "nbgov.run_id" or key.startswith("nbgov.lineage"):
            found += [v for v in re.split(r"[,\s\"'\[\]{}:]+", model.tags[key]) if _RUN_ID.match(v)]
    return list(dict.fromkeys(found))


def model_lineage(registry: Registry, model: ModelVersion) -> ModelLineage:
    """Walk the lineage records from the model's runs up to the raw data (breadth first)."""
    out = ModelLineage()
    seen: set[str] = set()
    queue = _start_runs(model)
    if not queue:
        # an untagged version (e.g. registered under `ploomber build`): the task runs that
        # glued registered_model = its URI, else the run that logged it

        queue = LineageStore(registry.uri).registering_runs(model.uri)[:1]
        queue = queue or ([model.run_id] if model.run_id else [])
    while queue:
        run_id = queue.pop(0)
        if run_id in seen:
            continue
        seen.add(run_id)
        record = registry.lineage_record(run_id)
        if record is None:
            out.missing.append(run_id)
            continue
        out.records.append(record)
        queue += [u["run_id"] for u in record.get("upstream") or [] if u.get("run_id")]
    return out


def approval_reasons(config: Config, lineage: ModelLineage) -> tuple[list[str], list[str]]:
    """(refusals, passes) for the approval of every notebook at the version that ran."""
    # what counts: checked against the ledger committed at HEAD (and signatures, if required)
    grouped = by_notebook(counted_records(config, ReviewSettings.from_config(config)))
    bad, good = [], []
    for rec in lineage.records:
        nb = rec.get("notebook") or {}
        path, version = nb.get("path"), nb.get("version")
        if not path or not version:
            bad.append(f"task {rec.get('task')}: its lineage record names no notebook version")
            continue
        status, approved_version, _ = status_of(grouped.get(path, []), version)
        line = f"{path} (task {rec.get('task')}) at version {short_version(version)}"
        if status == APPROVED:
            good.append(f"{line}: approved")
        else:
            extra = (
                f"; approved version is {short_version(approved_version)}"
                if approved_version
                else ""
            )
            bad.append(f"{line}: {status}{extra}")
        if rec.get("outcome") != "succeeded":
            bad.append(f"task {rec.get('task')} run {rec.get('run_id')} {rec.get('outcome')}")
    return bad, good


@dataclass
class PromotionPlan:
    """What :func:`promote` decided (and did, unless ``dry_run``)."""

    model: str
    version: str
    alias: str
    previous: str | None
    accepted: bool
    reasons: list[str]
    checks: list[str]
    verdicts: list[Verdict]
    dry_run: bool
    done: bool = False
    record: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``nbgov promote --json``)."""
        return {
            "model": self.model,
            "version": self.version,
            "alias": self.alias,
            "previous": self.previous,
            "accepted": self.accepted,
            "dry_run": self.dry_run,
            "done": self.done,
            "reasons": self.reasons,
            "checks": self.checks,
            "thresholds": [v.to_dict() for v in self.verdicts],
            "record": self.record,
        }

    def explain(self) -> str:
        """Human text: what would happen / happened and why."""
        target = f"models:/{self.model}/{self.version}"
        was = (
            f" (replacing version {self.previous})" if self.previous else " (alias not set before)"
        )
        if self.previous == self.version:
            was = " (already there)"
        if self.accepted:
            head = (
                f"would set alias {self.alias!r} to {target}{was}"
                if self.dry_run
                else f"alias {self.alias!r} now points at {target}{was}"
            )
        else:
            head = f"{'would refuse' if self.dry_run else 'refused'}: {self.alias!r} -> {target}"
        lines = [head] + [f"  ok: {c}" for c in self.checks] + [f"  NO: {r}" for r in self.reasons]
        return "\n".join(lines)


def plan_promotion(
    config: Config, target: str, alias: str
) -> tuple[PromotionPlan, Registry, ModelVersion]:
    """Check every gate for moving ``alias`` to the model version ``target`` names. Changes nothing.

    Raises:
        ParameterError: the URI or alias is malformed, or the alias is not allowed.
        ConfigError: ``[promote]`` is invalid (e.g. a threshold does not parse).
        LineageError: the model, version or alias does not exist.
        TrackingError: the store is unreachable.
    """
    settings = PromoteSettings.from_config(config)
    ref = parse_model_uri(target)
    if not _ALIAS.match(alias or "") or alias.isdigit():
        raise ParameterError(
            f"not a valid alias: {alias!r}", hint="letters, digits, _ and -; e.g. champion"
        )
    # an alias with its own [promote.alias.X] rules is allowed too
    if settings.aliases is not None and alias not in [*settings.aliases, *settings.per_alias]:
        raise ParameterError(
            f"alias {alias!r} is not allowed by [promote] aliases",
            hint=f"allowed: {', '.join(settings.aliases) or 'none'}",
        )
    rules = settings.rules_for(alias)
    registry = Registry(config.resolved_tracking_uri())
    model = registry.resolve(ref)
    previous = registry.alias_target(model.name, alias)
    lineage = model_lineage(registry, model)
    reasons: list[str] = []
    checks: list[str] = []
    if not lineage.records:
        reasons.append(
            f"{model.uri} has no nbgov lineage (run {model.run_id} has no "
            "nbgov/lineage.json): it was not registered by an nbgov build"
        )
    reasons += [f"lineage record of run {r} is missing" for r in lineage.missing]
    if settings.require_approved and lineage.records:
        bad, good = approval_reasons(config, lineage)
        reasons += bad
        checks += good
    verdicts = evaluate(rules, lineage.metrics())
    reasons += [v.explain() for v in verdicts if not v.ok]
    checks += [v.explain() for v in verdicts if v.ok]
    plan = PromotionPlan(
        model.name,
        model.version,
        alias,
        previous,
        not reasons,
        reasons,
        checks,
        verdicts,
        dry_run=True,
    )
    return plan, registry, model


def promote(
    config: Config,
    target: str,
    alias: str,
    dry_run: bool = False,
    note: str = "",
    by: str | None = None,
) -> PromotionPlan:
    """Move ``alias`` to the model version ``target`` if every gate passes, and record it.

    Args:
        config: the project.
        target: ``models:/NAME/VERSION`` (or ``models:/NAME@OTHER_ALIAS``).
        alias: the alias to set, e.g. ``champion``.
        dry_run: only explain what would happen.
        note: free text kept in the promotion record.
        by: who promotes (default: the reviewer identity, see services.review.resolve_reviewer).

    Returns:
        The plan; ``done`` is True when the alias was moved.

    Raises:
        GateError: a gate refused (exit code 1), listing every reason; nothing changed.
        and the errors of :func:`plan_promotion`.
    """
    plan, registry, model = plan_promotion(config, target, alias)
    plan.dry_run = dry_run
    if not plan.accepted and not dry_run:
        raise GateError(
            f"promotion of {model.uri} to {alias!r} refused ({len(plan.reasons)} reason(s))",
            hint="approve the notebooks (nbgov review approve NOTEBOOK) or improve the "
            "model; see the thresholds under [promote] in nbgov.toml",
            reasons=plan.reasons,
        )
    if dry_run:
        return plan

    who = resolve_reviewer(config, by)
    settings = PromoteSettings.from_config(config)
    record = promotions.append_promotion(
        settings.ledger,
        lambda: registry.set_alias(model.name, alias, model.version),
        model=model.name,
        version=model.version,
        alias=alias,
        previous=plan.previous,
        by=who,
        run_id=model.run_id,
        checks=plan.checks,
        tracking_uri=safe_uri(registry.uri),
        note=note,
    )
    plan.done = True
    plan.record = record.to_dict()
    return plan


def champions(config: Config) -> list[dict[str, Any]]:
    """The latest promotion per model and alias, from the promotion ledger (no MLflow call).

    Returns:
        ``[{"model", "alias", "version", "previous", "by", "at"}]``; ``[]`` when none.
    """
    settings = PromoteSettings.from_config(config)
    latest = promotions.current_aliases(promotions.read_promotions(settings.ledger))
    return [
        {
            "model": m,
            "alias": a,
            "version": r.version,
            "previous": r.previous,
            "by": r.by,
            "at": r.at,
        }
        for m, by_alias in sorted(latest.items())
        for a, r in sorted(by_alias.items())
    ]

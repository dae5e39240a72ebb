"""The project's registered models at a glance (JupyterLab's Models view, ``GET nbgov/api/models``):
each model the project's runs registered, its aliases and versions, the promotion gate's
verdict on each recent version, and the last monitor result.

Nothing here decides anything of its own: a version's gate state is
:func:`nbgov.services.models.promote.plan_promotion` (what ``nbgov promote --dry-run`` prints),
the champions and the last verdict are :func:`nbgov.services.models.monitor.models_status`
(what ``nbgov status`` prints). Reads only: no alias moves, no ledger line is written.
"""

from __future__ import annotations

from typing import Any

from nbgov.adapters.mlflow.registry import ModelVersion, Registry
from nbgov.core.config import Config
from nbgov.core.errors import NbgovError
from nbgov.services.models.monitor import models_status
from nbgov.services.models.promote import PromoteSettings, plan_promotion

#: Versions per model whose gate is judged (each walks its lineage in the store); older
#: versions are listed without a verdict.
JUDGED = 5
#: The alias the view judges by default (the example's and the docs' name for production).
DEFAULT_ALIAS = "champion"


def view_alias(settings: PromoteSettings, alias: str | None = None) -> str:
    """The alias whose gate the view shows: ``alias`` when given, else ``champion`` unless
    ``[promote] aliases`` leaves it out (then its first alias)."""
    if alias:
        return alias
    allowed = settings.aliases
    if allowed is None or DEFAULT_ALIAS in allowed or DEFAULT_ALIAS in settings.per_alias:
        return DEFAULT_ALIAS
    return allowed[0] if allowed else DEFAULT_ALIAS


def _experiment_of(registry: Registry, version: ModelVersion, cache: dict[str, str | None]) -> str | None:
    """The experiment id of the run that registered ``version`` (None: no readable run)."""
    try:
        run_id = version.run_id or registry.logged_model_run(version)
    except NbgovError:
        return None
    if not run_id:
        return None
    if run_id not in cache:
        info = registry.run_info(run_id)
        cache[run_id] = info["experiment_id"] if info else None
    return cache[run_id]


def _gate(config: Config, version: ModelVersion, alias: str) -> dict[str, Any]:
    """The gate's verdict on moving ``alias`` to ``version``, as ``nbgov promote --dry-run``."""
    try:
        plan, _, _ = plan_promotion(config, version.uri, alias)
    except NbgovError as exc:  # e.g. a lineage the store cannot give: said, not raised
        return {"accepted": False, "reasons": [exc.message], "checks": [], "error": exc.message}
    return {"accepted": plan.accepted, "reasons": plan.reasons, "checks": plan.checks,
            "origin": plan.origin, "error": None}


def models_overview(config: Config, state: dict[str, Any] | None = None,
                    alias: str | None = None, judged: int = JUDGED) -> dict[str, Any]:
    """The registered models of the project with their versions, aliases and gate states.

    A model belongs to the project when one of its versions was registered by a run of the
    project's experiment (a version tag proves nothing, the run's experiment does).

    Args:
        config: the project.
        state: the served pipeline state (``pipeline_state``), for the last monitor verdict
            without loading the pipeline; None loads it.
        alias: the alias whose gate is judged (see :func:`view_alias`).
        judged: how many of each model's newest versions get a gate verdict.

    Returns:
        ``{"experiment", "alias", "aliases", "models": [{"name", "aliases": {alias: version},
        "versions": [{"version", "uri", "run_id", "aliases", "gate", "monitor"}]}],
        "promotions", "monitor"}``.

    Raises:
        TrackingError: the store is unreachable.
        ConfigError: ``[promote]`` or ``[monitor]`` is invalid.
    """
    settings = PromoteSettings.from_config(config)
    alias = view_alias(settings, alias)
    registry = Registry(config.resolved_tracking_uri())
    experiment = registry.experiment_id(config.experiment)
    ours: dict[str, list[ModelVersion]] = {}
    if experiment is not None:
        runs: dict[str, str | None] = {}
        for version in registry.versions():
            if _experiment_of(registry, version, runs) == experiment:
                ours.setdefault(version.name, []).append(version)
    models = []
    for name, versions in sorted(ours.items()):
        rows = []
        for i, version in enumerate(versions):
            status = version.tags.get("nbgov.monitor.status")
            rows.append({
                "version": version.version,
                "uri": version.uri,
                "run_id": version.run_id,
                "aliases": sorted(version.aliases),
                "gate": _gate(config, version, alias) if i < judged else None,
                "monitor": {"status": status, "run_id": version.tags.get("nbgov.monitor.run_id")}
                if status else None,
            })
        models.append({
            "name": name,
            "aliases": {a: v.version for v in versions for a in sorted(v.aliases)},
            "versions": rows,
        })
    local = models_status(config, state)
    return {
        "experiment": config.experiment,
        "alias": alias,
        "aliases": settings.aliases,
        "models": models,
        "promotions": local["aliases"],
        "monitor": local["monitor"],
    }

"""The whole route table of the nbgov API: :mod:`nbgov.server.handlers`'s routes and the
workbench's (re-plan, runs, builds, models), which live in modules of their own."""

from __future__ import annotations

from typing import Any

from nbgov.server import handlers
from nbgov.server.builds import BuildCancelHandler, BuildHandler
from nbgov.server.lineage import LineageHandler
from nbgov.server.models import ModelsHandler, PromoteHandler
from nbgov.server.plan import PlanHandler
from nbgov.server.runs import CompareHandler, RunsHandler

#: route (under ``nbgov/api/``) -> handler, beside :data:`nbgov.server.handlers.ROUTES`.
WORKBENCH: dict[str, type[handlers.NbgovHandler]] = {
    "plan": PlanHandler,
    "runs": RunsHandler,
    "compare": CompareHandler,
    "build": BuildHandler,
    "build/cancel": BuildCancelHandler,
    "models": ModelsHandler,
    "models/promote": PromoteHandler,
}


def routes(base_url: str) -> list[Any]:
    """Tornado URL specs of every nbgov route under ``base_url`` (lineage only when its
    service is installed)."""
    extra = {**WORKBENCH}
    if handlers.service_available("lineage.query"):
        extra["lineage"] = LineageHandler
    return handlers.routes(base_url, extra=extra)

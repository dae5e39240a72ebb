"""The review gate in one function (``nbgov review gate`` and the verdict of ``nbgov review pr``):
approvals (:func:`.state.require_approved`) and, when asked or ``[review]
require_resolved_threads`` is on, resolved comment threads (:func:`.threads.require_resolved`).
One function, so the report's verdict is the gate's exactly.
"""

from __future__ import annotations

from pathlib import Path

from nbgov.core.config import Config
from nbgov.core.errors import GateError
from nbgov.services.review import threads
from nbgov.services.review.base import TrustBase
from nbgov.services.review.state import require_approved
from nbgov.services.review.store import ReviewSettings


def require_gate(config: Config, notebooks: list[str | Path], trusted: TrustBase | None = None,
                 resolved: bool = False) -> None:
    """Pass only if every target is approved at its current version and, with ``resolved``
    or the rules' ``require_resolved_threads`` (the base's rules with ``trusted``), no thread
    on one is open.

    Raises:
        GateError: with every reason of both gates (and ``paths``: the path of each).
    """
    failures: list[GateError] = []
    try:
        require_approved(config, notebooks, trusted)
    except GateError as exc:
        failures.append(exc)
    rules = trusted.settings if trusted else ReviewSettings.from_config(config)
    if resolved or rules.require_resolved_threads:
        try:
            threads.require_resolved(config, notebooks, rules, trusted.rev if trusted else None)
        except GateError as exc:
            failures.append(exc)
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise GateError("; ".join(f.message for f in failures), hint=failures[0].hint,
                        reasons=[r for f in failures for r in f.reasons],
                        paths=[p for f in failures for p in f.paths])

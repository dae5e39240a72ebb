"""What a change did to the results (placeholder)."""

from __future__ import annotations

from typing import Any

from nbgov.core.config import Config


def results(config: Config, report: dict[str, Any]) -> dict[str, Any] | None:
    """The metrics of the affected tasks at the base and the head."""
    return None

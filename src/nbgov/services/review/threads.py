"""Cell comment threads (placeholder until the thread records land)."""

from __future__ import annotations

from typing import Any

from nbgov.core.config import Config


def threads_by_notebook(config: Config) -> dict[str, list[dict[str, Any]]]:
    """Every thread of the project by notebook path."""
    return {}


def thread_view(threads: list[dict[str, Any]], nb: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Threads of one notebook with their anchor state at ``nb``."""
    return []

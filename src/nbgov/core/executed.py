"""Read what an executed notebook says about its run: glued scraps, timings, the error.

Scraps are read in scrapbook's own on-disk format (display outputs of mime type
``application/scrapbook.scrap.json+json``), so reading them needs neither scrapbook nor a
kernel. Timings and the failing cell come from papermill's metadata.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nbgov.core.identity import runtime_cells

SCRAP_MIME = "application/scrapbook.scrap.json+json"


@dataclass
class CellError:
    """The first failing cell of a run."""

    cell: int  # 0-based index in the source notebook
    ename: str
    evalue: str

    def __str__(self) -> str:
        return f"cell {self.cell}: {self.ename}: {self.evalue}"


@dataclass
class Execution:
    """A run as recorded in its executed notebook."""

    scraps: dict[str, Any] = field(default_factory=dict)
    unreadable_scraps: dict[str, str] = field(default_factory=dict)  # name -> encoder
    start: datetime | None = None
    end: datetime | None = None
    duration_s: float | None = None
    error: CellError | None = None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def read_execution(nb: dict[str, Any]) -> Execution:
    """Extract scraps, timings and the first error from an executed notebook dict."""
    out = Execution()
    pm = (nb.get("metadata") or {}).get("papermill") or {}
    out.start, out.end = _parse_time(pm.get("start_time")), _parse_time(pm.get("end_time"))
    if isinstance(pm.get("duration"), (int, float)):
        out.duration_s = float(pm["duration"])
    index = -1  # the cell's index in the *source* notebook: the cells papermill added do not count
    added = runtime_cells(nb)
    for position, cell in enumerate(nb.get("cells") or []):
        if position in added:
            continue
        index += 1
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs") or []:
            kind = output.get("output_type")
            if kind in ("display_data", "execute_result"):
                scrap = (output.get("data") or {}).get(SCRAP_MIME)
                if isinstance(scrap, dict) and "name" in scrap:
                    encoder = scrap.get("encoder", "json")
                    if encoder == "json" or (encoder == "text" and isinstance(scrap.get("data"), str)):
                        out.scraps[scrap["name"]] = scrap.get("data")
                    else:
                        out.unreadable_scraps[scrap["name"]] = str(scrap.get("encoder"))
            elif kind == "error" and out.error is None:
                out.error = CellError(index, str(output.get("ename", "Error")),
                                      str(output.get("evalue", ""))[:500])
        if out.error is None and ((cell.get("metadata") or {}).get("papermill") or {}).get("exception"):
            out.error = CellError(index, "Error", "the cell raised (no error output recorded)")
    return out


def split_scraps(scraps: dict[str, Any]) -> tuple[dict[str, float], dict[str, str], dict[str, Any]]:
    """Numbers become metrics, strings and booleans tags, everything else JSON artifacts."""
    metrics: dict[str, float] = {}
    tags: dict[str, str] = {}
    other: dict[str, Any] = {}
    for name, value in scraps.items():
        if isinstance(value, bool) or value is None:
            tags[name] = str(value)
        elif isinstance(value, (int, float)) and math.isfinite(value):
            metrics[name] = float(value)
        elif isinstance(value, str):
            tags[name] = value
        else:
            other[name] = value
    return metrics, tags, other

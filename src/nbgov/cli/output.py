"""Plain-text tables and run references for the terminal (no dependency: keeps start-up fast)."""

from __future__ import annotations


def render_table(headers: list[str], rows: list[list[object]]) -> str:
    """Left-aligned columns separated by two spaces, with a dashed rule under the headers."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def run_text(run_id: str | None) -> str:
    """``run <id>`` of a task run nbgov recorded; a run without an id was kept in the local
    journal (the tracking store was unreachable): say so, never ``run None``."""
    from nbgov.core.lineage_graph import UNSYNCED_RUN

    return f"run {run_id}" if run_id else f"run ({UNSYNCED_RUN})"

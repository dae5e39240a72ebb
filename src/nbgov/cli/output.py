"""Tables and run references for the terminal.

Tables are drawn by rich, fitted to the terminal's width (long cells wrap inside their column);
into a pipe or a file nothing wraps, so that each row stays one line for grep and scripts
(``COLUMNS`` sets a width anyway). Colour only where :func:`use_color` allows it. rich is
imported when a table is printed, not when the CLI starts.
"""

from __future__ import annotations

import io
import os
import shutil
import sys

from nbgov.cli.conventions import use_color

#: The width of a table that goes to a pipe or a file: no wrapping.
UNBOUNDED = 10_000


def table_width() -> int:
    """The terminal's width; ``COLUMNS`` when set; no limit into a pipe or a file."""
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return UNBOUNDED


def render_table(headers: list[str], rows: list[list[object]]) -> str:
    """Left-aligned columns under a rule, no borders, as wide as the terminal allows."""
    from rich import box  # (lazy: see the module docstring)
    from rich.console import Console
    from rich.table import Table

    color = use_color()
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0),
                  header_style="bold" if color else "", expand=False)
    for h in headers:
        table.add_column(h, overflow="fold")
    for row in rows:
        table.add_row(*[str(c) for c in row])
    out = io.StringIO()
    console = Console(file=out, width=table_width(), color_system="standard" if color else None,
                      force_terminal=color, highlight=False, soft_wrap=False)
    console.print(table)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines() if line.strip())


def run_text(run_id: str | None) -> str:
    """``run <id>`` of a task run nbgov recorded; a run without an id was kept in the local
    journal (the tracking store was unreachable): say so, never ``run None``."""
    from nbgov.core.lineage_graph import UNSYNCED_RUN

    return f"run {run_id}" if run_id else f"run ({UNSYNCED_RUN})"

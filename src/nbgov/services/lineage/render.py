"""Renderings of a lineage payload (:func:`nbgov.services.lineage.query.lineage`): text, Mermaid, dot,
and pictures (SVG drawn by nbgov, PNG through Graphviz)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nbgov.adapters.graphviz import dot_to_png
from nbgov.core.atomic import atomic_write
from nbgov.core.errors import ParameterError
from nbgov.core.lineage_graph import render_dot, render_mermaid, render_svg, render_text


def render(payload: dict[str, Any], fmt: str = "text") -> str:
    """The payload as ``text`` (a tree with a header), ``mermaid`` or ``dot``."""
    if fmt == "mermaid":
        return render_mermaid(payload)
    if fmt == "dot":
        return render_dot(payload)
    if fmt != "text":
        raise ParameterError(f"unknown lineage format {fmt!r}", hint="use text, mermaid or dot")
    target = payload["target"]
    head = f"lineage of {target['text']} ({target['kind']})"
    if target.get("digest"):
        head += f", content {target['digest']}"
    lines = [head, render_text(payload)]
    if payload["missing"]:
        lines.append(f"missing records: {', '.join(payload['missing'])}")
    lines += [f"warning: {w}" for w in payload["warnings"]]
    return "\n".join(lines) + "\n"


#: ``--output`` suffixes that ask for a picture; only .svg and .png can be drawn.
PICTURE_SUFFIXES = (".svg", ".png", ".gif", ".jpg", ".jpeg", ".pdf", ".webp", ".bmp")


def write_picture(payload: dict[str, Any], output: str | Path) -> None:
    """Write ``output`` as SVG (pure Python) or PNG (needs Graphviz's ``dot``), atomically."""
    suffix = Path(output).suffix.lower()
    if suffix == ".svg":
        atomic_write(output, render_svg(payload))
    elif suffix == ".png":

        atomic_write(output, dot_to_png(render_dot(payload)))
    else:
        raise ParameterError(
            f"cannot draw a picture as {suffix or 'a file without extension'}",
            hint="use --output FILE.svg or FILE.png",
        )

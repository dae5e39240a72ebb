"""Graphviz's ``dot`` program, for PNG pictures (SVG is drawn by nbgov itself)."""

from __future__ import annotations

import shutil
import subprocess

from nbgov.core.errors import MissingExtraError, NbgovError


def dot_to_png(dot_source: str, timeout: float = 60) -> bytes:
    """Render a Graphviz description to PNG bytes with the ``dot`` program.

    Raises:
        MissingExtraError: ``dot`` is not installed.
        NbgovError: ``dot`` refused the input.
    """
    exe = shutil.which("dot")
    if exe is None:
        raise MissingExtraError(
            "Graphviz's `dot` is needed for a PNG picture and is not installed",
            hint="apt-get install graphviz, or write an .svg (no Graphviz needed)",
        )
    proc = subprocess.run(
        [exe, "-Tpng"], input=dot_source.encode(), capture_output=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise NbgovError(f"dot failed: {proc.stderr.decode(errors='replace').strip()[:300]}")
    return proc.stdout

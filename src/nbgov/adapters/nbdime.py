"""nbdime: notebook diffs as JSON, as text, and in nbdime's web viewer (loopback only).

nbdime (and nbformat, which it pulls in) costs about a second to import, so every import is
inside a function. Noise is removed *before* diffing (see :func:`review_view`) rather than
through nbdime's global ``set_notebook_diff_targets``, which would leak between concurrent
callers such as server requests.
"""

from __future__ import annotations

import copy
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from nbgov.core.errors import missing_extra
from nbgov.core.identity import cell_tags, runtime_cells

#: The only interface ``nbgov diff --web`` serves on.
LOOPBACK = "127.0.0.1"


def review_view(nb: dict[str, Any], include_outputs: bool = False) -> dict[str, Any]:
    """The part of a notebook a reviewer looks at: cell types, sources, tags, language.

    Cell ids, cell metadata other than tags, notebook metadata other than the kernel and
    the cells papermill adds (the ones the version leaves out, :func:`runtime_cells`: a second
    ``injected-parameters`` cell runs, so it is shown) are dropped; outputs and execution counts too unless
    ``include_outputs``. The result is a valid nbformat 4 notebook dict.
    """
    meta = nb.get("metadata") or {}
    keep_meta = {k: copy.deepcopy(meta[k]) for k in ("kernelspec", "language_info") if k in meta}
    if "language_info" in keep_meta:
        keep_meta["language_info"] = {"name": keep_meta["language_info"].get("name", "python")}
    cells = []
    skip = runtime_cells(nb)
    for index, cell in enumerate(nb.get("cells") or []):
        if index in skip:
            continue
        tags = cell_tags(cell)
        src = cell.get("source", "")
        out: dict[str, Any] = {
            "cell_type": cell.get("cell_type", "code"),
            "metadata": {"tags": tags} if tags else {},
            "source": "".join(src) if isinstance(src, list) else src,
        }
        if out["cell_type"] == "code":
            out["outputs"] = copy.deepcopy(cell.get("outputs", [])) if include_outputs else []
            out["execution_count"] = cell.get("execution_count") if include_outputs else None
        cells.append(out)
    return {"nbformat": 4, "nbformat_minor": 4, "metadata": keep_meta, "cells": cells}


def _nbdime():
    try:
        import nbformat
        from nbdime.diffing.notebooks import diff_notebooks
    except ImportError:  # pragma: no cover - nbdime is a dependency
        raise missing_extra("nbdime", "all") from None
    return nbformat, diff_notebooks


def diff(base: dict[str, Any], remote: dict[str, Any]) -> list[dict[str, Any]]:
    """nbdime's diff of two notebook dicts, as plain JSON data (``[]`` when equal)."""
    nbformat, diff_notebooks = _nbdime()
    result = diff_notebooks(nbformat.from_dict(base), nbformat.from_dict(remote))
    return json.loads(json.dumps(result))


def render(
    base: dict[str, Any],
    di: list[dict[str, Any]],
    base_name: str,
    remote_name: str,
    color: bool = False,
) -> str:
    """nbdime's human-readable rendering of a diff (what ``nbdiff`` prints)."""
    nbformat, _ = _nbdime()
    from nbdime.diff_utils import to_diffentry_dicts
    from nbdime.prettyprint import PrettyPrintConfig, pretty_print_notebook_diff

    out = io.StringIO()
    config = PrettyPrintConfig(out=out, use_color=color)
    entries = to_diffentry_dicts(copy.deepcopy(di))
    pretty_print_notebook_diff(base_name, remote_name, nbformat.from_dict(base), entries, config)
    return out.getvalue()


def web_command(base: Path, remote: Path, port: int = 0, browser: str | None = None) -> list[str]:
    """The command line that serves nbdime's web diff of two files on 127.0.0.1 only."""
    exe = shutil.which("nbdiff-web", path=str(Path(sys.executable).parent)) or shutil.which(
        "nbdiff-web"
    )
    cmd = [exe] if exe else [sys.executable, "-m", "nbdime", "diff-web"]
    cmd += ["--ip", LOOPBACK, "--port", str(port)]
    if browser:
        cmd += ["--browser", browser]
    return [*cmd, str(base), str(remote)]


def start_web(
    base: Path, remote: Path, port: int = 0, browser: str | None = None
) -> subprocess.Popen:
    """Start nbdime's web diff (loopback only); the caller waits for or stops the process."""
    return subprocess.Popen(web_command(base, remote, port, browser))

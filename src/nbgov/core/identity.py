"""Notebook identity: the *version* of a notebook is a hash of what it means.

Algorithm ``nbv1`` (documented in docs/concepts/notebook-version.md so other tools can compute it):

1. Take the cells in order. Drop what papermill adds to an executed copy (see
   :func:`runtime_cells`): the *first* cell tagged ``injected-parameters`` (papermill's
   run-time values: it replaces the first such cell, or inserts one) and the markdown cells
   tagged ``papermill-error-cell-tag`` (error banners). Any further ``injected-parameters``
   cell, and a code cell tagged ``papermill-error-cell-tag``, runs: it counts like any cell.
2. For each cell keep ``type`` (code / markdown / raw), ``source`` (joined if stored as a
   list; in markdown and raw cells CRLF and CR turned into LF, code cells as they are;
   trailing whitespace-only lines removed, in code cells lines of spaces and tabs only) and
   the sorted subset of its tags that change execution (:data:`BEHAVIOUR_TAGS`).
3. Add the kernel language (``metadata.kernelspec.language``, else
   ``metadata.language_info.name``, else ``python``), lower-cased.
4. Serialise ``{"algorithm": "nbv1", "language": ..., "cells": [...]}`` as JSON with sorted
   keys, no spaces, UTF-8, and take its SHA-256. The version is ``"nbv1:" + hexdigest``.

Outputs, execution counts, cell ids, cell metadata other than those tags, and notebook
metadata other than the language are not part of it, so an executed copy and an nbformat 4.4
or 4.5 file with the same cells share one version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

ALGORITHM = "nbv1"

#: Tags that change what a run does: papermill's parameter cell, and nbclient's
#: "this cell may raise" / "do not run this cell" markers.
BEHAVIOUR_TAGS = frozenset({"parameters", "raises-exception", "skip-execution"})

#: Cells with this tag are run-time injections (papermill), not part of the notebook.
INJECTED_TAG = "injected-parameters"

#: Cells papermill adds to executed copies (injected parameters, error banners).
RUNTIME_TAGS = frozenset({INJECTED_TAG, "papermill-error-cell-tag"})


def _source(cell: Mapping[str, Any]) -> str:
    src = cell.get("source", "")
    if isinstance(src, list):
        src = "".join(src)
    code = cell.get("cell_type", "code") == "code"
    if not code:
        src = src.replace("\r\n", "\n").replace("\r", "\n")
    # a code cell's CRs stay: a shell cell (%%bash) reads a CR as part of the line, so a heredoc
    # or a command that differs by one CR runs differently (seventh attack round); and only
    # spaces and tabs make its trailing line blank: bash runs a line of U+3000, \x0c or \r
    # (a command not found), where str.strip() sees whitespace (eighth attack round)
    lines = src.split("\n")
    while lines and not (lines[-1].strip(" \t") if code else lines[-1].strip()):
        lines.pop()
    return "\n".join(lines)


def cell_tags(cell: Mapping[str, Any]) -> list[str]:
    """The tags of a cell (``metadata.tags``) as the tools that run it see them.

    A list holds the tags (its strings). A hand-edited file may hold a string or a dict
    instead: nbclient and papermill test ``tag in tags``, which a string answers by substring
    and a dict by key, so such a value carries every known tag that test finds (a string
    ``"skip-execution"`` skips the cell): the version counts them, and an approval of the cell
    without them does not carry over.
    """
    meta = cell.get("metadata")
    tags = meta.get("tags") if isinstance(meta, Mapping) else None
    if isinstance(tags, list):
        return [t for t in tags if isinstance(t, str)]
    if not isinstance(tags, (str, Mapping)):
        return []
    return [t for t in sorted(BEHAVIOUR_TAGS | RUNTIME_TAGS) if t in tags]


def is_runtime_cell(cell: Mapping[str, Any]) -> bool:
    """Whether this cell carries a tag papermill gives the cells it adds (injected parameters,
    error banners). Carrying the tag proves nothing: :func:`runtime_cells` says which cells of
    a notebook are left out of its version."""
    return not RUNTIME_TAGS.isdisjoint(cell_tags(cell))


def injected_cells(nb: Mapping[str, Any]) -> list[int]:
    """0-based indexes of every cell tagged ``injected-parameters``. A source notebook should
    hold none: nbgov's builds and ``nbgov check`` refuse one that does (NBG104)."""
    return [i for i, cell in enumerate(nb.get("cells") or []) if INJECTED_TAG in cell_tags(cell)]


def runtime_cells(nb: Mapping[str, Any]) -> set[int]:
    """0-based indexes of the cells papermill adds to an executed copy, left out of the version.

    Papermill replaces the first cell tagged ``injected-parameters`` (or inserts one): only that
    one is a run-time value. A second one is not replaced at run time, its code runs, so it
    counts, or one approval would cover any code hidden under the tag. Error banners are
    markdown; a *code* cell with the error tag runs, so it counts too.
    """
    out: set[int] = set()
    injected_seen = False
    for index, cell in enumerate(nb.get("cells") or []):
        tags = cell_tags(cell)
        if INJECTED_TAG in tags and not injected_seen:
            injected_seen = True
            out.add(index)
        elif "papermill-error-cell-tag" in tags and cell.get("cell_type") == "markdown":
            out.add(index)
    return out


def notebook_language(nb: Mapping[str, Any]) -> str:
    """The kernel language a notebook declares, ``python`` when it declares none."""
    meta = nb.get("metadata") or {}
    kernel, info = meta.get("kernelspec") or {}, meta.get("language_info") or {}
    lang = kernel.get("language") or info.get("name")
    return str(lang or "python").lower()


def canonical_cells(nb: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The meaning-bearing part of each cell, in order (step 1-2 of ``nbv1``)."""
    out = []
    skip = runtime_cells(nb)
    for index, cell in enumerate(nb.get("cells") or []):
        tags = cell_tags(cell)
        if index in skip:
            continue
        out.append(
            {
                "type": cell.get("cell_type", "code"),
                "source": _source(cell),
                "tags": sorted(set(tags) & BEHAVIOUR_TAGS),
            }
        )
    return out


def canonical_bytes(nb: Mapping[str, Any]) -> bytes:
    """The exact bytes hashed by ``nbv1``."""
    doc = {"algorithm": ALGORITHM, "language": notebook_language(nb), "cells": canonical_cells(nb)}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def notebook_version(nb: Mapping[str, Any]) -> str:
    """The content version of a notebook given as its JSON dict, e.g. ``nbv1:3fa4...``."""
    return f"{ALGORITHM}:{hashlib.sha256(canonical_bytes(nb)).hexdigest()}"


def short_version(version: str, n: int = 12) -> str:
    """A display form of a version: the first ``n`` hex digits."""
    return version.split(":", 1)[-1][:n]

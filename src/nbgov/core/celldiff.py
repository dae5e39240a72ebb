"""What changed between two versions of a notebook, cell by cell: added, removed, changed,
moved, and outputs before/after. Pure: notebook dicts in, plain data out.

Cells are matched by their nbformat cell ``id`` when both sides carry ids (so a moved or edited
cell is the same cell, as a comment thread anchored to it is), else by content (difflib over the
sources, the way a text diff pairs lines). A matched cell is *moved* when it is not on the
longest run of matched cells that kept their order (the fewest moves that explain the change).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from nbgov.core.identity import cell_tags, runtime_cells

#: Longest text kept of one output (the report shows a preview, not a log).
OUTPUT_TEXT_LIMIT = 2000
#: Image types kept as data (rendered as ``data:`` URIs, never fetched).
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif")


def _source(cell: Mapping[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _text(value: Any) -> str:
    text = "".join(value) if isinstance(value, list) else str(value)
    return text if len(text) <= OUTPUT_TEXT_LIMIT else text[:OUTPUT_TEXT_LIMIT] + "\n[...]"


def summarize_output(output: Mapping[str, Any]) -> dict[str, Any]:
    """One output as the report shows it: ``{"type": stream|image|text|error, "text", "mime",
    "data"}`` (``data``: an image's base64, only for :data:`IMAGE_TYPES`). HTML and JavaScript
    outputs are reduced to their text form: the report shows user content as text only."""
    if not isinstance(output, Mapping):  # a damaged notebook: shown, never a crash
        return {"type": "text", "text": f"[not an output: {type(output).__name__}]", "mime": None, "data": None}
    kind = output.get("output_type")
    if kind == "stream":
        return {"type": "stream", "text": _text(output.get("text", "")), "mime": None, "data": None}
    if kind == "error":
        text = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
        return {"type": "error", "text": _text(text), "mime": None, "data": None}
    data = output.get("data") if isinstance(output.get("data"), Mapping) else {}
    for mime in IMAGE_TYPES:
        if mime in data:
            raw = data[mime]
            b64 = ("".join(raw) if isinstance(raw, list) else str(raw)).replace("\n", "")
            alt = _text(data.get("text/plain", "")) if "text/plain" in data else mime
            return {"type": "image", "text": alt, "mime": mime, "data": b64}
    for mime in ("text/plain", "text/markdown", "text/html"):
        if mime in data:
            return {"type": "text", "text": _text(data[mime]), "mime": mime, "data": None}
    return {"type": "text", "text": f"[{', '.join(sorted(data)) or kind}]", "mime": None, "data": None}


def outputs_of(cell: Mapping[str, Any] | None) -> list[Any]:
    """A cell's outputs as a list (``[]`` when the field is missing or not a list)."""
    outs = (cell or {}).get("outputs")
    return list(outs) if isinstance(outs, list) else []


def damage(nb: Mapping[str, Any]) -> str | None:
    """What is wrong with a notebook's structure that the report must say (None: nothing):
    cells or outputs that are not objects, outputs that are not a list."""
    cells = nb.get("cells")
    if not isinstance(cells, list):
        return "its cells are not a list"
    for i, cell in enumerate(cells):
        if not isinstance(cell, Mapping):
            return f"cell {i + 1} is not an object"
        outs = cell.get("outputs")
        if outs is not None and not isinstance(outs, list):
            return f"the outputs of cell {i + 1} are not a list"
        if any(not isinstance(o, Mapping) for o in outs or []):
            return f"cell {i + 1} has an output that is not an object"
    return None


def _outputs_key(cell: Mapping[str, Any]) -> str:
    outs = []
    for out in outputs_of(cell):
        clean = ({k: v for k, v in out.items() if k not in ("execution_count", "metadata")}
                 if isinstance(out, Mapping) else out)
        outs.append(clean)
    return json.dumps(outs, sort_keys=True, default=str)


def _cells(nb: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    skip = runtime_cells(nb)  # papermill's injected cells are not the author's
    return [c for i, c in enumerate(nb.get("cells") or []) if i not in skip and isinstance(c, Mapping)]


def _pairs_by_id(base: Sequence[Mapping[str, Any]], head: Sequence[Mapping[str, Any]]
                 ) -> list[tuple[int, int]] | None:
    ids_b = [c.get("id") for c in base]
    ids_h = [c.get("id") for c in head]
    if not all(ids_b) or not all(ids_h) or len(set(ids_b)) != len(ids_b) or len(set(ids_h)) != len(ids_h):
        return None
    if base and head and not set(ids_b) & set(ids_h):
        return None  # ids regenerated wholesale (e.g. a copy): content tells more
    where = {cid: i for i, cid in enumerate(ids_b)}
    return [(where[cid], j) for j, cid in enumerate(ids_h) if cid in where]


def _pairs_by_content(base: Sequence[Mapping[str, Any]], head: Sequence[Mapping[str, Any]]) -> list[tuple[int, int]]:
    matcher = difflib.SequenceMatcher(None, [_source(c) for c in base], [_source(c) for c in head], autojunk=False)
    pairs = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("equal", "replace"):
            # a replaced block pairs cell by cell: an edited cell, not a delete plus an add
            pairs += list(zip(range(i1, i2), range(j1, j2), strict=False))
    return pairs


def _kept_order(pairs: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """The longest subsequence of ``pairs`` (in head order) whose base indexes increase."""
    if not pairs:
        return set()
    best: list[list[tuple[int, int]]] = []
    for pair in pairs:  # O(n^2) on a notebook's cells is fine
        chain = max((c for c in best if c[-1][0] < pair[0]), key=len, default=[])
        best.append([*chain, pair])
    return set(max(best, key=len))


def compare_cells(base_nb: Mapping[str, Any] | None, head_nb: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Every cell of either side with what happened to it, in head order (removed cells where
    they were). ``None`` for a side: the notebook did not exist there.

    Each entry: ``{"id", "cell_type", "change": added|removed|changed|moved|unchanged,
    "moved", "source_changed", "outputs_changed", "base_index", "head_index", "source_diff"
    (unified diff lines), "base_outputs", "head_outputs"}``.
    """
    base = _cells(base_nb or {})
    head = _cells(head_nb or {})
    pairs = _pairs_by_id(base, head)
    if pairs is None:
        pairs = _pairs_by_content(base, head)
    kept = _kept_order(pairs)
    by_head = {j: i for i, j in pairs}
    matched_base = {i for i, _ in pairs}
    out: list[dict[str, Any]] = []
    removed = [i for i in range(len(base)) if i not in matched_base]

    def entry(i: int | None, j: int | None) -> dict[str, Any]:
        b = base[i] if i is not None else None
        h = head[j] if j is not None else None
        src_b = _source(b) if b is not None else ""
        src_h = _source(h) if h is not None else ""
        cell = h if h is not None else b
        same_src = b is not None and h is not None and (src_b, b.get("cell_type"), cell_tags(b)) == (
            src_h, h.get("cell_type"), cell_tags(h))
        outs_changed = (b is None or h is None) and bool(outputs_of(b or h)) or (
            b is not None and h is not None and _outputs_key(b) != _outputs_key(h))
        moved = i is not None and j is not None and (i, j) not in kept
        if b is None:
            change = "added"
        elif h is None:
            change = "removed"
        elif not same_src:
            change = "changed"
        elif moved:
            change = "moved"
        else:
            change = "unchanged"
        diff = [] if same_src else list(difflib.unified_diff(
            src_b.splitlines(), src_h.splitlines(), "base", "head", lineterm="", n=2))
        return {
            "id": str(cell.get("id") or f"#{j if j is not None else i}"),
            "cell_type": cell.get("cell_type", "code"),
            "change": change,
            "moved": moved,
            "source_changed": not same_src,
            "outputs_changed": bool(outs_changed),
            "base_index": i,
            "head_index": j,
            "source_diff": diff[2:],  # without the ---/+++ header
            "base_outputs": [summarize_output(o) for o in outputs_of(b)],
            "head_outputs": [summarize_output(o) for o in outputs_of(h)],
        }

    pending = sorted(removed)
    for j in range(len(head)):
        i = by_head.get(j)
        # a removed cell shows where it was: before the first cell that kept its place after it
        if i is not None and (i, j) in kept:
            while pending and pending[0] < i:
                out.append(entry(pending.pop(0), None))
        out.append(entry(i, j))
    out += [entry(i, None) for i in pending]
    return out


def counts(cells: list[dict[str, Any]]) -> dict[str, int]:
    """``{"added", "removed", "changed", "moved", "outputs_changed"}`` over :func:`compare_cells`."""
    out = {k: 0 for k in ("added", "removed", "changed", "moved", "outputs_changed")}
    for cell in cells:
        if cell["change"] in ("added", "removed", "changed"):
            out[cell["change"]] += 1
        if cell["moved"]:
            out["moved"] += 1
        if cell["outputs_changed"]:
            out["outputs_changed"] += 1
    return out

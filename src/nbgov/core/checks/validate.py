"""Read a notebook file's bytes into a dict and check its nbformat 4 structure, by hand.

Why not nbformat's validator: importing nbformat and jsonschema costs more than checking a
thousand notebooks. This covers what the nbformat 4.x schema requires of the parts rules
read (top level, cells, outputs, cell ids) and says *which cell* is wrong. Problems come in
two kinds: *fatal* ones (the structure is not what rules can read: they do not run) and
*soft* ones (e.g. a missing cell id in 4.5: rules still run).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

#: Files above this size are reported, not parsed (a notebook this big is a finding itself).
MAX_BYTES = 256 * 1024 * 1024

_CELL_TYPES = {"code", "markdown", "raw"}
_OUTPUT_TYPES = {"stream", "display_data", "execute_result", "error"}
_CELL_KEYS = {
    "code": {"id", "cell_type", "metadata", "source", "outputs", "execution_count"},
    "markdown": {"id", "cell_type", "metadata", "source", "attachments"},
    "raw": {"id", "cell_type", "metadata", "source", "attachments"},
}
_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Problem:
    """A structural problem: where (cell index or None, line in the file or None) and what."""

    message: str
    cell: int | None = None
    line: int | None = None
    fatal: bool = True
    #: a bad cell id: ``--fix`` gives the cell a new one
    bad_id: bool = False


def _is_text(value: Any) -> bool:
    if isinstance(value, str):
        return True
    if not isinstance(value, list):
        return False
    try:
        "".join(value)  # a C-speed "every item is a str" over long source lists
    except TypeError:
        return False
    return True


def parse_notebook(raw: bytes) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Parse and structurally check a ``.ipynb`` file's bytes.

    Returns:
        ``(nb, problems)``; ``nb`` is None when a fatal problem means rules cannot run.
    """
    if len(raw) > MAX_BYTES:
        return None, [
            Problem(
                f"file is {len(raw) // 2**20} MiB, over the {MAX_BYTES // 2**20} MiB "
                "nbgov checks; strip its outputs"
            )
        ]
    if not raw.strip():
        return None, [Problem("empty file, not a notebook")]
    if b"\x00" in raw[:8192]:
        return None, [Problem("binary file, not a notebook (NUL bytes)")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, [Problem(f"not UTF-8 text (a binary file?): bad byte at offset {exc.start}")]
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        # point at the cell: the number of cells opened before the error position
        cell = text.count('"cell_type"', 0, exc.pos) - 1
        return None, [
            Problem(
                f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                cell if cell >= 0 else None,
            )
        ]
    except RecursionError:
        return None, [Problem("not valid JSON: nested too deeply")]
    return nb, structure_problems(nb)


def structure_problems(nb: Any) -> list[Problem]:
    """Problems of a parsed notebook against the nbformat 4 structure (empty when valid)."""
    if not isinstance(nb, dict):
        return [
            Problem(f"not a notebook: the top level is a JSON {type(nb).__name__}, not an object")
        ]
    major = nb.get("nbformat")
    if major is None or "cells" not in nb and "worksheets" not in nb:
        return [Problem("not a notebook: no 'nbformat' and 'cells' at the top level")]
    if major != 4:
        hint = (
            "upgrade it: jupyter nbconvert --to notebook --inplace FILE"
            if isinstance(major, int) and major < 4
            else "nbgov reads nbformat 4"
        )
        return [Problem(f"unknown nbformat version {major!r}: {hint}")]
    minor = nb.get("nbformat_minor")
    problems: list[Problem] = []
    if not isinstance(minor, int) or isinstance(minor, bool):
        problems.append(Problem(f"nbformat_minor must be an integer, got {minor!r}", fatal=False))
        minor = 0
    if not isinstance(nb.get("metadata"), dict):
        return [Problem("notebook 'metadata' is missing or not an object")]
    cells = nb.get("cells")
    if not isinstance(cells, list):
        return [Problem("notebook 'cells' is not a list")]
    seen_ids: dict[str, int] = {}
    for index, cell in enumerate(cells):
        problems.extend(_cell_problems(index, cell, minor, seen_ids))
        if len(problems) >= 20:  # enough to act on; do not flood on a mangled file
            break
    return problems


def _cell_problems(index: int, cell: Any, minor: int, seen_ids: dict[str, int]) -> list[Problem]:
    if not isinstance(cell, dict):
        return [Problem("cell is not a JSON object", index)]
    ctype = cell.get("cell_type")
    if ctype not in _CELL_TYPES:
        return [Problem(f"unknown cell_type {ctype!r} (expected code, markdown or raw)", index)]
    out: list[Problem] = []
    if not _is_text(cell.get("source")):
        out.append(Problem("cell 'source' is missing or not a string / list of strings", index))
    if not isinstance(cell.get("metadata"), dict):
        out.append(Problem("cell 'metadata' is missing or not an object", index))
    extra = sorted(set(cell) - _CELL_KEYS[ctype])
    if extra:
        out.append(
            Problem(f"{ctype} cell has unexpected key(s): {', '.join(extra)}", index, fatal=False)
        )
    cid = cell.get("id")
    if cid is None:
        if minor >= 5:
            out.append(
                Problem(
                    "cell has no 'id' (required from nbformat 4.5)", index, fatal=False, bad_id=True
                )
            )
    elif not isinstance(cid, str) or not _CELL_ID.match(cid):
        out.append(
            Problem(
                f"cell id {cid!r} is not 1-64 letters, digits, '-' or '_'",
                index,
                fatal=False,
                bad_id=True,
            )
        )
    elif cid in seen_ids:
        out.append(
            Problem(
                f"cell id {cid!r} is also used by cell {seen_ids[cid] + 1}",
                index,
                fatal=False,
                bad_id=True,
            )
        )
    else:
        seen_ids[cid] = index
    if ctype == "code":
        count = cell.get("execution_count", "missing")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool)):
            out.append(
                Problem(
                    f"code cell 'execution_count' must be an integer or null, got {count!r}", index
                )
            )
        outputs = cell.get("outputs")
        if not isinstance(outputs, list):
            out.append(Problem("code cell 'outputs' is missing or not a list", index))
        else:
            for n, output in enumerate(outputs):
                problem = _output_problem(output)
                if problem:
                    out.append(Problem(f"output {n + 1}: {problem}", index))
                    break
    return out


def _output_problem(output: Any) -> str | None:
    if not isinstance(output, dict):
        return "not a JSON object"
    otype = output.get("output_type")
    if otype not in _OUTPUT_TYPES:
        return f"unknown output_type {otype!r}"
    if otype == "stream":
        if not isinstance(output.get("name"), str) or not _is_text(output.get("text")):
            return "stream output needs 'name' and 'text'"
    elif otype == "error":
        tb = output.get("traceback")
        if not isinstance(tb, list) or not all(isinstance(t, str) for t in tb):
            return "error output needs a 'traceback' list of strings"
    elif not isinstance(output.get("data"), dict):
        return f"{otype} output needs a 'data' object"
    else:
        for mime, value in output["data"].items():
            # as in nbformat's schema: JSON mime types hold any JSON, the others text
            if not (mime == "application/json" or mime.endswith("+json")) and not _is_text(value):
                return f"{otype} output: {mime!r} must be a string or a list of strings"
    return None

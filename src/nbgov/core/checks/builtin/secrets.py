"""NBG501/NBG502: secrets in cell sources and in decoded text outputs and tracebacks.

Only patterns with a recognisable shape are reported (provider key prefixes, private-key
armour, passwords in URLs, long values assigned to secret-named variables). There is no
generic "high-entropy string" rule: that is what floods on base64 images and hashes. Image
and other binary outputs are not decoded at all. Matched values are never echoed in full.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from nbgov.core.checks.model import NotebookContext, Rule
from nbgov.core.redact import line_of, may_hold_secrets, scan
from nbgov.core.redact_notebook import is_binary_output

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MAX_PER_CELL = 5

__all__ = ["SECRET_IN_OUTPUT", "SECRET_IN_SOURCE", "find_secrets", "may_hold_secrets"]


def find_secrets(text: str, code: bool = False) -> Iterator[tuple[int, str]]:
    """``(line, description)`` for each likely secret in ``text`` (1-based lines); the rules
    are :mod:`nbgov.core.redact`'s, the ones the recorder masks with."""
    for hit in scan(text, code=code):
        yield line_of(text, hit), f"{hit.kind} {hit.shown()}"


def _output_texts(output: dict) -> Iterator[tuple[str, str]]:
    otype = output.get("output_type")
    if otype == "stream":
        text = output.get("text", "")
        yield (
            f"{output.get('name', 'stream')} output",
            "".join(text) if isinstance(text, list) else text,
        )
    elif otype == "error":
        tb = "\n".join(output.get("traceback") or [])
        yield "traceback", _ANSI.sub("", f"{output.get('evalue', '')}\n{tb}")
    else:
        for mime, data in (output.get("data") or {}).items():
            # images, PDFs and other binary payloads are base64: never decoded, never scanned;
            # every other output (SVG, CSV, any text/*, *json, javascript) is text, as masked
            if not is_binary_output(mime, data):
                if isinstance(data, str):
                    text = data
                elif isinstance(data, list) and not mime.endswith("json"):
                    text = "".join(data)  # validated: a list of strings
                else:
                    text = json.dumps(data)
                yield f"{mime} output", text


def _check_source(ctx: NotebookContext) -> Iterator[tuple]:
    sources = [ctx.source(i) for i in range(len(ctx.cells))]
    if not may_hold_secrets("\n".join(sources)):
        return  # one scan of the whole notebook instead of one per cell
    for index, source in enumerate(sources):
        code = ctx.cells[index].get("cell_type") == "code"
        for n, (line, what) in enumerate(find_secrets(source, code)):
            if n == _MAX_PER_CELL:
                yield index, line, "more secrets in this cell (not all listed)"
                break
            yield index, line, f"{what} in the cell source"


def _check_outputs(ctx: NotebookContext) -> Iterator[tuple]:
    texts = [(index, number, label, text)
             for index, cell in ctx.code_cells()
             for number, output in enumerate(cell.get("outputs") or [], 1)
             for label, text in _output_texts(output)]  # fmt: skip
    if not texts or not may_hold_secrets("\n".join(t[3] for t in texts)):
        return
    found: dict[int, int] = {}
    for index, number, label, text in texts:
        for line, what in find_secrets(text):
            found[index] = found.get(index, 0) + 1
            if found[index] > _MAX_PER_CELL:
                break
            yield index, None, f"{what} in output {number} ({label}, line {line})"


SECRET_IN_SOURCE = Rule(
    "NBG501",
    "secret-in-source",
    "a secret (key, token, password) is written in a cell",
    "read it from an environment variable or a secrets manager, and rotate the exposed secret",
    _check_source,
)
SECRET_IN_OUTPUT = Rule(
    "NBG502",
    "secret-in-output",
    "a secret (key, token, password) is shown in a cell output",
    'clear the output (nbgov check --fix with outputs = "forbid") and rotate the exposed secret',
    _check_outputs,
)

"""Secrets in notebooks: sources, outputs (and their metadata), cell metadata and notebook
metadata (saved widget state: a password widget's value is masked whatever it is), masked with
the rules of :mod:`nbgov.core.redact` before an executed notebook leaves for the tracking store.
Pure functions: a notebook dict in, a masked copy and a count out."""

from __future__ import annotations

import ast
import copy
import json
import re
from typing import Any

from nbgov.core.errors import GateError, Location
from nbgov.core.redact import ANSI_ESCAPE, REDACTED, KnownValues, is_secret_name, mask_text, mask_value

# -- notebooks -----------------------------------------------------------------------------------
#: Mime types nbformat stores base64-encoded (binary): never decoded, never masked (a masked
#: base64 run would break the image). Every other output data is text (``image/svg+xml``,
#: ``text/*``, ``application/*json``, ``application/javascript``...) and is masked.
_BINARY_MIME = re.compile(r"^(image/(?!.*\+xml$)|audio/|video/|application/(pdf|octet-stream|zip|gzip)$)")
_BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]*$")
_ASSIGN = re.compile(r"^(?P<name>[A-Za-z_]\w*)\s*=\s*(?P<value>.+)$", re.M)


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _mask_injected(source: str, known: KnownValues | None = None) -> tuple[str, int]:
    """Papermill's injected-parameters cell: ``name = value`` lines with a secret name."""
    count = 0

    def one(m: re.Match) -> str:
        nonlocal count
        if is_secret_name(m.group("name")) and m.group("value").strip() not in ("None", '""', "''"):
            count += 1
            return f"{m.group('name')} = {REDACTED!r}"
        try:  # a dict or list parameter: its secret-named keys, at any depth, as in the params
            value = ast.literal_eval(m.group("value"))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return m.group(0)
        masked, n = mask_value(value, names=True, known=known)
        if not n:
            return m.group(0)
        count += n
        return f"{m.group('name')} = {masked!r}"

    return _ASSIGN.sub(one, source), count


def _mask_text_or_lines(value: Any, known: KnownValues | None = None) -> tuple[Any, int]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        masked, n = mask_text("".join(value), known=known)
        return (masked.splitlines(keepends=True) if n else value), n
    if isinstance(value, str):
        return mask_text(value, known=known)
    return mask_value(value, names=True, known=known)


def _mask_output(output: dict, known: KnownValues | None = None) -> int:
    otype, count = output.get("output_type"), 0
    if otype == "stream":
        output["text"], count = _mask_text_or_lines(output.get("text", ""), known)
    elif otype == "error":
        if isinstance(output.get("evalue"), str):
            output["evalue"], n = mask_text(output["evalue"], known=known)
            count += n
        lines = output.get("traceback") or []
        masked_lines = []
        for line in lines:
            # IPython colours tracebacks: a colour code next to a secret would be taken for the
            # value (or split it), so a line is masked without its colours
            plain, n = mask_text(ANSI_ESCAPE.sub("", line), known=known)
            masked_lines.append(plain if n else line)
            count += n
        output["traceback"] = masked_lines
    if isinstance(output.get("metadata"), dict):
        output["metadata"], n = mask_value(output["metadata"], names=True, known=known)
        count += n
    for mime, data in list((output.get("data") or {}).items()):
        if is_binary_output(mime, data):
            continue  # base64 payloads: never decoded
        output["data"][mime], n = _mask_text_or_lines(data, known)
        count += n
    return count


def is_binary_output(mime: str, data: Any) -> bool:
    """Whether an output's data is a base64 binary payload (a png, jpeg, gif, pdf...): a binary
    mime type whose data reads as base64. Text under a binary mime type (``{"image/png": "key
    ..."}``) is text: masked."""
    if not _BINARY_MIME.match(str(mime)):
        return False
    text = "".join(data) if isinstance(data, list) and all(isinstance(v, str) for v in data) else data
    return isinstance(text, str) and bool(_BASE64.match(text))


def _joined_streams(outputs: list) -> list:
    """Consecutive outputs of one stream as one (as Jupyter shows them): a secret printed in
    two flushes (``print("password=", end="")``, then the value) is masked whole."""
    joined: list = []
    for output in outputs:
        last = joined[-1] if joined else None
        if (isinstance(output, dict) and output.get("output_type") == "stream" and isinstance(last, dict)
                and last.get("output_type") == "stream" and last.get("name") == output.get("name")):
            text = output.get("text", "")
            last["text"] = _as_text(last.get("text", "")) + _as_text(text)
            continue
        joined.append(output)
    return joined


def _as_text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def mask_notebook(nb: dict[str, Any], known: KnownValues | None = None) -> tuple[dict[str, Any], int]:
    """A copy of an executed notebook with secrets masked in cell sources, outputs (streams,
    text and JSON data, scraps), tracebacks and papermill's recorded parameters (``known``: a
    build's known secret values too, wherever they are); and how many values were masked. The
    input is not modified."""
    out = copy.deepcopy(nb)
    count = 0
    if isinstance(out.get("metadata"), dict):
        # papermill's parameters, saved widget state (a password widget's value), custom keys
        # (``api_key``): by name and by value, at any depth
        out["metadata"], n = mask_value(out["metadata"], names=True, known=known)
        count += n
    for cell in out.get("cells") or []:
        if not isinstance(cell, dict):
            continue
        if isinstance(cell.get("metadata"), dict):
            cell["metadata"], n = mask_value(cell["metadata"], names=True, known=known)
            count += n
        source = _source(cell)
        tags = (cell.get("metadata") or {}).get("tags") or []
        n_injected = 0
        if "injected-parameters" in tags:
            source, n_injected = _mask_injected(source, known)
        masked, n = mask_text(source, code=cell.get("cell_type") == "code", known=known)
        if n or n_injected:
            cell["source"] = masked
        count += n + n_injected
        if isinstance(cell.get("outputs"), list):
            cell["outputs"] = _joined_streams(cell["outputs"])
        for output in cell.get("outputs") or []:
            if isinstance(output, dict):
                count += _mask_output(output, known)
    return out, count


def mask_json_text(text: str, known: KnownValues | None = None) -> tuple[str, int]:
    """A JSON document's text (e.g. an .ipynb file) with secrets masked: notebooks through
    :func:`mask_notebook`, other JSON through the value rules (and ``known``). Not JSON: as
    text."""
    try:
        data = json.loads(text)
    except ValueError:
        return mask_text(text, known=known)
    if isinstance(data, dict) and "cells" in data:
        masked, n = mask_notebook(data, known)
    else:
        masked, n = mask_value(data, names=True, known=known)
    return (json.dumps(masked, indent=1, ensure_ascii=False) + "\n", n) if n else (text, 0)


def guard_notebook(nb: dict[str, Any], policy: str, where: str = "") -> tuple[dict[str, Any], int]:
    """An executed notebook as ``[tracking] secrets`` says to upload it, and how many secrets
    were found in it (for the run tag ``nbgov.secrets_masked``).

    Args:
        nb: the executed notebook (not modified).
        policy: ``redact`` (a masked copy), ``refuse`` (raise when anything is found) or
            ``allow`` (the notebook as is).
        where: the notebook's path, for the error.

    Raises:
        GateError: ``refuse`` and at least one secret was found (exit 1).
    """

    masked, count = mask_notebook(nb)
    if policy == "allow":
        return nb, count
    if policy == "refuse" and count:
        raise GateError(f"refusing to upload the executed notebook: {count} secret(s) in it",
                        Location(where or None),
                        hint='remove them from the outputs, or set [tracking] secrets = "redact"')
    return masked, count

"""Render findings: human text, JSON, SARIF 2.1.0, and GitHub Actions annotations."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from nbgov.core.checks.model import Finding, Rule

FORMATS = ("text", "json", "sarif", "github")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def where(f: Finding) -> str:
    """``path:cell:line`` with 1-based cell numbers; missing parts are left out."""
    parts = [f.path]
    if f.cell is not None:
        parts.append(str(f.cell + 1))
        if f.line is not None:
            parts.append(str(f.line))
    elif f.line is not None:
        parts.append(str(f.line))
    return ":".join(parts)


def _cell_prefix(f: Finding) -> str:
    if f.cell is None:
        return ""
    return f"cell {f.cell + 1}" + (f", line {f.line}: " if f.line else ": ")


def file_line(text: str, cell: int | None, line: int | None) -> int:
    """The 1-based line of the raw ``.ipynb`` JSON where a cell source line is, for annotations.

    Jupyter writes each source line as one JSON string on its own line, so the n-th line of a
    cell is n lines below its ``"source": [``. Cells are found by their ``"cell_type":`` key
    (inside JSON strings the quotes are escaped, so output text cannot fake one).
    """
    if cell is None:
        return line or 1
    prev, pos = 0, -1
    for _ in range(cell + 1):
        prev, pos = max(pos, 0), text.find('"cell_type":', pos + 1)
        if pos < 0:
            return 1
    nxt = text.find('"cell_type":', pos + 1)
    nxt = len(text) if nxt < 0 else nxt
    # Jupyter sorts keys, so "source" follows "cell_type"; other writers may put it before
    src = text.find('"source":', pos, nxt)
    if src < 0:
        src = text.rfind('"source":', prev, pos)
    if src < 0:
        return text.count("\n", 0, pos) + 1
    base = text.count("\n", 0, src) + 1
    listed = text[src : src + 20].replace(" ", "").startswith('"source":[')
    return base + line if listed and line else base


def render_text(findings: list[Finding], summary: dict[str, Any]) -> str:
    """``path:cell:line RULE [name] message`` lines, a summary line, then one hint per rule."""
    lines = [f"{where(f)} {f.rule} [{f.name}] {f.message}" for f in findings]
    hints = {f.rule: f"  {f.rule}: {f.hint}" for f in findings if f.hint}
    n, files = len(findings), summary.get("files", 0)
    if n:
        fixable = sum(f.fixable for f in findings)
        tail = f" ({fixable} fixable with --fix)" if fixable else ""
        lines.append(
            f"{n} finding{'s' * (n != 1)} in {files} file{'s' * (files != 1)} checked{tail}"
        )
    else:
        lines.append(f"all clean: {files} file{'s' * (files != 1)} checked")
    if summary.get("fixed"):
        lines.append(
            f"fixed {summary['fixed']} finding(s) in {summary.get('fixed_files', 0)} file(s)"
        )
    if hints:
        lines += ["how to fix:", *(hints[rule] for rule in sorted(hints))]
    return "\n".join(lines)


def render_json(findings: list[Finding], summary: dict[str, Any]) -> str:
    """``{"version": 1, "summary": {...}, "findings": [...]}``."""
    doc = {"version": 1, "summary": summary, "findings": [f.to_dict() for f in findings]}
    return json.dumps(doc, indent=2, ensure_ascii=False)


def render_github(findings: list[Finding], file_lines: Callable[[Finding], int]) -> str:
    """GitHub Actions workflow commands: one ``::error`` annotation a finding."""

    def esc(value: str, prop: bool = False) -> str:
        value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        return value.replace(":", "%3A").replace(",", "%2C") if prop else value

    lines = []
    for f in findings:
        title = esc(f"{f.rule} {f.name}", True)
        lines.append(
            f"::error file={esc(f.path, True)},line={file_lines(f)},title={title}"
            f"::{esc(_cell_prefix(f) + f.message)}"
        )
    return "\n".join(lines)


def render_sarif(
    findings: list[Finding],
    rules: Iterable[Rule],
    version: str,
    file_lines: Callable[[Finding], int],
) -> str:
    """A SARIF 2.1.0 log with one run; cell numbers are in the message and in properties."""
    rules = list(rules)
    used = {f.rule for f in findings}
    described = [r for r in rules if r.id in used] + [r for r in rules if r.id not in used]
    index = {r.id: i for i, r in enumerate(described)}
    results = []
    for f in findings:
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "level": "error",
            "message": {"text": _cell_prefix(f) + f.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.path, "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": file_lines(f)},
                    }
                }
            ],
            "properties": {"cell": None if f.cell is None else f.cell + 1, "cellLine": f.line},
        }
        if f.rule in index:
            result["ruleIndex"] = index[f.rule]
        results.append(result)
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "nbgov",
                        "version": version,
                        "informationUri": "https://github.com/nbgov/nbgov",
                        "rules": [
                            {
                                "id": r.id,
                                "name": r.name,
                                "shortDescription": {"text": r.message},
                                "help": {"text": r.hint},
                                "defaultConfiguration": {"level": "error", "enabled": r.default},
                            }
                            for r in described
                        ],
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False)

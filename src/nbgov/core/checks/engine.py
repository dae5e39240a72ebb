"""Run rules over one notebook's bytes, apply inline and per-path ignores, and fix.

The engine does no I/O of its own: the service reads files and writes fixed ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from nbgov.core.checks.builtin import INVALID_RULE
from nbgov.core.checks.model import NOTEBOOK, PROJECT, Finding, NotebookContext, Project, Rule
from nbgov.core.checks.registry import RuleRegistry
from nbgov.core.checks.validate import parse_notebook

ALL = "ALL"
_INLINE = re.compile(r"#\s*nbgov:\s*ignore(?:\[(?P<rules>[^\]]*)\])?")


@dataclass
class FileResult:
    """What checking one file gave.

    Attributes:
        path: relative POSIX path.
        findings: findings left after ignores, in order.
        context: the parsed notebook (None when it could not be parsed).
        errors: rules that crashed on this file (internal errors, not findings).
    """

    path: str
    findings: list[Finding] = field(default_factory=list)
    context: NotebookContext | None = None
    errors: list[str] = field(default_factory=list)


class Suppressions:
    """Per-path ignores from the configuration and inline ignores in cells.

    Inline forms, both scoped to one cell (or, in notebook metadata, to the whole file):
    a source comment ``# nbgov: ignore[NBG501, absolute-path]`` (``# nbgov: ignore`` = all
    rules) and cell metadata ``{"nbgov": {"ignore": ["NBG201"]}}`` (or ``"ALL"``).
    """

    def __init__(self, registry: RuleRegistry, settings: Any) -> None:
        self._registry = registry
        self._settings = settings
        self._per_path: dict[str, set[str]] = {}
        # resolve now so that an unknown rule in the configuration fails before any file is read
        for pattern, selectors in settings.per_path_ignores.items():
            registry.resolve(selectors, what=f"rule in per-path-ignores {pattern!r}")

    def _ids(self, selectors: Iterable[str]) -> set[str]:
        ids: set[str] = set()
        for selector in selectors:
            selector = selector.strip()
            if selector.upper() == ALL:
                return {ALL}
            ids.update(r.id for r in self._registry.matching(selector))
        return ids

    def for_path(self, path: str) -> set[str]:
        """Rule ids ignored in this file by ``per-path-ignores``."""
        if path not in self._per_path:
            self._per_path[path] = self._ids(self._settings.path_ignores(path))
        return self._per_path[path]

    def inline(self, meta: Any, source: str = "") -> set[str]:
        """Rule ids a cell (its metadata and source) or the notebook metadata silences."""
        ids: set[str] = set()
        nbgov = meta.get("nbgov") if isinstance(meta, dict) else None
        if isinstance(nbgov, dict) and "ignore" in nbgov:
            value = nbgov["ignore"]
            if value is True or value == ALL:
                return {ALL}
            if isinstance(value, str):
                value = [value]
            if isinstance(value, list):
                ids |= self._ids(str(v) for v in value)
        if "nbgov" in source:
            for m in _INLINE.finditer(source):
                if m.group("rules") is None:
                    return {ALL}
                ids |= self._ids(m.group("rules").split(","))
        return ids

    def apply(
        self, findings: list[Finding], ctx: NotebookContext | None, path: str
    ) -> list[Finding]:
        """The findings not silenced by a per-path or inline ignore."""
        if not findings:
            return findings
        file_ids = self.for_path(path)
        if ctx is not None:
            file_ids = file_ids | self.inline(ctx.nb.get("metadata"))
        cell_ids: dict[int, set[str]] = {}
        kept = []
        for f in findings:
            ids = file_ids
            if f.cell is not None and ctx is not None and f.cell < len(ctx.cells):
                if f.cell not in cell_ids:
                    cell_ids[f.cell] = self.inline(
                        ctx.cells[f.cell].get("metadata"), ctx.source(f.cell)
                    )
                ids = ids | cell_ids[f.cell]
            if ALL in ids or f.rule in ids:
                continue
            kept.append(f)
        return kept


def _as_finding(rule: Rule, path: str, item: Any) -> Finding:
    if isinstance(item, Finding):
        return item
    cell, line, *rest = item
    message = rest[0] if rest else None
    if rule.scope == PROJECT:
        # project rules yield (path, line, message): the location is a file, not a cell
        return rule.finding(str(cell), None, line, message)
    return rule.finding(path, cell, line, message)


def run_rules(
    rules: Iterable[Rule], target: NotebookContext | Project, path: str, errors: list[str]
) -> list[Finding]:
    """Run rules on a notebook context (or project); a crashing rule is recorded in ``errors``."""
    found: list[Finding] = []
    for rule in rules:
        try:
            found.extend(_as_finding(rule, path, item) for item in rule.check(target))
        except Exception as exc:  # one broken rule must not hide the others' findings
            errors.append(
                f"rule {rule.id} ({rule.origin}) failed on {path}: {type(exc).__name__}: {exc}"
            )
    return found


def check_bytes(
    path: str, raw: bytes, project: Project, rules: list[Rule], suppressions: Suppressions
) -> FileResult:
    """Check one notebook given as its file's bytes with the notebook-scope ``rules``."""
    result = FileResult(path)
    nb, problems = parse_notebook(raw)
    findings: list[Finding] = []
    selected = {r.id for r in rules}
    if INVALID_RULE.id in selected:
        for p in problems:
            finding = INVALID_RULE.finding(path, p.cell, p.line, p.message)
            # only bad cell ids are fixable among structural problems
            findings.append(replace(finding, fixable=p.bad_id))
    if nb is not None and not any(p.fatal for p in problems):
        result.context = NotebookContext(path, nb, project, size=len(raw))
        findings.extend(
            run_rules(
                (r for r in rules if r.scope == NOTEBOOK), result.context, path, result.errors
            )
        )
    result.findings = suppressions.apply(findings, result.context, path)
    return result


def fix_notebook(result: FileResult, rules: Iterable[Rule]) -> bool:
    """Apply the fixes of ``rules`` for ``result``'s findings to its notebook dict, in place."""
    if result.context is None:
        return False
    changed = False
    for rule in rules:
        if rule.fix is None:
            continue
        mine = [f for f in result.findings if f.rule == rule.id and f.fixable]
        if mine:
            changed = rule.fix(result.context, mine) or changed
    return changed


def dump_notebook(nb: dict[str, Any]) -> str:
    """A notebook dict as Jupyter writes it: sorted keys, indent 1, UTF-8, final newline."""
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"

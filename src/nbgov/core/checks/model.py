"""The rule model: what a rule is, what it finds, and what it is given to look at.

Pure Python on purpose: a notebook here is the dict ``json.loads`` returns, so running every
rule over a thousand notebooks costs no nbformat import. Third-party rules use the same
classes (see :mod:`nbgov.core.checks.registry` for how they are registered).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Rules that look at one notebook, and rules that look at the project (pipeline.yaml).
NOTEBOOK = "notebook"
PROJECT = "project"

_RULE_ID = re.compile(r"^[A-Z]{2,8}[0-9]{3,4}$")
_RULE_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


@dataclass(frozen=True)
class Finding:
    """One problem found by one rule.

    Attributes:
        rule: the rule id, e.g. ``NBG301``.
        name: the rule's name, e.g. ``secret-in-source``.
        message: one line saying what is wrong here.
        path: the file, relative to the project root when it is inside it (POSIX form).
        cell: 0-based cell index, None for the whole file.
        line: 1-based line in the cell source (or in the file when ``cell`` is None).
        hint: how to fix it.
        fixable: True when ``nbgov check --fix`` can fix it.
    """

    rule: str
    name: str
    message: str
    path: str
    cell: int | None = None
    line: int | None = None
    hint: str | None = None
    fixable: bool = False

    def sort_key(self) -> tuple:
        """Order findings by file, cell, line, rule."""
        return (self.path, -1 if self.cell is None else self.cell, self.line or 0, self.rule)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``cell`` is 1-based (as shown to people), ``cell_index`` 0-based."""
        return {
            "rule": self.rule,
            "name": self.name,
            "message": self.message,
            "path": self.path,
            "cell": None if self.cell is None else self.cell + 1,
            "cell_index": self.cell,
            "line": self.line,
            "hint": self.hint,
            "fixable": self.fixable,
        }


@dataclass
class SpecInfo:
    """The part of pipeline.yaml the checks need, as plain data (filled by the service).

    Attributes:
        path: the spec file, relative to the project root.
        tasks: one dict per task: ``name``, ``source`` (as written), ``source_path`` (relative to
            the project root, POSIX), ``product``, ``line`` (1-based, in the spec file), and
            ``spec``: the path of the project's other spec it belongs to (``pipeline.serve.yaml``,
            built with ``-e``), None for this one.
        error: why the spec could not be read, when it could not.
    """

    path: str
    tasks: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    _sources: set[str] | None = field(default=None, repr=False, compare=False)

    def task_sources(self) -> set[str]:
        """The tasks' source paths relative to the project root (computed once)."""
        if self._sources is None:
            self._sources = {t["source_path"] for t in self.tasks if t.get("source_path")}
        return self._sources


@dataclass
class Project:
    """What project-wide rules and the per-notebook rules that need the project can see.

    Attributes:
        root: the project root.
        settings: the resolved ``[check]`` settings.
        spec: the pipeline spec, None when the project has none.
        notebooks: every notebook file under the project, relative POSIX paths.
        review_status: notebook relative path -> review status, when the review rule runs.
    """

    root: Path
    settings: Any
    spec: SpecInfo | None = None
    notebooks: list[str] = field(default_factory=list)
    review_status: dict[str, str] | None = None


@dataclass
class NotebookContext:
    """One parsed notebook handed to notebook rules.

    Attributes:
        path: the relative POSIX path shown in findings.
        nb: the notebook as a dict (nbformat 4 shape, already checked structurally).
        project: the project it belongs to.
        size: size of the file in bytes.
    """

    path: str
    nb: dict[str, Any]
    project: Project
    size: int = 0
    _sources: dict[int, str] = field(default_factory=dict, repr=False)

    @property
    def settings(self) -> Any:
        """The resolved ``[check]`` settings."""
        return self.project.settings

    @property
    def cells(self) -> list[dict[str, Any]]:
        """The notebook's cells."""
        return self.nb["cells"]

    def source(self, index: int) -> str:
        """The source of cell ``index`` as one string (nbformat allows a list of lines)."""
        if index not in self._sources:
            src = self.cells[index].get("source", "")
            self._sources[index] = "".join(src) if isinstance(src, list) else src
        return self._sources[index]

    def code_cells(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(index, cell)`` for every code cell."""
        for index, cell in enumerate(self.cells):
            if cell.get("cell_type") == "code":
                yield index, cell

    def is_task(self) -> bool | None:
        """Whether this notebook is a pipeline task source; None when there is no pipeline."""
        spec = self.project.spec
        if spec is None or spec.error:
            return None
        return self.path in spec.task_sources()


CheckFn = Callable[[Any], Iterable[Finding]]
FixFn = Callable[[NotebookContext, list[Finding]], bool]


@dataclass(frozen=True)
class Rule:
    """A check: an id, a name, a one-line message, a fix hint, and the function that looks.

    Attributes:
        id: stable id used in config and inline ignores, e.g. ``NBG301`` (2-8 capitals + digits).
        name: a readable slug, e.g. ``secret-in-source``; also accepted wherever ids are.
        message: the one-line default message.
        hint: how to fix what it finds.
        check: ``check(ctx)`` yielding :class:`Finding` objects or, shorter, tuples the engine
            turns into findings of this rule: ``(cell, line[, message])`` for
            ``scope="notebook"`` (ctx is a :class:`NotebookContext`; cell 0-based, None for
            the whole file) and ``(path, line[, message])`` for ``scope="project"`` (ctx is a
            :class:`Project`).
        scope: :data:`NOTEBOOK` or :data:`PROJECT`.
        default: whether it runs when the configuration does not select it by name.
        fix: optional ``fix(ctx, findings) -> changed``; edits ``ctx.nb`` in place for the cells
            named in ``findings``. Only safe, mechanical fixes belong here.
        origin: ``builtin`` or the entry point that registered it.
    """

    id: str
    name: str
    message: str
    hint: str
    check: CheckFn
    scope: str = NOTEBOOK
    default: bool = True
    fix: FixFn | None = None
    origin: str = "builtin"

    def __post_init__(self) -> None:
        if not _RULE_ID.match(self.id):
            raise ValueError(f"rule id {self.id!r} must look like ABC123 (capitals then digits)")
        if not _RULE_NAME.match(self.name):
            raise ValueError(f"rule name {self.name!r} must be a lower-case slug like 'my-rule'")
        if self.scope not in (NOTEBOOK, PROJECT):
            raise ValueError(f"rule scope must be {NOTEBOOK!r} or {PROJECT!r}, got {self.scope!r}")

    def finding(
        self,
        path: str,
        cell: int | None = None,
        line: int | None = None,
        message: str | None = None,
        hint: str | None = None,
    ) -> Finding:
        """A finding of this rule; ``message``/``hint`` default to the rule's own."""
        return Finding(
            self.id,
            self.name,
            message or self.message,
            path,
            cell,
            line,
            hint or self.hint,
            self.fix is not None,
        )

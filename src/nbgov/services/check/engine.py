"""``nbgov check``: find the notebooks, read the project's settings and pipeline, run the rules,
fix what can be fixed safely, and hand back a :class:`CheckReport`.

Kept light on purpose (it runs in pre-commit on every commit): no nbformat, no Ploomber, no
MLflow; PyYAML only when a selected rule needs pipeline.yaml; the review service only when
its rule is on.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbgov import __version__
from nbgov.core.atomic import atomic_write
from nbgov.core.checks.engine import (
    FileResult,
    Suppressions,
    check_bytes,
    dump_notebook,
    fix_notebook,
    run_rules,
)
from nbgov.core.checks.model import NOTEBOOK, PROJECT, Finding, Project, Rule, SpecInfo
from nbgov.core.checks.registry import RuleRegistry, load_registry
from nbgov.core.checks.settings import CheckSettings, parse_settings
from nbgov.core.config import Config, find_root, load_config
from nbgov.core.errors import NbgovError, NbgovWarning, NotebookError
from nbgov.services.check.files import NOTEBOOK_SUFFIX, _relpath, discover
from nbgov.services.check.sources import (
    PRODUCT_RULES,
    SCRIPT_SKIP,
    TEXT_RULES,
    TaskFiles,
    script_notebook,
    task_files,
    text_notebook,
)

REVIEW_RULE = "NBG701"
#: notebook rules that ask whether a notebook is a pipeline task
SPEC_RULES = {"NBG101", "NBG604"}


@dataclass
class CheckReport:
    """The outcome of one ``nbgov check`` run.

    Attributes:
        root: the project root paths are shown relative to.
        findings: every finding left after ignores, sorted by file, cell, line.
        files: how many files were checked.
        rules: the rules that ran.
        fixed: findings fixed by ``--fix`` (counted before/after), and in how many files.
        notes: things the user should know that are not findings (a rule skipped...).
        errors: internal errors (a rule crashed); they make the exit code 2.
    """

    root: Path
    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    rules: list[Rule] = field(default_factory=list)
    fixed: int = 0
    fixed_files: int = 0
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 clean, 1 findings, 2 internal error."""
        if self.errors:
            return 2
        return 1 if self.findings else 0

    def summary(self) -> dict[str, Any]:
        """Counts for the JSON and text outputs."""
        return {
            "files": self.files,
            "findings": len(self.findings),
            "fixed": self.fixed,
            "fixed_files": self.fixed_files,
            "rules": [r.id for r in self.rules],
            "notes": self.notes,
            "errors": self.errors,
        }

    def file_line(self, finding: Finding) -> int:
        """The line in the raw file a finding points at (for SARIF and GitHub annotations)."""
        if finding.cell is None or not finding.path.endswith(NOTEBOOK_SUFFIX):
            return finding.line or 1
        try:
            text = (self.root / finding.path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return 1
        from nbgov.core.checks.report import file_line  # (the report formats: only when printing)

        return file_line(text, finding.cell, finding.line)


class RuleScope:
    """Which notebook rules a file gets: every selected rule for a pipeline task's notebook
    (or any notebook when the project has no pipeline); the ``[check] non-task-rules`` for a
    notebook that is not a task; all but :data:`SCRIPT_SKIP` for a script task; the code
    hygiene rules (:data:`TEXT_RULES`) for other sources (function modules, SQL, shell)."""

    def __init__(self, rules: list[Rule], registry: RuleRegistry, settings: CheckSettings,
                 tasks: TaskFiles | None) -> None:
        self.rules = rules
        self.tasks = tasks
        hygiene = registry.resolve(settings.non_task_rules, "non-task-rules selector")
        self.non_task = [r for r in rules if r.id in hygiene]
        self.script = [r for r in rules if r.id not in SCRIPT_SKIP]
        text = registry.resolve(TEXT_RULES)
        self.text = [r for r in rules if r.id in text]
        product = registry.resolve(PRODUCT_RULES)
        self.product = [r for r in rules if r.id in product]

    def for_path(self, rel: str) -> tuple[str, list[Rule]]:
        """``(mode, rules)`` for a file: mode ``notebook``, ``script`` or ``text``."""
        if self.tasks is None:
            return "notebook", self.rules
        mode = self.tasks.sources.get(rel)
        if mode is None and rel in self.tasks.products:
            return "notebook", self.product  # only named products get this far (discover)
        if mode is None:
            return "notebook", self.non_task
        return mode, {"notebook": self.rules, "script": self.script, "text": self.text}[mode]


def _spec_info(config: Config, root: Path) -> SpecInfo | None:
    spec_path = config.pipeline_path
    if not spec_path.is_file():
        return None
    rel = _relpath(spec_path, root)
    try:
        from nbgov.adapters.specfile import read_spec, sibling_specs  # (PyYAML: only with a spec)

        spec = read_spec(spec_path)
    except NbgovError as exc:
        line = exc.where.line if exc.where else None
        return SpecInfo(rel, error=exc.message + (f" (line {line})" if line else ""))
    tasks = _spec_tasks(spec, root, None)
    # the project's other specs (pipeline.serve.yaml, built with `-e`): their tasks are tasks,
    # checked against their own spec; one that does not read fails its own build
    for other in sibling_specs(spec_path):
        try:
            tasks += _spec_tasks(read_spec(other), root, _relpath(other, root))
        except NbgovError:
            continue
    return SpecInfo(rel, tasks)


def _spec_tasks(spec: Any, root: Path, spec_rel: str | None) -> list[dict[str, Any]]:
    """The checks' view of a read spec's tasks (``spec``: the other spec's path, None: the main)."""
    tasks = []
    for task in spec.tasks:
        source = spec.source_path(task)
        tasks.append(
            {
                "name": task.name,
                "source": task.source,
                "product": task.product,
                "line": task.line,
                "source_path": _relpath(source, root) if source else None,
                "class": task.cls,
                # meta.extract_product: the product is declared in the source, not the spec
                "product_in_source": bool(spec.meta.get("extract_product")),
                "spec": spec_rel,
            }
        )
    return tasks


def _review_status(
    config: Config, notebooks: list[Path], root: Path, notes: list[str]
) -> dict[str, str] | None:
    # the review service (ledger, git, the review closure) only when its rule is on: nbgov check
    # runs in pre-commit on every commit
    from nbgov.services.review.state import review_states

    try:
        states = review_states(config, list(notebooks))
    except NbgovError:
        # one unreadable notebook (an NBG001 finding anyway) must not hide the others' status
        states = []
        for notebook in notebooks:
            try:
                states.extend(review_states(config, [notebook]))
            except NotebookError:
                continue
            except NbgovError as exc:  # the ledger or the configuration: no status for anyone
                notes.append(f"{REVIEW_RULE} not-approved skipped: {exc}")
                return None
    return {_relpath(root / s.path, root): s.status for s in states}


def _spec_in_scope(paths: Sequence[str | Path], spec: SpecInfo | None, root: Path) -> bool:
    if spec is None:
        return False
    if not paths:
        return True
    spec_abs = (root / spec.path).resolve()
    for given in paths:
        p = Path(given).resolve()
        if p == spec_abs or (p.is_dir() and spec_abs.is_relative_to(p)):
            return True
    return False


def select_rules(
    registry: RuleRegistry,
    settings: CheckSettings,
    select: Sequence[str] | None,
    extend_select: Sequence[str],
    ignore: Sequence[str],
) -> list[Rule]:
    """Command-line ``select`` replaces the configuration's; ``extend``/``ignore`` add up."""
    return registry.select(
        list(select) if select else settings.select,
        [*settings.extend_select, *extend_select],
        [*settings.ignore, *ignore],
    )


def run_check(
    paths: Sequence[str | Path] = (),
    *,
    root: str | Path | None = None,
    select: Sequence[str] | None = None,
    extend_select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    fix: bool = False,
    plugins: bool = True,
    jobs: int = 1,
) -> CheckReport:
    """Check notebooks and, with ``fix``, repair what is safe to repair.

    Args:
        paths: files and folders to check; none means the whole project.
        root: the project root; found upward from the current folder when None.
        select: rule selectors replacing ``[check] select`` (ids, names, prefixes, ``ALL``).
        extend_select: selectors added to the selection.
        ignore: selectors removed from the selection.
        fix: apply safe fixes (clear outputs, drop volatile metadata, set the kernel) in place,
            writing each file atomically, then report what is left.
        plugins: load third-party rules from the ``nbgov.checks`` entry-point group.
        jobs: processes to check with (Linux, 64 notebooks or more); 1 checks in this
            process. Off by default: on a busy 2-core machine it measured no faster.

    Returns:
        A :class:`CheckReport`; its ``exit_code`` is 0 clean, 1 findings, 2 internal error.

    Raises:
        ConfigError: the ``[check]`` table or a selector is invalid.
        NbgovError: a path does not exist.
    """
    config = load_config(root if root is not None else find_root())
    root_path = config.root
    settings = parse_settings(config.section("check"), config.raw.get("kernel"), config.source)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NbgovWarning)
        registry = load_registry(plugins)
    report = CheckReport(root_path)
    for w in caught:
        report.notes.append(str(w.message))
        # re-emit so that callers (and pytest's "warnings are errors") still see it
        warnings.warn(w.message, NbgovWarning, stacklevel=2)
    rules = select_rules(registry, settings, select, extend_select, ignore)
    report.rules = rules
    suppressions = Suppressions(registry, settings)
    tasks = task_files(config)
    files = discover(paths, root_path, settings, report.notes, config.pipeline_path, tasks)
    # the spec (and PyYAML) only when a selected rule can use it
    needs_spec = any(
        r.scope == PROJECT or r.id in SPEC_RULES or r.origin != "builtin" for r in rules
    )
    spec = _spec_info(config, root_path) if needs_spec else None
    project = Project(root_path, settings, spec, [_relpath(p, root_path) for p in files])
    if any(r.id == REVIEW_RULE for r in rules):
        project.review_status = _review_status(config, files, root_path, report.notes)
    scope = RuleScope([r for r in rules if r.scope == NOTEBOOK], registry, settings, tasks)

    _check_all(files, (root_path, project, scope, suppressions, fix), jobs, report)
    report.files = len(files)

    if _spec_in_scope(paths, spec, root_path):
        assert spec is not None
        found = run_rules(
            (r for r in rules if r.scope == PROJECT), project, spec.path, report.errors
        )
        report.findings.extend(
            f for f in found if not (suppressions.for_path(f.path) & {f.rule, "ALL"})
        )
    report.findings.sort(key=Finding.sort_key)
    return report


#: below this many files a second process costs more than it saves
PARALLEL_MIN_FILES = 64
#: what forked workers inherit (set just before the pool forks, cleared after)
_WORKER_ARGS: tuple = ()


def _check_chunk(paths: list[Path], args: tuple | None = None) -> tuple[list, list, int, int]:
    """Check some files; returns (findings, errors, fixed, fixed files)."""
    root, project, scope, suppressions, fix = args or _WORKER_ARGS
    part = CheckReport(root)
    for path in paths:
        mode, rules = scope.for_path(_relpath(path, root))
        if mode == "notebook":
            result = _check_file(path, root, project, rules, suppressions, fix, part)
        else:
            result = _check_source(path, root, project, rules, suppressions, mode)
        part.findings.extend(result.findings)
        part.errors.extend(result.errors)
    return part.findings, part.errors, part.fixed, part.fixed_files


def _check_all(files: list[Path], args: tuple, jobs: int, report: CheckReport) -> None:
    global _WORKER_ARGS
    if jobs <= 1 or len(files) < PARALLEL_MIN_FILES or sys.platform != "linux":
        parts = [_check_chunk(files, args)]
    else:
        import multiprocessing

        # fork: the workers inherit the rules (plug-ins too) and settings without pickling;
        # interleaved chunks spread the big notebooks over the workers
        chunks = [files[i :: jobs * 4] for i in range(jobs * 4)]
        _WORKER_ARGS = args
        try:
            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                parts = pool.map(_check_chunk, chunks)
        finally:
            _WORKER_ARGS = ()
    for findings, errors, fixed, fixed_files in parts:
        report.findings.extend(findings)
        report.errors.extend(errors)
        report.fixed += fixed
        report.fixed_files += fixed_files


def _check_file(
    path: Path,
    root: Path,
    project: Project,
    rules: list[Rule],
    suppressions: Suppressions,
    fix: bool,
    report: CheckReport,
) -> FileResult:
    rel = _relpath(path, root)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        invalid = next((r for r in rules if r.id == "NBG001"), None)
        result = FileResult(rel)
        if invalid is not None:
            result.findings.append(
                invalid.finding(rel, message=f"cannot read: {exc.strerror or exc}")
            )
        return result
    result = check_bytes(rel, raw, project, rules, suppressions)
    if fix and any(f.fixable for f in result.findings) and fix_notebook(result, rules):
        assert result.context is not None
        new = dump_notebook(result.context.nb).encode("utf-8")
        atomic_write(path, new)
        before = len(result.findings)
        result = check_bytes(rel, new, project, rules, suppressions)
        report.fixed += max(before - len(result.findings), 0)
        report.fixed_files += 1
    return result


def _check_source(path: Path, root: Path, project: Project, rules: list[Rule],
                  suppressions: Suppressions, mode: str) -> FileResult:
    """Check a task source that is not an .ipynb (a script, a module, SQL...): split into cells,
    checked like a notebook, findings moved to lines of the file. Never fixed in place."""
    import json
    from dataclasses import replace

    rel = _relpath(path, root)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        result = FileResult(rel)
        result.errors.append(f"{rel}: cannot read: {exc}")
        return result
    nb, starts = script_notebook(text) if mode == "script" else text_notebook(text)
    result = check_bytes(rel, json.dumps(nb).encode("utf-8"), project, rules, suppressions)
    result.findings = [
        replace(f, cell=None, line=starts[f.cell] + (f.line or 1), fixable=False)
        if f.cell is not None and f.cell < len(starts) else replace(f, fixable=False)
        for f in result.findings
    ]
    return result


def render(report: CheckReport, fmt: str = "text") -> str:
    """The report in one of :data:`~nbgov.core.checks.report.FORMATS`."""
    from nbgov.core.checks import report as formats  # (only when printing: see file_line)


    if fmt == "json":
        return formats.render_json(report.findings, report.summary())
    if fmt == "sarif":
        return formats.render_sarif(report.findings, report.rules, __version__, report.file_line)
    if fmt == "github":
        return formats.render_github(report.findings, report.file_line)
    if fmt == "text":
        return formats.render_text(report.findings, report.summary())
    raise NbgovError(f"unknown format {fmt!r}", hint=f"one of: {', '.join(formats.FORMATS)}")


def list_rules(plugins: bool = True, root: str | Path | None = None) -> str:
    """A table of every rule: id, name, on by default, fixable, origin, message."""
    config = load_config(root if root is not None else find_root())
    settings = parse_settings(config.section("check"), config.raw.get("kernel"), config.source)
    registry = load_registry(plugins)
    selected = {r.id for r in select_rules(registry, settings, None, (), ())}
    rows = [
        f"{r.id:<8} {r.name:<26} {'on ' if r.id in selected else 'off'} "
        f"{'fix' if r.fix else '   '} {r.message}"
        + ("" if r.origin == "builtin" else f" [{r.origin}]")
        for r in registry
    ]
    return "\n".join(["id       name                       run fix message", *rows])

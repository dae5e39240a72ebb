"""Built-in rules on one notebook: structure, parameters, outputs, metadata, kernel, paths."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace

from nbgov.core.checks.model import Finding, NotebookContext, Rule
from nbgov.core.checks.settings import ALLOW, FORBID
from nbgov.core.identity import cell_tags, injected_cells, runtime_cells

Hit = tuple  # (cell index, line, message) - turned into a Finding by the engine

# --- NBG001: structure. The engine reports parse problems under this rule; it has no check.


def _no_check(ctx: NotebookContext) -> Iterator[Hit]:
    return iter(())


def _fix_cell_ids(ctx: NotebookContext, findings: list[Finding]) -> bool:
    """Give fresh ids to the cells whose id is missing, malformed or taken (nbformat 4.5)."""
    import uuid

    cells = {f.cell for f in findings if f.fixable and f.cell is not None}
    taken = {c.get("id") for i, c in enumerate(ctx.cells) if i not in cells}
    for index in sorted(cells):
        new = uuid.uuid4().hex[:8]
        while new in taken:
            new = uuid.uuid4().hex[:8]
        ctx.cells[index]["id"] = new
        taken.add(new)
    if cells and ctx.nb.get("nbformat_minor", 0) < 5:
        ctx.nb["nbformat_minor"] = 5
    return bool(cells)


INVALID = Rule(
    "NBG001",
    "invalid-notebook",
    "not a valid nbformat 4 notebook",
    "restore the file from git, or re-save it from Jupyter; --fix repairs cell ids",
    _no_check,
    fix=_fix_cell_ids,
)

# --- NBG101-103: the parameters cell of a pipeline task


def _parameter_cells(ctx: NotebookContext) -> list[int]:
    return [i for i, cell in enumerate(ctx.cells) if "parameters" in cell_tags(cell)]


def _check_missing_parameters(ctx: NotebookContext) -> Iterator[Hit]:
    if ctx.is_task() and not _parameter_cells(ctx):
        yield None, None, "pipeline task notebook has no cell tagged 'parameters'"


def _check_multiple_parameters(ctx: NotebookContext) -> Iterator[Hit]:
    cells = _parameter_cells(ctx)
    for index in cells[1:]:
        yield index, None, f"second cell tagged 'parameters' (the first is cell {cells[0] + 1})"


def _literal_problems(source: str) -> Iterator[tuple[int, str]]:
    import ast  # only parameter cells are parsed

    lines = source.split("\n")
    for lineno, line in enumerate(lines, 1):
        if line.lstrip().startswith(("%", "!")):
            yield lineno, "magic or shell line: only `name = literal` lines belong here"
            lines[lineno - 1] = ""  # blank it so the rest of the cell can still be read
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError as exc:
        yield exc.lineno or 1, f"not valid Python: {exc.msg}"
        return
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets):
            value = stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value:
            value = stmt.value
        elif (
            isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str)
        ):
            continue  # a docstring-like note
        else:
            yield (
                stmt.lineno,
                f"'{type(stmt).__name__}' statement: only `name = literal` lines belong here",
            )
            continue
        try:
            ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, RecursionError):
            yield stmt.lineno, "assigned value is not a literal (computed or imported)"


def _check_literal_parameters(ctx: NotebookContext) -> Iterator[Hit]:
    for index in _parameter_cells(ctx):
        if ctx.cells[index].get("cell_type") != "code":
            yield index, None, "cell tagged 'parameters' is not a code cell"
            continue
        for line, message in _literal_problems(ctx.source(index)):
            yield index, line, message


def _check_injected_cells(ctx: NotebookContext) -> Iterator[Hit]:
    # In a source notebook a cell tagged injected-parameters is code: papermill replaces only
    # the first such cell at run time and runs any other. Only an executed copy (papermill's
    # metadata, not a task source) may hold one: the one papermill added.
    cells = injected_cells(ctx.nb)
    executed = "papermill" in (ctx.nb.get("metadata") or {}) and ctx.is_task() is not True
    if executed:
        cells = [i for i in cells if i not in runtime_cells(ctx.nb)]
    for index in cells:
        yield index, None, ("cell tagged 'injected-parameters' in a source notebook: "
                            "nbgov builds refuse it (papermill would replace the first such cell only)")


MISSING_PARAMETERS = Rule(
    "NBG101",
    "missing-parameters-cell",
    "pipeline task notebook has no 'parameters' cell",
    "tag the cell holding the defaults with 'parameters' (View > Cell toolbar > Tags)",
    _check_missing_parameters,
)
MULTIPLE_PARAMETERS = Rule(
    "NBG102",
    "multiple-parameters-cells",
    "more than one cell is tagged 'parameters'",
    "keep one cell tagged 'parameters'; papermill injects after the first only",
    _check_multiple_parameters,
)
LITERAL_PARAMETERS = Rule(
    "NBG103",
    "non-literal-parameters",
    "the parameters cell holds more than literal assignments",
    "keep only `name = literal` lines there; compute derived values in the next cell",
    _check_literal_parameters,
)

INJECTED_IN_SOURCE = Rule(
    "NBG104",
    "injected-parameters-in-source",
    "a source notebook holds a cell tagged 'injected-parameters'",
    "delete the cell (or `ploomber nb --remove`): the build injects the values at run time",
    _check_injected_cells,
)

# --- NBG201-203: outputs, execution counts, volatile metadata


def _outputs_size(cell: dict) -> int:
    return len(json.dumps(cell.get("outputs") or [], ensure_ascii=False))


def _check_outputs(ctx: NotebookContext) -> Iterator[Hit]:
    policy = ctx.settings.outputs
    if policy == ALLOW:
        return
    for index, cell in ctx.code_cells():
        outputs = cell.get("outputs") or []
        if policy == FORBID:
            if outputs:
                yield index, None, f"{len(outputs)} committed output(s); outputs are forbidden here"
            elif cell.get("execution_count") is not None:
                yield index, None, "committed execution count; outputs are forbidden here"
        elif outputs:
            size = _outputs_size(cell)
            if size > policy:
                yield index, None, f"outputs are {size:,} bytes, over the {policy:,}-byte limit"


def _fix_outputs(ctx: NotebookContext, findings: list[Finding]) -> bool:
    changed = False
    for index in {f.cell for f in findings if f.cell is not None}:
        cell = ctx.cells[index]
        if cell.get("outputs") or cell.get("execution_count") is not None:
            cell["outputs"] = []
            cell["execution_count"] = None
            changed = True
    return changed


def _check_execution_order(ctx: NotebookContext) -> Iterator[Hit]:
    if ctx.settings.outputs == FORBID:
        return  # NBG201 covers notebooks that must not keep outputs at all
    last: tuple[int, int] | None = None
    for index, cell in ctx.code_cells():
        count = cell.get("execution_count")
        if count is None:
            if cell.get("outputs"):
                yield index, None, "cell has outputs but no execution count"
            continue
        if last is not None and count <= last[1]:
            yield (
                index,
                None,
                (
                    f"execution count {count} comes after {last[1]} (cell {last[0] + 1}): "
                    "cells were run out of order"
                ),
            )
        last = (index, count)


#: Metadata Jupyter writes as a side effect of viewing or running (the keys nbstripout drops).
VOLATILE_CELL_KEYS = (
    "collapsed",
    "scrolled",
    "ExecuteTime",
    "execution",
    "heading_collapsed",
    "hidden",
)
VOLATILE_NOTEBOOK_KEYS = ("signature", "widgets")


def _check_volatile_metadata(ctx: NotebookContext) -> Iterator[Hit]:
    meta = ctx.nb.get("metadata") or {}
    keys = [k for k in VOLATILE_NOTEBOOK_KEYS if k in meta]
    if keys:
        yield None, None, f"volatile notebook metadata: {', '.join(keys)}"
    for index, cell in enumerate(ctx.cells):
        cmeta = cell.get("metadata") or {}
        keys = [k for k in VOLATILE_CELL_KEYS if k in cmeta]
        if keys:
            yield index, None, f"volatile cell metadata: {', '.join(keys)}"


def _fix_volatile_metadata(ctx: NotebookContext, findings: list[Finding]) -> bool:
    changed = False
    for finding in findings:
        if finding.cell is None:
            meta, keys = ctx.nb.get("metadata") or {}, VOLATILE_NOTEBOOK_KEYS
        else:
            meta, keys = ctx.cells[finding.cell].get("metadata") or {}, VOLATILE_CELL_KEYS
        for key in keys:
            if key in meta:
                del meta[key]
                changed = True
    return changed


OUTPUTS = Rule(
    "NBG201",
    "outputs-committed",
    "committed outputs break the project's outputs policy",
    "clear outputs before committing (nbgov check --fix), or set [check] outputs in nbgov.toml",
    _check_outputs,
    fix=_fix_outputs,
)
EXECUTION_ORDER = Rule(
    "NBG202",
    "execution-order",
    "kept outputs come from cells run out of order",
    "restart the kernel and run all cells, then save",
    _check_execution_order,
)
VOLATILE_METADATA = Rule(
    "NBG203",
    "volatile-metadata",
    "metadata that only records viewing or timing",
    "nbgov check --fix removes it",
    _check_volatile_metadata,
    fix=_fix_volatile_metadata,
)

# --- NBG301: kernel spec


def _check_kernelspec(ctx: NotebookContext) -> Iterator[Hit]:
    spec = (ctx.nb.get("metadata") or {}).get("kernelspec")
    name = spec.get("name") if isinstance(spec, dict) else None
    wanted = ctx.settings.kernel
    if not name:
        message = "notebook declares no kernel (metadata.kernelspec.name)"
    elif wanted and name != wanted:
        message = f"kernel {name!r} is not the project's kernel {wanted!r}"
    else:
        return
    # --fix can only write the project's kernel when the project names one
    yield replace(KERNELSPEC.finding(ctx.path, message=message), fixable=bool(wanted))


def _fix_kernelspec(ctx: NotebookContext, findings: list[Finding]) -> bool:
    wanted = ctx.settings.kernel
    if not wanted:
        return False  # nothing safe to write without knowing the project's kernel
    meta = ctx.nb.setdefault("metadata", {})
    old = meta.get("kernelspec") if isinstance(meta.get("kernelspec"), dict) else {}
    info = meta.get("language_info") if isinstance(meta.get("language_info"), dict) else {}
    language = old.get("language") or info.get("name") or "python"
    display = old.get("display_name") if old.get("name") == wanted else None
    meta["kernelspec"] = {"name": wanted, "display_name": display or wanted, "language": language}
    return True


KERNELSPEC = Rule(
    "NBG301",
    "kernelspec",
    "kernel spec missing or not the project's",
    "pick the project's kernel (Kernel > Change kernel), or set [check] kernel; "
    "--fix writes it when [check] kernel is set",
    _check_kernelspec,
    fix=_fix_kernelspec,
)

# --- NBG401: absolute and home-directory paths

_ROOTS = (
    "home|Users|root|mnt|media|Volumes|data|tmp|var|opt|srv|scratch|gpfs|nfs|content|workspace|"
    "private|usr|etc"
)
_QUOTED_PATH = re.compile(
    r"""(?<![\w.])[rRbBuUfF]{0,2}(?P<q>["'])(?P<path>~[/\\]|~(?=["'])|/(?:ROOTS)(?=[/"'])|"""
    r"""[A-Za-z]:(?:\\\\|\\|/)|\\\\\\\\[\w.$-]+)""".replace("ROOTS", _ROOTS)
)
_SHELL_PATH = re.compile(r"^\s*[!%].*?(?<=\s)(?P<path>~/|/(?:ROOTS)/)".replace("ROOTS", _ROOTS))
_HOME_CALL = re.compile(r"\b(?:Path\.home\(\)|expanduser\()")


def _path_message(line: str, m: re.Match[str]) -> str:
    rest = line[m.start("path") :]
    quote = m.groupdict().get("q")
    shown = rest.split(quote)[0] if quote else rest.split()[0]
    home = shown.startswith("~") or shown.lower().startswith(("/home/", "/users/", "/root"))
    return f"{'home-directory' if home else 'absolute'} path {shown[:60]!r}"


def _check_paths(ctx: NotebookContext) -> Iterator[Hit]:
    for index, _cell in ctx.code_cells():
        source = ctx.source(index)
        if "/" not in source and "\\" not in source and "~" not in source and "home" not in source:
            continue
        for lineno, line in enumerate(source.split("\n"), 1):
            if line.lstrip().startswith("#"):
                continue
            m = _QUOTED_PATH.search(line) or _SHELL_PATH.search(line)
            if m:
                yield index, lineno, _path_message(line, m)
            elif _HOME_CALL.search(line):
                yield index, lineno, "home-directory path (Path.home() / expanduser)"


ABSOLUTE_PATHS = Rule(
    "NBG401",
    "absolute-path",
    "absolute or home-directory path in the source",
    "use a path relative to the project, or a parameter (products and upstream in pipeline.yaml)",
    _check_paths,
)

"""Parameter overrides from the command line: ``NAME=VALUE`` and ``TASK.NAME=VALUE``.

Values are plain data: JSON (``0.5``, ``true``, ``[1, 2]``, ``"text"``) or Python literals
(``True``, ``None``); anything else is taken as a string. Names must be identifiers.
"""

from __future__ import annotations

import ast
import json
import keyword
from collections.abc import Iterable, Mapping
from typing import Any

from nbgov.core.errors import Location, ParameterError, PipelineError

_PLAIN = (str, int, float, bool, type(None))


def is_parameter_name(name: Any) -> bool:
    """Whether ``name`` can be a parameter: a Python identifier that is not a keyword.

    Papermill writes each parameter as ``name = value`` into the injected cell: a name that is
    not an identifier would be code run under the notebook's approval (``x = 1\nimport os``).
    """
    return isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)


def _grid_names(grid: Any) -> Iterable[Any]:
    """The parameter names a Ploomber ``grid`` declares (a mapping, or a list of mappings)."""
    for part in grid if isinstance(grid, list) else [grid]:
        if isinstance(part, Mapping):
            yield from part.keys()


def check_task_param_names(task: str, params: Any, grid: Any = None,
                           where: Location | None = None) -> None:
    """Refuse a task whose ``params`` or ``grid`` name a parameter that is not an identifier.

    Args:
        task: the task's name (or its source, when it has none), for the message.
        params: the task's ``params`` mapping as the spec writes it.
        grid: the task's ``grid`` (a mapping, or a list of mappings), if any.
        where: the spec file (and line) that declares the task.

    Raises:
        PipelineError: one line naming the spec file, the task and the name (exit 2).
    """
    names = [*(params.keys() if isinstance(params, Mapping) else ()), *_grid_names(grid)]
    for name in names:
        if not is_parameter_name(name):
            shown = repr(name) if isinstance(name, str) else f"{name!r} ({type(name).__name__})"
            what = "is a Python keyword" if keyword.iskeyword(str(name)) else "is not a Python identifier"
            raise PipelineError(
                f"task {task!r}: parameter name {shown[:80]} {what}",
                where, hint="name parameters like variables (letters, digits, _), e.g. learning_rate")


def parse_value(text: str) -> Any:
    """Turn the text after ``=`` into plain data."""
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        return value
    return text


def check_plain(value: Any, where: str) -> Any:
    """Raise ParameterError unless ``value`` is made of str/int/float/bool/None/list/dict."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, list):
        return [check_plain(v, where) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: check_plain(v, where) for k, v in value.items()}
    raise ParameterError(f"{where}: value {value!r} is not plain data",
                         hint="use numbers, strings, true/false/null, lists or objects (JSON)")


def parse_assignment(text: str, *, dotted: bool) -> tuple[str | None, str, Any]:
    """Parse ``NAME=VALUE`` (or ``TASK.NAME=VALUE`` when ``dotted``) into (task, name, value)."""
    if "=" not in text:
        form = "TASK.NAME=VALUE" if dotted else "NAME=VALUE"
        raise ParameterError(f"{text!r} is not {form}", hint=f"write it as {form}, e.g. "
                             + ("train.C=0.5" if dotted else "seed=7"))
    key, raw = text.split("=", 1)
    task = None
    if dotted:
        if "." not in key:
            raise ParameterError(f"{text!r}: say which task the parameter is for",
                                 hint="write it as TASK.NAME=VALUE, e.g. train.C=0.5")
        task, key = key.rsplit(".", 1)
        if not task:
            raise ParameterError(f"{text!r}: empty task name")
    if not is_parameter_name(key):
        raise ParameterError(f"{text!r}: {key!r} is not a valid parameter name (must be an identifier, "
                             "not a Python keyword)")
    if raw == "":
        # `-p a.x=` is almost always a shell variable that expanded to nothing
        raise ParameterError(f"{text!r}: empty value", hint=f"to pass the empty string write {text}''")
    return task, key, check_plain(parse_value(raw), text)


def assigned_literals(code: str, name: str) -> Iterable[Any]:
    """The values the top-level ``name = <literal>`` statements of ``code`` assign, in order (how
    Ploomber reads ``upstream`` and ``product`` from a parameters cell).

    Raises:
        SyntaxError: ``code`` does not parse.
        ValueError: an assignment to ``name`` is not a literal (when the iteration reaches it).
    """
    tree = ast.parse(code)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            yield ast.literal_eval(node.value)

"""Parameter overrides from the command line: ``NAME=VALUE`` and ``TASK.NAME=VALUE``.

Values are plain data: JSON (``0.5``, ``true``, ``[1, 2]``, ``"text"``) or Python literals
(``True``, ``None``); anything else is taken as a string. Names must be identifiers.
"""

from __future__ import annotations

import ast
import json
from typing import Any

from nbgov.core.errors import ParameterError

_PLAIN = (str, int, float, bool, type(None))


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
    if not key.isidentifier():
        raise ParameterError(f"{text!r}: {key!r} is not a valid parameter name (must be an identifier)")
    if raw == "":
        # `-p a.x=` is almost always a shell variable that expanded to nothing
        raise ParameterError(f"{text!r}: empty value", hint=f"to pass the empty string write {text}''")
    return task, key, check_plain(parse_value(raw), text)

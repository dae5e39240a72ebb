"""Names for review targets in messages: a gate refusing ``tasks/raw.py`` says "module", not
"notebook". Pure: the caller says whether a ``.py`` file is a text notebook (py:percent or
light script) or a plain module."""

from __future__ import annotations

from collections import Counter
from pathlib import PurePath

_BY_SUFFIX = {
    ".ipynb": "notebook",
    ".sql": "SQL file",
    ".sh": "shell script",
    ".r": "R script",
    ".rmd": "R Markdown notebook",
    ".yaml": "spec file",
    ".yml": "spec file",
}

_PLURALS = {"SQL file": "SQL files", "spec file": "spec files", "env file": "env files"}


def kind_of(path: str | PurePath, text_notebook: bool = False) -> str:
    """The kind of a review target: notebook, script (a ``.py`` run as a notebook), module, SQL
    file, shell script... (``file`` for anything else)."""
    suffix = PurePath(path).suffix.lower()
    if suffix == ".py":
        return "script" if text_notebook else "module"
    if suffix in (".yaml", ".yml") and PurePath(path).name.lower().startswith("env"):
        return "env file"  # env.yaml, env.serve.yaml: what a spec is rendered with
    return _BY_SUFFIX.get(suffix, "file")


def missing_kind(path: str | PurePath) -> str:
    """What a path that does not exist would be, for "... not found": its kind by suffix
    (``notebook``, ``SQL file``...), ``file`` for a ``.py`` (a script or a module: its text
    says which)."""
    return "file" if PurePath(path).suffix.lower() == ".py" else kind_of(path)


def plural(kind: str, n: int) -> str:
    """``1 notebook``, ``2 notebooks``, ``3 SQL files``."""
    if n == 1:
        return f"1 {kind}"
    return f"{n} {_PLURALS.get(kind, kind + 's')}"


def count(kinds: list[str]) -> str:
    """``2 notebooks and 1 module`` for a list of kinds (``0 targets`` for none), most first."""
    if not kinds:
        return "0 targets"
    parts = [plural(k, n) for k, n in Counter(kinds).most_common()]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]

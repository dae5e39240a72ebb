"""The ``[check]`` table of nbgov.toml, resolved into :class:`CheckSettings`.

Example::

    [check]
    select = ["ALL"]                 # ids, names, id prefixes ("NBG3") or "ALL"; default: the
                                     # rules that are on by default
    extend-select = ["NBG801"]       # add to the default set (e.g. the opt-in review rule)
    ignore = ["NBG401"]              # remove from the selection
    per-path-ignores = { "notebooks/explore/*.ipynb" = ["NBG201", "NBG101"] }
    exclude = ["notebooks/scratch/**"]   # never checked
    outputs = "forbid"               # or "allow", or { max_bytes = 100_000 } per cell
    kernel = "python3"               # the project's kernel (falls back to top-level `kernel`)
    notebooks = "notebooks"          # folder whose notebooks must all be pipeline tasks...
    not-tasks = ["notebooks/explore/*.ipynb"]   # ...except these
    non-task-rules = ["NBG001", "NBG401", "NBG5", "NBG604"]  # what notebooks that are not
                                     # pipeline tasks get (a README.ipynb): damage, paths,
                                     # secrets, not production rules;
                                     # ["ALL"] gives them every selected rule
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from nbgov.core.errors import ConfigError, Location

FORBID = "forbid"
ALLOW = "allow"

_KEYS = {
    "select",
    "extend-select",
    "ignore",
    "per-path-ignores",
    "exclude",
    "outputs",
    "kernel",
    "notebooks",
    "not-tasks",
    "non-task-rules",
}

#: Rules for notebooks that are not pipeline tasks: damage, personal paths, secrets, and
#: whether they should be tasks.
DEFAULT_NON_TASK_RULES = ("NBG001", "NBG401", "NBG5", "NBG604")

#: Folders never searched for notebooks.
DEFAULT_EXCLUDE = (
    ".git/**",
    "**/.ipynb_checkpoints/**",
    ".venv/**",
    "venv/**",
    "**/node_modules/**",
    "**/__pycache__/**",
    ".nbgov/**",
    "products/**",
    "mlruns/**",
    "build/**",
    "dist/**",
)


@dataclass
class CheckSettings:
    """Resolved check configuration (see the module docstring for the file form).

    Attributes:
        select: selectors that pick the rules to run; None means "the default rules".
        extend_select: selectors added to the selection.
        ignore: selectors removed from the selection.
        per_path_ignores: glob -> selectors ignored in matching files.
        exclude: globs of files never checked.
        outputs: ``"forbid"``, ``"allow"`` or a max size in bytes per cell (an int).
        kernel: the kernelspec name notebooks must declare, None to only require one.
        notebooks_dir: folder whose notebooks must be tasks (relative to the root).
        not_tasks: globs of notebooks under ``notebooks_dir`` that are not tasks on purpose.
        non_task_rules: selectors of the rules notebooks that are not pipeline tasks get (when
            the project has a pipeline); the other selected rules are for task sources.
    """

    select: list[str] | None = None
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    per_path_ignores: dict[str, list[str]] = field(default_factory=dict)
    exclude: list[str] = field(default_factory=list)
    outputs: str | int = FORBID
    kernel: str | None = None
    notebooks_dir: str = "notebooks"
    not_tasks: list[str] = field(default_factory=list)
    non_task_rules: list[str] = field(default_factory=lambda: list(DEFAULT_NON_TASK_RULES))

    def is_excluded(self, relpath: str) -> bool:
        """Whether a file (relative POSIX path) is excluded from checking."""
        return matches_any(relpath, (*DEFAULT_EXCLUDE, *self.exclude))

    def path_ignores(self, relpath: str) -> list[str]:
        """Selectors ignored for this file by ``per-path-ignores``."""
        out: list[str] = []
        for pattern, selectors in self.per_path_ignores.items():
            if matches_any(relpath, (pattern,)):
                out.extend(selectors)
        return out


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    # "**/" matches any number of folders (also none); "*" stays inside one folder
    parts = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            parts.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            parts.append(".*")
            i += 2
        elif pattern[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            parts.append("[^/]")
            i += 1
        else:
            parts.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(parts) + r"\Z")


def matches_any(relpath: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """Whether ``relpath`` matches a glob; a pattern without ``/`` also matches a base name,
    and a folder pattern (``dir/``) everything below it."""
    name = relpath.rsplit("/", 1)[-1]
    for pattern in patterns:
        if pattern.endswith("/"):
            pattern += "**"
        if _glob_regex(pattern).match(relpath):
            return True
        if "/" not in pattern and fnmatch.fnmatchcase(name, pattern):
            return True
    return False


def _str_list(value: Any, key: str, where: Location) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(
            f"[check] {key} must be a list of strings", where, hint=f'e.g. {key} = ["NBG301"]'
        )
    return list(value)


def parse_settings(
    table: dict[str, Any], top_kernel: Any = None, source: Any = None
) -> CheckSettings:
    """Build :class:`CheckSettings` from the ``[check]`` table; ConfigError names a bad key.

    Args:
        table: the ``[check]`` table as loaded from TOML.
        top_kernel: the top-level ``kernel`` key, used when ``[check]`` has none.
        source: the config file, for error locations.
    """
    where = Location(source)
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ConfigError(
            f"[check] unknown key(s): {', '.join(unknown)}",
            where,
            hint=f"known keys: {', '.join(sorted(_KEYS))}",
        )
    s = CheckSettings()
    if "select" in table:
        s.select = _str_list(table["select"], "select", where)
    s.extend_select = _str_list(table.get("extend-select", []), "extend-select", where)
    s.ignore = _str_list(table.get("ignore", []), "ignore", where)
    s.exclude = _str_list(table.get("exclude", []), "exclude", where)
    s.not_tasks = _str_list(table.get("not-tasks", []), "not-tasks", where)
    if "non-task-rules" in table:
        s.non_task_rules = _str_list(table["non-task-rules"], "non-task-rules", where)
    ppi = table.get("per-path-ignores", {})
    if not isinstance(ppi, dict):
        raise ConfigError(
            "[check] per-path-ignores must be a table of glob = [rules]",
            where,
            hint='e.g. per-path-ignores = { "notebooks/explore/*" = ["NBG201"] }',
        )
    s.per_path_ignores = {k: _str_list(v, f"per-path-ignores.{k!r}", where) for k, v in ppi.items()}
    s.outputs = _parse_outputs(table.get("outputs", FORBID), where)
    kernel = table.get("kernel", top_kernel)
    if kernel is not None and not isinstance(kernel, str):
        # name the key the value came from: [check] kernel, or the top-level one
        key = "[check] kernel" if "kernel" in table else "kernel (top level)"
        hint = 'e.g. kernel = "python3"'
        if isinstance(kernel, dict):
            hint += "; cell and start-up timeouts go under [execution]"
        raise ConfigError(f"{key} must be a kernelspec name (a string)", where, hint=hint)
    s.kernel = kernel
    nbdir = table.get("notebooks", "notebooks")
    if not isinstance(nbdir, str):
        raise ConfigError("[check] notebooks must be a folder name (a string)", where)
    s.notebooks_dir = nbdir.strip("/")
    return s


def _parse_outputs(value: Any, where: Location) -> str | int:
    if value in (FORBID, ALLOW):
        return value
    if isinstance(value, dict) and set(value) == {"max_bytes"}:
        size = value["max_bytes"]
        if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
            return size
    raise ConfigError(
        f'[check] outputs must be "forbid", "allow" or {{max_bytes = N}}, got {value!r}',
        where,
        hint="e.g. outputs = { max_bytes = 100000 }",
    )

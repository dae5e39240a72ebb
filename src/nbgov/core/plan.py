"""The build plan: a pipeline's rendered tasks as plain data, reusable while nothing that
changes rendering has changed.

Rendering a pipeline through Ploomber costs seconds (its import alone, then every task source
is read, function modules imported, upstream extracted). A plan keeps what rendering produced
(each task's name, kind, source, products, params, upstream...) in ``.nbgov/cache/plan.json``
with a *key*: the digest of every file rendering read, the nbgov and Ploomber versions, the plan
format, and the value of every time- or git-dependent placeholder the spec uses. Reading a plan
never imports Ploomber nor runs project code: it re-digests the listed files and compares.

This module is the model and the key rules (plain data, the standard library only); reading
and writing the file, and turning tasks into ``TaskInfo`` objects, is
:mod:`nbgov.services.pipeline.plan`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: Bump when the plan's JSON shape or the meaning of a field changes.
PLAN_FORMAT = 1
#: Where the plan lives, relative to the project root.
PLAN_PATH = Path(".nbgov") / "cache" / "plan.json"

#: Ploomber built-in placeholders (ploomber/env/envdict.py ``_default_dict`` and
#: expand.py ``get_*``) whose value is taken when the plan is checked and joins its key.
KEYED_PLACEHOLDERS = ("git", "git_hash", "user", "cwd", "here")
#: Built-ins whose value changes on every render or depends on more than files nbgov can
#: list (``now``: the time; ``env``: any environment variable; ``root``: a setup.py search;
#: ``version``: a package's ``__init__``): a spec using one is never cached.
UNCACHEABLE_PLACEHOLDERS = ("now", "env", "root", "version")
#: Without ``{{here}}`` a plan holds no absolute path: a copied project keeps its plan.

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]\w*)")
_TOP_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:", re.MULTILINE)

#: TaskInfo fields a plan keeps (every field but ``outdated``, which is a verdict of the moment).
TASK_FIELDS = ("name", "source", "products", "params", "upstream", "notebook_product", "kind",
               "source_file", "function", "group", "client", "evidence", "record")
_PATH_FIELDS = ("source", "notebook_product", "source_file", "evidence", "record")


@dataclass
class Plan:
    """A rendered pipeline and the key it is valid under.

    Attributes:
        spec: the pipeline spec, relative to ``root``.
        root: the absolute project root when the plan was written (for information: only a
            spec using ``{{here}}`` keys on it).
        nbgov: the nbgov version that rendered it.
        ploomber: the Ploomber version that rendered it.
        inputs: project-relative path -> content digest of every file rendering read (None: the
            file did not exist, e.g. no env.yaml; creating it invalidates the plan).
        placeholders: built-in placeholder -> the value it had (``git``, ``git_hash``...).
        versions: source file -> its source version when the plan was written (valid while the
            file's digest in ``inputs`` holds; spares reading scripts through jupytext).
        tasks: every task as a dict of :data:`TASK_FIELDS`, paths relative to ``root``.
        format: :data:`PLAN_FORMAT`.
    """

    spec: str
    root: str
    nbgov: str
    ploomber: str | None
    inputs: dict[str, str | None]
    placeholders: dict[str, str | None] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    format: int = PLAN_FORMAT

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Plan | None:
        """A plan read back; None for another format or anything malformed."""
        if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
            return None
        try:
            plan = cls(**{k: data[k] for k in cls.__dataclass_fields__})
        except (KeyError, TypeError):
            return None
        if not (isinstance(plan.inputs, dict) and isinstance(plan.tasks, list)
                and all(isinstance(t, dict) and isinstance(t.get("name"), str) for t in plan.tasks)
                and isinstance(plan.placeholders, dict) and isinstance(plan.versions, dict)):
            return None
        return plan

    def task_names(self) -> list[str]:
        """Task names in the rendered (topological) order."""
        return [t["name"] for t in self.tasks]


def placeholders_in(texts: Iterable[str]) -> set[str]:
    """Names of the ``{{placeholders}}`` used in some spec/env texts (``{{ env.HOME }}`` gives
    ``env``); a Jinja statement (``{%``) is reported as ``{%``, which is never cacheable."""
    names: set[str] = set()
    for text in texts:
        names.update(_PLACEHOLDER.findall(text))
        if "{%" in text:
            names.add("{%")
    return names


def defined_keys(env_texts: Iterable[str]) -> set[str]:
    """Top-level keys of env files (a user value named like a built-in overrides it)."""
    keys: set[str] = set()
    for text in env_texts:
        keys.update(_TOP_KEY.findall(text))
    return keys


def key_placeholders(used: set[str], defined: set[str]) -> tuple[list[str], str | None]:
    """Which built-ins must join the key, or why the plan cannot be cached.

    Returns:
        ``(keyed, None)``: the built-ins whose value joins the key; ``([], reason)``: a
        placeholder makes rendering change with time or the environment.
    """
    builtin = used - defined
    for name in sorted(builtin):
        if name in UNCACHEABLE_PLACEHOLDERS or name == "{%":
            return [], f"the spec uses {{{{{name}}}}}" if name != "{%" else "the spec uses {% %}"
    return sorted(builtin & set(KEYED_PLACEHOLDERS)), None


def relative(path: Path | str | None, root: Path) -> str | None:
    """``path`` relative to ``root`` (posix) when inside it, else as given."""
    if path is None:
        return None
    p = Path(path)
    try:
        return (p if p.is_absolute() else root / p).resolve().relative_to(root).as_posix()
    except ValueError:
        return p.as_posix()


def task_record(values: dict[str, Any], root: Path) -> dict[str, Any]:
    """A task (a dict of :data:`TASK_FIELDS` with paths) in the plan's form: paths relative."""
    out = {k: values.get(k) for k in TASK_FIELDS}
    for key in _PATH_FIELDS:
        out[key] = relative(out[key], root)
    out["products"] = {str(k): relative(v, root) for k, v in (out["products"] or {}).items()}
    out["upstream"] = list(out["upstream"] or [])
    out["params"] = dict(out["params"] or {})
    return out


def task_values(task: dict[str, Any], root: Path) -> dict[str, Any]:
    """The inverse of :func:`task_record`: paths made absolute under ``root``."""

    def absolute(value: str | None) -> Path | None:
        if value is None:
            return None
        p = Path(value)
        return p if p.is_absolute() else root / p

    out = {k: task.get(k) for k in TASK_FIELDS}
    for key in _PATH_FIELDS:
        out[key] = absolute(out[key])
    out["products"] = {k: absolute(v) for k, v in (task.get("products") or {}).items()}
    out["upstream"] = list(task.get("upstream") or [])
    out["params"] = dict(task.get("params") or {})
    return out

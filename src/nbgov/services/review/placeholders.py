"""What the spec names by dotted path, and placeholders in the spec's paths resolved
statically, for the review closure (R4).

A task source (``source: "{{fn}}"``), a dotted path (``on_render: "{{hook}}"``), ``location``
or ``meta.import_tasks_from`` may hold ``{{placeholders}}``: Ploomber renders them with env.yaml
and its built-in placeholders before it imports anything. The closure resolves them the same
way, in the same sandbox (:func:`nbgov.adapters.ploomber.envrender.render_env`), with env.yaml's
values (``--env`` overrides applied) and ``here`` / ``root``. A placeholder that does not resolve
so (``{{now}}``, ``{{user}}``, a key env.yaml lacks...) cannot be reviewed statically: it is
reported (:class:`Resolver.problems`) and a governed build refuses it (docs/security.md R4).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from nbgov.adapters.ploomber.envrender import read_env_yaml, render_env
from nbgov.core.errors import NbgovError


class Resolver:
    """Renders spec strings with one spec's placeholder values; collects what does not render."""

    def __init__(self, spec_path: Path, env_file: Path, root: Path, overrides: dict[str, Any] | None = None):
        self.spec = spec_path
        builtins = {"here": str(spec_path.parent), "root": str(root)}
        try:
            values = render_env(env_file, dict(overrides or {}), builtins) if env_file.is_file() else {}
        except NbgovError:  # a value that does not render: keep the literal ones
            try:
                raw, _ = read_env_yaml(env_file)
            except NbgovError:
                raw = {}
            values = {str(k): v for k, v in raw.items() if not (isinstance(v, str) and "{" in v)}
        self.context = {**builtins, **{k: str(v) if isinstance(v, Path) else v for k, v in values.items()}}
        self.sandbox = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
        self.problems: list[str] = []

    def __call__(self, value: Any, where: str) -> Any:
        """``value`` with its placeholders rendered (a ``{dotted_path: ...}`` mapping too); None
        (and a problem recorded) when they do not resolve statically."""
        if isinstance(value, dict) and "dotted_path" in value:
            inner = self(value.get("dotted_path"), where)
            return None if inner is None else {**value, "dotted_path": inner}
        if not isinstance(value, str) or "{{" not in value and "{%" not in value:
            return value
        try:
            return self.sandbox.from_string(value).render(**self.context)
        except (jinja2.exceptions.TemplateError, TypeError, ValueError) as exc:
            self.problems.append(f"{self.spec.name}: {where} {value!r} cannot be resolved statically "
                                 f"({type(exc).__name__}: {exc}); what it names cannot be reviewed")
            return None


def dotted(value: Any) -> str | None:
    """A dotted path as a spec writes it: a string, or ``{dotted_path: ...}``; ``mod::fn`` (the
    form Ploomber's ``DottedPath`` also accepts) read as ``mod.fn``."""
    if isinstance(value, dict):
        value = value.get("dotted_path")
    if isinstance(value, str):
        value = value.replace("::", ".")
    if isinstance(value, str) and "." in value and "/" not in value and "{{" not in value:
        return value
    return None


def dotted_values(value: Any) -> list[Any]:
    """Every ``{dotted_path: ...}`` mapping in task params or a grid (Ploomber calls them while it
    loads the spec), at any depth."""
    if isinstance(value, dict):
        if "dotted_path" in value:
            return [value]
        return [d for v in value.values() for d in dotted_values(v)]
    if isinstance(value, list):
        return [d for v in value for d in dotted_values(v)]
    return []


def resolved_meta(raw: Any, resolve: Resolver) -> Any:
    """``raw`` with placeholders in ``meta.import_tasks_from`` and ``meta.source_loader``
    rendered (they say where tasks are read from)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("meta"), dict):
        return raw
    meta = dict(raw["meta"])
    if "{{" in str(meta.get("import_tasks_from") or ""):
        meta["import_tasks_from"] = resolve(meta["import_tasks_from"], "meta.import_tasks_from")
    if isinstance(meta.get("source_loader"), dict):
        meta["source_loader"] = {k: resolve(v, f"meta.source_loader.{k}")
                                 for k, v in meta["source_loader"].items()}
    return {**raw, "meta": meta}

"""env.yaml and ``--env`` values for Ploomber, with no project code run by rendering them.

Ploomber renders env.yaml values and pipeline.yaml ``{{placeholders}}`` with plain
``jinja2.Template``: a value such as ``{{ here.__class__.__mro__[1].__subclasses__() }}``
walks from a string to ``os.system``. And values given on the command line went through the same
renderer, so data became a template. nbgov therefore:

- renders env.yaml itself, each string value in Jinja's :class:`SandboxedEnvironment`, with
  Ploomber's built-in placeholders (``here``, ``cwd``, ``user``, ``now``, ``root``, ``git``,
  ``git_hash``) and the env.yaml keys above it as the only names; an attribute walk fails with
  a :class:`~nbgov.core.errors.PipelineError` naming env.yaml and the key (exit 2);
- applies ``--env`` overrides *after* rendering, as literal data, never rendered;
- hands Ploomber an ``EnvDict`` already holding those literal values (Ploomber copies an
  ``EnvDict`` it is given instead of rendering env.yaml again);
- swaps the ``Template`` class Ploomber's env, spec and placeholder modules use for a sandboxed
  subclass (:func:`install_sandbox`), so pipeline.yaml placeholders and product paths are
  rendered in the sandbox too.

An override replaces one key's value; env.yaml values that use that key as ``{{key}}`` keep
the value rendered from env.yaml (the same as ``ploomber build --env--key``).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from nbgov.core.errors import Location, ParameterError, PipelineError

#: Placeholders Ploomber provides itself (computed by Ploomber, from no project file).
BUILTINS = ("here", "cwd", "user", "now", "root", "git", "git_hash")

_MARKERS = ("{{", "{%", "{#")


class SandboxedTemplate(jinja2.Template):
    """``jinja2.Template`` built on a :class:`SandboxedEnvironment`: attribute walks such as
    ``__class__``/``__globals__`` and unsafe callables raise :class:`jinja2.exceptions.SecurityError`.
    A subclass, so Ploomber's ``isinstance(x, Template)`` checks still hold."""

    environment_class = SandboxedEnvironment


class SandboxedLoaderEnvironment(SandboxedEnvironment):
    """The environment of a source loader (``meta.source_loader``): sandboxed, and its
    templates are :class:`SandboxedTemplate`, the class Ploomber's Placeholder then expects."""

    template_class = SandboxedTemplate


def install_sandbox() -> None:
    """Make Ploomber render env values, spec placeholders and placeholder strings (product
    paths, inline sources) with :class:`SandboxedTemplate`, and load ``meta.source_loader``
    files in a sandboxed environment. Idempotent; nbgov's process only."""
    import ploomber.env.envdict as envdict
    import ploomber.env.expand as expand
    import ploomber.placeholders.placeholder as placeholder
    import ploomber.placeholders.sourceloader as sourceloader

    for module in (envdict, expand, placeholder):
        module.Template = SandboxedTemplate  # type: ignore[attr-defined]
    # a loaded template must be a SandboxedTemplate, or Placeholder refuses it ("must be
    # initialized with a Template ... got Template")
    sourceloader.Environment = SandboxedLoaderEnvironment  # type: ignore[attr-defined]


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and any(m in value for m in _MARKERS)


def _cast(value: Any) -> Any:
    """Ploomber's ``cast_if_possible``: "true" -> True, "42" -> 42 (``literal_eval``: data only)."""
    if not isinstance(value, str):
        return value
    lower = value.lower()
    if lower in ("true", "false"):
        return lower == "true"
    if lower in ("none", "null"):
        return None
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return value


def _line_of(text: str, key: str) -> int | None:
    for n, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith((f"{key}:", f'"{key}":', f"'{key}':")) and line[:1] not in " \t-":
            return n
    return None


def read_env_yaml(env_file: Path) -> tuple[dict[str, Any], str]:
    """env.yaml as a mapping (``{}`` when the file does not exist) and its text.

    Raises:
        PipelineError: not valid YAML or not a mapping.
    """
    import yaml

    if not env_file.is_file():
        return {}, ""
    text = env_file.read_text()
    try:
        env = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise PipelineError(f"env.yaml is not valid YAML: {getattr(exc, 'problem', exc)}",
                            Location(env_file, line=mark.line + 1 if mark else None)) from None
    if not isinstance(env, dict):
        raise PipelineError("env.yaml must be a mapping of names to values", Location(env_file))
    return env, text


def render_env(env_file: Path, overrides: dict[str, Any], builtins: dict[str, Any]) -> dict[str, Any]:
    """env.yaml's values rendered in the sandbox, then ``overrides`` applied as literal data.

    Args:
        env_file: the env.yaml (missing: no values).
        overrides: ``--env`` values (already plain data); keys must exist in env.yaml.
        builtins: Ploomber's own placeholder values (``here``, ``user``, ...).

    Raises:
        PipelineError: a value is refused by the sandbox or does not render (file + key).
        ParameterError: an override names a key env.yaml does not define.
    """
    raw, text = read_env_yaml(env_file)
    unknown = sorted(set(overrides) - set(raw))
    if unknown:
        known = ", ".join(sorted(map(str, raw))) or "none"
        raise ParameterError(f"unknown --env key(s): {', '.join(unknown)} ({env_file.name} defines: {known})",
                             Location(env_file), hint=f"add the key to {env_file.name} or fix its name")
    sandbox = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
    context: dict[str, Any] = {**builtins, **overrides}
    out: dict[str, Any] = {}

    def render(value: Any, top: str, at_path: bool) -> Any:
        if isinstance(value, dict):
            return {k: render(v, top, at_path) for k, v in value.items()}
        if isinstance(value, list):
            return [render(v, top, at_path) for v in value]
        if _is_template(value):
            try:
                value = sandbox.from_string(value).render(**context)
            except jinja2.exceptions.SecurityError as exc:
                raise PipelineError(f"env.yaml key {top!r}: refused by the template sandbox ({exc})",
                                    Location(env_file, line=_line_of(text, top)),
                                    hint="env.yaml values may only use {{placeholders}}, not "
                                    "attributes of Python objects") from None
            except jinja2.exceptions.TemplateError as exc:
                raise PipelineError(f"env.yaml key {top!r}: {type(exc).__name__}: {exc}",
                                    Location(env_file, line=_line_of(text, top)),
                                    hint="placeholders available: "
                                    + ", ".join(sorted(map(str, context)))) from None
        if at_path:
            return Path(str(value)).expanduser()
        return _cast(value)

    for key, value in raw.items():
        key = str(key)
        if key in overrides:
            out[key] = overrides[key]  # data, never a template
        else:
            out[key] = render(value, key, at_path=key == "path")
            context.setdefault(key, out[key])  # later keys may use it as {{key}}
    return out


def env_values(env: Any) -> dict[str, Any]:
    """The env file's values (rendered, ``--env`` overrides applied) of an ``EnvDict`` made by
    :func:`env_for_ploomber`, without Ploomber's built-in placeholders."""
    return {k: v for k, v in env._data.items() if k not in BUILTINS}


def env_for_ploomber(root: Path, overrides: dict[str, Any], env_file: Path | None = None) -> Any:
    """A Ploomber ``EnvDict`` holding env.yaml's sandbox-rendered values and the literal
    overrides; pass it as ``DAGSpec(..., env=...)`` (Ploomber copies it, rendering nothing).

    Raises:
        PipelineError, ParameterError: see :func:`render_env`.
    """
    from ploomber.env.envdict import EnvDict

    install_sandbox()
    base = EnvDict({}, path_to_here=root)  # Ploomber's built-in placeholders only
    builtins = {k: base._data[k] for k in BUILTINS if k in base._data}
    values = render_env(env_file or root / "env.yaml", overrides, builtins)
    base._data.update(values)
    base._default_keys = set(base._default_keys) - set(values)
    base._tags_in_raw_data = set()
    return base

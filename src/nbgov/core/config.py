"""Project configuration: ``nbgov.toml`` at the project root, or ``[tool.nbgov]`` in pyproject.toml.

Each feature reads its own section (``review``, ``check``, ``promote``, ``monitor``,
``environments.<name>``) through :meth:`Config.section`; the keys every feature shares are
typed attributes here. Paths in the file are relative to the project root.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nbgov.core.errors import ConfigError, Location
from nbgov.core.redact import POLICIES as SECRETS_POLICIES

CONFIG_FILE = "nbgov.toml"
DEFAULT_PIPELINE = "pipeline.yaml"

#: Keys of an ``[environments.<name>]`` table. A misspelt key is an error: silently ignoring
#: ``require_aproved = true`` would switch the approval gate off.
ENVIRONMENT_KEYS = {"require_approved"}
#: What an environment's name may be: it reaches command lines and exported workflow files.
ENVIRONMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")

#: Keys of the ``[execution]`` table: papermill settings of every notebook task (in seconds), and
#: ``preload``: modules the warm-kernel template imports once (a list), or false to switch it off;
#: ``cluster``: the Dask cluster builds run on (``nbgov build --cluster``).
EXECUTION_KEYS = {"cell_timeout", "startup_timeout", "preload", "cluster"}

#: Keys of the ``[tracking]`` table. ``secrets``: what happens to secrets found in what a run
#: uploads (params, lineage record, scraps, executed notebook): ``redact`` (default), ``refuse``
#: the upload, or ``allow`` (upload as is). ``keep_journals``: how many sent journals
#: ``.nbgov/journal/done`` keeps for ``nbgov sync --resend`` (default 20).
#: ``ui_url``: where people open the MLflow UI of the tracking store (links from JupyterLab;
#: default: the tracking URI itself when it is an http(s) server).
TRACKING_KEYS = {"secrets", "keep_journals", "ui_url"}

_KNOWN_TOP = {
    "pipeline", "tracking_uri", "experiment", "products", "environment",
    "review", "environments", "check", "promote", "monitor", "lineage", "kernel", "execution",
    "tracking",
    "export",
}


def _check_preload(value: Any, source: Path) -> None:
    """``[execution] preload``: true/false or a list of dotted module names."""
    if isinstance(value, bool):
        return
    ok = isinstance(value, list) and all(
        isinstance(v, str) and v and all(part.isidentifier() for part in v.split(".")) for v in value)
    if not ok:
        raise ConfigError("[execution] preload must be a list of module names or false", Location(source),
                          hint='e.g. preload = ["pandas", "sklearn.linear_model"]; false switches it off')


@dataclass
class Config:
    """The resolved configuration of one project."""

    root: Path
    source: Path | None = None
    pipeline: str = DEFAULT_PIPELINE
    tracking_uri: str | None = None
    experiment: str = "nbgov"
    environment: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def pipeline_path(self) -> Path:
        """Absolute path of the pipeline spec."""
        return (self.root / self.pipeline).resolve()

    def section(self, name: str) -> dict[str, Any]:
        """One feature's table, ``{}`` when absent; a non-table value is a ConfigError."""
        value = self.raw.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"[{name}] must be a table, got {type(value).__name__}",
                              Location(self.source), hint=f"write it as [{name}] with keys under it")
        return value

    def checked_section(self, name: str, keys: dict[str, type | tuple[type, ...]]) -> dict[str, Any]:
        """A table whose keys are all in ``keys`` and of the declared types.

        Raises:
            ConfigError: naming the unknown key(s), or the key of the wrong type.
        """
        table = self.section(name)
        where = Location(self.source)
        unknown = sorted(set(table) - set(keys))
        if unknown:
            raise ConfigError(f"unknown key(s) in [{name}]: {', '.join(unknown)}", where,
                              hint=f"known keys: {', '.join(sorted(keys))}")
        for key, kind in keys.items():
            if key in table and not isinstance(table[key], kind):
                expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
                raise ConfigError(f"[{name}] {key} must be a {expected}, got {type(table[key]).__name__}", where)
        return table

    def env_settings(self, env: str | None = None) -> dict[str, Any]:
        """Settings of a named environment (e.g. ``prod``), from ``[environments.<name>]``."""
        env = env or self.environment
        if not env:
            return {}
        if not ENVIRONMENT_NAME.fullmatch(env):
            # the name reaches shell commands and workflow files (nbgov export): a plain word only
            raise ConfigError(f"environment name {env[:64]!r} is not a simple name", Location(self.source),
                              hint="use letters, digits, '-', '_' or '.', starting with a letter or digit (e.g. prod)")
        envs = self.section("environments")
        if env not in envs:
            known = ", ".join(sorted(envs)) or "none declared"
            raise ConfigError(f"unknown environment {env!r} (known: {known})", Location(self.source),
                              hint="declare it under [environments.<name>] in nbgov.toml")
        value = envs[env]
        if not isinstance(value, dict):
            raise ConfigError(f"[environments.{env}] must be a table", Location(self.source))
        unknown = sorted(set(value) - ENVIRONMENT_KEYS)
        if unknown:
            raise ConfigError(f"unknown key(s) in [environments.{env}]: {', '.join(unknown)}",
                              Location(self.source),
                              hint=f"known keys: {', '.join(sorted(ENVIRONMENT_KEYS))}")
        if not isinstance(value.get("require_approved", False), bool):
            raise ConfigError(f"[environments.{env}] require_approved must be true or false",
                              Location(self.source), hint="require_approved = true (no quotes)")
        return value

    @property
    def secrets_policy(self) -> str:
        """``[tracking] secrets``: ``redact`` (default), ``refuse`` or ``allow``."""
        return str(self.section("tracking").get("secrets", SECRETS_POLICIES[0]))

    def resolved_tracking_uri(self) -> str:
        """MLFLOW_TRACKING_URI wins, then the config, then the embedded SQLite store."""
        uri = os.environ.get("MLFLOW_TRACKING_URI") or self.tracking_uri
        if not uri:
            return f"sqlite:///{(self.root / 'mlflow.db').as_posix()}"
        if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
            # a relative sqlite path in the config is relative to the project root
            return f"sqlite:///{(self.root / uri[len('sqlite:///'):]).as_posix()}"
        return uri

    def artifact_root(self) -> str:
        """Where an embedded store keeps artifacts (``mlruns/`` in the project)."""
        return (self.root / "mlruns").as_uri()


#: Where to look for the project when a caller names none: the CLI's ``--project`` (else cwd).
_default_start: Path | None = None


def set_default_root(folder: str | Path | None) -> None:
    """Look for the project from ``folder`` instead of the working directory (``--project``)."""
    global _default_start
    _default_start = Path(folder).resolve() if folder else None


def is_project(folder: Path) -> bool:
    """Whether ``folder`` is a project's root: nbgov.toml, pipeline.yaml or [tool.nbgov]."""
    if (folder / CONFIG_FILE).is_file() or (folder / DEFAULT_PIPELINE).is_file():
        return True
    pyproject = folder / "pyproject.toml"
    return pyproject.is_file() and "[tool.nbgov" in pyproject.read_text(errors="replace")


def find_root(start: str | Path | None = None) -> Path:
    """The nearest folder at or above ``start`` holding nbgov.toml, pipeline.yaml or pyproject.toml
    with a [tool.nbgov] table; ``start`` itself when none does."""
    start = Path(start or _default_start or os.getcwd()).resolve()
    for folder in [start, *start.parents]:
        if is_project(folder):
            return folder
    return start


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        raise ConfigError(f"not valid TOML: {exc}", Location(path, line=line),
                          hint="fix the TOML syntax there; `nbgov check` reads the same file") from None
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", Location(path)) from None


def load_config(root: str | Path | None = None) -> Config:
    """Load the configuration of the project at ``root`` (found upward from cwd when None)."""
    root = Path(root).resolve() if root else find_root()
    source: Path | None = None
    data: dict[str, Any] = {}
    if (root / CONFIG_FILE).is_file():
        source = root / CONFIG_FILE
        data = _read_toml(source)
    elif (root / "pyproject.toml").is_file():
        tool = _read_toml(root / "pyproject.toml").get("tool", {})
        if "nbgov" in tool:
            source = root / "pyproject.toml"
            data = tool["nbgov"]
    unknown = sorted(set(data) - _KNOWN_TOP)
    if unknown:
        raise ConfigError(f"unknown key(s): {', '.join(unknown)}", Location(source),
                          hint=f"known keys: {', '.join(sorted(_KNOWN_TOP))}")
    for key in ("pipeline", "tracking_uri", "experiment", "environment"):
        if key in data and not isinstance(data[key], str):
            raise ConfigError(f"{key} must be a string", Location(source))
    if "kernel" in data and not isinstance(data["kernel"], str):
        raise ConfigError("kernel must be a kernelspec name (a string)", Location(source),
                          hint='e.g. kernel = "python3"; timeouts go under [execution]')
    execution = data.get("execution", {})
    unknown = sorted(set(execution) - EXECUTION_KEYS) if isinstance(execution, dict) else []
    if unknown:
        # a misspelt timeout would silently not apply
        raise ConfigError(f"unknown key(s) in [execution]: {', '.join(unknown)}", Location(source),
                          hint=f"known keys: {', '.join(sorted(EXECUTION_KEYS))}")
    _check_tracking(data.get("tracking", {}), source)
    if isinstance(execution, dict) and "preload" in execution:
        _check_preload(execution["preload"], source)
    return Config(
        root=root,
        source=source,
        pipeline=data.get("pipeline", DEFAULT_PIPELINE),
        tracking_uri=data.get("tracking_uri"),
        experiment=data.get("experiment", "nbgov"),
        environment=os.environ.get("NBGOV_ENV") or data.get("environment"),
        raw=data,
    )


def _check_tracking(table: Any, source: Path | None) -> None:
    """``[tracking]``: known keys, and ``secrets`` one of :data:`SECRETS_POLICIES`."""
    if not isinstance(table, dict):
        raise ConfigError("[tracking] must be a table", Location(source))
    unknown = sorted(set(table) - TRACKING_KEYS)
    if unknown:
        raise ConfigError(f"unknown key(s) in [tracking]: {', '.join(unknown)}", Location(source),
                          hint=f"known keys: {', '.join(sorted(TRACKING_KEYS))}")
    ui_url = table.get("ui_url")
    if ui_url is not None and not (isinstance(ui_url, str) and ui_url.startswith(("http://", "https://"))):
        raise ConfigError("[tracking] ui_url must be an http:// or https:// address", Location(source),
                          hint='e.g. ui_url = "http://127.0.0.1:5000"')
    keep = table.get("keep_journals", 20)
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise ConfigError(f"[tracking] keep_journals must be a whole number of journals (0 or more), got {keep!r}",
                          Location(source), hint="keep_journals = 20")
    policy = table.get("secrets", SECRETS_POLICIES[0])
    if policy not in SECRETS_POLICIES:
        # a typo must not turn redaction off
        raise ConfigError(f"[tracking] secrets must be one of {', '.join(SECRETS_POLICIES)}, got {policy!r}",
                          Location(source), hint='secrets = "redact"')


#: Ploomber's entry points that are spec files
_SPEC_SUFFIXES = (".yaml", ".yml")


def resolve_entry_point(config: Config, value: str, cwd: Path | None = None) -> tuple[Config, str | None, str | None]:
    """``-e/--entry-point VALUE`` as Ploomber reads it: a pipeline spec file (relative to the
    working folder, else to the project root), which replaces ``pipeline`` for this command.

    For projects written before nbgov followed Ploomber here, ``-e NAME`` naming an environment
    declared under ``[environments.NAME]`` (and no file) still selects that environment, with a
    deprecation note (``--environment NAME`` is its spelling now).

    Returns:
        ``(config, environment, note)``: the config to use, the environment the old spelling
        selected (None otherwise) and the deprecation note to print (None otherwise).

    Raises:
        ConfigError: VALUE is neither a spec file nor a declared environment.
    """
    candidates = [Path(value)] if Path(value).is_absolute() else [(cwd or Path.cwd()) / value, config.root / value]
    for path in candidates:
        if path.is_file():
            try:
                rel = path.resolve().relative_to(config.root.resolve()).as_posix()
            except ValueError:
                raise ConfigError(f"entry point {value} is outside the project", Location(path),
                                  hint=f"the spec must be inside {config.root}") from None
            return _replace_pipeline(config, rel), None, None
    envs = config.raw.get("environments")
    if isinstance(envs, dict) and value in envs and not value.endswith(_SPEC_SUFFIXES):
        note = (f"`-e {value}` for an nbgov environment is deprecated: write `--environment {value}` "
                "(-e/--entry-point names a pipeline spec, as in `ploomber build`)")
        return config, value, note
    hint = ("-e/--entry-point names a pipeline spec file, as in `ploomber build -e pipeline.serve.yaml`; "
            "for an environment of nbgov.toml use --environment NAME")
    if "." in value and not value.endswith(_SPEC_SUFFIXES) and "/" not in value:
        hint = (f"a factory is built from a spec file: write one with `location: {value}` and pass it "
                "(or set `pipeline` in nbgov.toml)")
    raise ConfigError(f"entry point {value}: no such spec file", Location(Path(value)), hint=hint)


def _replace_pipeline(config: Config, pipeline: str) -> Config:
    return replace(config, pipeline=pipeline)

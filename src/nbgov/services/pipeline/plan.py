"""The cached build plan on disk (``.nbgov/cache/plan.json``): write it after Ploomber rendered a
pipeline, read it back as :class:`TaskInfo` objects when its key still holds.

Reading never imports Ploomber and never runs project code: the key is re-checked by digesting
the files the plan lists and, only when the spec uses them, asking git for ``{{git}}`` /
``{{git_hash}}``. See :mod:`nbgov.core.plan` for what joins the key.

Who writes it: every caller that renders the whole pipeline without ``--env`` / ``-p``
overrides (``nbgov build``, ``nbgov status`` on its slow path). Who reads it: the no-op build
and ``nbgov status`` (:mod:`nbgov.services.build.fastpath`), ``nbgov lineage`` (task names and
product paths of grids and placeholders) and the JupyterLab server, which never writes it.
"""

from __future__ import annotations

import getpass
import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Any

from nbgov import __version__
from nbgov.adapters.notebooks import task_source_version
from nbgov.adapters.ploomber.pipeline import TaskInfo
from nbgov.adapters.specfile import module_file, read_spec
from nbgov.core.atomic import PRIVATE_FILE, atomic_write, private_dir
from nbgov.core.config import Config
from nbgov.core.digest import file_digest
from nbgov.core.errors import NbgovError
from nbgov.core.params import assigned_literals
from nbgov.core.plan import (
    PLAN_PATH,
    Plan,
    defined_keys,
    key_placeholders,
    placeholders_in,
    relative,
    task_record,
    task_values,
)
from nbgov.core.redact import redact_params
from nbgov.core.redact_known import KnownSecrets

#: Environment variables that change which env file Ploomber reads.
_ENV_VARS = ("PLOOMBER_ENV_FILENAME",)


def plan_path(config: Config) -> Path:
    """Where the project's plan lives."""
    return config.root / PLAN_PATH


def ploomber_version() -> str | None:
    """The installed Ploomber's version, read from its ``__init__.py`` (never imported here)."""
    try:
        spec = importlib.util.find_spec("ploomber")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    try:
        text = Path(spec.origin).read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(r"""__version__\s*=\s*["']([^"']+)["']""", text)
    return match.group(1) if match else None


def _spec_files(spec_path: Path) -> tuple[list[Path], str | None]:
    """The spec and every partial it imports (``meta.import_tasks_from``), or why not cacheable."""
    import yaml

    files = [spec_path]
    try:
        raw = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return files, "the spec cannot be read"
    meta = raw.get("meta") if isinstance(raw, dict) else None
    partial = meta.get("import_tasks_from") if isinstance(meta, dict) else None
    if partial is not None:
        if not isinstance(partial, str) or "{{" in partial:
            return files, "import_tasks_from is not a plain path"
        path = Path(partial)
        files.append(path if path.is_absolute() else spec_path.parent / path)
    if isinstance(raw, dict) and "location" in raw:
        return _location_files(files, raw["location"], spec_path)
    return files, None


def _location_files(files: list[Path], location: Any, spec_path: Path) -> tuple[list[Path], str | None]:
    """A ``location`` spec's DAG is whatever its factory builds: the plan holds while every
    module of the factory's package (inside the project) is unchanged."""
    if not isinstance(location, str) or "." not in location:
        return files, "the spec's `location` is not a dotted path"
    found = module_file(location.rsplit(".", 1)[0], spec_path.parent)
    root = spec_path.parent.resolve()
    if found is None or not found.is_relative_to(root):
        return files, "the spec is a `location` whose factory is outside the project"
    top = root / location.split(".")[0]
    modules = sorted(top.rglob("*.py")) if top.is_dir() else [found]
    return [*files, *modules], None


def _env_files(spec_path: Path) -> list[Path]:
    """Every env file Ploomber may read for this spec (``util/default.py``
    ``path_to_env_from_spec``): ``env.NAME.yaml`` for ``pipeline.NAME.yaml``, then env.yaml,
    in the working folder first (when inside the project), then next to the spec. Missing
    ones are keyed as absent."""
    names = ["env.yaml"]
    parts = spec_path.name.split(".")
    if len(parts) == 3 and parts[0] == "pipeline":
        names.insert(0, f"env.{parts[1]}.yaml")
    chosen = os.environ.get("PLOOMBER_ENV_FILENAME")
    if chosen:
        names.insert(0, chosen)
    # Ploomber prefers the working folder's file; nbgov commands run from the project (or a
    # folder in it): a working folder outside the project is not keyed
    cwd = Path.cwd().resolve()
    inside = cwd == spec_path.parent or spec_path.parent in cwd.parents
    folders = dict.fromkeys([cwd, spec_path.parent] if inside else [spec_path.parent])
    return [folder / name for folder in folders for name in names]


def placeholder_value(name: str, root: Path) -> str | None:
    """The value Ploomber would give built-in ``{{name}}`` now (None: none; e.g. no git)."""
    if name == "user":
        return getpass.getuser()
    if name == "cwd":
        return str(Path.cwd().resolve())
    if name == "here":
        return str(Path(root).resolve())
    import subprocess

    # the same commands as ploomber/repo.py: git_hash and git_location
    def run(*args: str) -> str | None:
        try:
            proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                                  timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    described = run("describe", "--tags", "--always", "--dirty=-dirty")
    if name == "git_hash":
        return described
    if name == "git":
        return run("symbolic-ref", "--short", "HEAD") or described
    return None


def _digest(path: Path) -> str | None:
    try:
        return file_digest(path) if path.is_file() else None
    except OSError:
        return None


def _json_stable(value: Any) -> bool:
    """Whether ``value`` survives a JSON round trip unchanged (params of a cached task must)."""
    try:
        return json.loads(json.dumps(value)) == value
    except (TypeError, ValueError):
        return False


def source_version(info: TaskInfo) -> str | None:
    """The source version nbgov records for ``info``'s source file (None: it has none, or it
    cannot be read; the fast path then leaves the decision to the normal path)."""
    return task_source_version(info.source_file)


def make_plan(config: Config, infos: list[TaskInfo]) -> tuple[Plan | None, str | None]:
    """The plan of a pipeline just rendered into ``infos``, or ``(None, why not cacheable)``."""

    root = config.root
    spec_files, why = _spec_files(config.pipeline_path)
    if why:
        return None, why
    env_files = _env_files(config.pipeline_path)
    texts = []
    for path in [*spec_files, *env_files]:
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
    env_texts = [t for p, t in zip([*spec_files, *env_files], texts, strict=False) if p in env_files]
    keyed, why = key_placeholders(placeholders_in(texts), defined_keys(env_texts))
    if why:
        return None, why
    files: list[Path] = [*spec_files, *env_files]
    tasks = []
    versions: dict[str, str] = {}
    for info in infos:
        values = {k: getattr(info, k, None) for k in (
            "name", "source", "products", "params", "upstream", "notebook_product", "kind",
            "source_file", "function", "group", "client", "evidence", "record")}
        record = task_record(values, root)
        if not _json_stable(record):
            return None, f"task {info.name!r} has parameters that are not plain JSON"
        tasks.append(record)
        for path in (info.source, info.source_file):
            if path is not None and Path(path).is_file():
                files.append(Path(path))
        try:
            version = source_version(info)
        except NbgovError:
            version = None
        if version is not None and info.source_file is not None:
            versions[relative(info.source_file, root) or ""] = version
    inputs: dict[str, str | None] = {}
    for path in files:
        inputs[relative(path, root) or str(path)] = _digest(path)
    placeholders = {name: placeholder_value(name, config.pipeline_path.parent) for name in keyed}
    placeholders.update({f"${var}": os.environ.get(var) for var in _ENV_VARS})
    return Plan(spec=relative(config.pipeline_path, root) or config.pipeline, root=str(root),
                nbgov=__version__, ploomber=ploomber_version(), inputs=inputs,
                placeholders=placeholders, versions=versions, tasks=tasks), None


def pipeline_secrets(params: list[dict[str, Any]], env: dict[str, Any] | None = None) -> KnownSecrets:
    """A pipeline's known secrets (R5): every task's secret-named parameter values and rule
    hits, and the env file's (its secret-named keys' values, ``--env`` overrides included: an
    ``api_token`` reaching a task as ``header: "{{api_token}}"``)."""
    known = KnownSecrets()
    for one in params:
        known.add_params(one or {})
    known.add_params(env or {})
    return known


def masked_task_params(tasks: list[dict[str, Any]], env: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Task records (``{"params": ...}``) with their params masked (R5): secret names' values,
    what the value rules find, and the pipeline's known secrets (:func:`pipeline_secrets`:
    any task's secret-named value or rule hit, the env file's secret-named values) under any
    name, e.g. task a's ``api_key`` reused as task b's ``label``."""
    known = pipeline_secrets([task.get("params") or {} for task in tasks], env)
    return [{**t, "params": redact_params(t.get("params") or {}, known)} for t in tasks]


def write_plan(config: Config, infos: list[TaskInfo], env: dict[str, Any] | None = None) -> Path | None:
    """Write the plan of a pipeline rendered without overrides (atomically); remove a stale
    one when this rendering cannot be cached. Returns the plan file, or None.

    Call it right after a ``Pipeline(config.pipeline_path)`` loaded with no ``--env`` / ``-p``
    overrides (those render another pipeline than the one a plain build or status sees).
    Never raises for a cache problem: the plan is an optimisation. ``env``: the env file's
    values it was rendered with (:attr:`Pipeline.env_values`), whose secrets are masked too.
    """
    path = plan_path(config)
    try:
        plan, _ = make_plan(config, infos)
        if plan is None:
            path.unlink(missing_ok=True)
            return None
        # the cache is nbgov's own state: owner-only, and its params masked by the one rule set
        # and the pipeline's known secrets (freshness compares params redacted on both sides,
        # so a masked secret still compares; the lineage records mask the same values)
        data = plan.to_dict()
        data["tasks"] = masked_task_params(data["tasks"], env)
        private_dir(path.parent)
        atomic_write(path, json.dumps(data, indent=1, sort_keys=True, default=str) + "\n", mode=PRIVATE_FILE)
        ignore = path.parent / ".gitignore"
        if not ignore.exists():
            # a cache: never committed, and never what makes a checkout dirty (as pytest's)
            atomic_write(ignore, "# written by nbgov: this folder is a cache\n*\n", mode=PRIVATE_FILE)
        return path
    except OSError:
        return None


def read_plan(config: Config) -> Plan | None:
    """The plan on disk, whatever its key (None: none, or unreadable)."""
    try:
        return Plan.from_dict(json.loads(plan_path(config).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def stale_reason(config: Config, plan: Plan) -> str | None:
    """Why ``plan`` no longer describes the pipeline (None: its key holds)."""
    root = config.root
    if plan.spec != (relative(config.pipeline_path, root) or config.pipeline):
        return "another pipeline spec is configured"
    if plan.nbgov != __version__:
        return "nbgov was upgraded"
    if plan.ploomber != ploomber_version():
        return "Ploomber was upgraded"
    for rel, digest in plan.inputs.items():
        path = Path(rel) if Path(rel).is_absolute() else root / rel
        if _digest(path) != digest:
            return f"{rel} changed"
    for path in _env_files(config.pipeline_path):
        if (relative(path, root) or str(path)) not in plan.inputs and path.is_file():
            return f"{relative(path, root)} is read now"
    for name, value in plan.placeholders.items():
        now = (os.environ.get(name[1:]) if name.startswith("$")
               else placeholder_value(name, config.pipeline_path.parent))
        if now != value:
            return f"{{{{{name}}}}} changed" if not name.startswith("$") else f"{name[1:]} changed"
    return None


def plan_tasks(config: Config, *, stale_ok: bool = False) -> tuple[list[TaskInfo], Plan] | None:
    """The pipeline's tasks from a plan whose key holds (``stale_ok``: from any plan on disk),
    with ``outdated`` unknown (True); None when there is no such plan."""
    plan = read_plan(config)
    if plan is None or (not stale_ok and stale_reason(config, plan) is not None):
        return None
    try:
        infos = [TaskInfo(**task_values(task, config.root)) for task in plan.tasks]
    except TypeError:
        return None
    return infos, plan


def spec_tasks(config: Config) -> list[TaskInfo]:
    """The tasks as pipeline.yaml writes them, without Ploomber and without running project
    code: for a server that has no plan yet. Names, sources and products as written (grid
    tasks keep their ``[[...]]`` template name, ``{{placeholders}}`` are not filled); upstream
    from the spec, else from the ``upstream = [...]`` literal of a notebook's or script's
    parameters cell. Function tasks have no source file here.

    Raises:
        PipelineError: the spec does not parse.
    """

    spec = read_spec(config.pipeline_path)
    infos = []
    for task in spec.tasks:
        products = task.product if isinstance(task.product, dict) else {"nb": task.product}
        paths = {str(k): spec.folder / str(v) for k, v in (products or {}).items() if v}
        source = spec.source_path(task)
        kind = "notebook" if source is not None else "function"
        upstream = task.upstream
        if upstream is None and source is not None:
            upstream = declared_upstream(source)
        nb = paths.get("nb") if source is not None else None
        infos.append(TaskInfo(
            name=task.name, source=source or spec.path, products=paths, params=dict(task.params),
            upstream=list(upstream or []), notebook_product=nb, kind=kind,
            source_file=source, function=None if source is not None else task.source,
        ))
    return infos


def declared_upstream(source: Path) -> list[str]:
    """``upstream`` as the parameters cell assigns it (a list, or the keys of a dict)."""
    try:
        text = source.read_text(encoding="utf-8")
        if source.suffix == ".ipynb":
            cells = json.loads(text).get("cells", [])
            tagged = [c for c in cells if "parameters" in ((c.get("metadata") or {}).get("tags") or [])]
            src = tagged[0].get("source", "") if tagged else ""
            text = "".join(src) if isinstance(src, list) else src
        for value in assigned_literals(text, "upstream"):
            if isinstance(value, (list, tuple, dict)):
                return [str(v) for v in value]
    except (OSError, ValueError, SyntaxError, AttributeError, UnicodeDecodeError):
        return []
    return []

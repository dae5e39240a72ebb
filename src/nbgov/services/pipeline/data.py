"""The pipeline's state from data only: what the Jupyter server answers a GET with.

Loading the Ploomber DAG renders env.yaml, imports task modules (function tasks, hooks) and
runs ``on_render`` hooks: a reviewer opening a notebook of an untrusted branch would run that
branch's code before anyone approved it. So the server's read routes never load the DAG; they
answer from files nbgov reads as data:

- the cached plan of the rendered DAG that builds write (``.nbgov/cache/plan.json``, when
  present and newer than pipeline.yaml and env.yaml): task names, sources, products, params
  and upstream as the last build rendered them; never created here;
- else the spec read as YAML (:mod:`nbgov.adapters.specfile`), ``{{name}}`` placeholders filled
  from env.yaml's plain values and ``{{here}}`` by text substitution (never a template
  engine), and ``upstream`` from the notebook's ``parameters`` cell read with ``ast`` (never run);
- the lineage records next to the products and the review ledger.

Build states use the content rules of the next build (:func:`nbgov.core.freshness.decide`):
``up-to-date`` when the last run succeeded with this notebook version, these params and these
input contents; ``outdated`` otherwise, and downstream of anything outdated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbgov.adapters.specfile import read_spec
from nbgov.core.config import Config
from nbgov.core.errors import LineageError, NbgovError
from nbgov.core.lineage import record_path
from nbgov.core.redact import REDACTED
from nbgov.services.pipeline.plan import declared_upstream, masked_task_params, plan_tasks

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}")


@dataclass
class TaskView:
    """One task as plain data (absolute paths)."""

    name: str
    source: Path | None
    products: dict[str, Path]
    params: dict[str, Any] = field(default_factory=dict)
    upstream: list[str] = field(default_factory=list)
    record: Path | None = None  # where the lineage record lives, when the plan names it

    def record_file(self) -> Path | None:
        """The task's lineage record file: the plan's, else next to the executed notebook."""

        if self.record is not None:
            return self.record
        nb = self.notebook_product
        return record_path(nb) if nb is not None else None

    @property
    def notebook_product(self) -> Path | None:
        """The executed notebook product (the lineage record lives next to it)."""
        return self.products.get("nb") or next(
            (p for p in self.products.values() if p.suffix == ".ipynb"), None)



def _plan_tasks(config: Config) -> list[TaskView] | None:
    """The tasks of the build plan (:mod:`nbgov.services.pipeline.plan`) when its key still holds."""

    try:
        found = plan_tasks(config)
    except (NbgovError, OSError, ValueError):
        return None
    if found is None:
        return None
    return [TaskView(name=t.name, source=t.source_file or t.source, products=dict(t.products),
                     params=dict(t.params), upstream=list(t.upstream), record=t.record)
            for t in found[0]]



def plain_env_values(config: Config) -> dict[str, str]:
    """env.yaml's plain values (no ``{{placeholders}}``) and ``here``, read, never rendered."""
    import yaml

    env_file = config.pipeline_path.parent / "env.yaml"
    try:
        env = yaml.safe_load(env_file.read_text()) if env_file.is_file() else {}
    except (OSError, yaml.YAMLError):
        env = {}
    values = {str(k): v for k, v in (env or {}).items() if isinstance(env, dict)
              and isinstance(v, (str, int, float, bool)) and not (isinstance(v, str) and "{" in v)}
    values.setdefault("here", str(config.pipeline_path.parent))
    return values


def _fill(value: Any, env: dict[str, Any]) -> Any:
    """Placeholders filled by text substitution; unknown ones are left as written."""
    if isinstance(value, dict):
        return {k: _fill(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, env) for v in value]
    if not isinstance(value, str) or "{{" not in value:
        return value
    whole = _PLACEHOLDER.fullmatch(value.strip())
    if whole and whole.group(1) in env:
        return env[whole.group(1)]
    return _PLACEHOLDER.sub(lambda m: str(env.get(m.group(1), m.group(0))), value)


def notebook_upstream(source: Path) -> list[str]:
    """The ``upstream`` a task's parameters cell declares (read, never run)."""

    return declared_upstream(source)


def _spec_tasks(config: Config) -> list[TaskView]:

    spec = read_spec(config.pipeline_path)
    env = plain_env_values(config)
    out = []
    for task in spec.tasks:
        product = _fill(task.product, env)
        products = {"nb": product} if isinstance(product, str) else dict(product or {})
        source = spec.source_path(task)
        upstream = task.upstream
        if upstream is None and source is not None and source.suffix in (".ipynb", ".py"):
            upstream = notebook_upstream(source)
        out.append(TaskView(
            name=task.name, source=source,
            products={str(k): (spec.folder / str(v)) if not Path(str(v)).is_absolute() else Path(str(v))
                      for k, v in products.items() if isinstance(v, str)},
            params=_fill(task.params or {}, env), upstream=list(upstream or []),
        ))
    return out


def task_views(config: Config) -> list[TaskView]:
    """The pipeline's tasks from the cached plan, else from the spec (see the module doc).

    Raises:
        PipelineError: the spec cannot be read (and there is no fresh plan).
    """
    return _plan_tasks(config) or _spec_tasks(config)



def task_context_data(config: Config, notebook: str | Path) -> dict[str, Any]:
    """The values Ploomber would inject into a task notebook (params, upstream products,
    products; absolute paths), from data only; secret params and the pipeline's known secrets
    under any name masked (:func:`nbgov.services.pipeline.plan.masked_task_params`) and named
    in ``secret_params``.

    Raises:
        LineageError: the notebook is not a task of the pipeline.
    """
    target = (config.root / notebook).resolve()
    tasks = task_views(config)
    by_name = {t.name: t for t in tasks}
    task = next((t for t in tasks if t.source is not None and t.source.resolve() == target), None)
    if task is None:
        raise LineageError(f"{notebook} is not a task of {config.pipeline}",
                           hint="add it to pipeline.yaml to run it with pipeline values")

    def paths(t: TaskView) -> dict[str, str]:
        return {k: str(p) for k, p in t.products.items()}

    # R5: a secret parameter's value is never handed out (its name is: a client injects none of
    # them, and the notebook keeps its own default); nor another task's secret under an
    # innocent name (the pipeline's known secrets; a plan on disk holds them masked already)
    params = masked_task_params([{"params": t.params} for t in tasks],
                                plain_env_values(config))[tasks.index(task)]["params"]
    return {"task": task.name, "params": params,
            # masked here, or already in the plan on disk
            "secret_params": sorted(k for k, v in params.items() if v != task.params.get(k) or v == REDACTED),
            "upstream": {up: paths(by_name[up]) for up in task.upstream if up in by_name},
            "product": paths(task)}

"""``nbgov export ENGINE``: the pipeline as an engine's workflow file (Airflow, Argo, Kubeflow).

Every engine gets the same plan (:mod:`.plan`): one engine task per pipeline task, edges from
the DAG, each running ``nbgov build TASK --build-id <engine run id> -q`` so that one engine run
is one MLflow parent run with one child run per task; a setup task opens that parent and a
teardown task closes it. With products on shared storage every command also carries
``--commit SHA --repository URL``: a task fetches the project by the export's commit into a
checkout of its own (the start-up of a cluster worker, :mod:`nbgov.services.build.sources`), so
no engine task needs a shared volume. An engine is a module with ``render(plan) -> str``; the registry maps
names to modules, which are imported only when asked for.
"""

from __future__ import annotations

import importlib

from nbgov.core.config import Config
from nbgov.core.errors import ParameterError
from nbgov.services.export.plan import ExportPlan, build_plan, export_name

#: engine name -> module with ``render(plan: ExportPlan) -> str`` and ``SUFFIX``.
ENGINES: dict[str, str] = {
    "airflow": "nbgov.services.export.airflow",
    "argo": "nbgov.services.export.argo",
    "kubeflow": "nbgov.services.export.kubeflow",
}


def export(config: Config, engine: str, environment: str | None = None, image: str | None = None,
           allow_local_products: bool = False, repository: str | None = None,
           output: str | None = None) -> tuple[str, ExportPlan]:
    """Render the project's pipeline for ``engine``; returns (file text, the plan it shows).
    ``output``: the file it will be written to (None: :func:`default_file`, ``-``: none), which
    may lie in the project without making it differ from its commit.

    Raises:
        ParameterError: an unknown engine (naming the known ones).
        PipelineError: products not on shared storage (without ``allow_local_products``); the
            project not exactly a git commit, or no repository to fetch it from.
        ConfigError: a bad ``[export]`` table in nbgov.toml.
    """
    if engine not in ENGINES:
        raise ParameterError(f"unknown engine {engine!r} (known: {', '.join(sorted(ENGINES))})")
    module = importlib.import_module(ENGINES[engine])
    written = None if output == "-" else output or f"{export_name(config)}{module.SUFFIX}"
    plan = build_plan(config, environment=environment, image=image, allow_local_products=allow_local_products,
                      repository=repository, written=written)
    return module.render(plan), plan


def default_file(engine: str, plan: ExportPlan) -> str:
    """The file name ``nbgov export ENGINE`` writes when no ``-o`` is given."""
    module = importlib.import_module(ENGINES[engine])
    return f"{plan.name}{module.SUFFIX}"


__all__ = ["ENGINES", "ExportPlan", "build_plan", "default_file", "export"]

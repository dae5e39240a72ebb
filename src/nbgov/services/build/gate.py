"""Everything a build decides before running a task: the selection's upstream, the content
check (which tasks really changed), the tasks that would run, and the approval gate on them."""

from __future__ import annotations

from typing import Any

from nbgov.adapters.ploomber import Pipeline, TaskInfo
from nbgov.core.config import Config
from nbgov.core.digest import file_digest
from nbgov.core.errors import Location, PipelineError
from nbgov.core.freshness import decide
from nbgov.core.lineage import read_record
from nbgov.services.build.fastpath import NEVER_RUN_KINDS
from nbgov.services.build.load import select_tasks
from nbgov.services.build.options import BuildOptions
from nbgov.services.pipeline.plan import source_version, write_plan
from nbgov.services.review.state import require_approved


def require_built_upstream(config: Config, infos: list[TaskInfo], selection: list[str]) -> None:
    """Refuse a selection whose tasks read an upstream that is not selected and not built
    (its products missing): the notebook would only fail on the missing file."""
    tasks = {t.name: t for t in infos}
    missing: dict[str, list[str]] = {}
    for name in selection:
        for up in tasks[name].upstream:
            if up in selection:
                continue
            absent = [p for p in tasks[up].products.values() if not p.exists()]
            if absent:
                missing.setdefault(up, []).extend(_rel(config, p) for p in absent)
    if missing:
        ups = sorted(missing)
        what = "; ".join(f"{u} ({', '.join(missing[u])} missing)" for u in ups)
        raise PipelineError(
            f"upstream task(s) not built: {what}",
            Location(config.pipeline_path),
            hint=f"build them first (nbgov build {' '.join(ups)}), or run the whole pipeline: nbgov build")


def _rel(config: Config, path) -> str:
    try:
        return path.resolve().relative_to(config.root).as_posix()
    except ValueError:
        return str(path)


def gate(config: Config, options: BuildOptions, pipeline: Pipeline, env_settings: dict[str, Any]):
    """Everything a build decides before running: the selection, its upstream (fetched from the
    File client when missing here, else refused), the content check, the tasks that would run,
    and the approval gate on them. Returns (selection, infos, check, would_run)."""
    selection = select_tasks(pipeline, options.tasks, options.downstream)
    infos = pipeline.tasks()
    if not options.env and not options.params:
        write_plan(config, infos)  # the next no-op build and status answer from it
    if selection is not None:
        # a worker without the shared file system gets upstream products from the File client
        pipeline.fetch_from_storage(sorted({u for t in infos if t.name in selection for u in t.upstream}
                                           - set(selection)))
        require_built_upstream(config, infos, selection)
    check = content_check(config, infos)
    # a task whose input content changed runs although Ploomber calls it up to date: gate it too
    would_run = [t for t in infos if (selection is None or t.name in selection)
                 and (options.force or t.outdated or check(t.name, set()) is False)]
    require = options.require_approved
    if require is None:
        require = bool(env_settings.get("require_approved", False))
    if require and would_run:
        require_approved(config, [t.source_file for t in would_run if t.source_file])
    return selection, infos, check, would_run


def content_check(config: Config, infos: list[TaskInfo]):
    """The per-task content check of a build (see :mod:`nbgov.core.freshness`): compares each
    task's last lineage record with its source version, params, input and product digests now."""
    tasks = {t.name: t for t in infos}

    def rel(path) -> str:
        try:
            return path.resolve().relative_to(config.root).as_posix()
        except ValueError:
            return path.as_posix()

    def digests(paths) -> dict[str, str | None]:
        return {rel(p): file_digest(p) if p.exists() else None for p in paths}

    def check(name: str, ran: set[str]) -> bool | None:
        task = tasks[name]
        if task.record is None or task.kind in NEVER_RUN_KINDS:
            return None  # nothing nbgov records: Ploomber's rules
        record = read_record(task.record)
        if record is None:
            # no record (never recorded, or killed before its record was written): outdated,
            # whatever Ploomber's metadata says (core.freshness)
            return decide(None, None, task.params, {}, {}).fresh
        # the same inputs the recorder lists: every existing non-notebook product of each upstream
        inputs = digests(p for up in task.upstream if up in tasks for p in tasks[up].products.values()
                         if p != tasks[up].notebook_product and p.exists())
        products = digests(task.products.values())
        return decide(record.to_dict(), source_version(task), task.params, inputs, products).fresh

    return check

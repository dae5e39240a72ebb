"""A no-op ``nbgov build`` and ``nbgov status`` without loading Ploomber: answered from the
cached build plan and the lineage records.

Loading a pipeline through Ploomber costs 2-4 s (its import alone 2.4 s) before anything can be
decided. The plan (:mod:`nbgov.services.pipeline.plan`) keeps what the last rendering produced, for every
task kind (notebooks, scripts, functions, grids, placeholders), valid while its key holds; the
lineage records hold what each task's last run read and wrote. nbgov's content rules
(:func:`nbgov.core.freshness.decide`, the rules a serial ``nbgov build`` applies to every task)
then decide each task from the two. When every task is fresh the build is a no-op and its
summary is returned at once; in every other case (no plan or a stale one, anything stale, a
task without a record, or whose source version this reader cannot compute) :func:`noop_summary`
answers None and the caller takes the normal path, which decides everything again (and writes
a new plan).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from nbgov.adapters.specfile import declares_own_hooks
from nbgov.core.config import Config
from nbgov.core.digest import file_digest
from nbgov.core.errors import NbgovError
from nbgov.core.freshness import Freshness, decide
from nbgov.core.journal import journal_folder
from nbgov.core.journal_entries import list_journals
from nbgov.core.lineage import read_record
from nbgov.core.plan import relative
from nbgov.services.build.options import BuildOptions, BuildSummary, TaskSummary
from nbgov.services.build.trust import committed, distrusted
from nbgov.services.pipeline.plan import plan_path, plan_tasks, source_version

#: Task kinds that never run (their product is made outside the pipeline): no record, ever.
NEVER_RUN_KINDS = ("link", "input")


def verdicts(config: Config, infos: list, versions: dict[str, str]) -> dict[str, Any]:
    """Each task's :class:`~nbgov.core.freshness.Freshness` from its lineage record, by name.

    Args:
        config: the project.
        infos: the tasks (``TaskInfo``) in topological order.
        versions: source file (relative to the root) -> its version, from the plan (valid
            while the plan's key holds); a source not in it is read now.
    """

    by_name = {t.name: t for t in infos}

    def rel(path: Path) -> str:
        return relative(path, config.root) or str(path)

    def digest(path: Path) -> str | None:
        return file_digest(path) if path.exists() else None

    out: dict[str, Any] = {}
    for task in infos:
        if task.kind in NEVER_RUN_KINDS:
            # a link or an input names a file made outside the pipeline: nothing to rerun
            there = all(Path(p).exists() for p in task.products.values())
            out[task.name] = Freshness(there, "made outside the pipeline" if there else
                                       "its product is missing")
            continue
        if task.record is None:
            out[task.name] = Freshness(None, "no lineage record location")
            continue
        record = read_record(task.record)
        if record is None:
            # products without a record are unrecorded (a run killed before its record was
            # written, or one outside nbgov): outdated, as a build decides (core.freshness)
            out[task.name] = decide(None, None, task.params, {}, {})
            continue
        try:
            data = record.to_dict()
            # the record names the task and its products as this rendering does, or no answer
            if data.get("task") != task.name or {
                v.get("path") for v in (data.get("products") or {}).values()
            } != {rel(p) for p in task.products.values()}:
                out[task.name] = Freshness(None, "the record names other products")
                continue
            # the same inputs the recorder lists: every existing product of each upstream
            # except the executed notebook
            inputs = {
                rel(p): digest(p)
                for up in task.upstream if up in by_name
                for p in by_name[up].products.values()
                if p != by_name[up].notebook_product and p.exists()
            }
            products = {rel(p): digest(p) for p in task.products.values()}
            version = versions.get(rel(task.source_file)) if task.source_file else None
            if version is None:
                version = source_version(task)
        except (NbgovError, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            out[task.name] = Freshness(None, f"cannot read: {exc}")
            continue
        if version is None and task.source_file is not None:
            out[task.name] = Freshness(None, "no source version")  # its source cannot be read
            continue
        # no source file (an upload: its source is data, an upstream's product, an input):
        # version None, as recorded; its inputs' digests decide
        out[task.name] = decide(data, version, task.params, inputs, products)
    return out


def fresh_records(config: Config) -> tuple[list, dict[str, Any]] | None:
    """The tasks (``TaskInfo``, in build order) and each one's lineage record, when the plan's
    key holds and every task is fresh by content (its last run succeeded with this source
    version, these params and these input digests, and its products are there); None
    otherwise."""

    found = plan_tasks(config)
    if found is None:
        return None
    infos, plan = found
    decided = verdicts(config, infos, plan.versions)
    if any(v.fresh is not True for v in decided.values()):
        return None
    records = {t.name: read_record(t.record) if t.record else None for t in infos}
    for info in infos:
        info.outdated = False
    return infos, records


def noop_summary(
    config: Config,
    force: bool,
    tasks: list[str] | None,
    jobs: int | None,
    env: list[str],
    params: list[str],
    started: float,
):
    """The summary of a build that would skip every task, or None (take the normal path).

    Args:
        config: the project.
        force, tasks, jobs, env, params: the build's options; any of them set means "not a
            plain rebuild" (None).
        started: ``time.perf_counter()`` when the build began (for ``wall_s``).
    """
    if force or tasks or (jobs or 1) > 1 or env or params:
        return None
    if declares_own_hooks(config.pipeline_path):
        return None  # Ploomber runs on_render and on_finish on a build with nothing to do too
    found = fresh_records(config)
    if found is None:
        return None
    infos, records = found
    summaries = [TaskSummary(t.name, "skipped", None, getattr(records[t.name], "run_id", None))
                 for t in infos]
    return BuildSummary(
        summaries, None, False, time.perf_counter() - started, config.resolved_tracking_uri()
    )


def noop_build(config: Config, options: BuildOptions, started: float, governed: bool = False) -> BuildSummary | None:
    """The summary of a build with nothing to do, decided from the lineage records without
    loading Ploomber (nothing is written: no lock needed), or None: take the normal path. A
    build that joins a shared build, or finds runs waiting in the journal, always takes it; a
    governed one too when a task would not be trusted fresh (:mod:`.trust`, J10) or git tracks
    the cached plan (it came with the commit)."""
    # (a run waiting to be sent is in an open journal: none is read here; any entry, even one
    # git tracks or that is no regular file, takes the normal path, whose sync names it)
    if options.build_id is not None or list_journals(journal_folder(config.root)):
        return None
    summary = noop_summary(config, options.force, options.tasks, options.jobs, options.env, options.params, started)
    if summary is not None and governed:
        found = plan_tasks(config)
        if found is None or committed(config, [plan_path(config)]) or distrusted(config, found[0], NEVER_RUN_KINDS):
            return None
    return summary

"""``nbgov build --cluster ADDRESS``: the build's tasks on a Dask cluster, one build run.

The driver validates and gates as a local build does, opens the build's parent run, submits
every selected task as ``nbgov build TASK --build-id ID`` (each task records itself on its
worker), ends the parent run with the build's outcome and returns the same summary as a local
build. Workers without the project's file system get upstream products from the ``File``
client (see :meth:`nbgov.adapters.ploomber.Pipeline.fetch_from_storage`).
"""

from __future__ import annotations

import time
import uuid

from nbgov.adapters.engines.dask import PYTHON, RemoteTask, dask_cluster, run_on_cluster
from nbgov.core.config import Config, load_config
from nbgov.core.errors import NbgovError
from nbgov.services.build.gate import gate
from nbgov.services.build.load import load_pipeline
from nbgov.services.build.options import LOCAL, BuildOptions, BuildSummary, TaskSummary
from nbgov.services.recording.tracking import close_build, open_build


def _task_argv(name: str, build_id: str, options: BuildOptions, spec: str | None = None) -> list[str]:

    # --cluster none: the worker runs its task itself, whatever [execution] cluster says
    argv = [PYTHON, "-m", "nbgov", "build", "--build-id", build_id, "--cluster", LOCAL, "--json", "-q"]
    argv += ["-f"] if options.force else []
    argv += [a for e in options.env for a in ("--env", e)]
    argv += [a for p in options.params for a in ("-p", p)]
    argv += ["--environment", options.environment] if options.environment else []
    # the spec the driver built (-e/--entry-point), when it is not the project's default
    argv += ["--entry-point", spec] if spec else []
    if options.require_approved is not None:
        argv.append("--require-approved" if options.require_approved else "--no-require-approved")
    # the task last, after `--`: a task named like an option (--no-require-approved) stays a name
    return [*argv, "--", name]


def _spec_arg(config: Config) -> str | None:
    """The spec to name on a worker's command line: the one this build uses, unless it is the
    one the project's nbgov.toml names anyway."""
    configured = load_config(config.root).pipeline
    return None if configured == config.pipeline else config.pipeline


def cluster_build(config: Config, options: BuildOptions) -> BuildSummary:
    """Run a build on the Dask cluster ``options.cluster``; refuses (NbgovError) before running
    anything, as a local build does."""

    started = time.perf_counter()
    pipeline = load_pipeline(config, options.env, options.params)
    # refused here, before anything is submitted (each worker checks its task again)
    selection, infos, _, _ = gate(config, options, pipeline, config.env_settings(options.environment))
    names = selection or [t.name for t in infos]

    build_id = options.build_id or uuid.uuid4().hex
    tasks = [RemoteTask(t.name, [u for u in t.upstream if u in names], _task_argv(t.name, build_id, options,
                                                                                   _spec_arg(config)))
             for t in infos if t.name in names]
    with dask_cluster(options.cluster) as client:
        # opened here, before the workers record: no two workers race to create it
        parent = open_build(config, build_id, runner="nbgov build --cluster")
        try:
            outcomes = run_on_cluster(client, tasks, config.root)
        except NbgovError:
            if options.build_id is None:
                close_build(config, build_id, "FAILED")
            raise
    failed = any(o.outcome in ("failed", "not-run") for o in outcomes)
    if options.build_id is None:  # a build id given by the caller is closed by the caller
        close_build(config, build_id, "FAILED" if failed else "FINISHED")
    summaries = [TaskSummary(o.name, o.outcome, o.seconds, o.run_id, o.error) for o in outcomes]
    return BuildSummary(summaries, parent, failed, time.perf_counter() - started, config.resolved_tracking_uri())

"""Building the pipeline: ``nbgov build`` and ``nbgov status``.

Owns: loading the pipeline for a build (:mod:`.load`), the decisions made before any task runs
(:mod:`.gate`), running here with recording (:mod:`.run`), the no-op build answered without
Ploomber (:mod:`.fastpath`), builds on a Dask cluster (:mod:`.cluster`), and the state of each
task (:mod:`.status`). Uses :mod:`nbgov.services.recording`, :mod:`nbgov.services.review` and
:mod:`nbgov.services.pipeline`; nothing below imports it.

A build, top to bottom, is :func:`build`.
"""

from __future__ import annotations

import time
from dataclasses import replace

from nbgov.core.config import Config
from nbgov.core.errors import ConfigError, Location, ParameterError
from nbgov.core.privatetmp import private_tempdir
from nbgov.services.build.fastpath import noop_build
from nbgov.services.build.load import executor_params, load_pipeline, select_tasks
from nbgov.services.build.options import LOCAL, BuildOptions, BuildSummary, TaskSummary
from nbgov.services.build.trust import governed


def build(config: Config, options: BuildOptions) -> BuildSummary:
    """Run a build end to end; raises NbgovError for bad input or a refused gate, before running
    anything. Its steps, in order: check the options; on a cluster, hand the whole build to it;
    answer a build with nothing to do from the lineage records; else take the lock, warm the
    kernels, send what earlier builds left, then load, gate and run here."""
    started = time.perf_counter()
    if options.jobs is not None and options.jobs < 1:
        raise ParameterError("--jobs must be at least 1")
    cluster = _cluster(config, options)
    if cluster is None and options.repository:
        raise ParameterError("--repository names where a cluster's workers fetch the build's commit: this build "
                             "runs here", hint="add --cluster ADDRESS, or --commit SHA to build a commit fetched "
                                               "from the repository")
    if governed(options.require_approved, config.env_settings(options.environment)):
        # R4: no bytecode in the project folder is read (a forged timestamp __pycache__ file,
        # git-ignored, left by another job): this process, the kernel template (started after
        # this, with this environment), kernels, forked workers and script tasks keep bytecode in
        # the user's cache, the project's compiled files there dropped first
        from nbgov.adapters.engines.checkout import private_bytecode

        private_bytecode(config.root)
    if cluster is not None:
        from nbgov.services.build.cluster import cluster_build  # (Dask, when asked for)

        return cluster_build(config, replace(options, cluster=cluster))
    env_settings = config.env_settings(options.environment)  # an unknown environment fails first
    noop = noop_build(config, options, started, governed(options.require_approved, env_settings))
    if noop is not None:
        return noop
    # the run's modules (recorder, executor, kernels: ~0.2 s of imports) stay off the no-op path
    from nbgov.services.build.run import project_locked, run_locally, send_earlier_runs, warm_kernels

    # a script task runs from a temporary folder first on its sys.path: a private one
    # (core.privatetmp), entered after the kernel template started (its socket stays where it was:
    # a deeper folder could pass the length a unix socket's path may have)
    with project_locked(config, options), warm_kernels(config), private_tempdir():
        synced = send_earlier_runs(config, options)
        return run_locally(config, options, env_settings, started, synced)


def _cluster(config: Config, options: BuildOptions) -> str | None:
    """The Dask cluster this build runs on (``--cluster``, else ``[execution] cluster``), or
    None to run here."""
    cluster = options.cluster or config.section("execution").get("cluster")
    if not cluster or cluster == LOCAL:
        return None
    if not isinstance(cluster, str):
        raise ConfigError("[execution] cluster must be a Dask scheduler address or local:N", Location(config.source))
    return cluster


__all__ = ["LOCAL", "BuildOptions", "BuildSummary", "TaskSummary", "build", "executor_params", "load_pipeline",
           "select_tasks"]

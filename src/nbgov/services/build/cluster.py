"""``nbgov build --cluster ADDRESS``: the build's tasks on a Dask cluster, one build run.

The cluster is reached (``local:N``: started) in a thread while this process imports Ploomber;
every worker's environment is compared with this one's
(:func:`nbgov.adapters.engines.warm.check_workers`):

- **warm** (same packages, same project folder and commit): the build runs as a local build
  does (lock, load, gate, nbgov's executor loop, recording as it goes, journal first, all in
  this process); only each task's ``_build`` runs on a worker, in the worker's process, with
  the kernel template and pool :class:`~nbgov.adapters.engines.warm.WarmWorker` keeps there;
- **cold** (a worker with other package versions, or the project in another folder): every
  selected task that must run is submitted as ``nbgov build TASK --build-id ID`` in a subprocess
  on a worker (each task records its run there); the driver decides freshness first and keeps
  the lineage records of tasks built in other checkouts (:mod:`.coldrun`); the reason is printed
  on stderr;
- **refused** (a worker without the project, or at another commit): nothing runs.

With ``--repository URL`` the driver's project must be exactly a git commit (nothing
uncommitted: :func:`require_clean_commit`), and every worker without a checkout of its own
(``NBGOV_WORKER_ROOT``) fetches that commit from URL into its own cache, warm
(:class:`nbgov.adapters.engines.fetch.WorkerSources`) or cold (``nbgov build TASK --commit SHA
--repository URL``), and builds there, its products through the ``File`` client.

Workers without the project's file system get upstream products from the ``File`` client (see
:meth:`nbgov.adapters.ploomber.Pipeline.fetch_from_storage`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib
import json
import sys
import threading
import time
import uuid
from pathlib import Path

from nbgov.adapters.engines.checkout import checkout_problem, head_commit
from nbgov.adapters.engines.dask import CHECKOUT_VAR, PYTHON, RemoteTask, dask_cluster, run_on_cluster
from nbgov.core.atomic import atomic_write
from nbgov.core.config import Config, load_config
from nbgov.core.errors import Location, NbgovError, without_credentials
from nbgov.core.lineage import read_record
from nbgov.services.build.coldrun import must_run, take_back, upstream_runs
from nbgov.services.build.gate import EXPECT_VAR, driver_expectation, gate, gate_render
from nbgov.services.build.load import load_pipeline
from nbgov.services.build.options import LOCAL, BuildOptions, BuildSummary, TaskSummary
from nbgov.services.pipeline.plan import pipeline_secrets
from nbgov.services.recording.tracking import close_build, open_build


def _task_argv(name: str, build_id: str, options: BuildOptions, spec: str | None = None) -> list[str]:

    # --cluster none: the worker runs its task itself, whatever [execution] cluster says
    # -P: the worker's project folder is not first on the import path (no project nbgov/ package)
    argv = [PYTHON, "-P", "-m", "nbgov", "build", "--build-id", build_id, "--cluster", LOCAL, "--json", "-q"]
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
    from nbgov.adapters.engines import warm  # (imports distributed: cluster builds only)
    from nbgov.services.recording.recorder import Recorder  # (the recording machinery: builds only)

    started = time.perf_counter()
    if options.repository:
        _fetched_commit(config, options.repository)  # refused before anything starts
    # the upload process first: it imports MLflow while this process imports Ploomber and the
    # cluster starts (tasks end sooner than locally: the build would wait for it at its end;
    # local:N workers forked later close their copy of its input, see recording.uploader)
    recorder = Recorder(config, [], runner="nbgov build --cluster", build_id=options.build_id)
    recorder.start_uploader()
    handed = False  # once run_locally has it, it closes it
    try:
        with _connected(config, options, warm) as (client, plugin):
            own = _own_checkouts.pop(id(client), [])
            if plugin is None:
                recorder.close()  # nothing opened: the upload process (if started) just ends
                handed = True
                return _cold_build(config, options, client, started, own)
            # workers with checkouts of their own load the pipeline there (same commit: checked)
            loader = functools.partial(worker_pipeline, pipeline=config.pipeline, env=list(options.env),
                                       params=list(options.params)) if own else None
            check = functools.partial(require_clean_commit, config, options.repository) if options.repository \
                else None
            engine = warm.DaskEngine(client, warm.worker_threads(client), plugin, loader=loader,
                                       commit=warm.project_commit(config.root), check=check)
            from nbgov.services.build.run import project_locked, run_locally, send_earlier_runs  # (see above)

            with project_locked(config, options):
                synced = send_earlier_runs(config, options)
                handed = True
                summary = run_locally(config, options, config.env_settings(options.environment), started, synced,
                                      engine=engine, recorder=recorder)
            _write_timings(config, engine.facts)
            return summary
    except BaseException:
        if not handed:
            recorder.close()
        raise


#: client -> the workers of this build that have checkouts of their own
_own_checkouts: dict[int, list[str]] = {}


def worker_pipeline(root, pipeline: str, env: list[str], params: list[str]):
    """On a worker with its own checkout: the build's pipeline loaded from ``root`` (the spec
    the driver used, its ``--env`` and ``-p``)."""
    config = dataclasses.replace(load_config(root), pipeline=pipeline)
    return load_pipeline(config, env, params)


@contextlib.contextmanager
def _connected(config: Config, options: BuildOptions, warm):
    """(client, warm plugin name or None for a cold build) of the cluster, reached in a thread
    while this process imports Ploomber; refuses workers that cannot run the build."""
    result: dict = {}

    def connect() -> None:
        try:
            stack = contextlib.ExitStack()
            result["stack"] = stack
            client = stack.enter_context(dask_cluster(options.cluster))
            refusals, cold, own = warm.check_workers(client, str(config.root), bool(options.repository))
            result.update(client=client, refusals=refusals, cold=cold)
            _own_checkouts[id(client)] = own
            if not refusals and not cold:
                commit = warm.project_commit(config.root) or "no-git"
                version, source = commit[:16], None
                if options.repository:
                    # its own name: a plugin of the same commit without fetching stays apart
                    version += "-" + hashlib.sha256(options.repository.encode()).hexdigest()[:8]
                    source = (options.repository, commit)
                plugin = warm.WarmWorker(str(config.root), str(config.pipeline_path),
                                         config.section("execution").get("preload", True), version, source)
                client.register_plugin(plugin, name=plugin.name)
                result["plugin"] = plugin.name
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            result["error"] = exc

    outer = contextlib.ExitStack()
    if options.cluster.startswith("local:"):
        # local workers are forked from this process (adapters.engines.dask): the template and
        # the heavy imports first, then the fork (never while another thread imports)
        from nbgov.services.build.run import warm_kernels

        outer.enter_context(warm_kernels(config))
        for module in warm.WARM_MODULES:
            with contextlib.suppress(Exception):  # a task that needs it reports the error itself
                importlib.import_module(module)
        connect()
    else:
        thread = threading.Thread(target=connect, name="nbgov-cluster-connect", daemon=True)
        thread.start()
        with contextlib.suppress(Exception):  # the build's heaviest import, while the cluster answers
            import nbgov.adapters.ploomber.executor  # noqa: F401 (imported for its side effect: warm)
        thread.join()
    stack = result.get("stack") or contextlib.ExitStack()
    with outer, stack:
        if "error" in result:
            raise result["error"]
        if result["refusals"]:
            raise NbgovError(f"the cluster cannot run this build: {'; '.join(result['refusals'])}",
                             hint="give every worker a checkout of the build's commit (or restart it in one)")
        for line in result["cold"]:
            print(f"nbgov: {line}: its tasks run as `nbgov build TASK` subprocesses (not warm)", file=sys.stderr,
                  flush=True)
        yield result["client"], result.get("plugin")


def _fetched_commit(config: Config, repository: str) -> str:
    """The commit workers fetch from ``repository`` (``--repository``): the driver's HEAD;
    refused when the project is not a git commit or the address is not one."""
    from nbgov.adapters.engines.fetch import check_source  # (stdlib only: the fetch's own check of its input)

    commit = head_commit(config.root)
    if not commit:
        raise NbgovError("--repository: the workers fetch the build's sources by git commit, and the project is not "
                         "a git commit", Location(config.root),
                         hint=f"commit the project (git add, git commit), push it to {without_credentials(repository)}"
                              ", then build again")
    check_source(repository, commit)
    return commit


def require_clean_commit(config: Config, repository: str, infos) -> str:
    """The commit workers fetch (:func:`_fetched_commit`), refused when the driver's project
    differs from it (an uncommitted change would be built here and not on the workers; its
    products and nbgov's state excepted: the R10 check, engines.checkout)."""
    from nbgov.services.build.run import product_paths  # (the build machinery: see cluster_build)

    commit = _fetched_commit(config, repository)
    # what the build writes here beside the products: each task's lineage record, its copy of
    # the executed notebook, a monitor's verdict (none of them the workers' to read)
    written = set(product_paths(config, list(infos)))
    root = config.root.resolve()
    for info in infos:
        nb = info.notebook_product
        for path in (info.record, info.evidence, nb.with_name(nb.stem + ".status.json") if nb else None):
            if path is not None and Path(path).resolve().is_relative_to(root):
                written.add(Path(path).resolve().relative_to(root).as_posix())
    problem = checkout_problem(config.root, commit, tuple(sorted(written)))
    if problem:
        raise NbgovError(f"--repository: the workers would fetch commit {commit[:12]}, but {problem}",
                         Location(config.root),
                         hint=f"commit the changes and push them to {without_credentials(repository)}, then build "
                              "again (workers build the commit, not this folder)")
    return commit


def _write_timings(config: Config, facts: dict) -> None:
    """Where and when each task ran on the cluster (``.nbgov/cluster-last.json``: benchmarks,
    debugging): submitted, started on its worker, entered the warm pool, ended (epoch s)."""
    with contextlib.suppress(OSError):
        atomic_write(config.root / ".nbgov" / "cluster-last.json", json.dumps(facts, indent=1) + "\n")


def _cold_build(config: Config, options: BuildOptions, client, started: float,
                own: list[str] | None = None) -> BuildSummary:
    """Each task that must run as ``nbgov build TASK --build-id ID`` in a subprocess on a worker,
    under the project's build lock (the lineage records and products it keeps: :mod:`.coldrun`)."""
    uri = config.resolved_tracking_uri()
    if own and (uri.startswith(("sqlite:", "file:")) or "://" not in uri):
        # each subprocess records where ITS project says: another machine's mlflow.db
        raise NbgovError(f"the build's tasks would run as subprocesses in workers' own checkouts and record their "
                         f"runs in each worker's own tracking store, not {uri} ({'; '.join(own)})",
                         hint="use a tracking server (tracking_uri = http://... in nbgov.toml), or give the "
                              "workers the driver's environment so that they run warm")
    from nbgov.services.build.run import project_locked  # (the build machinery: see cluster_build)

    # this process writes the tasks' lineage records and downloaded products (coldrun.take_back)
    with project_locked(config, options):
        return _cold_locked(config, options, client, started, own)


def _cold_locked(config: Config, options: BuildOptions, client, started: float, own: list[str] | None
                 ) -> BuildSummary:
    env_settings = config.env_settings(options.environment)
    gate_render(config, options, env_settings)  # loading runs hooks and task modules: gate them first
    pipeline = load_pipeline(config, options.env, options.params)
    # refused here, before anything is submitted (each worker checks its task again)
    selection, infos, check, _ = gate(config, options, pipeline, env_settings)
    names = selection or [t.name for t in infos]
    # decided here, with this folder's records and products, as a local build decides: a task
    # in a fresh checkout would find no record of its last run and always run again
    to_run = must_run(infos, names, check, options.force)

    fetch: list[str] = []
    if options.repository:
        fetch = ["--commit", require_clean_commit(config, options.repository, infos), "--repository",
                 options.repository]
    build_id = options.build_id or uuid.uuid4().hex
    spec = _spec_arg(config)
    tasks = [RemoteTask(t.name, [u for u in t.upstream if u in to_run], _task_argv(t.name, build_id, options, spec),
                        fetch, upstream_runs(infos, t.name, to_run))
             for t in infos if t.name in to_run]
    # opened here, before the workers record: no two workers race to create it (nothing runs:
    # no build run, as a local no-op build)
    parent = open_build(config, build_id, runner="nbgov build --cluster") if tasks else None
    try:
        # each task's subprocess checks that it renders what this gate approved (gate.EXPECT_VAR);
        # a worker with a checkout of its own checks it first (the commit, byte for byte: R10)
        env = {EXPECT_VAR: driver_expectation(pipeline, infos)}
        if own:
            from nbgov.services.build.run import product_paths  # (the build machinery: see cluster_build)

            env[CHECKOUT_VAR] = json.dumps({"commit": head_commit(config.root),
                                            "products": product_paths(config, infos)})
        outcomes = run_on_cluster(client, tasks, config.root, env) if tasks else []
    except NbgovError:
        if options.build_id is None:
            close_build(config, build_id, "FAILED")
        raise
    # the records of runs made in other checkouts, kept here with their products (rebuild: no-op)
    take_back(pipeline, infos, outcomes)
    failed = any(o.outcome in ("failed", "not-run") for o in outcomes)
    if options.build_id is None and tasks:  # a build id given by the caller is closed by the caller
        close_build(config, build_id, "FAILED" if failed else "FINISHED")
    # a worker's error, printed here, masked like the worker's own records
    known = pipeline_secrets([info.params for info in infos], pipeline.env_values)
    ran = {o.name: o for o in outcomes}
    summaries = []
    for info in infos:
        if info.name not in names:
            continue
        o = ran.get(info.name)
        if o is None:  # fresh: skipped here, named by the run that made its products
            record = read_record(info.record) if info.record is not None else None
            summaries.append(TaskSummary(info.name, "skipped", None, record.run_id if record else None))
            continue
        summaries.append(TaskSummary(o.name, o.outcome, o.seconds, o.run_id,
                                     known.mask(o.error) if o.error else o.error))
    return BuildSummary(summaries, parent, failed, time.perf_counter() - started, config.resolved_tracking_uri())

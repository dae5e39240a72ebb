"""Warm Dask workers: tasks run inside the worker process, with what a local build keeps warm.

A fresh ``nbgov build TASK`` process per task pays 6-9 s before its notebook starts (Python,
nbgov, Ploomber and MLflow imports, pipeline load, gate, a cold kernel). On a warm worker:

- :class:`WarmWorker`, a Dask ``WorkerPlugin`` registered once per project version (its name
  carries the version; ``idempotent``: registering it again is a no-op), imports Ploomber,
  papermill and nbgov's executor once, starts the project's kernel template (the modules its
  notebooks import, preloaded) and keeps a kernel pool that boots each task's kernel while the
  task before it runs, exactly as a local serial build does;
- the driver keeps the build: it loads and gates the pipeline, runs nbgov's one executor loop
  and records every task (journal first) in its own process; only a task's ``_build`` travels
  to a worker (:class:`DaskEngine`, the rendered task pickled, as ``-j N`` hands it to a forked
  process), and its product metadata comes back to the driver;
- before running, the worker checks the task's source file against the digest the driver's gate
  approved (:func:`run_warm`): a worker never runs a source whose bytes differ from the
  reviewed ones (docs/security.md).

With ``--repository URL``, a worker without ``NBGOV_WORKER_ROOT`` fetches the build's commit at
its first task (:class:`~nbgov.adapters.engines.fetch.WorkerSources`) and builds there (R10-checked).

Where a worker's environment differs from the driver's (Python, nbgov, Ploomber, papermill,
distributed versions, or another project folder) the driver falls back to one ``nbgov build
TASK`` subprocess per task (:mod:`nbgov.adapters.engines.dask`) and says why.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import importlib
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from distributed import WorkerPlugin, get_worker

# the build's commit, checked the same way here and in an exported task (adapters.engines.checkout)
from nbgov.adapters.engines.checkout import checkout_problem, private_bytecode

# what decides warm, cold or refused (no Dask there; re-exported: services.build.cluster, tests)
from nbgov.adapters.engines.facts import (  # noqa: F401
    PACKAGES,
    WORKER_ROOT_VAR,
    compare,
    environment_facts,
    project_commit,
    shares_folder,
)
from nbgov.adapters.engines.fetch import WorkerSources
from nbgov.core.digest import file_digest
from nbgov.core.errors import NbgovError

#: what a warm worker imports once (a task's ``_build`` needs them; a fresh process pays ~2 s)
WARM_MODULES = ("ploomber.tasks.notebook", "papermill", "nbgov.adapters.ploomber.executor",
                "nbgov.adapters.ploomber.evidence", "nbgov.adapters.kernels.pool")
PLUGIN_PREFIX = "nbgov-warm-"


class WarmWorker(WorkerPlugin):
    """Loaded once per worker and project version: imports, the kernel template and a kernel
    pool booting one kernel ahead (see the module docstring)."""

    idempotent = True  # the same project version registered again (the next build): kept as is

    def __init__(self, root: str, pipeline_path: str, preload: Any, version: str,
                 source: tuple[str, str] | None = None) -> None:
        self.root = root
        #: (repository, commit) that a worker without a checkout of its own fetches
        self.source = source
        self._sources: WorkerSources | None = None
        self.pipeline_path = pipeline_path
        self.preload = preload
        self.version = version
        self.name = f"{PLUGIN_PREFIX}{version}"
        self._pool: Any = None
        self._ready = threading.Event()
        self.setup_s: float | None = None
        #: why setup failed (tasks fail at once with it, instead of waiting for imports)
        self.setup_error: str | None = None
        #: an own checkout: the kernel template starts after the first task's check (enter)
        self._deferred = False

    def __getstate__(self) -> dict:
        # sent to the workers: what it knows, not this process's pool or event
        return {**self.__dict__, "_pool": None, "_ready": None, "_pipeline": None, "_sources": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _ready=threading.Event())

    def setup(self, worker: Any = None) -> None:
        """Start the kernel template (it imports the notebooks' modules in its own process;
        a worker forked from the driver, ``local:N``, uses the driver's), then warm this
        process's imports in a thread: the worker answers at once."""
        from nbgov.adapters.kernels.template import (  # (stdlib only; not at import: workers load it)
            IMPORT_TIME_ENV,
            current_template,
        )

        started = time.perf_counter()
        # another version of the project may have left its template: this one's modules differ
        for name, plugin in list(getattr(worker, "plugins", {}).items()):
            if name.startswith(PLUGIN_PREFIX) and name != self.name and isinstance(plugin, WarmWorker):
                plugin.teardown(worker)
        inherited = current_template()
        if getattr(self, "source", None) and not os.environ.get(WORKER_ROOT_VAR):
            # fetched by the first task (fetch_sources), then checked as an own checkout is
            self._sources = WorkerSources(*self.source)
        root = self.worker_root()
        if self._sources is not None:
            self._deferred = True  # its bytecode folder: once fetched (fetch_sources)
        elif self.own_checkout():
            # R10: nothing of the checkout is imported before a task's check passed (the
            # template preloads the notebooks' modules: started by enter()), and no bytecode
            # is read from it (a forged __pycache__ file), here or in the kernels
            private_bytecode(root)
            self._deferred = True
        elif inherited is None or not inherited.alive() or Path(inherited.root) != root:
            if not self._start_template():
                self._ready.set()
                return
        else:
            # forked from the driver: the nanny set PYTHONHASHSEED and *_NUM_THREADS for this
            # process; the task kernels get the driver's values, as in a local build (and the
            # template's, so that they can be forked from it)
            for key in IMPORT_TIME_ENV:
                if inherited.env.get(key) is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = inherited.env[key]

        def warm() -> None:
            for module in WARM_MODULES:
                with contextlib.suppress(Exception):  # a task that needs it reports the error itself
                    importlib.import_module(module)
            self.setup_s = time.perf_counter() - started
            self._ready.set()

        threading.Thread(target=warm, name="nbgov-warm-imports", daemon=True).start()

    def own_checkout(self) -> bool:
        """Whether this worker builds from a checkout of its own (``NBGOV_WORKER_ROOT``, or fetched)."""
        return self._sources is not None or self.worker_root().resolve() != Path(self.root).resolve()

    def fetch_sources(self, address: str, build: str | None = None) -> str | None:
        """A worker that fetches the build's commit: fetch it now if not yet (the task's
        thread; a failure is remembered a while for the ``build``'s later tasks, see
        :class:`WorkerSources`); why it cannot (one line naming the worker ``address``), else None."""
        sources = self._sources
        if sources is None:
            return None
        fresh = sources.path is None or not sources.path.is_dir()
        try:
            root = sources.get(build)
        except NbgovError as exc:
            if exc.message.startswith("refused: "):
                return f"refused on worker {address}: {exc.message.removeprefix('refused: ')}"
            return f"worker {address} could not fetch the build's sources: {exc.message}"
        if fresh:
            private_bytecode(root)  # R10: no bytecode read from (or written into) the checkout
        return None

    def _start_template(self) -> bool:
        """Start the kernel template in this worker's project folder (False: failed, the
        reason in :attr:`setup_error`)."""
        from nbgov.adapters.kernels.template import start_for_project  # (see setup)

        root = self.worker_root()
        spec = Path(self.pipeline_path)
        with contextlib.suppress(ValueError):
            spec = root / spec.relative_to(self.root)  # this worker's own checkout, not the driver's path
        try:
            start_for_project(root, spec, self.preload)
        except Exception as exc:  # noqa: BLE001 - reported by each task at once (never a silent wait)
            self.setup_error = f"{type(exc).__name__}: {exc}"[:500]
            return False
        return True

    def teardown(self, worker: Any = None) -> None:
        """Stop the template this worker started (its kernels with it; the pool's spare kernel
        ends with the worker: the template kills a kernel whose requester is gone). The pool
        is not closed here: this runs on the worker's event loop, not in the task thread."""
        from nbgov.adapters.kernels.template import stop_template  # (a worker's teardown only)

        self._pool = None
        stop_template()
        if self._sources is not None:
            self._sources.drop()

    def worker_root(self) -> Path:
        """The project folder on this worker (its own checkout, fetched or named, or the driver's path)."""
        if self._sources is not None and self._sources.path is not None:
            return self._sources.path
        return Path(os.environ.get(WORKER_ROOT_VAR) or self.root)

    def pipeline(self, key: str, loader: Any, reload: bool = False) -> Any:
        """The pipeline loaded from this worker's checkout by ``loader(root)``, once per build
        (``key``): a rebuild renders again, as a local build does (``reload``: now)."""
        cached = getattr(self, "_pipeline", None)
        if reload or cached is None or cached[0] != key:
            self._pipeline = (key, loader(self.worker_root()))
        return self._pipeline[1]

    def wait_ready(self) -> None:
        """Wait for the warm-up imports of :meth:`setup` (at most 300 s)."""
        if self._ready is not None:
            self._ready.wait(300)

    def enter(self) -> None:
        """In the thread that runs tasks, the first time: wait for the imports, open the pool
        (kernels forked from the template, the next one booted while a task runs)."""
        self._ready.wait(300)
        if getattr(self, "_deferred", False) and self.setup_error is None:
            self._deferred = False  # an own checkout: checked by the caller before this
            self._start_template()
        if self._pool is None and self.setup_error is None:
            from nbgov.adapters.kernels.pool import kernel_pool  # (jupyter_client: task threads only)

            self._pool = kernel_pool(ahead=True)
            self._pool.__enter__()


def run_warm(name: str, call: Any, guard: tuple[str, str, str] | None, plugin_name: str,
             named: tuple[str, Any] | None = None, expect: dict[str, Any] | None = None) -> tuple:
    """On a worker: check the source against the approved digest, then run the task in this
    process: ``call()`` (the driver's rendered task's ``_build``, see
    :class:`nbgov.adapters.ploomber.executor._TaskRun`), or, with ``named`` = (build key,
    loader), task ``name`` of the pipeline ``loader`` loads from this worker's own checkout
    (upstream products fetched from storage, its products uploaded there). ``expect`` (own
    checkouts): the build's commit, the digest of the spec and env file the driver rendered,
    each task's notebook as the driver loaded it, and the product paths (see
    :func:`own_checkout_refusal`).

    Returns ``(kind, payload, facts)``: the executor's result and where/when it ran."""
    started = time.time()
    worker = get_worker()
    plugin = worker.plugins.get(plugin_name)
    facts = {"worker": worker.address, "pid": os.getpid(), "started": started, "warm": plugin is not None}
    if named is not None and plugin is None:
        return ("failed", f"worker {worker.address} has not loaded {plugin_name} (restarted?): it cannot "
                          "build from its own checkout", facts)
    if plugin is not None and plugin.setup_error:
        return ("failed", f"worker {worker.address} could not start: {plugin.setup_error}", facts)
    pipeline = None
    if named is not None:
        # the pipeline load imports Ploomber: not while the warm-up thread imports it (a
        # circular import seen half-initialized from this thread)
        plugin.wait_ready()
        problem = plugin.fetch_sources(worker.address, named[0])
        if problem:
            return "failed", problem, facts
        refusal, pipeline = own_checkout_refusal(plugin, name, named, expect or {})
        if refusal:
            return ("failed", f"refused on worker {worker.address}: {refusal}; a worker runs only the reviewed "
                              "content", facts)
    if guard is not None:
        absolute, rel, approved = guard
        path = str(plugin.worker_root() / rel) if named is not None else absolute
        actual = file_digest(path) if Path(path).is_file() else None
        if actual != approved:
            why = "is missing" if actual is None else f"has digest {actual[:12]}"
            return ("failed", f"refused on worker {worker.address}: the source {path} {why}, the build's gate "
                              f"approved {approved[:12]}; a worker runs only the reviewed content", facts)
    if plugin is not None:
        plugin.enter()
        if plugin.setup_error:
            return ("failed", f"worker {worker.address} could not start: {plugin.setup_error}", facts)
    if pipeline is not None:
        call = pipeline.task_run(name, functools.partial(_fence, worker))  # downloads the upstream
        stale = _differing(pipeline, plugin.worker_root(), (expect or {}).get("upstream") or {})
        if stale:
            return ("failed", f"refused on worker {worker.address}: the stored upstream product(s) {stale} differ "
                              "from the ones the build's driver holds and recorded (overwritten by another writer, "
                              "an orphaned task of an earlier build?)", facts)
    facts["entered"] = time.time()
    kind, payload = call()
    if pipeline is not None and kind == "ok":
        facts["products"] = pipeline.product_digests(name)  # what it uploaded: the driver compares
    return kind, payload, facts


def _fence(worker: Any) -> None:
    """Before a task uploads its products (in the task's thread): refuse when the build that
    submitted it is gone; Dask releases a disconnected client's tasks, a running one turns
    ``cancelled`` on its worker (an orphaned task must not overwrite a newer build's products)."""
    from distributed.worker import thread_state  # (distributed: imported by this module already)

    key = getattr(thread_state, "key", None)
    state = worker.state.tasks.get(key) if key is not None else None
    if key is not None and (state is None or state.state in ("cancelled", "released", "forgotten")):
        raise RuntimeError(f"task {key} was cancelled (the build that submitted it is gone): its products are "
                           "not uploaded")


def _differing(pipeline: Any, root: Path, expected: dict[str, str]) -> str:
    """The files (relative to ``root``) whose digest here is not ``expected``'s, comma-joined."""
    bad = [rel for rel, digest in expected.items()
           if digest is not None and (file_digest(root / rel) if (root / rel).is_file() else None) != digest]
    return ", ".join(sorted(bad))


def own_checkout_refusal(plugin: WarmWorker, name: str, named: tuple[str, Any],
                         expect: dict[str, Any]) -> tuple[str | None, Any]:
    """(why task ``name`` must not run from this worker's own checkout, the pipeline loaded
    there). Checked before every task (:func:`checkout_problem`: the commit's tree against
    the files, ~10 ms) and after the load: the checkout
    is the build's commit with nothing changed; the pipeline was rendered from the spec and env
    file the driver rendered (else loaded again: a change after an earlier load); the notebook
    Ploomber read for this task (the content it will execute, not the file as it is now) is the
    one the driver read."""
    root = plugin.worker_root()
    products = tuple(expect.get("products", ()))
    problem = checkout_problem(root, expect.get("commit"), products)
    if problem:
        return problem, None
    pipeline = plugin.pipeline(named[0], named[1])
    if pipeline.spec_digest != expect.get("spec"):
        pipeline = plugin.pipeline(named[0], named[1], reload=True)
        if pipeline.spec_digest != expect.get("spec"):
            return (f"its pipeline spec / env file ({pipeline.spec_path.name}) differ from the ones the driver "
                    "rendered (uncommitted changes on the driver?)"), None
    loaded, approved = pipeline.loaded_digest(name), (expect.get("loaded") or {}).get(name)
    if str(loaded).startswith("hot-reload:"):
        return f"task {name}'s notebook is read again when it runs (Ploomber's hot_reload): turn it off", None
    if loaded != approved:
        return (f"task {name}'s notebook as loaded here has digest {str(loaded)[:19]}, the driver's "
                f"{str(approved)[:19]} (changed in its checkout?)"), None
    problem = checkout_problem(root, expect.get("commit"), products)  # changed while it loaded
    return problem, (None if problem else pipeline)


class DaskEngine:
    """The executor's engine on a Dask cluster (see
    :class:`nbgov.adapters.ploomber.executor.Engine`): each task's ``_build`` is submitted to
    the cluster (no retries: the executor records a worker lost mid-task as a failed run)."""

    def __init__(self, client: Any, jobs: int, plugin_name: str, infos: dict[str, Any] | None = None,
                 guards: dict[str, tuple[str, str, str]] | None = None, loader: Any = None,
                 fetch: Any = None, commit: str | None = None, check: Any = None) -> None:
        self.client = client
        #: ``check(infos)`` after the gate, before any task is submitted (raises NbgovError)
        self.check = check
        self.commit = commit  # the build's git commit (workers with checkouts of their own must be at it)
        #: workers with checkouts of their own: each loads the pipeline with ``loader(root)``
        #: and the driver replaces its copy of a task's products with the stored ones (``fetch``)
        self.loader = loader
        self.fetch = fetch
        self.jobs = max(1, jobs)
        self.plugin_name = plugin_name
        self.infos = infos
        self.guards = guards or {}
        self.expect: dict[str, Any] = {}
        #: own checkouts: a task's File products here (path -> digest) and each task's upstream
        self.digests: Any = None
        self.upstream: dict[str, list[str]] = {}
        self.facts: dict[str, dict[str, Any]] = {}  # task -> where and when it ran
        self._token = uuid.uuid4().hex[:8]
        self._futures: list[Any] = []

    def approve(self, guards: dict[str, tuple[str, str, str]], infos: dict[str, Any],
                expect: dict[str, Any] | None = None) -> None:
        """After the gate: each task's source file and the digest the gate approved (checked
        on the worker before it runs), each task's ``TaskInfo`` (evidence capture) and, for
        workers with checkouts of their own, what they must have loaded (``expect``, see
        :func:`own_checkout_refusal`)."""
        if self.check is not None:
            self.check(list(infos.values()))
        self.guards = dict(guards)
        self.expect = {**(expect or {}), "commit": self.commit}
        # evidence capture writes to the driver's paths: not on a worker of its own
        self.infos = dict(infos) if self.loader is None else None

    def submit(self, name: str, call: Any) -> concurrent.futures.Future:
        """Submit one task; a concurrent.futures Future of the executor's ``(kind, payload)``."""
        out: concurrent.futures.Future = concurrent.futures.Future()
        submitted = time.time()
        named = (self._token, self.loader) if self.loader is not None else None
        expect = None
        if named is not None:
            # the upstream products as this driver holds them (downloaded when they ended, the
            # lineage's digests): the worker compares what it downloads (a late overwrite)
            ups = self.upstream.get(name, []) if self.digests else []
            expect = {**self.expect, "upstream": {rel: d for up in ups for rel, d in self.digests(up).items()}}
        future = self.client.submit(run_warm, name, None if named else call, self.guards.get(name),
                                    self.plugin_name, named, expect,
                                    key=f"nbgov-{name}-{self._token}", pure=False, retries=0)
        self._futures.append(future)

        def done(f: Any) -> None:
            try:
                kind, payload, facts = f.result()
            except BaseException as exc:  # noqa: BLE001 - lost worker, cancelled: the executor records it
                if not out.done():
                    out.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
                return
            self.facts[name] = {**facts, "submitted": submitted, "ended": time.time()}
            if self.fetch is not None and kind == "ok":
                try:  # the lineage digests are the stored objects' (downloaded here)
                    self.fetch(name)
                    made = facts.get("products") or {}
                    here = self.digests(name) if self.digests else made
                    changed = sorted(rel for rel, digest in made.items() if here.get(rel) != digest)
                    if changed:  # overwritten between its upload and this download
                        kind, payload = "failed", (f"its product(s) {', '.join(changed)} in storage differ from the "
                                                   "ones its worker made and uploaded (overwritten by another "
                                                   "writer, an orphaned task of an earlier build?)")
                except Exception as exc:  # noqa: BLE001 - storage unreachable: the task's products are not here
                    kind, payload = "failed", f"its products could not be fetched from storage: {exc}"[:500]
            if not out.done():
                out.set_result((kind, payload))

        future.add_done_callback(done)
        return out

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        """Cancel what did not run (the client stays the caller's)."""
        if cancel_futures:
            with contextlib.suppress(Exception):
                self.client.cancel([f for f in self._futures if not f.done()])

    def kill(self) -> None:
        """The build was interrupted: cancel what is left on the cluster."""
        self.shutdown(cancel_futures=True)


def worker_threads(client: Any) -> int:
    """Tasks the cluster runs at once (the sum of its workers' threads)."""
    workers = client.scheduler_info().get("workers", {})
    return sum(int(w.get("nthreads", 1)) for w in workers.values()) or 1


def check_workers(client: Any, root: str, fetching: bool = False) -> tuple[list[str], list[str], list[str]]:
    """(refusals, reasons to run cold, workers with a checkout of their own), one line each
    (``fetching``: workers without a checkout of their own fetch the build's commit)."""
    driver = environment_facts(root)
    refusals, cold, own = [], [], []
    for address, facts in sorted(client.run(functools.partial(environment_facts, fetching=fetching), root).items()):
        refuse, why = compare(driver, facts)
        mine = (f"worker {address}: fetches the build's commit" if facts.get("fetch")
                else f"worker {address}: its checkout is {facts['root']}")
        if refuse:
            refusals.append(f"worker {address} {refuse}")
        elif why:
            cold.append(f"worker {address}: {why}")
            if not shares_folder(driver, facts):  # (its runs: see services.build.cluster)
                own.append(mine)
        elif not shares_folder(driver, facts) and not driver["commit"]:
            refusals.append(f"worker {address} has a checkout of its own ({facts['root']}) and the build's "
                            "project is not a git commit: nothing says the two hold the same files")
        elif not shares_folder(driver, facts):
            own.append(mine)
    return refusals, cold, own

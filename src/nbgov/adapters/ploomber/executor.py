"""Running a rendered Ploomber DAG with nbgov's one governed executor.

One scheduling loop (as Kedro's runner): in topological order, a task whose upstream is done
is decided (content check, else Ploomber's own status), announced to an observer
(``task_started``), run on an engine (this process, or a pool of forked processes for
``-j N``), and reported back (``task_finished``) in *this* process as soon as it ends: that is
where nbgov records as it goes. The loop waits for the first finished task instead of
polling (Ploomber's own Parallel executor spins a core while it waits).

Ploomber's contract for executors is kept: task statuses and product metadata are updated in
the main process (``exec_status``, ``metadata.update_locally``) and a failure ends the build
with ``DAGBuildError``, so DAG-level hooks still run.

The loading side (spec, tasks as plain data) lives in :mod:`nbgov.adapters.ploomber.pipeline`.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from nbgov.adapters.kernels.pool import kernel_pool
from nbgov.adapters.ploomber.outcomes import (
    INPUTS_UNCHANGED,
    BuildResult,
    ContentCheck,
    TaskOutcome,
    build_wrapper,
    task_error,
)
from nbgov.adapters.ploomber.outcomes import quiet as _quiet
from nbgov.core import interrupts

#: Outcomes a task can have in a build.
OUTCOMES = ("ran", "skipped", "failed", "not-run", "stopped", "killed")


class TaskObserver(Protocol):
    """Told, in the main process, when each task starts and ends (see
    :class:`nbgov.services.recording.recorder.Recorder`)."""

    def task_started(self, name: str) -> None:
        """The task is about to run."""

    def task_finished(self, name: str, outcome: str, error: str | None = None) -> None:
        """The task ended: ``ran``, ``failed``, ``stopped`` (DAGBuildEarlyStop) or ``killed``."""


class _TaskRun:
    """A picklable call that builds one task wherever it runs and never raises: it returns
    ``("ok", (report, meta))``, ``("failed", traceback text)`` or ``("stopped", traceback text)``.

    ``evidence_info``: for a task run on another machine's process (an engine's worker), the
    task's ``TaskInfo``: the evidence capture the build set up here is set up there too."""

    def __init__(self, task: Any, evidence_info: Any = None) -> None:
        self.task = task
        self.evidence_info = evidence_info

    def __call__(self) -> tuple[str, Any]:
        from ploomber.exceptions import DAGBuildEarlyStop
        from ploomber.executors import _format

        if self.evidence_info is not None:
            from nbgov.adapters.ploomber import evidence  # (imports papermill's wrappers: workers only)

            evidence.install()
            wrapper = evidence.capturing(self.evidence_info)
        else:
            wrapper = build_wrapper(self.task)
        try:
            # Ploomber's chatter is silenced; the task's own on_finish / on_failure hooks print
            # where the build prints (the terminal; nothing with --json or -q), as under
            # `ploomber build`
            with wrapper, _hooks_print_to(self.task, sys.stdout), _quiet():
                report, meta = self.task._build(catch_exceptions=True)
            return "ok", (report, meta)
        except (KeyboardInterrupt, SystemExit):
            raise
        except DAGBuildEarlyStop as exc:
            return "stopped", _format.exception(exc)
        except BaseException as exc:  # TaskBuildError is a BaseException
            return "failed", _format.exception(exc)


@contextlib.contextmanager
def _hooks_print_to(task: Any, out: Any) -> Iterator[None]:
    """Within the block, ``task``'s on_finish and on_failure hooks run with ``out`` as standard
    output (instance attributes over Ploomber's methods, removed after)."""
    def printing(run: Callable[[], Any]) -> Callable[[], Any]:
        def call() -> Any:
            with contextlib.redirect_stdout(out):
                return run()
        return call

    names = [n for n in ("_run_on_finish", "_run_on_failure") if n not in vars(task)]
    for name in names:
        setattr(task, name, printing(getattr(task, name)))
    try:
        yield
    finally:
        for name in names:
            vars(task).pop(name, None)


def _serial_run(task: Any) -> tuple[str, Any]:
    """Build in this process, except Python functions, which get a forked process of their own
    (as Ploomber's Serial does): the memory they fill is freed when they end."""
    if callable(getattr(task.source, "primitive", None)):
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("fork")) as pool:
            return pool.submit(_TaskRun(task)).result()
    return _TaskRun(task)()


def _executor_base() -> type:
    from ploomber.executors.abc import Executor

    return Executor


class Engine(Protocol):
    """Where tasks run when they do not run in this process (``-j N``: forked processes; a Dask
    cluster: :class:`nbgov.adapters.engines.dask.DaskEngine`). The loop stays here."""

    #: tasks the engine runs at once
    jobs: int
    #: task name -> its ``TaskInfo`` (evidence capture on the worker), or None
    infos: dict[str, Any] | None

    def submit(self, name: str, call: Any) -> Any:
        """Run ``call()`` (a picklable :class:`_TaskRun`) somewhere; a concurrent.futures Future
        of its result."""

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        """No more tasks (cancel those not started when ``cancel_futures``)."""


class _ForkEngine:
    """``-j N`` on this machine: a pool of processes forked from this one (they inherit the
    loaded pipeline, the kernel template's address and the evidence capture)."""

    infos = None

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self._pool = _fork_pool(jobs)

    def submit(self, name: str, call: Any) -> Any:
        return self._pool.submit(call)

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    def kill(self) -> None:
        _kill_pool(self._pool)


class GovernedExecutor(_executor_base()):
    """nbgov's Ploomber executor (a Ploomber ``Executor``: ``dag.executor = GovernedExecutor()``).

    Args:
        jobs: tasks run at once (1: in this process, in order).
        content_check: per-task content verdict (see :data:`ContentCheck`); None: Ploomber's
            rules only.
        select: task names to consider; the others are left alone (None: all).
        observer: told when each task starts and ends (main process).
        engine: where tasks run (an :class:`Engine`, e.g. a Dask cluster; its ``jobs`` replace
            ``jobs``); None: here (``jobs`` 1) or forked processes (``jobs`` > 1).
    """

    def __init__(self, jobs: int = 1, content_check: ContentCheck | None = None,
                 select: list[str] | None = None, observer: TaskObserver | None = None,
                 engine: Engine | None = None) -> None:
        self.engine = engine
        self.jobs = max(1, int(engine.jobs if engine is not None else (jobs or 1)))
        self.content_check = content_check
        self.select = set(select) if select is not None else None
        self.observer = observer
        self.outcomes: dict[str, str] = {}
        self.errors: dict[str, str | None] = {}
        #: why a task was skipped although Ploomber called it outdated (INPUTS_UNCHANGED)
        self.reasons: dict[str, str] = {}
        #: the tasks Ploomber called outdated when the build started (marking a task skipped
        #: for its content makes Ploomber call its downstream current, which it would run)
        self.outdated: set[str] = set()
        self.reports: list = []

    def __getstate__(self) -> dict:
        # a DAG pickled into a worker carries its executor: the observer (threads, locks) and
        # the content check (a closure) stay in the main process
        state = self.__dict__.copy()
        state.update(observer=None, content_check=None, reports=[], engine=None)
        return state

    def __call__(self, dag: Any, show_progress: bool = False) -> list:
        # kernels fork from the warm template (forked -j workers too: they start inside the
        # block); in-process notebook tasks also boot each kernel while the task before runs
        if self.engine is not None:  # the engine's workers keep warm kernels of their own
            return self._run(dag, show_progress)
        with kernel_pool(ahead=self.jobs == 1):
            return self._run(dag, show_progress)

    def _run(self, dag: Any, show_progress: bool) -> list:
        from ploomber.constants import TaskStatus
        from ploomber.exceptions import DAGBuildError

        names = list(dag)  # topological order
        self.outdated = {n for n in names if dag[n].exec_status != TaskStatus.Skipped}
        decided: dict[str, str] = {}
        if self.select is not None:
            for name in names:
                if name not in self.select:
                    decided[name] = "unselected"
                    if dag[name].exec_status != TaskStatus.Skipped:
                        dag[name].exec_status = TaskStatus.Skipped
        ran: set[str] = set()
        failures: list[str] = []
        bar = _Bar(show_progress, len(names) - len(decided))
        running: dict[Any, str] = {}
        pool = None
        try:
            while True:
                for name in names:
                    if name in decided or name in running.values():
                        continue
                    task = dag[name]
                    ups = list(task.upstream)
                    if any(decided.get(u) in ("failed", "not-run", "stopped", "killed") for u in ups):
                        decided[name] = "not-run"
                        bar.step(name)
                        continue
                    if not all(decided.get(u) in ("ran", "skipped", "unselected") for u in ups):
                        continue  # an upstream is still running or undecided
                    if task.exec_status == TaskStatus.Aborted:
                        decided[name] = "not-run"
                        bar.step(name)
                        continue
                    if not self._should_run(task, ran):
                        decided[name] = "skipped"
                        bar.step(name)
                        continue
                    if len(running) >= self.jobs:
                        break
                    interrupts.check()  # a Ctrl-C swallowed on its way stops the build here
                    task.exec_status = TaskStatus.WaitingExecution
                    bar.label(name)
                    if self.observer:
                        self.observer.task_started(name)
                    if self.jobs == 1 and self.engine is None:
                        result = _serial_run(task)
                        self._finish(task, result, decided, ran, failures, bar)
                        break  # statuses changed: look again from the top
                    pool = pool or self.engine or _ForkEngine(self.jobs)
                    infos = getattr(pool, "infos", None) or {}
                    running[pool.submit(name, _TaskRun(task, infos.get(name)))] = name
                else:
                    if not running:
                        break
                if running:
                    from concurrent.futures import FIRST_COMPLETED, wait

                    finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for future in finished:
                        name = running.pop(future)
                        try:
                            result = future.result()
                        except Exception as exc:  # a worker died (BrokenProcessPool, KilledWorker), or other
                            result = ("failed", engine_error(exc))
                        self._finish(dag[name], result, decided, ran, failures, bar)
                elif all(n in decided for n in names):
                    break
        except BaseException:
            # Ctrl-C, SIGTERM or a crash of the loop itself: whatever was running was killed
            for name in list(running.values()):
                decided[name] = "killed"
                if self.observer:
                    self.observer.task_finished(name, "killed", "interrupted")
            if pool is not None and hasattr(pool, "kill"):
                pool.kill()
            raise
        finally:
            bar.close()
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self.outcomes = {n: ("skipped" if decided.get(n) == "unselected" else decided.get(n, "not-run"))
                         for n in names if self.select is None or n in self.select}
        for name, outcome in self.outcomes.items():
            if outcome in ("skipped",) and dag[name].exec_status != TaskStatus.Skipped:
                dag[name].exec_status = TaskStatus.Skipped
        if failures:
            raise DAGBuildError("\n".join(failures))
        return list(self.reports)

    def _should_run(self, task: Any, ran: set[str]) -> bool:
        """Content first (same notebook, params and input digests: skip), then Ploomber's
        status; a task whose upstream ran in this build for content reasons runs too."""
        from ploomber.constants import TaskStatus

        status = task.exec_status
        fresh = self.content_check(task.name, ran) if self.content_check else None
        if fresh is None and status == TaskStatus.Skipped and ran & set(task.upstream):
            fresh = False
        if fresh is True or (fresh is None and status == TaskStatus.Skipped):
            ups = set(task.upstream)
            if fresh is True and (status != TaskStatus.Skipped or task.name in self.outdated
                                  or ran & ups or ups & set(self.reasons)):
                # Ploomber would run it (now, or on its next build: an upstream is newer, or
                # was itself skipped for this reason): say why it did not, a surprise to a
                # Ploomber user
                self.reasons[task.name] = INPUTS_UNCHANGED
            if status != TaskStatus.Skipped:
                _mark_up_to_date(task)
                task.exec_status = TaskStatus.Skipped
            return False
        return True

    def _finish(self, task: Any, result: tuple[str, Any], decided: dict[str, str], ran: set[str],
                failures: list[str], bar: _Bar) -> None:
        from ploomber.constants import TaskStatus

        kind, payload = result
        name = task.name
        error = None
        if kind == "ok":
            report, meta = payload
            self.reports.append(report)
            task.product.metadata.update_locally(meta)
            task.exec_status = TaskStatus.Executed
            decided[name] = "ran"
            ran.add(name)
        else:
            # the task's on_finish (or the function) asked the pipeline to stop: not an error
            decided[name] = "stopped" if kind == "stopped" else "failed"
            task.exec_status = TaskStatus.Errored
            error = task_error(str(payload), name) or _last_line(payload)
            if kind == "failed":
                failures.append(f'Error building task "{name}"\n{payload}')
        self.errors[name] = error
        bar.step(name)
        if self.observer:
            self.observer.task_finished(name, decided[name], error)


def _last_line(text: str) -> str | None:
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return lines[-1][:500] if lines else None


def _fork_pool(jobs: int) -> Any:
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    return ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("fork"))


def _kill_pool(pool: Any) -> None:
    """End a pool's workers now (their kernels are in their own sessions: the papermill engine
    in each worker shuts them down when the worker's task is interrupted)."""
    for process in list(getattr(pool, "_processes", {}).values()):
        with contextlib.suppress(Exception):
            process.terminate()


class _Bar:
    """A task progress bar, created only when a task runs (a no-op build prints nothing)."""

    def __init__(self, show: bool, total: int) -> None:
        # a bar redraws its line: only into a terminal, never into a log file or a pipe
        # (docs/reference/cli.md, Conventions; the build's other output is kept)
        show = show and bool(getattr(sys.stderr, "isatty", lambda: False)())
        self.show, self.total, self._bar = show, total, None
        self._done = 0

    def label(self, name: str) -> None:
        if not self.show:
            return
        if self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total)
            self._bar.update(self._done)
        self._bar.set_description(f"Task {name!r}")

    def step(self, name: str) -> None:
        self._done += 1
        if self._bar is not None:
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def build_dag(dag: Any, *, force: bool = False, select: list[str] | None = None, jobs: int | None = None,
              progress: bool = True, content_check: ContentCheck | None = None,
              observer: TaskObserver | None = None, engine: Engine | None = None) -> BuildResult:
    """Run the pipeline (or the ``select``-ed tasks) with :class:`GovernedExecutor` and report
    each task's outcome; the observer hears of every task as it starts and ends.

    ``content_check`` overrides Ploomber's timestamp rules per task, asked just before the
    task's turn (serial and parallel builds alike); ``force`` runs everything selected;
    ``engine``: where the tasks run (see :class:`Engine`), when not here.
    """
    from ploomber.exceptions import DAGBuildEarlyStop, DAGBuildError

    executor = GovernedExecutor(jobs or 1, None if force else content_check, select, observer, engine)
    dag.executor = executor
    failed = False
    try:
        with _quiet(keep_progress=progress):
            dag.build(force=force, show_progress=progress)
    except DAGBuildError:
        failed = True
    except DAGBuildEarlyStop:
        pass
    names = [n for n in dag if select is None or n in select]
    outcomes = [TaskOutcome(n, executor.outcomes.get(n, "not-run"), executor.errors.get(n),
                            executor.reasons.get(n) if executor.outcomes.get(n) == "skipped" else None)
                for n in names]
    failed = failed or any(o.outcome == "failed" for o in outcomes)
    return BuildResult(outcomes, failed)


@contextlib.contextmanager
def governed(dag: Any, observer: TaskObserver | None, jobs: int = 1) -> Iterator[GovernedExecutor]:
    """Give a DAG about to be built by ``ploomber build`` nbgov's executor (used by the hooks:
    ``on_render`` swaps the executor, so ``ploomber build`` records as it goes too)."""
    executor = GovernedExecutor(jobs, None, None, observer)
    previous, dag.executor = dag.executor, executor
    try:
        yield executor
    finally:
        dag.executor = previous


def executor_jobs(dag: Any) -> int:
    """The parallelism a DAG's own executor asks for (``executor: parallel`` in pipeline.yaml)."""
    from ploomber.executors import Parallel

    executor = getattr(dag, "executor", None)
    if isinstance(executor, Parallel):
        return max(1, int(getattr(executor, "processes", 0) or 2))
    return 1


def _mark_up_to_date(task: Any) -> None:
    """Tell Ploomber a task skipped for unchanged content is current, as a run would
    (its product metadata gets the current source, params and time)."""
    task.product.metadata.update(source_code=str(task.source),
                                 params=task.params.to_json_serializable(params_only=True))


#: exceptions that mean the process running the task is gone (process pool, Dask)
_DIED = ("BrokenProcessPool", "KilledWorker")


def engine_error(exc: BaseException) -> str:
    """What happened to a task whose engine raised instead of returning its outcome, in words
    that fit: its worker process died, it was cancelled, or the error it raised there."""
    name = type(exc).__name__
    if name in _DIED:
        return f"{name}: worker process died: {exc}"
    if name in ("CancelledError", "FutureCancelledError"):
        return f"{name}: the task was cancelled on the cluster before it ended (its client or scheduler went away?)"
    return f"{name}: {exc} (raised while running the task on its worker)"


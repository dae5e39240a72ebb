"""Running a rendered Ploomber DAG: executors, task outcomes, content-aware skipping.

The loading side (spec, tasks as plain data) lives in :mod:`nbgov.adapters.ploomber.pipeline`.
"""

from __future__ import annotations

from typing import Any

from nbgov.adapters.kernels.pool import kernel_pool
from nbgov.adapters.ploomber.pipeline import (
    BuildResult,
    ContentCheck,
    TaskOutcome,
    _quiet,
    dag_outcomes,
    task_error,
)


def build_dag(dag: Any, *, force: bool = False, select: list[str] | None = None, jobs: int | None = None,
              progress: bool = True, content_check: ContentCheck | None = None) -> BuildResult:
    """Run the pipeline (or the ``select``-ed tasks, in order) and report each task's outcome.

    ``content_check`` (serial builds) overrides Ploomber's timestamp rules per task, asked
    just before the task's turn: see :data:`ContentCheck`.
    """
    from ploomber.executors import Parallel, Serial

    if jobs and jobs > 1:
        # progress is the task bar (show_progress); Ploomber's print_progress would print
        # "Remaining: ... / Finished N out of M" to stdout at every poll, with screen clears
        dag.executor = Parallel(processes=jobs, print_progress=False)
    elif content_check is not None and not force:
        dag.executor = _content_aware_serial(content_check)
    else:
        # one process per task keeps a crashing kernel from taking the build down
        dag.executor = Serial(build_in_subprocess=True, catch_exceptions=True, catch_warnings=False)
    # kernels fork from the warm template (parallel workers too: they are forked inside the
    # block); serial builds run notebook tasks in this process, so each task's kernel also boots
    # while the task before it runs (see nbgov.adapters.kernels.pool)
    with kernel_pool(ahead=not (jobs and jobs > 1)):
        if select is None:
            return _build_all(dag, force, progress)
        return _build_selected(dag, select, force, progress, None if force else content_check)

def _build_all(dag: Any, force: bool, progress: bool) -> BuildResult:
    from ploomber.exceptions import DAGBuildError

    failed, message = False, ""
    try:
        with _quiet(keep_progress=progress):
            dag.build(force=force, show_progress=progress)
    except DAGBuildError as exc:
        failed, message = True, str(exc)
    outcomes = dag_outcomes(dag)
    return BuildResult([TaskOutcome(name, outcomes[name],
                                    task_error(message, name) if outcomes[name] == "failed" else None)
                        for name in dag], failed)

def _build_selected(dag: Any, select: list[str], force: bool, progress: bool,
                    content_check: ContentCheck | None = None) -> BuildResult:
    from ploomber.exceptions import DAGBuildError

    result = BuildResult()
    ran: set[str] = set()
    for name in dag:
        if name not in select:
            continue
        if result.failed:
            result.outcomes.append(TaskOutcome(name, "not-run"))
            continue
        fresh = content_check(name, ran) if content_check else None
        if fresh is True:
            _mark_up_to_date(dag[name])
            result.outcomes.append(TaskOutcome(name, "skipped"))
            continue
        try:
            with _quiet(keep_progress=progress):
                report = dag.build_partially(name, force=force or fresh is False,
                                                   show_progress=progress, skip_upstream=True)
        except DAGBuildError as exc:
            result.failed = True
            result.outcomes.append(TaskOutcome(name, "failed", task_error(str(exc), name)))
            continue
        columns = report.to_dict()  # column -> list of values, one per task
        names, ran_flags = columns.get("name", []), columns.get("Ran?", [])
        did_run = any(n == name and r for n, r in zip(names, ran_flags, strict=False))
        result.outcomes.append(TaskOutcome(name, "ran" if did_run else "skipped"))
        if did_run:
            ran.add(name)
    return result


# -- content-aware builds ------------------------------------------------------------------
def _mark_up_to_date(task: Any) -> None:
    """Tell Ploomber a task skipped for unchanged content is current, as a run would
    (its product metadata gets the current source, params and time)."""
    task.product.metadata.update(source_code=str(task.source),
                                 params=task.params.to_json_serializable(params_only=True))


def _content_aware_serial(check: ContentCheck) -> Any:
    """Ploomber's Serial executor, asking ``check`` just before each task's turn.

    Asking late matters: when an upstream task re-ran and wrote the same bytes, its downstream
    is fresh; only after the upstream ran can that be known.
    """
    from ploomber.constants import TaskStatus
    from ploomber.exceptions import DAGBuildError
    from ploomber.executors import Serial
    from ploomber.executors.abc import Executor
    from ploomber.executors.serial import LazyFunction, build_in_subprocess, catch_exceptions
    from ploomber.messagecollector import BuildExceptionsCollector
    from tqdm.auto import tqdm

    waiting = {TaskStatus.WaitingExecution, TaskStatus.WaitingUpstream}

    class ContentAwareSerial(Serial):
        def __call__(self, dag, show_progress):
            Executor.__call__(self, dag)
            exceptions_all, reports, ran = BuildExceptionsCollector(), [], set()
            names = list(dag)  # topological order
            bar = tqdm(total=len(names)) if show_progress else None
            for name in names:
                task = dag[name]
                if bar is not None:
                    bar.set_description(f"Task {name!r}")
                    bar.update(1)
                status = task.exec_status
                if status not in waiting and status != TaskStatus.Skipped:
                    continue  # aborted because an upstream failed
                fresh = check(name, ran)
                if fresh is None and status == TaskStatus.Skipped and ran & set(task.upstream):
                    fresh = False  # an upstream re-ran for content reasons Ploomber did not see
                if fresh is True or (fresh is None and status == TaskStatus.Skipped):
                    if status != TaskStatus.Skipped:
                        _mark_up_to_date(task)
                        task.exec_status = TaskStatus.Skipped
                    continue
                task.exec_status = TaskStatus.WaitingExecution
                kwargs = {"task": task, "build_kwargs": {"catch_exceptions": True},
                          "reports_all": reports}
                catch_exceptions(LazyFunction(build_in_subprocess, kwargs, task), exceptions_all)
                if task.exec_status == TaskStatus.Executed:
                    ran.add(name)
            if bar is not None:
                bar.close()
            if exceptions_all:
                raise DAGBuildError(str(exceptions_all))
            return reports

    return ContentAwareSerial(build_in_subprocess=True, catch_exceptions=True, catch_warnings=False)

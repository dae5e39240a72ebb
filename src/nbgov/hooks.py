"""Ploomber DAG hooks, so that a plain ``ploomber build`` records what ``nbgov build`` records.

Declare them at the top level of pipeline.yaml::

    on_render: nbgov.hooks.on_render
    on_finish: nbgov.hooks.on_finish
    on_failure: nbgov.hooks.on_failure

``on_render`` (when the DAG is about to be built, not for ``ploomber status`` or ``plot``)
applies the approval gate of the active environment, takes the project's build lock, sends
what earlier builds left in the journal, opens the build's run and gives the DAG nbgov's
executor, so each task is recorded as it ends (journal first, then the store), exactly as
under ``nbgov build``. ``on_finish`` / ``on_failure`` close the build. ``nbgov build``
switches these hooks off and records through the same service itself.
"""

from __future__ import annotations

import logging
import os
import sys

from nbgov.adapters.engines.checkout import drop_bytecode_beside, private_bytecode
from nbgov.adapters.kernels.template import start_for_project, stop_template
from nbgov.adapters.notebooks import read_notebook
from nbgov.adapters.ploomber import describe_dag, rendering_for_build
from nbgov.adapters.ploomber.executor import GovernedExecutor, executor_jobs
from nbgov.core.config import load_config
from nbgov.core.errors import Location, NbgovError, PipelineError, without_credentials
from nbgov.core.identity import injected_cells
from nbgov.core.localfiles import ignore_in_project
from nbgov.core.lock import build_lock
from nbgov.core.params import check_task_param_names
from nbgov.services.build.gate import loaded_closure
from nbgov.services.build.run import capture_evidence
from nbgov.services.pipeline.data import plain_env_values
from nbgov.services.pipeline.plan import write_plan
from nbgov.services.recording.recorder import Recorder
from nbgov.services.recording.sync import sync_journals
from nbgov.services.review.state import gate_required, require_approved

log = logging.getLogger(__name__)

# one build per DAG object in this process: opened at render, closed at finish/failure
_builds: dict[int, tuple[Recorder, object]] = {}


def on_render(dag) -> None:
    """Gate, lock, sync, open the build and install nbgov's executor (only when building)."""

    if not rendering_for_build():
        return
    try:
        tasks, root = describe_dag(dag)
        config = load_config(os.environ.get("NBGOV_PROJECT_ROOT") or root)

        refuse_unreviewable_code(config, tasks)
        if gate_required(config):
            # as `nbgov build` does (R4): this process, the kernel template and kernels keep
            # bytecode outside the project (what Ploomber imported to render ran before this hook)
            private_bytecode(config.root)
            would_run = [t for t in tasks if t.outdated]
            sources = [t.source_file for t in would_run if t.source_file]
            if sources:  # the review closure of what would run, as `nbgov build` gates it
                targets = loaded_closure(config, would_run) or sources
                require_approved(config, targets)
                drop_bytecode_beside(config.root, targets)
        _close(dag, "KILLED")  # a DAG rendered again before its last build closed

        lock = build_lock(config.root)
        lock.acquire(wait=False, command="ploomber build")
        ignore_in_project(config.root)  # the journal, lineage and cache stay out of commits
        try:

            # warm kernels for ploomber build too (the executor forks them from the template)
            start_for_project(config.root, config.pipeline_path, config.section("execution").get("preload", True))
            report = sync_journals(config)
            if report.runs_sent or report.interrupted:
                print(f"nbgov: sent {report.runs_sent} run(s) of earlier builds"
                      + (f"; ended as KILLED: {', '.join(report.interrupted)}" if report.interrupted else ""),
                      file=sys.stderr)

            # Ploomber rendered env.yaml itself: its plain values (secret-named ones are known secrets)
            env = plain_env_values(config)
            write_plan(config, tasks, env)  # status, the no-op build and the server read it
            recorder = Recorder(config, tasks, runner="ploomber build", env=env)
            recorder.open()
        except BaseException:
            lock.release()
            raise

        capture_evidence(tasks)
        dag.executor = GovernedExecutor(jobs=executor_jobs(dag), observer=recorder)
        _builds[id(dag)] = (recorder, lock)
    except NbgovError as exc:
        # a hook must not hide the cause in a Ploomber traceback: say it plainly, then fail
        print(f"nbgov: {exc}", file=sys.stderr)
        raise


def refuse_unreviewable_code(config, tasks) -> None:
    """What ``nbgov build`` refuses before anything runs, for ``ploomber build`` too: a parameter
    name that is not an identifier (papermill writes it as code) and a source notebook holding
    a cell tagged ``injected-parameters`` (papermill replaces only the first; others run)."""
    for task in tasks:
        check_task_param_names(task.name, task.params, where=Location(config.pipeline_path))
        if task.kind in ("notebook", "script") and task.source_file and task.source_file.is_file():
            cells = injected_cells(read_notebook(task.source_file))
            if cells:
                raise PipelineError(f"task {task.name!r}: source notebook holds a cell tagged "
                                    "'injected-parameters': its code would run unreviewed",
                                    Location(task.source_file, cell=cells[0]),
                                    hint="delete the cell (or `ploomber nb --remove`)")


def _close(dag, status: str) -> None:
    entry = _builds.pop(id(dag), None)
    if entry is None:
        return
    recorder, lock = entry

    try:
        report = recorder.close(status)
    finally:
        stop_template()
        lock.release()
    for name, rec in report.tasks.items():
        print(f"nbgov: recorded {name} ({rec.outcome}) as MLflow run {rec.run_id or '(pending)'}", file=sys.stderr)
    if report.pending:
        why = without_credentials(report.offline_reason or "tracking store unreachable")
        print(f"warning: {report.pending} run(s) kept locally in .nbgov/journal ({why}); `nbgov sync` sends them",
              file=sys.stderr)
    # (a model version a task registered got its lineage tags from the upload process)


def on_finish(dag) -> None:
    """Close the build: every task was recorded as it ended."""
    _close(dag, "FINISHED")


def on_failure(dag, traceback) -> None:
    """Close the build as failed (the failed tasks were recorded as they ended)."""
    _close(dag, "FAILED")

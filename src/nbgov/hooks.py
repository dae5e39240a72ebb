"""Ploomber DAG hooks, so that a plain ``ploomber build`` records what ``nbgov build`` records.

Declare them at the top level of pipeline.yaml::

    on_render: nbgov.hooks.on_render
    on_finish: nbgov.hooks.on_finish
    on_failure: nbgov.hooks.on_failure

``on_render`` applies the approval gate when the active environment requires it and prepares
the tracking store in the main process (before Ploomber's parallel workers start);
``on_finish`` / ``on_failure`` record every task that ran or failed. ``nbgov build`` switches
these hooks off and records through the same service itself.
"""

from __future__ import annotations

import logging
import os
import sys

from nbgov.adapters.ploomber import describe_dag
from nbgov.core.config import load_config
from nbgov.core.errors import NbgovError
from nbgov.services.tracking import BuildRecorder

log = logging.getLogger(__name__)

# one recorder per DAG object in this process: created at render, used at finish/failure
_recorders: dict[int, BuildRecorder] = {}


def _recorder(dag) -> BuildRecorder:
    key = id(dag)
    if key not in _recorders:
        tasks, root = describe_dag(dag)
        config = load_config(os.environ.get("NBGOV_PROJECT_ROOT") or root)
        _recorders[key] = BuildRecorder(config, tasks, runner="ploomber build")
    return _recorders[key]


def on_render(dag) -> None:
    """Apply the approval gate of the active environment (NBGOV_ENV or ``environment`` in
    nbgov.toml) to the tasks about to run, then prepare the tracking store and experiment (main
    process, before any task runs)."""
    from nbgov.adapters.ploomber import rendering_for_build

    try:
        recorder = _recorder(dag)
        if rendering_for_build():
            from nbgov.services.review import gate_required, require_approved

            if gate_required(recorder.config):
                require_approved(recorder.config, [t.source for t in recorder.tasks.values() if t.outdated])
        recorder.prepare()
    except NbgovError as exc:
        # a hook must not hide the cause in a Ploomber traceback: say it plainly, then fail
        print(f"nbgov: {exc}", file=sys.stderr)
        raise


def _record(dag, message: str = "") -> None:
    from nbgov.adapters.ploomber import dag_outcomes, task_error

    recorder = _recorder(dag)
    outcomes = dag_outcomes(dag)
    errors = {name: task_error(message, name) for name, o in outcomes.items() if o == "failed"}
    build = recorder.record(outcomes, errors=errors)
    for name, rec in build.tasks.items():
        print(f"nbgov: recorded {name} ({rec.outcome}) as MLflow run {rec.run_id}", file=sys.stderr)
    ran = [rec.run_id for rec in build.tasks.values() if rec.run_id and rec.outcome == "ran"]
    if ran:
        from nbgov.services.lineage import link_registered_models

        # as nbgov build does: a model version registered by a task gets its lineage tags
        link_registered_models(recorder.config, ran)
    _recorders.pop(id(dag), None)


def on_finish(dag) -> None:
    """Record every task of a successful build that ran."""
    _record(dag)


def on_failure(dag, traceback) -> None:
    """Record the tasks that ran and the ones that failed."""
    _record(dag, str((traceback or {}).get("build", "")))

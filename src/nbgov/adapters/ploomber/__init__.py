"""Ploomber behind one door (pinned 0.23.3, archived upstream; nothing else in nbgov imports it).

- :mod:`.pipeline`: load a pipeline.yaml (and its partial, env.{name}.yaml) into a rendered DAG.
- :mod:`.describe`: its tasks as plain data (:class:`TaskInfo`), of every kind.
- :mod:`.kinds`: a rendered task's kind (from its class), source file, function, client.
- :mod:`.sources`: task sources as written (files, dotted paths), checked before Ploomber.
- :mod:`.evidence`: nbgov's copy of the executed notebook of html/md/pdf notebook products.
- :mod:`.outcomes`: what a build reports (:class:`TaskOutcome`, :class:`BuildResult`), light.
- :mod:`.executor`: build a rendered DAG and report each task's outcome (:class:`TaskOutcome`).
"""

from nbgov.adapters.ploomber.describe import TaskInfo, describe_dag
from nbgov.adapters.ploomber.outcomes import BuildResult, ContentCheck, TaskOutcome, set_build_wrapper, task_error
from nbgov.adapters.ploomber.pipeline import Pipeline, dag_outcomes, parameters_cell_names, rendering_for_build
from nbgov.adapters.ploomber.sources import source_files

__all__ = [
    "BuildResult",
    "ContentCheck",
    "Pipeline",
    "TaskInfo",
    "TaskOutcome",
    "dag_outcomes",
    "describe_dag",
    "parameters_cell_names",
    "rendering_for_build",
    "set_build_wrapper",
    "source_files",
    "task_error",
]

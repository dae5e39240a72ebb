"""Ploomber behind one door (pinned 0.23.3, archived upstream; nothing else in nbgov imports it).

- :mod:`.pipeline`: load a pipeline.yaml and describe its tasks as plain data (:class:`TaskInfo`).
- :mod:`.executor`: build a rendered DAG and report each task's outcome (:class:`TaskOutcome`).
"""

from nbgov.adapters.ploomber.pipeline import (
    BuildResult,
    ContentCheck,
    Pipeline,
    TaskInfo,
    TaskOutcome,
    dag_outcomes,
    describe_dag,
    parameters_cell_names,
    rendering_for_build,
    task_error,
)

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
    "task_error",
]

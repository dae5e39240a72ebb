"""An Airflow 3 DAG file: one BashOperator per pipeline task, a setup / teardown pair around them.

The DAG run id is the build id, so a DAG run is one nbgov build (one MLflow parent run); the
teardown runs whatever happened to the tasks and ends that parent run (failed when a task run
failed). The file imports only Airflow: nbgov runs as a command on the worker.
"""

from __future__ import annotations

from nbgov.services.export.plan import ExportPlan, command_line, jinja_literal

SUFFIX = ".py"

#: Airflow's template for the DAG run id, rendered when each task runs (quoted: it holds ':' and '+').
BUILD_ID = "'{{ run_id }}'"

_HEADER = '''"""nbgov pipeline {name!r} as an Apache Airflow 3 DAG, written by `nbgov export airflow`.

Re-export after changing pipeline.yaml. One DAG run is one nbgov build: each task runs
`nbgov build TASK --build-id <run id>`, so MLflow shows one parent run (opened by the setup task,
ended by the teardown task) with one child run per pipeline task. `nbgov` must be on the
workers' PATH, with MLFLOW_TRACKING_URI pointing at the team's tracking server.{sources}
"""

from __future__ import annotations

import datetime

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

{project}

with DAG(
    dag_id={name!r},
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    tags=["nbgov"],
    default_args={{"retry_delay": datetime.timedelta(seconds={retry_delay})}},
) as dag:
    open_build = BashOperator(
        task_id="nbgov-open-build", bash_command={open_cmd!r}, cwd=PROJECT,
    ).as_setup()
    close_build = BashOperator(
        task_id="nbgov-close-build", bash_command={close_cmd!r}, cwd=PROJECT,
    ).as_teardown(setups=open_build)
'''


def render(plan: ExportPlan) -> str:
    """The DAG file's text."""
    # bash_command and cwd are templated fields: the user's text (task names, the environment,
    # the folder) is escaped so Airflow's Jinja renders it back as written; only the run id is
    # a template
    if plan.commit:
        # no shared folder: each task fetches the commit into a folder of its own (cwd: a temp dir)
        project = ("#: None: each task fetches the project by commit (--commit) into a folder of its own\n"
                   "PROJECT = None")
        sources = ("\nEach task fetches the project at the exported commit (git, read access to the repository)\n"
                   "and reads and writes products through the pipeline's File client: no shared volume.")
    else:
        project = ("#: the project folder on the workers (where pipeline.yaml and nbgov.toml are)\n"
                   f"PROJECT = {jinja_literal(plan.workdir or plan.project_root)!r}")
        sources = ""
    lines = [_HEADER.format(
        name=plan.name, project=project, sources=sources, retry_delay=plan.retry_delay_s,
        open_cmd=command_line(plan.open_command(), BUILD_ID, jinja_literal),
        close_cmd=command_line(plan.close_command(), BUILD_ID, jinja_literal),
    )]
    lines.append("    tasks = {}")
    for task in plan.tasks:
        command = command_line(plan.build_command(task.name), BUILD_ID, jinja_literal)
        lines.append(f"    tasks[{task.name!r}] = BashOperator(\n"
                     f"        task_id={task.name!r}, bash_command={command!r}, cwd=PROJECT, retries={task.retries},\n"
                     "    )")
    lines.append("    for task in tasks.values():")
    lines.append("        open_build >> task >> close_build")
    for up, down in plan.edges():
        lines.append(f"    tasks[{up!r}] >> tasks[{down!r}]")
    return "\n".join(lines) + "\n"

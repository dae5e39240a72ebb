"""A Kubeflow Pipelines (KFP v2) pipeline as Python: one container component per pipeline task.

The pipeline job id is the build id; the tasks run inside a ``dsl.ExitHandler`` whose exit task
ends the build's parent run, after an open-build task. Compile the file with the KFP SDK
(``pip install 'nbgov[kubeflow]'``; ``python FILE`` writes the IR YAML next to it).
"""

from nbgov.services.export.plan import BUILD_ID, ExportPlan, refuse_templates

SUFFIX = "_kfp.py"

# the generated module has no `from __future__ import annotations`: KFP reads the component
# functions' annotations as types, and a string "str" would be taken for an artifact type

_HEADER = '''"""nbgov pipeline {name!r} as a Kubeflow Pipelines v2 pipeline, written by `nbgov export kubeflow`.

One pipeline run is one nbgov build (build id = the KFP job id): one MLflow parent run, one child
run per task. `python THIS_FILE` compiles it to {name}.kfp.yaml (needs `pip install kfp`).
Steps fetch the project by the exported commit unless exported with --allow-local-products.
"""

import sys

from kfp import compiler, dsl

IMAGE = {image!r}
WORKDIR = {workdir!r}


def _step(argv: list) -> dsl.ContainerSpec:
    # the build id reaches the container as the job id placeholder KFP fills in at run time
{step}


@dsl.container_component
def nbgov_open_build(build_id: str):
    return _step({open_argv})


@dsl.container_component
def nbgov_close_build(build_id: str):
    return _step({close_argv})


@dsl.container_component
def nbgov_build(task: str, build_id: str):
    return _step({build_argv})


@dsl.pipeline(name={name!r}, description="nbgov pipeline: one run = one nbgov build")
def pipeline():
    build_id = dsl.PIPELINE_JOB_ID_PLACEHOLDER
    close = nbgov_close_build(build_id=build_id).set_display_name("nbgov-close-build")
    with dsl.ExitHandler(close, name="nbgov-build"):
        opened = nbgov_open_build(build_id=build_id).set_display_name("nbgov-open-build")
        tasks = {{}}
'''

_FOOTER = '''

if __name__ == "__main__":
    compiler.Compiler().compile(pipeline, sys.argv[1] if len(sys.argv) > 1 else {out!r})
'''


def _argv(argv: list[str], task_var: str | None = None) -> str:
    """Python source of an argv list: the build id and task become the component's inputs."""
    parts = []
    for index, arg in enumerate(argv):
        if arg == BUILD_ID:
            parts.append("build_id")
        elif task_var and index == 2:
            parts.append(task_var)
        else:
            parts.append(repr(arg))
    return "[" + ", ".join(parts) + "]"


def render(plan: ExportPlan) -> str:
    """The pipeline module's text."""
    refuse_templates(plan, "Kubeflow")
    build_argv = _argv(plan.build_command("TASK"), task_var="task")
    if plan.commit:  # each step fetches the project by commit into a folder of its own
        step = "    return dsl.ContainerSpec(image=IMAGE, command=argv[:1], args=argv[1:])"
    else:
        step = ("    return dsl.ContainerSpec(image=IMAGE, command=[\"sh\", \"-c\", 'cd \"$0\" && exec \"$@\"',"
                " WORKDIR], args=argv)")
    text = _HEADER.format(name=plan.name, image=plan.image, workdir=plan.workdir or "/project", step=step,
                          open_argv=_argv(plan.open_command()), close_argv=_argv(plan.close_command()),
                          build_argv=build_argv)
    lines = []
    for task in plan.tasks:
        var = f"tasks[{task.name!r}]"
        lines.append(f"        {var} = nbgov_build(task={task.name!r}, build_id=build_id)"
                     f".set_display_name({task.name!r})")
        lines.append(f"        {var}.after(opened)")
        lines.append(f"        {var}.set_caching_options(False)")
        if task.retries:
            lines.append(f"        {var}.set_retry(num_retries={task.retries}, "
                         f"backoff_duration='{plan.retry_delay_s}s')")
        if task.cpu:
            lines.append(f"        {var}.set_cpu_request({task.cpu!r}).set_cpu_limit({task.cpu!r})")
        if task.memory:
            lines.append(f"        {var}.set_memory_request({task.memory!r}).set_memory_limit({task.memory!r})")
    for up, down in plan.edges():
        lines.append(f"        tasks[{down!r}].after(tasks[{up!r}])")
    return text + "\n".join(lines) + _FOOTER.format(out=f"{plan.name}.kfp.yaml")

"""An Argo Workflow: a DAG template with one container step per pipeline task.

The workflow's uid is the build id; an ``nbgov-open-build`` step precedes the tasks and the
workflow's ``onExit`` handler ends the build's parent run with the workflow's status. Steps run
the project's image (``--image`` / ``[export] image``): each fetches the project by the exported
commit (``--commit``) and moves products through the pipeline's ``File`` client, or, exported
with ``--allow-local-products``, runs in the project folder of the image.
"""

from __future__ import annotations

from typing import Any

from nbgov.services.export.plan import BUILD_ID, ExportPlan, command_line, dns_name, refuse_templates

SUFFIX = ".argo.yaml"

#: Argo's variable for the workflow's unique id, substituted when a step starts.
RUN_ID = "{{workflow.uid}}"
OPEN, CLOSE = "nbgov-open-build", "nbgov-close-build"


def _argv(argv: list[str]) -> list[str]:
    return [RUN_ID if a == BUILD_ID else a for a in argv]


def _container(plan: ExportPlan, argv: list[str], cpu: str | None = None, memory: str | None = None) -> dict:
    container: dict[str, Any] = {"image": plan.image, "command": argv[:1], "args": argv[1:]}
    if plan.workdir or not plan.commit:  # by commit, a step fetches the project into a folder of its own
        container["workingDir"] = plan.workdir or "/project"
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    if requests:
        container["resources"] = {"requests": requests, "limits": dict(requests)}
    return container


def workflow(plan: ExportPlan) -> dict[str, Any]:
    """The Workflow as plain data (what :func:`render` writes as YAML)."""
    refuse_templates(plan, "Argo")
    names = {t.name: dns_name(t.name) for t in plan.tasks}
    dag_tasks: list[dict[str, Any]] = [{"name": OPEN, "template": OPEN}]
    templates: list[dict[str, Any]] = []
    for task in plan.tasks:
        step = names[task.name]
        dag_tasks.append({"name": step, "template": f"task-{step}",
                          "dependencies": [OPEN, *(names[u] for u in task.upstream)]})
        template: dict[str, Any] = {"name": f"task-{step}",
                                    "metadata": {"labels": {"nbgov.task": step}},
                                    "container": _container(plan, _argv(plan.build_command(task.name)),
                                                            task.cpu, task.memory)}
        if task.retries:
            template["retryStrategy"] = {"limit": str(task.retries), "retryPolicy": "OnFailure",
                                         "backoff": {"duration": f"{plan.retry_delay_s}s"}}
        templates.append(template)
    # onExit sees the workflow's status: Succeeded, Failed or Error
    close = command_line(plan.close_command("@@STATUS@@"), RUN_ID).replace("@@STATUS@@", '"$status"')
    exit_script = (f'case "{{{{workflow.status}}}}" in Succeeded) status=finished ;; *) status=failed ;; esac\n'
                   f"exec {close}\n")
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": f"{plan.name}-", "labels": {"nbgov.pipeline": plan.name}},
        "spec": {
            "entrypoint": "pipeline",
            "onExit": CLOSE,
            "templates": [
                {"name": "pipeline", "dag": {"tasks": dag_tasks}},
                {"name": OPEN, "container": _container(plan, _argv(plan.open_command()))},
                {"name": CLOSE, "container": _container(plan, ["sh", "-c", exit_script])},
                *templates,
            ],
        },
    }


def render(plan: ExportPlan) -> str:
    """The Workflow's YAML."""
    import yaml

    head = (f"# nbgov pipeline {plan.name!r} as an Argo Workflow, written by `nbgov export argo`.\n"
            "# One workflow run is one nbgov build (build id = the workflow's uid): one MLflow parent run,\n"
            "# one child run per task. Submit with: argo submit THIS_FILE\n")
    return head + yaml.safe_dump(workflow(plan), sort_keys=False, width=120)

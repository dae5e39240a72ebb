"""``nbgov export airflow|argo|kubeflow``."""

from __future__ import annotations

import json

import click

from nbgov.cli.conventions import deprecated


@click.command()
@click.argument("engine", type=click.Choice(["airflow", "argo", "kubeflow"]))
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="File to write (default: NAME.py / NAME.argo.yaml / NAME_kfp.py; '-' prints it).")
@click.option("--environment", default=None,
              help="A named environment of nbgov.toml: every task runs `nbgov build --environment ENV` "
                   "(its gate applies).")
# -e is the entry point (nbgov build/status, as in Ploomber); as the environment it still works
@click.option("-e", "old_environment", default=None, hidden=True, help="Deprecated: --environment.")
@click.option("--image", default=None, help="Container image of the steps (Argo, Kubeflow; default [export] image).")
@click.option("--allow-local-products", is_flag=True,
              help="Every task runs beside the project folder (a single-machine engine): products need not be on "
                   "shared storage, sources are not fetched by commit.")
@click.option("--repository", default=None, metavar="URL",
              help="The git repository the tasks fetch the project's commit from (default: [export] repository, "
                   "else the remote 'origin').")
@click.option("--project", type=click.Path(file_okay=False), default=None, help="Project folder.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def export(engine, output, environment, old_environment, image, allow_local_products, repository, project,
           as_json):
    """Write the pipeline as an ENGINE workflow: one engine task per pipeline task, each running
    `nbgov build TASK --build-id <engine run id>`, so one engine run is one tracked build.

    With products on shared storage each task fetches the project by this commit
    (`--commit SHA --repository URL`) into a folder of its own: no shared volume."""
    from nbgov.core.atomic import atomic_write
    from nbgov.core.config import load_config
    from nbgov.services.export import default_file
    from nbgov.services.export import export as run_export

    if old_environment:
        deprecated("-e NAME", "--environment NAME")
        environment = environment or old_environment
    config = load_config(project)
    text, plan = run_export(config, engine, environment=environment, image=image,
                            allow_local_products=allow_local_products, repository=repository,
                            output=output)
    for note in plan.notes:
        click.echo(f"note: {note}", err=True)
    if output == "-":
        click.echo(text, nl=False)
        return
    target = output or default_file(engine, plan)
    atomic_write(target, text)
    if as_json:
        click.echo(json.dumps({"file": str(target), "engine": engine, "tasks": len(plan.tasks),
                               "edges": len(plan.edges())}, indent=2))
        return
    click.echo(f"wrote {target}: {len(plan.tasks)} tasks, {len(plan.edges())} edges", err=True)

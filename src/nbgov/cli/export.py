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
              help="Export although products are not on shared storage (every task runs beside the project folder).")
@click.option("--project", type=click.Path(file_okay=False), default=None, help="Project folder.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def export(engine, output, environment, old_environment, image, allow_local_products, project, as_json):
    """Write the pipeline as an ENGINE workflow: one engine task per pipeline task, each running
    `nbgov build TASK --build-id <engine run id>`, so one engine run is one tracked build."""
    from nbgov.core.atomic import atomic_write
    from nbgov.core.config import load_config
    from nbgov.services.export import default_file
    from nbgov.services.export import export as run_export

    if old_environment:
        deprecated("-e NAME", "--environment NAME")
        environment = environment or old_environment
    config = load_config(project)
    text, plan = run_export(config, engine, environment=environment, image=image,
                            allow_local_products=allow_local_products)
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

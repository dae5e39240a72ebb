"""``nbgov lineage TARGET``."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Print the lineage graph as JSON.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "mermaid", "dot"]),
    default="text",
    show_default=True,
    help="Text tree, or a Mermaid / Graphviz description of the graph.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write a picture (.svg, .png with Graphviz) or the chosen format to FILE.",
)
@click.option("--project", type=click.Path(file_okay=False), default=None, help="Project folder.")
def lineage(target, as_json, fmt, output, project):
    """Show what made TARGET: the upstream task runs with notebook versions, review status,
    parameters, data digests and MLflow run ids.

    TARGET is a product path (products/model.pkl), a task name (train), an MLflow run id, or a
    registered model (models:/NAME/VERSION or models:/NAME@ALIAS).
    """
    from nbgov.core.config import load_config
    from nbgov.services.lineage.query import lineage as run_lineage
    from nbgov.services.lineage.render import PICTURE_SUFFIXES, render, write_picture

    payload = run_lineage(load_config(project), target)
    picture = bool(output) and Path(output).suffix.lower() in PICTURE_SUFFIXES
    if picture:
        write_picture(payload, output)
        click.echo(f"wrote {output}", err=True)
    text = (
        json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n"
        if as_json
        else render(payload, fmt)
    )
    if output and not picture:
        from nbgov.core.atomic import atomic_write

        atomic_write(output, text)
        click.echo(f"wrote {output}", err=True)
    elif not output or as_json:
        click.echo(text, nl=False)

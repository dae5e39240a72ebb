"""``nbgov init``: set nbgov up in an existing Ploomber project."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.option("--project", type=click.Path(file_okay=False), default=None,
              help="The Ploomber project's folder, where pipeline.yaml is (default: the working directory).")
@click.option("--dry-run", is_flag=True, help="Print what would be written; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
def init(project, dry_run, as_json):
    """Set nbgov up in the Ploomber project here: nbgov.toml, .gitignore entries (the tracking
    store, the product folders git does not ignore yet), .nbgov/.gitignore, nbgov's hooks in
    pipeline.yaml (for `ploomber build`), .gitattributes, .pre-commit-config.yaml and a CI job.
    Files that exist are completed, never rewritten; a second run changes nothing."""
    from nbgov.services.pipeline.init import apply, plan_init

    root = Path(project or ".").resolve()
    changes = plan_init(root)
    if not dry_run:
        apply(root, changes)
    if as_json:
        click.echo(json.dumps({"dry_run": dry_run, "changes": [c.to_dict() for c in changes]}, indent=2))
        return
    written = [c for c in changes if c.action != "kept"]
    verb = "would be" if dry_run else ""
    for c in written:
        click.echo(f"{c.path}: {verb + ' ' if verb else ''}{c.action}")
        if dry_run:
            click.echo("".join(f"  | {line}\n" for line in c.added.splitlines()), nl=False)
    for c in changes:
        if c.note:
            click.echo(f"note: {c.path}: {c.note}", err=True)
            if dry_run and c.action == "kept" and c.added:
                click.echo("".join(f"  | {line}\n" for line in c.added.splitlines()), nl=False)
    if not written:
        click.echo("nothing to do: nbgov is already set up here")
    elif not dry_run:
        click.echo("next: `nbgov check`, then `nbgov build`; reviews: "
                   "`git config merge.nbgov-ledger.driver \"nbgov ledger merge %O %A %B\"`")

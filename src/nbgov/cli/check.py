"""``nbgov check``: policy and hygiene checks for notebooks (CI and pre-commit)."""

from __future__ import annotations

import sys
import warnings

import click

from nbgov.cli.conventions import deprecated, require_project
from nbgov.core.errors import NbgovWarning

_FORMATS = ("text", "json", "sarif", "github")


def _split(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(_FORMATS),
    default="text",
    show_default=True,
    help="Output format: text for people, json, sarif (code scanning), github (annotations).",
)
@click.option(
    "--fix", is_flag=True, help="Fix what is safe (outputs, volatile metadata, kernel), atomically."
)
@click.option(
    "--select",
    multiple=True,
    help="Rules to run instead of [check] select (ids, names, prefixes, ALL).",
)
@click.option("--extend-select", multiple=True, help="Rules to add, e.g. NBG701 (review status).")
@click.option("--ignore", multiple=True, help="Rules to skip.")
@click.option(
    "--no-plugins", is_flag=True, help="Do not load rules from the nbgov.checks entry points."
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes to check with, for 64 notebooks or more (Linux).",
)
@click.option("--list-rules", is_flag=True, help="List the rules (built-in and plug-in) and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the same as --format json).")
@click.option(
    "--project",
    type=click.Path(file_okay=False),
    help="Project root (default: found upward from here).",
)
@click.option("--root", type=click.Path(file_okay=False), hidden=True, help="Deprecated: --project.")
def check(
    paths: tuple[str, ...],
    fmt: str,
    fix: bool,
    select: tuple[str, ...],
    extend_select: tuple[str, ...],
    ignore: tuple[str, ...],
    no_plugins: bool,
    list_rules: bool,
    jobs: int,
    as_json: bool,
    project: str | None,
    root: str | None,
) -> None:
    """Check notebooks: validity, parameters cell, outputs, secrets, paths, kernel, pipeline.

    PATHS are notebooks or folders (default: the whole project). Prints
    `path:cell:line RULE [name] message` (cells count from 1). Exit code: 0 clean,
    1 findings, 2 usage or internal error.
    """
    from nbgov.services.check.engine import list_rules as list_all
    from nbgov.services.check.engine import render, run_check

    if root:
        deprecated("--root", "--project")
    root = project or root
    if as_json:
        fmt = "json"
    if not paths and not list_rules:
        require_project(root)

    with warnings.catch_warnings(record=True) as caught:
        # plug-in warnings are printed once, plainly, as notes (the report carries them)
        warnings.simplefilter("always", NbgovWarning)
        if list_rules:
            click.echo(list_all(plugins=not no_plugins, root=root))
            for w in caught:
                click.echo(f"note: {w.message}", err=True)
            return
        report = run_check(
            paths,
            root=root,
            select=_split(select) or None,
            extend_select=_split(extend_select),
            ignore=_split(ignore),
            fix=fix,
            plugins=not no_plugins,
            jobs=jobs,
        )
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    for error in report.errors:
        click.echo(f"error: {error}", err=True)
    output = render(report, fmt)
    if output:
        click.echo(output)
    if report.exit_code:
        sys.exit(report.exit_code)


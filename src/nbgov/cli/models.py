"""``nbgov promote``, ``nbgov serve`` and ``nbgov monitor``: after training."""

from __future__ import annotations

import json
import signal
import sys

import click

from nbgov.cli.conventions import deprecated

_PROJECT = click.option(
    "--project", type=click.Path(file_okay=False), default=None, help="Project folder."
)


@click.command()
@click.argument("model_uri", metavar="models:/NAME/VERSION")
@click.option("--alias", required=True, help="The alias to set, e.g. champion.")
@click.option("--dry-run", is_flag=True, help="Explain what would happen; change nothing.")
@click.option("--note", default="", help="Kept in the promotion record.")
@click.option("--by", default=None, help="Who promotes (default: the reviewer identity).")
@_PROJECT
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def promote(model_uri, alias, dry_run, note, by, project, as_json):
    """Point ALIAS at a model version, only if its lineage is approved and its metrics meet
    [promote] thresholds. Exit 1 when refused (also with --dry-run)."""
    from nbgov.core.config import load_config
    from nbgov.core.errors import GateError
    from nbgov.services.models.promote import promote as run

    try:
        plan = run(load_config(project), model_uri, alias, dry_run=dry_run, note=note, by=by)
    except GateError as exc:
        if as_json:
            click.echo(json.dumps({"accepted": False, "reasons": exc.reasons}, indent=2))
        raise
    click.echo(json.dumps(plan.to_dict(), indent=2) if as_json else plan.explain())
    if not plan.accepted:
        sys.exit(1)


@click.command()
@click.argument("model_uri", metavar="models:/NAME@ALIAS")
@click.option("--port", type=int, default=5001, show_default=True, help="TCP port.")
# -p is --param (nbgov build); as the port it still works, with a warning
@click.option("-p", "old_port", type=int, default=None, hidden=True, help="Deprecated: --port.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@_PROJECT
def serve(model_uri, port, old_port, host, project):
    """Serve a registered model with MLflow's scoring server (POST /invocations)."""
    from nbgov.core.config import load_config
    from nbgov.services.models.serve import start_server

    if old_port is not None:
        deprecated("-p PORT", "--port PORT")
        port = old_port

    server = start_server(load_config(project), model_uri, port=port, host=host)
    # SIGTERM (e.g. from a scheduler) stops the server like Ctrl-C does. The handler only raises:
    # stopping inside it would re-enter Popen.wait, whose lock the interrupted wait still holds
    signal.signal(signal.SIGTERM, _interrupt)
    click.echo(f"serving {server.model.uri} ({model_uri}) at {server.url}/invocations", err=True)
    try:
        code = server.process.wait()
    except KeyboardInterrupt:
        server.stop()
        return
    if code:
        sys.exit(code)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@click.command()
@click.option("--batch", required=True, type=click.Path(dir_okay=False), help="CSV batch.")
@click.option("--model", "model_uri", default=None, help="models:/NAME@ALIAS to score with.")
@_PROJECT
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def monitor(batch, model_uri, project, as_json):
    """Run the monitor task on one production batch; exit 1 when the verdict is alert."""
    from nbgov.cli.output import run_text
    from nbgov.core.config import load_config
    from nbgov.services.models.monitor import ALERT
    from nbgov.services.models.monitor import monitor as run

    result = run(load_config(project), batch, model_uri)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(
            f"{result.status}: {batch} ({run_text(result.run_id)}, model {result.model or 'pipeline'})"
        )
        for v in result.verdicts:
            click.echo(
                f"  {'ok' if v.ok else ('--' if v.outcome == 'missing' else 'NO')}: {v.explain()}"
            )
    if result.status == ALERT:
        sys.exit(1)

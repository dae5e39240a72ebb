"""``nbgov review``, ``nbgov ledger``, ``nbgov diff`` and ``nbgov version``: thin wrappers
over :mod:`nbgov.services.review.state`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from nbgov.core.config import load_config


def _abs(paths: tuple[str, ...]) -> list[Path]:
    # paths on the command line are relative to where the user is, not to the project root
    return [Path(p).resolve() for p in paths]


def _emit_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def _table(rows: list[list[str]], header: list[str]) -> str:
    from nbgov.cli.output import render_table

    return render_table(header, rows)


def _spelled(state: str) -> str:
    """A review state as users read and type it: ``changes-requested`` (the ledger keeps
    ``changes_requested``)."""
    return state.replace("_", "-")


@click.group()
def review() -> None:
    """Review notebooks and the other review targets (scripts, modules, SQL, the spec): approve,
    request changes, comment, see status and history."""


def _decide(decision: str, notebooks: tuple[str, ...], message: str, reviewer: str | None,
            sign_key: str | None, as_json: bool = False) -> None:
    from nbgov.core.identity import short_version
    from nbgov.services.review.state import record_decisions

    states = record_decisions(load_config(), _abs(notebooks), decision, message, reviewer, sign_key)
    if as_json:
        _emit_json([s.to_dict() for s in states])
        return
    for state in states:
        by = f" by {state.last['reviewer']}" if state.last else ""
        signed = f", signature {state.last['signature']}" if state.last and "signature" in state.last else ""
        click.echo(
            f"{state.path}: {_spelled(state.status)} at {short_version(state.version)} "
            f"({decision.replace('_', ' ')}{by}{signed})"
        )


_reviewer_opt = click.option(
    "--reviewer",
    help='Who decides, e.g. "Ann <ann@x.org>" '
    "(default: $NBGOV_REVIEWER, [review] reviewer, git user).",
)
_sign_opt = click.option(
    "--sign-key",
    type=click.Path(dir_okay=False),
    help="SSH key that signs the record (ssh-keygen -Y sign); a .pub: the private key is in "
    "ssh-agent (default: [review] signing_key; none: unsigned).",
)
_json_opt = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
_note_opt = click.option(
    "-m", "--message", "message", default="", help="A note kept with the record."
)


def _decision_command(name: str, decision: str, doc: str, all_changed: bool = False) -> None:
    def command(notebooks: tuple[str, ...], message: str, reviewer: str | None,
                sign_key: str | None, as_json: bool, all_changed: bool = False) -> None:
        if all_changed:
            from nbgov.services.review.discovery import changed_targets

            if notebooks:
                raise click.UsageError("give NOTEBOOKS or --all-changed, not both")
            notebooks = tuple(changed_targets(load_config()))
            if not notebooks:
                if as_json:
                    _emit_json([])
                    return
                click.echo("nothing to approve: every review target is approved at its current version")
                return
        elif not notebooks:
            raise click.UsageError("missing NOTEBOOKS" + (" (or --all-changed)" if name == "approve" else ""))
        _decide(decision, notebooks, message, reviewer, sign_key, as_json)

    if all_changed:
        command = click.option(
            "--all-changed", is_flag=True,
            help="Every review target not approved at its current version (see `review status`): "
            "notebooks, task sources, the spec, env file and the modules they import.")(command)
    command = _note_opt(_reviewer_opt(_sign_opt(_json_opt(command))))
    command = click.argument("notebooks", nargs=-1, metavar="[PATHS]...")(command)
    review.command(name, help=doc)(command)


_decision_command(
    "approve", "approved", "Approve PATHS (review targets: notebooks, scripts, modules, SQL, the "
    "spec...) at their current version (four-eyes rule).", all_changed=True,
)
_decision_command("request-changes", "changes_requested", "Request changes to PATHS (review targets).")


@review.command("comment")
@click.argument("notebooks", nargs=-1, metavar="[PATHS]...")
@click.option("--cell", metavar="ID", help="Open a comment thread on this cell (its nbformat cell id).")
@click.option("--reply", "reply_to", metavar="THREAD", help="Reply to this thread instead (see `review threads`).")
@click.option("--json", "as_json", is_flag=True, help="Print the thread as JSON.")
@_note_opt
@_reviewer_opt
@_sign_opt
def comment(notebooks: tuple[str, ...], cell: str | None, reply_to: str | None, as_json: bool, message: str,
            reviewer: str | None, sign_key: str | None) -> None:
    """Comment on PATHS (review targets; does not change their status); with --cell, open a
    thread on one cell of one notebook; with --reply, answer a thread."""
    if reply_to:
        if notebooks or cell:
            raise click.UsageError("--reply takes a THREAD only, no NOTEBOOK or --cell")
        _thread_out(_threads().reply(load_config(), reply_to, message, reviewer, sign_key), as_json)
        return
    if cell is not None:
        if len(notebooks) != 1:
            raise click.UsageError("--cell needs exactly one NOTEBOOK")
        _thread_out(_threads().comment(load_config(), _abs(notebooks)[0], cell, message, reviewer, sign_key), as_json)
        return
    if not notebooks:
        raise click.UsageError("missing NOTEBOOKS")
    _decide("comment", notebooks, message, reviewer, sign_key)


def _threads():
    from nbgov.services.review import threads as svc  # the command's service, imported when it runs

    return svc


def _thread_out(thread: dict, as_json: bool) -> None:
    if as_json:
        _emit_json(thread)
        return
    state = "resolved" if thread["resolved"] else "open"
    outdated = ", outdated: its cell is gone" if thread["outdated"] else ""
    click.echo(f"thread {thread['id'][:8]} on {thread['notebook']} cell {thread['cell']} ({state}{outdated}, "
               f"{len(thread['comments'])} comment(s))")


@review.command("reply")
@click.argument("thread")
@_note_opt
@_reviewer_opt
@_sign_opt
@_json_opt
def reply(thread: str, message: str, reviewer: str | None, sign_key: str | None, as_json: bool) -> None:
    """Reply to comment THREAD (its id, or the first 6+ characters of it)."""
    _thread_out(_threads().reply(load_config(), thread, message, reviewer, sign_key), as_json)


@review.command("resolve")
@click.argument("thread")
@_note_opt
@_reviewer_opt
@_sign_opt
@_json_opt
def resolve(thread: str, message: str, reviewer: str | None, sign_key: str | None, as_json: bool) -> None:
    """Resolve comment THREAD (only the person who opened it may)."""
    _thread_out(_threads().resolve(load_config(), thread, message, reviewer, sign_key), as_json)


@review.command("threads")
@click.argument("notebook", required=False)
@click.option("--open", "only_open", is_flag=True, help="Open threads only.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def threads(notebook: str | None, only_open: bool, as_json: bool) -> None:
    """The comment threads of NOTEBOOK (default: every notebook), outdated ones marked."""
    found = _threads().list_threads(load_config(), _abs((notebook,))[0] if notebook else None)
    if only_open:
        found = [t for t in found if not t["resolved"]]
    if as_json:
        _emit_json(found)
        return
    if not found:
        click.echo("no comment threads")
    for th in found:
        _thread_out(th, False)
        for c in th["comments"]:
            click.echo(f"    {c['at']}  {c['author']}: {c['text']}")


@review.command()
@click.argument("paths", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(paths: tuple[str, ...], as_json: bool) -> None:
    """Review status of the review targets under PATHS (default: [review] paths, else the
    pipeline's task sources of every kind, else every notebook of the project)."""
    from nbgov.core.identity import short_version
    from nbgov.services.review.discovery import survey
    from nbgov.services.review.state import target_kind

    config = load_config()
    states, errors = survey(config, _abs(paths) or None)
    if as_json:
        _emit_json([s.to_dict() for s in states])
    else:
        rows = [
            [
                s.path,
                target_kind(config, s.path),
                _spelled(s.status),
                short_version(s.version),
                # a signed decision is shown by its verified signer (I12), an unsigned one by its claim
                *([_spelled(s.last["decision"]), s.last.get("signer") or s.last["reviewer"], s.last["at"]]
                  if s.last else ["-"] * 3),
            ]
            for s in states
        ]
        click.echo(_table(rows, ["PATH", "KIND", "STATUS", "VERSION", "LAST DECISION", "BY", "WHEN"]))
    for error in errors:
        click.echo(f"error: {error}", err=True)
    if not paths:  # what the spec names but no review can cover (R4): a governed build refuses it
        from nbgov.services.review.targets import unreviewable

        for problem in unreviewable(config):
            click.echo(f"warning: {problem}", err=True)
    if errors:
        sys.exit(errors[0].exit_code)


@review.command()
@click.argument("paths", nargs=-1)
@click.option("--base", metavar="REF",
              help="Read the trust settings ([review], [environments.*], allowed signers) from git REF "
              "(in CI: the PR's base, e.g. origin/main); changed ones must be approved too.")
@click.option("--require-resolved-threads", "resolved", is_flag=True,
              help="Also refuse while a comment thread on a gated target is open "
              "(default: [review] require_resolved_threads).")
@_json_opt
def gate(paths: tuple[str, ...], base: str | None, resolved: bool, as_json: bool) -> None:
    """Exit 1 unless every review target under PATHS (notebooks, scripts, modules, SQL...) is
    approved at its current version."""
    from nbgov.core.errors import GateError
    from nbgov.services.review.base import trust_base
    from nbgov.services.review.discovery import discover_notebooks
    from nbgov.services.review.gating import require_gate
    from nbgov.services.review.state import describe_targets

    config = load_config()
    trusted = trust_base(config, base) if base else None
    # with --base, [review] paths come from the base too: a branch cannot narrow its own scope
    notebooks = discover_notebooks(trusted.config if trusted else config, _abs(paths) or None)
    try:
        if not paths:  # what the spec names but no review can cover (R4): refused as a build would
            from nbgov.services.review.targets import unreviewable

            if problems := unreviewable(config):
                raise GateError(f"{len(problems)} path(s) of the pipeline spec cannot be reviewed", reasons=problems,
                                hint="write them literally inside the project (env.yaml values and {{here}} "
                                "resolve); a governed build refuses them")
        require_gate(config, notebooks, trusted, resolved)
    except GateError as exc:
        if as_json:
            _emit_json({"approved": False, "reasons": exc.reasons or [exc.message]})
        raise
    if as_json:
        _emit_json({"approved": True, "targets": [str(n) for n in notebooks], "base": base,
                    "changed": list(trusted.changed) if trusted else []})
        return
    if trusted is None:
        click.echo(f"{describe_targets(config, notebooks)} approved at their current version")
        return
    targets = list(dict.fromkeys([*notebooks, *trusted.changed]))
    changed = f"; changed and approved: {', '.join(trusted.changed)}" if trusted.changed else ""
    click.echo(f"{describe_targets(config, targets)} approved at their current version (trust settings read at "
               f"{base}{changed})")


@review.command()
@click.argument("notebook")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def log(notebook: str, as_json: bool) -> None:
    """Every review record of NOTEBOOK, oldest first."""
    from nbgov.core.identity import short_version
    from nbgov.services.review.state import notebook_log

    records = notebook_log(load_config(), _abs((notebook,))[0])
    if as_json:
        _emit_json(records)
        return
    if not records:
        click.echo("no review records")
    for r in records:
        note = f"  {r['note']}" if r["note"] else ""
        click.echo(
            f"#{r['seq']}  {r['at']}  {_spelled(r['decision']):<17}  {short_version(r['version'])}  "
            f"{r['reviewer']}{note}"
        )


@click.group()
def ledger() -> None:
    """The review ledger (append-only, hash-chained)."""


@ledger.command()
@click.option(
    "--against",
    default=None,
    metavar="REF",
    help="A git revision whose ledger this one must extend, and whose trust settings (where the "
    "ledger is, the allowed signers) judge the signatures (in CI: origin/main). Default: HEAD's "
    "ledger, the working tree's settings.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def verify(against: str | None, as_json: bool) -> None:
    """Check every record's hash and the chain; fail naming the first bad record. Lists each
    record's signature state (valid / invalid / unknown key / unsigned)."""
    from nbgov.services.review.verify import verify_ledger

    result = verify_ledger(load_config(), against)
    if as_json:
        _emit_json(result)
        return
    rev = result["checked_against_git"]
    extends = f", extends the ledger at git {rev}" if rev else ""
    trusted = f", signers trusted at {result['trust_base']}" if result["trust_base"] else ""
    click.echo(f"ok: {result['records']} record(s) on {result['notebooks']} target(s){extends}{trusted}")
    for sig in result["signatures"]:
        signer = f" by {sig['signer']}" if sig["signer"] else ""
        repeat = f" (repeats #{sig['repeats']}: counts once)" if sig["repeats"] else ""
        click.echo(f"#{sig['seq']}  {_spelled(sig['decision']):<17}  {sig['notebook']}  "
                   f"signature: {sig['signature']}{signer}{repeat}")
    # a signature that does not verify is tampering; unknown keys and unsigned records are
    # reported (with require_signed they do not count towards any status)
    bad = [s for s in result["signatures"] if s["signature"] == "invalid"]
    for sig in bad:
        if sig.get("reason"):
            click.echo(f"error: {sig['reason']}", err=True)
    if bad:
        click.echo(f"error: {len(bad)} record(s) carry a signature that does not verify "
                   f"(#{', #'.join(str(s['seq']) for s in bad)}): edited after signing, or signed as "
                   "someone else", err=True)
        sys.exit(1)
    for version in result["missing_snapshots"]:
        click.echo(f"warning: no approved snapshot for {version}", err=True)


@ledger.command()
# git always passes three existing files (an empty base when there is no common ancestor)
@click.argument("base", type=click.Path(exists=True, dir_okay=False))
@click.argument("ours", type=click.Path(exists=True, dir_okay=False))
@click.argument("theirs", type=click.Path(exists=True, dir_okay=False))
def merge(base: str, ours: str, theirs: str) -> None:
    """Merge THEIRS into OURS, two ledgers grown from BASE: git's merge driver (%O %A %B).

    Set it up once per clone with
    `git config merge.nbgov-ledger.driver "nbgov ledger merge %O %A %B"` and the line
    `.nbgov/reviews.jsonl merge=nbgov-ledger` in .gitattributes.
    """
    from nbgov.services.review.verify import merge_ledger

    added = merge_ledger(base, ours, theirs)
    click.echo(f"ledger merged: {added} record(s) from the other side appended", err=True)


@click.command()
@click.argument("notebook")
@click.option("--rev", help="Diff against this git revision instead of the last approval.")
@click.option(
    "--include-outputs", is_flag=True, help="Show output changes too (hidden by default)."
)
@click.option("--json", "as_json", is_flag=True, help="Print nbdime's diff as JSON.")
@click.option("--web", is_flag=True, help="Open nbdime's web diff (served on 127.0.0.1 only).")
@click.option(
    "--port", type=int, default=0, show_default=True, help="Port for --web (0: any free one)."
)
@click.option("--browser", help="Browser for --web (default: the system's; an unknown name: none).")
def diff(
    notebook: str,
    rev: str | None,
    include_outputs: bool,
    as_json: bool,
    web: bool,
    port: int,
    browser: str | None,
) -> None:
    """Show what changed in NOTEBOOK since its last approval (or since --rev)."""
    from nbgov.services.review import diff as svc

    config = load_config()
    path = _abs((notebook,))[0]
    if web:
        import signal

        server = svc.web_diff(config, path, rev, include_outputs, port, browser)
        click.echo(f"nbdime web diff on 127.0.0.1 (Ctrl-C to stop): {' '.join(server.command)}")
        # on SIGTERM too, unwind through wait() so that the server and its temp files go
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        sys.exit(server.wait())
    result = svc.notebook_diff(config, path, rev, include_outputs)
    if as_json:
        _emit_json(result)
        return
    from nbgov.cli.conventions import use_color

    click.echo(svc.render_diff(result, color=use_color()), nl=False)
    for th in _threads().list_threads(config, path):  # the cell comment threads beside the diff
        _thread_out(th, False)


@click.command()
@click.argument("notebooks", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def version(notebooks: tuple[str, ...], as_json: bool) -> None:
    """Print the version of NOTEBOOKS (nbv1 for .ipynb: cells and language; srcv2 for other files: their bytes)."""
    from nbgov.services.review.state import notebook_versions

    out = notebook_versions(list(notebooks))
    if as_json:
        _emit_json(out)
        return
    for nb, v in out.items():
        click.echo(f"{v}  {nb}")


@review.command("pr")
@click.option("--base", required=True, metavar="REF",
              help="The PR's base (e.g. origin/main): what changed since it, and whose trust settings count.")
@click.option("--head", metavar="REF", help="The PR's head commit (default: the working tree).")
@click.option("--format", "fmt", type=click.Choice(["markdown", "html", "json"]), default="markdown",
              show_default=True, help="Markdown for a PR comment, one self-contained HTML file, or JSON.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file (default: stdout).")
@click.option("--link", metavar="URL", help="Where the full report is (e.g. the CI artifact), named in the "
              "Markdown when details do not fit one comment.")
@click.option("--no-results", is_flag=True,
              help="Leave out the metrics of the affected tasks (no tracking store read).")
@click.option("--require-resolved-threads", "resolved", is_flag=True,
              help="The verdict as `nbgov review gate --require-resolved-threads` gives it "
              "(default: [review] require_resolved_threads at the base).")
@click.option("--project", type=click.Path(file_okay=False, exists=True), default=None, help="Project folder.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the same as --format json).")
def pr(base: str, head: str | None, fmt: str, output: str | None, link: str | None, no_results: bool,
       resolved: bool, project: str | None, as_json: bool) -> None:
    """The review of a pull request: every review target changed between --base and --head,
    its diff, its review state at the head, open threads, trust-setting changes first, and what
    the change did to the results. Exit 0 when written (the gate's verdict is in the report;
    `nbgov review gate --base` enforces it)."""
    from nbgov.core.atomic import atomic_write
    from nbgov.services.review import pr_render
    from nbgov.services.review.pr import pr_report

    fmt = "json" if as_json else fmt
    config = load_config(project)
    report = pr_report(config, base, head, resolved)
    if not no_results:
        from nbgov.services.models.impact import results  # reads the tracking store: only when asked

        report["results"] = results(config, report)
    if fmt == "json":
        text = json.dumps(report, indent=2, sort_keys=True) + "\n"
    elif fmt == "html":
        text = pr_render.render_html(report)
    else:
        text = pr_render.render_markdown(report, link)
    if output:
        atomic_write(Path(output), text)
        click.echo(f"{output}: {fmt} report of {report['summary']['targets']} changed target(s)", err=True)
    else:
        click.echo(text, nl=False)

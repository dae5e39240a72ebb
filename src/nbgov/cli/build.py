"""``nbgov build`` and ``nbgov status``."""

from __future__ import annotations

import json
import os
import sys

import click

from nbgov.cli.conventions import deprecated
from nbgov.cli.output import render_table, run_text


def fetched_sources(command):
    """``--commit SHA --repository URL``: run ``command`` in a fresh checkout of the commit,
    fetched into this machine's cache (an exported task's start-up, services.build.sources)."""
    command = click.option("--repository", default=None, metavar="URL",
                           help="With --commit: the git repository to fetch the project from. With --cluster "
                                "(build): where each Dask worker without a checkout of its own (NBGOV_WORKER_ROOT) "
                                "fetches the build's commit (the project must be committed).")(command)
    return click.option("--commit", default=None, metavar="SHA",
                        help="Fetch the project at this git commit (from --repository) into this machine's cache "
                             "(NBGOV_CACHE_DIR) and run there: an exported task on a worker without the project "
                             "folder; products travel through the pipeline's File client.")(command)


def _sources(commit, repository, project, needs_files=True, cluster=None, build_id=None):
    """The context in which the command runs: the fetched commit's checkout (its path), or
    the project folder as given (``--repository`` alone with a ``cluster``: for its workers)."""
    import contextlib

    if not commit and (not repository or (cluster and cluster != "none")):
        return contextlib.nullcontext(project)
    from nbgov.core.errors import ParameterError

    if not commit or not repository:
        raise ParameterError("--commit and --repository go together: the commit to build and where to fetch it")
    if project:
        raise ParameterError("--commit fetches the project: --project names another one; give one of them")
    from nbgov.services.build.sources import fetched_project

    return fetched_project(repository, commit, needs_files=needs_files, build=build_id)


@click.command()
@click.argument("tasks", nargs=-1)
@click.option("-f", "--force", is_flag=True, help="Run every selected task, even if up to date.")
@click.option("-d", "--downstream", is_flag=True, help="With TASKS: also run everything downstream of them "
              "(same as writing TASK+).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Run up to N tasks at once where the DAG allows.")
@click.option("--parallel", is_flag=True, help="Same as --jobs 2 (one per core on a small machine).")
@click.option("--env", "env", multiple=True, metavar="NAME=VALUE", help="Override a value of env.yaml.")
@click.option("-p", "--param", "params", multiple=True, metavar="TASK.NAME=VALUE",
              help="Override one task parameter (plain data: number, string, true/false, JSON).")
@click.option("--require-approved/--no-require-approved", default=None,
              help="Refuse to run tasks whose review targets (sources, spec, modules they import) "
                   "are not approved at their current version.")
@click.option("-e", "--entry-point", "entry_point", default=None, metavar="SPEC",
              help="The pipeline spec to build, as in `ploomber build -e pipeline.serve.yaml` "
                   "(default: `pipeline` in nbgov.toml, else pipeline.yaml).")
@click.option("--environment", default=None, metavar="NAME",
              help="A named environment of nbgov.toml, [environments.NAME] (e.g. prod).")
@click.option("--project", type=click.Path(file_okay=False), default=None,
              help="Project folder (default: found from cwd).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@click.option("--wait", is_flag=True, help="If another build of this project is running, wait for it "
              "instead of refusing.")
@click.option("--build-id", envvar="NBGOV_BUILD_ID", default=None, metavar="ID",
              help="Record under the one parent run of build ID (found or created; env NBGOV_BUILD_ID), "
                   "left open for `nbgov close-build ID`: builds of single tasks on several workers are one build. "
                   "ID: letters, digits and _ . : + - (up to 128, starting with a letter or digit).")
@click.option("--cluster", envvar="NBGOV_CLUSTER", default=None, metavar="ADDRESS",
              help="Run the tasks on a Dask cluster: a scheduler address (tcp://HOST:PORT) or local:N "
                   "(N local worker processes); each task runs `nbgov build TASK --build-id ID` on a worker. "
                   "Default: [execution] cluster in nbgov.toml; `none` runs here. With --repository URL, workers "
                   "without the project fetch the build's commit from URL.")
@fetched_sources
def build(tasks, force, downstream, jobs, parallel, env, params, require_approved, entry_point, environment,
          project, as_json, quiet, wait, build_id, cluster, commit, repository):
    """Run the pipeline incrementally, recording every task run as it ends (journal first,
    then MLflow; `nbgov sync` sends what an unreachable store could not take).

    TASKS selects tasks to run (their upstream must be built); TASK+ adds its downstream.
    """
    import signal

    from nbgov.core.config import load_config

    def _terminate(signum, frame):  # SIGTERM ends a build like Ctrl-C: runs closed as KILLED
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    # the terminal closed (SIGHUP): the same, unless the build was started to survive it (nohup)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, _terminate)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN and sys.stderr.isatty():
        click.echo(f"nbgov: Ctrl-C cannot reach this build (SIGINT is ignored: started with nohup or in the "
                   f"background); stop it with `kill {os.getpid()}`", err=True)
    # --repository with a cluster: its workers fetch the build's commit (with --commit too)
    workers_fetch = repository if cluster and cluster != "none" else None
    with _sources(commit, repository, project, cluster=cluster, build_id=build_id) as root:
        _build(load_config(root), tasks, force, downstream, jobs, parallel, env, params, require_approved,
               entry_point, environment, as_json, quiet, wait, build_id, cluster, workers_fetch)


def _build(config, tasks, force, downstream, jobs, parallel, env, params, require_approved, entry_point,
           environment, as_json, quiet, wait, build_id, cluster, repository=None):
    from nbgov.services.build import BuildOptions
    from nbgov.services.build import build as run_build

    config, environment = _entry_point(config, entry_point, environment)
    options = BuildOptions(force=force, tasks=list(tasks) or None, downstream=downstream,
                           jobs=jobs if jobs is not None else (2 if parallel else None),
                           env=list(env), params=list(params),
                           require_approved=require_approved, environment=environment,
                           progress=not quiet and not as_json, wait=wait, build_id=build_id or None,
                           cluster=cluster or None, repository=repository)
    summary = run_build(config, options)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        rows = [[t.task, t.outcome, f"{t.seconds:.1f}" if t.seconds is not None else "-", t.run_id or "-"]
                for t in summary.tasks]
        click.echo(render_table(["task", "outcome", "seconds", "mlflow run"], rows))
        ran = sum(t.outcome == "ran" for t in summary.tasks)
        click.echo(f"{ran} ran, {sum(t.outcome == 'skipped' for t in summary.tasks)} skipped, "
                   f"{sum(t.outcome == 'failed' for t in summary.tasks)} failed in {summary.wall_s:.1f} s"
                   + (f"; build run {summary.parent_run_id} in {summary.tracking_uri}"
                      if summary.parent_run_id else ""))
        from nbgov.services.build.fastpath import NEVER_RUN_KINDS
        from nbgov.services.pipeline.plan import plan_tasks

        found = plan_tasks(config, stale_ok=True)
        external = {t.name for t in found[0] if t.kind in NEVER_RUN_KINDS} if found else set()
        unrecorded = [t.task for t in summary.tasks
                      if t.outcome == "skipped" and not t.run_id and t.task not in external]
        if unrecorded:
            # products made outside nbgov (a plain `ploomber build`): say how to track them
            click.echo(f"note: {', '.join(unrecorded)}: up to date but never recorded by nbgov "
                       "(built by `ploomber build`?): record them with `nbgov build --force`",
                       err=True)
        unchanged = [t.task for t in summary.tasks if t.outcome == "skipped" and t.reason]
        if unchanged:
            # the freshness rule: Ploomber would have run them (an upstream was rebuilt or its
            # file touched, a comment edited), but what they read has the same digests
            click.echo(f"skipped: inputs unchanged: {', '.join(unchanged)} (Ploomber would run "
                       "them: an upstream was rebuilt or edited, but what they read is byte for byte "
                       "the same; `nbgov build --force TASK` runs them anyway)", err=True)
        for t in summary.tasks:
            if t.outcome == "failed":
                click.echo(f"error: task {t.task} failed: {t.error}", err=True)
    _report_recording(summary)
    if summary.failed:
        sys.exit(1)


def _entry_point(config, entry_point, environment):
    """The config for ``-e/--entry-point`` (a spec file, as in Ploomber), and the environment
    (``--environment``, or the deprecated ``-e NAME`` of an nbgov environment)."""
    if not entry_point:
        return config, environment
    from nbgov.core.config import resolve_entry_point

    config, old_spelling, note = resolve_entry_point(config, entry_point)
    if note:  # a deprecated spelling: a warning, as every other (docs/reference/cli.md)
        click.echo(f"warning: {note}", err=True)
    return config, environment or old_spelling


def _report_recording(summary) -> None:
    """One line each for what the journal did: sent earlier runs, ended killed runs, kept runs."""
    for text in getattr(summary, "warnings", []) or []:
        click.echo(f"warning: {text}", err=True)
    if summary.synced:
        click.echo(f"nbgov: sent {summary.synced} run(s) of earlier builds to the tracking store", err=True)
    if summary.interrupted:
        click.echo(f"nbgov: ended {len(summary.interrupted)} run(s) left running by a killed build as KILLED: "
                   f"{', '.join(summary.interrupted)}", err=True)
    if summary.pending:
        click.echo(f"warning: {summary.pending} run(s) kept locally in .nbgov/journal "
                   f"({summary.offline_reason or 'tracking store unreachable'}); `nbgov sync` sends them",
                   err=True)


@click.command()
@click.option("--project", type=click.Path(file_okay=False), default=None, help="Project folder.")
@click.option("--json", "as_json", is_flag=True, help="Print what was sent as JSON.")
# --wait is a flag, as in `nbgov build --wait`; `--wait SECONDS` (the old spelling) still works
@click.option("--wait", "wait", type=float, is_flag=False, flag_value=-1.0, default=None, metavar="",
              help="If a build of the project is running, wait for it to end (the default).")
@click.option("--no-wait", is_flag=True, help="Do not wait for a running build: leave its journal to it.")
@click.option("--timeout", type=click.FloatRange(min=0), default=60.0, show_default=True, metavar="SECONDS",
              help="How long to wait for a running build.")
@click.option("--resend", is_flag=True,
              help="Send again every kept journal (done/ too): for a tracking store restarted empty. "
                   "Runs the store still has are found by their key, not duplicated.")
def sync(project, as_json, wait, no_wait, timeout, resend):
    """Send the runs that earlier builds kept locally (tracking store unreachable, build
    killed) to the tracking store, once each, with their original times; end runs that a
    killed build left RUNNING as KILLED. Safe to re-run or interrupt."""
    from nbgov.core.config import load_config
    from nbgov.services.recording.sync import sync as run_sync

    config = load_config(project)
    if wait is not None and wait >= 0:
        deprecated("--wait SECONDS", "--timeout SECONDS")
        timeout = wait
    report = run_sync(config, wait=0.0 if no_wait else timeout, resend=resend,
                      say=lambda text: click.echo(text, err=True))
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(f"sent {report.runs_sent} run(s) from {report.builds} build journal(s)"
                   + (f" ({report.resent} kept journal(s) sent again)" if report.resent else "")
                   + (f"; {report.pending} still waiting" if report.pending else ""))
        if report.interrupted:
            click.echo("ended as KILLED (their build ended without recording them: killed, or its journal "
                       f"could not be written): {', '.join(report.interrupted)}")
        if report.repaired:
            click.echo(f"deleted {report.repaired} duplicate RUNNING run(s) left by a retried create")
        if report.waiting:
            click.echo(f"left {len(report.waiting)} journal(s) to the builds still writing them: "
                       f"{', '.join(report.waiting)}")
    for line in report.problems():
        click.echo(f"warning: {line}", err=True)
    if report.error:
        click.echo(f"error: the tracking store did not take the rest: {report.error}", err=True)
        click.echo("  hint: start the tracking server (or check MLFLOW_TRACKING_URI), then run `nbgov sync` again",
                   err=True)
        sys.exit(2)
    if report.failed:
        sys.exit(2)


@click.command()
@click.option("--project", type=click.Path(file_okay=False), default=None, help="Project folder.")
@click.option("-e", "--entry-point", "entry_point", default=None, metavar="SPEC",
              help="The pipeline spec, as in `ploomber status -e pipeline.serve.yaml`.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(project, entry_point, as_json):
    """Show each task's state (up-to-date / outdated / failed / never-run) and its last run."""
    from nbgov.core.config import load_config
    from nbgov.services.build.status import pipeline_state

    config, _ = _entry_point(load_config(project), entry_point, None)
    state = pipeline_state(config)
    from nbgov.services.models.monitor import models_status

    state["models"] = models_status(config, state)
    if as_json:
        click.echo(json.dumps(state, indent=2))
        return
    rows = []
    for t in state["tasks"]:
        run = t["last_run"] or {}
        metrics = ", ".join(f"{k}={v:g}" for k, v in list((run.get("metrics") or {}).items())[:3])
        rows.append([t["name"], t["state"], (t["review"] or {}).get("status", "-"),
                     run.get("ended", "-") and (run.get("ended") or "-")[:19].replace("T", " "),
                     run.get("run_id") or ("(not synced)" if run else "-"), metrics or "-"])
    click.echo(render_table(["task", "state", "review", "last run (UTC)", "mlflow run", "metrics"], rows))
    if state.get("unsynced"):
        click.echo(f"{state['unsynced']} run(s) kept locally, not yet in the tracking store: `nbgov sync` sends them")
    _journal_and_store_notes(config, state)
    for hint in state.get("hints") or []:
        click.echo(f"note: {hint}", err=True)
    for a in state["models"]["aliases"]:
        was = f", replacing {a['previous']}" if a["previous"] else ""
        click.echo(f"{a['alias']}: models:/{a['model']}/{a['version']} (promoted by {a['by']} "
                   f"at {a['at']}{was})")
    last = state["models"]["monitor"]
    if last:
        reasons = f": {'; '.join(last['reasons'])}" if last.get("reasons") else ""
        batch = last["batch"].rsplit("/", 1)[-1]
        click.echo(f"monitor: {last['status']} on {batch} at {last.get('at')} "
                   f"(model {last.get('model') or 'pipeline'}, {run_text(last.get('run_id'))}){reasons}")


def _journal_and_store_notes(config, state) -> None:
    """What the journal and the store say that the lineage records cannot: damaged journal
    records, and recorded runs the store no longer has (checked, not trusted)."""
    from nbgov.services.recording.sync import journal_health, runs_gone

    for name, count in journal_health(config).items():
        click.echo(f"warning: journal {name}: {count} damaged record(s); `nbgov sync` sends what can be read "
                   "and names the task runs it lost (they run again)", err=True)
    recorded = {t["name"]: (t["last_run"] or {}).get("run_id") for t in state["tasks"]}
    gone = runs_gone(config, [r for r in recorded.values() if r]) or []
    if gone:
        names = [name for name, run_id in recorded.items() if run_id in gone]
        click.echo(f"warning: {len(gone)} recorded run(s) are no longer in the tracking store ({', '.join(names)}): "
                   "was it restarted empty? `nbgov sync --resend` sends them again from the kept journals",
                   err=True)


@click.command("open-build")
@click.argument("build_id", metavar="ID")
@click.option("--project", type=click.Path(file_okay=False), default=None, help="Project folder.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@fetched_sources
def open_build(build_id, project, as_json, commit, repository):
    """Open the parent run of build ID (find or create it; idempotent): an engine's setup task."""
    from nbgov.core.config import load_config
    from nbgov.services.recording.tracking import open_build as open_parent

    with _sources(commit, repository, project, needs_files=False, build_id=build_id) as root:
        run_id = open_parent(load_config(root), build_id)
    click.echo(json.dumps({"build_id": build_id, "run_id": run_id}, indent=2) if as_json else run_id)


@click.command("close-build")
@click.argument("build_id", metavar="ID")
@click.option("--status", type=click.Choice(["finished", "failed", "killed"]), default=None,
              help="How the build ended (default: failed when one of its task runs failed, else finished).")
@click.option("--project", type=click.Path(file_okay=False), default=None, help="Project folder.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@fetched_sources
def close_build(build_id, status, project, as_json, commit, repository):
    """End the parent run of build ID (the runs of `nbgov build --build-id ID`): an engine's teardown task."""
    from nbgov.core.config import load_config
    from nbgov.services.recording.tracking import close_build as close_parent

    with _sources(commit, repository, project, needs_files=False, build_id=build_id) as root:
        closed = close_parent(load_config(root), build_id, status.upper() if status else None)
    if as_json:
        click.echo(json.dumps({"build_id": build_id, "run_id": closed[0] if closed else None,
                               "status": closed[1] if closed else None}, indent=2))
        return
    if closed is None:
        click.echo(f"no build run has id {build_id!r}: nothing to close")
        return
    click.echo(f"build run {closed[0]} ended {closed[1]}")

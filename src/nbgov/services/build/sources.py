"""An exported task's start-up: the project's sources by the build's commit, products through storage.

``nbgov build TASK --commit SHA --repository URL`` (and ``open-build`` / ``close-build`` with
the same two options) is what an Airflow, Argo or Kubeflow task runs on a worker that has no
project folder: the commit is fetched into this machine's cache and checked to be exactly that
commit, with the code a warm Dask worker checks its own checkout with
(:func:`nbgov.adapters.engines.checkout.checkout_problem`); the command then runs in that fresh
checkout, its upstream products downloaded from the pipeline's ``File`` client and its own
uploaded there (as any ``nbgov build TASK`` does), so no two tasks share a folder.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import yaml

from nbgov.adapters.engines.fetch import drop_checkout, fetch_checkout
from nbgov.core.config import load_config
from nbgov.core.errors import Location, NbgovError
from nbgov.core.lock import LockHeldError
from nbgov.services.recording.machine import machine_journals


def _declares_file_client(spec: Path) -> bool | None:
    """Whether the spec names a ``File`` client (None: not a YAML mapping nbgov can read; the
    build says what is wrong with it). Read as data: loading the pipeline would run its hooks
    and clients before the build's gate (services.build.gate.gate_render)."""
    try:
        data = yaml.safe_load(spec.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(data, dict):
        return None
    clients = data.get("clients")
    return isinstance(clients, dict) and "File" in clients


def _local_store(uri: str) -> bool:
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


@contextlib.contextmanager
def fetched_project(repository: str, commit: str, needs_files: bool = True, build: str | None = None,
                    ) -> Iterator[Path]:
    """The project at ``commit`` of ``repository``, fetched and checked, for the block; removed
    afterwards unless its journal still holds runs the tracking store has not got (kept then,
    and said: ``nbgov sync --project PATH`` sends them).

    ``needs_files``: a build (its products must travel through storage: a ``File`` client).
    ``build``: its build id (a failed fetch is remembered for the build's other tasks, see
    :func:`~nbgov.adapters.engines.fetch.fetch_checkout`).

    Raises:
        NbgovError: the sources cannot be fetched or are not the commit; the tracking store is
            a file of the throwaway checkout (or of this machine); the pipeline keeps its
            products in the checkout (exit 2).
    """
    root = fetch_checkout(repository, commit, build=build)
    keep = False
    try:
        try:
            send_what_killed_tasks_left(root)
        except Exception as exc:  # noqa: BLE001 - another checkout's fault never fails this task (J4)
            print(f"nbgov: could not look at what killed tasks left in {root.parent} ({_said(exc)})",
                  file=sys.stderr, flush=True)
        config = load_config(root)
        uri = config.resolved_tracking_uri()
        if _local_store(uri):
            raise NbgovError(f"this task would record its runs in {uri}, a store on this worker (its checkout is "
                             "thrown away after the task): an exported build records in one tracking server",
                             Location(config.source) if config.source else None,
                             hint="set MLFLOW_TRACKING_URI on the workers (or tracking_uri in nbgov.toml) to the "
                                  "team's tracking server")
        if needs_files and _declares_file_client(config.pipeline_path) is False:
            raise NbgovError(f"the pipeline at commit {commit[:12]} keeps its products in the task's checkout, "
                             "which is thrown away: a task on another worker would not find them",
                             Location(config.pipeline_path),
                             hint="declare a File client in pipeline.yaml (clients: {File: module.get_client})")
        yield root
    finally:
        with contextlib.suppress(Exception):  # (a damaged journal folder: kept, said below)
            keep = True
            # (a journal that came with the commit is not this task's: J8, never a reason to keep)
            keep = bool(machine_journals(root))
        if keep:
            print(f"nbgov: kept the task's checkout {root}: its journal holds runs the tracking store has not got "
                  f"(`nbgov sync --project {root}` sends them)", file=sys.stderr, flush=True)
        else:
            drop_checkout(root)


def send_what_killed_tasks_left(root: Path) -> int:
    """Send the journals a killed task left in the other checkouts of ``root``'s source cache
    (J2, J5 in docs/journal.md: its writer gone, its run must not stay RUNNING in the store),
    then remove each checkout left with nothing unsent; returns how many were sent. A task killed
    for real (SIGKILL, the OOM killer) cannot do it at its end, and its checkout has no other
    owner: the next task on this machine does it. A checkout whose journals are still written is
    left alone (the lock of a live writer: :meth:`~nbgov.core.journal.Journal.claim`), and one
    whose store cannot be reached stays for the next task (said, with the command that sends it).
    Only this machine's journals count (J8: one git tracks came with that checkout's commit), and
    whatever goes wrong with one checkout is said in one line and the next is looked at (J4)."""
    sent = 0
    for other in sorted(root.parent.iterdir()) if root.parent.is_dir() else []:
        if other == root or not other.is_dir():
            continue
        try:
            sent += _send_left(other, root)
        except Exception as exc:  # noqa: BLE001 - a damaged or planted checkout: never this task's failure
            print(f"nbgov: could not send what a killed task left in {other} ({_said(exc)}); "
                  f"`nbgov sync --project {other}` sends it", file=sys.stderr, flush=True)
    return sent


def _send_left(other: Path, root: Path) -> int:
    """Send the journals of checkout ``other`` when their writers are all gone and their runs
    belong to the store the task at ``root`` records in; the runs sent."""
    journals = machine_journals(other)
    if not journals or not all(_orphaned(j) for j in journals):
        return 0  # a task still running there (or one that never journaled: nothing to send)
    from nbgov.core.redact import safe_uri
    from nbgov.services.recording.sync import sync  # (the store's client: only when needed)

    # only to the store its runs were recorded for: a staging task's journal is not sent by a
    # task recording in production (the other store would refuse it, or worse take it)
    store = safe_uri(load_config(root).resolved_tracking_uri())
    theirs = {_journal_store(j) for j in journals}
    config = load_config(other)
    # and the sync below sends to the store that checkout's settings name (13th round, 04)
    target = safe_uri(config.resolved_tracking_uri())
    if theirs != {store} or target != store:
        named = ", ".join(sorted(s or "an unnamed store (an older nbgov)" for s in theirs))
        where = (f"this task records in {store}" if theirs != {store}
                 else f"that checkout's settings would send them to {target}")
        fix = (f"`MLFLOW_TRACKING_URI={next(iter(theirs))} nbgov sync --project {other}`" if len(theirs) == 1
               and None not in theirs else f"`nbgov sync --project {other}` with the store they belong to")
        print(f"nbgov: left what a killed task left in {other}: its runs belong to {named}, {where} "
              f"(a task recording there sends them, or {fix})", file=sys.stderr, flush=True)
        return 0
    try:
        report = sync(config, wait=False)
    except LockHeldError:
        return 0  # another task is sending it now
    except Exception as exc:  # noqa: BLE001 - a store down, a damaged journal: the next task tries again
        why = _said(exc)
    else:
        why = _unsent(report)
    if why:
        print(f"nbgov: could not send what a killed task left in {other} ({why}); "
              f"`nbgov sync --project {other}` sends it", file=sys.stderr, flush=True)
        return 0
    print(f"nbgov: sent what a killed task left in {other}", file=sys.stderr, flush=True)
    if not machine_journals(other):
        drop_checkout(other)
    return report.runs_sent


def _journal_store(journal) -> str | None:
    """The tracking store a journal's runs were recorded for (its ``build_opened`` event)."""
    for event in journal.events():
        if event.get("event") == "build_opened":
            return event.get("store") if isinstance(event.get("store"), str) else None
    return None


def _unsent(report) -> str | None:
    """Why a sync did not send everything (None: all sent, nothing refused or set aside)."""
    if report.error:
        return report.error
    if report.failed:
        return "; ".join(f"{j}: {said}" for j, said in report.failed)
    if report.quarantined or report.refused:
        return "; ".join(f"{j}: {why}" for j, why in {**report.quarantined, **report.refused}.items())
    if report.pending:
        return f"{report.pending} run(s) still not in the store"
    return None


def _said(exc: BaseException) -> str:
    """An exception in one line."""
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())[:300]


def _orphaned(journal) -> bool:
    """Whether nobody writes ``journal`` (its lock taken and given back at once); False when its
    lock cannot be taken at all (J4: a folder or a FIFO in its place is not a dead writer)."""
    try:
        if not journal.claim():
            return False
    except Exception:  # noqa: BLE001 - claim is total; whatever it raised, nothing is claimed
        return False
    journal.release()
    return True

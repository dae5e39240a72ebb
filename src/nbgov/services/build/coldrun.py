"""A cold cluster build's freshness and lineage records, kept by its driver as a local build keeps them.

A cold task runs as ``nbgov build TASK`` in a subprocess on a worker (services.build.cluster).
When that subprocess builds in a checkout that is not the driver's folder (one fetched by commit
and removed afterwards, or a worker's own ``NBGOV_WORKER_ROOT``), the lineage record it writes
stays there: the driver had no record of the run, so a rebuild ran every task again, and a
downstream task (in another checkout) could not name the run of the upstream task it read. So,
as on the warm path, the driver owns the records:

- before submitting, the driver decides which tasks must run (:func:`must_run`) from its own
  records and the products it holds (downloaded from storage after each run), with the local
  executor's rules; the others are skipped without a subprocess;
- each subprocess is told the runs that made its upstream products
  (:data:`~nbgov.core.lineage.UPSTREAM_RUNS_VAR`, :func:`upstream_runs`) and hands its lineage
  records back in its ``--json`` summary (:func:`hand_back`);
- the driver downloads each task's products from storage, checks they are what the handed-back
  record's digests say, and writes the record where a local build would (:func:`take_back`).

Trust is unchanged (docs/security.md, J8-J10): the record is written at the path the driver's
own pipeline names (no path is read from it), and a governed rebuild still skips it only when git
tracks neither it nor its products and the tracking store has its run
(:func:`nbgov.services.build.trust.distrusted`, run by the driver's gate).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from nbgov.adapters.ploomber import TaskInfo
from nbgov.core.digest import file_digest
from nbgov.core.lineage import HAND_BACK_VAR, LineageRecord, read_record, write_record
from nbgov.services.build.options import TaskSummary


def must_run(infos: list[TaskInfo], names: list[str], check: Callable[[str, set], bool | None],
             force: bool = False) -> list[str]:
    """The tasks of ``names`` a cold build submits, in ``infos``' (topological) order: forced,
    outdated by the content check (``check``, the gate's), else by Ploomber's status when the
    check cannot judge (as the local executor decides), or downstream of a task that runs (its
    inputs are only known once that task ran: the task's own subprocess judges then)."""
    selected = set(names)
    run: list[str] = []
    for info in infos:
        if info.name not in selected:
            continue
        if force or any(u in run for u in info.upstream):
            run.append(info.name)
            continue
        fresh = check(info.name, set())
        if fresh is False or (fresh is None and info.outdated):
            run.append(info.name)
    return run


def upstream_runs(infos: list[TaskInfo], name: str, submitted: list[str]) -> dict[str, list]:
    """Upstream task of ``name`` that is not submitted -> [run id, run key] of the run its
    driver-side lineage record names (the run whose products ``name`` reads)."""
    by_name = {t.name: t for t in infos}
    out: dict[str, list] = {}
    for up in by_name[name].upstream:
        info = by_name.get(up)
        if up in submitted or info is None or info.record is None:
            continue
        record = read_record(info.record)
        if record is not None:
            out[up] = [record.run_id, record.run_key]
    return out


def hand_back(infos: list[TaskInfo], summaries: list[TaskSummary]) -> dict[str, dict]:
    """In a task's subprocess asked for them (:data:`~nbgov.core.lineage.HAND_BACK_VAR`): the
    lineage record of each task of the summary that has one ({} otherwise)."""
    if not os.environ.get(HAND_BACK_VAR):
        return {}
    by_name = {t.name: t for t in infos}
    out = {}
    for summary in summaries:
        info = by_name.get(summary.task)
        record = read_record(info.record) if info is not None and info.record is not None else None
        if record is not None:
            out[summary.task] = record.to_dict()
    return out


def take_back(pipeline, infos: list[TaskInfo], outcomes: list) -> None:
    """Write each handed-back lineage record (``outcome.extra["record"]``) where this driver's
    pipeline keeps the task's record, after downloading the task's products from storage; a
    task whose stored products are not the ones its record names (overwritten since) is failed
    and its record not written, so that the next build runs it again."""
    by_name = {t.name: t for t in infos}
    for outcome in outcomes:
        data = outcome.extra.get("record")
        info = by_name.get(outcome.name)
        if data is None or info is None or info.record is None:
            continue
        problem = _keep(pipeline, info, outcome, data)
        if problem and outcome.outcome == "ran":
            outcome.outcome = "failed"
            outcome.error = f"task {outcome.name} ran on worker {outcome.worker}, but {problem}"


def _keep(pipeline, info: TaskInfo, outcome, data: dict) -> str | None:
    """Write one handed-back record (see :func:`take_back`); why not, or None."""
    try:
        record = LineageRecord.from_dict(data)
    except (ValueError, TypeError) as exc:
        return f"its lineage record cannot be read: {exc}"
    if record.task != info.name or not outcome.run_id or record.run_id != outcome.run_id:
        return "the lineage record it handed back is not its run's"
    if outcome.outcome != "ran" and record.outcome == "succeeded":
        return f"it reported {outcome.outcome} with a record of a successful run"
    if record.outcome == "succeeded":
        if not pipeline.has_file_client:
            # the products stayed in the worker's checkout: this folder cannot vouch for them
            # (no record written: the task runs again next time, as before)
            return None
        try:
            pipeline.download_products(info.name)
        except Exception as exc:  # noqa: BLE001 - storage unreachable, object gone: said, not raised
            return f"its products could not be downloaded from storage: {type(exc).__name__}: {str(exc)[:200]}"
        recorded = record.products or {}
        for key, path in info.products.items():
            # every data product of the driver's task (the executed notebook is no task's input,
            # and its recorded digest is of nbgov's masked copy), at the driver's own path
            if path == info.notebook_product:
                continue
            product = recorded.get(key)
            if not isinstance(product, dict) or not product.get("digest") \
                    or Path(str(product.get("path") or "")).name != path.name:
                return f"its lineage record does not vouch for its product {key!r}"
            if not path.is_file() or file_digest(path) != product["digest"]:
                return (f"its product {product.get('path') or key} in storage is not the one its run made "
                        "(overwritten since?)")
    write_record(record, info.record)
    return None

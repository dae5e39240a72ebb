"""A task's run history, where to open each run in the MLflow UI, and two runs side by side.

The history merges the tracking store's runs of the task with the runs still in the local
journal (a build that could not reach the store keeps them there until ``nbgov sync``): both
are the task's runs, and a data scientist should see the last one whatever the store's state.
Read only: nothing here writes the journal or the store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nbgov.adapters import nbdime
from nbgov.adapters.mlflow.lineage_store import LineageStore
from nbgov.core.config import Config
from nbgov.core.errors import LineageError, TrackingError
from nbgov.core.redact import safe_uri
from nbgov.services.recording.machine import machine_journals

#: Runs listed per task (newest first).
HISTORY_LIMIT = 50
#: A run kept in the journal only is named ``local:<run key>`` (it has no run id yet).
LOCAL = "local:"
#: Where ``mlflow ui`` listens when nbgov says how to start it for the embedded store.
UI_HOST, UI_PORT = "127.0.0.1", 5000


def _iso(ms: Any) -> str | None:
    if not isinstance(ms, (int, float)) or ms <= 0:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration(start: Any, end: Any) -> float | None:
    if isinstance(start, (int, float)) and isinstance(end, (int, float)) and end >= start > 0:
        return round((end - start) / 1000, 3)
    return None


def mlflow_ui(config: Config) -> dict[str, str | None]:
    """Where the project's runs open in the MLflow UI.

    ``url``: ``[tracking] ui_url``, else the tracking server itself (an http(s) store), else,
    for a SQLite store, where the ``command`` (run in the project folder) serves it:
    ``mlflow ui`` bound to 127.0.0.1 only. No absolute path of the server in either, and no
    ``user:password@`` of the tracking URI (a reply carries the address, never a credential).
    """
    uri = config.resolved_tracking_uri()
    ui = config.section("tracking").get("ui_url")
    ui = safe_uri(ui) if isinstance(ui, str) else None
    command = None
    if not ui and uri.startswith(("http://", "https://")):
        ui = safe_uri(uri)
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):])
        try:
            store = f"sqlite:///{db.resolve().relative_to(config.root.resolve()).as_posix()}"
        except ValueError:
            store = f"sqlite:///{db.name}"  # outside the project: the name only (no server path)
        command = f"mlflow ui --backend-store-uri {store} --host {UI_HOST} --port {UI_PORT}"
        ui = ui or f"http://{UI_HOST}:{UI_PORT}"
    return {"url": ui.rstrip("/") if ui else None, "command": command}


def run_url(ui: dict[str, str | None], experiment_id: str | None, run_id: str | None) -> str | None:
    """The MLflow UI page of one run; None for a run not in the store yet."""
    if not ui.get("url") or not run_id or not experiment_id:
        return None
    return f"{ui['url']}/#/experiments/{experiment_id}/runs/{run_id}"


def _journal_rows(config: Config, task: str) -> list[dict[str, Any]]:
    rows = []
    for journal in machine_journals(config.root):  # (not one that came with the checkout: J8)
        confirmed = journal.confirmations()
        for event in journal.events():
            if (event.get("event") != "task_finished" or event.get("task") != task
                    or event.get("seq") in confirmed):
                continue
            tags = event.get("tags") or {}
            rows.append({
                "id": f"{LOCAL}{event.get('key')}", "run_id": None, "synced": False,
                "outcome": tags.get("nbgov.outcome") or event.get("outcome"),
                "started": _iso(event.get("start_ms")), "ended": _iso(event.get("end_ms")),
                "duration_s": _duration(event.get("start_ms"), event.get("end_ms")),
                "params": dict(event.get("params") or {}),
                "metrics": dict(event.get("metrics") or {}),
                "notebook_version": tags.get("nbgov.notebook_version") or None,
                "review_status": tags.get("nbgov.review_status") or None,
                "build_id": tags.get("nbgov.build_id") or journal.build_id,
                "url": None,
            })
    return rows


def _store_row(run: dict[str, Any], ui: dict[str, str | None]) -> dict[str, Any]:
    tags = run["tags"]
    return {
        "id": run["run_id"], "run_id": run["run_id"], "synced": True,
        "outcome": tags.get("nbgov.outcome") or run["status"].lower(),
        "started": _iso(run["start_ms"]), "ended": _iso(run["end_ms"]),
        "duration_s": _duration(run["start_ms"], run["end_ms"]),
        "params": run["params"], "metrics": run["metrics"],
        "notebook_version": tags.get("nbgov.notebook_version") or None,
        "review_status": tags.get("nbgov.review_status") or None,
        "build_id": tags.get("nbgov.build_id"),
        "url": run_url(ui, run["experiment_id"], run["run_id"]),
    }


def task_history(config: Config, task: str, limit: int = HISTORY_LIMIT) -> dict[str, Any]:
    """The runs of ``task``, newest first: the store's and the journal's not yet synced.

    Returns:
        ``{"task", "runs": [...], "ui": {"url", "command"}, "store_error"}``; each run has
        ``id`` (its run id, or ``local:KEY`` while only in the journal), ``run_id``,
        ``synced``, ``outcome``, ``started``, ``ended``, ``duration_s``, ``params``,
        ``metrics``, ``notebook_version``, ``review_status``, ``build_id``, ``url`` (its MLflow
        UI page). ``store_error`` says why the store's runs are missing (unreachable).
    """
    ui = mlflow_ui(config)
    runs = _journal_rows(config, task)
    store_error = None
    try:
        found = LineageStore(config.resolved_tracking_uri()).task_run_rows(
            task, config.experiment, limit)
        runs += [_store_row(run, ui) for run in found]
    except TrackingError as exc:
        store_error = exc.message
    runs.sort(key=lambda r: r["started"] or "", reverse=True)
    return {"task": task, "runs": runs[:limit], "ui": ui, "store_error": store_error}


def executed_view(nb: dict[str, Any]) -> dict[str, Any]:
    """An executed notebook as two runs are compared: every cell (papermill's injected
    parameters too: they are what differs between runs), sources, tags, outputs and execution
    counts; ids and other metadata dropped. Multi-line strings as stored on disk are joined
    (nbdime compares strings)."""

    def text(value: Any) -> Any:
        return "".join(value) if isinstance(value, list) else value

    cells = []
    for cell in nb.get("cells") or []:
        tags = (cell.get("metadata") or {}).get("tags")
        out: dict[str, Any] = {"cell_type": cell.get("cell_type", "code"),
                               "metadata": {"tags": list(tags)} if tags else {},
                               "source": text(cell.get("source", ""))}
        if out["cell_type"] == "code":
            outputs = []
            for output in cell.get("outputs") or []:
                output = dict(output)
                if "text" in output:
                    output["text"] = text(output["text"])
                if isinstance(output.get("data"), dict):
                    output["data"] = {mime: value if mime.endswith("json") else text(value)
                                      for mime, value in output["data"].items()}
                outputs.append(output)
            out["outputs"] = outputs
            out["execution_count"] = cell.get("execution_count")
        cells.append(out)
    meta = nb.get("metadata") or {}
    keep = {k: meta[k] for k in ("kernelspec",) if k in meta}
    return {"nbformat": 4, "nbformat_minor": 4, "metadata": keep, "cells": cells}


def compare_runs(config: Config, task: str, a: str, b: str) -> dict[str, Any]:
    """Two runs of ``task`` side by side: both rows of :func:`task_history` and, when both are
    in the store with their executed notebooks, nbdime's diff of those (outputs included).

    Returns:
        ``{"task", "a", "b", "notebooks": {"base", "diff"} or None, "notebooks_note"}``.

    Raises:
        LineageError: either id is not a run of ``task``.
    """
    history = task_history(config, task, limit=1000)
    by_id = {run["id"]: run for run in history["runs"]}
    missing = [rid for rid in (a, b) if rid not in by_id]
    if missing:
        where = f" ({history['store_error']})" if history["store_error"] else ""
        raise LineageError(f"no run {', '.join(missing)} of task {task}{where}",
                           hint="pick two runs from the task's run history")
    left, right = by_id[a], by_id[b]
    notebooks, note = None, None
    if left["run_id"] and right["run_id"]:
        store = LineageStore(config.resolved_tracking_uri())
        base_nb, other_nb = store.executed_notebook(left["run_id"]), store.executed_notebook(right["run_id"])
        if base_nb is not None and other_nb is not None:
            base, other = executed_view(base_nb), executed_view(other_nb)
            notebooks = {"base": base, "diff": nbdime.diff(base, other)}
        else:
            note = "an executed notebook is missing from the tracking store"
    else:
        note = "a run kept in the local journal has no executed notebook in the store yet"
    return {"task": task, "a": left, "b": right, "notebooks": notebooks, "notebooks_note": note,
            "ui": history["ui"]}

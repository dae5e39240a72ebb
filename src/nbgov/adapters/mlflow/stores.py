"""Tracking stores, without importing MLflow: is a store there and answering, is a SQLite store
sound, MLflow's environment settings for failing fast, and one-line error texts.

Shared by the MLflow adapters (:mod:`.mlflow`, :mod:`.registry`, :mod:`.lineage_store`) and the
services that check a store before they use it.
"""

from __future__ import annotations

import http.client
import logging
import os
import socket
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

from nbgov.core.errors import TrackingError


def quiet_mlflow() -> None:
    """MLflow's environment settings for failing fast and quietly (set before it is used)."""
    # fail fast: MLflow's defaults (7 retries, backoff factor 2, 120 s timeout) spend ~4 minutes
    # on a dead server before saying anything; the journal keeps what could not be sent
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    os.environ.setdefault("MLFLOW_ENABLE_TRACING", "false")
    # MLflow 3 prints "View run ... at URL" to stdout after each run on a tracking server (which
    # breaks `--json` output) and makes an extra get_run call to do it
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    for name in ("mlflow", "alembic", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)


def reachable(uri: str, timeout: float = 3.0, answer_timeout: float = 5.0,
              hint: str = "start it, or check MLFLOW_TRACKING_URI / tracking_uri in nbgov.toml") -> None:
    """Raise TrackingError within seconds when a tracking server is not usable: it refuses
    connections (within ``timeout``), or accepts them and does not answer a ``GET .../health``
    within ``answer_timeout`` (a hung or overloaded server; MLflow's own client would wait its
    request timeout twice over), or answers it with a 5xx (a proxy in front of a dead server).
    Any other answer (200, or 401/404 from a proxy or an auth layer) counts as alive."""
    parts = urlsplit(uri)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or "localhost"
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise TrackingError(f"tracking server {uri} is not reachable: {exc.strerror or exc}", hint=hint) from None
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(host, port, timeout=answer_timeout)
    try:
        conn.request("GET", parts.path.rstrip("/") + "/health", headers={"Connection": "close"})
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        why = "did not answer within" if isinstance(exc, TimeoutError) else "failed"
        detail = f"{answer_timeout:g} s" if why == "did not answer within" else f"{exc.__class__.__name__}: {exc}"
        raise TrackingError(f"tracking server {uri} {why} {detail}"[:300], hint=hint) from None
    finally:
        conn.close()
    if status >= 500:
        raise TrackingError(f"tracking server {uri} answered HTTP {status}", hint=hint)


def check_reachable(uri: str, timeout: float = 3.0) -> None:
    """Fail fast when a tracking store cannot be reached, instead of MLflow's minute of retries.

    Raises:
        TrackingError: a missing SQLite/file store, or a server that refuses connections or
            does not answer.
    """
    hint = "set MLFLOW_TRACKING_URI (or tracking_uri in nbgov.toml) to the store the build used"
    parts = urlsplit(uri)
    if parts.scheme == "sqlite":
        path = Path(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else None
        if path is None or not path.is_file():
            raise TrackingError(f"tracking store {uri} does not exist", hint=hint)
        check_sqlite(path)
    elif parts.scheme in ("http", "https"):
        reachable(uri, timeout, hint=hint)  # refused, not answering, or a 5xx: within seconds
    elif parts.scheme in ("", "file"):
        path = Path(parts.path if parts.scheme == "file" else uri)
        if not path.exists():
            raise TrackingError(f"tracking store {uri} does not exist", hint=hint)


def check_sqlite(path: Path) -> None:
    """Raise TrackingError naming a damaged SQLite store (MLflow would dump a SQLAlchemy
    traceback from deep inside its migrations)."""
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            con.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise TrackingError(f"tracking store {path} is damaged: {exc}",
                            hint="restore it from a backup, or move it away and record again with "
                                 "nbgov build --force") from None


def relocate_embedded_store(db: Path, root: Path) -> str | None:
    """Point an embedded SQLite store that moved with its project (copied or renamed folder) at
    the project's own ``mlruns/``: MLflow stores absolute artifact locations, so a copied
    project would go on writing into the old folder. Returns the old root when it relocated.

    Only ``file:`` locations under ``<old root>/mlruns`` are rewritten, in one transaction.
    """
    if not db.is_file():
        return None
    new = (root / "mlruns").as_uri()
    try:
        con = sqlite3.connect(str(db), timeout=30)
    except sqlite3.Error:
        return None
    try:
        rows = con.execute("SELECT artifact_location FROM experiments").fetchall()
        olds = {loc[: -len("/mlruns")] for (loc,) in rows
                if isinstance(loc, str) and loc.startswith("file://") and loc.rstrip("/").endswith("/mlruns")
                and not loc.rstrip("/") == new}
        olds = {o for o in olds if o != root.as_uri()}
        if not olds:
            return None
        with con:
            for old in olds:
                for table, column in (("experiments", "artifact_location"), ("runs", "artifact_uri"),
                                      ("model_versions", "source"), ("model_versions", "storage_location")):
                    try:
                        con.execute(f"UPDATE {table} SET {column} = ? || substr({column}, ?) "  # noqa: S608
                                    f"WHERE {column} LIKE ?", (new, len(old + "/mlruns") + 1, old + "/mlruns%"))
                    except sqlite3.OperationalError:
                        continue  # an older schema without that column
        return sorted(olds)[0]
    except sqlite3.Error:
        return None
    finally:
        con.close()


def short_error(exc: BaseException) -> str:
    """The first line of an error's text (at most 300 characters), for a one-line message."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def missing_runs(uri: str, run_ids: list[str], timeout: float = 3.0) -> list[str] | None:
    """The run ids of ``run_ids`` that the store at ``uri`` does not have (deleted or never
    there: a store restarted empty), without importing MLflow; None when that cannot be told
    (the store is unreachable, or of a kind not checked here)."""
    ids = [r for r in dict.fromkeys(run_ids) if r]
    if not ids:
        return []
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):])
        if not db.is_file():
            return ids
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
            try:
                marks = ",".join("?" * len(ids))
                found = {row[0] for row in con.execute(
                    f"SELECT run_uuid FROM runs WHERE run_uuid IN ({marks}) "  # noqa: S608 - placeholders only
                    "AND lifecycle_stage != 'deleted'", ids)}
            finally:
                con.close()
        except sqlite3.Error:
            return None
        return [r for r in ids if r not in found]
    if uri.startswith(("http://", "https://")):
        parts = urlsplit(uri)
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        gone = []
        for run_id in ids[:50]:
            conn = kind(parts.hostname or "localhost", parts.port or (443 if parts.scheme == "https" else 80),
                        timeout=timeout)
            try:
                conn.request("GET", f"{parts.path.rstrip('/')}/api/2.0/mlflow/runs/get?run_id={run_id}")
                response = conn.getresponse()
                body = response.read(4096).decode("utf-8", "replace")
            except (OSError, http.client.HTTPException):
                return None
            finally:
                conn.close()
            if response.status == 404 or "RESOURCE_DOES_NOT_EXIST" in body:
                gone.append(run_id)
            elif response.status != 200:
                return None
            elif '"lifecycle_stage": "deleted"' in body or '"lifecycle_stage":"deleted"' in body:
                gone.append(run_id)
        return gone
    return None

"""Benchmark 4: tracking overhead per task, embedded SQLite store and a real ``mlflow server``.

nbgov's side is the real recorder of a build (:class:`nbgov.services.recording.recorder.Recorder`):
one parent run, then per task a child run with params, scrap metrics, tags, the lineage
record (artifact and file next to the products), dataset inputs and the executed notebook. Its
time is what the build itself spends per task (journal, hand-over to the upload process, which
sends on the other core); ``drained_ms_per_task`` is the time until the upload process has sent
everything, its start and MLflow import included.
The anchor is what a notebook author writes by hand with MLflow's fluent API for the same
content (nested ``start_run``, ``log_params``, ``log_metrics``, ``set_tags``, ``log_dict``,
``log_artifact``). Both run in this process, alternating, after one warm-up round; the mlflow
server is started here on a free 127.0.0.1 port and stopped afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks.projects import git_init, pipeline_project
from benchmarks.runner import BIN, alternate, row
from benchmarks.servers import BackgroundServer, free_port

SCRAP = "application/scrapbook.scrap.json+json"
METRICS = {"accuracy": 0.91, "f1": 0.88, "precision": 0.9, "recall": 0.86, "loss": 0.23}
PARAMS = {"seed": 42, "n_estimators": 100, "max_depth": 6}
TARGET_MS = {"sqlite": 25.0, "http": 80.0}


def _executed(source: Path, product: Path) -> None:
    """An executed-looking notebook product: papermill timings and five glued metrics."""
    nb = json.loads(source.read_text())
    nb["metadata"]["papermill"] = {
        "start_time": "2026-01-01T00:00:00.000000",
        "end_time": "2026-01-01T00:00:01.000000",
        "duration": 1.0,
    }
    for cell in nb["cells"]:
        cell["execution_count"] = 1
    nb["cells"][-1]["outputs"] = [
        {
            "output_type": "display_data",
            "data": {SCRAP: {"name": k, "data": v, "encoder": "json", "version": 1}},
            "metadata": {"scrapbook": {"name": k, "data": True, "display": False}},
        }
        for k, v in METRICS.items()
    ]
    product.parent.mkdir(parents=True, exist_ok=True)
    product.write_text(json.dumps(nb, indent=1))


class MlflowServer(BackgroundServer):
    """A real ``mlflow server`` on 127.0.0.1 (SQLite backend, served artifacts), as a context."""

    name = "mlflow server"

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        cmd = [
            str(BIN / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{folder / 'server.db'}",
            "--artifacts-destination",
            str(folder / "served"),
        ]
        super().__init__(cmd, folder / "mlflow-server.log")

    def ready(self) -> bool:
        with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as resp:
            return resp.status == 200


def _setup(folder: Path, n: int):
    """A generated project whose tasks look executed, and nbgov's view of its tasks."""
    from nbgov.adapters.ploomber import TaskInfo
    from nbgov.core.config import load_config

    root = pipeline_project(folder / "project", n, linear=True)
    git_init(root)
    infos = []
    for i in range(n):
        name = f"t{i:02d}"
        source, product = root / "notebooks" / f"{name}.ipynb", root / "products" / f"{name}.ipynb"
        _executed(source, product)
        infos.append(
            TaskInfo(
                name=name,
                source=source,
                products={"nb": product},
                params=dict(PARAMS),
                upstream=[f"t{i - 1:02d}"] if i else [],
                notebook_product=product,
            )
        )
    return load_config(root), infos


_drained: list[float] = []


def _nbgov_once(config, infos) -> float:
    """Seconds per task the build itself spends recording (journal, hand-over to the upload
    process); the time until the upload process has sent everything (its start and MLflow
    import included) goes to ``_drained``."""
    from nbgov.services.recording.recorder import Recorder

    started = time.perf_counter()
    recorder = Recorder(config, infos)
    recorder.open()
    for info in infos:
        recorder.task_started(info.name)
        recorder.task_finished(info.name, "ran")
    on_path = time.perf_counter() - started
    report = recorder.close("FINISHED")
    _drained.append((time.perf_counter() - started) / len(infos))
    assert len(report.tasks) == len(infos) and report.pending == 0, report
    return on_path / len(infos)


def _fluent_once(uri: str, infos) -> float:
    import mlflow

    started = time.perf_counter()
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("bench-fluent")
    with mlflow.start_run(run_name="build"):
        for info in infos:
            with mlflow.start_run(run_name=info.name, nested=True):
                mlflow.log_params(info.params)
                mlflow.log_metrics(METRICS)
                mlflow.set_tags({"task": info.name, "notebook": info.source.name})
                mlflow.log_dict({"task": info.name, "upstream": info.upstream}, "lineage.json")
                mlflow.log_artifact(str(info.notebook_product), "notebook")
    return (time.perf_counter() - started) / len(infos)


def _compare(
    store: str, nbgov_uri: str, fluent_uri: str, config, infos, rounds: int, warmup: int
) -> dict:
    config = dataclasses.replace(config, tracking_uri=nbgov_uri)
    times = alternate(
        {
            "nbgov": lambda: _nbgov_once(config, infos),
            "fluent": lambda: _fluent_once(fluent_uri, infos),
        },
        rounds,
        warmup=warmup,  # the first run creates the store's schema
    )
    ms = {k: [t * 1000 for t in v] for k, v in times.items()}
    drained = sorted(_drained[-rounds:])
    _drained.clear()
    result = row(
        "tracking",
        f"{store}: per task ({len(infos)} tasks)",
        ms["nbgov"],
        ms["fluent"],
        "mlflow fluent API",
        unit="ms",
        target=f"<= {TARGET_MS[store]:.0f} ms",
    )
    result["met"] = result["nbgov"] <= TARGET_MS[store]
    # what the upload process takes, off the build's path, until everything is in the store
    result["drained_ms_per_task"] = round(drained[len(drained) // 2] * 1000, 1) if drained else None
    return result


def run(quick: bool = False) -> list[dict]:
    """Rows for the embedded store and the HTTP server (``quick``: 2 tasks, 1 round, no
    warm-up)."""
    n, rounds, warmup = (2, 1, 0) if quick else (10, 5, 1)
    folder = Path(tempfile.mkdtemp(prefix="nbgov-bench-tracking-"))
    saved = os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ["MLFLOW_ENABLE_TRACING"] = "false"
    import logging

    import mlflow  # noqa: F401 - configures its loggers at import; quiet them after

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # no "View run at ..." line per run
    try:
        config, infos = _setup(folder, n)
        rows = [
            _compare(
                "sqlite",
                f"sqlite:///{folder / 'nbgov.db'}",
                f"sqlite:///{folder / 'fluent.db'}",
                config,
                infos,
                rounds,
                warmup,
            )
        ]
        with MlflowServer(folder) as server:
            rows.append(_compare("http", server.uri, server.uri, config, infos, rounds, warmup))
        return rows
    finally:
        # mlflow.set_tracking_uri() exports MLFLOW_TRACKING_URI; later benchmarks must not see it
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        if saved is not None:
            os.environ["MLFLOW_TRACKING_URI"] = saved
        shutil.rmtree(folder, ignore_errors=True)

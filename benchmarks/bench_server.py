"""Benchmark 7: latency of the server extension's status and pipeline routes at 100 tasks.

A real ``jupyter server`` (nbgov.server enabled, Ploomber's extensions off) serves a generated
100-task project on a free 127.0.0.1 port. One keep-alive HTTP connection (as a browser tab
holds) asks in turn for a notebook's review status (``GET nbgov/api/review?path=``), the
pipeline (``GET nbgov/api/pipeline``) and, as the anchor, the same notebook from Jupyter's own
contents API without content (``GET api/contents/PATH?content=0``). p50 and p95 per route.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.projects import git_init, pipeline_project
from benchmarks.runner import BIN, quiet_env
from benchmarks.servers import BackgroundServer, free_port

TARGET_P95_MS = 50.0


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p95) of ``samples``."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[94]


class JupyterServer(BackgroundServer):
    """``jupyter server`` on 127.0.0.1 with a random token, serving ``root``, as a context."""

    name = "jupyter server"

    def __init__(self, root: Path, folder: Path) -> None:
        self.port = free_port()
        self.token = secrets.token_hex(16)
        config = folder / "jupyter_server_config.json"
        config.write_text(
            json.dumps(
                {
                    "ServerApp": {
                        "jpserver_extensions": {
                            "nbgov.server": True,
                            "ploomber": False,
                            "ploomber_extension": False,
                        }
                    }
                }
            )
        )
        cmd = [
            str(BIN / "jupyter-server"),
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={root}",
            f"--config={config}",
            "--ServerApp.port_retries=0",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # CI containers run as root
        env = quiet_env(
            JUPYTER_CONFIG_DIR=str(folder / "jupyter-config"),
            JUPYTER_RUNTIME_DIR=str(folder / "rt"),
        )
        super().__init__(cmd, folder / "jupyter-server.log", env)

    def ready(self) -> bool:
        return self.get("api/status")[0] == 200

    def get(self, route: str, conn: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
        """GET ``route`` (relative to the server root URL) with the token."""
        own = conn is None
        conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("GET", f"/{route}", headers={"Authorization": f"token {self.token}"})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            if own:
                conn.close()


def run(quick: bool = False) -> list[dict]:
    """Rows for GET review (status) and GET pipeline (``quick``: 20 tasks, 20 requests each)."""
    n_tasks, requests = (20, 20) if quick else (100, 200)
    folder = Path(tempfile.mkdtemp(prefix="nbgov-bench-server-"))
    try:
        root = pipeline_project(folder / "project", n_tasks, linear=True)
        git_init(root)
        with JupyterServer(root, folder) as server:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            routes = {
                "review": lambda i: f"nbgov/api/review?path=notebooks/t{i % n_tasks:02d}.ipynb",
                "pipeline": lambda i: "nbgov/api/pipeline",
                "contents": lambda i: f"api/contents/notebooks/t{i % n_tasks:02d}.ipynb?content=0",
            }
            started = time.perf_counter()
            status, body = server.get(routes["pipeline"](0), conn)
            cold_ms = (time.perf_counter() - started) * 1000
            if status != 200 or len(json.loads(body)["tasks"]) != n_tasks:
                raise RuntimeError(f"GET pipeline: {status} {body[:500]!r}")
            samples: dict[str, list[float]] = {name: [] for name in routes}
            for i in range(requests):
                for name, route in routes.items():
                    t0 = time.perf_counter()
                    status, body = server.get(route(i), conn)
                    samples[name].append((time.perf_counter() - t0) * 1000)
                    if status != 200:
                        raise RuntimeError(f"GET {route(i)}: {status} {body[:500]!r}")
            conn.close()
        anchor_p50, anchor_p95 = percentiles(samples["contents"])
        rows = []
        for name, label in (("review", "GET review (status)"), ("pipeline", "GET pipeline")):
            p50, p95 = percentiles(samples[name])
            rows.append(
                {
                    "benchmark": "server",
                    "case": f"{label}, {n_tasks} tasks, p95",
                    "unit": "ms",
                    "nbgov": round(p95, 2),
                    "anchor": round(anchor_p95, 2),
                    "anchor_name": "GET api/contents",
                    "ratio": round(p95 / anchor_p95, 3),
                    "target": f"p95 <= {TARGET_P95_MS:.0f} ms",
                    "met": p95 <= TARGET_P95_MS,
                    "rounds": requests,
                    "p50_ms": round(p50, 2),
                    "p95_ms": round(p95, 2),
                    "anchor_p50_ms": round(anchor_p50, 2),
                    "first_pipeline_ms": round(cold_ms, 1),
                    "samples": {
                        "nbgov": [round(x, 2) for x in samples[name]],
                        "anchor": [round(x, 2) for x in samples["contents"]],
                    },
                }
            )
        return rows
    finally:
        shutil.rmtree(folder, ignore_errors=True)

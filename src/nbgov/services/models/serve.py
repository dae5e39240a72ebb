"""Serve a registered model with MLflow's scoring server (``POST /invocations``).

The alias is resolved once, when the server starts, and the server is started on the resolved
``models:/NAME/VERSION``: what is served does not change if the alias moves meanwhile, and the
log says which version answers. The server runs in the local Python environment
(``--env-manager local``: no conda or virtualenv is created, nothing is downloaded) and binds
127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from nbgov.adapters.mlflow.registry import ModelVersion, Registry, parse_model_uri, serve_command
from nbgov.core.config import Config
from nbgov.core.errors import ParameterError, TaskFailedError


@dataclass
class ModelServer:
    """A running scoring server (a process group this process started).

    Attributes:
        model: the model version served.
        url: base URL, e.g. ``http://127.0.0.1:5001``.
        process: the server process.
    """

    model: ModelVersion
    url: str
    process: subprocess.Popen

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Block until ``GET /ping`` answers 200; return the seconds it took.

        Raises:
            TaskFailedError: the server exited or did not answer in time (its output is kept in
                the message).
        """
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.process.poll() is not None:
                out = self.process.stdout.read() if self.process.stdout else ""
                raise TaskFailedError(
                    f"the scoring server exited with code {self.process.returncode}",
                    hint=(out or "")[-1500:] or None,
                )
            try:
                with urllib.request.urlopen(self.url + "/ping", timeout=2) as resp:
                    if resp.status == 200:
                        return time.monotonic() - start
            except (urllib.error.URLError, http.client.HTTPException, OSError):
                pass  # not up yet (or something else answers there: wait for the exit code)
            time.sleep(0.25)
        self.stop()
        raise TaskFailedError(
            f"the scoring server did not answer on {self.url} within {timeout:g} s"
        )

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stop the server's process group (SIGTERM, then SIGKILL); return its exit code."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        # the server's workers share its group and may still hold the port after it exited:
        # stopped means the whole group is gone
        # (bounded: an exited worker nobody reaps yet still counts as a member)
        deadline, killed = time.monotonic() + timeout, False
        while _group_alive(self.process.pid) and time.monotonic() < deadline + (timeout if killed else 0):
            if not killed and time.monotonic() >= deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                killed = True
            time.sleep(0.05)
        return self.process.returncode


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _check_port(host: str, port: int) -> None:
    if not 0 < port < 65536:
        raise ParameterError(f"port {port} is out of range", hint="use 1024-65535")
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ParameterError(
                f"cannot listen on {host}:{port}: {exc.strerror}", hint="choose another --port"
            ) from None


def start_server(
    config: Config, target: str, port: int = 5001, host: str = "127.0.0.1", capture: bool = False
) -> ModelServer:
    """Resolve ``target`` and start ``mlflow models serve`` on it in a new process group.

    Args:
        config: the project (its tracking URI names the registry).
        target: ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``.
        port: the TCP port.
        host: the interface (default loopback only).
        capture: keep the server's output in a pipe (tests) instead of the terminal.

    Raises:
        ParameterError: the URI is malformed or the port is taken.
        LineageError: the model or alias does not exist.
        TrackingError: the store is unreachable.
    """
    uri = config.resolved_tracking_uri()
    model = Registry(uri).resolve(parse_model_uri(target))
    _check_port(host, port)
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_REGISTRY_URI": uri}
    # mlflow starts `uvicorn` by name: make the one next to this Python findable even when the
    # virtual environment is not activated
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    out = subprocess.PIPE if capture else None
    process = subprocess.Popen(
        serve_command(model.uri, port, host),
        env=env,
        cwd=config.root,
        stdout=out,
        stderr=subprocess.STDOUT if capture else None,
        text=True,
        start_new_session=True,  # its own group: stop() ends uvicorn's workers too
    )
    return ModelServer(model, f"http://{host}:{port}", process)

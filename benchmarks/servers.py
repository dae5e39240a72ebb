"""Servers the benchmarks start on 127.0.0.1 and always stop: a base class and a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from benchmarks.runner import quiet_env


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BackgroundServer:
    """A server process in its own session, as a context: started, waited for, stopped.

    Subclasses set ``name``, build ``cmd`` and ``log`` in ``__init__`` and answer
    :meth:`ready` (one probe; an OSError means not yet).
    """

    name = "server"
    startup_s = 120.0

    def __init__(self, cmd: list[str], log: Path, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.cmd, self.log, self.env, self.cwd = cmd, log, env or quiet_env(), cwd
        self.proc: subprocess.Popen | None = None

    def ready(self) -> bool:
        """One readiness probe."""
        raise NotImplementedError

    def __enter__(self):
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                self.cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True,
                cwd=self.cwd,
            )
        deadline = time.monotonic() + self.startup_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                if self.ready():
                    return self
            except OSError:
                pass
            time.sleep(0.3)
        self.__exit__()
        raise RuntimeError(
            f"{self.name} did not answer within {self.startup_s:.0f} s: "
            f"{self.log.read_text()[-2000:]}"
        )

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            # its own session: the server and any workers it forked go together
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class MotoS3(BackgroundServer):
    """moto's S3 server (``moto_server``, from the dev extras) on 127.0.0.1: products through storage."""

    name = "moto_server"

    def __init__(self, bin_dir: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__([str(bin_dir / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)], log)

    def ready(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            return True


class DaskScheduler(BackgroundServer):
    """A ``dask scheduler`` on 127.0.0.1 (no dashboard), working in ``cwd``."""

    name = "dask scheduler"

    def __init__(self, bin_dir: Path, log: Path, cwd: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        super().__init__([str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                          "--no-dashboard"], log, env, cwd)

    def ready(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            return True


class DaskWorker(BackgroundServer):
    """One single-threaded ``dask worker`` on 127.0.0.1 working (and spilling) in ``cwd``; ready
    once started (the caller waits for the scheduler to count it)."""

    name = "dask worker"

    def __init__(self, bin_dir: Path, address: str, log: Path, cwd: Path, env: dict[str, str]) -> None:
        cwd.mkdir(parents=True, exist_ok=True)
        super().__init__([str(bin_dir / "dask"), "worker", address, "--nthreads", "1", "--nworkers", "1",
                          "--host", "127.0.0.1", "--no-dashboard", "--local-directory", str(cwd)], log, env, cwd)

    def ready(self) -> bool:
        return True

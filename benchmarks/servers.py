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

    def __init__(self, cmd: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.cmd, self.log, self.env = cmd, log, env or quiet_env()
        self.proc: subprocess.Popen | None = None

    def ready(self) -> bool:
        """One readiness probe."""
        raise NotImplementedError

    def __enter__(self):
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                self.cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
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

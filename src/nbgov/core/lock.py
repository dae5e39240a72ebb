"""One build at a time per project: an OS file lock in ``.nbgov/``.

``flock`` is released by the kernel when its holder dies (kill -9 included), so a crashed
build never leaves the project locked. The holder writes who it is (pid, start time,
command) into the lock file so that the next build can say who holds it. (DVC locks its
repository the same way.)
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nbgov.core.errors import Location, NbgovError


class LockHeldError(NbgovError):
    """Another process holds the project's lock."""


class ProjectLock:
    """An exclusive lock on a file (``.nbgov/build.lock``).

    Args:
        path: the lock file.
        what: what the holder does, for messages ("build", "sync").
    """

    def __init__(self, path: Path, what: str = "build") -> None:
        self.path = path
        self.what = what
        self._fd: int | None = None

    def holder(self) -> dict[str, Any] | None:
        """Who holds (or last held) the lock, as written by its holder."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8") or "null")
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def acquire(self, wait: float | bool = False, command: str = "") -> None:
        """Take the lock; ``wait``: False (fail at once), True (forever) or seconds.

        Raises:
            LockHeldError: another live process holds it (exit 2), naming its pid and start.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = None if wait is True else time.monotonic() + (float(wait) if wait else 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    os.close(fd)
                    raise self._held_error() from None
                time.sleep(0.1)
        info = {"pid": os.getpid(), "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "command": command, "what": self.what}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd

    def _held_error(self) -> LockHeldError:
        who = self.holder() or {}
        pid = who.get("pid", "?")
        since = who.get("started", "?")
        doing = who.get("command") or who.get("what") or "an nbgov command"
        return LockHeldError(
            f"another {doing} is running in this project (pid {pid}, started {since})",
            Location(self.path),
            hint="wait for it to finish, or run again with --wait to wait for it")

    def release(self) -> None:
        """Release the lock (also released when the process ends)."""
        if self._fd is None:
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> ProjectLock:
        if not self.held:
            self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def build_lock(root: Path) -> ProjectLock:
    """The lock every build and sync of the project at ``root`` takes."""
    return ProjectLock(root / ".nbgov" / "build.lock", "build")

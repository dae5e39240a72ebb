"""One build at a time per project: an OS file lock in ``.nbgov/``.

``flock`` is released by the kernel when its holder dies (kill -9 included), so a crashed
build never leaves the project locked. The holder writes who it is (pid, start time,
command) into the lock file so that the next build can say who holds it. (DVC locks its
repository the same way.)

The build lock is taken on the ``.nbgov`` folder itself, not on ``build.lock``: deleting a
"stale" ``build.lock`` during a build (the usual reflex) must not let a second build in. The
file only says who holds the lock. Other locks are on their file, checked to be the file
still at that path once taken (a file deleted or replaced meanwhile is locked again).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nbgov.core.errors import Location, NbgovError
from nbgov.core.localfiles import refuse_state_links
from nbgov.core.oserrors import storage_error


class LockHeldError(NbgovError):
    """Another process holds the project's lock."""


class ProjectLock:
    """An exclusive lock on a file (``.nbgov/build.lock``).

    Args:
        path: the lock file.
        what: what the holder does, for messages ("build", "sync").
    """

    def __init__(self, path: Path, what: str = "build", anchor: Path | None = None) -> None:
        self.path = path
        self.what = what
        self.anchor = anchor  # the folder locked instead of the file (None: the file itself)
        self._fd: int | None = None
        self._info_fd: int | None = None

    def holder(self) -> dict[str, Any] | None:
        """Who holds (or last held) the lock, as written by its holder."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8") or "null")
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def acquire(self, wait: float | bool = False, command: str = "", waiting: Any = None) -> None:
        """Take the lock; ``wait``: False (fail at once), True (forever) or seconds.

        Args:
            waiting: called once with the holder's description when the lock is busy and the
                caller waits (so that a wait says what it waits for).

        Raises:
            LockHeldError: another live process holds it (exit 2), naming its pid and start.
        """
        deadline = None if wait is True else time.monotonic() + (float(wait) if wait else 0.0)
        told = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(exc, self.path.parent, "cannot create the lock's folder") from None
        while True:
            try:
                fd = os.open(self.anchor or self.path, (os.O_RDONLY if self.anchor else os.O_RDWR | os.O_CREAT), 0o644)
            except OSError as exc:
                raise storage_error(exc, self.anchor or self.path, f"cannot open the {self.what} lock") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if deadline is not None and time.monotonic() >= deadline:
                    raise self._held_error() from None
                if waiting is not None and not told:
                    told = True
                    waiting(self._holder_text())
                time.sleep(0.1)
                continue
            if self.anchor is None and not same_file(fd, self.path):
                os.close(fd)  # deleted or replaced after we opened it: lock what is there now
                continue
            break
        info = {"pid": os.getpid(), "started": datetime.now(UTC).isoformat(timespec="seconds"),
                "command": command, "what": self.what}
        self._fd = fd
        try:
            self._write_info(info)
        except OSError as exc:
            self.release()
            raise storage_error(exc, self.path, f"cannot write the {self.what} lock") from None

    def _write_info(self, info: dict[str, Any]) -> None:
        if self.anchor is None:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, json.dumps(info).encode(), 0)
            return
        # the lock is the folder's; the file only says who holds it (written whole: renamed)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(info), encoding="utf-8")
        os.replace(tmp, self.path)

    def _holder_text(self) -> str:
        who = self.holder() or {}
        doing = who.get("command") or who.get("what") or "an nbgov command"
        return f"{doing} (pid {who.get('pid', '?')}, started {who.get('started', '?')})"

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
    """The lock every build and sync of the project at ``root`` takes (on the ``.nbgov``
    folder: deleting ``build.lock`` does not release it).

    Raises:
        StateLinkError: ``.nbgov`` or one of its state folders is a symbolic link."""
    refuse_state_links(root)  # (a build's or sync's first write: never through a committed link)
    return ProjectLock(root / ".nbgov" / "build.lock", "build", anchor=root / ".nbgov")


def same_file(fd: int, path: Path) -> bool:
    """Whether open descriptor ``fd`` is the file now at ``path`` (not deleted or replaced)."""
    try:
        mine, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)


def try_lock(path: Path, create: bool = False) -> int | None:
    """Take an exclusive lock on ``path`` without waiting: the open descriptor (close it to
    release), or None when another process holds it, or when the file does not exist and
    ``create`` is false. A file deleted or replaced while being locked is locked again."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o644)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        if same_file(fd, path):
            return fd
        os.close(fd)
        if not create:
            return None

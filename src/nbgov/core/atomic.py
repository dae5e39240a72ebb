"""Atomic file writes: a reader sees the old file or the new one, never half of either; and
private folders for nbgov's own state (journal, cache: 0700, their files 0600)."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from nbgov.core.errors import StateLinkError


def atomic_write(path: str | Path, data: str | bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    The temporary file is fsynced before ``os.replace`` so a crash leaves either the old
    content or the new one. Parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        elif path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


#: Modes of nbgov's own state (``.nbgov/journal/``, ``.nbgov/cache/``): parameters, errors and
#: run data live there before redaction could be complete, so only the owner reads them.
PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600


def private_dir(path: str | Path) -> Path:
    """Create ``path`` (parents as usual) and make the folder itself owner-only (0700),
    tightening one an older nbgov created world-readable. Returns the path.

    Raises:
        StateLinkError: ``path``, or a folder above it up to the ``.nbgov`` it is in, is a
            symbolic link (a committed ``.nbgov/journal -> /elsewhere``): nothing is created
            nor chmodded through it.
    """
    path = Path(path)
    refuse_linked_state(path)
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    try:  # (O_NOFOLLOW: a link put there meanwhile is not chmodded through either)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        refuse_linked_state(path)
        raise
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, PRIVATE_DIR)
    except OSError:
        pass  # not ours (a shared folder): its owner decides
    finally:
        os.close(fd)
    return path


def refuse_linked_state(path: Path) -> None:
    """Raise :class:`StateLinkError` when ``path`` or one of its folders, up to the ``.nbgov``
    folder it lies in (only ``path`` itself when it lies in none), is a symbolic link."""
    for part in (path, *path.parents):
        try:
            if stat.S_ISLNK(os.lstat(part).st_mode):
                raise StateLinkError(state_link_message(part))
        except (FileNotFoundError, NotADirectoryError):
            pass
        if part.name == ".nbgov" or ".nbgov" not in part.parts:
            return


def state_link_message(link: Path) -> str:
    """One line naming the link among nbgov's state folders and what to do."""
    try:
        target = os.readlink(link)
    except OSError:
        target = "?"
    return (f"{link} is a symbolic link (to {target}): nbgov writes its own state only into real "
            f"folders, never through a link; remove it (git rm --cached {link} if a commit "
            "brought it, then rm it) and run again")

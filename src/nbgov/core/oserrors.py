"""OS errors as one line: what happened to which path, and what to do.

A full disk, a read-only mount or a permission problem is the user's to fix, not a bug: it
becomes a :class:`StorageError` (an :class:`NbgovError`, exit 2) naming the path, never a
traceback.
"""

from __future__ import annotations

import errno
from pathlib import Path

from nbgov.core.errors import Location, NbgovError


class StorageError(NbgovError):
    """The OS refused a write or read nbgov needs (disk full, read-only, permission)."""


#: errno -> (what it means, what to do)
_KNOWN = {
    errno.ENOSPC: ("the disk is full", "free some space on that file system, then run the command again"),
    errno.EDQUOT: ("the disk quota is exceeded", "free some space (or raise the quota), then run the command again"),
    errno.EROFS: ("the file system is read-only", "run nbgov from a writable copy of the project, "
                                                   "or remount the file system read-write"),
    errno.EACCES: ("permission denied", "check the owner and permissions of that path (ls -ld), "
                                        "or run as the user who owns the project"),
    errno.EPERM: ("operation not permitted", "check the owner and permissions of that path (ls -ld)"),
    errno.EIO: ("an input/output error (the disk may be failing)", "check the disk (dmesg), then run again"),
    errno.EMFILE: ("too many open files", "raise the limit (ulimit -n), then run again"),
}


def describe(exc: OSError) -> str:
    """A few words for an OS error ("the disk is full")."""
    known = _KNOWN.get(exc.errno or 0)
    return known[0] if known else (exc.strerror or type(exc).__name__).lower()


def storage_error(exc: OSError, path: str | Path | None = None, doing: str = "") -> StorageError:
    """The one-line error for ``exc`` met while ``doing`` something with ``path``."""
    path = path if path is not None else (exc.filename or None)
    known = _KNOWN.get(exc.errno or 0)
    what = describe(exc)
    hint = known[1] if known else "check that path, then run the command again"
    message = f"{doing}: {what}" if doing else what
    return StorageError(message, Location(path) if path is not None else None, hint=hint)


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) says the disk is full."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(exc) or "Disk quota exceeded" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False

"""What a journal folder holds, listed without opening anything, and one journal file read safely.

A journal folder may hold what nbgov never writes there: a commit can track a link
``x.jsonl -> /dev/zero`` or a folder ``x.lock/`` (``git add -f``), and a disk or a user can
leave a FIFO or a huge file. Listing therefore only ``lstat``s names, and a file is read only
when it is a regular file of at most :data:`MAX_JOURNAL_BYTES`, opened without following a link
and checked with ``fstat`` (docs/security.md, J4 and J8: what git tracks is filtered out before
anything is read, :func:`nbgov.services.recording.machine.machine_journals`).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

#: A journal file larger than this is never read (set aside as too large, J4): a build's
#: journal is a few kilobytes per task run.
MAX_JOURNAL_BYTES = 256 * 1024 * 1024
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # (a FIFO put in a journal's place never blocks an open)


def unreadable_entry(mode: int, size: int) -> str | None:
    """Why a journal entry of ``lstat`` mode ``mode`` and ``size`` bytes is never read (None:
    a regular file of a sane size)."""
    if stat.S_ISLNK(mode):
        return "not a regular file (a symbolic link), never read"
    if stat.S_ISDIR(mode):
        return "not a regular file (a folder), never read"
    if not stat.S_ISREG(mode):
        return "not a regular file (a FIFO, socket or device), never read"
    if size > MAX_JOURNAL_BYTES:
        return f"too large ({size} bytes, more than {MAX_JOURNAL_BYTES}), never read"
    return None


def list_journals(folder: Path) -> list[tuple[str, str | None]]:
    """The journals (``*.jsonl``) in journal folder ``folder``, oldest first, none of them
    opened: ``(build id, why it is never read)``, the reason None for a regular file of a sane
    size (:func:`unreadable_entry`)."""
    found = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if not entry.name.endswith(".jsonl") or entry.name == ".jsonl":
                    continue
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # retired by its writer meanwhile
                found.append((info.st_mtime, entry.name, unreadable_entry(info.st_mode, info.st_size)))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [(name[:-len(".jsonl")], why) for _, name, why in sorted(found)]


def read_entry(path: Path) -> bytes | str | None:
    """The bytes of the journal file at ``path``; None when there is none; else why it is not
    read (a link, not a regular file, larger than :data:`MAX_JOURNAL_BYTES`)."""
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW | NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return unreadable_entry(stat.S_IFLNK, 0)
        raise
    try:
        info = os.fstat(fd)
        why = unreadable_entry(info.st_mode, info.st_size)
        if why:
            return why
        chunks, left = [], MAX_JOURNAL_BYTES + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:  # (it grew past the bound while being read)
            return unreadable_entry(stat.S_IFREG, MAX_JOURNAL_BYTES + 1)
        return b"".join(chunks)
    finally:
        os.close(fd)

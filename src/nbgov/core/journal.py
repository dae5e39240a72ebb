"""The journal: a project's local, append-only, fsync'd record of builds and their task runs.

Every fact a build records is written here first, durably, and sent to the tracking store
second. A kill at any moment therefore loses nothing of what was journaled, and a store that
is down only delays the sending (``nbgov sync``). Anchors: W&B's offline files (checksummed
records, ``wandb sync`` replays them), MLflow's async logging queue (in memory: lost on
SIGKILL); nbgov is stricter than both: one fsync per event, before any tracker call.

Layout, in ``.nbgov/journal/`` (ignored by git; the folder 0700, its files 0600, every event
passed through :func:`nbgov.core.redact.redact_record` before it is written)::

    <build_id>.jsonl   events of one build, one line each: "<crc32> <json>"; one writer (the
                       build's process)
    <build_id>.sent    what the store confirmed: one line per sent event, {"seq", "run_id"?}
    <build_id>.lock    held (flock) by the journal's writer for its whole life: liveness
    <build_id>.files/  artifact copies kept while the store was unreachable
    done/              journals whose every event was sent and whose build was closed
    quarantine/        journals nothing can be read from, each with a .reason

Events (``event`` field): ``build_opened``, ``task_started``, ``task_finished``,
``build_closed``. A torn last line (the writer died mid-write) is dropped on read; a damaged
line elsewhere is skipped and reported.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import stat
import time
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbgov.core.atomic import PRIVATE_FILE, private_dir
from nbgov.core.errors import Location, NbgovError
from nbgov.core.journal_entries import NOFOLLOW, NONBLOCK, list_journals, read_entry
from nbgov.core.lock import same_file, try_lock
from nbgov.core.oserrors import storage_error
from nbgov.core.redact import redact_record
from nbgov.core.redact_known import KnownSecrets

JOURNAL_DIR = Path(".nbgov") / "journal"
#: What a build id may be (``--build-id``, ``NBGOV_BUILD_ID``): it names the journal, its lock
#: and its copies in the journal folder, so no ``/`` nor a leading ``.`` (``..``) is allowed.
BUILD_ID_RULE = r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,127}$"
_BUILD_ID = re.compile(BUILD_ID_RULE[1:-1])  # (fullmatch: `$` would let a trailing newline in)


def check_build_id(value: str) -> str:
    """``value`` when it is a valid build id (:data:`BUILD_ID_RULE`: an engine's run id such as
    Airflow's ``manual__2024-01-01T00:00:00+00:00``), else raises a one-line :class:`NbgovError`
    naming it and the rule."""
    if not isinstance(value, str) or not _BUILD_ID.fullmatch(value) or value == "..":
        raise NbgovError(f"build id {value!r} refused: a build id names files in {JOURNAL_DIR.as_posix()}, so it "
                         f"must match {BUILD_ID_RULE} (letters, digits and _ . : + -, no /); pass such an id "
                         "with --build-id or NBGOV_BUILD_ID")
    return value
EVENTS = ("build_opened", "task_started", "task_finished", "build_closed")


def _line(payload: dict[str, Any]) -> bytes:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return f"{zlib.crc32(text.encode('utf-8')):08x} {text}\n".encode()


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        text = raw.decode("utf-8").rstrip("\n")
        crc, _, body = text.partition(" ")
        if int(crc, 16) != zlib.crc32(body.encode("utf-8")):
            return None
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write(fd: int, data: bytes | memoryview) -> int:
    """One ``os.write`` (the fault tests inject short writes and ENOSPC here)."""
    return os.write(fd, data)


def write_whole(fd: int, data: bytes, path: Path, start: int) -> None:
    """Write every byte of ``data`` at the end of ``fd`` and fsync, or nothing: a short write
    is continued; on an error the file is cut back to ``start`` (its size before) and a
    one-line :class:`~nbgov.core.oserrors.StorageError` names ``path``."""
    view = memoryview(data)
    done = 0
    try:
        while done < len(view):
            written = _write(fd, view[done:])
            if written <= 0:  # never for a regular file; a loop forever if it happened
                raise OSError(errno.EIO, "write wrote nothing")
            done += written
        os.fsync(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, start)
            os.fsync(fd)
        error = storage_error(exc, path, "could not write the journal")
        error.errno = exc.errno
        raise error from None


@dataclass
class Scan:
    """What reading a journal file found."""

    events: list[dict[str, Any]]
    damaged: int = 0  # unreadable lines (a torn last line not counted)
    # per damaged line: the seq of the readable record before it (0: none)
    damaged_after: list[int] = field(default_factory=list)
    torn: bool = False  # the last line is incomplete (its writer died in the middle of writing it)
    recovered: int = 0  # lines read although their newline was damaged
    size: int = 0  # bytes in the file
    refused: str | None = None  # why the file was not read (a link, not a regular file, too large)


class AppendLog:
    """An append-only file of checksummed JSON lines, each fsync'd before :meth:`append` returns.

    A line is written whole or not at all (:func:`write_whole`); the file's first line is
    written to a temporary file that is then linked into place, so the file never exists empty.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, payload: dict[str, Any]) -> None:
        """Write one line durably (O_APPEND, fsync).

        Raises:
            StorageError: the OS refused (disk full, read-only, permission); nothing was written.
        """
        data = _line(payload)
        try:
            private_dir(self.path.parent)
            if not os.path.lexists(self.path) and self._create(data):
                return
            # (never through a link, never into a FIFO or device put in the journal's place)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | NOFOLLOW | NONBLOCK, PRIVATE_FILE)
        except OSError as exc:
            raise storage_error(exc, self.path, "could not write the journal") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise storage_error(OSError(errno.EINVAL, "not a regular file"), self.path,
                                    "could not write the journal")
            if os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, PRIVATE_FILE)  # a journal an older nbgov left world-readable
            size = os.fstat(fd).st_size
            # a writer killed mid-line left a torn tail: end it, or this line would join it (it
            # is then counted as damaged: it cannot be told from a damaged line)
            prefix = b"\n" if size and os.pread(fd, 1, size - 1) != b"\n" else b""
            write_whole(fd, prefix + data, self.path, size)
        finally:
            os.close(fd)

    def _create(self, data: bytes) -> bool:
        """Create the file with its first line (False: it exists already, append instead)."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        try:
            try:
                write_whole(fd, data, self.path, 0)
            finally:
                os.close(fd)
            try:
                os.link(tmp, self.path)  # never replaces a file another writer just created
            except FileExistsError:
                return False
            _fsync_dir(self.path.parent)
            return True
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def read(self) -> tuple[list[dict[str, Any]], int]:
        """The readable lines, and how many damaged lines were skipped (a torn last line is
        dropped silently: its writer died mid-write and never reported it written)."""
        scan = self.scan()
        return scan.events, scan.damaged

    def scan(self) -> Scan:
        """Read the file: its readable lines, and where the damaged ones are. Only a regular
        file of at most :data:`MAX_JOURNAL_BYTES` is read, never through a link (``refused``
        says why another was not)."""
        raw = read_entry(self.path)
        if not isinstance(raw, bytes):
            return Scan([], refused=raw)
        lines = raw.split(b"\n")
        torn_tail = bool(raw) and not raw.endswith(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        scan = Scan([], size=len(raw))
        for index, chunk in enumerate(lines):
            value = _parse(chunk)
            if value is None and len(chunk) > 1 and _parse(chunk[:-1]) is not None:
                # whole but for its last byte: its newline was damaged (a tear cannot leave a
                # prefix whose checksum matches); read it, and count the damage
                value = _parse(chunk[:-1])
                scan.recovered += 1
            if value is None:
                if torn_tail and index == len(lines) - 1:
                    scan.torn = True
                else:
                    scan.damaged += 1
                    scan.damaged_after.append(int(scan.events[-1].get("seq", 0)) if scan.events else 0)
                continue
            scan.events.append(value)
        return scan


@dataclass
class Journal:
    """The events of one build process (one writer: the process that holds its lock).

    The writer takes ``<id>.lock`` before its first record and holds it for its life, and once
    the journal file exists it also holds a shared lock on the file itself: a journal whose
    locks nobody holds is finished or dead, on any host and in any pid namespace
    (:meth:`claim`). Liveness never comes from a pid or a hostname, and deleting the lock file
    (a "stale lock" reflex) does not make a live journal look dead.

    Attributes:
        folder: the project's journal folder.
        build_id: the build the journal belongs to.
    """

    folder: Path
    build_id: str
    _seq: int | None = field(default=None, repr=False)  # the last seq written (read at the first append)
    _lock_fd: int | None = field(default=None, repr=False)
    _file_fd: int | None = field(default=None, repr=False)  # the writer's shared lock on the file
    #: the writing build's known secret values (its secret parameters): masked in every event
    known: KnownSecrets | None = field(default=None, repr=False, compare=False)

    # (nothing is read when a Journal is made: listing journals reads none of them, J8)
    def _last_seq(self) -> int:
        if self._seq is None:
            events, _ = self.log.read()
            self._seq = max((e["seq"] for e in events if isinstance(e.get("seq"), int)), default=0)
        return self._seq

    @property
    def path(self) -> Path:
        return self.folder / f"{self.build_id}.jsonl"

    @property
    def lock_path(self) -> Path:
        """The writer's lock: held by whoever writes this journal, for as long as it does."""
        return self.folder / f"{self.build_id}.lock"

    @property
    def log(self) -> AppendLog:
        return AppendLog(self.path)

    @property
    def sent(self) -> AppendLog:
        """Confirmations from the store: ``{"seq": n, "run_id": ...}`` per sent event."""
        return AppendLog(self.folder / f"{self.build_id}.sent")

    @property
    def files(self) -> Path:
        """Where artifact copies are kept while the store is unreachable."""
        return self.folder / f"{self.build_id}.files"

    # -- the writer's lock -------------------------------------------------------------
    def hold(self) -> None:
        """Become this journal's writer (its lock, kept until :meth:`release` or the end of
        the process).

        Raises:
            JournalBusyError: another live process writes it.
            StorageError: the lock file cannot be created (disk full, read-only, permission).
        """
        if self._lock_fd is not None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = try_lock(self.lock_path, create=True)
        except OSError as exc:
            raise storage_error(exc, self.lock_path, "could not create the journal's lock") from None
        if fd is None:
            raise JournalBusyError(f"journal {self.build_id} is being written by another process",
                                   Location(self.path), hint="wait for that build to end")
        self._lock_fd = fd

    def claim(self) -> bool:
        """Take the lock of a journal whose writer is gone (to close or send it); False when
        its writer still holds it (the journal is live), it was retired meanwhile, or its lock
        cannot be taken at all (a folder, a FIFO or an unreadable file in its place: J4, never
        an error)."""
        if self._lock_fd is not None:
            return True
        try:
            return self._claim()
        except OSError:
            self.release()
            return False

    def _claim(self) -> bool:
        if not os.path.lexists(self.path):
            return False
        try:
            fd = try_lock(self.lock_path, create=True)
        except OSError as exc:
            if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise  # (a folder or something else in the lock's place: not claimable)
            # a read-only journal folder: nobody can be writing it
            fd = try_lock(self.lock_path, create=False) if os.path.lexists(self.lock_path) else -1
        if fd is None:
            return False
        if fd >= 0:
            self._lock_fd = fd
        if not os.path.lexists(self.path) or self._file_in_use():
            # retired by its writer between our look and our lock, or its writer is alive and
            # only its lock file was deleted
            self.release()
            return False
        return True

    def _file_in_use(self) -> bool:
        """Whether a writer holds its shared lock on the journal file (probe, released at once)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | NOFOLLOW | NONBLOCK)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        except OSError:
            return False
        finally:
            os.close(fd)

    def _hold_file(self) -> None:
        """Hold the shared lock on the journal file (once it exists) for the writer's life."""
        if self._file_fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDONLY | NOFOLLOW | NONBLOCK)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return
        self._file_fd = fd

    def live(self) -> bool:
        """Whether a live process writes this journal (it holds its lock); no side effect."""
        if self._lock_fd is not None:
            return False
        if self._file_in_use():
            return True
        try:
            fd = try_lock(self.lock_path, create=False)
        except OSError:
            return True  # (a lock that cannot be taken: not claimable, as if live)
        if fd is None:
            return self.lock_path.exists()
        os.close(fd)
        return False

    def release(self, remove: bool = False) -> None:
        """Give the lock up (``remove``: delete the lock file first, the journal is retired)."""
        if self._file_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._file_fd)
            self._file_fd = None
        if self._lock_fd is None:
            return
        if remove:
            with contextlib.suppress(OSError):
                self.lock_path.unlink()
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)
        self._lock_fd = None

    @property
    def held(self) -> bool:
        return self._lock_fd is not None

    # -- records -------------------------------------------------------------------------
    def append(self, event: str, **data: Any) -> dict[str, Any]:
        """Journal one event durably; returns it as written (with its ``seq`` and time ``t``).

        Raises:
            StorageError: not written (disk full, read-only...): the journal is as before.
        """
        if event not in EVENTS:
            raise ValueError(f"unknown journal event {event!r}")
        if self._lock_fd is not None and not same_file(self._lock_fd, self.lock_path):
            # its lock file was deleted (a "stale lock" reflex): take a new one, or stop if
            # someone took the journal over meanwhile
            self.release()
        self.hold()
        # the one rule set of core.redact, whatever the caller already masked: params by name
        # and value, secrets in any other string (an error message, a URI) never reach the disk,
        # nor the build's known secret values (identifiers aside: core.redact.IDENTIFIER_KEYS)
        data = redact_record(data, self.known)
        seq = self._last_seq() + 1
        payload = {"build_id": self.build_id.rsplit(".", 1)[0], **data, "seq": seq,
                   "t": int(time.time() * 1000), "event": event}
        self.log.append(payload)
        self._hold_file()
        self._seq = seq  # only once it is written: a failed write does not leave a gap
        return payload

    def events(self) -> list[dict[str, Any]]:
        """Every readable event, in order."""
        return self.log.read()[0]

    def scan(self) -> Scan:
        """Every readable event and where the damaged lines are."""
        return self.log.scan()

    def confirmations(self) -> dict[int, dict[str, Any]]:
        """seq -> what the store confirmed for it."""
        return {c["seq"]: c for c in self.sent.read()[0] if isinstance(c.get("seq"), int)}

    def confirm(self, seq: int, **data: Any) -> None:
        """Record that the store has event ``seq`` (durably: a re-sync skips it)."""
        self.sent.append({"seq": seq, **data})


class JournalBusyError(NbgovError):
    """Another live process writes this journal."""


def journal_folder(root: Path) -> Path:
    """The journal folder of the project at ``root``."""
    return root / JOURNAL_DIR


def open_journals(root: Path) -> list[Journal]:
    """Journals of builds not yet fully sent, oldest first: regular files of a sane size only
    (none read yet; this says nothing of whether git tracks them: use
    :func:`nbgov.services.recording.machine.machine_journals` before reading them, J8)."""
    folder = journal_folder(root)
    return [Journal(folder, build_id) for build_id, why in list_journals(folder) if why is None]


#: Journals kept in ``done/`` once sent (``[tracking] keep_journals``; ``nbgov sync --resend``
#: sends them again to a store that lost them).
KEEP_DONE = 20


def retire(journal: Journal, keep: int = KEEP_DONE) -> None:
    """Move a fully sent journal to ``done/`` (keeping the last ``keep``), drop its copies and
    its lock file (the lock is given up last: a reader never finds it free with the journal
    still in place and unsent)."""
    done = private_dir(journal.folder / "done")
    for path in (journal.path, journal.folder / f"{journal.build_id}.sent"):
        if path.exists():
            os.replace(path, done / path.name)
    shutil.rmtree(journal.files, ignore_errors=True)
    if journal.held:
        journal.release(remove=True)
    old = sorted(done.glob("*.jsonl"), key=lambda p: p.lstat().st_mtime)
    for path in old[:-keep] if keep else old:
        for extra in (path, path.with_suffix(".sent")):
            extra.unlink(missing_ok=True)


def quarantine(journal: Journal, reason: str) -> Path:
    """Set a journal aside (``quarantine/``, with ``<id>.reason``): nothing in it can be sent
    as it is; ``nbgov sync`` names it. Returns the folder it went to."""
    target = journal.folder / "quarantine"
    target.mkdir(parents=True, exist_ok=True)
    (target / f"{journal.build_id}.reason").write_text(reason + "\n", encoding="utf-8")
    for path in (journal.path, journal.folder / f"{journal.build_id}.sent"):
        if os.path.lexists(path):  # (a link is moved, never followed)
            os.replace(path, target / path.name)
    if os.path.lexists(journal.files):
        os.replace(journal.files, target / journal.files.name)
    journal.release(remove=True)
    return target

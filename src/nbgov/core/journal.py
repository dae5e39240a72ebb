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
    <build_id>.files/  artifact copies kept while the store was unreachable
    done/              journals whose every event was sent and whose build was closed

Events (``event`` field): ``build_opened``, ``task_started``, ``task_finished``,
``build_closed``. A torn last line (the writer died mid-write) is dropped on read; a damaged
line elsewhere is skipped and reported.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbgov.core.atomic import PRIVATE_FILE, private_dir
from nbgov.core.redact import redact_record

JOURNAL_DIR = Path(".nbgov") / "journal"
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


class AppendLog:
    """An append-only file of checksummed JSON lines, each fsync'd before :meth:`append` returns."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, payload: dict[str, Any]) -> None:
        """Write one line durably (O_APPEND, fsync)."""
        new = not self.path.exists()
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, PRIVATE_FILE)
        try:
            if os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, PRIVATE_FILE)  # a journal an older nbgov left world-readable
            size = os.fstat(fd).st_size
            # a writer killed mid-line left a torn tail: end it, or this line would join it
            prefix = b"\n" if size and os.pread(fd, 1, size - 1) != b"\n" else b""
            os.write(fd, prefix + _line(payload))
            os.fsync(fd)
        finally:
            os.close(fd)
        if new:
            _fsync_dir(self.path.parent)

    def read(self) -> tuple[list[dict[str, Any]], int]:
        """The readable lines, and how many damaged lines were skipped (a torn last line is
        dropped silently: its writer died mid-write and never reported it written)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return [], 0
        lines = raw.split(b"\n")
        torn_tail = not raw.endswith(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        out, damaged = [], 0
        for index, chunk in enumerate(lines):
            value = _parse(chunk)
            if value is None:
                if not (torn_tail and index == len(lines) - 1):
                    damaged += 1
                continue
            out.append(value)
        return out, damaged


@dataclass
class Journal:
    """The events of one build (one writer: the build's process).

    Attributes:
        folder: the project's journal folder.
        build_id: the build the journal belongs to.
    """

    folder: Path
    build_id: str
    _seq: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        events, _ = self.log.read()
        self._seq = max((e.get("seq", 0) for e in events), default=0)

    @property
    def path(self) -> Path:
        return self.folder / f"{self.build_id}.jsonl"

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

    def append(self, event: str, **data: Any) -> dict[str, Any]:
        """Journal one event durably; returns it as written (with its ``seq`` and time ``t``)."""
        if event not in EVENTS:
            raise ValueError(f"unknown journal event {event!r}")
        self._seq += 1
        # the one rule set of core.redact, whatever the caller already masked: params by name
        # and value, secrets in any other string (an error message, a URI) never reach the disk
        data = redact_record(data)
        payload = {"build_id": self.build_id.rsplit(".", 1)[0], **data, "seq": self._seq,
                   "t": int(time.time() * 1000), "event": event}
        self.log.append(payload)
        return payload

    def events(self) -> list[dict[str, Any]]:
        """Every readable event, in order."""
        return self.log.read()[0]

    def confirmations(self) -> dict[int, dict[str, Any]]:
        """seq -> what the store confirmed for it."""
        return {c["seq"]: c for c in self.sent.read()[0] if isinstance(c.get("seq"), int)}

    def confirm(self, seq: int, **data: Any) -> None:
        """Record that the store has event ``seq`` (durably: a re-sync skips it)."""
        self.sent.append({"seq": seq, **data})


def journal_folder(root: Path) -> Path:
    """The journal folder of the project at ``root``."""
    return root / JOURNAL_DIR


def open_journals(root: Path) -> list[Journal]:
    """Journals of builds not yet fully sent, oldest first."""
    folder = journal_folder(root)
    if not folder.is_dir():
        return []
    paths = sorted(folder.glob("*.jsonl"), key=lambda p: (p.stat().st_mtime, p.name))
    return [Journal(folder, p.stem) for p in paths]


def retire(journal: Journal, keep: int = 20) -> None:
    """Move a fully sent journal to ``done/`` (keeping the last ``keep``) and drop its copies."""
    import shutil

    done = private_dir(journal.folder / "done")
    for path in (journal.path, journal.folder / f"{journal.build_id}.sent"):
        if path.exists():
            os.replace(path, done / path.name)
    shutil.rmtree(journal.files, ignore_errors=True)
    old = sorted(done.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    for path in old[:-keep] if keep else old:
        for extra in (path, path.with_suffix(".sent")):
            extra.unlink(missing_ok=True)

"""Where reviews live on disk: the ``[review]`` settings, the ledger file and approved snapshots.

Appends take an OS lock (``fcntl.flock`` on ``<ledger>.lock``), re-read and verify the ledger,
and replace the file atomically (temporary file + fsync + rename). So concurrent writers queue
up and lose nothing, and an interrupted write leaves the previous ledger intact: a torn line
cannot happen. Rewriting the whole file per append is O(size); a ledger of 10,000 records is
about 5 MB, which is still fast next to a human decision.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbgov.core.atomic import atomic_write
from nbgov.core.config import Config
from nbgov.core.errors import ConfigError, LedgerError, Location
from nbgov.core.identity import notebook_version
from nbgov.core.ledger import ReviewRecord, parse_ledger
from nbgov.core.ledger_merge import merge_ledgers
from nbgov.core.localfiles import ignore_machine_local
from nbgov.core.tasks import LEGACY_TEXT_ALGORITHM, is_text_version, legacy_text_version, text_version

DEFAULT_LEDGER = ".nbgov/reviews.jsonl"
DEFAULT_SNAPSHOTS = ".nbgov/snapshots"

_KEYS = {
    "ledger": str,
    "snapshots": str,
    "allow_self_approval": bool,
    "reviewer": str,
    "paths": list,
    "require_signed": bool,
    "allowed_signers": str,
    "signing_key": str,
    "require_resolved_threads": bool,
}
DEFAULT_ALLOWED_SIGNERS = ".nbgov/allowed_signers"


@dataclass(frozen=True)
class ReviewSettings:
    """The ``[review]`` table of nbgov.toml, resolved.

    Attributes:
        ledger: absolute path of the ledger file (``ledger``, default ``.nbgov/reviews.jsonl``).
        snapshots: folder of approved snapshots (``snapshots``, default ``.nbgov/snapshots``).
        allow_self_approval: lift the four-eyes rule (``allow_self_approval``, default false).
        reviewer: reviewer identity overriding git's (``reviewer``, e.g. ``"Ann <ann@x.org>"``).
        paths: files and folders ``review status`` looks at by default (``paths``; default:
            the whole project).
        require_signed: only records with a valid SSH signature count (``require_signed``).
        allowed_signers: git-format allowed-signers file, committed (``allowed_signers``,
            default ``.nbgov/allowed_signers``).
        signing_key: key that signs this user's decisions (``signing_key``; a ``.pub`` means
            ssh-agent holds the private half), or None.
        allowed_content: the allowed signers' content when read from elsewhere than
            ``allowed_signers`` (the trust base, see :mod:`.base`), else None.
        base: the git revision these settings were read from (the trust base), or None.
        require_resolved_threads: the gate refuses while a comment thread on a gated target
            is open (``require_resolved_threads``, default false; docs/security.md R9).
    """

    ledger: Path
    snapshots: Path
    allow_self_approval: bool = False
    reviewer: str | None = None
    paths: tuple[str, ...] = ()
    require_signed: bool = False
    allowed_signers: Path | None = None
    signing_key: Path | None = None
    allowed_content: bytes | None = None
    base: str | None = None
    require_resolved_threads: bool = False

    @classmethod
    def from_config(cls, config: Config) -> ReviewSettings:
        """Read and check ``[review]``; unknown keys and wrong types are ConfigErrors."""
        table = config.checked_section("review", _KEYS)
        where = Location(config.source)
        paths = table.get("paths", [])
        if not all(isinstance(p, str) and p.strip() for p in paths):
            raise ConfigError(
                "[review] paths must be a list of paths", where, hint='e.g. paths = ["notebooks"]'
            )
        reviewer = table.get("reviewer")
        if reviewer is not None and not reviewer.strip():
            raise ConfigError(
                "[review] reviewer is empty",
                where,
                hint='write it as reviewer = "Name <email>" or remove it',
            )
        signing_key = table.get("signing_key")
        return cls(
            ledger=_inside(config, "ledger", table.get("ledger", DEFAULT_LEDGER)),
            snapshots=_inside(config, "snapshots", table.get("snapshots", DEFAULT_SNAPSHOTS)),
            allow_self_approval=table.get("allow_self_approval", False),
            reviewer=reviewer.strip() if reviewer else None,
            paths=tuple(paths),
            require_signed=table.get("require_signed", False),
            allowed_signers=_inside(config, "allowed_signers",
                                    table.get("allowed_signers", DEFAULT_ALLOWED_SIGNERS)),
            signing_key=Path(signing_key).expanduser() if signing_key else None,
            require_resolved_threads=table.get("require_resolved_threads", False),
        )


def _inside(config: Config, key: str, value: str) -> Path:
    """``[review] key`` resolved against the root; refused when it leaves the project (a
    project's nbgov.toml must not move the server's or the CLI's writes elsewhere)."""
    path = (config.root / value).resolve()
    if not path.is_relative_to(config.root.resolve()):
        raise ConfigError(f"[review] {key} must stay inside the project folder (got {value!r})",
                          Location(config.source), hint=f"use a relative path such as {DEFAULT_LEDGER!r}")
    # a symbolic link on the way would have git (which commits the link) and nbgov (which reads
    # its target) look at two different files: the base's copy would no longer be compared
    lexical = Path(os.path.normpath(config.root / value))
    for part in [lexical, *lexical.parents]:
        if part == config.root or not part.is_relative_to(config.root):
            break
        if part.is_symlink():
            raise ConfigError(f"[review] {key}: {part.relative_to(config.root).as_posix()} is a symbolic link",
                              Location(config.source),
                              hint="review files must be regular files and folders of the project: replace the "
                                   "link with what it points to")
    return path


# parsed ledgers keyed by path -> ((inode, size, mtime_ns), records): the server asks per request
_CACHE: dict[Path, tuple[tuple[int, int, int], list[ReviewRecord]]] = {}


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise LedgerError(
            "ledger is not UTF-8 text",
            Location(path),
            hint=f"restore it from git: git checkout -- {path}",
        ) from None


def read_records(ledger: Path) -> list[ReviewRecord]:
    """The verified records of a ledger (``[]`` when the file does not exist yet).

    Raises:
        LedgerError: the ledger does not parse or verify (names the first bad record).
    """
    try:
        st = ledger.stat()
    except FileNotFoundError:
        return []
    key = (st.st_ino, st.st_size, st.st_mtime_ns)
    hit = _CACHE.get(ledger)
    if hit and hit[0] == key:
        return list(hit[1])
    records = parse_ledger(_read_text(ledger), ledger)
    _CACHE[ledger] = (key, records)
    return list(records)


@contextlib.contextmanager
def locked(ledger: Path) -> Iterator[None]:
    """Hold the ledger's exclusive lock (``<ledger>.lock``) for the duration of the block.

    Raises:
        LedgerError: the platform has no ``fcntl`` (Windows): appends are not supported there.
    """
    try:
        import fcntl  # imported here so that reading reviews works on any platform
    except ImportError:  # pragma: no cover - POSIX CI
        raise LedgerError(
            "recording reviews needs a POSIX system (fcntl file locks)", Location(ledger)
        ) from None
    ledger.parent.mkdir(parents=True, exist_ok=True)
    _ignore_lock_files(ledger.parent)
    fd = os.open(ledger.with_name(ledger.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _ignore_lock_files(folder: Path) -> None:
    # the lock file, torn temp files (and the build journal, cache... next to the ledger) are
    # machine-local; keep them out of commits (only in a folder of nbgov's own, like .nbgov/)
    ignore_machine_local(folder)


def append(
    ledger: Path,
    makers: list[Callable[[ReviewRecord | None], ReviewRecord]],
    before_write: Callable[[], None] | None = None,
) -> tuple[list[ReviewRecord], list[ReviewRecord]]:
    """Append records in one atomic write, each built by ``make(previous)`` under the lock.

    ``before_write`` runs under the lock after the ledger verified (e.g. to store snapshots the
    records will point to). Nothing is written when the ledger does not verify or a maker
    raises: all the records are appended, or none.

    Returns:
        (all records before the new ones, the new records).
    """
    with locked(ledger):
        text = _read_text(ledger) if ledger.exists() else ""
        records = parse_ledger(text, ledger)
        new: list[ReviewRecord] = []
        for make in makers:
            new.append(make(new[-1] if new else records[-1] if records else None))
        if before_write is not None:
            before_write()
        if text and not text.endswith("\n"):
            text += "\n"
        atomic_write(ledger, text + "".join(r.to_line() for r in new))
        # the directory entry of the rename must reach the disk too
        dir_fd = os.open(ledger.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return records, new


def _is_text(version: str) -> bool:
    return is_text_version(version)


def snapshot_path(snapshots: Path, version: str) -> Path:
    """Where the approved snapshot of ``version`` lives (content-addressed by the version):
    ``<hex>.ipynb`` for notebooks, ``<hex>.txt`` for text sources (``srcv2``, legacy ``srcv1``)."""
    return snapshots / (version.split(":", 1)[-1] + (".txt" if _is_text(version) else ".ipynb"))


def write_snapshot(snapshots: Path, version: str, view: dict[str, Any] | str) -> Path:
    """Store ``view`` (cells without outputs, or a text source's exact text) as the snapshot of
    ``version``; idempotent."""
    path = snapshot_path(snapshots, version)
    text = isinstance(view, str)
    if (text_version(view) if text else notebook_version(view)) != version:
        raise LedgerError(
            "internal error: snapshot does not have the approved version", Location(path)
        )
    if not path.exists():
        body = view if text else (  # a text snapshot is the source byte for byte (srcv2)
            json.dumps(view, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
        atomic_write(path, body)
    return path


def read_snapshot(snapshots: Path, version: str) -> dict[str, Any] | str | None:
    """The snapshot of ``version`` (a notebook dict, or the text of a text source), or None if
    there is none.

    Raises:
        LedgerError: the snapshot file is damaged or does not hash to its version.
    """
    path = snapshot_path(snapshots, version)
    if not path.exists():
        return None
    if _is_text(version):
        body = _read_text(path)
        legacy = version.startswith(LEGACY_TEXT_ALGORITHM + ":")
        if (legacy_text_version(body) if legacy else text_version(body)) != version:
            raise LedgerError("approved snapshot does not match its version (edited?)", Location(path),
                              hint="restore it from git")
        return body
    try:
        nb = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise LedgerError(
            f"approved snapshot is not valid JSON: {exc.msg}",
            Location(path, line=exc.lineno),
            hint="restore it from git",
        ) from None
    if not isinstance(nb, dict) or notebook_version(nb) != version:
        raise LedgerError(
            "approved snapshot does not match its version (edited?)",
            Location(path),
            hint="restore it from git",
        )
    return nb


def merge_files(base: Path, ours: Path, theirs: Path) -> int:
    """Merge three copies of a ledger into ``ours`` (git's merge-driver contract: %O %A %B).

    Returns:
        How many records ``theirs`` added.

    Raises:
        LedgerError: a copy does not verify or the sides do not share ``base``; ``ours`` is
            then left as it was, and git reports a conflict.
    """

    def load(path: Path) -> list[ReviewRecord]:
        return parse_ledger(_read_text(path), path) if path.exists() else []

    mine = load(ours)
    merged = merge_ledgers(load(base), mine, load(theirs))
    atomic_write(ours, "".join(r.to_line() for r in merged))
    return len(merged) - len(mine)

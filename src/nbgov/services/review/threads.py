"""Cell comment threads: review comments anchored to one cell of a notebook by its cell id,
with replies and a resolved state, stored in the review ledger (docs/security.md, R9).

A thread is opened by a ``thread`` record (its id: that record's nonce), answered by ``reply``
records and closed by ``resolve`` records, appended like decisions (signed where signing is
on; the ledger's chain, replay and committed-prefix rules apply). The anchor is the cell id,
so a cell that is edited or moved keeps its thread; a thread whose cell is gone is *outdated*.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbgov.adapters import git
from nbgov.core.config import Config
from nbgov.core.errors import GateError, Location, NotebookError, ReviewError
from nbgov.core.four_eyes import same_person
from nbgov.core.ledger import ReviewRecord, instant, new_record, unique_records, utc_now
from nbgov.services.review import store, trust
from nbgov.services.review.state import read_current, relative_path, resolve_reviewer, writer
from nbgov.services.review.store import ReviewSettings

#: Shortest thread id prefix accepted on the command line.
MIN_ID = 6


@dataclass
class Thread:
    """One thread, as its counted records make it (R9)."""

    id: str
    notebook: str
    cell: str
    author: str
    at: str
    comments: list[dict[str, str]] = field(default_factory=list)
    resolved_by: str | None = None
    resolved_at: str | None = None
    #: the commit the thread was opened at (where rename detection starts)
    commit: str | None = None
    #: where the notebook is now (:func:`follow`): ``notebook``, its new path after a rename,
    #: or None when it is gone; ``notebook`` stays the path the records name
    path: str | None = None
    #: the author is the verified signer's principal (the opening record counted by its signature)
    signed: bool = False

    def to_dict(self, cell_ids: set[str] | None = None) -> dict[str, Any]:
        """JSON form; ``outdated`` when ``cell_ids`` (the notebook's now) lack the anchor."""
        return {"id": self.id, "notebook": self.notebook, "cell": self.cell, "author": self.author, "at": self.at,
                "resolved": self.resolved_by is not None, "resolved_by": self.resolved_by,
                "resolved_at": self.resolved_at, "comments": list(self.comments),
                "path": self.path, "moved_from": self.notebook if self.path and self.path != self.notebook else None,
                "outdated": (cell_ids is not None and self.cell not in cell_ids) or self.path is None}


def fold(records: list[ReviewRecord]) -> list[Thread]:
    """The threads ``records`` make, by the rules of R9 (records in ledger order)."""
    # keyed by (id, notebook, cell), each thread record opening its own: a record reusing
    # another's nonce (parse_ledger refuses that anyway) cannot take the other thread over
    threads: dict[tuple[str, str, str], list[Thread]] = {}
    for rec in unique_records(records):
        if rec.decision == "thread" and rec.cell and rec.nonce:
            # rec.person: the verified signer's principal where signatures count (I12), else a claim
            threads.setdefault((rec.nonce, rec.notebook, rec.cell), []).append(Thread(
                rec.nonce, rec.notebook, rec.cell, rec.person, rec.at,
                [{"author": rec.person, "at": rec.at, "text": rec.note}], commit=rec.commit, path=rec.notebook,
                signed=rec.signer is not None))
            continue
        if rec.decision not in ("reply", "resolve"):
            continue
        # a record moved to another notebook or cell belongs to no thread, nor one dated before it
        for th in threads.get((rec.thread or "", rec.notebook, rec.cell or ""), []):
            if instant(rec.at) < instant(th.at):
                continue
            if rec.decision == "reply":
                th.comments.append({"author": rec.person, "at": rec.at, "text": rec.note})
            elif _opener(rec, th) and th.resolved_by is None:
                th.resolved_by, th.resolved_at = rec.person, rec.at
                if rec.note:
                    th.comments.append({"author": rec.person, "at": rec.at, "text": rec.note})
    return [th for same in threads.values() for th in same]


def _opener(rec: ReviewRecord, th: Thread) -> bool:
    """Whether ``rec`` is by the person who opened ``th``: with both counted by their signatures,
    the verified principals must be equal (a login ``bob`` is not ``bob@contractor.example``);
    else the claims compare as four-eyes does (:func:`same_person`)."""
    if th.signed and rec.signer is not None:
        return rec.signer.casefold() == th.author.casefold()
    return same_person(rec.person, th.author)


def _all(config: Config, settings: ReviewSettings | None = None, base: str | None = None) -> list[Thread]:
    settings = settings or ReviewSettings.from_config(config)
    threads = fold(trust.counted_records(config, settings))
    follow(config, threads, base)
    return threads


def follow(config: Config, threads: list[Thread], base: str | None = None) -> None:
    """Set each thread's :attr:`Thread.path` to where its notebook is now: a notebook renamed
    (or moved) since the thread's commit, or since ``base``, is found by git's rename detection;
    one that is gone gets None (its open threads still block the thread gate, as outdated)."""
    gone = [th for th in threads if not _notebook_at(config, th.notebook)]
    if not gone:
        return
    repo = git.repo_root(config.root)
    prefix = Path(os.path.relpath(config.root.resolve(), repo)).as_posix().strip(".") if repo else ""
    moves: dict[str, dict[str, str]] = {}

    def renamed(rev: str | None, rel: str) -> str | None:
        if repo is None or not rev:
            return None
        if rev not in moves:
            changes = git.changed_files(repo, rev, None) or []
            moves[rev] = {old: new for status, old, new in changes if status == "R" and old and new}
        new = moves[rev].get(f"{prefix}/{rel}" if prefix else rel)
        if new is None or (prefix and not new.startswith(prefix + "/")):
            return None
        return new[len(prefix) + 1:] if prefix else new

    for th in gone:
        th.path = renamed(th.commit, th.notebook) or renamed(base, th.notebook)
        if th.path is not None and not _notebook_at(config, th.path):
            th.path = None


def _notebook_at(config: Config, rel: str) -> bool:
    """Whether ``rel`` is a regular file of the project itself: a symlink there (or in a folder
    above it) is not the notebook the thread was opened on, and the gate leaves symlinks out,
    so a thread left on one would block nothing (a rename plus a symlink at the old path)."""
    path = config.root / rel
    try:
        return path.is_file() and not path.is_symlink() and path.resolve() == config.root.resolve() / rel
    except OSError:
        return False


def cell_ids(nb: dict[str, Any] | None) -> set[str] | None:
    """The cell ids of a notebook (None: not a notebook)."""
    if not isinstance(nb, dict):
        return None
    return {str(c.get("id")) for c in nb.get("cells") or [] if isinstance(c, dict) and c.get("id")}


def threads_by_notebook(config: Config, base: str | None = None) -> dict[str, list[Thread]]:
    """Every thread of the project by the path its notebook has now (a renamed notebook's
    threads under its new path; a deleted one's under its old path)."""
    out: dict[str, list[Thread]] = {}
    for th in _all(config, base=base):
        out.setdefault(th.path or th.notebook, []).append(th)
    return out


def thread_view(threads: list[Thread], nb: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Threads of one notebook as JSON, outdated where ``nb`` (None: deleted) lacks the cell."""
    ids = cell_ids(nb) if nb is not None else set()
    return [th.to_dict(ids) for th in threads]


def list_threads(config: Config, notebook: str | Path | None = None) -> list[dict[str, Any]]:
    """The threads of one notebook (or of the project), outdated ones marked."""
    out = []
    wanted = relative_path(config, notebook)[1] if notebook is not None else None
    for path, threads in sorted(threads_by_notebook(config).items()):
        if wanted is not None and path != wanted:
            continue
        try:
            nb = read_current(config, path)[2]
        except NotebookError:
            nb = None  # the notebook is gone: every thread on it is outdated
        out += thread_view(threads, nb if isinstance(nb, dict) else None)
    return out


def _find(config: Config, thread_id: str) -> Thread:
    tid = thread_id.strip().lower()
    found = [th for th in _all(config) if th.id.startswith(tid)] if len(tid) >= MIN_ID else []
    if len(found) != 1:
        why = "no thread" if not found else f"{len(found)} threads"
        raise ReviewError(f"{why} with id {thread_id!r}", hint="list them: nbgov review threads "
                          f"(give at least {MIN_ID} characters of the id)")
    return found[0]


def _append(config: Config, rel: str, version: str, kind: str, text: str, reviewer: str | None,
            sign_key: str | Path | None, cell: str, thread: str | None = None) -> ReviewRecord:
    settings, who, key, _, commit = writer(config, reviewer, sign_key)
    fields = dict(notebook=rel, version=version, decision=kind, reviewer=who, note=text, commit=commit,
                  at=utc_now(), cell=cell, thread=thread)
    _, new = store.append(settings.ledger, [lambda prev: trust.signed_record(
        settings, key, new_record(prev, **fields, sign=trust.signer(key)))])
    return new[0]


def comment(config: Config, notebook: str | Path, cell: str, text: str, reviewer: str | None = None,
            sign_key: str | Path | None = None) -> dict[str, Any]:
    """Open a thread on ``cell`` of ``notebook``.

    Raises:
        NotebookError: no such notebook, or no cell with that id in it (exit 2).
        ReviewError: the text is empty.
    """
    _, rel, nb, version = read_current(config, notebook)
    if not text.strip():
        raise ReviewError("empty comment", hint='give the text: -m "..."')
    ids = cell_ids(nb)
    if ids is None or cell not in ids:
        known = ", ".join(sorted(ids or [])[:12]) or "none (not a notebook with cell ids)"
        raise NotebookError(f"no cell with id {cell!r}", Location(rel), hint=f"cell ids: {known}")
    rec = _append(config, rel, version, "thread", text, reviewer, sign_key, cell)
    return fold([rec])[0].to_dict(ids)


def reply(config: Config, thread_id: str, text: str, reviewer: str | None = None,
          sign_key: str | Path | None = None) -> dict[str, Any]:
    """Reply to a thread (its id or a prefix of at least :data:`MIN_ID` characters)."""
    if not text.strip():
        raise ReviewError("empty reply", hint='give the text: -m "..."')
    th = _find(config, thread_id)
    _append(config, th.notebook, _version(config, th.notebook), "reply", text, reviewer, sign_key, th.cell, th.id)
    return _find(config, th.id).to_dict()


def resolve(config: Config, thread_id: str, text: str = "", reviewer: str | None = None,
            sign_key: str | Path | None = None) -> dict[str, Any]:
    """Resolve a thread: only its author may (R9).

    Raises:
        ReviewError: someone else tries, or the thread is resolved already (exit 1).
    """
    th = _find(config, thread_id)
    who = resolve_reviewer(config, reviewer)
    if th.resolved_by is not None:
        raise ReviewError(f"thread {th.id[:8]} is resolved already (by {th.resolved_by})", exit_code=1)
    if not same_person(who, th.author):
        raise ReviewError(f"only the thread's author ({th.author}) may resolve thread {th.id[:8]}; you are {who}",
                          Location(th.notebook), hint="reply instead: nbgov review reply THREAD -m ...", exit_code=1)
    _append(config, th.notebook, _version(config, th.notebook), "resolve", text, who, sign_key, th.cell, th.id)
    return _find(config, th.id).to_dict()


def _version(config: Config, rel: str) -> str:
    try:
        return read_current(config, rel)[3]
    except NotebookError:
        # the notebook is gone; the thread still takes replies: the version it was opened at
        opened = next(r for r in store.read_records(ReviewSettings.from_config(config).ledger)
                      if r.notebook == rel)
        return opened.version


def require_resolved(config: Config, notebooks: list[str | Path], settings: ReviewSettings | None = None,
                     base: str | None = None) -> None:
    """The thread gate: refuse while a thread on one of ``notebooks`` is open, following
    renames (:func:`follow`); an open thread whose notebook is gone, a symlink now, or renamed
    (to any path) blocks too.
    ``settings``: the rules records count by (the trust base's with ``--base``), else the
    working tree's.

    Raises:
        GateError: listing each open thread as ``"<path>: thread <id> on cell <cell> open"``.
    """
    wanted = {relative_path(config, n)[1] for n in notebooks}
    # a thread blocks when its notebook is gated, gone (or only a symlink now), or renamed, even
    # to a path the gate does not list: a rename must not be a way to leave a thread behind
    open_ = [th for th in _all(config, settings, base)
             if th.resolved_by is None and (th.path is None or th.path in wanted or th.path != th.notebook)]
    if open_:
        reasons, paths = [], []
        for th in open_:
            where = ("outdated: the notebook is gone (or a symlink now)" if th.path is None
                     else f"opened on {th.notebook}" if th.path != th.notebook else "")
            reasons.append(f"{th.path or th.notebook}: thread {th.id[:8]} on cell {th.cell} open "
                           f"({th.author}{'; ' + where if where else ''})")
            paths.append(th.path or th.notebook)
        raise GateError(f"{len(open_)} comment thread(s) open on the reviewed targets",
                        hint="resolve them: nbgov review threads; nbgov review resolve THREAD",
                        reasons=reasons, paths=paths)

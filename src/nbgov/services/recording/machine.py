"""Which journals of a project are this machine's own, decided before any of them is read.

A journal is machine-local state: one any of whose files git tracks came with a checkout (a
commit can add ``.nbgov/journal/`` with ``git add -f``: a CRC per line authenticates nothing)
and is never read, sent, closed, restored from nor listed (docs/security.md, J8). The names
are listed first (``lstat`` only, :func:`nbgov.core.journal_entries.list_journals`), then one
``git ls-files`` asks which are tracked, and only then are the others handed out to be read: a
committed ``x.jsonl -> /dev/zero`` or ``x.lock/`` folder is named, never opened (J4).
"""

from __future__ import annotations

from pathlib import Path

from nbgov.adapters.git import tracked
from nbgov.core.journal import JOURNAL_DIR, Journal, journal_folder
from nbgov.core.journal_entries import list_journals


def machine_journals(root, refused: dict[str, str] | None = None,
                     unreadable: dict[str, str] | None = None) -> list[Journal]:
    """The open journals this machine wrote, oldest first, none read yet.

    Left out: a journal any of whose files git tracks, named in ``refused`` (journal -> the
    tracked file, the journal file itself first); one that is no regular file or is too large
    (:func:`~nbgov.core.journal_entries.unreadable_entry`) and that git does not track, named in
    ``unreadable`` (journal -> why: ``nbgov sync`` sets it aside). One ``git ls-files``, only
    when there are journals, asking about the folder as named and as resolved: a committed link
    ``.nbgov/journal -> ../products/jrnl`` (builds and syncs refuse it, ``refuse_state_links``)
    would otherwise hide the tracked journal files behind it. A journal folder resolving outside
    the project is nobody's record here: none of its journals is listed."""
    folder = journal_folder(Path(root))
    listed = list_journals(folder)
    if not listed:
        return []
    folders = _journal_folders(Path(root))
    if folders is None:
        for build_id, _ in listed if refused is not None else []:
            refused[build_id] = JOURNAL_DIR.as_posix()
        return []
    committed = tracked(root, *folders) or set()
    out = []
    for build_id, why in listed:
        mine = _tracked_files(committed, folders, build_id)
        if mine:
            if refused is not None:
                refused[build_id] = mine[0]
        elif why is not None:
            if unreadable is not None:
                unreadable[build_id] = why
        else:
            out.append(Journal(folder, build_id))
    return out


def known_journal_names(root: Path) -> set[str]:
    """The journals of this machine in the journal folder, ``done/`` and ``quarantine/`` (what
    ``nbgov sync``'s sweep counts as this project's builds): names only, none of a journal git
    tracks (a committed ``x.jsonl`` would make another machine's RUNNING run look like a dead
    build of this one). Empty when the folder resolves outside the project."""
    folder = journal_folder(Path(root))
    names = {sub: [name for name, _ in list_journals(folder / sub)] for sub in (".", "done", "quarantine")}
    if not any(names.values()):
        return set()
    folders = _journal_folders(Path(root))
    if folders is None:
        return set()
    committed = tracked(root, *folders) or set()
    out = set()
    for sub, found in names.items():
        inner = tuple(f if sub == "." else f"{f}/{sub}" for f in folders)
        out |= {name for name in found if not _tracked_files(committed, inner, name)}
    return out


def _tracked_files(committed: set[str], folders: tuple[str, ...], build_id: str) -> list[str]:
    """The files of journal ``build_id`` git tracks (the journal file itself first; the folder
    itself when git tracks it as a link)."""
    if not committed:
        return []
    return sorted((p for p in committed if p in folders or any(_of_journal(p, build_id, f) for f in folders)),
                  key=lambda p: not p.endswith(".jsonl"))


def _journal_folders(root: Path) -> tuple[str, ...] | None:
    """The journal folder relative to ``root``, as named and (when a link makes it differ) as
    resolved; None when it resolves outside the project."""
    named = JOURNAL_DIR.as_posix()
    try:
        real = journal_folder(root).resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError, RuntimeError):
        return None
    return (named,) if real == named else (named, real)


def _of_journal(path: str, build_id: str, folder: str = JOURNAL_DIR.as_posix()) -> bool:
    """Whether the tracked file ``path`` (relative to the root) is one of journal ``build_id``'s
    in journal folder ``folder`` (relative to the root)."""
    rel = path[len(folder) + 1:] if path.startswith(folder + "/") else ""
    first = rel.split("/", 1)[0]
    return first.startswith(build_id + ".")

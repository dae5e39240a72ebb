"""What in ``.nbgov/`` is machine-local: ``.nbgov/.gitignore`` keeps it out of commits, so that
``git add .nbgov`` (or ``git add -A``) commits only what a team shares: the review ledger, the
approved snapshots, allowed signers and the promotions ledger.

Machine-local: the build journal (host names, pids, runs not yet sent), lineage records of
tasks without a product folder, the cached build plan, where the last cluster build ran each
task, lock files and torn temp files.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from nbgov.core.atomic import atomic_write, refuse_linked_state

NBGOV_DIR = ".nbgov"

#: Lines of ``.nbgov/.gitignore``: everything nbgov writes there that is not to be shared.
MACHINE_LOCAL = ("journal/", "lineage/", "cache/", "cluster-last.json", "*.lock", ".*.tmp")

_HEADER = ("# written by nbgov: machine-local files (commit the ledger, snapshots/, allowed_signers,"
           " promotions)")


def ignore_machine_local(folder: Path) -> None:
    """Make ``folder/.gitignore`` (``folder`` is nbgov's own, e.g. ``.nbgov``) list every line of
    :data:`MACHINE_LOCAL`, keeping what is there (a user's own lines, an older nbgov's). Never
    in a repository's top folder; never raises (a read-only checkout builds all the same)."""
    if (folder / ".git").exists():
        return
    ignore = folder / ".gitignore"
    with contextlib.suppress(OSError, UnicodeDecodeError):
        text = ignore.read_text(encoding="utf-8") if ignore.exists() else ""
        present = {line.strip() for line in text.splitlines()}
        missing = [line for line in MACHINE_LOCAL if line not in present]
        if not missing:
            return
        folder.mkdir(parents=True, exist_ok=True)
        head = text if text else _HEADER + "\n"
        if head and not head.endswith("\n"):
            head += "\n"
        atomic_write(ignore, head + "".join(line + "\n" for line in missing))


#: nbgov's own state folders in ``.nbgov`` that builds and syncs write (and ``.nbgov`` itself).
STATE_FOLDERS = ("journal", "journal/done", "journal/quarantine", "cache", "lineage")


def refuse_state_links(root: Path) -> None:
    """Raise :class:`~nbgov.core.errors.StateLinkError` when ``.nbgov`` or one of
    :data:`STATE_FOLDERS` in it is a symbolic link: a commit can bring ``.nbgov/journal ->
    ../products/jrnl`` (a journal git does not see as tracked, J8) or ``.nbgov/cache -> /tmp/x``
    (a build would write and chmod there). Builds and syncs call it before taking their lock,
    so nothing is written through such a link."""
    top = Path(root) / NBGOV_DIR
    for path in (top, *(top / name for name in STATE_FOLDERS)):
        refuse_linked_state(path)


def ignore_in_project(root: Path) -> None:
    """:func:`ignore_machine_local` for the project's ``.nbgov`` folder."""
    ignore_machine_local(Path(root) / NBGOV_DIR)


def inside_project(root: Path, rel: object, folder_ok: bool = False) -> Path | None:
    """``root / rel`` when it names a file of the project (a folder too when ``folder_ok``)
    once symlinks and ``..`` are resolved (the resolved path when ``rel`` has ``..``); None for
    anything else: an absolute path or ``..`` leaving the project, a symlink pointing out of it,
    the project folder itself, git's own folder, a folder when a file was expected. Paths read
    back from a journal or a lineage record go through it before nbgov uploads or writes them
    (docs/security.md, J9)."""
    if not isinstance(rel, str) or not rel or "\x00" in rel:
        return None
    top = root.resolve()
    try:
        real = (root / rel).resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return None
    if real == top or not real.is_relative_to(top) or ".git" in real.relative_to(top).parts:
        return None
    if real.is_dir() and not folder_ok:
        return None
    # the path as named (a link inside the project keeps its name: artifacts are uploaded under
    # it), unless it climbs with ``..``, then where it leads
    return real if ".." in Path(rel).parts else root / rel

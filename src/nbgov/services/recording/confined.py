"""Products that lead outside the project (R5): never uploaded.

A product path, or a file or folder inside a folder product, may be a symbolic link (one a
pull request committed: ``products/plots -> ~/.ssh``). The task writes through it, and an upload
would follow it and send whatever the folder it leads to holds. So the build flags such a
product ``withheld`` (:func:`flag_outside_products`; the sender names it in the run's
``nbgov.artifacts_changed`` tag and the build warns on stderr), and a governed build refuses to
run a task whose product path is a committed link leading outside
(:func:`nbgov.services.build.gate.refuse_linked_products`). A product path that is itself a link
staying inside the project is followed as before; inside a folder product no link is followed
at all (:func:`folder_files`: a committed ``products/plots/env -> ../../.env`` stays inside the
project and still must not upload the build machine's ``.env``), nor is a ``.git`` folder read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

#: Why such a product is not uploaded (in ``nbgov.artifacts_changed`` and the build's warning).
OUTSIDE = "outside the project"
LINK_INSIDE = "a symbolic link in it leads outside the project"
#: Why a symbolic link inside a folder product is not uploaded (the rest of the folder is).
LINK = "a symbolic link"
#: Why a product path leading to the project folder itself, or into ``.git``, is not uploaded.
PROJECT = "the project folder itself or git's own folder"


def _outside(path: Path, root: Path) -> bool:
    try:
        return not path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a link loop: not followed either
        return True


def outside_link(path: Path, root: Path) -> Path | None:
    """The symbolic link that takes ``path`` (or, for a folder, anything inside it) outside
    ``root``: ``path`` itself when it resolves outside (through it or one of its folders),
    else the first link inside the folder that does; None when everything stays inside. A
    missing path is None (nothing to upload)."""
    root = root.resolve()
    if not path.exists() and not path.is_symlink():
        return None
    if _outside(path, root):
        return path
    if path.is_dir():
        for folder, dirs, files in os.walk(path):  # links to folders are not walked into
            for name in sorted(dirs + files):
                entry = Path(folder) / name
                if entry.is_symlink() and _outside(entry, root):
                    return entry
    return None


def _project_or_git(path: Path, root: Path) -> bool:
    """Whether ``path`` resolves to the project folder itself or into its ``.git``."""
    top = root.resolve()
    try:
        real = path.resolve()
    except (OSError, RuntimeError):
        return True
    return real == top or (real.is_relative_to(top) and ".git" in real.relative_to(top).parts)


def folder_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """What of folder product ``folder`` is uploaded: its regular files, at any depth, sorted;
    and the symbolic links in it (to files or folders, sorted), which are not: a link is never
    followed, wherever it leads (into ``.git``, to ``.env``, to the project folder itself). A
    ``.git`` entry is left out silently (git's own files are never uploaded), and so are other
    kinds of files (a fifo would block the reader)."""
    files: list[Path] = []
    links: list[Path] = []
    for top, dirs, names in os.walk(folder):  # (followlinks=False: a link to a folder is in dirs)
        here = Path(top)
        links += [here / d for d in dirs if (here / d).is_symlink()]
        dirs[:] = sorted(d for d in dirs if d != ".git" and not (here / d).is_symlink())
        for name in names:
            entry = here / name
            if entry.is_symlink():
                links.append(entry)
            elif name != ".git" and stat.S_ISREG(entry.lstat().st_mode):
                files.append(entry)
    return sorted(files), sorted(links)


def flag_outside_products(payload: dict[str, Any], root: Path) -> list[tuple[str, str]]:
    """Mark the artifacts of a ``task_finished`` payload (products and executed notebooks) that
    are outside ``root`` (a product path Ploomber resolved through a symbolic link, or declared
    there) or hold a link leading there ``withheld`` (with ``withheld_why``): the sender uploads
    none of them; so is a product resolving to the project folder itself or into ``.git``
    (``PROJECT``). Returns ``(artifact path, why)`` pairs, for a warning: those, and every other
    symbolic link inside a folder product (``(products/plots/env, LINK)``: the sender leaves
    such links out of the folder's upload, :func:`folder_files`)."""
    out: list[tuple[str, str]] = []
    for item in payload.get("artifacts") or []:
        if item.get("withheld"):
            continue  # (already not uploaded)
        path = root / item["path"]
        if path.exists() and _project_or_git(path, root):
            # (``products/plots -> ..``: the sender refuses it too, J9; not walked here either)
            item["withheld"], item["withheld_why"] = True, PROJECT
            out.append((item["path"], PROJECT))
            continue
        link = outside_link(path, root)
        if link is not None:
            why = OUTSIDE if link == path else f"{LINK_INSIDE} ({link})"
            item["withheld"], item["withheld_why"] = True, why
            out.append((item["path"], why))
        elif path.is_dir():
            out += [(f"{item['path']}/{link.relative_to(path).as_posix()}", LINK) for link in folder_files(path)[1]]
    return out

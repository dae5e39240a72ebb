"""Products that lead outside the project (R5): never uploaded.

A product path, or a file or folder inside a folder product, may be a symbolic link (one a
pull request committed: ``products/plots -> ~/.ssh``). The task writes through it, and an upload
would follow it and send whatever the folder it leads to holds. So the build flags such a
product ``withheld`` (:func:`flag_outside_products`; the sender names it in the run's
``nbgov.artifacts_changed`` tag and the build warns on stderr), and a governed build refuses to
run a task whose product path is a committed link leading outside
(:func:`nbgov.services.build.gate.refuse_linked_products`). Links that stay inside the project
are followed as before.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

#: Why such a product is not uploaded (in ``nbgov.artifacts_changed`` and the build's warning).
OUTSIDE = "outside the project"
LINK_INSIDE = "a symbolic link in it leads outside the project"


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


def flag_outside_products(payload: dict[str, Any], root: Path) -> list[tuple[str, str]]:
    """Mark the artifacts of a ``task_finished`` payload (products and executed notebooks) that
    are outside ``root`` (a product path Ploomber resolved through a symbolic link, or declared
    there) or hold a link leading there ``withheld`` (with ``withheld_why``): the sender uploads
    none of them. Returns ``(artifact path, why)`` pairs, for a warning."""
    out: list[tuple[str, str]] = []
    for item in payload.get("artifacts") or []:
        path = root / item["path"]
        link = outside_link(path, root)
        if link is not None:
            why = OUTSIDE if link == path else f"{LINK_INSIDE} ({link})"
            item["withheld"], item["withheld_why"] = True, why
            out.append((item["path"], why))
    return out

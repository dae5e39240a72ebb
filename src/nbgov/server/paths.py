"""Confine request paths to the Jupyter server root, and find the nbgov project of a notebook.

Nothing here imports tornado or jupyter_server, so the rules are unit-testable on their own.
A path from a request is refused when it is empty, absolute, contains a ``..`` part, a NUL
byte or a backslash, names a hidden file (unless the server allows hidden files), or
resolves (following symlinks) to a place outside the server root.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from nbgov.core.config import CONFIG_FILE, DEFAULT_PIPELINE, Config, find_root, load_config
from nbgov.core.errors import Location, NotebookError


class PathRefusedError(NotebookError):
    """A request path that could escape the server root, or is malformed."""


class NotebookNotFoundError(NotebookError):
    """A request path inside the root that names no file."""


def _refuse(raw: str, why: str) -> PathRefusedError:
    return PathRefusedError(f"path refused: {why}", Location(raw),
                            hint="give a path relative to the Jupyter server root, without '..'")


def is_within(path: Path, root: Path) -> bool:
    """True when ``path`` is ``root`` or below it (both already resolved)."""
    try:
        return os.path.commonpath([path, root]) == str(root)
    except ValueError:  # different drives on Windows
        return False


def resolve_in_root(root: str | Path, raw: str | None, *, allow_hidden: bool = False,
                    must_exist: bool = True, kind: str = "file") -> Path:
    """The absolute, symlink-free path of ``raw`` (posix, relative to ``root``).

    Args:
        root: the Jupyter server root folder.
        raw: the path as sent by the client.
        allow_hidden: accept parts starting with a dot (mirrors ContentsManager.allow_hidden).
        must_exist: raise NotebookNotFoundError when nothing is there.
        kind: ``"file"``, ``"dir"`` or ``"any"``: what the path must name when it exists.

    Returns:
        The resolved path, guaranteed to be inside the resolved root.

    Raises:
        PathRefusedError: absolute, ``..``, hidden, malformed, or outside the root.
        NotebookNotFoundError: nothing at that path (when ``must_exist``).
    """
    if raw is None or not str(raw).strip():
        raise _refuse("", "empty path")
    raw = str(raw)
    if "\x00" in raw or "\\" in raw:
        raise _refuse(raw, "NUL or backslash in path")
    pure = PurePosixPath(raw)
    if pure.is_absolute() or (len(raw) > 1 and raw[1] == ":"):
        raise _refuse(raw, "absolute path")
    if any(part == ".." for part in pure.parts):
        raise _refuse(raw, "'..' in path")
    if not allow_hidden and any(part.startswith(".") and part != "." for part in pure.parts):
        raise _refuse(raw, "hidden file or folder")
    real_root = Path(root).resolve()
    target = (real_root / pure).resolve()
    if not is_within(target, real_root):
        # a symlink inside the root that points out of it
        raise _refuse(raw, "outside the server root")
    if must_exist and not target.exists():
        raise NotebookNotFoundError("not found", Location(raw), hint="check the path")
    if target.exists():
        if kind == "file" and not target.is_file():
            raise PathRefusedError("not a file", Location(raw))
        if kind == "dir" and not target.is_dir():
            raise PathRefusedError("not a folder", Location(raw))
    return target


def relative_to_root(root: str | Path, path: Path) -> str:
    """The posix path of ``path`` (resolved, inside ``root``) relative to the server root."""
    return path.relative_to(Path(root).resolve()).as_posix()


def _has_marker(folder: Path) -> bool:
    if (folder / CONFIG_FILE).is_file() or (folder / DEFAULT_PIPELINE).is_file():
        return True
    return load_config(folder).source is not None  # pyproject.toml with [tool.nbgov]


def project_root(server_root: str | Path, start: Path) -> Path:
    """The nbgov project folder for a file or folder ``start`` inside the server root.

    The nearest folder at or above ``start`` holding nbgov.toml / pipeline.yaml /
    [tool.nbgov], but never above the server root: the server root itself when none is found
    below it (the server must not read configuration from outside what it serves).
    """
    real_root = Path(server_root).resolve()
    folder = start if start.is_dir() else start.parent
    found = find_root(folder)
    if is_within(found, real_root) and (found != folder or _has_marker(found)):
        return found
    return real_root


def project_config(server_root: str | Path, start: Path) -> Config:
    """The nbgov configuration of the project holding ``start`` (see :func:`project_root`)."""
    return load_config(project_root(server_root, start))


def project_relative(config: Config, path: Path) -> str:
    """``path`` relative to the project root, posix (what services take and ledgers store)."""
    return path.relative_to(config.root).as_posix()

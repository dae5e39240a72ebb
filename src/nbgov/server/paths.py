"""Confine request paths to the Jupyter server root, and find the nbgov project of a notebook.

Nothing here imports tornado or jupyter_server, so the rules are unit-testable on their own.
A path from a request is refused when it is empty, absolute, contains a ``..`` part, a NUL
byte or a backslash, names a hidden file (unless the server allows hidden files), is longer
than :data:`MAX_PATH_BYTES`, or resolves (following symlinks) to a place outside the server root.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

from nbgov.core.config import CONFIG_FILE, DEFAULT_PIPELINE, Config, find_root, load_config
from nbgov.core.errors import Location, NotebookError, without_credentials

#: Longest request path accepted (Linux's PATH_MAX); longer is a 400, never an OSError.
MAX_PATH_BYTES = 4096


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
    if len(raw.encode("utf-8", errors="replace")) > MAX_PATH_BYTES:
        raise _refuse(raw[:64] + "...", f"longer than {MAX_PATH_BYTES} bytes")
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
    try:
        target = (real_root / pure).resolve()
        if not is_within(target, real_root):
            # a symlink inside the root that points out of it
            raise _refuse(raw, "outside the server root")
        exists = target.exists()
        if must_exist and not exists:
            raise NotebookNotFoundError("not found", Location(raw), hint="check the path")
        if exists:
            if kind == "file" and not target.is_file():
                raise PathRefusedError("not a file", Location(raw))
            if kind == "dir" and not target.is_dir():
                raise PathRefusedError("not a folder", Location(raw))
            if kind == "any" and not (target.is_file() or target.is_dir()):
                raise PathRefusedError("not a regular file or folder", Location(raw))
    except OSError as exc:  # a part too long for the file system, a loop of symlinks...
        raise _refuse(raw[:64], exc.strerror or type(exc).__name__) from None
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


# an absolute path in text: not after a word character, ':' or '/' (URLs, models:/ URIs)
_ABS_PATH = re.compile(r"(?<![\w:/.~-])/(?:[^\s'\"(),;:/]+/)*[^\s'\"(),;:/]*")


# sqlite:////abs and file:///abs (a relative sqlite:///name is left as it is)
_LOCAL_URI = re.compile(r"\b(sqlite:///|file://)(/[^\s'\"]*)")


def scrub_paths(text: str, root: Path) -> str:
    """``text`` with absolute paths made server-root relative, or reduced to their last part
    when outside the root (API replies must not reveal the server's file system)."""
    real_root = str(Path(root).resolve())

    def one(m: re.Match) -> str:
        path = m.group(0)
        if path == real_root:
            return "."
        if path.startswith(real_root + "/"):
            return path[len(real_root) + 1:]
        return Path(path).name or "/"

    # local stores named by URI (sqlite:////srv/x/mlflow.db, file:///srv/x/mlruns) too
    text = _LOCAL_URI.sub(lambda m: m.group(1) + _ABS_PATH.sub(one, m.group(2)), text)
    return _ABS_PATH.sub(one, text)


def safe_addresses(payload: dict[str, Any], root: Path) -> dict[str, Any]:
    """``payload`` (a runs, compare or lineage reply) with the addresses it returns fit for a
    client (W7): no ``user:password@`` in a URI and no absolute server path (root-relative, or
    the name only outside the root) in the UI link and command, the store's error, the
    tracking URI and the query's target."""

    def clean(value: Any) -> Any:
        return scrub_paths(without_credentials(value), root) if isinstance(value, str) else value

    out = dict(payload)
    if isinstance(out.get("ui"), dict):
        out["ui"] = {k: clean(v) for k, v in out["ui"].items()}
    for key in ("store_error", "tracking_uri", "notebooks_note"):
        if key in out:
            out[key] = clean(out[key])
    target = out.get("target")
    if isinstance(target, dict) and isinstance(target.get("text"), str):
        out["target"] = {**target, "text": clean(target["text"])}
    return out

"""Whether a pull request's results can be trusted: the tracking store the report reads must
not be something the branch wrote. It is not when the store is a file (or folder) inside the
repository that git tracks and the branch changed (a committed ``mlflow.db`` with forged
metrics), or when the store's URI comes from a project config file the branch changed (the
branch pointing the report at a store of its own). The CI recipes set ``MLFLOW_TRACKING_URI``
to a store outside the checkout (docs/how-to/pr-review.md).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from nbgov.adapters import git
from nbgov.core.config import Config
from nbgov.core.errors import NbgovError


def _store_path(uri: str) -> Path | None:
    """The local file or folder of a tracking URI (None: a server, a database elsewhere)."""
    if uri.startswith("sqlite:///"):  # sqlite:////abs/path, sqlite:///relative/path
        return Path(unquote(uri[len("sqlite:///"):].split("?")[0]))
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" and uri:
        return Path(uri)
    return None


def _uri_in(text: bytes, name: str) -> str | None:
    try:
        data = tomllib.loads(text.decode("utf-8", errors="replace"))
    except tomllib.TOMLDecodeError:
        return "(unreadable)"
    if name == "pyproject.toml":
        data = data.get("tool", {}).get("nbgov", {})
    value = data.get("tracking_uri")
    return value if isinstance(value, str) else None


def untrusted_store(config: Config, report: dict[str, Any]) -> tuple[str, str] | None:
    """(why, the file the branch changed) when the results of ``report`` cannot be trusted;
    None when they can."""
    repo = git.repo_root(config.root)
    base, head = report["base"]["commit"], report["head"]["commit"]
    if repo is None or not base:
        return None
    changes = git.changed_files(repo, base, head) or []
    changed = {p for _, old, new in changes for p in (old, new) if p}
    top = repo.resolve()
    store = _store_path(config.resolved_tracking_uri())
    if store is not None:
        store = (config.root / store).resolve()
        if store.is_relative_to(top):
            rel = store.relative_to(top).as_posix()
            hit = sorted(p for p in changed if p == rel or p.startswith(rel + "/"))
            if hit:
                return (f"the tracking store {rel} is tracked by git and this branch changes it: its runs "
                        "could be the branch's own", hit[0])
    source = getattr(config, "source", None)
    if not os.environ.get("MLFLOW_TRACKING_URI") and source is not None:
        try:
            rel = Path(source).resolve().relative_to(top).as_posix()
        except ValueError:
            return None
        if rel in changed:
            try:
                before = _uri_in(git.show_file(repo, base, rel), Path(rel).name)
            except NbgovError:
                before = None
            if before != config.tracking_uri:
                return (f"this branch changes the tracking store in {rel} (tracking_uri): the report would read "
                        "a store of the branch's choosing", rel)
    return None

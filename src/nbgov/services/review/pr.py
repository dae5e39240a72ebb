"""The review of a change set (``nbgov review pr``): every review target a branch touches
between two commits, what changed in it, and where its review stands at the head.

The two sides are real checkouts: ``base`` is checked out into a temporary linked work tree
(so its review closure is the one its own spec defines: a deleted or moved notebook is still
found), ``head`` is the working tree, or another temporary work tree when ``--head`` names a
commit. The review state at the head is the gate's own: records count by the rules read at
the base (:func:`.base.trust_base`), and the verdict is :func:`.state.require_approved`'s, so
the report and ``nbgov review gate --base`` cannot disagree.

The report is plain data (JSON schema ``nbgov.pr-report/1``, docs/reference/pr-report.md);
:mod:`.pr_render` turns it into Markdown and HTML.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nbgov.adapters import git
from nbgov.adapters.notebooks import content_version, read_source
from nbgov.core import celldiff
from nbgov.core.config import Config, load_config
from nbgov.core.errors import ConfigError, GateError, Location, NbgovError, NotebookError, ReviewError
from nbgov.core.four_eyes import principal_names, shared_identity
from nbgov.core.ledger import ReviewRecord, by_notebook, status_of, unique_records
from nbgov.core.targets import kind_of
from nbgov.services.review import threads as thread_store
from nbgov.services.review import trust
from nbgov.services.review.base import TrustBase, trust_base
from nbgov.services.review.discovery import discover_notebooks
from nbgov.services.review.state import require_approved, target_kind

SCHEMA = "nbgov.pr-report/1"
#: How a file changed, by git's letter.
_CHANGE = {"A": "added", "D": "deleted", "M": "modified", "R": "moved", "T": "modified"}


@contextlib.contextmanager
def _checkout(repo: Path, rev: str) -> Iterator[Path]:
    """``rev`` checked out into a temporary linked work tree, removed afterwards."""
    parent = Path(tempfile.mkdtemp(prefix="nbgov-pr-"))
    dest = parent / "tree"
    try:
        git.add_worktree(repo, rev, dest)
        yield dest
    finally:
        git.remove_worktree(repo, dest)
        shutil.rmtree(parent, ignore_errors=True)


def _check_rev(repo: Path, rev: str, option: str) -> str:
    sha = git.rev_parse(repo, rev)
    if sha is None:
        raise ReviewError(f"unknown git revision {rev!r} ({option})",
                          hint=f"name a branch, tag or commit that exists, e.g. {option} origin/main "
                               "(in CI, fetch it first: git fetch origin main)")
    return sha


def _read(path: Path) -> dict[str, Any] | str | None:
    if not path.is_file():
        return None
    try:
        return read_source(path)
    except NotebookError:
        return path.read_text(encoding="utf-8", errors="replace")


def _raw_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    except OSError:
        return ""


def _four_eyes(config: Config, base: TrustBase, rel: str, records: list[ReviewRecord]) -> dict[str, Any]:
    """Who changed the target since its last approval that counts, and who may approve it."""
    since = next((r.commit for r in reversed(records) if r.decision == "approved"), None)
    changed = list(trust.changed_by(config, rel, since))
    settings = base.settings
    if settings.allow_self_approval:
        return {"changed_by": changed, "may_approve": "anyone ([review] allow_self_approval = true)",
                "eligible": None}
    eligible = None
    if settings.require_signed:
        lines = (settings.allowed_content or b"").decode("utf-8", errors="replace").splitlines()
        principals = [p for line in lines if line.strip() and not line.lstrip().startswith("#")
                      for p in principal_names(line.split()[0])]
        eligible = [p for p in dict.fromkeys(principals) if not shared_identity([p], changed)]
        may = ("an allowed signer: " + ", ".join(eligible)) if eligible else "no allowed signer (all changed it)"
    else:
        may = "anyone but " + ", ".join(changed) if changed else "anyone"
    return {"changed_by": changed, "may_approve": may, "eligible": eligible}


def _review(config: Config, base: TrustBase, rel: str, version: str | None, records: list[ReviewRecord],
            gate_reason: str | None) -> dict[str, Any]:
    """The review state of one target at the head, as the gate sees it."""
    records = unique_records(records)
    if version is None:
        return {"status": "deleted", "approved_by": [], "approved_version": None, "changes_requested_by": [],
                "last": None, "changed_by": [], "may_approve": None, "eligible": None}
    status, approved_version, last = status_of(records, version)
    if gate_reason is not None:
        status = gate_reason  # the gate's word (e.g. a trust file needs an approval made on the branch)
    last_approval = max((i for i, r in enumerate(records) if r.decision == "approved"), default=-1)
    return {
        "status": status,
        "approved_by": list(dict.fromkeys(r.person for r in records
                                          if r.decision == "approved" and r.version == version)),
        "approved_version": approved_version,
        "changes_requested_by": list(dict.fromkeys(r.person for r in records[last_approval + 1:]
                                                   if r.decision == "changes_requested")),
        "last": last.summary() if last else None,
        **_four_eyes(config, base, rel, records),
    }


def _diff(kind_path: str, before: dict[str, Any] | str | None, after: dict[str, Any] | str | None,
          raw_before: str, raw_after: str) -> dict[str, Any]:
    if kind_path.endswith(".ipynb") and not isinstance(before, str) and not isinstance(after, str):
        cells = celldiff.compare_cells(before, after)
        shown = [c for c in cells if c["change"] != "unchanged" or c["outputs_changed"]]
        return {"format": "cells", "cells": shown, "counts": celldiff.counts(cells), "lines": []}
    lines = list(difflib.unified_diff(raw_before.splitlines(), raw_after.splitlines(), "base", "head",
                                      lineterm="", n=2))[2:]
    added = sum(1 for x in lines if x.startswith("+"))
    removed = sum(1 for x in lines if x.startswith("-"))
    return {"format": "text", "cells": [], "counts": {"lines_added": added, "lines_removed": removed},
            "lines": lines}


def _project_rel(prefix: str, path: str | None) -> str | None:
    if path is None:
        return None
    if not prefix:
        return path
    return path[len(prefix) + 1:] if path.startswith(prefix + "/") else None


def pr_report(config: Config, base: str, head: str | None = None) -> dict[str, Any]:
    """The review of the change from git ``base`` to ``head`` (None: the working tree).

    Returns:
        The report (see the module doc and docs/reference/pr-report.md).

    Raises:
        ReviewError: ``base`` or ``head`` is not a revision (exit 2).
        ConfigError: the project is not in git.
        LedgerError: the head's ledger does not extend the base's (as the gate).
    """
    repo = git.repo_root(config.root)
    if repo is None:
        raise ConfigError("a pull-request report needs a git repository", Location(config.root),
                          hint="run it in a clone of the project")
    base_sha = _check_rev(repo, base, "--base")
    head_sha = _check_rev(repo, head, "--head") if head else git.head(repo)[0]
    prefix = Path(os.path.relpath(config.root.resolve(), repo)).as_posix().strip(".")
    with contextlib.ExitStack() as stack:
        base_tree = stack.enter_context(_checkout(repo, base_sha))
        head_config = config
        if head is not None:
            # the head's own files, settings and ledger: a checkout of it, read as the working tree
            head_config = load_config(stack.enter_context(_checkout(repo, head_sha)) / prefix)
        return _report(head_config, base, head, base_sha, head_sha, base_tree / prefix)


def _report(config: Config, base: str, head: str | None, base_sha: str, head_sha: str | None,
            base_root: Path) -> dict[str, Any]:
    repo = git.repo_root(config.root)
    assert repo is not None  # pr_report checked it
    prefix = Path(os.path.relpath(config.root.resolve(), repo)).as_posix().strip(".")
    trusted = trust_base(config, base)
    head_targets = set(discover_notebooks(trusted.config, None))
    try:
        base_targets = set(discover_notebooks(load_config(base_root), None)) if base_root.is_dir() else set()
    except NbgovError:
        base_targets = set()  # a base whose own settings are broken: its closure is unknown
    changes = git.changed_files(repo, base_sha, head_sha if head else None)
    if changes is None:
        raise ReviewError(f"git cannot compare {base} with the head", hint="check: git diff --stat " + base)
    gate_reasons: dict[str, str] = {}
    try:
        require_approved(config, sorted(head_targets), trusted)
        gate = {"passes": True, "reasons": []}
    except GateError as exc:
        gate = {"passes": False, "reasons": list(exc.reasons)}
        for reason in exc.reasons:
            path, _, why = reason.partition(": ")
            gate_reasons[path] = why.split(" (")[0]
    counted = trust.counted_records(config, trusted.settings)
    grouped = by_notebook(counted)
    trust_files = set(trusted.changed)
    open_threads = thread_store.threads_by_notebook(config)
    targets: list[dict[str, Any]] = []
    for status, old_abs, new_abs in changes:
        old, new = _project_rel(prefix, old_abs), _project_rel(prefix, new_abs)
        if old is None and new is None:
            continue  # outside the project
        is_trust = bool({old, new} & trust_files)
        if not (is_trust or (new in head_targets) or (old in base_targets)):
            continue
        rel = new or old
        assert rel is not None
        before = _read(base_root / old) if old else None
        after = _read(config.root / new) if new else None
        diff = _diff(rel, before, after, _raw_text(base_root / old) if old else "",
                     _raw_text(config.root / new) if new else "")
        version = content_version(after) if after is not None else None
        records = grouped.get(rel, [])
        if rel in trust_files:
            records = [r for r in records if r.seq > trusted.base_records]
        target = {
            "path": rel,
            "old_path": old if status == "R" else None,
            "change": _CHANGE.get(status, "modified"),
            "kind": target_kind(config, rel) if new else kind_of(rel),
            "trust": rel in trust_files,
            "in_gate": rel in head_targets or rel in trust_files,
            "base_version": content_version(before) if before is not None else None,
            "head_version": version,
            "diff": diff,
            "review": _review(config, trusted, rel, version, records, gate_reasons.get(rel)),
            "threads": thread_store.thread_view(open_threads.get(rel, []) + (open_threads.get(old, []) if old != rel
                                                                             and old else []),
                                                after if isinstance(after, dict) else None),
        }
        targets.append(target)
    # trust settings first: a change to who may approve is read before anything it approves
    targets.sort(key=lambda t: (not t["trust"], t["path"]))
    return {
        "schema": SCHEMA,
        "base": {"ref": base, "commit": base_sha},
        "head": {"ref": head or _branch(repo), "commit": head_sha},
        "trust_changes": [t["path"] for t in targets if t["trust"]],
        "gate": gate,
        "summary": _summary(targets),
        "targets": targets,
        "results": None,
    }


def _branch(repo: Path) -> str:
    name = git.current_branch(repo)
    return f"{name} (working tree)" if name else "working tree"


def _summary(targets: list[dict[str, Any]]) -> dict[str, Any]:
    states = [t["review"]["status"] for t in targets]
    return {
        "targets": len(targets),
        "approved": states.count("approved"),
        "not_approved": sum(1 for t in targets if t["review"]["status"] not in ("approved", "deleted")),
        "deleted": states.count("deleted"),
        "open_threads": sum(1 for t in targets for th in t["threads"] if not th["resolved"]),
    }


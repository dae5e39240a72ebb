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
import re
import shutil
import signal
import tempfile
import threading
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
from nbgov.core.tasks import visible_lines
from nbgov.services.review import threads as thread_store
from nbgov.services.review import trust
from nbgov.services.review.base import TrustBase, trust_base
from nbgov.services.review.discovery import discover_notebooks
from nbgov.services.review.gating import require_gate
from nbgov.services.review.state import target_kind

SCHEMA = "nbgov.pr-report/1"
#: How a file changed, by git's letter.
_CHANGE = {"A": "added", "D": "deleted", "M": "modified", "R": "moved", "T": "modified"}


_PREFIX = "nbgov-pr-"


@contextlib.contextmanager
def _checkout(repo: Path, rev: str) -> Iterator[Path]:
    """``rev`` checked out into a temporary linked work tree, removed afterwards (also on
    SIGTERM: :func:`_terminate_as_exit`); the folder holds the owner's pid so that a run killed
    harder is cleaned up by the next (:func:`_prune_stale`)."""
    parent = Path(tempfile.mkdtemp(prefix=_PREFIX))
    (parent / "pid").write_text(str(os.getpid()))
    dest = parent / "tree"
    try:
        git.add_worktree(repo, rev, dest)
        yield dest
    finally:
        git.remove_worktree(repo, dest)
        shutil.rmtree(parent, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _prune_stale(repo: Path) -> None:
    """Remove the temporary work trees of earlier runs that died (their pid is gone)."""
    tmp = Path(tempfile.gettempdir()).resolve()
    for tree in git.worktrees(repo):
        parent = tree.parent
        if parent.parent.resolve() != tmp or not parent.name.startswith(_PREFIX) or tree.name != "tree":
            continue
        try:
            pid = int((parent / "pid").read_text())
        except (OSError, ValueError):
            pid = 0
        if not pid or not _alive(pid):
            git.remove_worktree(repo, tree)
            shutil.rmtree(parent, ignore_errors=True)


@contextlib.contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """SIGTERM (a CI job cancelled) raises SystemExit here, so the checkouts are removed; only
    in the main thread (where Python runs signal handlers), the old handler put back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
        return path.read_bytes().decode("utf-8", errors="replace")


def _raw_text(path: Path) -> str:
    try:
        # bytes as they are: read_text would turn a CR into a line end the diff then hides
        return path.read_bytes().decode("utf-8", errors="replace") if path.is_file() else ""
    except OSError:
        return ""


def _four_eyes(config: Config, base: TrustBase, rel: str, records: list[ReviewRecord],
               base_sha: str | None = None) -> dict[str, Any]:
    """Who changed the target since its last approval that counts, and who may approve it:
    nobody who changed it since its last approval or on this branch (since ``base_sha``): an
    approval on the branch does not make its author eligible for the next one."""
    since = next((r.commit for r in reversed(records) if r.decision == "approved"), None)
    changed = list(trust.changed_by(config, rel, since))
    authors = list(dict.fromkeys([*changed, *(trust.changed_by(config, rel, base_sha) if base_sha else ())]))
    settings = base.settings
    if settings.allow_self_approval:
        return {"changed_by": changed, "may_approve": "anyone ([review] allow_self_approval = true)",
                "eligible": None}
    eligible = None
    if settings.require_signed:
        lines = (settings.allowed_content or b"").decode("utf-8", errors="replace").splitlines()
        principals = [p for line in lines if line.strip() and not line.lstrip().startswith("#")
                      for p in principal_names(line.split()[0])]
        eligible = [p for p in dict.fromkeys(principals) if not shared_identity([p], authors)]
        may = ("an allowed signer: " + ", ".join(eligible)) if eligible else "no allowed signer (all changed it)"
    else:
        may = "anyone but " + ", ".join(authors) if authors else "anyone"
    return {"changed_by": changed, "may_approve": may, "eligible": eligible}


def _review(config: Config, base: TrustBase, rel: str, version: str | None, records: list[ReviewRecord],
            gate_reason: str | None, base_sha: str | None = None) -> dict[str, Any]:
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
        **_four_eyes(config, base, rel, records, base_sha),
    }


def _diff(kind_path: str, before: dict[str, Any] | str | None, after: dict[str, Any] | str | None,
          raw_before: str, raw_after: str) -> dict[str, Any]:
    if kind_path.endswith(".ipynb") and not isinstance(before, str) and not isinstance(after, str):
        cells = celldiff.compare_cells(before, after)
        shown = [c for c in cells if c["change"] != "unchanged" or c["outputs_changed"]]
        return {"format": "cells", "cells": shown, "counts": celldiff.counts(cells), "lines": []}
    lines = list(difflib.unified_diff(visible_lines(raw_before), visible_lines(raw_after), "base", "head",
                                      lineterm="", n=2))[2:]
    added = sum(1 for x in lines if x.startswith("+"))
    removed = sum(1 for x in lines if x.startswith("-"))
    return {"format": "text", "cells": [], "counts": {"lines_added": added, "lines_removed": removed},
            "lines": lines}


def _damaged(before: Any, after: Any) -> str | None:
    """What is wrong with a damaged notebook on either side (None: both are sound)."""
    for side, nb in (("head", after), ("base", before)):
        why = celldiff.damage(nb) if isinstance(nb, dict) else None
        if why:
            return f"damaged notebook at {side}: {why}"
    return None


def _safe_version(content: Any) -> str | None:
    if content is None:
        return None
    try:
        return content_version(content)
    except (AttributeError, TypeError, KeyError, ValueError):
        return "unreadable"


def _project_rel(prefix: str, path: str | None) -> str | None:
    if path is None:
        return None
    if not prefix:
        return path
    return path[len(prefix) + 1:] if path.startswith(prefix + "/") else None


def pr_report(config: Config, base: str, head: str | None = None, resolved: bool = False) -> dict[str, Any]:
    """The review of the change from git ``base`` to ``head`` (None: the working tree);
    ``resolved``: the gate's ``--require-resolved-threads``.

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
    _prune_stale(repo)
    with _terminate_as_exit(), contextlib.ExitStack() as stack:
        base_tree = stack.enter_context(_checkout(repo, base_sha))
        head_config = config
        if head is not None:
            # the head's own files, settings and ledger: a checkout of it, read as the working tree
            head_config = load_config(stack.enter_context(_checkout(repo, head_sha)) / prefix)
        return _report(head_config, base, head, base_sha, head_sha, base_tree / prefix, resolved)


def _report(config: Config, base: str, head: str | None, base_sha: str, head_sha: str | None,
            base_root: Path, resolved: bool = False) -> dict[str, Any]:
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
        # the gate's own function: the report's verdict is `nbgov review gate --base`'s exactly
        require_gate(config, sorted(head_targets), trusted, resolved)
        gate = {"passes": True, "reasons": [], "paths": []}
    except GateError as exc:
        gate = {"passes": False, "reasons": list(exc.reasons), "paths": list(exc.paths)}
        for path, reason in zip(exc.paths, exc.reasons, strict=False):
            why = reason[len(path) + 2:] if reason.startswith(path + ": ") else reason
            if not why.startswith("thread "):
                gate_reasons.setdefault(path, why.split(" (")[0])
    counted = trust.counted_records(config, trusted.settings)
    grouped = by_notebook(counted)
    trust_files = set(trusted.changed)
    open_threads = thread_store.threads_by_notebook(config, base_sha)
    targets: list[dict[str, Any]] = []
    base_top = base_root.parents[len(Path(prefix).parts) - 1] if prefix else base_root
    for status, old_abs, new_abs in changes:
        if is_ci_file(old_abs) or is_ci_file(new_abs):
            targets.append(_ci_target(status, old_abs, new_abs, base_top, repo))
            continue
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
        damaged = _damaged(before, after)
        try:
            diff = _diff(rel, before, after, _raw_text(base_root / old) if old else "",
                         _raw_text(config.root / new) if new else "")
            version = content_version(after) if after is not None else None
        except (AttributeError, TypeError, KeyError, ValueError) as exc:
            # one broken notebook does not stop the report: it is named as damaged (the gate,
            # which reads it on its own, still refuses it unless approved at its version)
            damaged = damaged or f"cannot be compared ({type(exc).__name__})"
            diff = _diff(rel, None, None, _raw_text(base_root / old) if old else "",
                         _raw_text(config.root / new) if new else "")
            diff["format"] = "text"
            version = _safe_version(after)
        records = grouped.get(rel, [])
        if rel in trust_files:
            records = [r for r in records if r.seq > trusted.base_records]
        target = {
            "path": rel,
            "old_path": old if status == "R" else None,
            "change": _CHANGE.get(status, "modified"),
            "kind": target_kind(config, rel) if new else kind_of(rel),
            "trust": rel in trust_files,
            "ci": False,
            "in_gate": rel in head_targets or rel in trust_files,
            "base_version": content_version(before) if before is not None else None,
            "head_version": version,
            "diff": diff,
            "damaged": damaged,
            "review": _review(config, trusted, rel, version, records, gate_reasons.get(rel), base_sha),
            "threads": thread_store.thread_view(open_threads.get(rel, []) + (open_threads.get(old, []) if old != rel
                                                                             and old else []),
                                                after if isinstance(after, dict) else None),
        }
        targets.append(target)
    # trust settings first (CI files first of all: they decide what the checks run): a change
    # to who may approve is read before anything it approves
    targets.sort(key=lambda t: (not t.get("ci"), not t["trust"], t["path"]))
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


#: Files that decide what CI runs (and so which checks a pull request passes), repo-relative.
_CI_FILES = re.compile(r"\.github/workflows/[^/]+\.ya?ml|\.gitlab-ci\.yml|\.gitlab/ci/.+\.ya?ml")


def is_ci_file(path: str | None) -> bool:
    """Whether a repository-relative path is a CI definition (a trust setting of the report)."""
    return path is not None and _CI_FILES.fullmatch(path) is not None


def _ci_target(status: str, old: str | None, new: str | None, base_top: Path, head_top: Path) -> dict[str, Any]:
    """A changed CI file as a target of the report: a trust change, shown first, not gated
    (nbgov cannot approve what runs nbgov: the people who merge must read it)."""
    raw_before = _raw_text(base_top / old) if old else ""
    raw_after = _raw_text(head_top / new) if new else ""
    review = {"status": "not gated: a CI file, review it here", "approved_by": [], "approved_version": None,
              "changes_requested_by": [], "last": None, "changed_by": [], "may_approve": None, "eligible": None}
    return {"path": new or old, "old_path": old if status == "R" else None, "change": _CHANGE.get(status, "modified"),
            "kind": "CI file", "trust": True, "ci": True, "in_gate": False, "damaged": None, "base_version": None,
            "head_version": None, "diff": _diff(new or old or "", None, None, raw_before, raw_after),
            "review": review, "threads": []}


def _branch(repo: Path) -> str:
    name = git.current_branch(repo)
    return f"{name} (working tree)" if name else "working tree"


def _summary(targets: list[dict[str, Any]]) -> dict[str, Any]:
    states = [t["review"]["status"] for t in targets]
    return {
        "targets": len(targets),
        "approved": states.count("approved"),
        "not_approved": sum(1 for t in targets if t["review"]["status"] not in ("approved", "deleted")
                            and not t.get("ci")),
        "deleted": states.count("deleted"),
        "open_threads": sum(1 for t in targets for th in t["threads"] if not th["resolved"]),
    }


"""A build's sources fetched by git commit into a cache of this machine's own (exported tasks,
Dask workers of ``nbgov build --cluster ADDR --repository URL``).

An exported task (Airflow, Argo, Kubeflow: ``nbgov build TASK --commit SHA --repository URL``)
first fetches the commit into this machine's cache (:func:`fetch_checkout`: a bare repository
per source URL, one fresh linked work tree per task) and checks that work tree with the warm
worker's own check (:func:`nbgov.adapters.engines.checkout.checkout_problem`, R10) before
anything in it is read. A Dask worker without a checkout of its own keeps one such checkout
per build commit (:class:`WorkerSources`). No third-party import here: an engine's worker needs
no Dask.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
import threading
import time
import uuid
from pathlib import Path
from time import monotonic

from nbgov.adapters.engines.checkout import checkout_problem
from nbgov.adapters.git import add_worktree, remove_worktree
from nbgov.core.atomic import atomic_write
from nbgov.core.errors import NbgovError, without_credentials
from nbgov.core.lock import ProjectLock

#: a full commit id (SHA-1 or SHA-256): a branch or tag name moves, the export pins the content
COMMIT_ID = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
#: env var naming the cache of fetched sources (default: $XDG_CACHE_HOME/nbgov, ~/.cache/nbgov)
CACHE_VAR = "NBGOV_CACHE_DIR"
#: how long one fetch of a commit may take
FETCH_TIMEOUT_S = 600
#: how long a Dask worker remembers that its fetch failed (the build's later tasks on it fail at
#: once with the same line instead of each waiting for git again); it tries again after that
FETCH_RETRY_S = 60


def cache_dir() -> Path:
    """This machine's cache of fetched sources (:data:`CACHE_VAR`, else the XDG cache)."""
    named = os.environ.get(CACHE_VAR)
    if named:
        return Path(named)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nbgov"


def _run(repo: Path, *args: str, timeout: float = FETCH_TIMEOUT_S) -> subprocess.CompletedProcess:
    # no terminal prompt for credentials: a worker has nobody to answer it (it would hang)
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=timeout,
                              env=env)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 124, "", f"git {args[0]} timed out after {timeout:.0f} s")
    except OSError as exc:
        return subprocess.CompletedProcess(args, 127, "", f"git cannot run: {exc}")


def _last_line(proc: subprocess.CompletedProcess) -> str:
    lines = [ln.strip() for ln in (proc.stderr or "").splitlines() if ln.strip()]
    # git's own verdict (fatal: ...) rather than its advice lines after it
    fatal = [ln for ln in lines if ln.startswith(("fatal:", "error:"))]
    return without_credentials((fatal or lines or [f"git exited {proc.returncode}"])[0])[:300]


def check_source(repository: str, commit: str) -> None:
    """Refuse what :func:`fetch_checkout` cannot fetch safely: a commit that is not a full id,
    a repository that git would read as an option.

    Raises:
        NbgovError: naming the value and what to give instead (exit 2).
    """
    if not COMMIT_ID.match(commit or ""):
        raise NbgovError(f"--commit {commit[:80]!r} is not a full git commit id (40 or 64 hex digits)",
                         hint="export again: the exported tasks name the commit they build")
    if not repository or repository.startswith("-"):
        raise NbgovError(f"--repository {without_credentials(repository)[:80]!r} is not a repository address",
                         hint="name the project's git repository (a URL or a path)")


def fetch_checkout(repository: str, commit: str, cache: Path | None = None, build: str | None = None) -> Path:
    """A fresh checkout of ``commit`` from ``repository`` in this machine's cache, checked with
    :func:`checkout_problem`; the caller removes it with :func:`drop_checkout`.

    The cache keeps one bare repository per repository address (fetched once per commit, under
    a lock: tasks on one machine fetch in turn) and one linked work tree per call, so that tasks
    share nothing but git's objects: every product comes from storage.

    ``build``: the build id of the task (``nbgov build TASK --build-id ID --commit ...``: each
    task a process of its own). A failed fetch is remembered in the cache for
    :data:`FETCH_RETRY_S` seconds: the same build's later tasks on this machine fail at once
    with its line instead of each waiting up to :data:`FETCH_TIMEOUT_S` for git again.

    Raises:
        NbgovError: the repository cannot be reached, does not hold the commit, or the
            checkout is not exactly the commit (exit 2, one line each).
    """
    check_source(repository, commit)
    base = (cache or cache_dir()) / "sources" / hashlib.sha256(repository.encode()).hexdigest()[:16]
    marker = base / "failed" / f"{commit}-{hashlib.sha256(build.encode()).hexdigest()[:16]}.json" if build else None
    dest = _fetch(repository, commit, base, marker)
    if marker is not None:
        with contextlib.suppress(OSError):
            marker.unlink(missing_ok=True)
    return dest


def _remember(marker: Path | None, exc: NbgovError) -> None:
    """Keep ``exc`` in ``marker`` for the build's later tasks (see :func:`fetch_checkout`)."""
    if marker is not None:
        with contextlib.suppress(OSError):  # remembering saves time: never an error of its own
            atomic_write(marker, json.dumps({"at": time.time(), "message": exc.message, "hint": exc.hint}))


def _remembered_failure(marker: Path | None) -> None:
    """Raise the failure ``marker`` remembers, when it is younger than :data:`FETCH_RETRY_S`
    (wall clock: the tasks are processes of their own); an unreadable marker is no failure."""
    if marker is None:
        return
    try:
        failed = json.loads(marker.read_text(encoding="utf-8"))
        ago = time.time() - float(failed["at"])
        message, hint = str(failed["message"]), failed.get("hint")
    except (OSError, ValueError, KeyError, TypeError):
        return
    if 0 <= ago < FETCH_RETRY_S:
        raise NbgovError(f"{message} (an earlier task's fetch failed {ago:.0f} s ago; retried after {FETCH_RETRY_S} s)",
                         hint=str(hint) if hint else None)


def _fetch(repository: str, commit: str, base: Path, marker: Path | None) -> Path:
    """:func:`fetch_checkout`: under the cache's lock, a failure remembered in ``marker`` (tasks
    that waited for the lock while the fetch failed see it at once) or the fetch."""
    bare = base / "repo.git"
    lock = ProjectLock(base / "fetch.lock", "source fetch")
    lock.acquire(wait=True, command="nbgov: fetch the project's sources")
    try:
        _remembered_failure(marker)
        try:
            dest = _fetch_locked(repository, commit, base, bare)
        except NbgovError as exc:
            _remember(marker, exc)
            raise
    finally:
        lock.release()
    problem = checkout_problem(dest, commit)
    if problem:
        drop_checkout(dest)
        exc = NbgovError(f"refused: the fetched sources are not commit {commit[:12]}: {problem}",
                         hint=f"remove the source cache {base} and run the task again")
        _remember(marker, exc)
        raise exc
    return dest


def _fetch_locked(repository: str, commit: str, base: Path, bare: Path) -> Path:
    """The commit in the bare repository ``bare`` (fetched now when missing), and a new work
    tree of it (the caller holds the cache's lock)."""
    where = without_credentials(repository)
    if not (bare / "HEAD").is_file():
        bare.mkdir(parents=True, exist_ok=True)
        init = _run(bare, "init", "--bare", "-q")
        if init.returncode != 0:
            raise NbgovError(f"cannot create the source cache {bare}: {_last_line(init)}",
                             hint=f"make the folder writable or name another cache ({CACHE_VAR})")
    if _run(bare, "cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        # by its id first (servers allow wanting a reachable commit), else every branch and tag
        keep = f"+{commit}:refs/nbgov/{commit}"
        fetched = _run(bare, "fetch", "-q", "--no-tags", "--", repository, keep)
        if fetched.returncode != 0:
            fetched = _run(bare, "fetch", "-q", "--", repository, "+refs/heads/*:refs/nbgov/heads/*",
                           "+refs/tags/*:refs/nbgov/tags/*")
            if fetched.returncode != 0:
                raise NbgovError(f"cannot fetch the project's sources from {where}: {_last_line(fetched)}",
                                 hint="let this worker reach the repository (network, a git credential "
                                      "helper for its credentials), or run the export with "
                                      "--allow-local-products on one machine")
        if _run(bare, "cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
            raise NbgovError(f"the repository {where} has no commit {commit[:12]} (not pushed?)",
                             hint="push the commit the workflow was exported at, or export again")
    dest = base / "checkouts" / f"{commit[:12]}-{uuid.uuid4().hex[:8]}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    add_worktree(bare, commit, dest)
    return dest


def drop_checkout(checkout: Path) -> None:
    """Remove a work tree :func:`fetch_checkout` made (its bare repository stays, for the next task)."""
    bare = checkout.parent.parent / "repo.git"
    lock = ProjectLock(checkout.parent.parent / "fetch.lock", "source fetch")
    lock.acquire(wait=True, command="nbgov: remove a checkout")
    try:
        remove_worktree(bare, checkout)
    finally:
        lock.release()


class WorkerSources:
    """A Dask worker's checkout of the build's ``commit`` from ``repository``, fetched by the first
    task that needs it (in the task's thread: the worker's event loop never waits for git), kept
    for the commit's later tasks and builds, removed by :meth:`drop` (the worker plugin's teardown).

    A failed fetch (unreachable, no such commit, or fetched sources that are not the commit) is
    remembered for :data:`FETCH_RETRY_S` seconds (monotonic clock): the build's later tasks on
    this worker in that while fail at once with the same line (each would otherwise wait up to
    :data:`FETCH_TIMEOUT_S` for git again); after it, or in another build, a task tries again."""

    def __init__(self, repository: str, commit: str) -> None:
        self.repository = repository
        self.commit = commit
        self.path: Path | None = None
        self._lock = threading.Lock()  # the worker's task threads fetch once, in turn
        #: (build, when, the error) of the last failed fetch, until a fetch succeeds
        self._failed: tuple[str | None, float, NbgovError] | None = None

    def get(self, build: str | None = None) -> Path:
        """The checkout (fetched now if this worker has none yet). A failure is remembered for
        :data:`FETCH_RETRY_S` seconds: a later call of the same ``build`` in that while raises
        it again at once, saying so.

        Raises:
            NbgovError: as :func:`fetch_checkout`.
        """
        with self._lock:
            if self.path is not None and self.path.is_dir():
                return self.path
            if self._failed is not None:
                failed_in, at, error = self._failed
                ago = monotonic() - at
                if failed_in == build and ago < FETCH_RETRY_S:
                    raise NbgovError(f"{error.message} (an earlier task's fetch failed {ago:.0f} s ago; retried "
                                     f"after {FETCH_RETRY_S} s)", error.where, hint=error.hint,
                                     exit_code=error.exit_code)
            try:
                self.path = fetch_checkout(self.repository, self.commit)
            except NbgovError as exc:
                self.path, self._failed = None, (build, monotonic(), exc)
                raise
            self._failed = None
            return self.path

    def drop(self) -> None:
        """Remove the checkout (git's objects stay in the cache for the next commit's fetch)."""
        with self._lock, contextlib.suppress(Exception):  # (a worker's teardown: never raises)
            if self.path is not None and self.path.is_dir():
                drop_checkout(self.path)
        self.path = None

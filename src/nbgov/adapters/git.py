"""git through its command line (``git -C <root> ...``): identities, authors, revisions.

Every function returns ``None`` (or False) when the folder is not in a git repository or git is
not installed, so callers decide whether that matters; only :func:`show_file` raises, because
asking for a file at a revision that does not exist is a user error.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from nbgov.core.errors import Location, NbgovError
from nbgov.core.four_eyes import same_person


@dataclass(frozen=True)
class Person:
    """A git identity. ``str()`` gives ``Name <email>`` (or whichever part is known)."""

    name: str
    email: str = ""

    def __str__(self) -> str:
        if self.name and self.email:
            return f"{self.name} <{self.email}>"
        return self.name or f"<{self.email}>"

    @classmethod
    def parse(cls, text: str) -> Person:
        """Read ``Name <email>``, ``<email>`` or a bare name."""
        text = text.strip()
        if text.endswith(">") and "<" in text:
            name, _, email = text[:-1].rpartition("<")
            return cls(name.strip(), email.strip())
        return cls(text)

    def same_as(self, other: Person) -> bool:
        """Whether two identities are the same person (case-blind): same e-mail, same name, or
        a bare user name equal to the other's e-mail local part (:mod:`nbgov.core.four_eyes`).

        Any match counts, so one person with two addresses or a login name instead of a full
        name is still caught by the four-eyes rule (it errs towards refusing).
        """
        return same_person(str(self), str(other))


def _git(root: str | Path, *args: str) -> subprocess.CompletedProcess[bytes] | None:
    try:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, check=False, timeout=30
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None


def _out(root: str | Path, *args: str) -> str | None:
    proc = _git(root, *args)
    if proc is None or proc.returncode != 0:
        return None
    return proc.stdout.decode("utf-8", errors="replace").strip()


def _paths(root: str | Path, *args: str) -> list[str] | None:
    """The NUL-separated paths a ``-z`` command prints (None: git failed): no quoting of
    non-ASCII, tab or newline in a name, no stripping of its spaces."""
    proc = _git(root, *args)
    if proc is None or proc.returncode != 0:
        return None
    return [p for p in proc.stdout.decode("utf-8", errors="replace").split("\x00") if p]


def repo_root(path: str | Path) -> Path | None:
    """The top folder of the git work tree holding ``path``, or None."""
    path = Path(path)
    out = _out(path if path.is_dir() else path.parent, "rev-parse", "--show-toplevel")
    return Path(out).resolve() if out else None


def ignored(root: str | Path, paths: list[str]) -> set[str] | None:
    """Which of ``paths`` (relative to ``root``, existing or not) git ignores; None when
    ``root`` is no git work tree (or git failed)."""
    if not paths:
        return set()
    try:
        proc = subprocess.run(["git", "-C", str(root), "check-ignore", "--stdin", "-z"], capture_output=True,
                              input="\x00".join(paths).encode() + b"\x00", check=False, timeout=30)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    if proc.returncode not in (0, 1):
        return None
    return {p for p in proc.stdout.decode("utf-8", errors="replace").split("\x00") if p}


def user(root: str | Path) -> Person | None:
    """The identity git would commit as (``user.name`` / ``user.email``), or None if unset."""
    name = _out(root, "config", "user.name") or ""
    email = _out(root, "config", "user.email") or ""
    return Person(name, email) if (name or email) else None


def head(root: str | Path) -> tuple[str | None, bool]:
    """(HEAD commit sha or None, whether the work tree has uncommitted changes to tracked files)."""
    sha = _out(root, "rev-parse", "--verify", "-q", "HEAD")
    status = _out(root, "status", "--porcelain", "--untracked-files=no")
    return sha or None, bool(status)


def rev_parse(root: str | Path, rev: str) -> str | None:
    """The commit ``rev`` names, or None (no such revision, not a repository)."""
    return _out(root, "rev-parse", "--verify", "-q", f"{rev}^{{commit}}") or None


def is_modified(root: str | Path, path: str | Path) -> bool:
    """Whether ``path`` differs from HEAD (modified, staged, or not committed at all)."""
    # --literal-pathspecs: a name holding * ? [ is that one file, not a pattern
    status = _out(root, "--literal-pathspecs", "status", "--porcelain", "--untracked-files=all", "--", str(path))
    if status is None:
        return False
    if status:
        return True
    # clean and absent from git status: either committed unchanged, or ignored
    return _out(root, "--literal-pathspecs", "ls-files", "--error-unmatch", "--", str(path)) is None


def last_author(root: str | Path, path: str | Path) -> tuple[Person, str] | None:
    """(author, commit sha) of the latest commit that touched ``path``, or None if none did."""
    out = _out(root, "--literal-pathspecs", "log", "-1", "--format=%an%x00%ae%x00%H", "--", str(path))
    if not out:
        return None
    name, email, sha = out.split("\x00")
    return Person(name, email), sha


def change_identities(root: str | Path, path: str | Path, since: str | None = None) -> list[Person] | None:
    """Every author and committer of the commits that changed ``path`` after commit ``since``
    (all its commits when ``since`` is None or not an ancestor of HEAD), newest first, each
    once; None when git cannot tell (not a repository)."""
    rng = ["HEAD"]
    if since and _out(root, "merge-base", "--is-ancestor", since, "HEAD") is not None:
        rng = [f"{since}..HEAD"]
    # --full-history: a merge that brings back a version from the other side is a change too
    # (git's default simplification would skip it when it matches one of its parents)
    out = _out(root, "--literal-pathspecs", "log", "--full-history", "--format=%an%x00%ae%x00%cn%x00%ce", *rng,
               "--", str(path))
    if out is None:
        return None
    found: dict[Person, None] = {}
    for line in out.splitlines():
        an, ae, cn, ce = (line.split("\x00") + ["", "", "", ""])[:4]
        for person in (Person(an, ae), Person(cn, ce)):
            if person.name or person.email:
                found[person] = None
    return list(found)


def show_file(root: str | Path, rev: str, path: str | Path) -> bytes:
    """The bytes of ``path`` (relative to the repository root) at revision ``rev``.

    Raises:
        NbgovError: the revision or the file at that revision does not exist.
    """
    rel = Path(path).as_posix()
    proc = _git(root, "show", f"{rev}:{rel}")
    if proc is None:
        raise NbgovError("git is not available", hint="install git or leave out --rev")
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", errors="replace").strip().splitlines()
        raise NbgovError(
            f"cannot read {rel} at {rev!r}: {detail[-1] if detail else 'git failed'}",
            Location(path),
            hint="check the revision with: git log -- " + rel,
        )
    return proc.stdout


def rev_exists(root: str | Path, rev: str) -> bool:
    """Whether ``rev`` names a commit in the repository."""
    return _out(root, "rev-parse", "--verify", "-q", f"{rev}^{{commit}}") is not None


def is_tracked(root: str | Path, path: str | Path, rev: str = "HEAD") -> bool:
    """Whether ``path`` exists in the tree of ``rev``."""
    return _out(root, "cat-file", "-e", f"{rev}:{Path(path).as_posix()}") is not None


def committed_links(root: str | Path, rev: str = "HEAD") -> list[str]:
    """The symbolic links ``rev`` commits under ``root`` (posix, relative to ``root``); [] when
    there is none or no such commit."""
    proc = _git(root, "ls-tree", "-r", "-z", rev)  # paths relative to root: its subtree
    if proc is None or proc.returncode != 0:
        return []
    out = []
    for entry in proc.stdout.split(b"\0"):
        meta, _, path = entry.partition(b"\t")
        if meta.startswith(b"120000 "):
            out.append(os.fsdecode(path))
    return out


def ls_files(root: str | Path, *patterns: str) -> list[str]:
    """Tracked and untracked-but-not-ignored files matching the patterns, posix, relative."""
    # -z: without it git quotes a name with non-ASCII, a tab or a newline ("caf\\303\\251.ipynb")
    out = _paths(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *patterns)
    return sorted(set(out or []))


def tracked(root: str | Path, *paths: str) -> set[str] | None:
    """Which of ``paths`` (files or folders, relative to ``root``) git tracks: the tracked files
    at or under them, posix, relative to ``root``; None when git cannot tell (not a repository).
    One call: a build asks once which of its machine-local files came with the checkout."""
    if not paths:
        return set()
    out = _paths(root, "--literal-pathspecs", "ls-files", "-z", "--cached", "--", *paths)
    return None if out is None else set(out)


def blob_id(root: str | Path, rev: str, path: str | Path) -> str | None:
    """The object id of ``path`` at ``rev`` (None when it is not there): one call that both
    says whether a file is committed and names its content (a cache key)."""
    return _out(root, "rev-parse", "--verify", "-q", f"{rev}:{Path(path).as_posix()}") or None


def changed_files(root: str | Path, base: str, head: str | None = None
                  ) -> list[tuple[str, str | None, str | None]] | None:
    """The files that differ between commit ``base`` and ``head`` (None: the work tree, with
    untracked files that are not ignored), as ``(status, old path, new path)`` relative to the
    repository root: ``A`` (old None), ``D`` (new None), ``M``, ``R`` (a rename, content maybe
    edited too). None when git cannot tell."""
    proc = _git(root, "diff", "--name-status", "-z", "-M", "--no-ext-diff", base, *([head] if head else []), "--")
    if proc is None or proc.returncode != 0:
        return None
    fields = proc.stdout.decode("utf-8", errors="replace").split("\x00")
    out: list[tuple[str, str | None, str | None]] = []
    i = 0
    while i < len(fields) and fields[i]:
        status = fields[i][0]
        if status in "RC":
            old, new = fields[i + 1], fields[i + 2]
            out.append(("R" if status == "R" else "A", old if status == "R" else None, new))
            i += 3
            continue
        path = fields[i + 1]
        out.append((status, None if status == "A" else path, None if status == "D" else path))
        i += 2
    if head is None:
        extra = _paths(root, "ls-files", "--others", "--exclude-standard", "-z")
        out += [("A", None, p) for p in extra or []]
    return out


def add_worktree(root: str | Path, rev: str, dest: str | Path) -> None:
    """Check ``rev`` out, detached, into the new folder ``dest`` (a linked work tree).

    Raises:
        NbgovError: git refused (e.g. an unknown revision).
    """
    proc = _git(root, "worktree", "add", "--detach", "--quiet", str(dest), rev)
    if proc is None or proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", errors="replace").strip().splitlines() if proc else []
        raise NbgovError(f"cannot check out {rev!r}: {detail[-1] if detail else 'git failed'}",
                         hint="name a commit, branch or tag that exists (fetch it first)")


def remove_worktree(root: str | Path, dest: str | Path) -> None:
    """Remove a linked work tree made by :func:`add_worktree` (its folder too)."""
    _git(root, "worktree", "remove", "--force", str(dest))
    _git(root, "worktree", "prune")


def worktrees(root: str | Path) -> list[Path]:
    """The linked work trees of the repository (their folders; the main one left out)."""
    out = _paths(root, "worktree", "list", "--porcelain", "-z") or []
    paths = [Path(f[len("worktree "):]) for f in out if f.startswith("worktree ")]
    return paths[1:]


def current_branch(root: str | Path) -> str | None:
    """The checked-out branch's short name, None when detached or not in git."""
    return _out(root, "symbolic-ref", "--short", "-q", "HEAD") or None


def rev_list(root: str | Path, rev: str, exclude: str | None = None, limit: int = 50) -> list[str]:
    """Commits reachable from ``rev`` (not from ``exclude``), newest first, at most ``limit``;
    ``[]`` when git cannot tell."""
    out = _out(root, "rev-list", f"--max-count={limit}", rev, *([f"^{exclude}"] if exclude else []), "--")
    return out.split() if out else []


def commits_between(root: str | Path, base: str, head: str = "HEAD") -> list[tuple[str, list[str]]] | None:
    """Every commit reachable from ``head`` and not from ``base`` (merges and every side of
    them: no history simplification), oldest first, each with its parents; None when git
    cannot tell."""
    out = _out(root, "rev-list", "--parents", "--topo-order", "--reverse", head, f"^{base}", "--")
    if out is None:
        return None
    return [(line.split()[0], line.split()[1:]) for line in out.splitlines() if line.strip()]


def is_shallow(root: str | Path) -> bool:
    """Whether the clone lacks part of its history (``git clone --depth``)."""
    return _out(root, "rev-parse", "--is-shallow-repository") == "true"


def blob_ids(root: str | Path, revs: list[str], path: str | Path) -> dict[str, str | None] | None:
    """``{rev: object id of path at rev, None when it is not there}`` in one git call; None
    when git cannot tell."""
    if not revs:
        return {}
    spec = Path(path).as_posix()
    try:
        proc = subprocess.run(["git", "-C", str(root), "cat-file", "--batch-check=%(objectname) %(objecttype)"],
                              input="".join(f"{rev}:{spec}\n" for rev in revs).encode(), capture_output=True,
                              check=False, timeout=60)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    lines = proc.stdout.decode("utf-8", errors="replace").splitlines()
    if proc.returncode != 0 or len(lines) != len(revs):
        return None
    return {rev: (line.split()[0] if line.endswith(" blob") else None) for rev, line in zip(revs, lines, strict=True)}


def read_blob(root: str | Path, blob: str) -> bytes | None:
    """The content of the blob ``blob``, None when git cannot read it."""
    proc = _git(root, "cat-file", "blob", blob)
    return proc.stdout if proc is not None and proc.returncode == 0 else None


def subject(root: str | Path, commit: str) -> str:
    """The first line of ``commit``'s message (``""`` when git cannot tell)."""
    return _out(root, "log", "-1", "--format=%s", commit) or ""


def remote_url(root: str | Path, name: str = "origin") -> str | None:
    """The fetch address of remote ``name`` (None: no such remote, or not in git)."""
    return _out(root, "remote", "get-url", name) or None


def on_remote_branch(root: str | Path, commit: str) -> bool | None:
    """Whether ``commit`` is on a remote-tracking branch here (as last fetched: pushed, as far
    as this clone knows); None when git cannot tell."""
    out = _out(root, "branch", "-r", "--contains", commit)
    return None if out is None else bool(out.strip())

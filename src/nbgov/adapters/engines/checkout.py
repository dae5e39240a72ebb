"""A worker's own checkout compared with the build's commit, byte for byte (R10).

Nothing the worker's repository says about its files is trusted: not its index (the
``skip-worktree`` / ``assume-unchanged`` bits, fsmonitor tokens, stat data), not its config
(``core.fsmonitor`` would run a command; ``diff.ignoreSubmodules``, ``submodule.*.ignore``,
``status.*`` hide changes), not its exclude files (``.git/info/exclude`` decides nothing), not
its replace refs. Git is asked only for objects (``cat-file``), with a sanitized environment
and config; every object read is hashed here against its id (a tampered object store cannot
stand in for the commit), and every file on disk is hashed here as git hashes a blob and
compared with the commit's tree. What may be on disk beside the commit is decided here
(:func:`_extra_allowed`): the build's products, nbgov's and MLflow's state, caches that no
worker loads (``__pycache__``: a worker keeps its bytecode elsewhere, :func:`private_bytecode`)
and data files by suffix; anything else (a module, bytecode, a ``.pth``, a notebook, a config
file that IPython reads from its working directory) is refused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

#: git's global options for every command run on a worker's checkout: no hook, no fsmonitor
#: command, no replaced object, no change hidden by the repository's config
_GIT_OPTIONS = ("--no-replace-objects", "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null",
                "-c", "diff.ignoreSubmodules=none", "-c", "core.untrackedCache=false")
#: folders (any depth) whose content is never loaded by a worker: bytecode goes to the worker's
#: private prefix, Jupyter's checkpoints are not executed
_INERT_DIRS = ("__pycache__", ".ipynb_checkpoints")
#: nbgov's and the embedded tracking store's state at the project's top (never imported)
_STATE = (".nbgov", "mlruns", "mlartifacts", "mlflow.db", "mlflow.db-journal", "mlflow.db-wal", "mlflow.db-shm")
#: untracked files that are data: read only by code that asks for them (reviewed code); a
#: file with another suffix, or none, may be imported or run by Python, IPython, Ploomber or a
#: shell (``.py``, ``.pyc``, ``.so``, ``.pth``, ``.ipynb``, ``.sql``, ``.json`` and ``.yaml``
#: configs, ``Makefile``...) and is refused
DATA_SUFFIXES = frozenset((
    ".csv", ".tsv", ".parquet", ".pq", ".feather", ".arrow", ".orc", ".avro", ".xlsx", ".xls", ".txt", ".log",
    ".png", ".jpg", ".jpeg", ".gif", ".svg", ".pdf", ".npy", ".npz", ".h5", ".hdf5", ".nc", ".pkl", ".pickle",
    ".joblib", ".gz", ".bz2", ".xz", ".zst", ".md",
))
_LFS = b"version https://git-lfs.github.com/spec/v1\n"
_MAX_DEPTH = 3  # submodules inside submodules


def git_env() -> dict[str, str]:
    """The environment for git on a worker's checkout: none of the process's ``GIT_*`` (no
    GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE, GIT_CONFIG_* pointing elsewhere), no system or
    global config (only the repository's own, whose dangerous keys :data:`_GIT_OPTIONS` override)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_NO_REPLACE_OBJECTS="1",
               GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0", LC_ALL="C")
    return env


def git(root: str | Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """``git ARGS`` in ``root`` with :func:`git_env` and :data:`_GIT_OPTIONS` (text output)."""
    return subprocess.run(["git", *_GIT_OPTIONS, "-C", str(root), *args], capture_output=True, text=True,
                          timeout=timeout, env=git_env(), stdin=subprocess.DEVNULL)


def head_commit(root: str | Path) -> str | None:
    """The commit checked out at ``root`` (None: not a git checkout)."""
    try:
        proc = git(root, "rev-parse", "--verify", "-q", "HEAD^{commit}", timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


class _Objects:
    """``git cat-file --batch`` in one process; each object checked against its id here."""

    def __init__(self, root: Path, algo: str) -> None:
        self.algo = algo
        self.proc = subprocess.Popen(["git", *_GIT_OPTIONS, "-C", str(root), "cat-file", "--batch"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=git_env())

    def read(self, oid: str, kind: str) -> bytes:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(oid.encode() + b"\n")
        self.proc.stdin.flush()
        header = self.proc.stdout.readline().split()
        if len(header) != 3 or header[1].decode() != kind:
            raise LookupError(f"{kind} {oid[:12]} is not in its repository")
        size = int(header[2])
        data = self.proc.stdout.read(size + 1)[:size]
        if _object_id(self.algo, kind.encode(), data) != oid:
            raise LookupError(f"{kind} {oid[:12]} in its repository does not hash to its id (object store altered)")
        return data

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _object_id(algo: str, kind: bytes, data: bytes) -> str:
    h = hashlib.new(algo, kind + b" " + str(len(data)).encode() + b"\0")
    h.update(data)
    return h.hexdigest()


def _tree_entries(data: bytes, width: int) -> list[tuple[str, str, str]]:
    """(mode, name, oid) of a raw tree object."""
    out, i = [], 0
    while i < len(data):
        space, nul = data.index(b" ", i), data.index(b"\0", i)
        out.append((data[i:space].decode(), os.fsdecode(data[space + 1:nul]), data[nul + 1:nul + 1 + width].hex()))
        i = nul + 1 + width
    return out


def _commit_tree(objects: _Objects, commit: str, width: int, prefix: str) -> dict[str, tuple[str, str]]:
    """Path (relative to the project folder ``prefix`` of the repository) -> (mode, oid) of every
    file, symlink and submodule in ``commit``."""
    raw = objects.read(commit, "commit")
    tree = raw.split(b"\n", 1)[0].removeprefix(b"tree ").decode()
    for part in [p for p in prefix.split("/") if p]:
        entry = {name: (mode, oid) for mode, name, oid in _tree_entries(objects.read(tree, "tree"), width)}.get(part)
        if entry is None or entry[0] != "40000":
            raise LookupError(f"the commit has no folder {prefix} (the checkout's project folder)")
        tree = entry[1]
    files: dict[str, tuple[str, str]] = {}
    pending = [("", tree)]
    while pending:
        base, oid = pending.pop()
        for mode, name, child in _tree_entries(objects.read(oid, "tree"), width):
            if mode == "40000":
                pending.append((f"{base}{name}/", child))
            else:
                files[f"{base}{name}"] = (mode, child)
    return files


def _extra_allowed(rel: str, products: tuple[str, ...]) -> bool:
    """Whether ``rel`` (a file on disk that the commit does not have) may be there."""
    parts = rel.split("/")
    if parts[0] in _STATE or any(p in _INERT_DIRS for p in parts[:-1]):
        return True
    if any(rel == p or rel.startswith(p.rstrip("/") + "/") for p in products):
        return True
    return os.path.splitext(parts[-1])[1].lower() in DATA_SUFFIXES


def _to_commit(root: Path, rel: str, expected: dict[str, tuple[str, str]]) -> bool:
    """Whether the link ``rel`` resolves (through every link) to a file or folder of the commit
    inside ``root``: not to something only this worker holds (an untracked file the check lets
    be, such as data, state or a cache)."""
    try:
        target = (root / rel).resolve()
    except (OSError, RuntimeError):  # a loop
        return False
    if not target.is_relative_to(root.resolve()):
        return False
    to = target.relative_to(root.resolve()).as_posix()
    if to in expected:
        return expected[to][0] not in ("120000", "160000")
    return any(path.startswith(to + "/") for path in expected)  # a folder of the commit


def _is_data(rel: str, root: Path) -> bool:
    """Whether the link ``rel`` names a data file (by its suffix and its target's), not a folder."""
    target = (root / rel).resolve()
    return (not target.is_dir() and os.path.splitext(rel)[1].lower() in DATA_SUFFIXES
            and target.suffix.lower() in DATA_SUFFIXES)


def _walk(root: Path, skip: set[str]) -> dict[str, os.stat_result]:
    """Every non-directory entry under ``root`` (symlinks not followed) -> its lstat; the
    repository's ``.git``, inert caches and the folders in ``skip`` (relative) not entered."""
    out: dict[str, os.stat_result] = {}
    pending = [""]
    while pending:
        base = pending.pop()
        with os.scandir(root / base if base else root) as entries:
            for entry in entries:
                rel = f"{base}{entry.name}"
                if (not base and entry.name == ".git") or rel in skip:
                    continue
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    if entry.name not in _INERT_DIRS and not (not base and entry.name in _STATE):
                        pending.append(rel + "/")
                    continue
                out[rel] = st
    return out


def _inside_skipped(root: Path, rel: str) -> os.stat_result | None:
    """The lstat of a tracked file in a folder :func:`_walk` did not enter (nbgov's state,
    a cache), when no folder on its way is a symlink (None: not there)."""
    path = root / rel
    try:
        if os.path.realpath(path.parent) != os.path.join(os.path.realpath(root), *Path(rel).parent.parts):
            return None
        return os.lstat(path)
    except (OSError, ValueError):
        return None


def _file_id(algo: str, path: Path, st: os.stat_result) -> tuple[str, str]:
    """(git mode, blob id) of the file or symlink at ``path``, as git would store it."""
    if stat.S_ISLNK(st.st_mode):
        return "120000", _object_id(algo, b"blob", os.fsencode(os.readlink(path)))
    if not stat.S_ISREG(st.st_mode):
        return "special", ""
    h = hashlib.new(algo, b"blob " + str(st.st_size).encode() + b"\0")
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "file", h.hexdigest()


def _lfs_match(objects: _Objects, oid: str, path: Path, st: os.stat_result) -> bool:
    """Whether ``path`` is the content of the Git LFS pointer blob ``oid`` (SHA-256 and size)."""
    try:
        pointer = objects.read(oid, "blob")
    except LookupError:
        return False
    if not pointer.startswith(_LFS) or len(pointer) > 1024:
        return False
    fields = dict(line.split(" ", 1) for line in pointer.decode(errors="replace").splitlines()[1:] if " " in line)
    if fields.get("size") != str(st.st_size) or not fields.get("oid", "").startswith("sha256:"):
        return False
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return fields["oid"] == f"sha256:{h.hexdigest()}"


def differences(root: Path, commit: str, products: tuple[str, ...] = (), prefix: str = "",
                depth: int = 0) -> list[str]:
    """The paths (relative to ``root``, the repository's folder ``prefix``) where ``root`` on
    disk is not ``commit``: changed, missing, of another kind (a symlink for a file), or
    present and not allowed beside it (:func:`_extra_allowed`). Raises LookupError when the
    commit's objects are missing or altered."""
    algo = "sha256" if len(commit) == 64 else "sha1"
    width = 32 if algo == "sha256" else 20
    objects = _Objects(root, algo)
    try:
        expected = _commit_tree(objects, commit, width, prefix)
        submodules = {rel for rel, (mode, _) in expected.items() if mode == "160000"}
        on_disk = _walk(root, submodules | {p.rstrip("/") for p in products})  # a product folder: not walked
        bad: list[str] = []
        for rel, (mode, oid) in sorted(expected.items()):
            if any(rel == p or rel.startswith(p.rstrip("/") + "/") for p in products):
                continue  # a tracked product: this build rewrites it
            if mode == "160000":
                bad += _submodule(root, rel, oid, products, depth)
                continue
            st = on_disk.get(rel) or _inside_skipped(root, rel)
            if st is None:
                bad.append(rel)
                continue
            kind, actual = _file_id(algo, root / rel, st)
            if mode == "120000":
                # the link's text is the commit's, but not what it points to when that is
                # outside the checkout (whatever the worker holds there): data only
                same = kind == "120000" and actual == oid and (_to_commit(root, rel, expected) or _is_data(rel, root))
            else:
                same = kind == "file" and (actual == oid or _lfs_match(objects, oid, root / rel, st))
            if not same:
                bad.append(rel)
        bad += sorted(rel for rel in on_disk if rel not in expected and not _extra_allowed(rel, products))
        return bad
    finally:
        objects.close()


def _submodule(root: Path, rel: str, oid: str, products: tuple[str, ...], depth: int) -> list[str]:
    """A submodule of the commit: an empty folder (not checked out, as git leaves it), or a
    checkout of exactly the recorded commit (compared as the project is)."""
    path = root / rel
    if path.is_symlink() or not path.is_dir():
        return [rel] if path.exists() or path.is_symlink() else []
    if not any(path.iterdir()):
        return []
    if depth >= _MAX_DEPTH or head_commit(path) != oid:
        return [rel]
    inner = tuple(p[len(rel) + 1:] for p in products if p.startswith(rel + "/"))
    try:
        return [f"{rel}/{r}" for r in differences(path, oid, inner, depth=depth + 1)]
    except LookupError:
        return [rel]


def checkout_problem(root: str | Path, commit: str | None, products: tuple[str, ...] = ()) -> str | None:
    """Why the checkout at ``root`` is not exactly the build's ``commit`` (None: it is): HEAD
    elsewhere, a file that is not the commit's byte for byte (or its kind: a symlink for a
    file), a file of the commit missing, or a file the commit does not have and that could be
    imported or run (see the module docstring: the build's ``products``, nbgov's state, inert
    caches and data files excepted). A worker with a checkout of its own runs what the checkout
    holds (the spec, env file, modules a notebook imports): only the commit the driver built
    was reviewed."""
    if not commit:
        return ("the build's project is not a git commit: a worker with a checkout of its own cannot be checked "
                "against it (commit the project)")
    root = Path(root)
    head = head_commit(root)
    if head != commit:
        return f"its checkout {root} is at {str(head)[:12]}, the build is {commit[:12]}"
    try:
        proc = git(root, "rev-parse", "--show-toplevel", "--show-prefix", timeout=10)
        top, prefix = (proc.stdout.split("\n") + ["", ""])[:2]
        if proc.returncode != 0 or Path(top, prefix).resolve() != root.resolve():
            return f"its checkout {root} is not where its repository says its files are (core.worktree?)"
        # a product is a path inside the project folder ("." or "../x" would excuse anything)
        products = tuple(p for p in products if p and p.split("/")[0] not in (".", "..") and not p.startswith("/"))
        dirty = differences(root, commit, products, prefix.rstrip("/"))
    except (OSError, subprocess.TimeoutExpired, LookupError, ValueError) as exc:
        return f"its checkout {root} could not be compared with commit {commit[:12]}: {exc}"
    if dirty:
        more = f" and {len(dirty) - 3} more" if len(dirty) > 3 else ""
        return f"its checkout {root} differs from commit {commit[:12]}: {', '.join(dirty[:3])}{more}"
    return None


def _bytecode_folder(root: Path) -> Path:
    """The folder for this user's bytecode (the user's cache, as the installed packages'
    ``__pycache__`` are: compiled once per machine), never inside the checkout ``root``."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nbgov" / "pycache"
    try:
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not base.resolve().is_relative_to(root.resolve()) and os.access(base, os.W_OK):
            return base.resolve()
    except (OSError, RuntimeError):
        pass  # no home: a folder of this process
    return Path(tempfile.mkdtemp(prefix="nbgov-pycache-"))


def private_bytecode(root: str | Path) -> Path:
    """Make this process and every Python it starts (the kernel template, kernels) keep
    bytecode in a folder outside the checkout at ``root`` (``sys.pycache_prefix``,
    ``PYTHONPYCACHEPREFIX``; :func:`_bytecode_folder`): a ``__pycache__`` file forged in the
    checkout (its header says the source's mtime and size) is never loaded, and nothing is
    written there (``PYTHONDONTWRITEBYTECODE`` is lifted: bytecode goes to that folder only).
    The checkout's compiled files in that folder are dropped first (compiled again from the
    sources of this project version: one compiled from another version whose source had the
    same mtime and size is never loaded). Returns the folder."""
    given = Path(os.path.abspath(root))
    root = given.resolve()
    prefix = Path(sys.pycache_prefix).resolve() if sys.pycache_prefix else None
    if prefix is None or prefix.is_relative_to(root):
        prefix = _bytecode_folder(root)
    # Python files bytecode under the path it imports through: the resolved one, and the one
    # given when it passes a link (a CI workspace link naming this version now, another before)
    for path in {root, given}:
        shutil.rmtree(prefix / path.relative_to(path.anchor), ignore_errors=True)
    sys.pycache_prefix = str(prefix)
    os.environ["PYTHONPYCACHEPREFIX"] = str(prefix)
    # written there (only there): else every kernel would compile every module it imports
    # from source, the installed packages' own __pycache__ being out of reach of the prefix
    sys.dont_write_bytecode = False
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    return prefix


def drop_bytecode_beside(root: str | Path, modules: list[str | Path]) -> list[Path]:
    """Remove the compiled files git does not track in the ``__pycache__`` beside each of
    ``modules`` (Python files of the checkout at ``root``); return them.

    :func:`private_bytecode` covers every Python that inherits the build's environment; a child
    an approved step starts with ``-E``/``-I`` or an ``env=`` of its own does not, and would load
    a forged timestamp ``.pyc`` left beside a reviewed module (twelfth attack round, 02). With
    none there, it compiles the reviewed source. A ``__pycache__`` that is a link is removed (the
    link, not what it names). One git tracks is refused (GateError): compiled code is reviewed
    by no one, and the commit is never silently changed."""
    from nbgov.core.errors import GateError, Location  # (only raised on rare paths)

    root = Path(root).resolve()
    found = []
    for module in modules:
        path = Path(root, module)
        if path.suffix != ".py":
            continue
        cache = path.parent / "__pycache__"
        if cache.is_symlink():  # Python follows it (13th round, 01): the link itself goes
            found.append(cache)
        elif cache.is_dir():
            found += [p for p in cache.glob(f"{path.stem}.*.pyc") if p.is_file() or p.is_symlink()]
    if not found:
        return []
    from nbgov.adapters.git import tracked  # (git: only when there is bytecode to ask about)

    known = tracked(root, *(p.relative_to(root).as_posix() for p in found)) or set()
    dropped = []
    for pyc in found:
        rel = pyc.relative_to(root).as_posix()
        if rel in known or any(k.startswith(rel + "/") for k in known):
            # compiled code is reviewed by no one, tracked or not (13th round, 02)
            raise GateError(f"git tracks {rel}, compiled code beside a reviewed module: no review covers it",
                            Location(pyc), hint=f"git rm -r --cached {rel} (Python compiles the reviewed source)")
        try:
            pyc.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise GateError(f"cannot remove {pyc} ({exc.strerror}): a compiled file git does not track "
                            "beside a reviewed module could run instead of it", Location(pyc),
                            hint="delete the project's __pycache__ folders (or make them writable)") from None
        dropped.append(pyc)
    return dropped

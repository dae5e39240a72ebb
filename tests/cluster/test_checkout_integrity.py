"""R10, a worker's own checkout is the build's commit byte for byte
(:func:`nbgov.adapters.engines.warm.checkout_problem`), with real git repositories: what the
worker's git index, config or exclude files say is never trusted (the fault hunt's five holes:
index bits, bytecode, excluded packages, ``core.fsmonitor``, config hiding submodule changes)."""

from __future__ import annotations

import os
import py_compile
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nbgov.adapters.engines import warm
from nbgov.adapters.engines.warm import checkout_problem, project_commit

MODULE = "X = 'GOOD'\n"


def _git(root: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    proc = subprocess.run(["git", "-C", str(root), "-c", "protocol.file.allow=always", *args], check=True,
                          capture_output=True, text=True, env=env)
    return proc.stdout.strip()


def _repo(root: Path, files: dict[str, str] | None = None) -> str:
    root.mkdir(parents=True, exist_ok=True)
    for args in (["init", "-q"], ["config", "user.name", "A"], ["config", "user.email", "a@example.com"],
                 ["config", "commit.gpgsign", "false"]):
        _git(root, *args)
    for name, text in (files or {"pipeline.yaml": "tasks: []\n", "mod.py": MODULE, "pkg/__init__.py": "",
                                 "pkg/helper.py": "Y = 1\n", ".gitignore": "ignored/\n*.csv\n"}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "c")
    return project_commit(root)


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "w"
    return root, _repo(root)


# -- 1. index bits ---------------------------------------------------------------------------

@pytest.mark.parametrize("bit", ["--skip-worktree", "--assume-unchanged"])
def test_an_edit_hidden_by_an_index_bit_is_refused(repo, bit):
    root, commit = repo
    _git(root, "update-index", bit, "mod.py")
    (root / "mod.py").write_text("X = 'EVIL'\n")
    assert _git(root, "status", "--porcelain") == ""  # git itself sees nothing
    why = checkout_problem(root, commit)
    assert why and "mod.py" in why and "differs from commit" in why


# -- 2. bytecode -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["evil.pyc", "pkg/helper.pyc", "mod.pyc"])
def test_untracked_bytecode_is_refused(repo, name):
    """Python imports a ``.pyc`` beside the sources (sourceless) when no ``.py`` of that name
    precedes it; such a file is never part of a commit."""
    root, commit = repo
    (root / name).write_bytes(b"\x00" * 16)
    why = checkout_problem(root, commit)
    assert why and name in why


def _forge_pyc(root: Path, module: str, evil: str) -> Path:
    """A ``__pycache__`` file for ``root/module.py`` holding ``evil``'s code, with the real
    source's mtime and size in its header (what Python checks before loading it)."""
    source = root / f"{module}.py"
    fake = root / "fake.py"
    fake.write_text(evil)
    pyc = root / "__pycache__" / f"{module}.{sys.implementation.cache_tag}.pyc"
    py_compile.compile(str(fake), cfile=str(pyc), doraise=True)
    fake.unlink()
    st = source.stat()
    data = bytearray(pyc.read_bytes())
    data[8:12] = int(st.st_mtime).to_bytes(4, "little")
    data[12:16] = (st.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    pyc.write_bytes(bytes(data))
    return pyc


def _import_x(root: Path) -> str:
    out = subprocess.run([sys.executable, "-c", "import mod; print(mod.X)"], cwd=root, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(root)}, check=True)
    return out.stdout.strip()


def test_a_forged_pycache_file_is_never_loaded_on_a_worker(repo, monkeypatch, tmp_path):
    """The worker and its kernels keep their bytecode in a private folder
    (:func:`warm.private_bytecode`): a ``__pycache__`` file forged in the checkout (the source's
    mtime and size in its header) is not what runs."""
    root, commit = repo
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    _forge_pyc(root, "mod", "X = 'EVIL'\n")
    assert _import_x(root) == "EVIL"  # what any Python in the checkout does
    assert checkout_problem(root, commit) is None  # an inert cache: not a change
    monkeypatch.setattr(sys, "pycache_prefix", None)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    prefix = warm.private_bytecode(root)
    assert os.environ["PYTHONPYCACHEPREFIX"] == str(prefix) == sys.pycache_prefix
    assert prefix == (tmp_path / "cache" / "nbgov" / "pycache").resolve()
    assert _import_x(root) == "GOOD"  # a kernel started from this worker's environment
    # compiled into the prefix (PYTHONDONTWRITEBYTECODE lifted: else every kernel compiles all)
    assert "PYTHONDONTWRITEBYTECODE" not in os.environ and not sys.dont_write_bytecode
    # the next project version compiles the checkout's modules again (not the earlier one's)
    compiled = Path(sys.pycache_prefix, *root.resolve().parts[1:], f"mod.{sys.implementation.cache_tag}.pyc")
    assert compiled.is_file()
    warm.private_bytecode(root)
    assert not compiled.exists()
    # and it writes none into the checkout
    assert [p.name for p in (root / "__pycache__").iterdir()] == [f"mod.{sys.implementation.cache_tag}.pyc"]


def test_a_version_reached_through_a_link_compiles_its_own_sources(monkeypatch, tmp_path):
    """Eleventh fault hunt, 05: Python files bytecode under the path it imports through. A project
    built through a link (a CI workspace ``current -> v1``, then ``-> v2``) whose two versions of a
    module have the same mtime and size: v2's build compiles v2's source, not v1's entries kept
    under the link's path."""
    monkeypatch.setattr(sys, "pycache_prefix", None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    versions = []
    for name, who in (("v1", "OLD"), ("v2", "NEW")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "helper.py").write_text(f"WHO = '{who}'\n")  # same size
        os.utime(tmp_path / name / "helper.py", (1_700_000_000, 1_700_000_000))  # same mtime
        versions.append(tmp_path / name)
    link = tmp_path / "current"
    seen = []
    for version in versions:
        if link.is_symlink():
            link.unlink()
        link.symlink_to(version)
        monkeypatch.setattr(sys, "pycache_prefix", None)
        prefix = warm.private_bytecode(link)
        seen.append(subprocess.run([sys.executable, "-c", "import helper; print(helper.WHO)"], text=True,
                                   capture_output=True, env={**os.environ, "PYTHONPYCACHEPREFIX": str(prefix),
                                                             "PYTHONPATH": str(link)}).stdout.strip())
    assert seen == ["OLD", "NEW"]


# -- 3. excluded / ignored packages ------------------------------------------------------------------

def test_a_package_hidden_by_info_exclude_is_refused(repo):
    root, commit = repo
    (root / ".git" / "info").mkdir(exist_ok=True)
    (root / ".git" / "info" / "exclude").write_text("hidden/\n")
    (root / "hidden").mkdir()
    (root / "hidden" / "__init__.py").write_text("import os\n")
    assert _git(root, "status", "--porcelain", "-uall") == ""
    why = checkout_problem(root, commit)
    assert why and "hidden/__init__.py" in why


@pytest.mark.parametrize("name", ["ignored/evil.py", "ignored/x.pth", "ignored/ext.so", "ignored/nb.ipynb",
                                  "ipython_kernel_config.json", "sitecustomize.py", "ignored/q.sql",
                                  "ignored/Makefile"])
def test_an_ignored_file_that_could_run_is_refused(repo, name):
    """A ``.gitignore`` of the commit does not make a file harmless: only data (by suffix),
    the build's products, nbgov's state and inert caches may be there beside the commit."""
    root, commit = repo
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text("x")
    why = checkout_problem(root, commit)
    assert why and name in why


# -- 4. core.fsmonitor ------------------------------------------------------------------------

def test_core_fsmonitor_is_never_run_and_cannot_hide_an_edit(repo, tmp_path):
    root, commit = repo
    ran = tmp_path / "fsmonitor-ran"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\ntouch {ran}\nprintf 'token\\0'\n")  # "nothing changed since"
    hook.chmod(0o755)
    _git(root, "config", "core.fsmonitor", str(hook))
    _git(root, "status")  # the index remembers the token (fsmonitor valid bits)
    ran.unlink(missing_ok=True)
    (root / "mod.py").write_text("X = 'EVIL'\n")
    why = checkout_problem(root, commit)
    assert not ran.exists(), "nbgov ran the checkout's core.fsmonitor command"
    assert why and "mod.py" in why


def test_a_git_environment_pointing_elsewhere_is_ignored(repo, tmp_path, monkeypatch):
    """GIT_DIR / GIT_WORK_TREE / GIT_INDEX_FILE in the worker's environment do not choose what
    is compared."""
    root, commit = repo
    clean = tmp_path / "clean"
    _git(tmp_path, "clone", "-q", str(root), str(clean))
    (root / "mod.py").write_text("X = 'EVIL'\n")
    monkeypatch.setenv("GIT_DIR", str(clean / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(clean))
    why = checkout_problem(root, commit)
    assert why and "mod.py" in why


# -- 5. config that hides changes (submodules) -------------------------------------------------

@pytest.fixture
def with_submodule(tmp_path: Path) -> tuple[Path, str]:
    sub = tmp_path / "sub"
    _repo(sub, {"lib.py": "Z = 1\n"})
    root = tmp_path / "w"
    _repo(root)
    _git(root, "submodule", "add", "-q", str(sub), "vendor")
    _git(root, "commit", "-qm", "vendor")
    return root, project_commit(root)


def test_a_clean_submodule_passes(with_submodule):
    root, commit = with_submodule
    assert checkout_problem(root, commit) is None


def test_a_dirty_submodule_hidden_by_config_is_refused(with_submodule):
    root, commit = with_submodule
    (root / "vendor" / "lib.py").write_text("import os\n")
    _git(root, "config", "diff.ignoreSubmodules", "all")
    assert _git(root, "status", "--porcelain") == ""
    why = checkout_problem(root, commit)
    assert why and "vendor/lib.py" in why


def test_a_submodule_at_another_commit_hidden_by_config_is_refused(with_submodule):
    root, commit = with_submodule
    (root / "vendor" / "lib.py").write_text("import os\n")
    _git(root / "vendor", "commit", "-qam", "evil")
    _git(root, "config", "submodule.vendor.ignore", "all")
    assert _git(root, "status", "--porcelain") == ""
    why = checkout_problem(root, commit)
    assert why and "vendor" in why


def test_a_replaced_object_does_not_stand_for_the_commits(repo):
    """``git replace`` (refs/replace in the worker's repository) cannot swap the commit's tree."""
    root, commit = repo
    (root / "mod.py").write_text("X = 'EVIL'\n")
    evil = _git(root, "hash-object", "-w", "mod.py")
    good = _git(root, "rev-parse", f"{commit}:mod.py")
    _git(root, "replace", good, evil)
    why = checkout_problem(root, commit)
    assert why and "mod.py" in why


# -- what is not a change, and what is ----------------------------------------------------------

def test_products_state_caches_and_data_are_not_changes(repo):
    root, commit = repo
    for name in ("products/a.ipynb", "products/.a.ipynb.metadata", "products/out/x.py", ".nbgov/journal/j.jsonl",
                 "mlflow.db", "mlruns/0/meta.yaml", "pkg/__pycache__/helper.cpython-311.pyc",
                 ".ipynb_checkpoints/x-checkpoint.ipynb", "ignored/data.csv", "raw.csv", "data/big.parquet"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    assert checkout_problem(root, commit, ("products/a.ipynb", "products/.a.ipynb.metadata", "products/out")) is None
    why = checkout_problem(root, commit)  # not this build's products: a .ipynb, a .py
    assert why and "products/" in why
    (root / "evil.py").write_text("")
    for product in (".", "./", "../w", "", str(root)):  # a "product" that would excuse everything
        assert "evil.py" in checkout_problem(root, commit, (product,))


def test_a_deleted_or_replaced_tracked_file_is_refused(repo, tmp_path):
    root, commit = repo
    (root / "pkg" / "helper.py").unlink()
    assert "pkg/helper.py" in checkout_problem(root, commit)
    (tmp_path / "elsewhere.py").write_text("Y = 1\n")
    (root / "pkg" / "helper.py").symlink_to(tmp_path / "elsewhere.py")  # same bytes, not the commit's file
    assert "pkg/helper.py" in checkout_problem(root, commit)
    (root / "pkg" / "helper.py").unlink()
    (root / "pkg" / "helper.py").write_text("Y = 1\n")
    assert checkout_problem(root, commit) is None
    shutil.rmtree(root / "pkg")
    (root / "pkg").symlink_to(tmp_path)
    assert "pkg" in checkout_problem(root, commit)


def test_head_and_commit_are_still_checked(repo):
    root, commit = repo
    assert "is at" in checkout_problem(root, "f" * 40)
    assert "not a git commit" in checkout_problem(root, None)
    assert "not a git" in checkout_problem(root.parent, commit) or "is at" in checkout_problem(root.parent, commit)


def test_a_project_in_a_subfolder_of_its_repository(tmp_path: Path):
    root = tmp_path / "mono"
    commit = _repo(root, {"proj/pipeline.yaml": "tasks: []\n", "proj/mod.py": MODULE, "other/x.py": ""})
    assert checkout_problem(root / "proj", commit) is None
    (root / "other" / "x.py").write_text("outside the project folder")
    assert checkout_problem(root / "proj", commit) is None
    (root / "proj" / "mod.py").write_text("X = 'EVIL'\n")
    assert "mod.py" in checkout_problem(root / "proj", commit)
    (root / "data").mkdir()
    (root / "data" / "x.csv").write_text("1\n")  # a folder the commit does not have
    assert "has no folder data" in checkout_problem(root / "data", commit)


def test_an_lfs_file_matches_its_pointer(tmp_path: Path):
    """A Git LFS file is its pointer's content (SHA-256 and size), checked without git-lfs."""
    import hashlib

    content = b"big data\n" * 100
    pointer = (f"version https://git-lfs.github.com/spec/v1\noid sha256:{hashlib.sha256(content).hexdigest()}\n"
               f"size {len(content)}\n")
    root = tmp_path / "w"
    commit = _repo(root, {"model.bin": pointer, "mod.py": MODULE})
    (root / "model.bin").write_bytes(content)
    assert checkout_problem(root, commit) is None
    (root / "model.bin").write_bytes(content[:-1] + b"!")
    assert "model.bin" in checkout_problem(root, commit)


def test_the_check_is_fast_on_the_example_project(tmp_path: Path):
    """The check runs twice before every task: on the example project (with products, state
    and caches beside it) it takes well under 0.2 s."""
    from tests.conftest import copy_example_files

    root = tmp_path / "example"
    root.mkdir()
    copy_example_files(root)
    commit = _repo(root, {"README.md": "x\n"})
    for name in ("products/a.ipynb", ".nbgov/journal/j", "mlflow.db", "mlruns/0/meta.yaml"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    assert checkout_problem(root, commit, ("products",)) is None
    started = time.perf_counter()
    for _ in range(5):
        assert checkout_problem(root, commit, ("products",)) is None
    took = (time.perf_counter() - started) / 5
    print(f"checkout_problem on the example project: {took * 1000:.1f} ms")
    assert took < 0.2


def test_a_cold_task_checks_the_workers_own_checkout_first(repo, tmp_path, monkeypatch):
    """The cold fallback (``nbgov build TASK`` subprocesses) in a worker's own checkout: the
    same check before the subprocess starts, which keeps its bytecode outside the checkout."""
    import json

    from nbgov.adapters.engines.dask import CHECKOUT_VAR, PYTHON, RemoteTask, run_task

    root, commit = repo
    marker = tmp_path / "ran"
    monkeypatch.setattr(sys, "pycache_prefix", None)
    monkeypatch.setattr(sys, "dont_write_bytecode", sys.dont_write_bytecode)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("NBGOV_WORKER_ROOT", str(root))
    task = RemoteTask("t", [], [PYTHON, "-c", f"import os; open({str(marker)!r}, 'w').write("
                                              "os.getcwd() + ' ' + os.environ.get('PYTHONPYCACHEPREFIX', ''))"])
    env = {CHECKOUT_VAR: json.dumps({"commit": commit, "products": []})}
    (root / "ignored").mkdir()
    (root / "ignored" / "evil.py").write_text("")
    outcome = run_task(task, "/driver/project", env)
    assert outcome.outcome == "failed" and "refused on worker" in outcome.error and "ignored/evil.py" in outcome.error
    assert not marker.exists()
    (root / "ignored" / "evil.py").unlink()
    run_task(task, "/driver/project", env)
    assert marker.read_text() == f"{root} {(tmp_path / 'cache' / 'nbgov' / 'pycache').resolve()}"


def test_a_committed_link_leaving_the_checkout_is_refused_unless_it_is_data(tmp_path):
    # the link's text is the commit's, but what it points to is whatever the worker holds
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.py").write_text("X = 'EVIL'\n")
    (outside / "rows.csv").write_text("a,b\n")
    root = tmp_path / "w"
    root.mkdir()
    (root / "mod.py").symlink_to(outside / "evil.py")
    (root / "rows.csv").symlink_to(outside / "rows.csv")
    (root / "lib").symlink_to(outside)
    (root / "inside.py").symlink_to("helper.py")
    commit = _repo(root, {"pipeline.yaml": "tasks: []\n", "helper.py": "Y = 1\n"})
    problem = checkout_problem(root, commit)
    assert problem and "mod.py" in problem and "lib" in problem, problem
    assert "rows.csv" not in problem and "inside.py" not in problem, problem


def test_a_committed_link_to_a_file_only_the_worker_holds_is_refused(tmp_path):
    # fifth round: `helper.py -> stash.txt` (data, untracked), `.nbgov/impl.py` (state), a cache:
    # each target is let be by the check, so the link would run whatever the worker put there
    root = tmp_path / "w"
    root.mkdir()
    for name, target in (("a.py", "stash.txt"), ("b.py", ".nbgov/impl.py"), ("c.py", "__pycache__/impl.py"),
                         ("ok.py", "real.py"), ("okdir", "pkg")):
        (root / name).symlink_to(target)
    commit = _repo(root, {"pipeline.yaml": "tasks: []\n", "real.py": "Y = 1\n", "pkg/__init__.py": ""})
    for name in ("stash.txt", ".nbgov/impl.py", "__pycache__/impl.py"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("X = 'EVIL'\n")
    problem = checkout_problem(root, commit)
    assert problem and all(name in problem for name in ("a.py", "b.py", "c.py")), problem
    assert "ok.py" not in problem and "okdir" not in problem, problem


def test_bytecode_beside_reviewed_modules_is_removed_or_refused(tmp_path):
    """Thirteenth attack round, 01 and 02: an untracked ``__pycache__`` link beside a reviewed
    module is removed (the link, not what it names); compiled files git tracks there are refused
    (no review covers them); untracked ones are removed."""
    from nbgov.adapters.engines.checkout import drop_bytecode_beside
    from nbgov.core.errors import GateError

    root = tmp_path / "p"
    (root / "tools").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "tools" / "helper.py").write_text("X = 1\n")
    outside = tmp_path / "evil"
    outside.mkdir()
    forged = outside / f"helper.{sys.implementation.cache_tag}.pyc"
    forged.write_bytes(b"forged")
    (root / "tools" / "__pycache__").symlink_to(outside)
    assert drop_bytecode_beside(root, ["tools/helper.py"]) == [root / "tools" / "__pycache__"]
    assert not (root / "tools" / "__pycache__").exists() and forged.exists()

    (root / "tools" / "__pycache__").mkdir()
    own = root / "tools" / "__pycache__" / f"helper.{sys.implementation.cache_tag}.pyc"
    own.write_bytes(b"untracked")
    assert drop_bytecode_beside(root, ["tools/helper.py"]) == [own]
    own.write_bytes(b"tracked")
    subprocess.run(["git", "-C", str(root), "add", "-f", str(own)], check=True)
    with pytest.raises(GateError, match="git tracks tools/__pycache__/helper"):
        drop_bytecode_beside(root, ["tools/helper.py"])
    assert own.exists()

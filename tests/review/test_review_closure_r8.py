"""The review closure (docs/security.md, R4) against the eighth attack round's gaps, each
statically (``review_targets`` on a project in a temp folder; no kernel, no build): folders on a
skip list Python imports from by name (``node_modules``, ``venv``, ``__pycache__``), checked-hash
bytecode, a folder named like an installed pkgutil-style namespace, hidden folders in the
conservative sweep, literal module names that are no identifiers."""

from __future__ import annotations

import py_compile
import subprocess
from pathlib import Path

from tests.review.test_review_closure_scan import project, targets

from nbgov.core.config import load_config
from nbgov.services.review.targets import render_targets, review_targets


def closure(root: Path) -> tuple[dict[str, str], list[str]]:
    problems: list[str] = []
    found = {t.path: t.why for t in review_targets(load_config(root), problems=problems)}
    return found, problems


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def git_commit(root: Path, ignore: str = "", force: tuple[str, ...] = ()) -> None:
    """Make ``root`` a git repository ignoring ``ignore`` (.gitignore lines), everything else
    committed, ``force`` forced in (``git add -f``)."""
    if ignore:
        (root / ".gitignore").write_text(ignore)
    git = ["git", "-C", str(root), "-c", "user.name=A", "-c", "user.email=a@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    if force:
        subprocess.run([*git, "add", "-f", "--", *force], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "c"], check=True)


def test_folders_named_like_caches_or_virtualenvs_are_followed_when_importable(tmp_path: Path):
    """03: `import node_modules.helper` in a reviewed notebook; 05: `import __pycache__.helper`;
    a literal `sys.path` entry and `%run` into `venv/`: Python reaches them by name, so they are
    targets. 02: a `node_modules` package at the root is importable by name (a spec's exporter
    name, any library), so it is gated before the pipeline loads."""
    root = project(tmp_path, "import node_modules.helper\nimport __pycache__.cached",
                   "import sys\nsys.path.insert(0, 'venv')\nimport venvmod", "%run venv/tool.py")
    write(root, {"node_modules/__init__.py": "", "node_modules/helper.py": "X = 1\n",
                 "__pycache__/__init__.py": "", "__pycache__/cached.py": "X = 1\n",
                 "venv/venvmod.py": "X = 1\n", "venv/tool.py": "X = 1\n"})
    found = targets(root)
    for path in ("node_modules/helper.py", "__pycache__/cached.py", "venv/venvmod.py"):
        assert found.get(path, "").startswith("imported by nb/a.ipynb"), (path, found)
    assert found["venv/tool.py"] == "run by nb/a.ipynb"
    loading = {t.path: t.why for t in render_targets(load_config(root))}  # no notebook: importable
    assert loading["node_modules/__init__.py"].startswith("importable as `node_modules` from the project root")
    assert loading["node_modules/helper.py"].startswith("importable as `node_modules.helper`")


def test_a_virtualenv_is_skipped_by_the_blanket_rules_never_for_a_named_import(tmp_path: Path):
    """An installed virtualenv (pyvenv.cfg, git ignores it and tracks nothing in it) is the
    environment's for "importable by name" and the conservative sweep, but a module reviewed code
    imports by name is a target wherever it is. An installed JavaScript tree git ignores
    (`ext/js-app/node_modules`) is left out of the sweep; a committed root `node_modules` is not."""
    root = project(tmp_path, "import env.bin.named", "import os, sys\nsys.path.insert(0, os.getcwd())")
    write(root, {"env/pyvenv.cfg": "home = /usr/bin\n", "env/bin/named.py": "X = 1\n",
                 "env/bin/other.py": "X = 1\n", "env/lib/python3.11/site-packages/pkg.py": "X = 1\n",
                 "ext/js-app/node_modules/left.py": "X = 1\n", "node_modules/swept.py": "X = 1\n"})
    git_commit(root, "env/\next/js-app/node_modules/\n")
    found = targets(root)
    assert found["env/bin/named.py"].startswith("imported by nb/a.ipynb"), found
    assert "env/bin/other.py" not in found and "env/lib/python3.11/site-packages/pkg.py" not in found
    assert "ext/js-app/node_modules/left.py" not in found
    assert "node_modules/swept.py" in found
    assert "other-files/unrelated.py" in found  # the sweep ran


def test_hash_based_bytecode_is_unreviewable_checked_or_not(tmp_path: Path):
    """14: a committed CHECKED_HASH pyc whose header holds the approved helper.py's hash but whose
    code is compiled from other source: Python checks the hash only, so it runs the forged code.
    Any hash-based pyc beside a module of the closure is a target and a problem; a timestamp
    pyc (Python's own cache, recompiled after a checkout) is neither."""
    import importlib.util
    import marshal
    import sys

    root = project(tmp_path, "import helper", modules=("helper.py", "nb/other.py"))
    py_compile.compile(str(root / "nb/other.py"), doraise=True)  # timestamp: Python's own cache
    source = (root / "helper.py").read_bytes()
    code = compile("X = 'EVIL'\n", str(root / "helper.py"), "exec")
    forged = root / "__pycache__" / f"helper.{sys.implementation.cache_tag}.pyc"
    forged.parent.mkdir()
    checked = 0b11  # hash-based, check the source
    forged.write_bytes(importlib.util.MAGIC_NUMBER + checked.to_bytes(4, "little")
                       + importlib.util.source_hash(source) + marshal.dumps(code))
    found, problems = closure(root)
    assert "without checking its code" in found.get(f"__pycache__/{forged.name}", ""), found
    assert any(p.startswith(f"__pycache__/{forged.name}: hash-based bytecode") for p in problems), problems
    assert not [p for p in found if p.startswith("nb/__pycache__")]
    problems.clear()
    py_compile.compile(str(root / "helper.py"), cfile=str(forged), doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    assert f"__pycache__/{forged.name}" in closure(root)[0]


def test_a_folder_named_like_an_installed_pkgutil_namespace_is_a_namespace(tmp_path: Path, monkeypatch):
    """19, 20: `databricks` (installed with mlflow) is a regular package whose __init__ calls
    `pkgutil.extend_path`: a project folder `databricks/` joins its __path__, so
    `import databricks.helper` (in a file `subprocess` runs, too) and any library's import load
    databricks/helper.py. Such a folder is a namespace; one named like an ordinary installed
    package is not (Python never looks into it)."""
    site = tmp_path / "site"
    write(site, {"nsr8_pkgutil/__init__.py": '__path__ = __import__("pkgutil").extend_path(__path__, __name__)\n',
                 "nsr8_resources/__init__.py": '__import__("pkg_resources").declare_namespace(__name__)\n',
                 "nsr8_regular/__init__.py": "X = 1\n"})
    monkeypatch.syspath_prepend(str(site))
    (tmp_path / "p").mkdir()
    root = project(tmp_path / "p", "import subprocess, sys\nsubprocess.run([sys.executable, 'tool.py'])")
    write(root, {"tool.py": "import nsr8_pkgutil.helper\n", "nsr8_pkgutil/helper.py": "X = 1\n",
                 "nsr8_resources/deep/mod.py": "X = 1\n", "nsr8_regular/hidden.py": "X = 1\n"})
    found = targets(root)
    assert found["nsr8_pkgutil/helper.py"].startswith("imported by tool.py"), found
    assert found["nsr8_resources/deep/mod.py"].startswith("importable as `nsr8_resources.deep.mod`"), found
    assert "nsr8_regular/hidden.py" not in found


def test_the_conservative_sweep_takes_hidden_folders(tmp_path: Path):
    """15: the notebook puts `os.path.join(os.getcwd(), ".lib")` on sys.path (computed) and
    imports hiddenmod: every project module is a target, those of hidden folders too; not
    `.git`, what git does not track in `.nbgov`, or a virtualenv git ignores (`.tox/py311`)."""
    root = project(tmp_path, "import os, sys\nsys.path.insert(0, os.path.join(os.getcwd(), '.lib'))\nimport hiddenmod")
    write(root, {".lib/hiddenmod.py": "X = 1\n", ".lib/deep/.more/m.py": "X = 1\n", ".git/hooks/h.py": "X = 1\n",
                 ".nbgov/x.py": "X = 1\n", ".tox/py311/pyvenv.cfg": "home = /usr/bin\n",
                 ".tox/py311/lib/python3.11/site-packages/dep.py": "X = 1\n"})
    git_commit(root, ".tox/\n.nbgov/x.py\n")
    (root / ".git/hooks/h.py").write_text("X = 1\n")
    found = targets(root)
    assert found[".lib/hiddenmod.py"].startswith("any project module: nb/a.ipynb changes sys.path"), found
    assert ".lib/deep/.more/m.py" in found
    assert not [p for p in found if p.startswith((".git/", ".nbgov/", ".tox/"))], found


def test_the_sweep_leaves_out_files_git_ignores_and_does_not_track(tmp_path: Path):
    """A local cache git ignores (`.hypothesis/`, build output) is the machine's, not a change's:
    not swept; the same file forced into the commit (`git add -f`) is."""
    root = project(tmp_path, "import os, sys\nsys.path.insert(0, os.getcwd() + '/x')")
    write(root, {".cache/local.py": "X = 1\n", ".cache/forced.py": "X = 1\n", ".gitignore": ".cache/\n"})
    git = ["git", "-C", str(root), "-c", "user.name=A", "-c", "user.email=a@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "add", "-f", ".cache/forced.py"], check=True)
    found = targets(root)
    assert ".cache/forced.py" in found and "other-files/unrelated.py" in found, found
    assert ".cache/local.py" not in found


def test_a_literal_module_name_that_is_no_identifier_is_followed(tmp_path: Path):
    """04: importlib loads `my-exp.py` for `import_module("my-exp")`, `__import__("my-exp")` and
    so for IPython's `%load_ext my-ext` (`%aimport a, b`: both) and a matplotlib backend
    `module://my-backend`: a literal name that is no identifier is followed like any other."""
    root = project(tmp_path, "import importlib\nimportlib.import_module('my-exp')\n__import__('pkg.my-sub')",
                   "%load_ext my-ext\n%aimport plain_aim, my-aim\n%matplotlib module://my-backend",
                   modules=("my-exp.py", "pkg/__init__.py", "pkg/my-sub.py", "my-ext.py", "plain_aim.py",
                            "my-aim.py", "my-backend.py"))
    found = targets(root)
    for path in ("my-exp.py", "pkg/my-sub.py", "my-ext.py", "plain_aim.py", "my-aim.py", "my-backend.py"):
        assert found.get(path, "").startswith("imported by nb/a.ipynb"), (path, found)

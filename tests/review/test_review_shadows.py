"""Modules a kernel imports by name from the folders first on its import path (docs/security.md,
R4), against the sixth attack round, statically (``review_targets`` on a project in a temp
folder; no kernel, no build): IPython's default extension tried as the top-level ``storemagic``,
pandas' optional ``zstandard``, a sourceless ``tabulate.pyc``, an extension module, a namespace
folder, and a task whose ``papermill_params.cwd`` moves the kernel's working folder."""

from __future__ import annotations

import py_compile
from pathlib import Path

from tests.build.conftest import notebook, write_nb

from nbgov.core.config import load_config
from nbgov.services.review.targets import render_targets, review_targets, unreviewable

SPEC = "tasks:\n  - source: nb/a.ipynb\n    product: out/a.ipynb\n"


def project(root: Path, spec: str = SPEC, files: dict[str, str] | None = None) -> Path:
    (root / "pipeline.yaml").write_text(spec)
    (root / "nbgov.toml").write_text('experiment = "shadows"\n')
    write_nb(root / "nb/a.ipynb", notebook("upstream = None\nproduct = None", "import pandas"))
    for rel, text in (files or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def targets(root: Path) -> dict[str, str]:
    return {t.path: t.why for t in review_targets(load_config(root))}


def test_every_module_importable_from_the_root_is_a_target_installed_or_not(tmp_path: Path):
    """26: storemagic.py (IPython tries `import storemagic` first in every kernel); 04: zstandard.py
    (pandas' optional dependency, not installed); 20: a sourceless tabulate.pyc, an extension
    module; a namespace folder's modules. Gated before the pipeline loads (render targets)."""
    root = project(tmp_path, files={"storemagic.py": "X = 1\n", "zstandard.py": "X = 1\n",
                                    "ns/sub/deep.py": "X = 1\n", "notes-v2/x.py": "X = 1\n",
                                    "fast.cpython-311-x86_64-linux-gnu.so": "", "fast2.abi3.so": ""})
    (root / "src.py").write_text("X = 1\n")
    py_compile.compile(str(root / "src.py"), cfile=str(root / "tabulate.pyc"), doraise=True)
    (root / "src.py").unlink()
    found = targets(root)
    names = {"storemagic.py": "storemagic", "zstandard.py": "zstandard", "tabulate.pyc": "tabulate",
             "fast.cpython-311-x86_64-linux-gnu.so": "fast", "fast2.abi3.so": "fast2", "ns/sub/deep.py": "ns.sub.deep"}
    for path, name in names.items():
        assert found.get(path, "").startswith(f"importable as `{name}` from the project root"), (path, found)
    assert "notes-v2/x.py" not in found  # no import statement names a folder `notes-v2`
    loading = {t.path for t in render_targets(load_config(root))}
    assert set(names) <= loading, loading


def test_a_namespace_folder_named_like_an_installed_package_is_not_imported(tmp_path: Path):
    """A folder without __init__.py loses to an installed regular package of its name (Python
    keeps looking past a namespace portion); a regular package folder wins over it."""
    root = project(tmp_path, files={"json/extra.py": "X = 1\n", "pandas/__init__.py": "X = 1\n",
                                    "pandas/io/deep.py": "X = 1\n"})
    found = targets(root)
    assert "json/extra.py" not in found
    assert "pandas/__init__.py" in found  # (the notebook imports pandas: "imported by" wins)
    assert found["pandas/io/deep.py"].startswith("importable as `pandas.io.deep`")


def test_a_papermill_cwd_is_a_kernel_folder(tmp_path: Path):
    """05: `papermill_params: {cwd: lib}` runs the kernel in lib/, whose helper.py `import helper`
    runs, not the root's; outside the project it cannot be reviewed."""
    spec = SPEC + "    papermill_params:\n      cwd: lib\n"
    root = project(tmp_path, spec, {"helper.py": "X = 1\n", "lib-x/helper.py": "import dep\n",
                                    "lib-x/dep.py": "X = 1\n"})
    (root / "pipeline.yaml").write_text(spec.replace("cwd: lib", "cwd: lib-x"))
    found = targets(root)
    assert found["lib-x/helper.py"].startswith("importable as `helper` from lib-x/"), found
    assert "lib-x/dep.py" in found  # what it imports, too
    assert "lib-x/helper.py" in {t.path for t in render_targets(load_config(root))}  # gated before loading
    (root / "pipeline.yaml").write_text(spec.replace("cwd: lib", "executor_params: {cwd: lib-x}")
                                        .replace("papermill_params:\n      ", ""))
    assert "lib-x/helper.py" in targets(root)
    (root / "pipeline.yaml").write_text(spec.replace("cwd: lib", "cwd: ../elsewhere"))
    problems: list[str] = []
    render_targets(load_config(root), problems=problems)  # a governed build refuses before loading
    for found in (unreviewable(load_config(root)), problems):
        assert any("`papermill_params.cwd` of task" in p and "outside the project" in p for p in found), found


def test_a_script_tasks_folder_is_a_kernel_folder(tmp_path: Path):
    """ScriptRunner runs a script from its folder, with the folder on PYTHONPATH."""
    spec = "tasks:\n  - source: jobs/run.py\n    class: ScriptRunner\n    product: out/r.txt\n"
    root = project(tmp_path, spec, {"jobs/run.py": "# %%\nupstream = None\nproduct = None\n",
                                    "jobs-lib/zstandard.py": "X = 1\n", "jobs/zstandard.py": "X = 1\n"})
    found = targets(root)
    assert "jobs/zstandard.py" in found and "jobs-lib/zstandard.py" not in found


def _compile(root: Path, source: str, cfile: str, mode: py_compile.PycInvalidationMode) -> None:
    (root / "_src.py").write_text(source)
    (root / cfile).parent.mkdir(parents=True, exist_ok=True)
    py_compile.compile(str(root / "_src.py"), cfile=str(root / cfile), invalidation_mode=mode)
    (root / "_src.py").unlink()


def _commit(root: Path) -> None:
    import subprocess

    for args in (["add", "-A"], ["commit", "-qm", "change"]):
        subprocess.run(["git", "-C", str(root), *args], check=True)


def test_hash_bytecode_beside_a_linked_module_is_refused(git_repo: Path):
    """Ninth round, 06: helper.py is a committed link to lib/helper.py; Python reads the
    __pycache__ beside the path it imports (the root's), not lib/__pycache__."""
    import sys

    root = project(git_repo, files={"lib/helper.py": "VALUE = 1\n"})
    (root / "helper.py").symlink_to("lib/helper.py")
    pyc = f"__pycache__/helper.{sys.implementation.cache_tag}.pyc"
    _compile(root, "VALUE = 2\n", pyc, py_compile.PycInvalidationMode.UNCHECKED_HASH)
    _commit(root)
    problems = unreviewable(load_config(root))
    assert any(p.startswith(f"{pyc}: hash-based bytecode") and "delete it" in p for p in problems), problems


def test_sourceless_bytecode_anywhere_is_refused_before_any_change(git_repo: Path):
    """Ninth round, 04: a sourceless lib/helper.pyc, committed before approval, which a computed
    sys.path entry reaches: refused whenever it exists (not only once changed); a timestamp
    __pycache__ file is not (Python recompiles it from the reviewed source)."""
    import sys

    root = project(git_repo, files={"lib/keep.py": "X = 1\n"})
    _compile(root, "VALUE = 1\n", "lib/helper.pyc", py_compile.PycInvalidationMode.TIMESTAMP)
    _compile(root, "X = 1\n", f"lib/__pycache__/keep.{sys.implementation.cache_tag}.pyc",
             py_compile.PycInvalidationMode.TIMESTAMP)
    _commit(root)
    problems = unreviewable(load_config(root))
    assert any(p.startswith("lib/helper.pyc: sourceless bytecode Python imports as `helper`") for p in problems), \
        problems
    assert not any("keep." in p for p in problems), problems

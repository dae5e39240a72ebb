"""The review closure (docs/security.md, R4) against the seventh attack round's gaps, each
statically (``review_targets`` on a project in a temp folder; no kernel, no build): a file put on
sys.path whatever its bytes, sys.path reached through aliases, modules importable from folders
added to sys.path, more file loaders, matplotlib backends named in magics, Python run by
subprocess."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from tests.review.test_review_closure_scan import project, targets

from nbgov.core.config import load_config
from nbgov.services.review.targets import review_targets


def ascii_zip(path: Path, module: str, code: str) -> None:
    """A zip archive holding ``module``.py whose every byte is ASCII (it decodes as text)."""
    name = f"{module}.py".encode()
    for pad in range(100000):
        body = f"{code}\n#{pad}\n".encode()
        crc, n = zlib.crc32(body), len(body)
        local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, crc, n, n, len(name), 0) + name + body
        central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0x21, crc, n, n, len(name),
                              0, 0, 0, 0, 0, 0) + name
        end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local), 0)
        data = local + central + end
        if all(b < 0x80 for b in data):
            path.write_bytes(data)
            return
    raise AssertionError("no ASCII zip")


def closure(root: Path) -> tuple[dict[str, str], list[str]]:
    problems: list[str] = []
    found = {t.path: t.why for t in review_targets(load_config(root), problems=problems)}
    return found, problems


def test_any_file_on_sys_path_is_unreviewable_whatever_its_bytes(tmp_path: Path):
    """03: a zip archive made of ASCII bytes (text to a reader) put on sys.path is a target and
    a problem, as a binary one is: zipimport imports its modules, which nobody reviewed."""
    import zipfile

    root = project(tmp_path, "import sys\nsys.path.insert(0, 'vendor.zip')\nimport vendored")
    ascii_zip(root / "vendor.zip", "vendored", "VALUE = 1")
    assert zipfile.is_zipfile(root / "vendor.zip")
    (root / "vendor.zip").read_bytes().decode("utf-8")  # text, as a reader sees it
    found, problems = closure(root)
    assert "vendor.zip" in found, found
    assert any("vendor.zip" in p and "cannot be reviewed" in p for p in problems), problems


def test_sys_path_through_other_names_is_followed_or_conservative(tmp_path: Path):
    """14: `import sys as s` and `from sys import path as p` are sys and sys.path (literal
    changes followed); every other route to sys.path, and PYTHONPATH set, make every project
    module a target; reading sys.path does not."""
    for cell in ('import sys as s\ns.path.insert(0, "my-lib")',
                 'from sys import path as p\np.append("my-lib")',
                 'from sys import path\npath += ["my-lib"]'):
        found = targets(project(tmp_path, f"{cell}\nimport helpers_x", modules=("my-lib/helpers_x.py",)))
        assert found.get("my-lib/helpers_x.py") == "imported by nb/a.ipynb", (cell, found)
        assert "other-files/unrelated.py" not in found, cell
    for code in ('getattr(sys, "path").insert(0, "my-lib")', 'sys.modules["sys"].path.insert(0, "my-lib")',
                 'vars(sys)["path"].insert(0, "my-lib")', 'sys.__dict__["path"].insert(0, "my-lib")',
                 '(p := sys.path).insert(0, "my-lib")',
                 '__import__("importlib").import_module("sys").path.insert(0, "my-lib")',
                 'os.environ["PYTHONPATH"] = "my-lib"; import site; site.main()',
                 'sys.modules[name].path.append("my-lib")', "m = sys\nm.path.append('my-lib')",
                 "%env PYTHONPATH=my-lib"):
        cell = f"import sys, os\n{code}\nimport helpers_x"
        found = targets(project(tmp_path, cell, modules=("my-lib/helpers_x.py",)))
        assert "my-lib/helpers_x.py" in found, (code, found)
        assert found["other-files/unrelated.py"].startswith("any project module: nb/a.ipynb"), code
    reads = ('import sys, os\nif "x" not in sys.path:\n    print(sys.path, len(sys.path), sys.path[0])\n'
             'getattr(sys, "frozen", False)\nos.environ.get("PYTHONPATH")\nsys.modules[__name__].x = 1\n'
             'if sys.path:\n    os.pathsep.join(sys.path)\nfolder = os.path.dirname(sys.path[0])')
    assert "other-files/unrelated.py" not in targets(project(tmp_path, reads))


def test_modules_importable_from_an_added_folder_are_targets(tmp_path: Path):
    """04: a folder a cell puts first on sys.path, and the folder of a file %run runs (IPython
    prepends it while the file runs), come before site-packages: a module there named like a
    library's lazy import (pandas' tabulate) is a target, as in a kernel's folder."""
    root = project(tmp_path, 'import sys\nsys.path.insert(0, "my-lib")\nimport helpers',
                   modules=("my-lib/helpers.py", "my-lib/tabulate.py", "my-lib/pkg/__init__.py"))
    found = targets(root)
    assert found.get("my-lib/helpers.py") == "imported by nb/a.ipynb", found
    for path in ("my-lib/tabulate.py", "my-lib/pkg/__init__.py"):
        assert found.get(path, "").startswith("importable as"), (path, found)
        assert "nb/a.ipynb puts that folder on sys.path" in found[path]
    root = project(tmp_path, "%run ../my-tools/prep.py", modules=("my-tools/prep.py", "my-tools/tabulate.py"))
    found = targets(root)
    assert found.get("my-tools/prep.py") == "run by nb/a.ipynb", found
    assert found.get("my-tools/tabulate.py", "").startswith("importable as"), found
    assert "other-files/unrelated.py" not in found


def test_more_file_loaders_folder_loaders_and_binary_loads(tmp_path: Path):
    """17, 06: IPython's safe_execfile(_ipy), imp.load_package, the extension manager,
    importlib._bootstrap._gcd_import, pydoc.importfile and doctest.testfile with literal
    arguments are followed; loaders that import a whole folder make every module a target;
    bytecode, native libraries and archives loaded by path are targets that cannot be reviewed."""
    root = project(tmp_path, 'get_ipython().safe_execfile("my-lib/evmod.py", {})\n'
                   'import imp\nimp.load_package("evpkg", "my-lib/evpkg")',
                   'get_ipython().safe_execfile_ipy("my-lib/ev.ipy")\n'
                   'import doctest\ndoctest.testfile("../my-lib/ev.txt")',
                   'import sys, importlib, pydoc\nsys.path.append("my-lib")\n'
                   'get_ipython().extension_manager.load_extension("ext_mod")\n'
                   'importlib._bootstrap._gcd_import("gcd_mod")\npydoc.importfile("my-lib/pydoc_mod.py")',
                   modules=("my-lib/evmod.py", "my-lib/evpkg/__init__.py", "my-lib/ev.ipy", "my-lib/ev.txt",
                            "my-lib/ext_mod.py", "my-lib/gcd_mod.py", "my-lib/pydoc_mod.py"))
    found = targets(root)
    for path in ("evmod.py", "evpkg/__init__.py", "ev.ipy", "ev.txt", "ext_mod.py", "gcd_mod.py", "pydoc_mod.py"):
        assert f"my-lib/{path}" in found, (path, found)
    assert "other-files/unrelated.py" not in found
    for cell in ('import pkgutil\nlist(pkgutil.walk_packages(["my-lib"]))',
                 'import unittest\nunittest.defaultTestLoader.discover("my-lib/tests-x")',
                 'import unittest\nunittest.TestLoader().discover("my-lib/tests-x")',
                 'import pytest\npytest.main(["my-lib/tests-x"])'):
        found = targets(project(tmp_path, cell, modules=("my-lib/tests-x/test_ev.py",)))
        assert found["my-lib/tests-x/test_ev.py"].startswith("any project module: nb/a.ipynb imports every"), cell
    for cell, file in (('from importlib.machinery import SourcelessFileLoader\n'
                        'SourcelessFileLoader("evc", "my-lib/evc.pyc").load_module()', "my-lib/evc.pyc"),
                       ('import ctypes\nctypes.CDLL("my-lib/libev.so.1")', "my-lib/libev.so.1"),
                       ('import zipimport\nzipimport.zipimporter("my-lib/ev.zip").load_module("evz")',
                        "my-lib/ev.zip")):
        root = project(tmp_path, cell)
        (root / "my-lib").mkdir(exist_ok=True)
        (root / file).write_text("X")  # text bytes: loaded as code that is not text all the same
        found, problems = closure(root)
        assert file in found, (cell, found)
        assert any(file in p and "cannot be reviewed" in p for p in problems), (cell, problems)
    (tmp_path / "sys").mkdir()  # a fresh project: my-lib/evc.pyc left above is refused wherever it is (round 9)
    root = project(tmp_path / "sys", 'import ctypes\nctypes.CDLL("libc.so.6")')  # dlopen: the system's folders
    (root / "libc.so.6").write_text("X")
    assert closure(root)[1] == []


def test_a_matplotlib_backend_named_in_a_magic_is_an_import(tmp_path: Path):
    """05: `%matplotlib module://x`, `%pylab module://x`, `%env MPLBACKEND=module://x` (and
    os.environ's MPLBACKEND, run_line_magic) make matplotlib import module x; `$` there is computed."""
    names = ("mpl", "pylab", "env", "setenv", "environ", "linemagic")
    root = project(tmp_path, 'import sys\nsys.path.append("my-lib")\n%matplotlib module://b_mpl',
                   "%pylab module://b_pylab\n%env MPLBACKEND=module://b_env\n%set_env MPLBACKEND module://b_setenv",
                   'import os\nos.environ["MPLBACKEND"] = "module://b_environ"',
                   'get_ipython().run_line_magic("matplotlib", "module://b_linemagic")',
                   modules=tuple(f"my-lib/b_{n}.py" for n in names))
    found = targets(root)
    assert not [n for n in names if found.get(f"my-lib/b_{n}.py") != "imported by nb/a.ipynb"], found
    assert "other-files/unrelated.py" not in found
    for cell in ("%matplotlib $backend", "%env MPLBACKEND=$backend",
                 "get_ipython().run_line_magic('matplotlib', backend)"):
        assert "computed" in targets(project(tmp_path, cell))["other-files/unrelated.py"], cell


def test_a_python_child_process_runs_a_target(tmp_path: Path):
    """11: subprocess.run([sys.executable, "tools/step-two.py"]) (call, check_call,
    check_output, Popen, os.system("python x.py"), a command line with shell=True, `-m`, `-c`)
    runs project code as runpy.run_path does; a computed script: the conservative rule."""
    files = ("tools/step-two.py", "tools/s_call.py", "tools/s_popen.py", "tools/s_system.py", "tools/s_shell.py",
             "tools/s_cwd.py", "tools/m_child.py", "tools/c_child.py")
    root = project(tmp_path, 'import subprocess, sys\n'
                   'subprocess.run([sys.executable, "tools/step-two.py"], check=True)',
                   'subprocess.check_call(["python3", "-u", "-W", "ignore", "tools/s_call.py"])\n'
                   'from subprocess import Popen\nPopen(("/usr/bin/env", "python", "tools/s_popen.py"))',
                   'import os\nos.system("python tools/s_system.py --flag")\n'
                   'subprocess.check_output("python3 tools/s_shell.py", shell=True)\n'
                   'subprocess.call([sys.executable, "s_cwd.py"], cwd="tools")',
                   'subprocess.run([sys.executable, "-m", "m_child"], cwd="tools")\n'
                   'subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, \'tools\'); '
                   'import c_child"])',
                   modules=files)
    found = targets(root)
    assert not [f for f in files if f not in found], found
    assert found["tools/step-two.py"] == "run by nb/a.ipynb"
    assert "other-files/unrelated.py" not in found
    for cell in ("import subprocess, sys\nsubprocess.run([sys.executable, script])",
                 "import subprocess, sys\nsubprocess.run([sys.executable, 'x.py'], cwd=folder)"):
        assert "computed" in targets(project(tmp_path, cell))["other-files/unrelated.py"], cell
    shell = "import subprocess\nsubprocess.run(['ls', 'x.py'])"
    assert "other-files/unrelated.py" not in targets(project(tmp_path, shell))

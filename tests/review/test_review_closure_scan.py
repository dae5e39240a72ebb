"""The import scan of the review closure (docs/security.md, R4) against the fourth attack round's
gaps, each statically (``review_targets`` on a project in a temp folder; no kernel, no build):
Python run by ``%%python3``/``%%script python`` cells, modules imported by a literal name
through ``importlib.import_module``/``__import__``, ``.pth`` files ``site.addsitedir`` runs,
a working folder changed with ``os.chdir``/``%cd``, and ``%run $variable``. What the closure
cannot follow makes every project module a target, with the reason named."""

from __future__ import annotations

from pathlib import Path

from tests.build.conftest import notebook, write_nb

from nbgov.core.config import load_config
from nbgov.services.review.targets import review_targets


def project(root: Path, *cells: str, modules: tuple[str, ...] = ()) -> Path:
    """A one-notebook project (nb/a.ipynb) with ``cells``, and ``X = 1`` in each of ``modules``."""
    (root / "pipeline.yaml").write_text("tasks:\n  - source: nb/a.ipynb\n    product: out/a.ipynb\n")
    (root / "nbgov.toml").write_text('experiment = "scan"\n')
    write_nb(root / "nb/a.ipynb", notebook("upstream = None\nproduct = None", *cells))
    for module in modules:
        (root / module).parent.mkdir(parents=True, exist_ok=True)
        (root / module).write_text("X = 1\n")
    (root / "other-files").mkdir(exist_ok=True)
    (root / "other-files/unrelated.py").write_text("Y = 2\n")
    return root


def targets(root: Path) -> dict[str, str]:
    return {t.path: t.why for t in review_targets(load_config(root))}


def test_python_cell_magics_are_read_as_python(tmp_path: Path):
    """1: %%python, %%python3, %%script python(3) (options before the command too) run Python."""
    root = project(tmp_path, "%%python3\nimport m_py3", "%%python\nimport m_py", "%%script python\nimport m_script",
                   "%%script --bg --out o /usr/bin/python3.11 -u\nimport m_path", "%%script bash\nimport m_bash",
                   "%%script /usr/bin/env python3\nimport m_env",
                   "%%script env -i A=1 -u B python -u\nimport m_envopts",
                   "%%script env bash\nimport m_envbash",
                   modules=("nb/m_py3.py", "nb/m_py.py", "nb/m_script.py", "nb/m_path.py", "nb/m_bash.py",
                            "nb/m_env.py", "nb/m_envopts.py", "nb/m_envbash.py"))
    found = targets(root)
    for name in ("py3", "py", "script", "path", "env", "envopts"):
        assert found.get(f"nb/m_{name}.py") == "imported by nb/a.ipynb", name
    for name in ("bash", "envbash"):  # not imported: targets only as importable by name (R4)
        assert found[f"nb/m_{name}.py"].startswith("importable as"), name
    assert "other-files/unrelated.py" not in found


def test_literal_dynamic_imports_are_followed(tmp_path: Path):
    """2: importlib.import_module / __import__ with literal names (relative with a literal package too)."""
    root = project(tmp_path, "import importlib\nimportlib.import_module('helper_a')\n__import__('helper_b')",
                   "from importlib import import_module\nimport_module('.mod', 'pkg')\nimport_module('pkg2.deep')",
                   modules=("nb/helper_a.py", "nb/helper_b.py", "nb/pkg/__init__.py", "nb/pkg/mod.py",
                            "nb/pkg2/__init__.py", "nb/pkg2/deep.py"))
    found = targets(root)
    for path in ("helper_a", "helper_b", "pkg/__init__", "pkg/mod", "pkg2/__init__", "pkg2/deep"):
        assert f"nb/{path}.py" in found, path
    assert "other-files/unrelated.py" not in found


def test_fromlist_runpy_and_file_loaders_are_followed(tmp_path: Path):
    """2, its neighbours: __import__'s fromlist, runpy.run_module/run_path and loading a file by
    path (spec_from_file_location, SourceFileLoader) with literal names."""
    root = project(tmp_path, "__import__('pkg3', fromlist=['sub'])\nimport runpy\nrunpy.run_module('m_runmod')",
                   "runpy.run_path('scripts/r.py')\nimport importlib.util as u\n"
                   "u.spec_from_file_location('x', 'loaded.py')\nfrom importlib.machinery import SourceFileLoader\n"
                   "SourceFileLoader('y', '../top.py').load_module()",
                   modules=("nb/pkg3/__init__.py", "nb/pkg3/sub.py", "nb/m_runmod.py", "nb/scripts/r.py",
                            "nb/loaded.py", "top.py"))
    found = targets(root)
    for path in ("nb/pkg3/sub.py", "nb/m_runmod.py", "nb/scripts/r.py", "nb/loaded.py", "top.py"):
        assert path in found, path
    assert "other-files/unrelated.py" not in found
    for cell in ("import runpy\nrunpy.run_path(p)", "__import__('pkg3', fromlist=names)",
                 "import importlib.util\nimportlib.util.spec_from_file_location('x', p)"):
        root = project(tmp_path, cell)
        assert "computed name" in targets(root)["other-files/unrelated.py"], cell


def test_a_computed_dynamic_import_makes_every_module_a_target(tmp_path: Path):
    """2: a name the closure cannot read: the conservative rule, naming the file and why."""
    root = project(tmp_path, "import importlib\nname = 'helper'\nimportlib.import_module(name)")
    assert "a.ipynb imports a module by a computed name" in targets(root)["other-files/unrelated.py"]
    root = project(tmp_path, "__import__(f'plug_{1}')")
    assert "computed name" in targets(root)["other-files/unrelated.py"]


def test_pth_files_of_a_site_dir_are_targets_and_followed(tmp_path: Path):
    """3: site.addsitedir runs every .pth of the folder: each is a target, its import lines are
    scanned and its path lines searched."""
    root = project(tmp_path, "import site\nsite.addsitedir('lib')\nimport helper",
                   modules=("lib/helper.py", "lib/pth_import.py", "lib/extra/from_extra.py", "lib/pth_dyn.py"))
    (root / "lib/a.pth").write_text("# comment\nimport pth_import; import importlib; "
                                    "importlib.import_module('pth_dyn')\nextra\n")
    (root / "lib/empty.pth").write_text("\n")
    (root / "lib/extra/user.py").write_text("import from_extra\n")
    (root / "nb/b.py").write_text("import user\n")
    write_nb(root / "nb/a.ipynb", notebook("upstream = None\nproduct = None",
                                           "from site import addsitedir\naddsitedir('lib')\nimport helper, b"))
    found = targets(root)
    assert found.get("lib/a.pth") == found.get("lib/empty.pth") == "a .pth file site.addsitedir in nb/a.ipynb runs"
    assert "lib/helper.py" in found and "lib/pth_import.py" in found and "lib/pth_dyn.py" in found
    assert "lib/extra/user.py" in found and "lib/extra/from_extra.py" in found  # the .pth's path line
    assert "other-files/unrelated.py" not in found


def test_a_changed_working_folder_makes_every_module_a_target(tmp_path: Path):
    """4: after os.chdir (or %cd) the kernel's '' and relative sys.path entries name another folder."""
    for cell in ("import os, sys\nos.chdir('lib')\nsys.path.insert(0, '')\nimport xmod",
                 "import os\nos.chdir('lib')\nimport xmod", "%cd lib\nimport xmod",
                 "from os import chdir\nchdir('lib')\nimport xmod"):
        root = project(tmp_path, cell, modules=("lib/xmod.py",))
        found = targets(root)
        assert "lib/xmod.py" in found, cell
        assert "a.ipynb changes the working folder" in found["other-files/unrelated.py"], cell


def test_run_with_a_variable_makes_every_module_a_target(tmp_path: Path):
    """5: IPython expands $name and {expr} in %run's arguments: a file the closure cannot name."""
    for cell in ("%run $script", "%run {folder}/helper.py", "%run -m $mod", "%aimport $mod"):
        root = project(tmp_path, "script = 'helper.py'", cell, modules=("nb/helper.py",))
        found = targets(root)
        assert "nb/helper.py" in found, cell
        assert "computed" in found["other-files/unrelated.py"], cell
    root = project(tmp_path, "%run helper.py", modules=("nb/helper.py",))
    assert "other-files/unrelated.py" not in targets(root)


def test_files_named_like_installed_modules_are_targets(tmp_path: Path):
    """Fifth round: a library imports a module lazily (jupyter_client's ``ipykernel.kernelspec``
    while the spec loads, pandas' ``tabulate``, papermill's ``ipykernel_launcher``): a project
    file of that name in the kernel's or the spec's folder runs instead, though nothing reviewed
    names it. Sixth round: installed or not (an optional dependency), and a module of a package
    there too: every module importable by name from those folders is a target."""
    root = project(tmp_path, "import pandas", modules=("tabulate.py", "ipykernel/__init__.py",
                                                      "ipykernel_launcher.py", "nb/selectors.py",
                                                      "mine_only.py", "pkg/selectors.py"))
    found = targets(root)
    for path, name in (("tabulate.py", "tabulate"), ("ipykernel/__init__.py", "ipykernel"),
                       ("ipykernel_launcher.py", "ipykernel_launcher"), ("nb/selectors.py", "nb.selectors"),
                       ("mine_only.py", "mine_only"), ("pkg/selectors.py", "pkg.selectors")):
        assert found.get(path, "").startswith(f"importable as `{name}`"), (path, found)


def test_every_copy_of_an_imported_module_is_a_target(tmp_path: Path):
    """Fifth round: ``sys.path.append('nb'); import helper`` runs the root's helper.py when there is
    one (the kernel's '' comes first), whichever copy the scan finds first."""
    root = project(tmp_path, "import sys\nsys.path.append('nb')\nimport helper", modules=("nb/helper.py",))
    assert "helper.py" not in targets(root)
    (root / "helper.py").write_text("X = 'EVIL'\n")
    found = targets(root)
    assert "helper.py" in found and "nb/helper.py" in found, found


def test_unchecked_hash_bytecode_of_a_module_is_a_target(tmp_path: Path):
    """Fifth round: a committed ``__pycache__`` file compiled with UNCHECKED_HASH is loaded without
    its source; timestamp bytecode (Python's own cache, checked against the source) is not."""
    import py_compile

    root = project(tmp_path, "import helper", modules=("nb/helper.py",))
    py_compile.compile(str(root / "nb/helper.py"), doraise=True)  # the ordinary cache
    assert not [p for p in targets(root) if p.endswith(".pyc")]
    forged = root / "nb/__pycache__" / f"helper.{__import__('sys').implementation.cache_tag}.pyc"
    (root / "evil.py").write_text("X = 'EVIL'\n")
    py_compile.compile(str(root / "evil.py"), cfile=str(forged), doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    found = targets(root)
    assert "without checking it" in found.get(forged.relative_to(root).as_posix(), ""), found


def test_loaders_under_other_names_and_dotted_resolvers_are_followed(tmp_path: Path):
    """Fifth round: an alias of a loader (``SourceFileLoader as L``, ``f = importlib.import_module``),
    ``pkgutil.resolve_name("m:fn")``, ``pydoc.locate("m.fn")`` and ``imp.load_source``."""
    root = project(tmp_path,
                   "from importlib.machinery import SourceFileLoader as L\nL('e', 'nb/m_loader.py').load_module()",
                   "import importlib\nf = importlib.import_module\nf('m_alias')",
                   "import pkgutil, pydoc\npkgutil.resolve_name('m_resolve:fn')\npydoc.locate('m_locate.fn')",
                   "import imp\nimp.load_source('s', 'nb/m_source.py')",
                   modules=("nb/m_loader.py", "nb/m_alias.py", "nb/m_resolve.py", "nb/m_locate.py",
                            "nb/m_source.py"))
    found = targets(root)
    for name in ("loader", "alias", "resolve", "locate", "source"):
        assert f"nb/m_{name}.py" in found, (name, found)
    assert "other-files/unrelated.py" not in found


# Sixth round: files read as the tools that run them read them (docs/security.md, R4).

def test_a_py_script_source_is_read_as_the_notebook_jupytext_makes(tmp_path: Path):
    """16, 03: Ploomber runs a .py task source through jupytext: a magic line (which plain Python
    cannot parse) hides no import, and a commented magic (`# %run x.py`) is a magic again."""
    root = project(tmp_path, modules=("nb/helper.py", "nb/ran.py", "nb/other_ran.py", "nb/m_active.py"))
    (root / "pipeline.yaml").write_text("tasks:\n  - source: nb/s.py\n    product: out/s.ipynb\n")
    (root / "nb/s.py").write_text('# %% tags=["parameters"]\nupstream = None\nproduct = None\n\n'
                                  "# %%\n%matplotlib inline\nimport helper\n")
    found = targets(root)
    assert found.get("nb/helper.py") == "imported by nb/s.py", found
    assert "other-files/unrelated.py" not in found
    (root / "nb/s.py").write_text('# %% tags=["parameters"]\nupstream = None\n\n# %%\n# %run ran.py\n')
    assert targets(root).get("nb/ran.py") == "run by nb/s.py"
    (root / "nb/s.py").write_text("import os\n# %run other_ran.py\n")  # light format (no markers)
    assert "nb/other_ran.py" in targets(root)
    (root / "nb/s.py").write_text('import os\n\n# + active="ipynb"\n# import m_active\n')  # an inactive cell
    assert "nb/m_active.py" in targets(root)


def test_a_module_is_decoded_as_python_decodes_it(tmp_path: Path):
    """02: a UTF-8 BOM or a `coding:` cookie: Python imports the module, so the scan reads it."""
    root = project(tmp_path, "import bom, latin", modules=("nb/inner_bom.py", "nb/inner_latin.py"))
    (root / "nb/bom.py").write_bytes(b"\xef\xbb\xbfimport inner_bom\n")
    (root / "nb/latin.py").write_bytes(b"# -*- coding: latin-1 -*-\nNAME = '\xe9'\nimport inner_latin\n")
    found = targets(root)
    assert "nb/inner_bom.py" in found and "nb/inner_latin.py" in found, found
    assert "other-files/unrelated.py" not in found


def test_ipython_syntax_is_transformed_as_the_kernel_does(tmp_path: Path):
    """01, 01b, 17: a cell with `out = !cmd`, `>>>` prompts, every line indented, `obj?`, or
    `x = %run f.py` is transformed by IPython's own transformer before it is scanned; literal
    run_line_magic calls are read as their magic."""
    root = project(tmp_path, "who = !whoami\nimport m_shell", "    import m_indented\n    m_indented.go()",
                   ">>> import m_prompt", "import m_help\nm_help?", "x = %run m_run.py",
                   "get_ipython().run_line_magic('load_ext', 'm_ext')",
                   "get_ipython().run_cell_magic('capture', '', 'import m_cell')",
                   modules=tuple(f"nb/m_{n}.py" for n in ("shell", "indented", "prompt", "help", "run", "ext", "cell")))
    found = targets(root)
    for name in ("shell", "indented", "prompt", "help", "run", "ext", "cell"):
        assert f"nb/m_{name}.py" in found, (name, found)
    assert "other-files/unrelated.py" not in found


def test_code_that_does_not_parse_makes_every_runnable_file_a_target(tmp_path: Path):
    """01, 25: a cell neither Python nor IPython parses is not dropped: every module is a target;
    and a computed %run may run a `.ipy` file or one with no suffix (text): those too."""
    root = project(tmp_path, "script = None", "def broken(:\n    import hidden", modules=("tools/prep",))
    (root / "tools/prep.ipy").write_text("print(1)\n")
    (root / "tools/blob").write_bytes(b"\x00\xff binary")
    found = targets(root)
    assert "transformer can parse" in found["other-files/unrelated.py"], found
    assert "tools/prep" in found and "tools/prep.ipy" in found and "tools/blob" not in found
    root = project(tmp_path, "script = None", "%run $script")
    assert "tools/prep.ipy" in targets(root)
    root = project(tmp_path, "import math")
    assert "tools/prep.ipy" not in targets(root)
    (tmp_path / "newer").mkdir()
    root = project(tmp_path / "newer", "import newer")  # a module only the kernel's (newer) Python may parse
    (root / "nb/newer.py").write_text("def broken(:\n    import hidden\n")
    assert "newer.py has code that neither" in targets(root)["other-files/unrelated.py"]


def test_runpy_and_run_m_of_a_package_or_folder_run_its_main(tmp_path: Path):
    """27, 28: runpy.run_path on a folder, run_module and `%run -m` on a package run __main__.py;
    a file `%run` runs (`.ipy`) is scanned as IPython code."""
    root = project(tmp_path, "import runpy\nrunpy.run_path('tools')\nrunpy.run_module('pkg')", "%run -m pkg2",
                   "%run prep.ipy", modules=("nb/tools/__main__.py", "nb/pkg/__init__.py", "nb/pkg/__main__.py",
                                             "nb/pkg2/__init__.py", "nb/pkg2/__main__.py", "nb/from_ipy.py"))
    (root / "nb/prep.ipy").write_text("!echo hi\nimport from_ipy\n")
    found = targets(root)
    for path in ("nb/tools/__main__.py", "nb/pkg/__main__.py", "nb/pkg2/__main__.py", "nb/from_ipy.py"):
        assert path in found, (path, found)
    assert "other-files/unrelated.py" not in found


def test_a_package_that_changes_its_path_makes_every_module_a_target(tmp_path: Path):
    """06: `import pkg.mod` runs pkg/__init__.py first (a target even when pkg.mod is not found
    there); an __init__ that extends __path__ may take pkg.mod from any folder: every module."""
    root = project(tmp_path, "import pkg.mod\nappend(1)", modules=("plugins/mod.py",))
    (root / "nb/pkg").mkdir()
    (root / "nb/pkg/__init__.py").write_text("import os\n__path__.append(os.path.join('..', 'plugins'))\n")
    found = targets(root)
    assert found.get("nb/pkg/__init__.py") == "imported by nb/a.ipynb", found
    assert "__path__" in found["plugins/mod.py"]


def test_a_zip_archive_on_sys_path_cannot_be_reviewed(tmp_path: Path):
    """07: zipimport runs the modules of an archive on sys.path: it is a target and a problem
    (it has no text version to approve: every gate refuses it)."""
    import zipfile

    root = project(tmp_path, "import sys\nsys.path.insert(0, 'vendor.zip')\nimport vendored")
    with zipfile.ZipFile(root / "vendor.zip", "w") as archive:
        archive.writestr("vendored.py", "X = 1\n")
    problems: list[str] = []
    found = {t.path: t.why for t in review_targets(load_config(root), problems=problems)}
    assert "vendor.zip" in found and "vendor.zip, a file on sys.path" in problems[0], (found, problems)


def test_more_literal_loaders_are_followed(tmp_path: Path):
    """17, 23: find_spec + exec_module, imp.find_module/load_module, IPython's import_item,
    pkgutil.get_loader, run_line_magic('run', ...), matplotlib's `module://` backend."""
    names = ("findspec", "impfind", "impload", "item", "loader", "runline", "backend")
    root = project(tmp_path, "import importlib.util\ns = importlib.util.find_spec('m_findspec')",
                   "import imp\nimp.find_module('m_impfind')\nimp.load_module('x', None, 'nb/m_impload.py', d)",
                   "from IPython.utils.importstring import import_item\nimport_item('m_item.fn')",
                   "import pkgutil\npkgutil.get_loader('m_loader').load_module()",
                   "get_ipython().run_line_magic('run', 'm_runline.py')",
                   "import matplotlib\nmatplotlib.use('module://m_backend')",
                   modules=tuple(f"nb/m_{n}.py" for n in names))
    found = targets(root)
    for name in names:
        assert f"nb/m_{name}.py" in found, (name, found)
    assert "other-files/unrelated.py" not in found
    for cell in ("get_ipython().run_line_magic('run', script)", "importlib.util.find_spec(name)"):
        root = project(tmp_path, cell)
        assert "computed" in targets(root)["other-files/unrelated.py"], cell

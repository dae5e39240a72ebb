"""Project files Python may run in place of reviewed code, though nothing reviewed names them.

- **Importable by name.** A kernel's working folder, a task's source folder and the spec's
  folder are on its import path before site-packages (IPython's ``''``, ScriptRunner's
  ``PYTHONPATH``, Ploomber's spec folder while it loads the pipeline). Every module there is
  imported by any library that imports its name, lazily too, whether or not a module of that
  name is installed: an optional dependency (pandas' ``zstandard``), IPython's default
  extension tried first as the top-level ``storemagic``, ``tabulate``, ``selectors``... The
  closure cannot see those imports, so every module importable by name from those folders is
  a review target: ``NAME.py``, sourceless ``NAME.pyc``, extension modules (``NAME*.so``,
  ``.pyd``), and every module of a package folder there (``NAME/__init__.py`` and what it
  holds, a namespace folder without ``__init__.py`` too, unless a regular module of that name
  is installed: Python then never looks into the folder; unless that module is a package that
  extends its ``__path__``, ``pkgutil.extend_path`` or ``declare_namespace``: the folder joins it).
- **Hash-based bytecode.** Python loads a ``__pycache__`` file compiled with
  ``PycInvalidationMode.UNCHECKED_HASH`` without looking at its source, and one compiled with
  ``CHECKED_HASH`` after comparing only the source's hash with the one in its header: the code
  inside may be compiled from any other source. Such a file beside a reviewed module is a
  target of its own that cannot be reviewed (its module being approved says nothing of it).
  Timestamp bytecode is left alone: a checkout gives the source a new mtime, so Python
  recompiles it from the reviewed source. Python reads the ``__pycache__`` beside the path it
  imports (a link's folder, not its target's) and a computed ``sys.path`` entry reaches any
  folder, so :func:`project_bytecode` finds such files (and sourceless ``NAME.pyc``) anywhere in
  the project, beside a module of the closure or not.
"""

from __future__ import annotations

import functools
import importlib.machinery
import sys
from collections.abc import Iterable
from pathlib import Path

from nbgov.adapters.specfile import extends_path
from nbgov.services.review.folders import local_only, sweep, virtualenv

#: pyc header flag (PEP 552, bytes 4-8): bit 0 hash-based (bit 1, check the source's hash,
#: does not matter: the hash says nothing of the code compiled into the file)
_HASH_BASED = 1
#: What Python's FileFinder loads as a module, this platform's and Windows' (a repository
#: reviewed here may run there), longest first (``.abi3.so`` before ``.so``).
MODULE_SUFFIXES = tuple(sorted({*importlib.machinery.all_suffixes(), ".py", ".pyw", ".pyc", ".pyd", ".so"},
                               key=len, reverse=True))
#: Folders never searched inside a package: the tool's own (a copy of nbgov inside the project,
#: as in its own repository, is the tool, not the project's). ``node_modules``, ``venv``,
#: ``__pycache__`` are searched like any folder whose name an import can spell; a folder no
#: import can name (``.venv``, ``site-packages``) is not, nor an installed Python environment
#: (:func:`_installed_env`).
_SKIP = {"nbgov"}


def module_name(filename: str) -> str | None:
    """The module name a file is imported under (``foo`` for ``foo.cpython-311-x86_64-linux-gnu.so``),
    None when Python's file finder never loads it (not a module suffix, not an identifier)."""
    for suffix in MODULE_SUFFIXES:
        if filename.endswith(suffix):
            name = filename[: -len(suffix)]
            return name if name.isidentifier() else None
    return None


def importable_files(folders: Iterable[Path], root: Path) -> dict[Path, str]:
    """Every module importable by name from ``folders`` (the first folders of a kernel's import
    path): its files directly there and every module of a package folder there: path -> why."""
    out: dict[Path, str] = {}
    for folder in [f.resolve() for f in dict.fromkeys(folders) if f.is_dir()]:
        inside = folder.is_relative_to(root) and folder != root
        where = folder.relative_to(root).as_posix() + "/" if inside else "the project root"
        for entry in sorted(folder.iterdir()):
            if entry.is_file() and (name := module_name(entry.name)):
                out.setdefault(entry, _why(name, where))
            elif (entry.is_dir() and entry.name.isidentifier() and not _installed_env(entry, root)
                  and _package_or_namespace(entry, root)):
                for path, dotted in _package_modules(entry, entry.name, root):
                    out.setdefault(path, _why(dotted, where))
    return out


def _why(dotted: str, where: str) -> str:
    return (f"importable as `{dotted}` from {where}, a folder first on a kernel's import path: "
            "any library importing that name runs it")


def _package_or_namespace(folder: Path, root: Path) -> bool:
    """Whether Python imports from ``folder`` by its name: a regular package, or a namespace
    folder when no regular module of that name is installed (it would win over the folder), or
    the one installed takes the folder into its ``__path__`` (pkgutil-style namespace)."""
    if any((folder / f"__init__{s}").is_file() for s in MODULE_SUFFIXES):
        return True
    return not _installed_regular(folder.name, root.resolve())


def _installed_env(folder: Path, root: Path) -> bool:
    """Whether ``folder`` is a Python environment installed on this machine: it holds
    ``pyvenv.cfg`` or ``conda-meta/`` and git ignores it and tracks nothing in it. Python never
    reads ``pyvenv.cfg`` when importing from a folder, and a pull request can commit one: the
    marker alone hides nothing (a root ``storemagic/`` holding one is still imported)."""
    return virtualenv(folder) and local_only(folder, root)


def _package_modules(folder: Path, dotted: str, root: Path) -> list[tuple[Path, str]]:
    """Every module file in ``folder`` and its subfolders (each importable as ``dotted.SUB``),
    skipping folders whose names no import statement can name (hidden ones too), installed
    Python environments (:func:`_installed_env`) and a copy of nbgov."""
    out: list[tuple[Path, str]] = []
    for entry in sorted(folder.iterdir()):
        if entry.is_file() and (name := module_name(entry.name)):
            out.append((entry, dotted if name == "__init__" else f"{dotted}.{name}"))
        elif (entry.is_dir() and entry.name.isidentifier() and entry.name not in _SKIP and not entry.is_symlink()
              and not _installed_env(entry, root)):
            out += _package_modules(entry, f"{dotted}.{entry.name}", root)
    return out


@functools.lru_cache(maxsize=4096)
def _installed_regular(name: str, root: Path) -> bool:
    """Whether this environment has a regular (not namespace) module ``name`` outside the
    project ``root``: the standard library, site-packages."""
    if name in sys.stdlib_module_names or name in sys.builtin_module_names:
        return True
    # the environment's import path without the working folder ('', a relative entry) and the project
    cwd = Path.cwd().resolve()
    paths = [p for p in sys.path if p and Path(p).is_absolute() and Path(p).resolve() != cwd
             and not Path(p).resolve().is_relative_to(root)]
    spec = importlib.machinery.PathFinder.find_spec(name, paths)
    # a package extending its __path__ (pkgutil.extend_path) takes in the project's folder too
    return spec is not None and spec.loader is not None and not (spec.origin and extends_path(spec.origin))


def _hash_based(pyc: Path) -> bool:
    try:
        with open(pyc, "rb") as f:
            header = f.read(8)
    except OSError:
        return False
    return len(header) == 8 and bool(int.from_bytes(header[4:8], "little") & _HASH_BASED)


def project_bytecode(root: Path) -> dict[Path, str]:
    """Bytecode Python may load from anywhere in the project (searched as :func:`folders.sweep`
    searches): every hash-based file of a
    ``__pycache__`` folder (loaded beside whatever path a module is imported under, a link's
    too) and every sourceless ``NAME.pyc`` (loaded by a finder on any folder a computed
    ``sys.path`` entry names): path (as found, not resolved) -> why. None can be reviewed."""
    def bytecode(path: Path) -> bool:
        return path.suffix == ".pyc"

    out: dict[Path, str] = {}
    for pyc in sweep(root, bytecode):
        if pyc.suffix != ".pyc" or not pyc.is_file():
            continue
        if pyc.parent.name == "__pycache__":
            if _hash_based(pyc):
                out[pyc] = ("hash-based bytecode Python loads in place of the source beside this folder "
                            "without checking its code")
        elif module_name(pyc.name) is not None:
            out[pyc] = (f"sourceless bytecode Python imports as `{module_name(pyc.name)}` from any folder on "
                        "its import path")
    return out


def hash_bytecode(modules: Iterable[Path]) -> dict[Path, str]:
    """``__pycache__`` files of ``modules`` that are hash-based (checked or not): Python runs
    their code without compiling the source, whatever that code is: path -> why."""
    out: dict[Path, str] = {}
    for module in modules:
        if module.suffix != ".py":
            continue
        for pyc in sorted((module.parent / "__pycache__").glob(f"{module.stem}.*.pyc")):
            if _hash_based(pyc):
                # its own path, not a link's target: Python reads the file through the link
                out[pyc] = f"hash-based bytecode Python loads in place of {module.name} without checking its code"
    return out

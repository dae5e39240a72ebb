"""Project files Python may run in place of reviewed code, though nothing reviewed names them.

- **Shadows.** A kernel's working folder and the spec's folder are on its import path before
  site-packages (IPython's ``''``, Ploomber's spec folder while it loads the pipeline). A
  project file named like an installed module (``selectors.py``, ``tabulate.py``, an
  ``ipykernel/`` package) is imported in its place by any library that imports it, lazily
  too: the closure cannot see those imports, so every such file is a review target.
- **Unchecked bytecode.** Python loads a ``__pycache__`` file compiled with
  ``PycInvalidationMode.UNCHECKED_HASH`` without looking at its source: such a file beside a
  reviewed module is a target of its own (its module being approved says nothing of it).
  Timestamp and checked-hash bytecode is validated against the source by Python itself.
"""

from __future__ import annotations

import functools
import importlib.machinery
import sys
from collections.abc import Iterable
from pathlib import Path

#: pyc header flags (PEP 552): bit 0 hash-based, bit 1 check the source
_HASH_BASED, _CHECK_SOURCE = 1, 2


def shadowing_files(folders: Iterable[Path]) -> dict[Path, str]:
    """Modules and packages directly in ``folders`` named like a module installed in this
    environment (standard library or site-packages): path -> why."""
    folders = [f.resolve() for f in dict.fromkeys(folders) if f.is_dir()]
    out: dict[Path, str] = {}
    for folder in folders:
        for entry in sorted(folder.iterdir()):
            if entry.suffix == ".py" and entry.is_file():
                name, path = entry.stem, entry
            elif entry.is_dir() and (entry / "__init__.py").is_file():
                name, path = entry.name, entry / "__init__.py"
            else:
                continue
            if name.isidentifier() and _installed(name, tuple(folders)):
                out[path.resolve()] = (f"named like the installed module `{name}`: imported in its place "
                                       "from the kernel's or the spec's folder")
    return out


@functools.lru_cache(maxsize=4096)
def _installed(name: str, project_folders: tuple[Path, ...]) -> bool:
    if name in sys.stdlib_module_names or name in sys.builtin_module_names:
        return True
    # the environment's import path without the working folder and the project's own folders
    paths = [p for p in sys.path if p and Path(p).resolve() not in project_folders
             and Path(p).resolve() != Path.cwd().resolve()]
    return importlib.machinery.PathFinder.find_spec(name, paths) is not None


def unchecked_bytecode(modules: Iterable[Path]) -> dict[Path, str]:
    """``__pycache__`` files of ``modules`` that Python would load without checking their
    source: path -> why."""
    out: dict[Path, str] = {}
    for module in modules:
        if module.suffix != ".py":
            continue
        for pyc in sorted((module.parent / "__pycache__").glob(f"{module.stem}.*.pyc")):
            try:
                with open(pyc, "rb") as f:
                    header = f.read(8)
            except OSError:
                continue
            flags = int.from_bytes(header[4:8], "little") if len(header) == 8 else 0
            if flags & _HASH_BASED and not flags & _CHECK_SOURCE:
                out[pyc.resolve()] = f"bytecode Python loads in place of {module.name} without checking it"
    return out

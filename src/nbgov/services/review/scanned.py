"""What the import scan found in one file (:class:`FileScan`), and the reasons the review
closure gives when it cannot follow a file (each makes every project module a target; R4)."""

from __future__ import annotations

from dataclasses import dataclass, field

from nbgov.services.review import syspath


@dataclass
class FileScan:
    """What one file does that the closure follows (``names``, ``runs``, ``paths``) or cannot
    (``why``: each a reason every project module becomes a target)."""

    names: set[str] = field(default_factory=set)
    runs: list[str] = field(default_factory=list)
    paths: syspath.PathChanges = field(default_factory=syspath.PathChanges)
    why: list[str] = field(default_factory=list)
    #: Files loaded as bytecode, native code or an archive (literal paths): never reviewable.
    binaries: list[str] = field(default_factory=list)


#: Reasons the closure cannot follow a file (the target's reason reads "FILE <reason>").
COMPUTED_IMPORT = "imports a module by a computed name"
COMPUTED_RUN = "runs a file or loads a module by a computed name (`$` or `{}` in a magic)"
COMPUTED_FILE = "runs a file by a computed name or path"
CHDIR = "changes the working folder (the kernel's '' on sys.path and relative entries follow it)"
UNPARSEABLE = "has code that neither Python nor IPython's input transformer can parse"
PACKAGE_PATH = "changes a package's __path__ (its submodules may come from any folder)"
FOLDER_LOAD = "imports every module of a folder (pkgutil.walk_packages, test discovery, pytest.main)"
ZIP_RUN = "runs a zip archive (its modules are not read)"
#: The reasons after which any file of the project may run, not only its ``.py`` modules
#: (``%run`` and ``runpy.run_path`` run ``.ipy`` files, notebooks and files with no suffix).
ANY_FILE = (COMPUTED_RUN, COMPUTED_FILE, UNPARSEABLE)

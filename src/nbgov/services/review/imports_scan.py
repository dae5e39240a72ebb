"""What one file of the review closure imports, read statically (``ast``; no code run):
modules (``import``, relative imports resolved, literal ``importlib.import_module``,
``__import__``, ``runpy.run_module``, ``find_spec``, ``pkgutil.get_loader`` and
``import_item`` names, notebook magics that load code), the files ``%run``,
``runpy.run_path``, file loaders and child Python processes (:mod:`.commands`) run, the
files it loads as code that is not text (bytecode, native libraries, archives:
unreviewable), what it does to ``sys.path``
(:mod:`.syspath`), and what the closure cannot follow (a module imported by a computed name,
``%run $var``, a changed working folder, a loader of a whole folder, code that does not
parse): :mod:`.targets` then makes every project module a target (docs/security.md, R4).

Files are read as the tool that runs them reads them: bytes decoded as Python decodes them (a
BOM, a ``coding:`` cookie); a notebook cell by cell (:mod:`.magics`), each cell that does not
parse as Python transformed by IPython's own input transformer first; a ``.py`` file both as a
module and as the notebook jupytext makes of it (Ploomber runs a ``.py`` task source that way:
magics, commented magics such as ``# %run x.py``); a file ``%run`` runs (``.ipy``, no
suffix) as IPython code. A ``.pth`` file (which ``site.addsitedir`` runs) is read as its
``import`` lines (Python) and its other lines (folders added to ``sys.path``).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from nbgov.adapters import ipython_source
from nbgov.services.review import commands, magics, notebook_runs, references, syspath
from nbgov.services.review.scanned import (
    CHDIR,
    COMPUTED_FILE,
    COMPUTED_IMPORT,
    COMPUTED_RUN,
    FOLDER_LOAD,
    PACKAGE_PATH,
    UNPARSEABLE,
    ZIP_RUN,
    FileScan,
)

__all__ = ["CHDIR", "COMPUTED_IMPORT", "COMPUTED_RUN", "FileScan", "scan_file"]

#: How a source is parsed: as Python only, failure ignored (a module's plain reading beside its
#: notebook reading; a .pth line: site skips it); as the kernel reads it (IPython's transformer
#: when Python's parser refuses; failure: the conservative rule).
_OPTIONAL, _IPYTHON = "optional", "ipython"
#: A zip archive (``runpy.run_path`` and ``%run`` run its ``__main__.py``): not read.
_ZIP = b"PK\x03\x04"


def scan_file(path: Path, package: str, script: bool = False) -> FileScan:
    """What ``path`` (a module, script, notebook, ``.pth`` file or a file ``%run`` runs) imports
    and runs; ``package`` is the dotted package it belongs to, for relative imports; ``script``:
    ``path`` is a task source, which Ploomber runs as the notebook jupytext makes of a ``.py``."""
    found = FileScan()
    for source, mode in _python_sources(path, found, script):
        _scan_source(source, mode, package, found)
    return found


def _scan_source(source: str, mode: str, package: str, found: FileScan) -> None:
    tree = _parse(source, mode, found)
    if tree is not None:
        syspath.scan(tree, found.paths)
        _names(tree, package, found)


def _parse(source: str, mode: str, found: FileScan) -> ast.AST | None:
    """``source`` parsed as Python, else (``_IPYTHON``) as IPython transforms it; None (and, but
    for an optional source, :data:`UNPARSEABLE` in ``found.why``) when neither parses."""
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        pass
    if mode == _OPTIONAL:
        return None
    transformed = ipython_source.transform_cell(source)
    if transformed is not None:
        try:
            return ast.parse(transformed)
        except (SyntaxError, ValueError):
            pass
    found.why.append(UNPARSEABLE)
    return None


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    return True


def _python_sources(path: Path, found: FileScan, script: bool) -> list[tuple[str, str]]:
    """The Python code of ``path`` as the import scan reads it, each with how to parse it."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(data).get("cells") or []
        except (ValueError, AttributeError):
            return []  # Jupyter cannot open it either: nothing runs
        out = []
        for cell in cells:
            if not isinstance(cell, dict) or cell.get("cell_type") != "code":
                continue
            src = cell.get("source", "")
            src = "".join(src) if isinstance(src, list) else str(src)
            out += [(s, _IPYTHON) for s in magics.cell_sources(src, found)]
        return out
    if data.startswith(_ZIP):
        found.why.append(ZIP_RUN)
        return []
    try:
        text = ipython_source.decode_python(data)
    except (SyntaxError, UnicodeDecodeError):
        return []  # Python refuses to decode it (bad cookie, not text): it runs nothing
    if path.suffix == ".pth":  # site runs lines starting with `import`; the others are folders
        lines = [line.rstrip() for line in text.splitlines()]
        code = [line for line in lines if line.startswith(("import ", "import\t"))]
        found.paths.folders += [line for line in lines if line and not line.startswith("#") and line not in code]
        return [(line, _OPTIONAL) for line in code]
    if path.suffix != ".py":  # a file %run runs (.ipy, no suffix): IPython code
        return [(s, _IPYTHON) for s in magics.cell_sources(text, found)]
    if not script or (_parses(text) and not ipython_source.comments_may_run(text)):
        # a module (imported, or %run: plain Python; a kernel's newer Python may parse what this
        # one cannot: the conservative rule), or a script whose notebook runs the same code
        return [(text, _IPYTHON)]
    cells = ipython_source.script_cells(text)
    if cells is None:  # jupytext cannot read it: a module only, parsed as the kernel would
        return [(text, _IPYTHON)]
    # imported, it runs as a module; as a task source, as jupytext's notebook: read both
    return [(text, _OPTIONAL), *((s, _IPYTHON) for cell in cells for s in magics.cell_sources(cell, found))]


def _absolute(name: str, level: int, package: str) -> str | None:
    """``name`` imported ``level`` packages up from ``package`` (0: absolute); None beyond the top."""
    if not level:
        return name
    parts = package.split(".") if package else []
    if level - 1 > len(parts):
        return None  # beyond the top package: Python refuses it too
    parts = parts[: len(parts) - (level - 1)]
    return ".".join([*parts, *([name] if name else [])])


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


#: Calls that run a file by its path: the keyword or position of the path.
_FILE_RUNNERS = {"run_path": ("path_name", 0), "spec_from_file_location": ("location", 1),
                 "SourceFileLoader": ("path", 1), "load_source": ("pathname", 1),
                 # IPython's kernel runs a file as %run does; imp runs a package folder's
                 # __init__.py; pydoc imports a file; doctest runs a text file's examples
                 "safe_execfile": ("fname", 0), "safe_execfile_ipy": ("fname", 0),
                 "load_package": ("path", 1), "importfile": ("path", 0), "testfile": ("filename", 0),
                 # papermill runs a notebook (its path read in the caller's working folder)
                 "execute_notebook": ("input_path", 0)}
#: Calls that load a file whose code is not its text (bytecode, a native library, a zip
#: archive): the position and keyword of the path. A literal project file cannot be reviewed.
_BINARY_LOADERS = {"SourcelessFileLoader": ("path", 1), "ExtensionFileLoader": ("path", 1),
                   "zipimporter": ("path", 0), "CDLL": ("name", 0), "PyDLL": ("name", 0),
                   "WinDLL": ("name", 0), "OleDLL": ("name", 0), "LoadLibrary": ("name", 0)}
_NATIVE = ("CDLL", "PyDLL", "WinDLL", "OleDLL", "LoadLibrary")
#: Calls that import every module of a folder (``pytest.main`` checked by its owner).
_FOLDER_LOADERS = ("walk_packages", "discover")
#: Calls that import a module named by a dotted string (``pkg.mod:attr`` or ``pkg.mod.attr``).
_RESOLVERS = ("resolve_name", "locate", "import_item")
#: Calls that import (or find, to load) a module by its name, first argument (``imp``'s
#: ``find_module``, ``pkgutil.get_loader(NAME).load_module()``, ``find_loader``).
_BY_NAME = ("get_loader", "find_loader", "find_module", "load_extension", "_gcd_import")
#: ``imp.load_module(NAME, FILE, PATHNAME, DESCRIPTION)``: runs the file PATHNAME.
_IMP_LOAD = ("pathname", 2)
_LOADERS = ("import_module", "find_spec", "__import__", "run_module", *_RESOLVERS, *_FILE_RUNNERS, *_BY_NAME,
            *_BINARY_LOADERS, *_FOLDER_LOADERS)
#: Calls that run a file or module: a reference to one the scan does not see called gets the
#: conservative rule (:mod:`.references`).
_RUNNERS = frozenset({*_FILE_RUNNERS, "run_module", "exec_module", "import_module", "__import__"})
#: IPython's calls that run a magic (what its input transformer writes for ``x = %run f.py``).
_MAGIC_CALLS = ("run_line_magic", "run_cell_magic", "magic")


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Other names the module gives the loaders: ``from importlib import import_module as im``,
    ``f = importlib.import_module``, ``L = SourceFileLoader``."""
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            out.update({a.asname: a.name for a in node.names if a.asname and a.name in _LOADERS})
        elif isinstance(node, ast.Assign) and isinstance(node.value, (ast.Attribute, ast.Name)):
            value = node.value.attr if isinstance(node.value, ast.Attribute) else node.value.id
            if value in _LOADERS:
                out.update({t.id: value for t in node.targets if isinstance(t, ast.Name)})
    return out


def _dynamic(node: ast.Call, package: str, found: FileScan, aliases: dict[str, str] | None = None) -> None:
    """``importlib.import_module(NAME[, PACKAGE])``, ``__import__(NAME, ..., fromlist, level)``,
    ``runpy.run_module(NAME)``: a literal name is an import; ``runpy.run_path(PATH)``,
    ``spec_from_file_location(NAME, PATH)``, ``SourceFileLoader(NAME, PATH)``: a literal path is
    a file run (like ``%run``); anything else goes into ``found.why``."""
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    called = (aliases or {}).get(called, called)
    imp_load = called == "load_module" and isinstance(func, ast.Attribute) and getattr(func.value, "id", "") == "imp"
    pytest_main = called == "main" and isinstance(func, ast.Attribute) and getattr(func.value, "id", "") == "pytest"
    if called not in _LOADERS and not imp_load and not pytest_main:
        return
    args = {**dict(enumerate(node.args)), **{k.arg: k.value for k in node.keywords if k.arg}}
    if called in _FOLDER_LOADERS or pytest_main:  # which modules depends on the folder's files
        found.why.append(FOLDER_LOAD)
        return
    if called in _BINARY_LOADERS:
        keyword, position = _BINARY_LOADERS[called]
        file = _literal(args.get(position, args.get(keyword)))
        if file is not None and (called not in _NATIVE or "/" in file):  # dlopen("libx.so") reads
            found.binaries.append(file)  # the system's folders, not the working folder
        elif called in ("SourcelessFileLoader", "zipimporter"):
            found.why.append(COMPUTED_FILE)  # a computed native library is the environment's
        return
    if called in _BY_NAME:
        name = _literal(args.get(0, args.get("name", args.get("fullname", args.get("module_or_name",
                                                                                   args.get("module_str"))))))
        if name is None:
            found.why.append(COMPUTED_IMPORT)
        else:
            found.names.add(name)
        return
    if called in _RESOLVERS:  # pkgutil.resolve_name("pkg.mod:fn"), pydoc.locate("pkg.mod.fn")
        dotted = _literal(args.get(0, args.get("name" if called == "resolve_name" else "path")))
        if dotted is None:
            found.why.append(COMPUTED_IMPORT)
            return
        parts = dotted.replace(":", ".").split(".")
        found.names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        return
    if imp_load or called in _FILE_RUNNERS:
        keyword, position = _IMP_LOAD if imp_load else _FILE_RUNNERS[called]
        file = _literal(args.get(position, args.get(keyword)))
        cwd = args.get(14, args.get("cwd"))  # papermill's kernel working folder: its '' on sys.path
        if called == "execute_notebook" and cwd is not None and not (isinstance(cwd, ast.Constant)
                                                                      and cwd.value is None):
            found.why.append(CHDIR)
        if file is None:
            found.why.append(COMPUTED_FILE)
        else:
            found.runs.append(file)
        return
    name = _literal(args.get(0, args.get("name" if called != "run_module" else "mod_name")))
    if called == "run_module":
        if name is None:
            found.why.append(COMPUTED_IMPORT)
        else:  # a package runs its __main__.py
            found.names.update((name, f"{name}.__main__"))
        return
    if called in ("import_module", "find_spec"):
        level = len(name) - len(name.lstrip(".")) if name else 0
        base = _literal(args.get(1, args.get("package"))) if level else ""
        if name is None or base is None:
            found.why.append(COMPUTED_IMPORT)
            return
        resolved = _absolute(name[level:], level, base)
    else:
        level_node = args.get(4, args.get("level"))
        level = level_node.value if isinstance(level_node, ast.Constant) else 0 if level_node is None else None
        if name is None or not isinstance(level, int):
            found.why.append(COMPUTED_IMPORT)
            return
        resolved = _absolute(name, level, package)
        fromlist = args.get(3, args.get("fromlist"))
        if resolved and fromlist is not None and not (isinstance(fromlist, ast.Constant) and not fromlist.value):
            items = fromlist.elts if isinstance(fromlist, (ast.List, ast.Tuple)) else [None]
            subs = [_literal(item) for item in items]
            if None in subs:
                found.why.append(COMPUTED_IMPORT)
            found.names.update(f"{resolved}.{sub}" for sub in subs if sub and sub != "*")
    if resolved:
        found.names.add(resolved)


def _names(tree: ast.AST, package: str, found: FileScan) -> None:
    """Add the absolute module names ``tree`` imports to ``found`` (relative ones resolved from
    ``package``; with their parent packages, which Python imports first), and to ``found.why``
    a call to ``os.chdir`` (or ``chdir``) and a change of a package's ``__path__``."""
    aliases = _aliases(tree)
    readers = notebook_runs.readers(tree)
    if references.unfollowed(tree, _RUNNERS, aliases):  # partial(pm.execute_notebook, ...), getattr
        found.why.append(COMPUTED_FILE)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module or "", node.level, package)
            if base:
                found.names.add(base)
                found.names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Call):
            _dynamic(node, package, found, aliases)
            notebook_runs.read_call(node, readers, found)
            for code in commands.python_child(node, found):  # `python -c CODE` in a child process
                _scan_source(code, _IPYTHON, "", found)
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("chdir", "fchdir"):
                found.why.append(CHDIR)
            elif called in _MAGIC_CALLS and isinstance(func, ast.Attribute):
                _magic_call(node, called, package, found)
            elif (called in ("append", "extend", "insert") and isinstance(func, ast.Attribute)
                  and getattr(func.value, "id", "") == "__path__"):
                found.why.append(PACKAGE_PATH)
        elif isinstance(node, ast.Name) and node.id == "__path__" and isinstance(node.ctx, ast.Store):
            found.why.append(PACKAGE_PATH)  # `__path__ = extend_path(...)`, `__path__ += [...]`
        elif (value := _literal(node)) and value.startswith("module://"):
            # matplotlib.use("module://pkg.backend") (or rcParams, MPLBACKEND) imports it by name
            found.names.add(value[len("module://"):])
    notebook_runs.finish(readers, found)
    found.names.update(name.rsplit(".", i)[0] for name in list(found.names) for i in range(1, name.count(".") + 1))


def _magic_call(node: ast.Call, called: str, package: str, found: FileScan) -> None:
    """``get_ipython().run_line_magic(NAME, LINE)``, ``.run_cell_magic(NAME, LINE, CELL)``,
    ``.magic("NAME LINE")``: read as the magic line (or cell) they run; a computed part of a
    magic that loads code or changes the folder: the conservative rule."""
    args = [_literal(arg) for arg in node.args]
    if called == "magic":
        name, _, line = (args[0] or "").partition(" ") if args else ("", "", "")
        args = [name or None, line if args and args[0] is not None else None]
    name = args[0] if args else None
    if name is None:
        found.why.append(COMPUTED_RUN)
        return
    if called == "run_cell_magic":
        if len(args) < 3 or None in args[:3]:
            found.why.append(COMPUTED_RUN)
            return
        sources = magics.cell_sources(f"%%{name} {args[1]}\n{args[2]}", found)
    elif len(args) < 2 or args[1] is None:
        if name in magics.CODE_MAGICS:
            found.why.append(CHDIR if name in magics.CD_MAGICS else COMPUTED_RUN)
        return
    else:
        sources = magics.line_magic(name, args[1], found)
    for source in sources:
        _scan_source(source, _IPYTHON, package, found)

"""What one file of the review closure imports, read statically (``ast``; no code run):
modules (``import``, relative imports resolved, literal ``importlib.import_module``,
``__import__`` and ``runpy.run_module`` names, notebook magics that load code), the files
``%run``, ``runpy.run_path`` and file loaders run, what it does to
``sys.path`` (:mod:`.syspath`), and what the closure cannot follow (a module imported by a
computed name, ``%run $var``, a changed working folder): :mod:`.targets` then makes every
project module a target (docs/security.md, R4).

A notebook is read cell by cell: magics that run Python are read as Python (the body of
``%%capture``, ``%%time``, ``%%python3``, ``%%script python``...), other cell magics and shell
lines are not. A ``.pth`` file (which ``site.addsitedir`` runs) is read as its ``import`` lines
(Python) and its other lines (folders added to ``sys.path``).
"""

from __future__ import annotations

import ast
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from nbgov.services.review import syspath


@dataclass
class FileScan:
    """What one file does that the closure follows (``names``, ``runs``, ``paths``) or cannot
    (``why``: each a reason every project module becomes a target)."""

    names: set[str] = field(default_factory=set)
    runs: list[str] = field(default_factory=list)
    paths: syspath.PathChanges = field(default_factory=syspath.PathChanges)
    why: list[str] = field(default_factory=list)


#: Reasons the closure cannot follow a file (the target's reason reads "FILE <reason>").
COMPUTED_IMPORT = "imports a module by a computed name"
COMPUTED_RUN = "runs a file or loads a module by a computed name (`$` or `{}` in a magic)"
CHDIR = "changes the working folder (the kernel's '' on sys.path and relative entries follow it)"


def scan_file(path: Path, package: str) -> FileScan:
    """What ``path`` (a module, script, notebook or ``.pth`` file) imports and runs; ``package``
    is the dotted package it belongs to, for relative imports."""
    found = FileScan()
    for source in _python_sources(path, found):
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        syspath.scan(tree, found.paths)
        _names(tree, package, found)
    return found


def _python_sources(path: Path, found: FileScan) -> list[str]:
    """The Python code of a module, a script, a ``.pth`` file's import lines or a notebook's code
    cells, as the import scan reads it (:func:`_cell_sources`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    if path.suffix == ".pth":  # site runs lines starting with `import`; the others are folders
        lines = [line.rstrip() for line in text.splitlines()]
        code = [line for line in lines if line.startswith(("import ", "import\t"))]
        found.paths.folders += [line for line in lines if line and not line.startswith("#") and line not in code]
        return code
    if path.suffix != ".ipynb":
        return [text]
    try:
        cells = json.loads(text).get("cells") or []
    except (ValueError, AttributeError):
        return []
    out = []
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else str(src)
        out += _cell_sources(src, found)
    return out


#: Cell magics whose body is Python the kernel runs (through its magics again), with the
#: options of those whose first line holds Python after them too (``%%timeit -n1 SETUP``,
#: ``%%prun -s cumtime STMT``; None: the first line is no Python). Every other cell magic
#: (``%%bash``, ``%%writefile``, ``%%html``...) is not Python and not scanned (docs/security.md, R4).
_PYTHON_CELL_MAGICS: dict[str, str | None] = {"capture": None, "time": None, "timeit": "n:r:tcp:qo",
                                              "prun": "D:l:rs:T:q"}
#: Script cell magics whose body a Python interpreter runs (``%%python3``; ``%%script python``).
_PYTHON_PROGRAM = re.compile(r"^(python|pypy)[\d.]*$")
#: ``%%script``'s options that take a value (the command follows them).
_SCRIPT_VALUED = {"--proc", "--out", "--err"}
#: Line magics whose argument, after their options, is a Python statement the kernel runs.
_PYTHON_LINE_MAGICS = {"time": "", "timeit": "n:r:tcp:qo", "prun": "D:l:rs:T:q"}
#: Line magics that load a module by name into the kernel.
_LOADING_MAGIC = re.compile(r"^\s*%(load_ext|reload_ext|aimport)\s+(?:-\w+\s+)*([\w.]+)")
_LINE_MAGIC = re.compile(r"^\s*%(\w+)(.*)$")
#: Line magics that change the kernel's working folder.
_CD_MAGICS = {"cd", "pushd", "popd"}
#: ``%run``'s options (IPython's getopt string: those before ``:`` take a value).
_RUN_OPTIONS = "nidtN:b:pD:l:rs:T:em:G"


def _script_is_python(line: str) -> bool:
    """Whether ``%%script LINE`` runs a Python interpreter (``python3``, ``/usr/bin/python -u``)."""
    tokens, i = line.split(), 0
    while i < len(tokens) and tokens[i].startswith("--"):
        i += 2 if tokens[i] in _SCRIPT_VALUED else 1
    if i < len(tokens) and tokens[i].rsplit("/", 1)[-1] == "env":
        # `env [-i] [-u NAME] [NAME=value]... python3`: the program is the first plain word
        i += 1
        # (`-S "python3 -u"` splits its value: the program is that value's first word)
        while i < len(tokens) and (tokens[i].startswith("-") or "=" in tokens[i]):
            i += 2 if tokens[i] in ("-u", "--unset", "-C", "--chdir") else 1
    return i < len(tokens) and bool(_PYTHON_PROGRAM.match(tokens[i].strip("'\"").rsplit("/", 1)[-1]))


def _cell_sources(src: str, found: FileScan) -> list[str]:
    """One code cell as Python sources: the cell itself with its magics read by
    :func:`_magic_as_import`, the statements its Python-running magics carry (each its own
    source: one that does not parse loses no other), and the body of a Python cell magic."""
    head, _, body = src.lstrip().partition("\n")
    if head.startswith("%%"):
        name, _, line = head[2:].partition(" ")
        name = name.strip()
        if _PYTHON_PROGRAM.match(name) or (name == "script" and _script_is_python(line)):
            return [body]  # a Python interpreter of its own runs it: plain Python, no magics
        if name not in _PYTHON_CELL_MAGICS:
            return []  # %%bash, %%writefile, ...: not Python
        opts = _PYTHON_CELL_MAGICS[name]
        return [*_cell_sources(body, found), *([_after_options(line, opts)] if opts is not None else [])]
    extra: list[str] = []
    lines = [_magic_as_import(line, extra, found) for line in src.split("\n")]
    return ["\n".join(lines), *extra]


def _takes_value(token: str, spec: str) -> bool:
    """Whether getopt reads the option token after ``token`` (``-n`` with ``n:`` in ``spec``)
    as its value: the first letter taking one ends the token, and nothing follows it."""
    for k, letter in enumerate(token[1:], start=1):
        if spec.find(letter + ":") >= 0:
            return k == len(token) - 1
    return False


def _options(tokens: list[str], spec: str) -> list[str]:
    """``tokens`` past the leading getopt options ``spec`` allows (``-n1``, ``-n 1``, ``-it``)."""
    i = 0
    while i < len(tokens) and tokens[i].startswith("-") and tokens[i] != "-":
        if tokens[i] == "--":
            return tokens[i + 1:]
        i += 2 if _takes_value(tokens[i], spec) else 1
    return tokens[i:]


def _after_options(line: str, spec: str) -> str:
    """The statement a line magic runs: ``line`` past its options, its own text kept."""
    rest = line.strip()
    while rest.startswith("-"):
        token, _, rest = rest.partition(" ")
        rest = rest.lstrip()
        if token == "--":
            break
        if _takes_value(token, spec):
            rest = rest.partition(" ")[2].lstrip()
    return rest


def _run_target(args: str) -> tuple[str | None, str | None]:
    """What ``%run ARGS`` runs, as IPython parses it: ``(file, None)`` or ``(None, module)``."""
    try:
        tokens = shlex.split(args)
    except ValueError:  # an unclosed quote: IPython falls back to plain words too
        tokens = args.split()
    module = None
    for i, token in enumerate(tokens):  # -m MODULE (or -mMODULE) among the options
        if token == "--" or not token.startswith("-"):
            break
        if token.startswith("-m"):
            module = token[2:] or (tokens[i + 1] if i + 1 < len(tokens) else None)
    if module:
        return None, module
    rest = _options(tokens, _RUN_OPTIONS)
    return (rest[0], None) if rest else (None, None)


def _magic_as_import(line: str, extra: list[str], found: FileScan) -> str:
    """A notebook line as the Python the import scan reads: ``%load_ext m``, ``%aimport m``
    and ``%run -m m`` load project code, so they read as ``import m``; the file ``%run FILE``
    runs goes into ``found.runs``; the statement of ``%time``, ``%timeit`` and ``%prun`` into
    ``extra`` (a source of its own); ``%cd`` and a ``$``/``{`` IPython expands in a loading
    magic into ``found.why``; other magics and shell lines are no Python."""
    if not line.lstrip().startswith(("%", "!")):
        return line
    indent = line[: len(line) - len(line.lstrip())]  # inside a block, the block stays valid
    target = ""
    magic = _LINE_MAGIC.match(line)
    name = magic.group(1) if magic else ""
    if name in ("run", "load_ext", "reload_ext", "aimport") and ("$" in line or "{" in line):
        found.why.append(COMPUTED_RUN)  # IPython expands $var and {expr} before the magic sees them
    elif name in _CD_MAGICS:
        found.why.append(CHDIR)
    elif magic and name in _PYTHON_LINE_MAGICS:
        extra.append(_after_options(magic.group(2), _PYTHON_LINE_MAGICS[name]))
    elif magic and name == "run":
        file, module = _run_target(magic.group(2))
        if file:
            found.runs.append(file)
        target = module or ""
    elif loading := _LOADING_MAGIC.match(line):
        target = loading.group(2)
    if target and all(p.isidentifier() for p in target.split(".")):
        return f"{indent}import {target}"
    return f"{indent}pass"


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
                 "SourceFileLoader": ("path", 1), "load_source": ("pathname", 1)}
#: Calls that import a module named by a dotted string (``pkg.mod:attr`` or ``pkg.mod.attr``).
_RESOLVERS = ("resolve_name", "locate")
_LOADERS = ("import_module", "__import__", "run_module", *_RESOLVERS, *_FILE_RUNNERS)


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
    if called not in _LOADERS:
        return
    args = {**dict(enumerate(node.args)), **{k.arg: k.value for k in node.keywords if k.arg}}
    if called in _RESOLVERS:  # pkgutil.resolve_name("pkg.mod:fn"), pydoc.locate("pkg.mod.fn")
        dotted = _literal(args.get(0, args.get("name" if called == "resolve_name" else "path")))
        if dotted is None:
            found.why.append(COMPUTED_IMPORT)
            return
        parts = dotted.replace(":", ".").split(".")
        found.names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        return
    if called in _FILE_RUNNERS:
        keyword, position = _FILE_RUNNERS[called]
        file = _literal(args.get(position, args.get(keyword)))
        if file is None:
            found.why.append(COMPUTED_IMPORT)
        else:
            found.runs.append(file)
        return
    name = _literal(args.get(0, args.get("name" if called != "run_module" else "mod_name")))
    if called == "run_module":
        if name is None:
            found.why.append(COMPUTED_IMPORT)
        else:
            found.names.add(name)
        return
    if called == "import_module":
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
    ``package``), and a call to ``os.chdir`` (or ``chdir``) to ``found.why``."""
    aliases = _aliases(tree)
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
            func = node.func
            if (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")) in ("chdir", "fchdir"):
                found.why.append(CHDIR)

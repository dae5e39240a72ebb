"""Notebook magics as the import scan reads them: one code cell as the Python sources it runs.

Magics that run Python are read as Python (the body of ``%%capture``, ``%%time``,
``%%python3``, ``%%script python``..., the statement of ``%time``/``%timeit``/``%prun``);
magics that load code read as imports (``%load_ext m``, ``%aimport m``, ``%run -m m``,
``%matplotlib module://m``, ``%env MPLBACKEND=module://m``) or
as files run (``%run FILE``); other cell magics and shell lines are not Python. The same
reading serves ``get_ipython().run_line_magic("run", "x.py")`` (:func:`line_magic`).
"""

from __future__ import annotations

import re
import shlex

from nbgov.services.review.scanned import CHDIR, COMPUTED_RUN, FileScan

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
#: Line magics that load a module by name into the kernel (any name: importlib loads
#: ``my-ext.py`` for ``%load_ext my-ext``; ``%aimport a, b`` loads both).
_LOADING_MAGIC = re.compile(r"^\s*%(load_ext|reload_ext|aimport)\s+(?:-\w+\s+)*(\S.*?)\s*$")
_LINE_MAGIC = re.compile(r"^\s*%(\w+)(.*)$")
#: Line magics that change the kernel's working folder.
CD_MAGICS = {"cd", "pushd", "popd"}
#: Line magics that load or run code, or change the working folder (a computed argument to
#: one of them: the conservative rule).
CODE_MAGICS = {"run", "load_ext", "reload_ext", "aimport", "matplotlib", "pylab", *CD_MAGICS, *_PYTHON_LINE_MAGICS}
#: Line magics that may name a matplotlib backend ``module://NAME``, which matplotlib imports
#: (``%matplotlib module://x``, ``%pylab module://x``, ``%env MPLBACKEND=module://x``).
_BACKEND_MAGICS = ("matplotlib", "pylab", "env", "set_env")
_BACKEND = re.compile(r"module://([^\s'\"]+)")
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


def cell_sources(src: str, found: FileScan) -> list[str]:
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
        return [*cell_sources(body, found), *([_after_options(line, opts)] if opts is not None else [])]
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
    backend = _BACKEND.search(line) if name in _BACKEND_MAGICS else None
    loads = name in ("run", "load_ext", "reload_ext", "aimport", "matplotlib", "pylab") or (
        name in _BACKEND_MAGICS and "MPLBACKEND" in line)
    if loads and ("$" in line or "{" in line):
        found.why.append(COMPUTED_RUN)  # IPython expands $var and {expr} before the magic sees them
    elif backend:  # matplotlib imports a `module://pkg.backend` backend by name
        target = backend.group(1)
    elif name in CD_MAGICS:
        found.why.append(CHDIR)
    elif name in ("env", "set_env") and "PYTHONPATH" in line:
        found.paths.computed = True  # a child Python's (or site.main()'s) sys.path: not followed
    elif magic and name in _PYTHON_LINE_MAGICS:
        extra.append(_after_options(magic.group(2), _PYTHON_LINE_MAGICS[name]))
    elif magic and name == "run":
        file, module = _run_target(magic.group(2))
        if file:
            found.runs.append(file)
        if module:  # `%run -m pkg` runs pkg/__main__.py when pkg is a package
            found.names.add(f"{module}.__main__")
        target = module or ""
    elif loading := _LOADING_MAGIC.match(line):
        target = loading.group(2)
    if names := [n.strip() for n in target.split(",") if n.strip()]:
        # a name no import statement spells (`my-ext`) is still a file importlib loads
        return indent + "; ".join(f"import {n}" if all(p.isidentifier() for p in n.split(".")) else f"__import__({n!r})"
                                  for n in names)
    return f"{indent}pass"




def line_magic(name: str, line: str, found: FileScan) -> list[str]:
    """The Python sources ``get_ipython().run_line_magic(NAME, LINE)`` (what IPython writes for
    ``x = %run f.py``) runs, read as the line ``%NAME LINE`` is."""
    extra: list[str] = []
    return [_magic_as_import(f"%{name} {line}", extra, found), *extra]

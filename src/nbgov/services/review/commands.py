"""Python a file starts in a child process, read statically (``ast``; no code run):
``subprocess.run([sys.executable, "tools/step.py"])`` (``call``, ``check_call``,
``check_output``, ``Popen``), ``os.system("python x.py")`` and a command string with
``shell=True``. The file the child runs is a review target like one ``runpy.run_path`` runs,
``-m MODULE`` an import, ``-c CODE`` Python scanned as such (docs/security.md, R4). A command
whose program is not literally a Python interpreter (or ``sys.executable``) is not followed:
shell commands are reviewed as code by their reader, like a notebook's ``!`` lines.
"""

from __future__ import annotations

import ast
import re
import shlex

from nbgov.services.review.scanned import COMPUTED_FILE, COMPUTED_IMPORT, FileScan

#: Calls that start a process from a list of words or a command line.
_SPAWNERS = ("run", "call", "check_call", "check_output", "Popen", "system", "popen", "getoutput",
             "getstatusoutput")
_PYTHON_PROGRAM = re.compile(r"^(python|pypy)[\d.]*$")
#: Interpreter options that take the next word as their value.
_VALUED = ("-W", "-X", "--check-hash-based-pycs")


def _words(node: ast.AST | None) -> list[str | None] | None:
    """A command as words (None for a computed one): a list or tuple of them, or a literal
    command line split as a shell would; None when the command is not known."""
    if isinstance(node, (ast.List, ast.Tuple)):
        out: list[str | None] = []
        for item in node.elts:
            if isinstance(item, ast.Attribute) and item.attr == "executable" and getattr(item.value, "id", "") == "sys":
                out.append("python")  # sys.executable: the kernel's interpreter
            elif isinstance(item, ast.Constant) and isinstance(item.value, str):
                out.append(item.value)
            else:
                out.append(None)
        return out
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            return list(shlex.split(node.value))
        except ValueError:
            return None
    return None


def _is_python(word: str | None) -> bool:
    return word is not None and bool(_PYTHON_PROGRAM.match(word.rsplit("/", 1)[-1]))


def python_child(node: ast.Call, found: FileScan) -> list[str]:
    """If ``node`` starts a Python interpreter, record what it runs in ``found`` (the file in
    ``runs``, ``-m`` modules in ``names``, a computed file or module in ``why``) and return the
    code it runs with ``-c`` (to be scanned as Python)."""
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if called not in _SPAWNERS:
        return []
    keywords = {k.arg: k.value for k in node.keywords if k.arg}
    words = _words(node.args[0] if node.args else keywords.get("args", keywords.get("command", keywords.get("cmd"))))
    if not words:
        return []
    if words[0] is not None and words[0].rsplit("/", 1)[-1] == "env":  # `env [-i] [A=1] python3 ...`
        words = words[1:]
        while words and words[0] is not None and (words[0].startswith("-") or "=" in words[0]):
            words = words[1:]
    if not words or not _is_python(words[0]):
        return []
    cwd = keywords.get("cwd")
    folder = cwd.value if isinstance(cwd, ast.Constant) and isinstance(cwd.value, str) else None
    if cwd is not None and folder is None:
        found.why.append(COMPUTED_FILE)  # relative names resolve in a folder the closure cannot read
        return []
    if folder is not None:  # the child's '' on sys.path (for -m and -c)
        found.paths.folders.append(folder)
    return _arguments(words[1:], folder, found)


def _arguments(words: list[str | None], folder: str | None, found: FileScan) -> list[str]:
    """The interpreter's arguments: options, then ``-c CODE``, ``-m MODULE`` or the file."""
    i = 0
    while i < len(words):
        word = words[i]
        if word is None or word == "-":  # a computed word, or a program read from stdin
            found.why.append(COMPUTED_FILE)
            return []
        if word.startswith(("-c", "-m")):
            value = word[2:] or (words[i + 1] if i + 1 < len(words) else None)
            if value is None:
                found.why.append(COMPUTED_IMPORT)
                return []
            if word.startswith("-c"):
                return [value]
            found.names.update((value, f"{value}.__main__"))
            if word.startswith("-m"):
                _module_arguments(words[i + (1 if word == "-m" else 0) + 1:], folder, found)
            return []
        if word.startswith("-"):
            i += 2 if word in _VALUED else 1
            continue
        found.runs.append(f"{folder}/{word}" if folder and not word.startswith("/") else word)
        return []
    return []


#: Arguments of ``-m MODULE`` that name a file a runner module runs (papermill, nbconvert,
#: jupytext, IPython, runpy take a notebook or script by its path).
_RUNNABLE = (".ipynb", ".py", ".ipy")


def _module_arguments(words: list[str | None], folder: str | None, found: FileScan) -> None:
    """``python -m MODULE ARGS``: MODULE may run any file ARGS name (``-m papermill sub.ipynb
    out.ipynb``), so a literal notebook or script is a run and a computed word the conservative
    rule (R4; sound over clever: ``-m pip install NAME`` sweeps too)."""
    for word in words:
        if word is None:
            found.why.append(COMPUTED_FILE)
        elif not word.startswith("-") and word.endswith(_RUNNABLE):
            found.runs.append(f"{folder}/{word}" if folder and not word.startswith("/") else word)

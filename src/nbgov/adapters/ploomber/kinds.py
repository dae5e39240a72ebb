"""From a rendered Ploomber task to nbgov's view of it: its kind (from the task's class, never
from a file suffix), the file that is reviewed, the function it calls, its database client.

Ploomber is only touched through the task objects handed in; nothing here imports a project's
modules again (a function task's file comes from the function object Ploomber already holds).
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path
from typing import Any

from nbgov.core.tasks import TaskKind, load_kinds


def class_names(cls: type) -> list[str]:
    """A class's MRO as names the kind registry matches: ``pkg.mod.Class`` then ``Class``."""
    names: list[str] = []
    for klass in cls.__mro__:
        if klass is object:
            continue
        names += [f"{klass.__module__}.{klass.__qualname__}", klass.__name__]
    return names


def task_kind(task: Any) -> TaskKind:
    """The kind of a rendered task, from its class (NotebookRunner: ``notebook`` for an .ipynb
    source, ``script`` for a .py / .R / .Rmd one read through jupytext)."""
    registry = load_kinds()
    kind = registry.for_class_names(class_names(type(task)))
    if kind.name == "notebook":
        loc = source_loc(task)
        if loc is not None and loc.suffix != ".ipynb":
            return registry.get("script")
    return kind


def source_loc(task: Any) -> Path | None:
    """The file a file-based source was loaded from, None for other sources."""
    try:
        loc = task.source.loc
    except Exception:  # sources without a location raise various errors
        return None
    if not loc:
        if type(task.source).__name__ != "FileSource":
            return None
        # tasks that move files (SQLUpload, UploadToS3) hold the rendered path as their source
        loc = str(task.source)
    path = Path(str(loc))
    return path if path.is_file() else None


def _callable(task: Any) -> Any | None:
    """The function a PythonCallable holds, without importing its module again (with hot
    reload on, ``source.primitive`` would re-import and reload it)."""
    source = task.source
    loader = getattr(source, "_callable_loader", None)
    if loader is not None:
        held = getattr(loader, "_primitive", None)
        if callable(held):
            return held
        module = sys.modules.get(getattr(loader, "module_name", "") or "")
        if module is not None:
            return getattr(module, getattr(loader, "fn_name", ""), None)
        return None
    primitive = getattr(source, "primitive", None)
    return primitive if callable(primitive) else None


def function_of(task: Any) -> tuple[str | None, Path | None]:
    """(dotted path, module file) of a function task's callable; (None, None) when unknown."""
    fn = _callable(task)
    if fn is None:
        return None, None
    fn = inspect.unwrap(fn)
    dotted = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', getattr(fn, '__name__', '?'))}"
    try:
        path = inspect.getsourcefile(fn) or inspect.getfile(fn)
    except TypeError:  # a builtin or a C function has no file
        return dotted, None
    return dotted, Path(path).resolve() if path else None


def source_file(task: Any, kind: TaskKind) -> Path | None:
    """The file versioned, reviewed and gated for a task; None when its kind has none."""
    if not kind.has_source_file and kind.name != "task":
        return None
    if kind.name == "function":
        return function_of(task)[1]
    loc = source_loc(task)
    return loc.resolve() if loc is not None else None


_PASSWORD_IN_URI = re.compile(r"(?P<head>[a-zA-Z][\w+.-]*://[^:/@\s]*:)(?P<secret>[^@\s]*)(?P<tail>@)")
_SECRET_KEYS = re.compile(r"(?i)(password|passwd|pwd|secret|token|api_?key)")


def redact_uri(uri: str) -> str:
    """A connection string with any password replaced by ``***`` (``user:***@host``, and
    ``password=...`` query values)."""
    uri = _PASSWORD_IN_URI.sub(lambda m: f"{m['head']}***{m['tail']}", uri)
    return re.sub(r"(?i)((?:password|passwd|pwd|secret|token|api_?key)=)[^&;\s]*", r"\1***", uri)


def _client_description(client: Any) -> str | None:
    """A client as a URI without secrets: SQLAlchemy URL, or ``dbapi:module.fn?key=value``."""
    if client is None:
        return None
    url = getattr(client, "_url_obj", None)
    if url is not None:
        try:
            return redact_uri(url.render_as_string(hide_password=True))
        except Exception:  # an old SQLAlchemy URL: its repr hides the password too
            return redact_uri(repr(url))
    connect = getattr(client, "connect_fn", None)
    kwargs = getattr(client, "connect_kwargs", None)
    if connect is not None:
        name = f"{getattr(connect, '__module__', '')}.{getattr(connect, '__name__', '')}".strip(".")
        args = "&".join(f"{k}={'***' if _SECRET_KEYS.search(str(k)) else v}"
                        for k, v in sorted((kwargs or {}).items()))
        return redact_uri(f"dbapi:{name}" + (f"?{args}" if args else ""))
    return None  # the local shell, storage clients, a MetaProduct's container: not a database


def client_uri(task: Any) -> str | None:
    """The task's database client (else its product's), as a URI with passwords redacted."""
    for owner in (task, getattr(task, "product", None)):
        if owner is None or "client" not in dir(type(owner)):
            continue
        try:
            client = owner.client
        except Exception:  # Ploomber raises MissingClientError when none is configured
            continue
        described = _client_description(client)
        if described:
            return described
    return None

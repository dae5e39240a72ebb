"""Task kinds: what a pipeline task runs, and what governance it gets.

Every task of a pipeline has a *kind*, taken from the class of the rendered task (the Ploomber
adapter maps classes to kinds; nothing guesses a kind from a file suffix). A kind says:

- whether the task executes a notebook through papermill (then nbgov's executor settings apply,
  and scraps, timings and the failing cell are read from the executed ``.ipynb``);
- whether the task has a source file of its own that is versioned, reviewed and gated.

Built-in kinds are registered first, then the ``nbgov.task_kinds`` entry-point group. A plug-in
package declares, in its pyproject.toml::

    [project.entry-points."nbgov.task_kinds"]
    acme = "acme_tasks:KINDS"

where ``KINDS`` is a :class:`TaskKind`, a list of them, or a callable returning either. Its
``classes`` name the task classes it covers (``"ClassName"`` or ``"package.module.ClassName"``).
A plug-in that fails to load, returns something else, or reuses a kind name is skipped with an
:class:`~nbgov.core.errors.NbgovWarning`.

Source versions (:func:`text_version`): ``.ipynb`` notebooks are versioned with ``nbv1``
(:mod:`nbgov.core.identity`: cells without outputs). Every other source file (``.py`` scripts
and modules, ``.sql``, ``.sh``, ...) gets ``srcv2:<sha256>`` of its exact bytes: Python and the
shells read those bytes (a coding cookie, a form feed, a CR inside a comment), so any reading
that drops or rewrites a byte would let two files that run differently share a version.
``srcv1`` (normalised text, before 2026-12) is still read from old ledgers and snapshots, but
a file's current version is never ``srcv1``, so its old approvals are stale once.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from nbgov.core.errors import NbgovWarning

ENTRY_POINT_GROUP = "nbgov.task_kinds"

#: The version algorithm of non-notebook source files: the SHA-256 of their exact bytes.
TEXT_ALGORITHM = "srcv2"

#: The former text algorithm (normalised text); old ledgers and snapshots still hold it.
LEGACY_TEXT_ALGORITHM = "srcv1"

#: Source suffixes versioned as notebooks (``nbv1``): read as cells, not as plain text. A
#: ``.py`` file is not one of them: jupytext's reading of it (cell titles in metadata, lines
#: split by str.splitlines) is not what Python runs.
NOTEBOOK_SOURCE_SUFFIXES = (".ipynb",)


@dataclass(frozen=True)
class TaskKind:
    """One kind of pipeline task.

    Attributes:
        name: the kind's name (``notebook``, ``function``, ``sql``...), shown to users.
        executes_notebook: the task runs a notebook with papermill (executor settings apply;
            evidence is the executed ``.ipynb``).
        has_source_file: the task has a source file that is versioned, reviewed and gated.
        classes: task class names this kind covers (``"SQLScript"`` or a dotted
            ``"pkg.mod.Class"``); the most derived match wins.
        description: one line for listings.
        origin: ``builtin`` or the plug-in that registered it.
    """

    name: str
    executes_notebook: bool
    has_source_file: bool
    classes: tuple[str, ...] = ()
    description: str = ""
    origin: str = "builtin"


#: The fallback for task classes no kind names.
GENERIC = TaskKind("task", False, False, (), "a task of another class (no notebook, no source file)")

BUILTIN_KINDS: tuple[TaskKind, ...] = (
    TaskKind("notebook", True, True, ("NotebookRunner",), "a Jupyter notebook (.ipynb) run by papermill"),
    # the same class as "notebook": the adapter tells them apart by the source's format
    TaskKind("script", True, True, (), "a py:percent or light script run as a notebook by papermill"),
    TaskKind("function", False, True, ("PythonCallable",), "a Python function (source: module.function)"),
    TaskKind("sql", False, True, ("SQLScript", "SQLDump", "SQLTransfer", "SQLRawTask"),
             "a SQL script run on a database client"),
    TaskKind("shell", False, True, ("ShellScript",), "a shell script"),
    TaskKind("script-runner", False, True, ("ScriptRunner",), "a Python script run by the interpreter"),
    TaskKind("upload", False, False, ("SQLUpload", "PostgresCopyFrom", "UploadToS3"),
             "uploads a local file (its source is data, not code)"),
    TaskKind("download", False, False, ("DownloadFromURL",), "downloads a URL"),
    TaskKind("link", False, False, ("Link",), "a product made outside the pipeline (never runs)"),
    TaskKind("input", False, False, ("Input",), "an input file of the pipeline (never runs)"),
    GENERIC,
)


class KindRegistry:
    """Task kinds by name, and the class names they cover."""

    def __init__(self, kinds: tuple[TaskKind, ...] | list[TaskKind] = ()) -> None:
        self._kinds: dict[str, TaskKind] = {}
        self._classes: dict[str, str] = {}
        for kind in kinds:
            self.add(kind)

    def add(self, kind: TaskKind) -> None:
        """Register a kind; ValueError when its name or one of its classes is taken."""
        if kind.name in self._kinds:
            raise ValueError(f"task kind {kind.name!r} is already registered by {self._kinds[kind.name].origin}")
        taken = [c for c in kind.classes if c in self._classes]
        if taken:
            raise ValueError(f"task class {taken[0]!r} already has the kind {self._classes[taken[0]]!r}")
        self._kinds[kind.name] = kind
        self._classes.update(dict.fromkeys(kind.classes, kind.name))

    def __iter__(self):
        return iter(self._kinds.values())

    def get(self, name: str) -> TaskKind:
        """The kind called ``name``; the generic kind when unknown."""
        return self._kinds.get(name, GENERIC)

    def for_class_names(self, names: list[str]) -> TaskKind:
        """The kind of a task class given its MRO as names, most derived first (each class as
        ``"pkg.mod.Class"`` then ``"Class"``); the generic kind when none matches."""
        for name in names:
            found = self._classes.get(name)
            if found is not None:
                return self._kinds[found]
        return GENERIC


def _plugin_kinds(obj: object) -> list[TaskKind]:
    if callable(obj) and not isinstance(obj, TaskKind):
        obj = obj()
    if isinstance(obj, TaskKind):
        return [obj]
    if isinstance(obj, list | tuple) and all(isinstance(k, TaskKind) for k in obj):
        return list(obj)
    raise TypeError(f"expected a TaskKind or a list of TaskKinds, got {type(obj).__name__}")


_REGISTRY: KindRegistry | None = None


def load_kinds(plugins: bool = True) -> KindRegistry:
    """The built-in kinds, then the ``nbgov.task_kinds`` plug-ins (a broken one warns and is
    skipped). Cached per process when ``plugins`` is true."""
    global _REGISTRY
    if plugins and _REGISTRY is not None:
        return _REGISTRY
    registry = KindRegistry(BUILTIN_KINDS)
    if plugins:
        from importlib.metadata import entry_points

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            origin = f"{ep.name} = {ep.value}"
            try:
                staged = KindRegistry(list(registry))
                for kind in _plugin_kinds(ep.load()):
                    staged.add(TaskKind(kind.name, kind.executes_notebook, kind.has_source_file,
                                        tuple(kind.classes), kind.description, f"plugin {origin}"))
            except Exception as exc:  # a broken plug-in must not stop a build
                warnings.warn(f"task-kind plug-in {origin!r} skipped: {type(exc).__name__}: {exc}",
                              NbgovWarning, stacklevel=2)
                continue
            registry = staged
        _REGISTRY = registry
    return registry


def normalise_text(text: str) -> str:
    """Source text as the legacy ``srcv1`` hashed it: LF line ends, trailing blank lines dropped."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def text_version(text: str) -> str:
    """The ``srcv2`` version of a non-notebook source file: the SHA-256 of its exact bytes
    (``text`` as strictly decoded from UTF-8, so encoding it gives those bytes back)."""
    return f"{TEXT_ALGORITHM}:{hashlib.sha256(text.encode('utf-8')).hexdigest()}"


def legacy_text_version(text: str) -> str:
    """The ``srcv1`` version of ``text`` (its normalised form): only to check old snapshots."""
    return f"{LEGACY_TEXT_ALGORITHM}:{hashlib.sha256(normalise_text(text).encode('utf-8')).hexdigest()}"


def is_text_version(version: str) -> bool:
    """Whether ``version`` versions a text source (``srcv2``, or the legacy ``srcv1``)."""
    return version.startswith((TEXT_ALGORITHM + ":", LEGACY_TEXT_ALGORITHM + ":"))


#: Characters that end or hide a line for some reader but not for others (str.splitlines,
#: terminals): a diff shows them escaped so a reviewer sees every byte that changed.
_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x85\u2028\u2029\ufeff]")


def visible_lines(text: str) -> list[str]:
    """``text`` split at LF only, other control characters shown as ``\\xNN`` / ``\\uNNNN``
    (a form feed or CR inside a comment is not a line end to Python or bash, and must not be
    hidden or turned into one by a diff)."""

    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return [_INVISIBLE.sub(escape, line) for line in text.split("\n")]


def is_notebook_source(path: str | Path) -> bool:
    """Whether a source file is versioned as a notebook (``nbv1``) rather than as text."""
    return Path(path).suffix in NOTEBOOK_SOURCE_SUFFIXES


def file_safe(name: str) -> str:
    """A task name as a file name: characters outside ``[A-Za-z0-9._-]`` become ``_``
    (grid names such as ``fit-[[model]]`` render to ``fit-rf``; a ``/`` must not make folders)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".")
    return safe or "_"


RECORD_SUFFIX = ".lineage.json"
EVIDENCE_SUFFIX = ".executed.ipynb"


def record_file(task: str, folder: str | Path) -> Path:
    """Where the lineage record of ``task`` lives in ``folder`` (one record per task)."""
    return Path(folder) / f"{file_safe(task)}{RECORD_SUFFIX}"


def evidence_file(task: str, folder: str | Path) -> Path:
    """nbgov's copy of the executed notebook of ``task`` (for notebook products that are not
    ``.ipynb``: html, md, pdf)."""
    return Path(folder) / f"{file_safe(task)}{EVIDENCE_SUFFIX}"

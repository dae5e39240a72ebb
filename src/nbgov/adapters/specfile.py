"""A light reader of Ploomber's ``pipeline.yaml``: tasks as plain data, without importing Ploomber.

Importing Ploomber costs about a second; ``nbgov check`` and a fast ``nbgov status`` only need
to know which tasks exist, their sources, products, params and upstream. This module reads
the YAML (PyYAML, imported lazily) and nothing else: no placeholders (``{{here}}``, env
values) are rendered, no sources are loaded, and ``upstream`` is only what the spec writes
(Ploomber can also extract it from the notebook: then it is None here).

Example::

    spec = read_spec("pipeline.yaml")
    for task in spec.tasks:
        print(task.name, task.source, task.product)
"""

from __future__ import annotations

import importlib.machinery
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from nbgov.core.errors import Location, PipelineError
from nbgov.core.params import check_task_param_names


@dataclass
class SpecTask:
    """One task of the spec, as written.

    Attributes:
        name: the task name; Ploomber's default is the source file's stem.
        source: the source as written (relative to the spec's folder for files).
        product: the product as written: a path string, or a dict such as ``{nb: ..., data: ...}``.
        params: the task's ``params`` (``{}`` when none).
        upstream: the names listed under ``upstream``, or None when the spec does not list them
            (Ploomber then reads them from the notebook's parameters cell).
        line: the 1-based line of the task in the spec file.
    """

    name: str
    source: str
    product: dict[str, Any] | str | None
    params: dict[str, Any] = field(default_factory=dict)
    upstream: list[str] | None = None
    line: int | None = None
    #: the task's ``class`` as written (None: Ploomber picks it from the source's suffix)
    cls: str | None = None
    #: the folder its relative paths are relative to (a partial's own folder), None: the spec's
    folder: Path | None = None
    #: whether ``product`` is a SQL relation written as a list (``[schema, name, kind]``), no file
    relation: bool = False

    @property
    def is_file(self) -> bool:
        """Whether the source names a file (not a dotted Python function path)."""
        return "/" in self.source or Path(self.source).suffix in {
            ".ipynb",
            ".py",
            ".sql",
            ".R",
            ".Rmd",
            ".md",
        }


@dataclass
class SpecFile:
    """A read pipeline spec.

    Attributes:
        path: the spec file.
        tasks: the tasks in spec order.
        meta: the spec's ``meta`` section (``{}`` when none).
    """

    path: Path
    tasks: list[SpecTask]
    meta: dict[str, Any] = field(default_factory=dict)
    #: ``location:`` (a DAG built in Python by this dotted factory): ``tasks`` is then empty,
    #: the tasks are known only once Ploomber has called the factory (the build plan has them)
    location: str | None = None

    @property
    def folder(self) -> Path:
        """The folder relative task sources and products are resolved against."""
        return self.path.parent

    def source_path(self, task: SpecTask) -> Path | None:
        """Absolute path of a task's source file, None for a dotted-path (function) source."""
        if not task.is_file:
            return None
        if Path(task.source).is_absolute():
            return Path(task.source)
        # with meta.source_loader, Ploomber reads every relative file source from its folder(s)
        return loader_path(task.source, loader_folders(self.meta, self.folder)) or (
            (task.folder or self.folder) / task.source
        ).resolve()

    def task(self, name: str) -> SpecTask:
        """The task called ``name``; PipelineError listing the known names otherwise."""
        for task in self.tasks:
            if task.name == name:
                return task
        known = ", ".join(t.name for t in self.tasks) or "none"
        raise PipelineError(f"unknown task {name!r} (tasks: {known})", Location(self.path))


#: Ploomber's names for the specs of one project: ``pipeline.yaml`` and the ``pipeline.NAME.yaml``
#: entry points ``ploomber build -e`` selects (rendered with ``env.NAME.yaml``)
_SPEC_NAME = re.compile(r"pipeline(\.[^/\\]+)?\.ya?ml")


_HOOK_LINE = re.compile(r"^[ \t-]*on_(?:render|finish|failure)[ \t]*:[ \t]*(\S*)", re.M)


def declares_own_hooks(spec_path: str | Path) -> bool:
    """Whether the spec (as text: no YAML parse, this is the no-op build's path) sets an
    ``on_render`` / ``on_finish`` / ``on_failure`` hook of the project's own, at its top level
    or on a task (nbgov's ``nbgov.hooks.*`` do not count); False when it cannot be read."""
    try:
        text = Path(spec_path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return any(not m.group(1).strip("'\"").startswith("nbgov.hooks.") for m in _HOOK_LINE.finditer(text))


def sibling_specs(spec_path: str | Path) -> list[Path]:
    """The project's other pipeline specs next to ``spec_path`` (``pipeline.yaml``,
    ``pipeline.serve.yaml``...: what ``-e`` builds), sorted; none when the spec is not named
    ``pipeline[.NAME].yaml``."""
    spec_path = Path(spec_path)
    if not _SPEC_NAME.fullmatch(spec_path.name):
        return []
    me = spec_path.resolve()
    return [p for p in sorted(spec_path.parent.glob("pipeline*.y*ml"))
            if _SPEC_NAME.fullmatch(p.name) and p.is_file() and p.resolve() != me]


#: What a package's ``__init__.py`` calls to take the folders of its name on the import path
#: into its ``__path__`` (pkgutil, pkg_resources): a namespace, though a regular package.
_EXTENDS_PATH = re.compile(r"\b(extend_path|declare_namespace)\b")


def extends_path(package_init: str | Path) -> bool:
    """Whether a package's ``__init__.py`` extends its ``__path__`` with every folder of its
    name on the import path (``pkgutil.extend_path``, ``pkg_resources.declare_namespace``):
    modules in a project folder of that name are then importable as its submodules. Read, not
    imported: a mention counts (a wrong yes only adds review targets)."""
    try:
        return bool(_EXTENDS_PATH.search(Path(package_init).read_text(errors="replace")))
    except OSError:
        return False


def module_file(module: str, root: Path) -> Path | None:
    """The file of a module, searched in ``root`` then on ``sys.path``, without importing it."""
    parts = module.split(".")
    search: list[str] | None = [str(root), *sys.path]
    spec = None
    for depth in range(len(parts)):
        try:
            # by its last part in the parent's folders: the full name of a module inside a namespace
            # package would make importlib look its parent up in sys.modules (KeyError, not imported)
            spec = importlib.machinery.PathFinder.find_spec(parts[depth], search)
        except (ImportError, ValueError, KeyError):
            return None
        if spec is None:
            return None
        locations = list(spec.submodule_search_locations or [])
        if locations and spec.origin and extends_path(spec.origin):
            # a pkgutil-style namespace (`databricks`): its __init__ appends every folder of its
            # name on the search path to its __path__, the project's too
            locations += [str(Path(f) / parts[depth]) for f in search
                          if f and (Path(f) / parts[depth]).is_dir() and str(Path(f) / parts[depth]) not in locations]
        search = locations
    if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
        return None
    return Path(spec.origin).resolve()


def module_folder(module: str, root: Path) -> Path | None:
    """The folder of a package or module, searched in ``root`` then on ``sys.path``, without
    importing it (a dotted name such as ``my_project.sql``)."""
    found = module_file(module, root)
    return found.parent if found else None


def loader_folders(meta: dict[str, Any], root: Path) -> list[Path] | None:
    """The folders ``meta.source_loader`` reads relative sources from (Ploomber's
    ``SourceLoader(path, module)``: ``path`` under the ``module``'s folder when both are given,
    ``path`` relative to the spec's folder otherwise); None without a source loader."""
    loader = meta.get("source_loader") if isinstance(meta, dict) else None
    if not isinstance(loader, dict):
        return None
    paths = loader.get("path")
    paths = [paths] if isinstance(paths, str) else [str(p) for p in paths or []] or [""]
    base = root
    if isinstance(loader.get("module"), str):
        found = module_folder(loader["module"], root)
        if found is None:
            return []
        base = found
    return [(base / p).resolve() for p in paths]


def loader_path(source: str, folders: list[Path] | None) -> Path | None:
    """Where a source loader finds ``source``: the first folder holding it (else the first
    folder, so that a missing file is named where it was looked for); None without a loader."""
    if folders is None:
        return None
    for folder in folders:
        if (folder / source).exists():
            return folder / source
    return folders[0] / source if folders else None


def _loader() -> type:
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class LineLoader(base):  # type: ignore[misc, valid-type]
        """SafeLoader that remembers the line each mapping starts on (key ``__line__``)."""

    def construct_mapping(loader: Any, node: Any, deep: bool = False) -> dict:
        mapping = yaml.SafeLoader.construct_mapping(loader, node, deep=deep)
        mapping["__line__"] = node.start_mark.line + 1
        return mapping

    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return LineLoader


def _strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_lines(v) for k, v in value.items() if k != "__line__"}
    if isinstance(value, list):
        return [_strip_lines(v) for v in value]
    return value


def read_spec(path: str | Path) -> SpecFile:
    """Read a Ploomber pipeline spec into plain data; PipelineError says what and where.

    Args:
        path: the ``pipeline.yaml`` file.

    Returns:
        A :class:`SpecFile` whose ``tasks`` are :class:`SpecTask` records.
    """
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PipelineError(
            "pipeline spec not found",
            Location(path),
            hint="create pipeline.yaml or set `pipeline` in nbgov.toml",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PipelineError(f"cannot read the pipeline spec: {exc}", Location(path)) from None
    try:
        data = yaml.load(text, Loader=_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PipelineError(f"not valid YAML: {problem}", Location(path, line=line)) from None
    if isinstance(data, list):
        data = {"tasks": data}  # Ploomber accepts a bare list of tasks
    if isinstance(data, dict) and isinstance(data.get("location"), str) and "tasks" not in data:
        meta = _strip_lines(data.get("meta") or {})
        return SpecFile(path=path, tasks=[], meta=meta if isinstance(meta, dict) else {},
                        location=data["location"])
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), list):
        raise PipelineError(
            "no `tasks:` list in the pipeline spec",
            Location(path),
            hint="see https://docs.ploomber.io/en/latest/api/spec.html",
        )
    tasks = [_task(path, raw, index) for index, raw in enumerate(data["tasks"])]
    meta = _strip_lines(data.get("meta") or {})
    tasks += _partial_tasks(path, meta if isinstance(meta, dict) else {}, len(tasks))
    return SpecFile(path=path, tasks=tasks, meta=meta if isinstance(meta, dict) else {})


def _partial_tasks(path: Path, meta: dict[str, Any], start: int) -> list[SpecTask]:
    """The tasks of ``meta.import_tasks_from`` (a partial), whose relative sources are relative
    to the partial's folder (as Ploomber reads them); none when it is missing or templated
    (loading the pipeline names that problem)."""
    import yaml

    value = meta.get("import_tasks_from")
    if not isinstance(value, str) or "{{" in value:
        return []
    partial = Path(value) if Path(value).is_absolute() else path.parent / value
    try:
        data = yaml.load(partial.read_text(encoding="utf-8"), Loader=_loader())  # noqa: S506
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    if not isinstance(data, list):
        return []
    out = []
    for index, raw in enumerate(data):
        task = _task(partial, raw, start + index)
        task.folder = partial.parent
        out.append(task)
    return out


def _default_name(source: str) -> str:
    """Ploomber's name for a task without ``name``: a file's stem, a function's own name
    (``tasks.raw.get`` is ``get``)."""
    probe = SpecTask(name="", source=source, product=None)
    if not probe.is_file and "." in source:
        return source.rsplit(".", 1)[1]
    return PurePosixPath(source.replace("\\", "/")).stem


def _task(path: Path, raw: Any, index: int) -> SpecTask:
    if not isinstance(raw, dict):
        raise PipelineError(f"task {index + 1} is not a mapping", Location(path))
    line = raw.get("__line__")
    raw = _strip_lines(raw)
    source = raw.get("source")
    if not isinstance(source, str) or not source:
        raise PipelineError(f"task {index + 1} has no `source`", Location(path, line=line))
    name = raw.get("name") or _default_name(source)
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        raise PipelineError(f"task {name!r}: `params` must be a mapping", Location(path, line=line))
    check_task_param_names(str(name), params, raw.get("grid"), Location(path, line=line))
    upstream = raw.get("upstream")
    if isinstance(upstream, str):
        upstream = [upstream]
    elif upstream is not None and not isinstance(upstream, list):
        raise PipelineError(
            f"task {name!r}: `upstream` must be a list of task names", Location(path, line=line)
        )
    product = raw.get("product")
    relation = isinstance(product, list)
    if relation:
        # a SQL relation ([schema, name, kind] or [name, kind]): no file; kept as its dotted name
        product = ".".join(str(p) for p in product)
    if product is not None and not isinstance(product, str | dict):
        raise PipelineError(
            f"task {name!r}: `product` must be a path, a mapping or a SQL relation list",
            Location(path, line=line),
        )
    cls = raw.get("class")
    return SpecTask(
        name=str(name), source=source, product=product, params=params, upstream=upstream, line=line,
        cls=cls if isinstance(cls, str) else None, relation=relation,
    )

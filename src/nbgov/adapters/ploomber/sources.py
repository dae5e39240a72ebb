"""Task sources as a spec writes them: which ones name files and which name functions, where
they live, and one-line errors when they do not exist. Partials (``meta.import_tasks_from``) are
followed; their relative sources are relative to the partial's folder, as in Ploomber.

:func:`source_files` imports neither Ploomber nor the project, so ``nbgov review status`` can
list every task's source file without paying for it; :func:`check_sources` imports a function
task's module (Ploomber does the same when it loads the spec).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import inspect
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from nbgov.adapters.notebooks import read_notebook
from nbgov.adapters.specfile import loader_folders, loader_path, module_file
from nbgov.core.errors import Location, PipelineError
from nbgov.core.identity import injected_cells
from nbgov.core.params import check_task_param_names

#: Ploomber 0.23's ``suffix2taskclass``: a source with one of these suffixes is a file.
FILE_SUFFIXES = (".py", ".R", ".Rmd", ".r", ".ipynb", ".sql", ".sh")

#: Task classes whose source is a file Ploomber reads as a notebook (damage is reported early).
NOTEBOOK_CLASSES = ("NotebookRunner", "ScriptRunner")


@dataclass
class RawTask:
    """One task entry of a spec or partial, as written.

    Attributes:
        spec: the task's mapping.
        index: 1-based position among all tasks (partial tasks follow the spec's own).
        origin: the YAML file that declares it (sources are relative to its folder).
    """

    spec: dict[str, Any]
    index: int
    origin: Path
    #: the folders of ``meta.source_loader`` (None without one): relative file sources live there
    loader: list[Path] | None = None

    @property
    def source(self) -> str:
        return str(self.spec.get("source", ""))

    @property
    def is_function(self) -> bool:
        """Whether the source is a dotted path to a function (Ploomber's own rule: an explicit
        ``class: PythonCallable``, else no file suffix, no ``/`` and a dot)."""
        cls = self.spec.get("class")
        if cls:
            return cls == "PythonCallable"
        s = self.source
        return Path(s).suffix not in FILE_SUFFIXES and "/" not in s and "\\" not in s and "." in s

    @property
    def path(self) -> Path | None:
        """The source file (absolute), None for a function or a templated source."""
        if self.is_function or "{{" in self.source or not self.source:
            return None
        p = Path(self.source)
        if p.is_absolute():
            return p
        return loader_path(self.source, self.loader) or (self.origin.parent / p).resolve()


def read_yaml(path: Path) -> Any:
    """A YAML file as data; PipelineError naming the file (and line) when it is not YAML."""
    return _yaml_file(path)


def _yaml_file(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise PipelineError(f"not valid YAML: {getattr(exc, 'problem', exc)}",
                            Location(path, line=mark.line + 1 if mark else None)) from None
    except OSError as exc:
        raise PipelineError(f"cannot read: {exc.strerror}", Location(path)) from None


def partial_path(raw: dict[str, Any], spec_path: Path) -> Path | None:
    """The partial a spec imports tasks from (``meta.import_tasks_from``), if any."""
    meta = raw.get("meta") if isinstance(raw.get("meta"), dict) else {}
    value = meta.get("import_tasks_from")
    if not value:
        return None
    p = Path(str(value))
    return p if p.is_absolute() else (spec_path.parent / p)


def raw_tasks(raw: dict[str, Any], spec_path: Path) -> list[RawTask]:
    """Every task the spec declares, its own then its partial's.

    Raises:
        PipelineError: the partial is missing, not YAML, or not a list of tasks.
    """
    loader = loader_folders(raw.get("meta") or {}, spec_path.parent)
    own = raw.get("tasks") or []
    tasks = [RawTask(t if isinstance(t, dict) else {"source": t} if isinstance(t, str) else t, i + 1, spec_path,
                     loader) for i, t in enumerate(own if isinstance(own, list) else [])]
    partial = partial_path(raw, spec_path)
    if partial is not None:
        if not partial.is_file():
            raise PipelineError(f"import_tasks_from: {partial.name} does not exist", Location(spec_path),
                                hint="fix meta.import_tasks_from (relative to the spec's folder)")
        imported = _yaml_file(partial)
        if not isinstance(imported, list) or not imported:
            raise PipelineError("a partial (import_tasks_from) must be a non-empty list of tasks",
                                Location(partial))
        start = len(tasks)
        tasks += [RawTask(t if isinstance(t, dict) else {"source": t} if isinstance(t, str) else t,
                          start + i + 1, partial.resolve(), loader) for i, t in enumerate(imported)]
    return tasks


def source_files(spec_path: str | Path) -> list[Path]:
    """The existing source files of every task in a spec: notebooks, scripts, .sql/.sh files,
    and the module file of each function task. Cheap: no Ploomber, no project import. Errors
    in the spec are ignored here (loading the pipeline reports them)."""
    spec_path = Path(spec_path).resolve()
    try:
        raw = _yaml_file(spec_path)
        tasks = raw_tasks(raw, spec_path) if isinstance(raw, dict) else []
    except PipelineError:
        return []
    out: list[Path] = []
    if isinstance(raw, dict) and isinstance(raw.get("location"), str):
        # a DAG built in Python: the factory's module is the source nbgov can see without
        # calling it (the build plan adds the tasks' own sources)
        found = module_file(raw["location"].rsplit(".", 1)[0], spec_path.parent)
        return [found] if found is not None and found.is_file() else []
    for task in tasks:
        if not isinstance(task.spec, dict) or "{{" in task.source:
            continue
        if task.is_function:
            found = module_file(task.source.rsplit(".", 1)[0], spec_path.parent)
        else:
            found = task.path
        if found is not None and found.is_file():
            out.append(found)
    return list(dict.fromkeys(out))


def check_location(location: Any, spec_path: Path) -> None:
    """A ``location:`` spec names a factory function that exists (imported from the spec's
    folder, as Ploomber does).

    Raises:
        PipelineError: not a dotted path, or its module or function is missing or broken.
    """
    if not isinstance(location, str) or "." not in location:
        raise PipelineError(f"location: {location!r} is not a dotted path to a function",
                            Location(spec_path), hint="write `location: package.module.make_dag`")
    check_function(RawTask({"source": location}, 1, spec_path), spec_path.parent, what="location")


def check_sources(tasks: list[RawTask], root: Path, extract_product: bool = False) -> None:
    """One-line errors, before Ploomber sees the spec, for a task source that does not exist: a
    missing file, a damaged notebook, a dotted path whose module or function is not there.

    Raises:
        PipelineError: naming the task, what is wrong and what to do.
    """
    # an upload's source is another task's product (SQLUpload reads the CSV an upstream
    # writes): it need not exist before the build
    produced = set()
    for task in tasks:
        product = task.spec.get("product") if isinstance(task.spec, dict) else None
        for value in (product.values() if isinstance(product, dict) else [product]):
            if isinstance(value, str):
                produced.add((root / value).resolve())
    for task in tasks:
        where = Location(task.origin)
        if not isinstance(task.spec, dict) or "source" not in task.spec:
            raise PipelineError(f"task #{task.index} has no 'source'", where)
        if "product" not in task.spec and not extract_product:
            raise PipelineError(f"task {task.source!r} declares no product", where,
                                hint="add `product: {nb: products/NAME.ipynb}` (notebooks) or `product: PATH`")
        # papermill writes each parameter as `name = value` code: a name must be an identifier
        check_task_param_names(str(task.spec.get("name") or PurePosixPath(task.source).stem), task.spec.get("params"),
                               task.spec.get("grid"), where)
        if "{{" in task.source:
            continue  # a placeholder: Ploomber renders it, and reports what is missing
        if task.is_function:
            check_function(task, root)
            continue
        path = task.path
        if path is None:
            continue
        if not path.exists() and path.resolve() not in produced:
            hint = (f"fix the path in {task.origin.name} (relative to its folder)" if task.loader is None
                    else f"fix the path in {task.origin.name} (relative to meta.source_loader: {path.parent})")
            raise PipelineError(f"task #{task.index}: source {task.source!r} does not exist", where, hint=hint)
        cls = task.spec.get("class")
        if path.is_file() and path.suffix in (".ipynb", ".py") and (cls is None or cls in NOTEBOOK_CLASSES):
            # a damaged notebook is named with what is wrong (Ploomber's own message blames
            # pipeline.yaml and gives no reason)

            refuse_injected_cells(read_notebook(path), path, task)


def refuse_injected_cells(nb: dict[str, Any], path: Path, task: RawTask) -> None:
    """Refuse a task's source notebook holding a cell tagged ``injected-parameters``.

    Papermill replaces only the first such cell with the run's values; any other one runs as
    it is. The notebook version leaves out the first one, so code there would run under an
    approval nobody gave for it: the build stops before any task runs.

    Raises:
        PipelineError: naming the file and the cell (0-based, as every Location).
    """
    cells = injected_cells(nb)
    if cells:
        more = f" (and {len(cells) - 1} more)" if len(cells) > 1 else ""
        raise PipelineError(
            f"task #{task.index}: source notebook holds a cell tagged 'injected-parameters'{more}: "
            "its code would run unreviewed", Location(path, cell=cells[0]),
            hint="delete the cell (or `ploomber nb --remove`); the build injects parameters itself")


def check_function(task: RawTask, root: Path, what: str = "") -> None:
    """Import a function task's module (from the spec's folder, as Ploomber does) and check the
    function is there.

    Raises:
        PipelineError: the module does not exist, fails to import, or lacks the function.
    """
    dotted = task.source
    where = Location(task.origin)
    label = what or f"task #{task.index}"
    module_name, _, attr = dotted.rpartition(".")
    if not module_name or not attr:
        raise PipelineError(f"{label}: {dotted!r} is neither a file nor module.function",
                            where, hint="a function task's source is a dotted path such as tasks.raw.get")
    found = module_file(module_name, root)
    if found is None:
        expected = Path(*module_name.split(".")).with_suffix(".py")
        raise PipelineError(f"{label}: function {dotted!r}: no module named {module_name!r}",
                            where, hint=f"create {expected} next to {task.origin.name}, or fix the dotted path "
                            "(module.function, relative to the spec's folder or an installed package)")
    # Ploomber imports it when it loads the spec: importing it first names what is wrong
    _forget_other(module_name, found)
    added = str(root) not in sys.path
    if added:
        sys.path.insert(0, str(root))
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        frame = next((f for f in reversed(traceback.extract_tb(exc.__traceback__))
                      if Path(f.filename).resolve() == found), None)
        raise PipelineError(f"{label}: importing {module_name} failed: {type(exc).__name__}: {exc}",
                            Location(found, line=frame.lineno if frame else None),
                            hint="fix the module so that `import " + module_name + "` works") from None
    finally:
        if added:
            sys.path.remove(str(root))
    if not callable(getattr(module, attr, None)):
        functions = sorted(n for n, v in vars(module).items() if inspect.isfunction(v) and not n.startswith("_")
                           and v.__module__ == module.__name__)
        hint = f"{found.name} defines: {', '.join(functions)}" if functions else f"define {attr}() in {found.name}"
        raise PipelineError(f"{label}: function {dotted!r} not found: {module_name} has no "
                            f"function {attr!r}", Location(found), hint=hint)


def _forget_other(module_name: str, found: Path) -> None:
    """Drop a cached module of the same name from another project (a long-lived process that
    loads two projects with a ``tasks`` package must not run the first one's functions)."""
    cached = sys.modules.get(module_name)
    file = getattr(cached, "__file__", None)
    if cached is None or (file and Path(file).resolve() == found):
        return
    top = module_name.split(".")[0]
    for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
        del sys.modules[name]

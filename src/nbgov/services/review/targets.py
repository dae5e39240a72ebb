"""Review targets: every file whose content can change what a production build executes.

The closure, found statically (no Ploomber import, no project code run):

- the pipeline spec, the partial it imports tasks from (``meta.import_tasks_from``) and the env
  file Ploomber renders it with (``env.NAME.yaml`` for ``pipeline.NAME.yaml``, else ``env.yaml``);
  for ``review status`` and ``gate``, the same for the project's other specs next to it
  (``pipeline.serve.yaml``..., what ``nbgov build -e`` builds); a build's gate takes its own;
- every task's source of every kind (notebook, script, SQL, shell, the module of a function);
- the modules of the hooks, clients, executor and (un)serializers the spec names by dotted path,
  at its top level or in a task;
- the project's own Python modules that any of these import (``ast``, transitively, relative
  imports resolved, packages' ``__init__.py`` included), searched from the importing file's
  folder, the folders any file of the closure adds to ``sys.path`` with literal strings
  (:mod:`.syspath`; inside the project), then the spec's folder, kept only inside the project
  (never a virtualenv);
- every ``.pth`` file of a folder given to ``site.addsitedir`` (what its lines import or add);
- every module importable by name from the folders first on a kernel's import path (the root,
  the spec's folder, a Python task source's folder, a task's papermill ``cwd``, a folder a file of the
  closure puts on ``sys.path``, the folder of a file ``%run`` runs), and what it
  imports: any library may import it, lazily (:mod:`.shadows`);
- every Python module of the project when a file of the closure does what the closure cannot
  follow: changes ``sys.path`` with a computed value, imports a module by a computed name,
  changes the working folder, ``%run $var`` (:mod:`.imports_scan`; docs/security.md, R4).

Each target has a version of its meaning (:func:`nbgov.adapters.notebooks.content_version`):
``nbv1`` for ``.ipynb`` notebooks, ``srcv2`` (the exact bytes) for the rest, ``.py`` included. The review
status, ``review gate`` and the build's approval gate cover all of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbgov.adapters.ploomber.sources import RawTask, partial_path, raw_tasks, read_yaml
from nbgov.adapters.specfile import module_file, sibling_specs
from nbgov.core.config import Config
from nbgov.core.errors import PipelineError
from nbgov.services.review import imports_scan, shadows
from nbgov.services.review.folders import in_environment, sweep
from nbgov.services.review.nbconvert_files import NbconvertInputs, exporter_name, nbconvert_inputs
from nbgov.services.review.placeholders import Resolver, dotted_values, resolved_meta
from nbgov.services.review.placeholders import dotted as _dotted
from nbgov.services.review.scanned import ANY_FILE
from nbgov.services.review.spec_kernels import refused_kernel_options

#: Spec keys naming Python objects by dotted path (top level, and in a task).
SPEC_DOTTED = ("location", "on_render", "on_finish", "on_failure", "executor", "serializer", "unserializer")
TASK_DOTTED = ("on_render", "on_finish", "on_failure", "client", "product_client", "serializer",
               "unserializer")
#: Packages that govern the build rather than belong to it (nbgov's own hooks in a spec, even
#: when nbgov is installed from a folder inside the project, as in its own repository).
TOOL_PACKAGES = frozenset({"nbgov"})
#: Task sources run as Python by a kernel or interpreter (their folders are on its import path).
_PYTHON = (".ipynb", ".py")
#: What ``%run`` or ``runpy.run_path`` run besides ``.py`` modules, for the conservative rule.
_RUNNABLE = ("", ".ipy", ".ipynb")


@dataclass(frozen=True)
class Target:
    """One review target: a project-relative POSIX path and why it is one."""

    path: str
    why: str


def _inside(path: Path | None, root: Path) -> bool:
    # a module found on the environment's import path (a virtualenv inside the project) is the
    # environment's; node_modules/, venv/, __pycache__/ are folders like others (:mod:`.folders`)
    if path is None or not path.is_file() or not path.resolve().is_relative_to(root):
        return False
    return not in_environment(path.resolve().parent, root)


def _in_project(path: Path | None, root: Path) -> bool:
    """Whether a file the spec names explicitly is inside the project (its real path: a symlink
    leaving the project is not). Unlike :func:`_inside`, folders named like virtualenvs count:
    Ploomber runs a named source or module wherever it is (R4)."""
    if path is None or not path.is_file():
        return False
    return path.resolve().is_relative_to(root)


class _Finder:
    """``module_file`` once per (module, folder) in one look at the project: an import is found
    by searching ``sys.path``, and the same names recur in every notebook (not kept longer: a
    module created later must be found). Tool packages are never targets."""

    def __init__(self) -> None:
        self.cache: dict[tuple[str, Path], Path | None] = {}

    def __call__(self, name: str, folder: Path) -> Path | None:
        key = (name, folder)
        if key not in self.cache:
            tool = name.split(".")[0] in TOOL_PACKAGES
            self.cache[key] = None if tool else module_file(name, folder)
        return self.cache[key]


def _module_path(dotted: str, folders: list[Path], _find: _Finder) -> Path | None:
    """The file of ``dotted`` as a module, else of its parent module (``pkg.mod.func``)."""
    for name in (dotted, dotted.rsplit(".", 1)[0]):
        for folder in folders:
            found = _find(name, folder)
            if found is not None:
                return found
    return None


def _packages(path: Path, root: Path) -> list[Path]:
    """The ``__init__.py`` files Python runs before ``path`` (its packages inside the project)."""
    out, folder = [], path.parent
    while folder != root and folder.is_relative_to(root) and (folder / "__init__.py").is_file():
        out.append(folder / "__init__.py")
        folder = folder.parent
    return out


def _added_folders(current: Path, written: list[str], root: Path) -> list[Path]:
    """The project folders a literal ``sys.path`` entry names: relative to the file's folder
    (a notebook's kernel starts there) or to the project root; never outside the project."""
    out = []
    for entry in written:
        for base in (current.parent, root):
            folder = (base / entry).resolve()
            if folder.is_dir() and folder.is_relative_to(root) and not in_environment(folder, root):
                out.append(folder)
    return out


def _close(start: dict[Path, str], root: Path, spec_folder: Path, _find: _Finder,
           problems: list[str]) -> dict[Path, str]:
    """``start`` and every project module they import, transitively (path -> why), searching
    also the folders the closure adds to ``sys.path`` (again from the start while that list
    grows: sys.path is the kernel's, whichever file changed it)."""
    added: dict[Path, str] = {}
    importable: dict[Path, str] = {}
    while True:
        found, more, computed = _close_once({**importable, **start}, root, spec_folder, _find, list(added),
                                            problems)
        if computed:  # what the closure cannot follow: every module (or file %run runs) may run
            why = f"any project module: {computed[0]}"
            any_file = any(reason.endswith(ANY_FILE) for reason in computed)
            for module in sorted(p.resolve() for p in _all_modules(root, any_file)):
                found.setdefault(module, why)
            return found
        # a folder added to sys.path (or a %run file's, which IPython prepends while it runs)
        # comes before site-packages: every module importable by name there may run (R4)
        shadowing = {p: f"{why} ({rel} puts that folder on sys.path)" for folder, rel in added.items()
                     for p, why in _importable([folder], root, problems).items() if p not in found}
        if set(more) <= set(added) and set(shadowing) <= set(importable):
            return found
        added.update(more)
        importable.update(shadowing)


def _close_once(start: dict[Path, str], root: Path, spec_folder: Path, _find: _Finder, extra: list[Path],
                problems: list[str]) -> tuple[dict[Path, str], dict[Path, str], list[str]]:
    found = dict(start)
    queue = [p for p in start if p.suffix in (".py", ".ipynb", ".pth")]
    added: dict[Path, str] = {}
    computed: list[str] = []
    while queue:
        current = queue.pop()
        inits = _packages(current, root)  # innermost first: the file's package, its parents
        # a task source (why "source of ..."): Ploomber runs a .py one as jupytext's notebook
        script = start.get(current, "").startswith("source of")
        scan = imports_scan.scan_file(current, ".".join(p.parent.name for p in reversed(inits)), script)
        changes, names = scan.paths, scan.names
        rel = current.relative_to(root).as_posix()
        for ran in scan.runs:  # %run FILE: relative to the kernel's folder (the notebook's) or the root
            for base in dict.fromkeys([current.parent, spec_folder, root]):
                # IPython adds .py when missing; runpy runs a folder's __main__.py
                # (imp.load_package runs a folder's __init__.py)
                for path in (base / ran, base / f"{ran}.py", base / ran / "__main__.py", base / ran / "__init__.py"):
                    if _inside(path, root) and (path := path.resolve()) not in found:
                        found[path] = f"run by {rel}"
                        added.setdefault(path.parent, rel)  # on sys.path while it runs
                        if not _binary(path, f"{rel} runs", root, problems):
                            queue.append(path)  # any file: %run runs .ipy and suffix-less files too
        for loaded in scan.binaries:  # SourcelessFileLoader, ctypes.CDLL, zipimporter: code that is not text
            for base in dict.fromkeys([current.parent, spec_folder, root]):
                if _inside(path := base / loaded, root):
                    _unreviewable(path.resolve(), f"{rel} loads", "bytecode, a native library or an archive",
                                  root, problems)
                    found.setdefault(path.resolve(), f"loaded by {rel} (not as text)")
        computed += [f"{rel} {why}" for why in scan.why]
        if changes.computed:
            computed.append(f"{rel} changes sys.path with a computed value")
        for archive in _added_archives(current, changes.folders, root):  # zipimport runs its modules
            # whatever its bytes: a zip archive can be made of ASCII bytes only (text to a reader)
            _unreviewable(archive, f"{rel} puts on sys.path", "a file on sys.path (zipimport imports from it)",
                          root, problems)
            found.setdefault(archive, f"a zip archive {rel} puts on sys.path")
        for folder in _added_folders(current, changes.folders, root):
            added.setdefault(folder, rel)
        for folder in _added_folders(current, changes.sitedirs, root):  # site runs each .pth there
            for pth in sorted(folder.glob("*.pth")):
                if _inside(pth, root) and (pth := pth.resolve()) not in found:
                    found[pth] = f"a .pth file site.addsitedir in {rel} runs"
                    queue.append(pth)
        for name in sorted(names):
            # the file's folder, the folders added to sys.path, the spec's and the root: which
            # copy runs depends on the kernel's working folder and the order of its import path
            # (the root's '' comes before a folder appended to it), so every copy is a target
            copies = {m for f in dict.fromkeys([current.parent, *extra, spec_folder, root])
                      if _inside(m := _find(name, f), root)}
            for module in sorted(copies):
                for path in [*_packages(module, root), module]:
                    path = path.resolve()
                    if path not in found:
                        found[path] = f"imported by {rel}"
                        queue.append(path)
    return found, added, computed


def _all_modules(root: Path, any_file: bool = False) -> list[Path]:
    """Every ``.py`` file of the project (:func:`folders.sweep`: hidden folders too; not ``.git``,
    nor what git ignores and does not track: an installed virtualenv or ``node_modules``);
    with ``any_file``, also every file ``%run`` or ``runpy.run_path`` could run (``.ipy``,
    notebooks, files with no suffix that are text)."""
    def runnable(path: Path) -> bool:
        return path.suffix in _RUNNABLE and path.is_file() and _text(path)
    return sweep(root, runnable if any_file else None)


def _binary(path: Path, what: str, root: Path, problems: list[str]) -> bool:
    """Whether ``path`` is not text (a zip archive Python runs or imports from); if so, a problem:
    a review target is versioned as text, so its code cannot be reviewed (R4). It is a target
    too: every gate then refuses it (it has no version to approve), whoever asks for targets."""
    if _text(path) or not path.is_file():
        return False
    problem = (f"{what} {path.relative_to(root).as_posix()}, which is not text (a zip archive?): its code "
               "cannot be reviewed; unpack it into a project folder or install it as a dependency")
    if problem not in problems:
        problems.append(problem)
    return True


def _unreviewable(path: Path, what: str, kind: str, root: Path, problems: list[str]) -> None:
    """Add to ``problems`` that ``path``, which Python loads as ``kind`` (an archive, bytecode,
    a native library), cannot be reviewed, whatever its bytes: its code is not its text (R4)."""
    problem = (f"{what} {path.relative_to(root).as_posix()}, {kind}: its code cannot be reviewed; unpack "
               "it into a project folder or install it as a dependency")
    if problem not in problems:
        problems.append(problem)


def _text(path: Path) -> bool:
    try:
        path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False  # Python cannot run it (or it is a zip archive: docs/security.md R4, limits)
    return True


def _added_archives(current: Path, written: list[str], root: Path) -> list[Path]:
    """The project files (zip archives) a literal ``sys.path`` entry names."""
    out = []
    for entry in written:
        for base in (current.parent, root):
            path = base / entry
            if _inside(path, root):
                out.append(path.resolve())
    return out


def _env_file(spec_path: Path) -> Path:
    stem = spec_path.stem  # Ploomber's rule: env.{name}.yaml for pipeline.{name}.yaml
    if stem.startswith("pipeline.") and (spec_path.parent / f"env.{stem[9:]}.yaml").is_file():
        return spec_path.parent / f"env.{stem[9:]}.yaml"
    return spec_path.parent / "env.yaml"


def render_targets(config: Config, overrides: dict[str, Any] | None = None,
                   problems: list[str] | None = None) -> list[Target]:
    """The review closure of what runs while the pipeline is loaded, before any task: the spec,
    its env file and partial, the hooks, clients, executor and factory named by dotted path,
    the source loader's module, ``dotted_path`` params, the modules of function tasks (imported
    at load) and what they import. A governed build gates these before it loads the pipeline
    (docs/security.md R4); what cannot be reviewed statically goes into ``problems``."""
    return review_targets(config, sources=[], functions=True, overrides=overrides, problems=problems)


def unreviewable(config: Config, overrides: dict[str, Any] | None = None) -> list[str]:
    """What the spec names but the closure cannot review (one line each): a placeholder that does
    not resolve statically, a task source outside the project (or a symlink leaving it), a kernel
    option a governed build refuses (:mod:`nbgov.services.review.spec_kernels`)."""
    problems: list[str] = []
    review_targets(config, overrides=overrides, problems=problems)
    return problems + refused_kernel_options(config)


def review_targets(config: Config, sources: list[Path] | None = None, functions: bool = False,
                   overrides: dict[str, Any] | None = None, problems: list[str] | None = None,
                   kernel_folders: Iterable[Path] = (), nbconvert: NbconvertInputs | None = None) -> list[Target]:
    """The review closure of the project's pipeline, in path order.

    Args:
        config: the project.
        sources: only these task sources (the tasks a build would run) besides what every task
            depends on (the spec, env file, hooks, clients, executor); None: every task's, and
            those of the project's other specs (``pipeline.serve.yaml``... next to the spec,
            which ``nbgov build -e`` builds): a team reviews every pipeline it runs.
        functions: also every function task's module, whatever ``sources`` says.
        overrides: ``--env`` values, for placeholders in the spec's paths.
        problems: receives what cannot be reviewed (see :func:`unreviewable`).
        kernel_folders: the working folders the loaded tasks that would run give their kernels
            (a build's gate: a factory's ``cwd`` too); every module importable there is a target.
        nbconvert: what the loaded tasks that would run hand nbconvert (a build's gate: a
            factory's options too): its files are targets, its dotted names followed.

    Returns:
        One :class:`Target` per file inside the project (none when there is no pipeline spec).
    """
    root = config.root.resolve()
    spec_path = config.pipeline_path.resolve()
    if not spec_path.is_file():
        return []
    _find = _Finder()
    start: dict[Path, str] = {}
    wanted = None if sources is None else {Path(s).resolve() for s in sources}
    # the sources of the tasks that would run, whatever the spec says of them (a DAG built in
    # Python names its tasks only in its factory module)
    for source in wanted or ():
        if _in_project(source, root):
            start.setdefault(source, "source of a task that would run")
    named: list[tuple[str, str]] = []  # (dotted, why)
    if nbconvert is not None:  # rendered in nbgov's process (Jinja: code), imported there
        for path, why in nbconvert.files.items():
            start.setdefault(path, why)
        named += nbconvert.dotted
    problems = [] if problems is None else problems
    # the folders first on a kernel's import path: its working folder (the root, or a task's
    # papermill `cwd`), a task's source folder, the spec's folder (docs/security.md, R4)
    folders = dict.fromkeys([root, spec_path.parent, *(p.parent for p in start if p.suffix in _PYTHON),
                             *(f for f in map(Path.resolve, map(Path, kernel_folders)) if f.is_relative_to(root))])
    for spec in [spec_path, *(sibling_specs(spec_path) if sources is None else [])]:
        resolve = Resolver(spec, _env_file(spec), root, overrides)
        named += _spec_start(spec.resolve(), root, wanted, _find, start, spec != spec_path, functions, resolve,
                             folders)
        problems += resolve.problems
    for dotted, why in named:
        module = _module_path(dotted, [spec_path.parent, root], _find)
        if _in_project(module, root):  # named explicitly: wherever it is in the project
            for path in [module, *_packages(module.resolve(), root)]:  # type: ignore[union-attr]
                start.setdefault(path.resolve(), why)  # type: ignore[union-attr]
    importable = _importable(folders, root, problems)
    closure = _close(start, root, spec_path.parent, _find, problems)
    if more := {p: why for p, why in importable.items() if p not in closure}:  # and what they import
        closure = _close({**closure, **more}, root, spec_path.parent, _find, problems)
    # bytecode whose code is not its source's: beside a module of the closure, and anywhere in the
    # project (the __pycache__ beside a link to a module, a folder a computed sys.path names)
    bytecode = {**shadows.hash_bytecode(list(closure)), **shadows.project_bytecode(root)}
    for path, why in bytecode.items():
        problem = (f"{path.relative_to(root).as_posix()}: {why}: its code cannot be reviewed; delete it "
                   "(Python then compiles the reviewed source; build other bytecode into an installed package)")
        if problem not in problems:
            problems.append(problem)
        closure.setdefault(path, why)
    targets = [Target(p.relative_to(root).as_posix(), why) for p, why in closure.items()]
    return sorted(targets, key=lambda t: t.path)


def _importable(folders: Iterable[Path], root: Path, problems: list[str]) -> dict[Path, str]:
    """Every module importable by name from ``folders`` (first on an import path), resolved;
    one that resolves outside the project (a symlink) goes into ``problems`` instead."""
    importable: dict[Path, str] = {}
    for path, why in shadows.importable_files(folders, root).items():
        if path.resolve().is_relative_to(root):
            importable.setdefault(path.resolve(), why)
        else:  # a symlink leaving the project: its content changes without a commit
            problem = (f"{path.relative_to(root).as_posix()}: {why}, but it is outside the project "
                       f"({path.resolve()}); it cannot be reviewed")
            if problem not in problems:
                problems.append(problem)
    return importable


def _loader_templates(loader: object, spec_path: Path, root: Path, _find: _Finder) -> list[Path]:
    """Every file in ``meta.source_loader``'s folder (its ``path``, under its ``module``'s
    package when it names one): Ploomber renders sources there with a Jinja file loader, so
    ``{% include %}``/``{% import %}`` make any of them part of what a task runs."""
    if not isinstance(loader, dict):
        return []
    base, sub = spec_path.parent, loader.get("path")
    if isinstance(loader.get("module"), str):  # the package's folder, or `path` inside it
        module = _module_path(loader["module"], [spec_path.parent, root], _find)
        if module is None:
            return []
        base, sub = module.parent, sub or ""
    if not isinstance(sub, str):
        return []
    folder = (base / sub).resolve()
    if not folder.is_dir() or not folder.is_relative_to(root):
        return []
    return sorted(p.resolve() for p in folder.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and _in_project(p, root))


def _spec_start(spec_path: Path, root: Path, wanted: set[Path] | None, _find: _Finder,
                start: dict[Path, str], other: bool, functions: bool, resolve: Resolver,
                kernel_folders: dict[Path, None]) -> list[tuple[str, str]]:
    """Add one spec's own files (the spec, its env file and partial, its tasks' sources) to
    ``start``, and to ``kernel_folders`` the folders its tasks' kernels import from first (a
    source's folder, a papermill ``cwd``); return the dotted paths it names (hooks, clients,
    executor, source loader, ``dotted_path`` params...) with why. Placeholders in those paths
    go through ``resolve``."""
    of = f" of {spec_path.name}" if other else ""
    start.setdefault(spec_path, "another pipeline spec (`-e`)" if other else "the pipeline spec")
    env = _env_file(spec_path)
    if env.is_file():
        start.setdefault(env.resolve(), f"the env file the spec{of} is rendered with")
    try:
        raw = resolved_meta(read_yaml(spec_path), resolve)
        tasks = raw_tasks(raw, spec_path) if isinstance(raw, dict) else []
        partial = partial_path(raw, spec_path) if isinstance(raw, dict) else None
    except PipelineError:
        raw, tasks, partial = None, [], None
    if partial is not None and partial.is_file():
        start.setdefault(partial.resolve(), f"the partial the spec{of} imports tasks from")
    named: list[tuple[str, str]] = []
    if isinstance(raw, dict):
        named += [(d, f"`{k}` in the spec{of}") for k in SPEC_DOTTED
                  if (d := _dotted(resolve(raw.get(k), f"`{k}`")))]
        clients = raw.get("clients") if isinstance(raw.get("clients"), dict) else {}
        named += [(d, f"client of {k}{of}") for k, v in clients.items() if (d := _dotted(resolve(v, f"client {k}")))]
        loader = (raw.get("meta") or {}).get("source_loader") if isinstance(raw.get("meta"), dict) else None
        if isinstance(loader, dict) and isinstance(loader.get("module"), str):  # imported at load
            named.append((loader["module"], f"meta.source_loader module{of}"))
        for path in _loader_templates(loader, spec_path, root, _find):
            start.setdefault(path, f"in the template folder of meta.source_loader{of} (Jinja includes)")
    for task in tasks:
        spec = task.spec if isinstance(task.spec, dict) else {}
        label = spec.get("name") or task.source
        named += [(d, f"`{k}` of task {label}{of}") for k in TASK_DOTTED
                  if (d := _dotted(resolve(spec.get(k), f"`{k}` of task {label}")))]
        named += [(d, f"`dotted_path` param of task {label}{of}")
                  for v in dotted_values([spec.get("params"), spec.get("grid")])
                  if (d := _dotted(resolve(v, f"dotted_path param of task {label}")))]
        converted = nbconvert_inputs(spec.get("nbconvert_export_kwargs"), f"{label}{of}", root, spec_path.parent,
                                     resolve)
        for path, why in converted.files.items():  # rendered in nbgov's process (Jinja: code)
            start.setdefault(path, why)
        exporter, unfollowed = exporter_name(spec.get("nbconvert_exporter_name"), f"{label}{of}")
        named += converted.dotted + exporter
        resolve.problems += converted.problems + unfollowed
        if "{{" in task.source:  # rendered as Ploomber renders it, before it imports anything
            rendered = resolve(task.source, f"source of task {label}")
            if rendered is None:
                continue
            task = RawTask({**spec, "source": rendered}, task.index, task.origin, task.loader)
        path = _find(task.source.rsplit(".", 1)[0], spec_path.parent) if task.is_function else task.path
        take = wanted is None or (path is not None and path.resolve() in wanted) or (functions and task.is_function)
        if not task.is_function:  # a papermill `cwd`, whichever task runs: also gated before the
            for folder in _working_folders(spec, label, root, spec_path, resolve):  # pipeline loads
                kernel_folders.setdefault(folder)
        if path is None or not take:
            continue
        if not _in_project(path, root):
            if not task.is_function and path.exists():  # never silently ungated (R4)
                resolve.problems.append(f"task {label}: source {task.source} is outside the project "
                                        f"({path.resolve()}); it cannot be reviewed")
            continue
        start.setdefault(path.resolve(), f"source of task {label}{of}")
        if not task.is_function and path.suffix in _PYTHON:  # Python, in its folder (a script
            kernel_folders.setdefault(path.resolve().parent)  # always, a notebook with local_execution)
    return named


def _working_folders(spec: dict[str, Any], label: str, root: Path, spec_path: Path,
                     resolve: Resolver) -> list[Path]:
    """The working folder a task's ``papermill_params`` / ``executor_params`` give its kernel
    (``cwd``: its ``''`` on ``sys.path``), relative to the build's working folder (the root, or
    the spec's); one the closure cannot follow (computed, outside the project) is a problem."""
    out = []
    for key in ("papermill_params", "executor_params"):
        params = spec.get(key)
        if not isinstance(params, dict) or params.get("cwd") is None:
            continue
        where = f"`{key}.cwd` of task {label}"
        value = resolve(params["cwd"], where)
        if value is None:
            continue  # the resolver named the placeholder that does not resolve
        folders = [(base / str(value)).resolve() for base in dict.fromkeys([root, spec_path.parent])]
        inside = [f for f in folders if f.is_relative_to(root)]
        if not isinstance(value, (str, Path)) or not inside:
            resolve.problems.append(f"{spec_path.name}: {where} {value!r} is outside the project; "
                                    "the modules its kernel imports cannot be reviewed")
        out += inside
    return out

"""Ploomber behind one door: load a pipeline.yaml, describe its tasks, build them.

Ploomber 0.23.3 is archived upstream and pinned; nothing else in nbgov imports it (an
import-linter contract checks that). The rest of nbgov sees plain data: :class:`TaskInfo`
before a build and :class:`TaskOutcome` after it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any

from nbgov.adapters._deferred import deferred_imports
from nbgov.adapters.ploomber import kernel_options, literal_params, nbconvert_guard, sources, storage
from nbgov.adapters.ploomber.describe import TaskInfo, describe_dag
from nbgov.adapters.ploomber.literal_params import parameters_cell_names
from nbgov.adapters.ploomber.outcomes import EXCEPTION_LINE, BuildResult, ContentCheck
from nbgov.adapters.ploomber.outcomes import quiet as _quiet
from nbgov.core.digest import file_digest, text_digest
from nbgov.core.errors import Location, ParameterError, PipelineError
from nbgov.core.params import check_task_param_names

__all__ = ["TaskInfo", "describe_dag", "parameters_cell_names"]  # re-exported: they used to live here

# nbgov must not phone home, and Ploomber's telemetry is on by default.
os.environ.setdefault("PLOOMBER_STATS_ENABLED", "false")
os.environ.setdefault("PLOOMBER_VERSION_CHECK_DISABLED", "true")

#: Settings nbgov gives every notebook task unless the spec sets them. Immediate kernel
#: shutdown removes the 0-3.6 s graceful-shutdown stalls measured on 2 cores; per-cell
#: progress bars are noise next to the task progress.
DEFAULT_EXECUTOR_PARAMS = {"shutdown_kernel": "immediate", "progress_bar": False}

#: Hook dotted paths nbgov declares in pipeline.yaml for `ploomber build`; `nbgov build`
#: records runs itself and switches these off so nothing is recorded twice.
NBGOV_HOOK_PREFIX = "nbgov.hooks."


def _import_ploomber():
    # Ploomber logs and warns generously at import; keep the user's terminal clean.

    with warnings.catch_warnings(), deferred_imports():
        warnings.simplefilter("ignore")
        from ploomber.spec import DAGSpec  # noqa: F401
    # upstream/product in a parameters cell: literals only, never eval()ed in this process (R4)
    literal_params.install()
    # nbconvert templates from the working folder (the project root) never render (R4)
    nbconvert_guard.install()
    logging.getLogger("ploomber").setLevel(logging.ERROR)
    logging.getLogger("papermill").setLevel(logging.WARNING)


class Pipeline:
    """A loaded pipeline.yaml: the Ploomber DAG and nbgov's view of its tasks.

    Args:
        spec_path: the pipeline.yaml (or a ``pipeline.NAME.yaml``).
        env: values for ``{{placeholders}}``, merged over the env file Ploomber picks for the
            spec (``env.NAME.yaml`` for ``pipeline.NAME.yaml``, else ``env.yaml``).
        params: per-task parameter overrides ``{task: {name: value}}`` (``-p``).
        executor_params: papermill settings for notebook tasks run by papermill, under
            :data:`DEFAULT_EXECUTOR_PARAMS`; a task's own ``executor_params`` (or
            ``papermill_params``) win.

    Attributes:
        warnings: Ploomber's render warnings, one line per task (``task NAME: message``).
        groups: generated task name -> its grid group (the spec's ``name`` of the grid).
    """

    def __init__(self, spec_path: str | Path, env: dict[str, Any] | None = None,
                 params: dict[str, dict[str, Any]] | None = None,
                 executor_params: dict[str, Any] | None = None) -> None:
        self.spec_path = Path(spec_path).resolve()
        if not self.spec_path.is_file():
            raise PipelineError("pipeline spec not found", Location(self.spec_path),
                                hint="run nbgov from the project folder or set `pipeline` in nbgov.toml")
        self.root = self.spec_path.parent
        for text_file in (self.spec_path, self.root / "env.yaml"):
            _require_utf8(text_file)
        _import_ploomber()
        #: the spec and env file read just before the load (a cluster worker must render the driver's)
        self.spec_digest = _spec_digest(self.spec_path)
        #: the env file's values the spec was rendered with (``--env`` overrides applied): its
        #: secret-named keys' values are a build's known secrets (R5)
        self.env_values: dict[str, Any] = {}
        self._dag = self._load(env or {}, params or {}, executor_params or {})

    # -- loading -----------------------------------------------------------------
    def _env(self, overrides: dict[str, Any]) -> Any:
        # env.yaml rendered in a sandbox, --env values as literal data (never templates)
        from nbgov.adapters.ploomber.envrender import env_for_ploomber, env_values

        # Ploomber's own choice: env.{name}.yaml for pipeline.{name}.yaml, else env.yaml
        env = env_for_ploomber(self.root, overrides, _env_file(self.spec_path) or self.root / "env.yaml")
        self.env_values = env_values(env)
        return env

    def _load(self, env_overrides, param_overrides, executor_params):
        from ploomber.spec import DAGSpec
        from ploomber.util.util import add_to_sys_path

        raw = sources._yaml_file(self.spec_path)
        if not isinstance(raw, dict) or not isinstance(raw.get("tasks", []), list):
            raise PipelineError("the spec must be a mapping with a 'tasks' list",
                                Location(self.spec_path), hint="see the example pipeline.yaml")
        location = raw.get("location")
        meta = raw.get("meta") if isinstance(raw.get("meta"), dict) else {}
        if location is not None:
            # a DAG built in Python: the factory must exist (named, one line) before Ploomber calls it
            sources.check_location(location, self.spec_path)
        else:
            tasks = sources.raw_tasks(raw, self.spec_path)
            if not tasks:
                raise PipelineError("the spec declares no tasks", Location(self.spec_path),
                                    hint="add tasks under `tasks:` (or meta.import_tasks_from)")
            sources.check_sources(tasks, self.root, extract_product=bool(meta.get("extract_product")))
        env = self._env(env_overrides)
        try:
            # from the spec's folder: Ploomber would take env.yaml defaults from the working dir
            # and with that folder importable, as under `ploomber build`: meta.source_loader
            # locates its `module` when the spec is read
            with _quiet(), contextlib.chdir(self.root), add_to_sys_path(self.root, chdir=False):
                spec = DAGSpec(str(self.spec_path), env=env)
        except Exception as exc:  # Ploomber raises many kinds for a bad spec
            raise PipelineError(_first_line(exc), Location(self.spec_path)) from None
        if location is not None:
            if param_overrides:
                raise ParameterError("-p overrides need the tasks declared in the spec: this one builds "
                                     f"its DAG in Python ({location})",
                                     hint="give the factory function parameters through env.yaml instead")
        names = {self._task_name(t): t for t in spec.get("tasks") or []}
        for task_name, overrides in param_overrides.items():
            if task_name not in names:
                raise ParameterError(f"unknown task {task_name!r} in a -p override",
                                     hint=f"tasks: {', '.join(names)}")
            self._check_overrides(names[task_name], task_name, overrides)
            names[task_name]["params"] = {**(names[task_name].get("params") or {}), **overrides}
        self.groups: dict[str, str] = {}
        for task in spec.get("tasks") or []:
            # again after rendering and -p: whatever reached the spec, papermill writes each
            # name as code (`name = value`), so a name is an identifier or nothing runs
            check_task_param_names(self._task_name(task), task.get("params"), task.get("grid"),
                                   Location(self.spec_path))
            self._check_params(task)
            if "grid" in task:
                _record_group(task, self.groups)
        try:
            with _quiet(), warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                dag = spec.to_dag()
                # nbgov records builds itself: its own Ploomber hooks (declared for `ploomber
                # build`) must not run, or render would already touch the tracking store
                for attr in ("on_render", "on_finish", "on_failure"):
                    if _is_nbgov_hook(getattr(dag, attr)):
                        setattr(dag, attr, None)
                # the project's own on_render hooks run when the build renders, once, with
                # their output shown (as under `ploomber build`), not in this silent render
                with _render_hooks_detached(dag):
                    dag.render(show_progress=False)
        except Exception as exc:
            raise PipelineError(render_failure(str(exc)) or _first_line(exc), Location(self.spec_path)) from None
        #: Ploomber's render warnings, one line per task (e.g. params the code does not use).
        self.warnings = render_warnings(caught)
        for name in dag:  # defaults under the task's own; keys no kernel may get dropped (kernel_options)
            self.warnings += kernel_options.prepare(dag[name], {**DEFAULT_EXECUTOR_PARAMS, **executor_params})
        return dag

    def _task_name(self, task: Any) -> str:
        """The name Ploomber gives a task spec: ``name``, else the function's name or the
        source file's stem."""
        if task.get("name"):
            return str(task["name"])
        source = task["source"]
        if getattr(source, "__name__", None):
            return str(source.__name__)
        # a source_loader gives a Placeholder (not printable before rendering): its file's stem
        path = getattr(source, "path", None) if not isinstance(source, str | Path) else source
        return Path(str(path)).stem

    def _notebook_source(self, task: Any) -> Path | None:
        """The source file of a task Ploomber runs as a notebook (NotebookRunner), else None."""
        from ploomber.tasks import NotebookRunner

        cls = task.get("class")
        if not (isinstance(cls, type) and issubclass(cls, NotebookRunner)) or callable(task["source"]):
            return None
        path = Path(str(task["source"]))
        path = path if path.is_absolute() else self.root / path
        return path if path.suffix in (".ipynb", ".py") and path.is_file() else None

    def _check_params(self, task: Any) -> None:
        # Params the parameters cell does not declare are Ploomber's business (regular static
        # analysis: injected, with a warning when the code does not use them; strict: an error
        # at render). Only a notebook without a parameters cell is refused: Ploomber would
        # rewrite the user's file to add one.
        source = self._notebook_source(task)
        if not task.get("params") or source is None:
            return
        if parameters_cell_names(source) is None:
            raise PipelineError(f"task {self._task_name(task)!r} gets parameters but its notebook has "
                                "no cell tagged 'parameters'", Location(source),
                                hint="tag the cell that defines the defaults with `parameters`")

    def _check_overrides(self, task: Any, name: str, overrides: dict[str, Any]) -> None:
        """A ``-p`` override (nbgov's, not Ploomber's) must name a parameter the task has: one
        in pipeline.yaml, or one the parameters cell declares."""
        source = self._notebook_source(task)
        declared = parameters_cell_names(source) if source is not None else None
        known = set(task.get("params") or {}) | (declared or set())
        if declared is None and source is None:
            return  # functions, SQL...: Ploomber checks the signature / template at render
        unknown = sorted(set(overrides) - known)
        if unknown:
            names = ", ".join(sorted(known - {"upstream", "product"})) or "nothing"
            raise ParameterError(f"task {name!r} has no parameter(s) {', '.join(map(repr, unknown))} "
                                 f"(its parameters cell and pipeline.yaml define: {names})",
                                 Location(source or self.spec_path),
                                 hint="fix the name, or add a default to the parameters cell")

    # -- description -------------------------------------------------------------
    @property
    def task_names(self) -> list[str]:
        """Task names in topological order."""
        return list(self._dag)

    def tasks(self) -> list[TaskInfo]:
        """Every task as plain data, in topological order, with its outdated flag."""
        return describe_dag(self._dag, self.root, self.groups)[0]

    def downstream_of(self, name: str) -> list[str]:
        """``name`` and every task that depends on it, in topological order."""
        selected = {name}
        for other in self._dag:
            if any(up in selected for up in self._dag[other].upstream):
                selected.add(other)
        return [t for t in self._dag if t in selected]

    # -- products in client storage (``clients: {File: ...}``) -------------------------------
    @property
    def has_file_client(self) -> bool:
        """Whether products are kept in shared storage through Ploomber's ``File`` client."""
        from ploomber.products import File

        return self._dag.clients.get(File) is not None

    def fetch_from_storage(self, names: list[str]) -> list[str]:
        """Download the products of tasks ``names`` that are missing here but stored by the ``File``
        client (a worker without the shared file system), keys checked; the tasks fetched."""
        return storage.fetch_from_storage(self._dag, names, _quiet)

    def download_products(self, name: str) -> None:
        """Replace task ``name``'s local products with the stored ones (the ``File`` client):
        a task built on a worker that shares no disk with this process."""
        storage.download_products(self._dag, name, _quiet)

    def product_digests(self, name: str) -> dict[str, str]:
        """Task ``name``'s ``File`` products here: path relative to the root -> digest."""
        return storage.product_digests(self._dag, self.root, name)

    def loaded_digest(self, name: str) -> str | None:
        """SHA-256 of task ``name``'s notebook as Ploomber read it at load (what the task will
        execute, whatever the file holds now); None for tasks without a notebook source."""
        from ploomber.sources.notebooksource import NotebookSource

        source = self._dag[name].source
        primitive = getattr(source, "_primitive", None)
        if not isinstance(source, NotebookSource) or not isinstance(primitive, str):
            return None
        # hot_reload: Ploomber reads the file again when it runs (what was loaded is not what runs)
        return ("hot-reload:" if getattr(source, "_hot_reload", False) else "") + text_digest(primitive)

    def task_run(self, name: str, fence: Any = None) -> Any:
        """A call building task ``name`` here (a worker with its own checkout, upstream downloaded
        first; Ploomber uploads its products at its end, after ``fence()``: storage.fence_upload)."""
        from ploomber.constants import TaskStatus

        from nbgov.adapters.ploomber.executor import _TaskRun  # (imports Ploomber's executors: builds only)

        task = self._dag[name]
        for up in task.upstream:  # always the stored copy: one left here by an earlier build may be stale
            self.download_products(up)
        task.exec_status = TaskStatus.WaitingExecution  # the driver decided it runs (-f, content)
        storage.fence_upload(task.product, fence)
        return _TaskRun(task)

    # -- building ----------------------------------------------------------------
    def build(self, *, force: bool = False, select: list[str] | None = None, jobs: int | None = None,
              progress: bool = True, content_check: ContentCheck | None = None,
              observer: Any = None, engine: Any = None) -> BuildResult:
        """Run the pipeline (or the ``select``-ed tasks) and report each task's outcome; the
        observer hears of each task as it starts and ends; ``engine``: where tasks run when
        not here (see :func:`nbgov.adapters.ploomber.executor.build_dag`)."""
        # the executor subclasses Ploomber's at import (~1 s): only builds pay for it
        from nbgov.adapters.ploomber.executor import build_dag

        return build_dag(self._dag, force=force, select=select, jobs=jobs, progress=progress,
                         content_check=content_check, observer=observer, engine=engine)

    def default_jobs(self) -> int:
        """Tasks at once when the user gives no ``-j``: ``executor: parallel`` in the spec means
        one per core, as in Ploomber."""
        from nbgov.adapters.ploomber.executor import executor_jobs  # (imports Ploomber: see build)

        return executor_jobs(self._dag)


def dag_outcomes(dag: Any) -> dict[str, str]:
    """Task name -> ran | skipped | failed | not-run, after a build of ``dag``."""
    from ploomber.constants import TaskStatus

    mapping = {TaskStatus.Executed: "ran", TaskStatus.Skipped: "skipped", TaskStatus.Errored: "failed"}
    return {name: mapping.get(dag[name].exec_status, "not-run") for name in dag}



@contextlib.contextmanager
def _render_hooks_detached(dag: Any):
    """Within the block, the DAG's and its tasks' ``on_render`` hooks are off; put back after
    (a task's private attribute: its public setter re-checks the signature; a DAG's hook is a
    plain attribute, ``on_render``)."""
    owners = [(dag, "on_render"), *((dag[name], "_on_render") for name in dag)]
    hooks = [(owner, attr, getattr(owner, attr, None)) for owner, attr in owners]
    for owner, attr, _ in hooks:
        setattr(owner, attr, None)
    try:
        yield
    finally:
        for owner, attr, hook in hooks:
            setattr(owner, attr, hook)


def _is_nbgov_hook(hook: Any) -> bool:
    """Whether a DAG hook is one of nbgov's own (a Ploomber DottedPath or a function)."""
    if hook is None:
        return False
    spec = getattr(hook, "_spec", None)
    dotted = getattr(spec, "dotted_path", None) or f"{getattr(hook, '__module__', '')}.{getattr(hook, '__name__', '')}"
    return str(dotted).startswith(NBGOV_HOOK_PREFIX)


def _require_utf8(path: Path) -> None:
    """A spec or env file that is not UTF-8 is named, with the offending byte, not a traceback."""
    if not path.is_file():
        return
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise PipelineError(f"not UTF-8 text (byte 0x{path.read_bytes()[exc.start]:02x})",
                            Location(path, line=line), hint="save the file as UTF-8") from None


def _first_line(exc: BaseException) -> str:
    """The message of ``exc``, followed by its causes' (Ploomber wraps the reason: "Failed to
    initialize NotebookRunner task ...: DAG already has a task with name 'x'")."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(parts) < 3:
        seen.add(id(current))
        text = str(current).strip() or type(current).__name__
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        line = lines[0] if len(lines) == 1 else " ".join(lines[:3])[:500]
        if line not in parts:
            parts.append(line)
        context = None if current.__suppress_context__ else current.__context__
        current = current.__cause__ or context
    last = len(parts) - 1
    return ": ".join(part if i == last else part.rstrip(".") for i, part in enumerate(parts))


def rendering_for_build() -> bool:
    """Whether the DAG being rendered right now is about to be built (``ploomber build``), as
    opposed to rendered for ``ploomber status`` or ``plot``: looks for Ploomber's DAG._build
    on the call stack (Ploomber passes hooks no such flag)."""
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "_build" and code.co_filename.replace("\\", "/").endswith("ploomber/dag/dag.py"):
            return True
        frame = frame.f_back
    return False


def _spec_digest(spec_path: Path) -> str:
    """One digest of the spec and the env file Ploomber renders it with (bytes on disk)."""
    env = _env_file(spec_path) or spec_path.parent / "env.yaml"
    parts = [file_digest(f) if f.is_file() else "-" for f in (spec_path, env)]
    return text_digest("\n".join([spec_path.name, *parts]))


def _env_file(spec_path: Path) -> Path | None:
    """The env file Ploomber loads for a spec (``path_to_env_from_spec``): ``env.{name}.yaml``
    for ``pipeline.{name}.yaml`` else ``env.yaml``, or ``$PLOOMBER_ENV_FILENAME``. Ploomber
    looks in the working directory first: nbgov loads a project from its own folder, so an
    ``env.yaml`` wherever nbgov happens to run (a server, a test) never leaks in."""
    from ploomber.util.default import path_to_env_from_spec

    try:
        with contextlib.chdir(spec_path.parent):
            found = path_to_env_from_spec(str(spec_path))
    except (ValueError, FileNotFoundError) as exc:
        raise PipelineError(str(exc).splitlines()[0], Location(spec_path),
                            hint="fix PLOOMBER_ENV_FILENAME or create the env file") from None
    return Path(found) if found else None


def _record_group(task_spec: Any, groups: dict[str, str]) -> None:
    """Remember which generated tasks a grid spec makes (the group is gone after to_dag)."""
    group = str(task_spec["name"]) if task_spec.get("name") else None
    to_task = task_spec.to_task

    def recording(dag):
        made, upstream = to_task(dag)
        for task in made:
            groups[task.name] = group or task.name
        return made, upstream

    task_spec.to_task = recording  # this instance only: process_tasks calls spec.to_task(dag)


_SEP = re.compile(r"^-+ (.+?) -+$")
_TASK_HEADER = re.compile(r"^(\w+): (.+?) -> ")


def _task_blocks(text: str) -> list[tuple[str, list[str]]]:
    """(task name, lines) of each task section of a Ploomber render report."""
    blocks: list[tuple[str, list[str]]] = []
    task: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        sep = _SEP.match(line.strip())
        if sep or line.startswith("==="):
            if task and lines:
                blocks.append((task, lines))
            lines = []
            header = _TASK_HEADER.match(sep.group(1)) if sep else None
            if header:
                task = header.group(2)
            elif not sep:
                task = None
            continue
        if task and line.strip():
            lines.append(line.strip())
    return blocks


def render_warnings(caught: list[Any]) -> list[str]:
    """Ploomber's render warnings as one line per task: ``task NAME: message``."""
    out: list[str] = []
    for item in caught:
        text = str(item.message)
        if "DAG render with warnings" in text:
            out += [f"task {task}: {' '.join(lines)}" for task, lines in _task_blocks(text)]
    return out


def render_failure(text: str) -> str | None:
    """A Ploomber render failure as ``task NAME: Exception: message`` per failing task (the
    last exception line of each task's traceback), None when ``text`` is no render report."""
    if "DAG render failed" not in text:
        return None
    causes = []
    for task, lines in _task_blocks(text):
        found = [m for m in map(EXCEPTION_LINE.match, lines) if m]
        if found:
            causes.append(f"task {task}: {found[-1].group(1)}: {found[-1].group(2)}")
    return "; ".join(causes)[:1000] or None

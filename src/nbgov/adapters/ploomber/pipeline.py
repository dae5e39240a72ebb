"""Ploomber behind one door: load a pipeline.yaml, describe its tasks, build them.

Ploomber 0.23.3 is archived upstream and pinned; nothing else in nbgov imports it (an
import-linter contract checks that). The rest of nbgov sees plain data: :class:`TaskInfo`
before a build and :class:`TaskOutcome` after it.
"""

from __future__ import annotations

import ast
import contextlib
import io
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbgov.core.errors import Location, NotebookError, ParameterError, PipelineError

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


@dataclass
class TaskInfo:
    """One task of the pipeline, as plain data.

    Attributes:
        name: the task name (grid tasks: the generated name, e.g. ``fit-0``).
        source: the task's source as Ploomber resolved it (a file; for a function task the
            file of the function's module).
        products: product key -> local path (``nb`` for a single product).
        params: the task's parameters (without ``upstream`` / ``product``).
        upstream: upstream task names.
        outdated: Ploomber's own verdict at render time.
        notebook_product: the executed notebook product (any format Ploomber writes), if any.
        kind: the task kind (see :mod:`nbgov.core.tasks`): ``notebook``, ``script``,
            ``function``, ``sql``, ``shell``, ``link``, ``input``...
        source_file: the file that is versioned, reviewed and gated for this task (the
            notebook, the script, the function's module, the .sql / .sh file); None when the
            task has no source file of its own (links, inputs).
        function: for function tasks, the dotted path of the callable.
        group: the grid group a generated task belongs to (one approval for a grid), else None.
        client: the task's database client URI with any password redacted, else None.
        evidence: the executed ``.ipynb`` nbgov reads scraps, timings and the failing cell from
            (the notebook product when it is an .ipynb, else nbgov's own copy); None for kinds
            that execute no notebook.
        record: where this task's lineage record lives (named by the task).
    """

    name: str
    source: Path
    products: dict[str, Path]
    params: dict[str, Any]
    upstream: list[str]
    outdated: bool = True
    notebook_product: Path | None = None
    kind: str = "notebook"
    source_file: Path | None = None
    function: str | None = None
    group: str | None = None
    client: str | None = None
    evidence: Path | None = None
    record: Path | None = None

    def __post_init__(self) -> None:
        if self.source_file is None and self.kind in ("notebook", "script"):
            self.source_file = self.source
        if self.evidence is None and self.notebook_product is not None and self.notebook_product.suffix == ".ipynb":
            self.evidence = self.notebook_product
        if self.record is None and self.notebook_product is not None:
            from nbgov.core.lineage import record_path

            self.record = record_path(self.notebook_product)


@dataclass
class TaskOutcome:
    """What happened to one task in a build."""

    name: str
    outcome: str  # "ran" | "skipped" | "failed" | "not-run"
    error: str | None = None


@dataclass
class BuildResult:
    """Outcomes of every task, in pipeline order, and whether the build failed."""

    outcomes: list[TaskOutcome] = field(default_factory=list)
    failed: bool = False

    def by_name(self) -> dict[str, TaskOutcome]:
        return {o.name: o for o in self.outcomes}


def _import_ploomber():
    # Ploomber logs and warns generously at import; keep the user's terminal clean.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ploomber.spec import DAGSpec  # noqa: F401
    logging.getLogger("ploomber").setLevel(logging.ERROR)
    logging.getLogger("papermill").setLevel(logging.WARNING)


def parameters_cell_names(source: Path) -> set[str] | None:
    """Names assigned at top level in the notebook's ``parameters`` cell (None: no such cell)."""
    from nbgov.adapters.notebooks import read_notebook

    nb = read_notebook(source)
    for index, cell in enumerate(nb["cells"]):
        if "parameters" in ((cell.get("metadata") or {}).get("tags") or []):
            src = cell.get("source", "")
            src = "".join(src) if isinstance(src, list) else src
            try:
                tree = ast.parse(src)
            except SyntaxError as exc:
                raise NotebookError(f"parameters cell is not valid Python: {exc.msg}",
                                    Location(source, cell=index, line=exc.lineno)) from None
            names: set[str] = set()
            for node in tree.body:
                targets = node.targets if isinstance(node, ast.Assign) else (
                    [node.target] if isinstance(node, ast.AnnAssign) else [])
                names.update(t.id for t in targets if isinstance(t, ast.Name))
            return names
    return None


class Pipeline:
    """A loaded pipeline.yaml: the Ploomber DAG and nbgov's view of its tasks.

    Args:
        spec_path: the pipeline.yaml.
        env: values for ``{{placeholders}}``, merged over env.yaml next to the spec.
        params: per-task parameter overrides ``{task: {name: value}}``.
        executor_params: papermill settings applied to every notebook task (spec wins).
    """

    def __init__(self, spec_path: str | Path, env: dict[str, Any] | None = None,
                 params: dict[str, dict[str, Any]] | None = None,
                 executor_params: dict[str, Any] | None = None) -> None:
        self.spec_path = Path(spec_path).resolve()
        if not self.spec_path.is_file():
            raise PipelineError("pipeline spec not found", Location(self.spec_path),
                                hint="run nbgov from the project folder or set `pipeline` in nbgov.toml")
        self.root = self.spec_path.parent
        _import_ploomber()
        self._dag = self._load(env or {}, params or {}, executor_params or {})

    # -- loading -----------------------------------------------------------------
    def _env(self, overrides: dict[str, Any]) -> dict[str, Any]:
        import yaml

        env_file = self.root / "env.yaml"
        env: dict[str, Any] = {}
        if env_file.is_file():
            try:
                env = yaml.safe_load(env_file.read_text()) or {}
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                raise PipelineError(f"env.yaml is not valid YAML: {getattr(exc, 'problem', exc)}",
                                    Location(env_file, line=mark.line + 1 if mark else None)) from None
            if not isinstance(env, dict):
                raise PipelineError("env.yaml must be a mapping of names to values", Location(env_file))
        unknown = sorted(set(overrides) - set(env))
        if unknown:
            known = ", ".join(sorted(env)) or "none"
            raise ParameterError(f"unknown --env key(s): {', '.join(unknown)} (env.yaml defines: {known})",
                                 Location(env_file), hint="add the key to env.yaml or fix its name")
        return {**env, **overrides}

    def _load(self, env_overrides, param_overrides, executor_params):
        import yaml
        from ploomber.spec import DAGSpec

        try:
            raw = yaml.safe_load(self.spec_path.read_text())
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise PipelineError(f"not valid YAML: {getattr(exc, 'problem', exc)}",
                                Location(self.spec_path, line=mark.line + 1 if mark else None)) from None
        if not isinstance(raw, dict) or not isinstance(raw.get("tasks"), list) or not raw["tasks"]:
            raise PipelineError("the spec must be a mapping with a non-empty 'tasks' list",
                                Location(self.spec_path), hint="see the example pipeline.yaml")
        for index, task in enumerate(raw["tasks"]):
            if not isinstance(task, dict) or "source" not in task:
                raise PipelineError(f"task #{index + 1} has no 'source'", Location(self.spec_path))
            source = self.root / str(task["source"])
            if not source.exists():
                raise PipelineError(f"task #{index + 1}: source {task['source']!r} does not exist",
                                    Location(self.spec_path), hint="fix the path in pipeline.yaml")
            if source.suffix in (".ipynb", ".py") and source.is_file():
                # a damaged notebook is named with what is wrong (Ploomber's own message blames
                # pipeline.yaml and gives no reason)
                from nbgov.adapters.notebooks import read_notebook

                read_notebook(source)
            if "product" not in task:
                raise PipelineError(f"task {task['source']!r} declares no product", Location(self.spec_path),
                                    hint="add `product: {nb: products/NAME.ipynb}`")
        env = self._env(env_overrides)
        try:
            with _quiet():
                spec = DAGSpec(str(self.spec_path), env=env)
        except Exception as exc:  # Ploomber raises many kinds for a bad spec
            raise PipelineError(_first_line(exc), Location(self.spec_path)) from None
        names = {self._task_name(t): t for t in spec["tasks"]}
        for task_name, overrides in param_overrides.items():
            if task_name not in names:
                raise ParameterError(f"unknown task {task_name!r} in a -p override",
                                     hint=f"tasks: {', '.join(names)}")
            names[task_name].setdefault("params", {})
            names[task_name]["params"] = {**(names[task_name]["params"] or {}), **overrides}
        for task in spec["tasks"]:
            self._check_params(task)
            if Path(str(task["source"])).suffix in (".ipynb", ".py"):
                params = {**DEFAULT_EXECUTOR_PARAMS, **executor_params, **(task.get("executor_params") or {})}
                task["executor_params"] = params
        try:
            with _quiet():
                dag = spec.to_dag()
                # nbgov records builds itself: its own Ploomber hooks (declared for `ploomber
                # build`) must not run, or render would already touch the tracking store
                for attr in ("on_render", "on_finish", "on_failure"):
                    if _is_nbgov_hook(getattr(dag, attr)):
                        setattr(dag, attr, None)
                dag.render(show_progress=False)
        except Exception as exc:
            raise PipelineError(_first_line(exc), Location(self.spec_path)) from None
        return dag

    def _task_name(self, task: dict) -> str:
        return str(task.get("name") or Path(str(task["source"])).stem)

    def _check_params(self, task: dict) -> None:
        params = task.get("params") or {}
        source = self.root / str(task["source"])
        if not params or source.suffix not in (".ipynb", ".py"):
            return
        declared = parameters_cell_names(source)
        if declared is None:
            raise PipelineError(f"task {self._task_name(task)!r} gets parameters but its notebook has "
                                "no cell tagged 'parameters'", Location(source),
                                hint="tag the cell that defines the defaults with `parameters`")
        unknown = sorted(set(params) - declared)
        if unknown:
            raise ParameterError(
                f"task {self._task_name(task)!r} has no parameter(s) {', '.join(map(repr, unknown))} "
                f"(its parameters cell defines: {', '.join(sorted(declared - {'upstream', 'product'}))})",
                Location(source), hint="fix the name, or add a default to the parameters cell")

    # -- description -------------------------------------------------------------
    @property
    def task_names(self) -> list[str]:
        """Task names in topological order."""
        return list(self._dag)

    def tasks(self) -> list[TaskInfo]:
        """Every task as plain data, in topological order, with its outdated flag."""
        return describe_dag(self._dag)[0]

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
        """Download the products of tasks ``names`` that are missing here but stored by the
        ``File`` client (a worker without the shared file system); returns the tasks fetched."""
        from ploomber.products import File

        client = self._dag.clients.get(File)
        if client is None:
            return []
        fetched = []
        for name in names:
            product = self._dag[name].product
            files = list(product) if hasattr(product, "products") else [product]
            missing = [f for f in files if isinstance(f, File) and not f.exists()]
            # a task's products are uploaded together: fetch only when every missing one is stored
            if missing and all(f._remote.exists() for f in missing):
                with _quiet():
                    for f in missing:
                        f._path_to_file.parent.mkdir(parents=True, exist_ok=True)
                        f.download()
                fetched.append(name)
        return fetched

    # -- building ----------------------------------------------------------------
    def build(self, *, force: bool = False, select: list[str] | None = None, jobs: int | None = None,
              progress: bool = True, content_check: ContentCheck | None = None,
              ) -> BuildResult:
        """Run the pipeline (or the ``select``-ed tasks, in order) and report each task's outcome
        (see :func:`nbgov.adapters.ploomber.executor.build_dag`)."""
        from nbgov.adapters.ploomber.executor import build_dag

        return build_dag(self._dag, force=force, select=select, jobs=jobs, progress=progress,
                         content_check=content_check)


def describe_dag(dag: Any) -> tuple[list[TaskInfo], Path]:
    """Tasks of a live Ploomber DAG (inside a hook) as plain data, and the project root."""
    from ploomber.constants import TaskStatus

    infos = []
    for name in dag:
        task = dag[name]
        products = _products(task)
        nb_key = getattr(task, "nb_product_key", "nb")
        infos.append(TaskInfo(
            name=name, source=Path(str(task.source.loc)), products=products,
            params={k: v for k, v in task.params.to_dict().items() if k not in ("upstream", "product")},
            upstream=list(task.upstream), outdated=task.exec_status != TaskStatus.Skipped,
            notebook_product=products.get(nb_key) if isinstance(nb_key, str) else None,
        ))
    from nbgov.core.config import find_root

    root = find_root(infos[0].source.parent) if infos else Path.cwd()
    return infos, root


def dag_outcomes(dag: Any) -> dict[str, str]:
    """Task name -> ran | skipped | failed | not-run, after a build of ``dag``."""
    from ploomber.constants import TaskStatus

    mapping = {TaskStatus.Executed: "ran", TaskStatus.Skipped: "skipped", TaskStatus.Errored: "failed"}
    return {name: mapping.get(dag[name].exec_status, "not-run") for name in dag}


_EXC_LINE = re.compile(r"^(?:[A-Za-z_][\w]*\.)*([A-Za-z_]\w*(?:Error|Exception|Interrupt|Exit)): (.*)$")


def task_error(message: str, name: str) -> str | None:
    """The root cause of task ``name``'s failure in a Ploomber DAGBuildError message, as
    ``ExceptionName: first line`` (Ploomber's own wrapper exceptions are skipped)."""
    end = message.find(f'Error building task "{name}"')
    chunk = message[:end] if end >= 0 else message
    start = chunk.rfind("Error building task \"")
    chunk = chunk[start:] if start >= 0 else chunk
    causes = [m for m in map(_EXC_LINE.match, chunk.splitlines()) if m and m.group(1) != "TaskBuildError"]
    if not causes:
        return None
    ename, text = causes[-1].groups()
    return f"{ename}: {text.strip()}"[:500]


def _is_nbgov_hook(hook: Any) -> bool:
    """Whether a DAG hook is one of nbgov's own (a Ploomber DottedPath or a function)."""
    if hook is None:
        return False
    spec = getattr(hook, "_spec", None)
    dotted = getattr(spec, "dotted_path", None) or f"{getattr(hook, '__module__', '')}.{getattr(hook, '__name__', '')}"
    return str(dotted).startswith(NBGOV_HOOK_PREFIX)


def _products(task: Any) -> dict[str, Path]:
    serial = task.product.to_json_serializable()
    if isinstance(serial, dict):
        return {k: Path(v) for k, v in serial.items()}
    return {"nb": Path(serial)}


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


@contextlib.contextmanager
def _quiet(keep_progress: bool = False):
    """Silence Ploomber's warnings and stdout chatter (its tracebacks are not user messages)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if keep_progress:
            yield
        else:
            with contextlib.redirect_stdout(io.StringIO()):
                yield


#: ``check(task name, tasks executed so far in this build)`` -> True: its content is unchanged,
#: skip it; False: its content changed, run it; None: no opinion, Ploomber's rules decide.
ContentCheck = Callable[[str, "set[str]"], "bool | None"]


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

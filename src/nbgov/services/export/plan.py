"""What every exported workflow shows: tasks, edges, commands, retries and resources.

``[export]`` in nbgov.toml (all optional)::

    [export]
    name = "nbgov-example"      # DAG id / workflow name (default: the experiment name)
    image = "registry/project:1" # container image of Argo / Kubeflow steps
    repository = "https://git.example.com/team/project.git"  # where tasks fetch the commit
                                # (default: the git remote "origin")
    workdir = "/project"        # --allow-local-products: the project folder on the worker
                                # (Airflow default: this folder)
    retries = 1                 # per task, where the engine retries
    retry_delay_s = 60
    cpu = "1"                   # requests/limits where the engine has them
    memory = "2Gi"
    [export.tasks.train]        # per-task overrides of retries / cpu / memory
    retries = 0
    memory = "4Gi"
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from nbgov.adapters.engines.checkout import checkout_problem, head_commit
from nbgov.adapters.git import on_remote_branch, remote_url
from nbgov.core.config import Config
from nbgov.core.errors import ConfigError, Location, PipelineError, without_credentials
from nbgov.services.build import load_pipeline
from nbgov.services.build.run import product_and_metadata

#: Keys of ``[export]`` and of ``[export.tasks.NAME]``.
EXPORT_KEYS: dict[str, type | tuple[type, ...]] = {
    "name": str, "image": str, "repository": str, "workdir": str, "retries": int, "retry_delay_s": int,
    "cpu": (str, int, float), "memory": str, "tasks": dict,
}
TASK_KEYS: dict[str, type | tuple[type, ...]] = {"retries": int, "cpu": (str, int, float), "memory": str}

DEFAULT_IMAGE = "nbgov-project:latest"

#: Stands for the engine's run id in a command until an engine writes its own template there.
BUILD_ID = "@@NBGOV_BUILD_ID@@"


@dataclass
class ExportTask:
    """One pipeline task as an engine task."""

    name: str
    upstream: list[str]
    retries: int = 0
    cpu: str | None = None
    memory: str | None = None


@dataclass
class ExportPlan:
    """The pipeline as an engine sees it, with the commands each engine task runs."""

    name: str
    tasks: list[ExportTask]
    environment: str | None = None
    image: str = DEFAULT_IMAGE
    workdir: str | None = None
    retry_delay_s: int = 60
    project_root: str = ""
    shared_storage: bool = False
    notes: list[str] = field(default_factory=list)
    #: the build's commit and where tasks fetch it (None: every task runs in the project folder,
    #: ``--allow-local-products``)
    commit: str | None = None
    repository: str | None = None

    def __post_init__(self) -> None:
        for task in self.tasks:
            if task.name.startswith("-"):
                # each engine task runs `nbgov build NAME ...`: a name like --no-require-approved
                # would be read there as an option (the gate switched off on the workers)
                raise ConfigError(f"task {task.name[:80]!r} starts with '-': an engine's command line would "
                                  "read it as an option of `nbgov build`", hint="rename the task in the pipeline spec")

    def build_command(self, task: str) -> list[str]:
        """The argv of one engine task; :data:`BUILD_ID` stands for the engine's run id. The
        environment's gate (``--environment``) applies on the worker, before the task runs."""
        env = ["--environment", self.environment] if self.environment else []
        return ["nbgov", "build", task, "--build-id", BUILD_ID, "-q", *env, *self.source_args()]

    def open_command(self) -> list[str]:
        """The setup task: find or create the build's parent run."""
        return ["nbgov", "open-build", BUILD_ID, *self.source_args()]

    def close_command(self, status: str | None = None) -> list[str]:
        """The teardown task: end the build's parent run."""
        return ["nbgov", "close-build", BUILD_ID, *(["--status", status] if status else []), *self.source_args()]

    def source_args(self) -> list[str]:
        """How a task finds the project: by commit (fetched into the worker's cache and checked,
        services.build.sources), or nothing (it runs in the project folder)."""
        return ["--commit", self.commit, "--repository", self.repository or ""] if self.commit else []

    def edges(self) -> list[tuple[str, str]]:
        """(upstream, downstream) pairs, in pipeline order."""
        return [(up, t.name) for t in self.tasks for up in t.upstream]


def command_line(argv: list[str], build_id: str, escape=None) -> str:
    """An argv as one shell command line, the build id placeholder replaced by ``build_id``
    (already quoted for the shell by the caller); ``escape`` (e.g. :func:`jinja_literal`) is
    applied to the user's text before the engine's own template goes in."""
    text = shlex.join(argv)
    return (escape(text) if escape else text).replace(BUILD_ID, build_id)


_JINJA_OPEN = re.compile(r"\{[{%#]")


def jinja_literal(text: str) -> str:
    """``text`` as Jinja renders it back unchanged: every ``{{``, ``{%`` and ``{#`` becomes an
    expression printing it (Airflow renders templated fields: ``{{ ... }}`` there is code)."""
    return _JINJA_OPEN.sub(lambda m: "{{ '" + m.group(0) + "' }}", text)


def refuse_templates(plan: ExportPlan, engine: str, markers: tuple[str, ...] = ("{{",)) -> None:
    """Refuse an export whose user text holds an engine's template syntax: Argo substitutes (and
    evaluates ``{{=...}}``) and Kubeflow fills ``{{$...}}`` placeholders in the fields it renders,
    with no escape that both honour; a task, image or folder named so is refused, not rendered.

    Raises:
        ConfigError: naming the field and the engine (exit 2).
    """
    fields = [("the pipeline name", plan.name), ("the image", plan.image), ("workdir", plan.workdir or ""),
              ("the repository", plan.repository or ""),
              ("the environment", plan.environment or ""),
              *((f"task {t.name!r}", t.name) for t in plan.tasks)]
    for what, value in fields:
        if any(m in value for m in markers):
            raise ConfigError(f"{what} holds {engine}'s template syntax ({' '.join(markers)}): {value[:80]!r}",
                              hint=f"rename it without {' '.join(markers)}: {engine} would substitute it")


def dns_name(text: str) -> str:
    """A lowercase DNS-1123 label (Kubernetes names, Argo task names)."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return (name or "nbgov")[:63].rstrip("-")


def _resources(table: dict, where: str, source) -> dict:
    out = {}
    for key in ("cpu", "memory"):
        if key in table:
            out[key] = str(table[key])
    if "retries" in table and (isinstance(table["retries"], bool) or table["retries"] < 0):
        raise ConfigError(f"{where} retries must be a whole number >= 0", Location(source))
    return out


def build_plan(config: Config, environment: str | None = None, image: str | None = None,
               allow_local_products: bool = False, repository: str | None = None,
               written: str | None = None) -> ExportPlan:
    """The export plan of the project's pipeline (validated ``[export]`` settings applied).

    With products on shared storage (a ``File`` client) and without ``allow_local_products``,
    every task fetches the project by the commit checked out here from ``repository`` (else
    ``[export] repository``, else the remote ``origin``); the project must be exactly that
    commit (``written``: the file the export writes, which may lie in it)."""

    settings = config.checked_section("export", EXPORT_KEYS)
    if environment:
        config.env_settings(environment)  # an unknown environment is an error now, not on the worker
    _resources(settings, "[export]", config.source)
    per_task = settings.get("tasks", {})
    pipeline = load_pipeline(config)
    infos = pipeline.tasks()
    names = {t.name for t in infos}
    for task_name, table in per_task.items():
        if task_name not in names:
            raise ConfigError(f"[export.tasks.{task_name}]: no such task (tasks: {', '.join(sorted(names))})",
                              Location(config.source))
        if not isinstance(table, dict):
            raise ConfigError(f"[export.tasks.{task_name}] must be a table", Location(config.source))
        unknown = sorted(set(table) - set(TASK_KEYS))
        if unknown:
            raise ConfigError(f"unknown key(s) in [export.tasks.{task_name}]: {', '.join(unknown)}",
                              Location(config.source), hint=f"known keys: {', '.join(sorted(TASK_KEYS))}")
        for key, kind in TASK_KEYS.items():
            if key in table and (not isinstance(table[key], kind) or isinstance(table[key], bool)):
                raise ConfigError(f"[export.tasks.{task_name}] {key} has the wrong type", Location(config.source))
        _resources(table, f"[export.tasks.{task_name}]", config.source)
    shared = pipeline.has_file_client
    if not shared and not allow_local_products:
        raise PipelineError(
            "products are not on shared storage: each engine task may run on another machine and would not "
            "find its upstream products", Location(config.pipeline_path),
            hint="declare a File client in pipeline.yaml (clients: {File: module.get_client}), or pass "
                 "--allow-local-products when every task runs where the project folder is")
    commit = source = None
    notes: list[str] = []
    if shared and not allow_local_products:
        commit, source = _source(config, repository or settings.get("repository"), infos, written, notes)
    tasks = []
    for info in infos:
        table = {**{k: settings[k] for k in ("retries", "cpu", "memory") if k in settings},
                 **per_task.get(info.name, {})}
        tasks.append(ExportTask(info.name, list(info.upstream), retries=int(table.get("retries", 0)),
                                cpu=str(table["cpu"]) if "cpu" in table else None, memory=table.get("memory")))
    return ExportPlan(
        name=export_name(config), tasks=tasks, environment=environment,
        image=image or settings.get("image") or DEFAULT_IMAGE, workdir=settings.get("workdir"),
        retry_delay_s=int(settings.get("retry_delay_s", 60)), project_root=str(config.root),
        shared_storage=shared, commit=commit, repository=source, notes=notes,
    )


def export_name(config: Config) -> str:
    """The DAG id / workflow name: ``[export] name``, else the experiment, as a DNS label."""
    name = config.section("export").get("name")
    return dns_name(name if isinstance(name, str) and name else config.experiment)


def _source(config: Config, repository: str | None, infos, written: str | None, notes: list[str]) -> tuple[str, str]:
    """(the commit the exported tasks build, the repository they fetch it from), refused when
    the project is not exactly a commit or names no repository (the workers fetch it)."""
    root = config.root
    commit = head_commit(root)
    hint_local = "or pass --allow-local-products when every task runs where the project folder is"
    if not commit:
        raise PipelineError("the project is not a git commit: the exported tasks fetch the project's sources by "
                            "commit (workers share no folder with this one)", Location(root),
                            hint=f"commit the project (git init, git add, git commit), {hint_local}")

    def rel(path) -> str:
        resolved = Path(path).resolve()
        return resolved.relative_to(root.resolve()).as_posix() if resolved.is_relative_to(root.resolve()) else ""

    skip = {m for t in infos for p in t.products.values() for m in product_and_metadata(rel(p)) if rel(p)}
    if written and rel(written):
        skip.add(rel(written))
    problem = checkout_problem(root, commit, tuple(sorted(skip)))
    if problem:
        raise PipelineError(f"the exported tasks would build commit {commit[:12]}, but {problem}", Location(root),
                            hint=f"commit (and push) the changes, then export again; {hint_local}")
    source = repository or remote_url(root)
    if not source:
        raise PipelineError("the exported tasks fetch the project by commit, and nothing says from where: the "
                            "project has no git remote 'origin'", Location(root),
                            hint='add the remote (git remote add origin URL) or set [export] repository = "URL"; '
                                 + hint_local)
    if without_credentials(source) != source:
        raise PipelineError(f"the repository address {without_credentials(source)!r} holds credentials: they would "
                            "be written into the workflow file", Location(root),
                            hint="give the address without them ([export] repository) and the workers a git "
                                 "credential helper")
    if on_remote_branch(root, commit) is False:
        notes.append(f"commit {commit[:12]} is on no remote branch here: push it to {source} before the workflow "
                     "runs (its tasks fetch it from there)")
    return commit, source

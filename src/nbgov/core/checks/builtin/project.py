"""Built-in rules that need the project: pipeline consistency and review status."""

from __future__ import annotations

from collections.abc import Iterator

from nbgov.core.checks.model import NotebookContext, Project, Rule
from nbgov.core.checks.settings import matches_any

# --- NBG601-604: pipeline.yaml and notebooks/ agree


def _check_spec_readable(project: Project) -> Iterator[tuple]:
    spec = project.spec
    if spec is not None and spec.error:
        yield spec.path, None, spec.error


def _tasks(project: Project) -> Iterator[tuple[str, dict]]:
    """``(spec path, task)`` for each task of a readable spec (the project's other specs'
    tasks, ``pipeline.serve.yaml``..., name their own spec)."""
    spec = project.spec
    if spec is not None and not spec.error:
        for task in spec.tasks:
            yield task.get("spec") or spec.path, task


def _check_task_sources(project: Project) -> Iterator[tuple]:
    for spec_path, task in _tasks(project):
        source = task.get("source_path")
        # a source rendered from env.yaml ({{...}}) or a glob is Ploomber's to resolve
        if (
            source
            and "{{" not in source
            and "*" not in source
            and not (project.root / source).exists()
        ):
            message = f"task {task['name']!r}: source {task['source']!r} does not exist"
            yield spec_path, task.get("line"), message


#: Task classes that save an executed notebook (the ``nb`` product); ScriptRunner runs a
#: script with plain python and saves none.
_NOTEBOOK_CLASSES = (None, "NotebookRunner")


def _check_products(project: Project) -> Iterator[tuple]:
    for spec_path, task in _tasks(project):
        product, name = task.get("product"), task["name"]
        if not product:
            if not task.get("product_in_source"):
                yield spec_path, task.get("line"), f"task {name!r} declares no product"
        elif (
            str(task.get("source", "")).endswith((".ipynb", ".py"))
            and task.get("class") in _NOTEBOOK_CLASSES
            and isinstance(product, dict)
        ):
            if "nb" not in product:
                message = f"notebook task {name!r}: product has no 'nb' key (the executed notebook)"
                yield spec_path, task.get("line"), message


def _check_not_a_task(ctx: NotebookContext) -> Iterator[tuple]:
    settings = ctx.settings
    prefix = settings.notebooks_dir + "/"
    if not ctx.path.startswith(prefix) or ctx.is_task() is not False:
        return
    if matches_any(ctx.path, settings.not_tasks):
        return
    yield None, None, f"notebook under {prefix} is not a task in {ctx.project.spec.path}"  # type: ignore[union-attr]


PIPELINE_INVALID = Rule(
    "NBG601",
    "pipeline-invalid",
    "pipeline.yaml cannot be read",
    "fix the YAML: a `tasks:` list, each task with a `source` and a `product`",
    _check_spec_readable,
    scope="project",
)
TASK_SOURCE_MISSING = Rule(
    "NBG602",
    "task-source-missing",
    "a task's source file does not exist",
    "fix the source path in pipeline.yaml, or restore the notebook",
    _check_task_sources,
    scope="project",
)
PRODUCT_UNDECLARED = Rule(
    "NBG603",
    "product-undeclared",
    "a task declares no product",
    "declare `product:` (for a notebook task a dict with an `nb` key)",
    _check_products,
    scope="project",
)
NOT_A_TASK = Rule(
    "NBG604",
    "notebook-not-a-task",
    "notebook is not a pipeline task and not excluded",
    "add it to pipeline.yaml, or list it under [check] not-tasks in nbgov.toml",
    _check_not_a_task,
)

# --- NBG701: review status (off by default; the service fills project.review_status)


def _check_approved(ctx: NotebookContext) -> Iterator[tuple]:
    states = ctx.project.review_status
    if states is None:
        return
    status = states.get(ctx.path)
    if status is not None and status != "approved":
        yield None, None, f"not approved at its current version (status: {status})"


NOT_APPROVED = Rule(
    "NBG701",
    "not-approved",
    "review target (notebook, script, module...) is not approved at its current version",
    "ask for a review: nbgov review approve PATH (by someone else than the author)",
    _check_approved,
    default=False,
)

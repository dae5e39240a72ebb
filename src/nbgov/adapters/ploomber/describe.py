"""A rendered Ploomber DAG as plain data: one :class:`TaskInfo` per task, of any kind."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbgov.adapters.ploomber import kernel_options, kinds
from nbgov.core.config import find_root
from nbgov.core.tasks import BUILTIN_KINDS, evidence_file, load_kinds, record_file

BUILTIN = {k.name: k for k in BUILTIN_KINDS}

#: Where records of tasks without a local file product (SQL relations) live, under the root.
LINEAGE_FOLDER = ".nbgov/lineage"


@dataclass
class TaskInfo:
    """One task of the pipeline, as plain data.

    Attributes:
        name: the task name (grid tasks: the generated name, e.g. ``fit-0``).
        source: the task's source as Ploomber resolved it (a file; for a function task the
            file of the function's module; for an upload the data file it uploads; for tasks
            without a source, their first product). Review and gates use ``source_file``.
        products: product key -> local path, for file products only (``nb`` for the single
            product of a notebook task, ``product`` for the single product of other kinds).
        params: the task's parameters (without ``upstream`` / ``product``).
        upstream: upstream task names.
        outdated: Ploomber's own verdict at render time.
        notebook_product: the executed notebook product (any format Ploomber writes), if any.
        kind: the task kind (see :mod:`nbgov.core.tasks`): ``notebook``, ``script``,
            ``function``, ``sql``, ``shell``, ``script-runner``, ``link``, ``input``...
        source_file: the file that is versioned, reviewed and gated for this task (the
            notebook, the script, the function's module, the .sql / .sh file); None when the
            task has no source file of its own (links, inputs, uploads).
        function: for function tasks, the dotted path of the callable.
        group: the grid group a generated task belongs to (one approval for a grid), else None.
        client: the task's database client URI with any password redacted, else None.
        evidence: the executed ``.ipynb`` nbgov reads scraps, timings and the failing cell from
            (the notebook product when it is an .ipynb, else nbgov's own copy); None for kinds
            that execute no notebook.
        record: where this task's lineage record lives (named by the task).
        relations: product key -> table/view name, for database products (SQL relations).
        kernel_folder: the working folder a notebook task's ``executor_params`` give its kernel
            (absolute; None: the build's own), read from the loaded task (R4).
        kernel_refused: ``(key, why)`` for each of its ``executor_params`` a governed build
            refuses (:mod:`nbgov.adapters.ploomber.kernel_options`).
        converters: ``(nbconvert_export_kwargs, exporter class as module.Name or None)`` of each
            product nbconvert writes, read from the loaded task (a factory's too; R4).
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
    relations: dict[str, str] = field(default_factory=dict)
    kernel_folder: Path | None = None
    kernel_refused: tuple[tuple[str, str], ...] = ()
    converters: tuple[tuple[dict[str, Any], str | None], ...] = ()

    def __post_init__(self) -> None:
        # defaults for infos built from plain data (fast paths): the same rules as describe_dag
        # built-in kinds without the entry-point scan: fast paths build infos from plain data
        kind = BUILTIN.get(self.kind) or load_kinds().get(self.kind)
        if self.source_file is None and self.kind in ("notebook", "script"):
            self.source_file = self.source
        if self.record is None and self.notebook_product is not None:
            self.record = record_file(self.name, self.notebook_product.parent)
        if self.evidence is None and self.notebook_product is not None and kind.executes_notebook:
            nb = self.notebook_product
            self.evidence = nb if nb.suffix == ".ipynb" else evidence_file(self.name, nb.parent)


def describe_dag(dag: Any, root: Path | None = None,
                 groups: dict[str, str] | None = None) -> tuple[list[TaskInfo], Path]:
    """Tasks of a live Ploomber DAG (inside a hook, or loaded) as plain data, and the root.

    Args:
        dag: a rendered Ploomber DAG.
        root: the project root (default: found from the first task's source file, else the
            working directory).
        groups: generated task name -> grid group name (known only when nbgov loaded the spec).
    """
    from ploomber.constants import TaskStatus


    groups = groups or {}
    described = []
    for name in dag:
        task = dag[name]
        kind = kinds.task_kind(task)
        described.append((task, kind, kinds.source_file(task, kind)))
    if root is None:

        first = next((f for _, _, f in described if f is not None), None)
        root = find_root(first.parent) if first is not None else Path.cwd()
    infos = []
    for task, kind, src_file in described:
        files, relations = _products(task, "nb" if kind.executes_notebook else "product")
        notebook_product = _notebook_product(task, files) if kind.executes_notebook else None
        folder = (notebook_product.parent if notebook_product is not None
                  else next(iter(files.values())).parent if files else Path(root) / LINEAGE_FOLDER)
        evidence = None
        if kind.executes_notebook and notebook_product is not None:
            evidence = (notebook_product if notebook_product.suffix == ".ipynb"
                        else evidence_file(task.name, folder))
        function = kinds.function_of(task)[0] if kind.name == "function" else None
        first_product = next(iter(files.values()), None)
        kernel = kernel_options.of_task(task)
        infos.append(TaskInfo(
            name=task.name,
            # an upload's source is its data file: kept as `source`, never reviewed
            source=src_file or kinds.source_loc(task) or first_product or Path(root) / task.name,
            products=files,
            params={k: v for k, v in task.params.to_dict().items() if k not in ("upstream", "product")},
            upstream=list(task.upstream), outdated=task.exec_status != TaskStatus.Skipped,
            notebook_product=notebook_product, kind=kind.name, source_file=src_file,
            function=function, group=groups.get(task.name), client=kinds.client_uri(task),
            evidence=evidence, record=record_file(task.name, folder), relations=relations,
            kernel_folder=kernel.folder if kernel else None, kernel_refused=kernel.refused if kernel else (),
            converters=_converters(task),
        ))
    return infos, Path(root)


def _converters(task: Any) -> tuple[tuple[dict[str, Any], str | None], ...]:
    """What a notebook task hands nbconvert, as loaded (``NotebookRunner._converter``: one
    NotebookConverter, or one per notebook product): its export options and the exporter class
    by dotted name. A factory sets them in Python, where the spec's review cannot read them."""
    found = getattr(task, "_converter", None)
    out = []
    for converter in found if isinstance(found, list) else [found] if found is not None else []:
        kwargs = getattr(converter, "_nbconvert_export_kwargs", None)
        exporter = getattr(converter, "_exporter", None)
        name = f"{exporter.__module__}.{exporter.__qualname__}" if isinstance(exporter, type) else None
        out.append((dict(kwargs) if isinstance(kwargs, dict) else {"?": kwargs} if kwargs else {}, name))
    return tuple(out)


def _products(task: Any, single_key: str) -> tuple[dict[str, Path], dict[str, str]]:
    """(file products as key -> path, other products as key -> name) of a task."""
    from ploomber.products import File, MetaProduct

    product = task.product
    if isinstance(product, MetaProduct):
        inner = product.products.products
        items = list(inner.items()) if isinstance(inner, dict) else [(str(i), p) for i, p in enumerate(inner)]
    else:
        items = [(single_key, product)]
    files: dict[str, Path] = {}
    relations: dict[str, str] = {}
    for key, prod in items:
        if isinstance(prod, File):
            files[key] = Path(str(prod))
        else:
            relations[key] = str(prod)
    return files, relations


def _notebook_product(task: Any, files: dict[str, Path]) -> Path | None:
    """The product Ploomber executes the notebook into (its ``nb_product_key``; for a list of
    keys, the .ipynb one, else the last, as Ploomber picks)."""
    key = getattr(task, "nb_product_key", "nb")
    if isinstance(key, str):
        return files.get(key) if len(files) != 1 or key in files else next(iter(files.values()))
    paths = [files[k] for k in key if k in files]
    return next((p for p in paths if p.suffix == ".ipynb"), paths[-1] if paths else None)

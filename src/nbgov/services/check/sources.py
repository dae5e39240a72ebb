"""Which files ``nbgov check`` looks at, and how: the pipeline's task sources of every kind,
never its products, and notebooks that are not tasks with hygiene rules only.

Task sources and products come from the build plan when there is one (the names and paths
Ploomber rendered: grids, placeholders, function modules), and from pipeline.yaml as written
when the plan is older than the spec or missing.
A script task (py:percent or light ``.py``) is split into cells here, without jupytext, so
findings point at lines of the file; any other source (a function's module, ``.sql``,
``.sh``) is checked as one code cell for the rules that make sense on plain code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from nbgov.core.config import Config
from nbgov.core.errors import NbgovError
from nbgov.core.params import assigned_literals
from nbgov.core.tasks import EVIDENCE_SUFFIX

#: Rules that make no sense on a script: it carries no kernelspec (Ploomber picks the kernel).
SCRIPT_SKIP = frozenset({"NBG301"})
#: The only rules for a source that is not a notebook (a module, SQL, shell): code hygiene.
TEXT_RULES = ("NBG401", "NBG5")
#: The rules for a product named on the command line (an executed notebook, before it is
#: shared): readable, no secret in sources or outputs, no code hidden under papermill's tag.
#: Outputs and absolute paths are what an executed copy is made of: not findings there.
PRODUCT_RULES = ("NBG001", "NBG104", "NBG5")

_PERCENT = re.compile(r"^# %%(?P<rest>.*)$")
_LIGHT = re.compile(r"^# \+(?P<rest>.*)$")
_TAGS = re.compile(r"tags\s*=\s*(\[[^\]]*\])")


@dataclass
class TaskFiles:
    """The pipeline's files, relative to the project root (POSIX).

    Attributes:
        sources: task source file -> how it is checked: ``notebook`` (.ipynb), ``script``
            (a .py run as a notebook) or ``text`` (a function module, SQL, shell...).
        products: every product path of every task (never checked as a source).
    """

    sources: dict[str, str] = field(default_factory=dict)
    products: set[str] = field(default_factory=set)


def written_by_pipeline(rel: str, products: set[str]) -> bool:
    """Whether a file (relative to the root, POSIX) is one a build writes, never a source to lint:
    a product; nbgov's ``*.executed.ipynb`` copy; the ``.ipynb`` Ploomber leaves next to an
    html/pdf product of a failed task (it executes to ``product.ipynb`` first); a copy of a
    product in a File client's local backup folder (``backup/products/x.ipynb``)."""
    if rel in products or rel.endswith(EVIDENCE_SUFFIX):
        return True
    for product in products:
        partial = PurePosixPath(product).with_suffix(".ipynb").as_posix()
        if rel == partial or rel.endswith(("/" + product, "/" + partial)):
            return True
    return False


def _rel(path: Path, root: Path) -> str | None:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


def _mode(path: Path, kind: str | None) -> str:
    if path.suffix == ".ipynb":
        return "notebook"
    if path.suffix == ".py" and kind in (None, "notebook", "script"):
        return "script"
    return "text"


def _module_file(root: Path, dotted: str) -> Path | None:
    """The module file of ``pkg.mod.function`` under the project (or its ``src/``), if any."""
    parts = dotted.split(".")[:-1]
    for base in (root, root / "src"):
        for n in range(len(parts), 0, -1):
            stem = base.joinpath(*parts[:n])
            for candidate in (stem.with_suffix(".py"), stem / "__init__.py"):
                if candidate.is_file():
                    return candidate
    return None


def task_files(config: Config) -> TaskFiles | None:
    """The pipeline's task sources and products; None when the project has no pipeline."""
    if not config.pipeline_path.is_file():
        return None
    root = config.root
    out = TaskFiles()

    # the plan and the spec reader (PyYAML, the Ploomber adapter's light half) only for a project
    # with a pipeline: nbgov check runs in pre-commit on every commit
    from nbgov.adapters.specfile import read_spec, sibling_specs
    from nbgov.services.pipeline.plan import plan_tasks, stale_reason  # (see above)

    found = plan_tasks(config, stale_ok=True)
    for info in found[0] if found is not None else []:
        if info.source_file is not None and (rel := _rel(info.source_file, root)):
            out.sources[rel] = _mode(Path(info.source_file), info.kind)
        for path in [*info.products.values(), info.notebook_product, info.evidence]:
            if path is not None and (rel := _rel(Path(path), root)):
                out.products.add(rel)
    # the plan holds: the spec says nothing more; the project's other specs (pipeline.serve.yaml:
    # `-e`) are tasks too, their sources not "notebooks that are no task" (PyYAML only for them)
    fresh = found is not None and stale_reason(config, found[1]) is None
    for spec_path in [*([] if fresh else [config.pipeline_path]), *sibling_specs(config.pipeline_path)]:
        try:
            spec = read_spec(spec_path)
        except NbgovError:
            continue  # NBG601 reports the spec itself; a broken other spec fails its own build
        _add_spec(out, spec, root)
    return out


def _add_spec(out: TaskFiles, spec: Any, root: Path) -> None:
    """Add a read spec's (:class:`nbgov.adapters.specfile.SpecFile`) task sources and products."""
    for task in spec.tasks:
        source = spec.source_path(task)
        if source is None and "." in task.source:
            source = _module_file(spec.folder, task.source)
            kind = "function"
        else:
            kind = None
        if source is not None and (rel := _rel(source, root)) and rel not in out.sources:
            out.sources[rel] = _mode(source, kind)
        product = task.product if isinstance(task.product, dict) else {"nb": task.product}
        if task.product is None and spec.meta.get("extract_product") and source is not None:
            product = declared_product(source)  # in the parameters cell (meta.extract_product)
        # meta.product_relative_to_source: relative to the source's folder, as Ploomber reads them
        base = source.parent if spec.meta.get("product_relative_to_source") and source else spec.folder
        for value in (product or {}).values():
            if isinstance(value, str) and "{{" not in value and "[[" not in value:
                if rel := _rel(base / value, root):
                    out.products.add(rel)


def declared_product(source: Path) -> dict[str, Any] | None:
    """The ``product = ...`` literal of a notebook's or script's parameters cell (what
    ``meta.extract_product`` reads), as ``{key: path}``; None when there is none."""
    try:
        text = source.read_text(encoding="utf-8")
        nb = json.loads(text) if source.suffix == ".ipynb" else script_notebook(text)[0]
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    for cell in nb.get("cells") or []:
        if not isinstance(cell, dict) or "parameters" not in ((cell.get("metadata") or {}).get("tags") or []):
            continue
        body = cell.get("source")
        try:
            for value in assigned_literals("".join(body) if isinstance(body, list) else str(body or ""), "product"):
                return value if isinstance(value, dict) else {"nb": value}
        except (SyntaxError, ValueError):
            return None
    return None


def script_notebook(text: str) -> tuple[dict[str, Any], list[int]]:
    """A py:percent or light script as a notebook dict, and the file line (0-based) each
    cell's source starts on; the parameters cell keeps its ``tags``."""
    lines = text.split("\n")
    percent = any(_PERCENT.match(line) for line in lines)
    marker = _PERCENT if percent else _LIGHT
    cells: list[dict[str, Any]] = []
    starts: list[int] = []
    current: list[str] = []
    meta: dict[str, Any] = {}
    kind, start = "code", 0

    def flush() -> None:
        if current and any(line.strip() for line in current) or meta:
            source = "\n".join(current).strip("\n")
            if kind == "markdown":
                source = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#")
                                   for line in source.split("\n"))
            cells.append({"cell_type": kind, "metadata": dict(meta), "source": source,
                          **({"outputs": [], "execution_count": None} if kind == "code" else {})})
            starts.append(start + next((i for i, line in enumerate(current) if line.strip()), 0))

    for number, line in enumerate(lines):
        m = marker.match(line)
        if m or (not percent and line.strip() == "# -"):
            flush()
            current, meta, start = [], {}, number + 1
            rest = m.group("rest") if m else ""
            kind = "markdown" if "[markdown]" in rest or "[md]" in rest else "code"
            tags = _TAGS.search(rest)
            if tags:
                try:
                    meta["tags"] = [str(t) for t in json.loads(tags.group(1).replace("'", '"'))]
                except ValueError:
                    pass
            continue
        current.append(line)
    flush()
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 4}
    return nb, starts


def text_notebook(text: str) -> tuple[dict[str, Any], list[int]]:
    """Any other source file as one code cell starting on the file's first line."""
    cell = {"cell_type": "code", "metadata": {}, "source": text, "outputs": [],
            "execution_count": None}
    return {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 4}, [0]

"""A no-op ``nbgov build`` without loading Ploomber: "everything is up to date" from the records.

Loading a pipeline through Ploomber costs 2-4 s (its import alone 2.4 s) before anything can be
decided. For the common rebuild where nothing changed, nbgov's own content rules
(:func:`nbgov.core.freshness.decide`, the rules a serial ``nbgov build`` applies to every task)
can be checked from the last lineage records alone. When every task is fresh the build is a
no-op and its summary is returned at once; in every other case (anything stale, a task without
a record, a spec using features this reader does not model) :func:`noop_summary` answers None
and the caller takes the normal path, which decides everything again.

Only plain specs are read: tasks with ``source`` (a ``.ipynb`` notebook), ``product``,
optional ``name`` and ``params``; ``{{placeholders}}`` only from env.yaml or ``{{here}}``, no
``upstream`` declared in the spec,
no ``meta`` other than ``extract_upstream: true`` and ``extract_product: false``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from nbgov.core.config import Config

#: Top-level spec keys that do not change which tasks exist or what they read and write.
_SPEC_KEYS = {"tasks", "meta", "on_render", "on_finish", "on_failure", "executor"}
_TASK_KEYS = {"source", "product", "name", "params"}


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}")


def _substitute(raw: Any, env_file: Path) -> Any:
    """``{{name}}`` placeholders filled from env.yaml as Ploomber does (a value that is only a
    placeholder keeps the env value's type) and ``{{here}}``; None for any other placeholder
    (Ploomber's ``{{now}}``, ``{{git}}``, ...), so the normal path runs."""
    import yaml

    try:
        env = yaml.safe_load(env_file.read_text(encoding="utf-8")) if env_file.is_file() else {}
    except (OSError, ValueError, yaml.YAMLError):
        return None
    if not isinstance(env, dict):
        return None
    # a value that is itself a template is left to the full path, which renders it sandboxed
    plain = {k: v for k, v in env.items() if isinstance(v, (str, int, float, bool))
             and not (isinstance(v, str) and ("{{" in v or "{%" in v))}
    # Ploomber's own {{here}}: the absolute folder of pipeline.yaml (an env.yaml value wins)
    plain.setdefault("here", str(env_file.parent.resolve()))

    class Unknown(Exception):
        pass

    def fill(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        if not isinstance(value, str) or "{{" not in value:
            return value
        whole = _PLACEHOLDER.fullmatch(value.strip())
        if whole:
            if whole.group(1) not in plain:
                raise Unknown
            return plain[whole.group(1)]

        def one(match: re.Match) -> str:
            if match.group(1) not in plain:
                raise Unknown
            return str(plain[match.group(1)])

        return _PLACEHOLDER.sub(one, value)

    try:
        return fill(raw)
    except Unknown:
        return None


def _plain_tasks(spec_path: Path) -> list[dict[str, Any]] | None:
    """The spec's tasks as ``{name, source, products, notebook}``, or None when not plain."""
    import yaml

    try:
        text = spec_path.read_text(encoding="utf-8")
        raw = yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError):  # ValueError: not UTF-8 (the normal path says so)
        return None
    if "{{" in text:
        raw = _substitute(raw, spec_path.parent / "env.yaml")
    if not isinstance(raw, dict) or set(raw) - _SPEC_KEYS:
        return None
    meta = raw.get("meta") or {}
    if not isinstance(meta, dict) or set(meta) - {"extract_upstream", "extract_product"}:
        return None
    if meta.get("extract_upstream", True) is not True or meta.get("extract_product", False):
        return None
    tasks = raw.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        return None
    root, out = spec_path.parent, []
    for task in tasks:
        if not isinstance(task, dict) or set(task) - _TASK_KEYS or "product" not in task:
            return None
        source, product = task.get("source"), task["product"]
        if not isinstance(source, str) or not source.endswith(".ipynb"):
            return None
        if isinstance(product, str):
            products = {"nb": product}
        elif isinstance(product, dict) and all(isinstance(v, str) for v in product.values()):
            products = dict(product)
        else:
            return None
        if "nb" not in products or not isinstance(task.get("params") or {}, dict):
            return None
        out.append(
            {
                "name": str(task.get("name") or Path(source).stem),
                "source": root / source,
                "products": {k: root / v for k, v in products.items()},
                "params": task.get("params") or {},
            }
        )
    return out


def fresh_records(config: Config) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """The plain spec's tasks in build order and each one's lineage record, when every task is
    fresh by content (its last run succeeded with this notebook version, these params and these
    input digests, and its products are there); None otherwise."""
    specs = _plain_tasks(config.pipeline_path)
    if specs is None:
        return None
    from nbgov.adapters.notebooks import read_notebook
    from nbgov.core.digest import file_digest
    from nbgov.core.errors import NbgovError
    from nbgov.core.freshness import decide
    from nbgov.core.identity import notebook_version
    from nbgov.core.lineage import read_record, record_path

    by_name = {t["name"]: t for t in specs}
    if len(by_name) != len(specs):
        return None

    def rel(path: Path) -> str:
        try:
            return path.resolve().relative_to(config.root).as_posix()
        except ValueError:
            return path.as_posix()

    def digest(path: Path) -> str | None:
        return file_digest(path) if path.exists() else None

    records = {}
    for task in specs:
        try:
            record = read_record(record_path(task["products"]["nb"]))
            if record is None or not task["source"].is_file():
                return None
            data = record.to_dict()
            upstream = [u.get("task") for u in data.get("upstream") or []]
            if data.get("task") != task["name"] or any(u not in by_name for u in upstream):
                return None
            # the record names products as the full path resolved them: same files or no answer
            if set((data.get("products") or {}).keys()) != set(task["products"]):
                return None
            if {v.get("path") for v in data["products"].values()} != {
                rel(p) for p in task["products"].values()
            }:
                return None
            inputs = {
                rel(p): digest(p)
                for up in upstream
                for key, p in by_name[up]["products"].items()
                if key != "nb" and p.exists()
            }
            products = {rel(p): digest(p) for p in task["products"].values()}
            version = notebook_version(read_notebook(task["source"]))
        except (NbgovError, OSError, ValueError, KeyError, TypeError, AttributeError):
            return None  # anything unexpected: the normal path decides and reports
        if decide(data, version, task["params"], inputs, products).fresh is not True:
            return None
        records[task["name"]] = record
    return _topological(specs, records), records


def noop_summary(
    config: Config,
    force: bool,
    tasks: list[str] | None,
    jobs: int | None,
    env: list[str],
    params: list[str],
    started: float,
):
    """The summary of a build that would skip every task, or None (take the normal path).

    Args:
        config: the project.
        force, tasks, jobs, env, params: the build's options; any of them set means "not a
            plain rebuild" (None).
        started: ``time.perf_counter()`` when the build began (for ``wall_s``).
    """
    if force or tasks or (jobs or 1) > 1 or env or params:
        return None
    found = fresh_records(config)
    if found is None:
        return None
    specs, records = found
    from nbgov.services.build import BuildSummary, TaskSummary

    summaries = [TaskSummary(t["name"], "skipped", None, records[t["name"]].run_id) for t in specs]
    return BuildSummary(
        summaries, None, False, time.perf_counter() - started, config.resolved_tracking_uri()
    )


def _topological(specs: list[dict[str, Any]], records: dict) -> list[dict[str, Any]]:
    """Tasks in an order where each comes after its upstream (spec order where free)."""
    done: set[str] = set()
    todo, out = list(specs), []
    while todo:
        for task in todo:
            ups = {u.get("task") for u in records[task["name"]].to_dict().get("upstream") or []}
            if ups <= done:
                out.append(task)
                done.add(task["name"])
                todo.remove(task)
                break
        else:  # a cycle cannot have a fresh record for every task; keep the spec order
            return out + todo
    return out

"""Kernel options a governed build refuses, read from the spec (docs/security.md, R4).

A governed build screens each loaded notebook task's ``executor_params`` (and
``papermill_params``) against an allow-list (:mod:`nbgov.adapters.ploomber.kernel_options`) and
refuses the task when one would reach its kernel unreviewed. ``nbgov review gate`` and ``nbgov
review status`` read the same keys from the spec as written, so a pull request fails in CI where
the production build would, not only at deploy time. What only the loaded pipeline shows (a
``location:`` factory's tasks, a value rendered from a placeholder) stays the build's to check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nbgov.adapters.ploomber.kernel_options import screen
from nbgov.adapters.ploomber.sources import raw_tasks, read_yaml
from nbgov.adapters.specfile import sibling_specs
from nbgov.core.config import Config
from nbgov.core.errors import PipelineError

_KEYS = ("executor_params", "papermill_params")


def refused_kernel_options(config: Config) -> list[str]:
    """One line per key of a notebook task's ``executor_params`` / ``papermill_params`` in the
    project's specs (the pipeline's and its siblings') that a governed build refuses."""
    spec_path = config.pipeline_path
    if not spec_path.is_file():
        return []
    problems: list[str] = []
    for spec in [spec_path, *sibling_specs(spec_path)]:
        try:
            raw = read_yaml(spec)
            tasks = raw_tasks(raw, spec) if isinstance(raw, dict) else []
        except PipelineError:
            continue  # the spec's own problems are reported where it is read
        for task in tasks:
            if task.is_function or not isinstance(task.spec, dict):
                continue
            label = task.spec.get("name") or task.source
            where = Path(task.origin).name if task.origin else spec.name
            problems += _refused(task.spec, str(label), where)
    return problems


def _refused(spec: dict[str, Any], label: str, where: str) -> list[str]:
    if spec.get("class") not in (None, "NotebookRunner"):
        return []  # a ScriptRunner takes no executor_params
    executor = spec["executor"] if isinstance(spec.get("executor"), str) else "papermill"
    problems = []
    for key in _KEYS:
        params = spec.get(key)
        if not isinstance(params, dict):
            continue
        # a value rendered from a placeholder is the loaded build's to judge; the key is not
        written = {k: v for k, v in params.items() if not (isinstance(v, str) and "{{" in v)}
        problems += [f"{where}: `{key}.{name}` of task {label} is refused by a governed build: {why} "
                     f"(remove it from the spec)" for name, why in screen(written, executor).refused]
    return problems

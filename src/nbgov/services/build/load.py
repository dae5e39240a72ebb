"""Load the project's pipeline for a build: ``[execution]`` settings, ``--env`` and ``-p``
overrides, and the task selection."""

from __future__ import annotations

import difflib
from typing import Any

from nbgov.adapters.ploomber import Pipeline
from nbgov.core.config import Config
from nbgov.core.errors import ConfigError, Location, PipelineError
from nbgov.core.params import parse_assignment


def executor_params(config: Config) -> dict[str, Any]:
    """Papermill settings from ``[execution]`` in nbgov.toml (timeouts in seconds)."""
    kernel = config.section("execution")
    out: dict[str, Any] = {}
    for key, target in (("cell_timeout", "execution_timeout"), ("startup_timeout", "start_timeout")):
        if key in kernel:
            value = kernel[key]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"[execution] {key} must be a positive number of seconds", Location(config.source))
            out[target] = value
    return out


def load_pipeline(config: Config, env: list[str] | None = None, params: list[str] | None = None) -> Pipeline:
    """Load the project's pipeline with ``--env`` and ``-p`` overrides applied and validated."""
    env_values = {}
    for text in env or []:
        _, key, value = parse_assignment(text, dotted=False)
        env_values[key] = value
    param_values: dict[str, dict[str, Any]] = {}
    for text in params or []:
        task, key, value = parse_assignment(text, dotted=True)
        param_values.setdefault(task, {})[key] = value
    return Pipeline(config.pipeline_path, env=env_values, params=param_values,
                    executor_params=executor_params(config))


def select_tasks(pipeline: Pipeline, tasks: list[str] | None, downstream: bool) -> list[str] | None:
    """Expand a task selection (``train`` or ``train+`` for downstream too) into task names."""
    if not tasks:
        return None
    names = pipeline.task_names
    selected: set[str] = set()
    for raw in tasks:
        name, plus = (raw[:-1], True) if raw.endswith("+") else (raw, downstream)
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            maybe = f"did you mean {close[0]!r}? " if close else ""
            raise PipelineError(f"unknown task {name!r}", Location(pipeline.spec_path),
                                hint=f"{maybe}tasks: {', '.join(names)}")
        selected.update(pipeline.downstream_of(name) if plus else [name])
    return [n for n in names if n in selected]

"""What a notebook task's ``executor_params`` may ask of its kernel (docs/security.md, R4).

papermill forwards every keyword it does not know to nbclient and the kernel manager, and some
of them change which code the kernel runs: ``resources.metadata.path`` is its working folder
(first on its import path), ``extra_arguments`` its command line (``exec_files``),
``kernel_manager_class`` a class imported by name. So the keys are an allow-list, read from
each task *as loaded* (a DAG a ``location:`` factory builds in Python too):

- allowed: keys that only shape execution (flags, timeouts, names), with values of their type;
- followed: ``cwd`` (and ``local_execution``), the kernel's working folder, gated by the build;
- refused: everything else. A governed build refuses the task; any other build drops the key
  when the pipeline loads and warns (:func:`prepare`), so no build runs a kernel the gate
  would not have seen.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_FLAG, _SECONDS, _NAME = "a flag (true/false)", "a number of seconds", "a name"

#: papermill's ``execute_notebook`` keys that only shape execution -> the value they take
PAPERMILL_ALLOWED = {
    "log_output": _FLAG, "progress_bar": _FLAG, "request_save_on_cell_execute": _FLAG, "report_mode": _FLAG,
    "prepare_only": _FLAG, "execution_timeout": _SECONDS, "start_timeout": _SECONDS,
    "autosave_cell_every": _SECONDS, "kernel_name": _NAME, "language": _NAME, "shutdown_kernel": _NAME,
    "engine_name": _NAME,
}
#: ploomber-engine's (it runs the notebook in nbgov's own process)
ENGINE_ALLOWED = {"log_output": _FLAG, "progress_bar": _FLAG, "verbose": _FLAG, "profile_runtime": _FLAG,
                  "profile_memory": _FLAG}
#: followed: the kernel's working folder, whose importable modules become review targets
FOLLOWED = ("cwd",)
#: papermill's own engine (nbgov's warm pool stands in for it): others may run cells anywhere
ENGINES = (None, "nbclient")
_CHOICES = {"shutdown_kernel": ("graceful", "immediate"), "engine_name": ENGINES}


@dataclass(frozen=True)
class KernelOptions:
    """What one notebook task asks of its kernel: ``folder``, the working folder it sets
    (absolute; None: the build's own), and ``refused``, one ``(key, why)`` per key a governed
    build refuses."""

    folder: Path | None
    refused: tuple[tuple[str, str], ...]


def _valid(kind: str, value: Any) -> bool:
    if kind == _FLAG:
        return isinstance(value, bool)
    if kind == _SECONDS:
        return value is None or (isinstance(value, int | float) and not isinstance(value, bool))
    return value is None or isinstance(value, str)


def _why(key: str, value: Any, allowed: dict[str, str]) -> str | None:
    """Why ``key: value`` cannot reach a kernel unreviewed, or None when it may."""
    if key in FOLLOWED:
        return None if isinstance(value, str | os.PathLike) else "the kernel's working folder must be a path"
    if key == "resources":
        return "nbclient takes resources.metadata.path as the kernel's working folder, which the gate does not follow"
    if key == "extra_arguments":
        return "kernel command-line options can run files outside review (exec_files)"
    if key not in allowed:
        return ("papermill hands it to nbclient or the kernel manager, which may start or load code nbgov "
                "cannot review; only options that shape execution are allowed")
    if not _valid(allowed[key], value):
        return f"it takes {allowed[key]}, not {type(value).__name__}"
    if key in _CHOICES and value not in _CHOICES[key]:
        return f"it must be one of {', '.join(repr(c) for c in _CHOICES[key])} (another engine may run cells elsewhere)"
    return None


def screen(params: dict[str, Any] | None, executor: str = "papermill", source_folder: Path | None = None,
           local_execution: bool = False, base: Path | None = None) -> KernelOptions:
    """Classify a task's ``executor_params``: the working folder they give its kernel (``cwd``
    made absolute against ``base``, the build's working folder; ``local_execution``: the
    source's folder) and the keys a governed build refuses."""
    allowed = PAPERMILL_ALLOWED if executor == "papermill" else ENGINE_ALLOWED
    refused = tuple((k, why) for k, v in (params or {}).items() if (why := _why(k, v, allowed)) is not None)
    folder = None
    cwd = (params or {}).get("cwd")
    if isinstance(cwd, str | os.PathLike):
        folder = Path(os.path.abspath(Path(base or Path.cwd()) / cwd))
    elif local_execution and source_folder is not None:
        folder = source_folder
    return KernelOptions(folder, refused)


def of_task(task: Any) -> KernelOptions | None:
    """:func:`screen` on a loaded task (a NotebookRunner), counting the keys :func:`prepare`
    dropped; None for other kinds."""
    from ploomber.tasks import NotebookRunner

    if not isinstance(task, NotebookRunner):
        return None
    loc = getattr(task.source, "loc", None)
    found = screen(task.executor_params, task.executor, Path(loc).resolve().parent if loc else None,
                   bool(getattr(task, "local_execution", False)))
    dropped = tuple(getattr(task, "_nbgov_refused", ()))
    return KernelOptions(found.folder, dropped + found.refused)


def prepare(task: Any, defaults: dict[str, Any]) -> list[str]:
    """Put nbgov's papermill defaults under a notebook task's own ``executor_params``, make its
    ``cwd`` absolute (the folder the gate covers is the one papermill changes to), and drop the
    keys no kernel may get (remembered on the task for the governed gate, :func:`of_task`);
    return one warning per dropped key.

    Only NotebookRunner tasks take them (ScriptRunner has none). NotebookRunner already moved
    ``papermill_params`` into ``executor_params`` when the spec gave only those, so the
    project's settings win over the defaults either way.
    """
    from ploomber.tasks import NotebookRunner

    if not isinstance(task, NotebookRunner):
        return []
    params = {**defaults, **(task.executor_params or {})} if task.executor == "papermill" else \
        dict(task.executor_params or {})
    found = screen(params, task.executor)
    warnings = []
    for key, why in found.refused:
        params.pop(key, None)
        warnings.append(f"task {task.name}: executor_params.{key} ignored: {why}; a governed build refuses it "
                        "(remove it from the spec)")
    if found.folder is not None:
        params["cwd"] = str(found.folder)
    task._nbgov_refused = found.refused
    task.executor_params = params
    return warnings

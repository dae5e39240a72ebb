"""What building the pipeline reports, without importing Ploomber: each task's outcome, the
build's result, the content check's signature, the root cause of a failed task, and the wrapper
every task's build runs inside. Shared by :mod:`.pipeline` and :mod:`.executor`.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TaskOutcome:
    """What happened to one task in a build."""

    name: str
    outcome: str  # "ran" | "skipped" | "failed" | "not-run"
    error: str | None = None
    #: why a task was skipped when Ploomber would have run it (:data:`INPUTS_UNCHANGED`)
    reason: str | None = None


#: A task Ploomber calls outdated (an upstream rebuilt or touched, a source edit that changes
#: nothing it runs) whose source version, params and input digests are those of its last run.
INPUTS_UNCHANGED = "inputs unchanged"


@dataclass
class BuildResult:
    """Outcomes of every task, in pipeline order, and whether the build failed."""

    outcomes: list[TaskOutcome] = field(default_factory=list)
    failed: bool = False

    def by_name(self) -> dict[str, TaskOutcome]:
        return {o.name: o for o in self.outcomes}


#: ``check(task name, tasks executed so far in this build)`` -> True: its content is unchanged,
#: skip it; False: its content changed, run it; None: no opinion, Ploomber's rules decide.
ContentCheck = Callable[[str, "set[str]"], "bool | None"]


EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w]*\.)*([A-Za-z_]\w*(?:Error|Exception|Interrupt|Exit)): (.*)$")



def task_error(message: str, name: str) -> str | None:
    """The root cause of task ``name``'s failure in a Ploomber DAGBuildError message, as
    ``ExceptionName: first line`` (Ploomber's own wrapper exceptions are skipped)."""
    end = message.find(f'Error building task "{name}"')
    chunk = message[:end] if end >= 0 else message
    start = chunk.rfind("Error building task \"")
    chunk = chunk[start:] if start >= 0 else chunk
    causes = [m for m in map(EXCEPTION_LINE.match, chunk.splitlines()) if m and m.group(1) != "TaskBuildError"]
    if not causes:
        return None
    ename, text = causes[-1].groups()
    found = f"{ename}: {text.strip()}"
    if ename == "DeadKernelError" or "Kernel died" in text:
        # nothing in papermill's words says why; the usual causes do
        found += (" (the kernel process was killed: out of memory (dmesg), a kill, or its warm-kernel "
                  "template ended; run again, or set NBGOV_WARM_KERNELS=0 to start kernels normally)")
    return found[:500]


@contextlib.contextmanager
def quiet(keep_progress: bool = False):
    """Silence Ploomber's warnings and stdout chatter (its tracebacks are not user messages)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if keep_progress:
            yield
        else:
            with contextlib.redirect_stdout(io.StringIO()):
                yield


#: Wraps a task's build in the process that runs it (e.g. to keep the executed notebook of a
#: task whose product is HTML): ``wrapper(task) -> context manager``. Set before any worker is
#: forked, so workers inherit it.
_wrapper: Callable[[Any], Any] | None = None


def set_build_wrapper(wrapper: Callable[[Any], Any] | None) -> None:
    """Install the context-manager factory every task build runs inside (None: none)."""
    global _wrapper
    _wrapper = wrapper


def build_wrapper(task: Any) -> Any:
    """The context manager ``task``'s build runs inside (a null one when none is installed)."""
    return _wrapper(task) if _wrapper else contextlib.nullcontext()

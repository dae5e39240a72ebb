"""Take kernel start-up off a serial build's critical path: boot the next task's kernel early.

A Python kernel needs ~0.4 s to become ready, and a build of N tasks pays it N times in a row.
While a task runs, :class:`KernelPool` has already launched one spare kernel (same kernel name,
same working directory, same environment); the next task takes it, already booted, and a new
spare starts. Every task still gets a fresh kernel that no other task used; a spare that died,
or that was started for another kernel or folder, is discarded and a kernel is started as
papermill would.

The pool works through a papermill engine that stands in for papermill's default engine while
:func:`kernel_pool` is active (Ploomber refuses an ``engine_name`` in executor params other
than its executor's). Outside that block (parallel builds, where tasks run in forked workers,
``ploomber build``, the server) papermill's own engine runs, untouched.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

#: nbclient starts IPython kernels with an in-memory history (no SQLite file per task).
_IPYKERNEL_ARGS = ["--HistoryManager.hist_file=:memory:"]

_active: KernelPool | None = None


class KernelPool:
    """At most one spare, already-launched kernel, keyed by (kernel name, working directory).

    Kernel managers are jupyter_client's ``AsyncKernelManager``, the class nbclient itself uses,
    driven through nbclient's ``run_sync`` so that they share nbclient's event loop.
    """

    def __init__(self) -> None:
        self._spare: tuple[tuple[str, str], Any] | None = None
        self._ended: list[Any] = []  # killed task kernels, reaped later off the critical path
        self.hits = 0
        self.misses = 0

    def take(self, kernel_name: str, cwd: str, timeout: float = 60) -> Any | None:
        """The spare kernel manager, booted and answering, if it fits (None otherwise); then
        launches the next spare.

        A spare that does not answer ``kernel_info`` within ``timeout`` seconds (say its ports
        were taken meanwhile) is discarded: the task starts its own kernel as papermill would.
        """
        spare, self._spare = self._spare, None
        km = None
        if spare is not None:
            key, candidate = spare
            if key == (kernel_name, cwd) and _run(_ready(candidate, timeout)):
                km = candidate
            else:
                _shutdown(candidate)
        if km is None:
            self.misses += 1
        else:
            self.hits += 1
        self._launch(kernel_name, cwd)
        self._reap(wait=False)
        return km

    def retire(self, km: Any, graceful: bool = False) -> None:
        """End a task's kernel. Immediate shutdown is a SIGKILL to its process group now and the
        clean-up (reaping, connection file) later: waiting for the exit costs ~0.1 s a task."""
        if graceful:
            _shutdown(km, now=False)
            return
        try:
            _run(km.provisioner.kill())
        except Exception:  # no provisioner, already gone: the full shutdown sorts it out
            _shutdown(km)
            return
        self._ended.append(km)

    def _reap(self, wait: bool) -> None:
        still = []
        for km in self._ended:
            process = getattr(km.provisioner, "process", None)
            if wait or process is None or process.poll() is not None:
                _shutdown(km)
            else:
                still.append(km)
        self._ended = still

    def _launch(self, kernel_name: str, cwd: str) -> None:
        from jupyter_client.manager import AsyncKernelManager

        km = AsyncKernelManager(kernel_name=kernel_name)
        try:
            args = list(_IPYKERNEL_ARGS) if km.ipykernel else []
            _run(km.start_kernel(extra_arguments=args, cwd=cwd))
        except Exception:  # no such kernel, a broken kernelspec: papermill will report it
            with contextlib.suppress(Exception):
                _run(km.cleanup_resources())
            return
        self._spare = ((kernel_name, cwd), km)

    def close(self) -> None:
        """Shut down the spare kernel, if any, and finish ending the task kernels."""
        spare, self._spare = self._spare, None
        if spare is not None:
            _shutdown(spare[1])
        self._reap(wait=True)


def _run(awaitable: Any) -> Any:
    from nbclient.util import run_sync

    async def wrapped():
        return await awaitable

    return run_sync(wrapped)()


async def _ready(km: Any, timeout: float) -> bool:
    """Whether the kernel is alive and answers ``kernel_info`` within ``timeout`` seconds."""
    if not await km.is_alive():
        return False
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=timeout)
        return True
    except Exception:  # RuntimeError (died, timed out) and whatever a broken kernel gives
        return False
    finally:
        kc.stop_channels()


def _shutdown(km: Any, now: bool = True) -> None:
    process = getattr(getattr(km, "provisioner", None), "process", None)
    with contextlib.suppress(Exception):
        _run(km.shutdown_kernel(now=now))
    with contextlib.suppress(Exception):
        _run(km.cleanup_resources())
    # whatever went wrong above (a loop in a bad state, a slow machine), no kernel outlives its
    # task or the build
    if process is not None and process.poll() is None:
        with contextlib.suppress(Exception):
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def kernel_pool() -> Iterator[KernelPool]:
    """Inside the block, papermill runs notebooks (in this process) on kernels booted ahead."""
    global _active
    from papermill.engines import papermill_engines

    default = papermill_engines.get_engine(None)
    previous, _active = _active, KernelPool()
    papermill_engines.register(None, _prestart_engine(default))
    try:
        yield _active
    finally:
        papermill_engines.register(None, default)
        pool, _active = _active, previous
        pool.close()


def _prestart_engine(base: type) -> type:
    """A papermill engine class: ``base`` (papermill's nbclient engine), on a booted kernel."""
    from papermill.utils import merge_kwargs, remove_args

    class PrestartEngine(base):
        """papermill's nbclient engine, taking an already booted kernel from the active pool."""

        @classmethod
        def execute_managed_notebook(
            cls,
            nb_man,
            kernel_name,
            log_output=False,
            stdout_file=None,
            stderr_file=None,
            start_timeout=60,
            execution_timeout=None,
            **kwargs,
        ):
            pool = _active
            name = kernel_name or nb_man.nb.metadata.get("kernelspec", {}).get("name")
            km = pool.take(name, os.getcwd(), start_timeout) if pool is not None and name else None
            if km is None:
                return super().execute_managed_notebook(
                    nb_man,
                    kernel_name,
                    log_output=log_output,
                    stdout_file=stdout_file,
                    stderr_file=stderr_file,
                    start_timeout=start_timeout,
                    execution_timeout=execution_timeout,
                    **kwargs,
                )
            from papermill.clientwrap import PapermillNotebookClient
            from papermill.engines import logger

            # the same arguments papermill's own engine builds, plus the booted kernel
            timeout = execution_timeout or kwargs.get("timeout")
            graceful = kwargs.get("shutdown_kernel", "graceful") != "immediate"
            kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
            final = merge_kwargs(
                kwargs,
                timeout=timeout,
                startup_timeout=start_timeout,
                kernel_name=name,
                log=logger,
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
            )
            client = PapermillNotebookClient(nb_man, km=km, **final)
            try:
                return client.execute()
            finally:
                # nbclient leaves a kernel it did not start running: this task's kernel ends here
                if client.kc is not None:
                    with contextlib.suppress(Exception):
                        client.kc.stop_channels()
                pool.retire(km, graceful)

    return PrestartEngine
